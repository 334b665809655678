"""InfoNCE (NT-Xent) against a hand computation, its minimum at matching views, masking, serialisation."""

import math

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.tasks.contrastive import InfoNCE


def _by_hand(a, b, tau, cosine=False):
    """Loop over the 2B anchors: -log exp(s(i, pos)) / sum_{j != i} exp(s(i, j)), s = sim / tau."""
    z = np.concatenate([a, b]).astype(np.float64)
    if cosine:
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    batch = len(a)
    total = 0.0
    for i in range(2 * batch):
        pos = (i + batch) % (2 * batch)
        denominator = sum(math.exp(z[i] @ z[j] / tau) for j in range(2 * batch) if j != i)
        total += -(z[i] @ z[pos] / tau - math.log(denominator))
    return total / (2 * batch)


def test_two_pairs_by_hand():
    # B = 2, D = 2: z = [a1, a2, b1, b2] = [(1, 0), (0, 1), (1, 1), (0, 2)], tau = 1, dot product.
    # anchor a1: positive b1 (1), negatives a2 (0), b2 (0) -> -log(e / (e + 2))
    # anchor a2: positive b2 (2), negatives a1 (0), b1 (1) -> -log(e^2 / (e^2 + 1 + e))
    # anchor b1: positive a1 (1), negatives a2 (1), b2 (2) -> -log(e / (e + e + e^2))
    # anchor b2: positive a2 (2), negatives a1 (0), b1 (2) -> -log(e^2 / (e^2 + 1 + e^2))
    e = math.e
    expected = (
        -(
            math.log(e / (e + 2))
            + math.log(e**2 / (e**2 + 1 + e))
            + math.log(e / (2 * e + e**2))
            + math.log(e**2 / (2 * e**2 + 1))
        )
        / 4
    )
    a = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    b = tf.constant([[1.0, 1.0], [0.0, 2.0]])
    assert InfoNCE()(a, b).numpy() == pytest.approx(expected, rel=1e-6)
    assert _by_hand(a.numpy(), b.numpy(), 1.0) == pytest.approx(expected, rel=1e-12)
    # temperature divides every similarity; the loss is symmetric in the two views
    assert InfoNCE(temperature=0.5)(a, b).numpy() == pytest.approx(_by_hand(a.numpy(), b.numpy(), 0.5), rel=1e-6)
    assert InfoNCE()(b, a).numpy() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("similarity", ["dot", "cosine"])
@pytest.mark.parametrize("tau", [1.0, 0.2])
def test_random_views_match_the_loop(similarity, tau):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    got = InfoNCE(tau, similarity)(tf.constant(a, tf.float32), tf.constant(b, tf.float32)).numpy()
    assert got == pytest.approx(_by_hand(a, b, tau, cosine=similarity == "cosine"), rel=1e-5)


def test_minimum_when_views_match():
    # Orthonormal representations, cosine: with b = a every anchor has positive similarity 1/tau and its
    # 2B - 2 negatives 0, so the loss is log(1 + (2B - 2) exp(-1/tau)); any other pairing or noise costs more.
    tau, batch = 0.5, 4
    a = np.eye(6)[:batch]
    layer = InfoNCE(tau, "cosine")
    matched = layer(tf.constant(a), tf.constant(a)).numpy()
    assert matched == pytest.approx(math.log(1 + (2 * batch - 2) * math.exp(-1 / tau)), rel=1e-6)
    assert layer(tf.constant(a), tf.constant(a[[1, 0, 2, 3]])).numpy() > matched + 0.1
    rng = np.random.default_rng(1)
    for _ in range(20):
        noisy = a + 0.3 * rng.normal(size=a.shape)
        assert layer(tf.constant(a), tf.constant(noisy)).numpy() > matched
    # and gradient descent on view b from noise moves it back to a
    b = tf.Variable(a + 0.3 * rng.normal(size=a.shape))
    for _ in range(200):
        with tf.GradientTape() as tape:
            loss = layer(tf.constant(a), b)
        b.assign_sub(0.5 * tape.gradient(loss, b))
    cosines = (tf.math.l2_normalize(b, axis=1).numpy() * a).sum(axis=1)
    assert cosines.min() > 0.9


def test_mask_drops_rows_as_anchors_and_negatives():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    mask = tf.constant([True, False, True, True])
    got = InfoNCE()(tf.constant(a), tf.constant(b), mask=mask).numpy()
    keep = [0, 2, 3]
    assert got == pytest.approx(_by_hand(a[keep], b[keep], 1.0), rel=1e-5)
    assert InfoNCE()(tf.constant(a), tf.constant(b), mask=tf.zeros([4], tf.bool)).numpy() == 0.0


def test_float16_views_config_and_errors():
    a = tf.constant([[1.0, 0.0], [0.0, 1.0]], tf.float16)
    assert InfoNCE()(a, a).dtype == tf.float32
    layer = InfoNCE(0.3, "cosine", name="cl")
    clone = InfoNCE.from_config(layer.get_config())
    assert (clone.temperature, clone.similarity, clone.name) == (0.3, "cosine", "cl")
    with pytest.raises(ValueError, match="temperature"):
        InfoNCE(0.0)
    with pytest.raises(ValueError, match="similarity"):
        InfoNCE(similarity="l2")
