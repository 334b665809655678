"""FastDropout: the rate, the scaling, the gradient, determinism, and where the models use it."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.dropout import FastDropout, dropout_16bit, threshold


def test_threshold_quantises_the_rate_to_16_bits():
    assert threshold(0.1) == 6554 and threshold(0.5) == 32768 and threshold(0.0) == 0
    assert abs(threshold(0.2) / 65536 - 0.2) < 1 / 131072


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5])
def test_drops_the_rate_and_keeps_the_expectation(rate):
    tf.keras.utils.set_random_seed(1)
    x = tf.ones([400, 501])  # odd size: the last 32-bit word's second draw is unused
    y = dropout_16bit(x, rate).numpy()
    dropped = (y == 0).mean()
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / y.size)  # 4 standard errors
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / (1 - threshold(rate) / 65536), rtol=1e-6)  # inverted scaling
    assert abs(y.mean() - 1.0) < 0.01


def test_gradient_is_the_same_mask_and_scale():
    tf.keras.utils.set_random_seed(2)
    x = tf.random.normal([8, 7, 6])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = dropout_16bit(x, 0.3)
    grad = tape.gradient(y, x, output_gradients=tf.fill(tf.shape(x), 2.0))
    np.testing.assert_allclose(grad.numpy() * x.numpy(), 2.0 * y.numpy(), rtol=1e-5, atol=1e-6)
    assert y.shape == x.shape


def test_training_flag_rate_zero_and_determinism():
    layer = FastDropout(0.2)
    x = tf.ones([64, 33])
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())  # inference by default
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(FastDropout(0.0)(x, training=True).numpy(), x.numpy())
    tf.keras.utils.set_random_seed(3)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.array_equal(first, second)  # a new mask every call
    tf.keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), first)  # repeatable with the global seed
    with pytest.raises(ValueError, match="drops everything"):
        dropout_16bit(x, 0.99999999)


def test_graph_xla_half_precision_and_noise_shape():
    layer = FastDropout(0.5, dtype="float16")  # as under a mixed_float16 policy
    x = tf.ones([16, 10], tf.float16)
    y = tf.function(lambda t: layer(t, training=True), jit_compile=True)(x)
    assert y.dtype == tf.float16 and set(np.unique(y.numpy()).tolist()) <= {0.0, 2.0}
    training = tf.constant(False)
    np.testing.assert_array_equal(tf.function(lambda t, k: layer(t, training=k))(x, training).numpy(), x.numpy())
    shared = FastDropout(0.5, noise_shape=[16, 1])(tf.ones([16, 10]), training=True).numpy()  # Keras' path
    assert all(len(set(row.tolist())) == 1 for row in shared)  # one decision per row


def test_config_round_trip_and_the_models_use_it():
    layer = FastDropout(0.3, seed=7)
    again = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert isinstance(again, FastDropout) and again.rate == 0.3 and again.seed == 7
    from tfseqrec.models.layers import TransformerBlock

    block = TransformerBlock(8, 2, 16, 0.2)
    block(tf.ones([2, 3, 8]), attention_mask=tf.ones([2, 3, 3], tf.bool), padding_mask=tf.ones([2, 3], tf.bool))
    dropouts = [layer for layer in block._flatten_layers() if isinstance(layer, tf.keras.layers.Dropout)]
    assert dropouts and all(isinstance(layer, FastDropout) for layer in dropouts)
    assert isinstance(block.attention.attention_kernel.dropout, FastDropout)  # on the attention probabilities
