"""The fused full-softmax cross-entropy against numbers by hand and against TensorFlow's own gradients."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.tasks.full_softmax import full_softmax_cross_entropy


def reference(queries, table, labels, bias=None, first_id=2):
    """The textbook graph: logits over the real items, TensorFlow's sparse cross-entropy and autodiff."""
    logits = tf.matmul(queries, table[first_id:], transpose_b=True)
    if bias is not None:
        logits += bias[first_id:][tf.newaxis]
    return tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(labels, tf.int64) - first_id, logits)


def random_case(seed, n=37, v=23, d=8, scale=1.0):
    rng = np.random.default_rng(seed)
    return (
        tf.constant(rng.normal(size=(n, d)) * scale, tf.float32),
        tf.constant(rng.normal(size=(v, d)) * scale, tf.float32),
        tf.constant(rng.integers(2, v, size=n), tf.int64),
        tf.constant(rng.normal(size=v), tf.float32),
        tf.constant(rng.uniform(0.5, 1.5, size=n), tf.float32),
    )


def losses_and_grads(fn, queries, table, labels, bias, weights):
    variables = [tf.Variable(queries), tf.Variable(table)] + ([tf.Variable(bias)] if bias is not None else [])
    with tf.GradientTape() as tape:
        per = fn(variables[0], variables[1], labels, variables[2] if bias is not None else None)
        total = tf.reduce_sum(per * weights)  # unequal upstream gradients per row
    return [per.numpy()] + [tf.convert_to_tensor(g).numpy() for g in tape.gradient(total, variables)]


def test_by_hand_two_items():
    # one query, items 2 and 3 with scores q.E = 1 and 3: loss of item 2 = log(e^1 + e^3) - 1 = 2.1269280
    table = tf.constant([[9.0], [9.0], [1.0], [3.0]])  # PAD and OOV rows take no part
    got = full_softmax_cross_entropy(tf.constant([[1.0]]), table, tf.constant([2])).numpy()
    np.testing.assert_allclose(got, [np.log(np.e + np.e**3) - 1.0], rtol=1e-6)
    np.testing.assert_allclose(got, [2.1269280], rtol=1e-6)


@pytest.mark.parametrize("with_bias", [False, True])
def test_losses_and_gradients_match_autodiff(with_bias):
    queries, table, labels, bias, weights = random_case(0)
    bias = bias if with_bias else None
    ours = losses_and_grads(full_softmax_cross_entropy, queries, table, labels, bias, weights)
    theirs = losses_and_grads(reference, queries, table, labels, bias, weights)
    assert len(ours) == (4 if with_bias else 3)
    for got, expected in zip(ours, theirs):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours[2][:2], 0.0)  # PAD and OOV rows get no gradient


def test_repeated_labels_accumulate_in_item_gradient():
    queries, table, _, _, weights = random_case(1, n=12)
    labels = tf.constant([5] * 12, tf.int64)  # every row's target is the same item
    ours = losses_and_grads(full_softmax_cross_entropy, queries, table, labels, None, weights)
    theirs = losses_and_grads(reference, queries, table, labels, None, weights)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5, atol=1e-6)


def test_underflowed_target_probability_gives_the_exact_loss():
    # item 3 scores 200 above the target: softmax(target) underflows float32, the loss is still 200 + log(1 + e^-200)
    table = tf.constant([[0.0], [0.0], [0.0], [200.0], [1.0]])
    queries = tf.constant([[1.0], [1.0]])
    got = full_softmax_cross_entropy(queries, table, tf.constant([2, 3])).numpy()
    expected = reference(queries, table, tf.constant([2, 3])).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[0] == pytest.approx(200.0, rel=1e-6) and got[1] < 1e-6


def test_inside_tf_function_and_xla():
    queries, table, labels, bias, weights = random_case(2)
    theirs = losses_and_grads(reference, queries, table, labels, bias, weights)
    for jit in (False, True):
        fn = tf.function(lambda q, e, y, b: full_softmax_cross_entropy(q, e, y, b), jit_compile=jit)
        ours = losses_and_grads(fn, queries, table, labels, bias, weights)
        for got, expected in zip(ours, theirs):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_rejects_other_dtypes():
    queries, table, labels, _, _ = random_case(3)
    with pytest.raises(TypeError, match="queries must be float32, got bfloat16"):
        full_softmax_cross_entropy(tf.cast(queries, tf.bfloat16), table, labels)
