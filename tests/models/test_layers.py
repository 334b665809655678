"""Transformer layer initialisation: SASRec's query/key/value as torch's nn.MultiheadAttention, the rest N(0, 0.02)."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.layers import ProjectionInitAttention, TransformerBlock, check_attention_init
from tfseqrec.models.sasrec import SASRec, SASRecConfig


def _kernels(block):
    return {w.name.split("/")[-2]: w.numpy() for w in block.attention.weights if "kernel" in w.name}


def test_xavier_qkv_ranges():
    dim = 64
    model = SASRec(SASRecConfig(embedding_dim=dim, max_len=10, num_blocks=1), 40).build_for_inputs()
    kernels = _kernels(model.blocks[0])
    limit = np.sqrt(6.0 / (4 * dim))  # Xavier-uniform over torch's packed [3D, D] in_proj_weight
    for name in ("query", "key", "value"):
        values = kernels[name]
        assert np.abs(values).max() <= limit + 1e-6
        assert abs(values.std() - limit / np.sqrt(3.0)) < 0.01  # std of U(-a, a) is a / sqrt(3)
    assert kernels["attention_output"].std() < 0.025


def test_small_normal_keeps_every_projection_small():
    model = SASRec(
        SASRecConfig(embedding_dim=32, max_len=10, num_blocks=1, attention_init="small_normal"), 40
    ).build_for_inputs()
    assert all(v.std() < 0.025 for v in _kernels(model.blocks[0]).values())


def test_bad_attention_init_is_named():
    with pytest.raises(ValueError, match="attention_init='glorot'"):
        check_attention_init("glorot")
    with pytest.raises(ValueError, match="attention_init"):
        SASRecConfig(attention_init="glorot")


def test_block_config_round_trip():
    block = TransformerBlock(16, 2, 16, 0.1, attention_init="xavier_qkv")
    config = block.get_config()
    assert config["attention_init"] == "xavier_qkv"
    clone = TransformerBlock.from_config(config)
    assert clone.attention_init == "xavier_qkv"
    attention = ProjectionInitAttention(1, key_dim=4, output_kernel_initializer="zeros")
    x = tf.ones([1, 3, 4])
    attention(x, x)
    assert np.all(attention.get_weights()[-2] == 0)  # output kernel (bias last)
    restored = ProjectionInitAttention.from_config(attention.get_config())
    assert restored._output_kernel_initializer.__class__.__name__ == "Zeros"


def _block_inputs():
    x = tf.random.stateless_normal([2, 5, 16], seed=[1, 2])
    padding = tf.constant([[False, True, True, True, True], [True] * 5])
    mask = padding[:, tf.newaxis, :] & padding[:, :, tf.newaxis]
    return x, mask, padding


def test_post_norm_block_is_bert_s_residual_then_layer_norm():
    x, mask, padding = _block_inputs()
    block = TransformerBlock(16, 2, 32, 0.1, block_style="post_norm", ffn_activation="gelu")
    out = block(x, attention_mask=mask, padding_mask=padding).numpy()
    # by hand, from the block's own sublayers (no dropout outside training)
    attended = block.attention(x, x, x, attention_mask=mask)
    h = block.attention_norm(x + attended)
    hidden = tf.nn.gelu(tf.matmul(h, block.ffn.inner.kernel) + block.ffn.inner.bias, approximate=False)
    expected = block.ffn_norm(h + tf.matmul(hidden, block.ffn.outer.kernel) + block.ffn.outer.bias).numpy()
    expected[0, 0] = 0.0  # the padding row
    np.testing.assert_allclose(out, expected, atol=1e-5)
    real = out[padding.numpy()]  # every real row ends in a fresh LayerNorm (gain 1, offset 0 at init)
    np.testing.assert_allclose(real.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(real.std(axis=-1), 1.0, atol=1e-3)
    clone = TransformerBlock.from_config(block.get_config())
    assert (clone.block_style, clone.ffn_activation, clone.ffn.activation) == ("post_norm", "gelu", "gelu")


def test_bad_block_options_are_named():
    with pytest.raises(ValueError, match="block_style='post'"):
        TransformerBlock(16, 2, 32, 0.1, block_style="post")
    with pytest.raises(ValueError, match="ffn_activation='swish'"):
        TransformerBlock(16, 2, 32, 0.1, ffn_activation="swish")
