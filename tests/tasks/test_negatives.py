"""Negative samplers: support, distribution, reproducibility, log q."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.tasks import PopularitySampler, UniformSampler


def test_uniform_sampler_support_and_log_q():
    sampler = UniformSampler(num_items=12, seed=3)
    ids, log_q = sampler.sample(5000)
    ids = ids.numpy()
    assert ids.dtype == np.int64 and log_q.dtype == tf.float32
    assert ids.min() >= 2 and ids.max() <= 11  # never PAD (0) or OOV (1)
    assert set(ids.tolist()) == set(range(2, 12))
    np.testing.assert_allclose(log_q.numpy(), np.full(5000, -np.log(10.0)), rtol=1e-6)
    np.testing.assert_allclose(sampler.log_q(tf.constant([[2, 7]])).numpy(), [[-np.log(10.0)] * 2], rtol=1e-6)


def test_samplers_reproducible_with_seed():
    counts = [0, 0, 5, 1, 9, 3]
    for make in (lambda s: UniformSampler(50, seed=s), lambda s: PopularitySampler(counts, seed=s)):
        a, b, c = make(7), make(7), make(8)
        first_a, first_b = a.sample(64)[0].numpy(), b.sample(64)[0].numpy()
        np.testing.assert_array_equal(first_a, first_b)
        np.testing.assert_array_equal(a.sample(64)[0].numpy(), b.sample(64)[0].numpy())
        assert not np.array_equal(first_a, c.sample(64)[0].numpy())


def chi_square(observed, probs):
    expected = probs * observed.sum()
    return float(((observed - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.75, 1.0])
def test_popularity_frequencies_follow_count_power_alpha(alpha):
    counts = np.array([50, 50, 1, 2, 4, 8, 16, 32, 64, 128], np.float64)  # PAD/OOV counts ignored
    sampler = PopularitySampler(counts, alpha=alpha, seed=0)
    ids, log_q = sampler.sample(100_000)
    ids = ids.numpy()
    assert ids.min() >= 2
    weights = counts[2:] ** alpha
    probs = weights / weights.sum()
    np.testing.assert_allclose(sampler.probabilities[2:], probs, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_q.numpy()), probs[ids - 2], rtol=1e-5)
    observed = np.bincount(ids, minlength=10)[2:].astype(np.float64)
    # 7 degrees of freedom: the 99.9% quantile of chi-square(7) is 24.3.
    assert chi_square(observed, probs) < 24.3


def test_popularity_zero_counts():
    counts = [0, 0, 0, 10, 30]
    # alpha > 0: the zero-count item 2 is never drawn; its log q is floored at the smallest
    # non-zero probability (10^a / (10^a + 30^a)).
    sampler = PopularitySampler(counts, alpha=1.0, seed=1)
    ids = sampler.sample(5000)[0].numpy()
    assert set(ids.tolist()) == {3, 4}
    np.testing.assert_allclose(sampler.log_q(tf.constant([2, 3, 4])).numpy(), np.log([0.25, 0.25, 0.75]), rtol=1e-6)
    # alpha = 0: uniform over every real item, zero-count ones included.
    uniform = PopularitySampler(counts, alpha=0.0, seed=1)
    np.testing.assert_allclose(uniform.probabilities, [0, 0, 1 / 3, 1 / 3, 1 / 3])
    assert set(uniform.sample(3000)[0].numpy().tolist()) == {2, 3, 4}
    # smoothing keeps a small probability for unseen items.
    smoothed = PopularitySampler(counts, alpha=1.0, smoothing=1.0)
    np.testing.assert_allclose(smoothed.probabilities, [0, 0, 1 / 43, 11 / 43, 31 / 43])
    with pytest.raises(ValueError):
        PopularitySampler([0, 0, 0, 0], alpha=1.0)
    with pytest.raises(ValueError):
        UniformSampler(2)


def test_samplers_work_inside_tf_function():
    sampler = PopularitySampler([0, 0, 1, 2, 3], seed=5)
    draw = tf.function(lambda n: sampler.sample(n))
    ids, log_q = draw(tf.constant(40))
    assert ids.shape == (40,) and log_q.shape == (40,)
    assert not np.array_equal(ids.numpy(), draw(tf.constant(40))[0].numpy())  # state advances
