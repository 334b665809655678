"""Each loss against numbers worked out by hand (numpy only for exp/log)."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.tasks import losses


def softplus(x):
    return np.log1p(np.exp(x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_softmax_cross_entropy_by_hand():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
    labels = np.array([2, 0])
    # row 0: logsumexp(1, 2, 3) - 3 = log(e^1 + e^2 + e^3) - 3 = 3.4076059 - 3 = 0.4076059
    # row 1: log(3 * e^0) - 0 = 1.0986123
    expected = [np.log(np.exp(1) + np.exp(2) + np.exp(3)) - 3.0, np.log(3.0)]
    got = losses.softmax_cross_entropy(logits, labels).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(expected, [0.4076059, 1.0986123], rtol=1e-6)


def test_binary_cross_entropy_by_hand():
    pos = np.array([0.0, 2.0], np.float32)
    neg = np.array([[0.0], [-1.0]], np.float32)
    # row 0: -log sig(0) - log(1 - sig(0)) = 2 log 2 = 1.3862944
    # row 1: -log sig(2) - log(1 - sig(-1)) = softplus(-2) + softplus(-1) = 0.1269280 + 0.3132617
    expected = [2 * np.log(2.0), -np.log(sigmoid(2.0)) - np.log(1 - sigmoid(-1.0))]
    got = losses.binary_cross_entropy(pos, neg).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(expected, [1.3862944, 0.4401897], rtol=1e-6)


def test_gbce_by_hand():
    pos = np.array([1.0], np.float32)
    neg = np.array([[0.0, -1.0]], np.float32)
    # S = 2 negatives, catalogue of 5 items: alpha = 2 / (5 - 1) = 0.5
    # t = 0.5: beta = alpha * (t * (1 - 1/alpha) + 1/alpha) = 0.5 * (0.5 * (1 - 2) + 2) = 0.75
    # loss = -(0.75 * log sig(1) + log(1 - sig(0)) + log(1 - sig(-1)))
    #      = 0.75 * 0.3132617 + 0.6931472 + 0.3132617 = 1.2413551
    expected = -(0.75 * np.log(sigmoid(1.0)) + np.log(1 - sigmoid(0.0)) + np.log(1 - sigmoid(-1.0)))
    got = losses.gbce(pos, neg, num_items=5, t=0.5).numpy()
    np.testing.assert_allclose(got, [expected], rtol=1e-6)
    np.testing.assert_allclose(expected, 1.2413551, rtol=1e-6)
    assert losses.gbce_beta(2, 5, 0.5) == pytest.approx(0.75)


def test_gbce_limits_and_stability():
    pos = np.array([1.0, -3.0], np.float32)
    neg = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
    # t = 0 gives beta = 1, i.e. plain BCE.
    np.testing.assert_allclose(losses.gbce(pos, neg, 5, 0.0), losses.binary_cross_entropy(pos, neg), rtol=1e-6)
    # t = 1 gives beta = alpha = 0.5.
    assert losses.gbce_beta(2, 5, 1.0) == pytest.approx(0.5)
    # Extreme logits stay finite: softplus(100) = 100, softplus(-100) ~ 0.
    got = losses.gbce(np.array([-100.0], np.float32), np.array([[100.0, -100.0]], np.float32), 1001, 0.75).numpy()
    beta = losses.gbce_beta(2, 1001, 0.75)
    np.testing.assert_allclose(got, [beta * 100.0 + 100.0], rtol=1e-5)
    with pytest.raises(ValueError):
        losses.gbce_beta(10, 5, 0.5)  # more negatives than non-target items


def test_bpr_max_by_hand():
    pos = np.array([1.0], np.float32)
    neg = np.array([[0.0, 1.0]], np.float32)
    # s = softmax(0, 1) = (1, e) / (1 + e) = (0.2689414, 0.7310586)
    # ranking = 0.2689414 * sig(1 - 0) + 0.7310586 * sig(1 - 1) = 0.1966119 + 0.3655293 = 0.5621412
    # reg = 0.5 * (0.2689414 * 0^2 + 0.7310586 * 1^2) = 0.3655293
    # loss = -log(0.5621412) + 0.3655293 = 0.5760022 + 0.3655293 = 0.9415315
    s = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    expected = -np.log(s[0] * sigmoid(1.0) + s[1] * sigmoid(0.0)) + 0.5 * (s[0] * 0.0**2 + s[1] * 1.0**2)
    got = losses.bpr_max(pos, neg, reg=0.5).numpy()
    np.testing.assert_allclose(got, [expected], rtol=1e-6)
    np.testing.assert_allclose(expected, 0.9415315, rtol=1e-6)


def test_top1_max_by_hand():
    pos = np.array([1.0], np.float32)
    neg = np.array([[0.0, 1.0]], np.float32)
    # s = (0.2689414, 0.7310586)
    # j=0: sig(0 - 1) + sig(0^2) = 0.2689414 + 0.5 = 0.7689414
    # j=1: sig(1 - 1) + sig(1^2) = 0.5 + 0.7310586 = 1.2310586
    # loss = 0.2689414 * 0.7689414 + 0.7310586 * 1.2310586 = 1.1067761
    s = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    expected = s[0] * (sigmoid(-1.0) + sigmoid(0.0)) + s[1] * (sigmoid(0.0) + sigmoid(1.0))
    got = losses.top1_max(pos, neg).numpy()
    np.testing.assert_allclose(got, [expected], rtol=1e-6)
    np.testing.assert_allclose(expected, 1.1067761, rtol=1e-6)


@pytest.mark.parametrize("fn", [losses.binary_cross_entropy, losses.bpr_max, losses.top1_max])
def test_masked_negative_is_the_same_as_no_negative(fn):
    pos = np.array([0.3, -0.2], np.float32)
    neg = np.array([[1.5, -0.4, 0.7], [0.1, 2.0, -1.0]], np.float32)
    mask = np.array([[True, False, True], [True, True, False]])
    got = fn(pos, neg, negative_mask=mask).numpy()
    expected = [fn(pos[:1], neg[:1, [0, 2]]).numpy()[0], fn(pos[1:], neg[1:, [0, 1]]).numpy()[0]]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_gbce_mask_keeps_alpha_of_drawn_negatives():
    pos = np.array([1.0], np.float32)
    neg = np.array([[0.0, -1.0]], np.float32)
    # Second negative masked: beta still from S = 2 (0.75 as above); loss = 0.75 sp(-1) + sp(0).
    got = losses.gbce(pos, neg, 5, 0.5, negative_mask=np.array([[True, False]])).numpy()
    np.testing.assert_allclose(got, [0.75 * softplus(-1.0) + softplus(0.0)], rtol=1e-6)


def test_all_negatives_masked_gives_zero_for_pairwise_losses():
    pos = np.array([0.5], np.float32)
    neg = np.array([[2.0, 3.0]], np.float32)
    mask = np.array([[False, False]])
    assert losses.bpr_max(pos, neg, 1.0, mask).numpy()[0] == 0.0
    assert losses.top1_max(pos, neg, mask).numpy()[0] == 0.0
    # BCE keeps the positive's term: -log sig(0.5) = softplus(-0.5)
    np.testing.assert_allclose(losses.binary_cross_entropy(pos, neg, mask), [softplus(-0.5)], rtol=1e-6)


def test_logq_correction_sign_and_effect():
    raw = np.array([[2.0, 2.0, 2.0]], np.float32)  # [positive, popular negative, rare negative]
    log_q = np.log(np.array([[0.001, 0.5, 0.001]], np.float32))
    corrected = losses.logq_correction(raw, log_q).numpy()
    # logits - log q: the popular negative (log q = -0.69) is lowered relative to the rare items
    # (log q = -6.9), i.e. its corrected logit is the smallest.
    np.testing.assert_allclose(corrected, raw - log_q, rtol=1e-6)
    assert corrected[0, 1] < corrected[0, 0] and corrected[0, 1] < corrected[0, 2]
    # Corrected loss < uncorrected (the popular negative competes less); the wrong sign is worse.
    label = np.array([0])
    plain = losses.softmax_cross_entropy(raw, label).numpy()[0]
    right = losses.softmax_cross_entropy(corrected, label).numpy()[0]
    wrong = losses.softmax_cross_entropy(raw + log_q, label).numpy()[0]
    assert right < plain < wrong


def test_losses_are_differentiable():
    pos = tf.Variable([0.2, -0.1])
    neg = tf.Variable([[0.5, -0.3], [1.0, 0.0]])
    for fn in (losses.binary_cross_entropy, losses.bpr_max, losses.top1_max, lambda p, n: losses.gbce(p, n, 10, 0.75)):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(fn(pos, neg))
        grad_pos, grad_neg = tape.gradient(value, [pos, neg])
        assert np.all(np.isfinite(grad_pos.numpy())) and np.any(grad_pos.numpy() != 0)
        assert np.all(np.isfinite(grad_neg.numpy())) and np.any(grad_neg.numpy() != 0)


# --- score activation (GRU4Rec's final_act='elu-<alpha>') ----------------------------------------


def test_elu_values_by_hand():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0], np.float32)
    # alpha = 0.5: x > 0 unchanged; x <= 0: 0.5 * (e^x - 1)
    #   -2 -> 0.5 * (0.1353353 - 1) = -0.4323324;  -0.5 -> 0.5 * (0.6065307 - 1) = -0.1967347
    expected = [0.5 * (np.exp(-2.0) - 1), 0.5 * (np.exp(-0.5) - 1), 0.0, 0.5, 3.0]
    np.testing.assert_allclose(losses.elu(x, 0.5).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(expected, [-0.4323324, -0.1967347, 0.0, 0.5, 3.0], rtol=1e-6)
    # alpha = 1 is tf.nn.elu; the lower limit is -alpha.
    np.testing.assert_allclose(losses.elu(x, 1.0).numpy(), tf.nn.elu(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(losses.elu(np.array([-1e4], np.float32), 0.5).numpy(), [-0.5])
    # Strictly increasing: a ranking is unchanged.
    scores = np.random.default_rng(0).normal(scale=3, size=50).astype(np.float32)
    np.testing.assert_array_equal(np.argsort(losses.elu(scores, 0.5).numpy()), np.argsort(scores))


def test_elu_gradient_is_finite_for_extreme_scores():
    x = tf.Variable([-1e4, -1.0, 0.5, 1e4])
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(losses.elu(x, 0.5))
    grad = tape.gradient(value, x).numpy()
    # d/dx: 0.5 * e^x for x <= 0, 1 for x > 0 (no NaN from the branch not taken)
    np.testing.assert_allclose(grad, [0.0, 0.5 * np.exp(-1.0), 1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize(
    "spec,alpha", [("linear", None), ("elu", 1.0), ("elu-0.5", 0.5), ("elu-1", 1.0), ("elu-2.5e-1", 0.25)]
)
def test_parse_score_activation(spec, alpha):
    assert losses.parse_score_activation(spec) == alpha


@pytest.mark.parametrize(
    "spec", ["relu", "elu-0", "elu--0.5", "elu-x", "elu-", "elu-inf", "elu-nan", "ELU-0.5", "", 0.5, None]
)
def test_parse_score_activation_rejects(spec):
    with pytest.raises(ValueError):
        losses.parse_score_activation(spec)


def test_apply_score_activation():
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_allclose(losses.apply_score_activation(x, "linear").numpy(), x)
    np.testing.assert_allclose(
        losses.apply_score_activation(x, "elu-0.5").numpy(), [[0.5 * (np.exp(-1.0) - 1), 2.0]], rtol=1e-6
    )


# --- gBCE with a run-time number of negatives ------------------------------------------------------


def test_gbce_beta_tensor_matches_gbce_beta_and_clips():
    for s, n, t in [(2, 5, 0.5), (1, 10, 0.75), (9, 10, 0.3), (3, 7, 0.0), (3, 7, 1.0)]:
        np.testing.assert_allclose(
            losses.gbce_beta_tensor(tf.constant(s), n, t).numpy(), losses.gbce_beta(s, n, t), rtol=1e-6
        )
    # more negatives than non-target items: alpha = 1, beta = 1; none: alpha = 0, beta = 1 - t
    np.testing.assert_allclose(losses.gbce_beta_tensor(50, 5, 0.75).numpy(), 1.0)
    np.testing.assert_allclose(losses.gbce_beta_tensor(0, 5, 0.75).numpy(), 0.25)
    with pytest.raises(ValueError):
        losses.gbce_beta_tensor(2, 5, 1.5)


def test_gbce_num_negatives_override():
    pos = np.array([1.0], np.float32)
    neg = np.array([[0.0, -1.0, 3.0]], np.float32)
    mask = np.array([[True, True, False]])  # the third column is not a drawn negative
    # num_negatives=2, catalogue 5: beta = 0.75 (t = 0.5) as in test_gbce_by_hand
    got = losses.gbce(pos, neg, 5, 0.5, negative_mask=mask, num_negatives=2).numpy()
    np.testing.assert_allclose(got, losses.gbce(pos, neg[:, :2], 5, 0.5).numpy(), rtol=1e-6)
    np.testing.assert_allclose(got, [0.75 * softplus(-1.0) + softplus(0.0) + softplus(-1.0)], rtol=1e-6)
