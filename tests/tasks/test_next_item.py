"""NextItemTask and LossConfig: numbers against numpy, masking, logQ, accidental hits, learning."""

import dataclasses

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.tasks import LossConfig, NextItemTask, available_losses

V, D = 12, 4  # vocabulary: PAD, OOV and 10 items (ids 2..11)
LOSS_NAMES = ("full_ce", "sampled_softmax", "bce", "gbce", "bpr_max", "top1_max", "in_batch")  # the built-ins


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def softplus(x):
    return np.log1p(np.exp(x))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(2, 4, D)).astype(np.float32)
    targets = np.array([[3, 5, 0, 0], [7, 7, 2, 0]], np.int64)
    table = rng.normal(size=(V, D)).astype(np.float32)
    return queries, targets, table


def fixed_negatives(task, ids):
    """Replaces the sampler's draws with ``ids`` (log q still from the real sampler)."""
    ids = tf.constant(ids, tf.int64)
    sampler = task.loss.sampler
    sampler.sample = lambda num: (ids, sampler.log_q(ids))


# --- LossConfig ------------------------------------------------------------------------------


def test_config_defaults_and_per_loss_resolution():
    assert set(LOSS_NAMES) <= set(available_losses())
    config = LossConfig()
    assert (
        config.name,
        config.num_negatives,
        config.sampler,
        config.sampling_alpha,
        config.logq_correction,
        config.remove_accidental_hits,
        config.negatives_per,
    ) == ("full_ce", None, "uniform", 0.75, None, True, "batch")
    assert LossConfig(name="gbce").gbce_t == 0.75 and LossConfig(name="bpr_max").bpr_reg == 1.0
    assert LossConfig(name="bce").logit_offset is None and LossConfig(name="gbce").logit_offset is None
    assert LossConfig(name="bce").effective_num_negatives == 1
    assert LossConfig(name="gbce").effective_num_negatives == 256
    assert LossConfig(name="sampled_softmax").effective_num_negatives == 256
    assert LossConfig(name="bce", num_negatives=8).effective_num_negatives == 8
    assert LossConfig(name="full_ce").effective_num_negatives == 0
    assert LossConfig(name="sampled_softmax").effective_logq_correction
    assert LossConfig(name="in_batch").effective_logq_correction
    assert not LossConfig(name="bce").effective_logq_correction
    assert not LossConfig(name="sampled_softmax", logq_correction=False).effective_logq_correction
    # None survives a change of name: switching the loss switches the defaults.
    assert LossConfig.from_dict({**LossConfig(name="bce").to_dict(), "name": "gbce"}).effective_num_negatives == 256
    assert dataclasses.replace(LossConfig(name="full_ce"), name="bce").effective_num_negatives == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="ce"),
        dict(name="bce", num_negatives=0),
        dict(name="bce", num_negatives=2.5),
        dict(name="full_ce", num_negatives=8),
        dict(name="in_batch", num_negatives=8),
        dict(sampler="zipf"),
        dict(sampling_alpha=-1.0),
        dict(name="bce", logq_correction=True),
        dict(name="full_ce", logq_correction=True),
        dict(name="gbce", gbce_t=1.5),
        dict(name="bpr_max", bpr_reg=-0.1),
        dict(gbce_t=0.5),
        dict(name="bce", bpr_reg=1.0),  # fields of other losses
        dict(negatives_per="sequence"),
        dict(remove_accidental_hits="yes"),
        dict(negative_group_size=0),
        dict(negative_group_size=2.5),
        dict(negative_group_size=True),
        dict(sampling_alpha=float("nan")),
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        LossConfig(**kwargs)


def test_config_dict_round_trip():
    config = LossConfig(
        name="gbce", num_negatives=16, sampler="popularity", sampling_alpha=0.5, gbce_t=0.9, negatives_per="position"
    )
    assert LossConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown LossConfig keys"):
        LossConfig.from_dict({"name": "bce", "negatives": 3})


@pytest.mark.parametrize("name", ["sampled_softmax", "bce", "gbce", "bpr_max", "top1_max"])
def test_grouped_negatives_are_shared_by_runs_of_positions(name, data):
    """5 kept positions in runs of 2: draws [a b | c d | e f] act as per-position [ab ab cd cd ef]."""
    queries, targets, table = data
    drawn = [[4, 9], [2, 11], [6, 3]]  # one pair of negatives per run

    def loss(negatives_per, ids, size=2):
        task = NextItemTask(
            LossConfig(name=name, num_negatives=2, negatives_per=negatives_per, negative_group_size=size), num_items=V
        )
        fixed_negatives(task, ids)
        return task.per_example_loss(queries, targets, table).numpy()

    per_position = [drawn[0], drawn[0], drawn[1], drawn[1], drawn[2]]
    np.testing.assert_allclose(loss("group", np.ravel(drawn)), loss("position", np.ravel(per_position)), rtol=1e-6)
    # the extremes: runs of 1 are "position", one run holding every position is "batch"
    five = np.arange(2, 12)
    np.testing.assert_allclose(loss("group", five, size=1), loss("position", five), rtol=1e-6)
    np.testing.assert_allclose(loss("group", drawn[0], size=8), loss("batch", drawn[0]), rtol=1e-6)


# --- task construction and serialization ---------------------------------------------------------


def test_get_config_round_trip(data):
    queries, targets, table = data
    task = NextItemTask(
        LossConfig(name="sampled_softmax", num_negatives=5, sampler="popularity"),
        num_items=V,
        item_counts=np.arange(V),
        seed=11,
        name="next_item",
    )
    config = task.get_config()
    clone = NextItemTask.from_config(config)
    assert clone.get_config() == config
    assert clone.loss_config == task.loss_config and clone.name == "next_item"
    # Same seed, same negatives, same loss.
    np.testing.assert_allclose(task(queries, targets, table), clone(queries, targets, table), rtol=1e-6)
    # Generic Keras (de)serialization finds the registered class.
    again = tf.keras.layers.deserialize(tf.keras.layers.serialize(task))
    assert isinstance(again, NextItemTask) and again.get_config() == config
    assert task.weights == []  # the sampler's generator state is not a layer weight


def test_construction_errors():
    with pytest.raises(ValueError, match="item_counts"):
        NextItemTask(LossConfig(name="bce", sampler="popularity"), num_items=V)
    with pytest.raises(ValueError, match="length"):
        NextItemTask(LossConfig(name="bce", sampler="popularity"), num_items=V, item_counts=[1, 2])
    with pytest.raises(ValueError, match="num_negatives"):  # 256 negatives among 10 items
        NextItemTask(LossConfig(name="gbce"), num_items=V)


# --- full softmax --------------------------------------------------------------------------------


def test_full_ce_against_numpy_and_no_probability_on_pad_oov(data):
    queries, targets, table = data
    # Make PAD and OOV the best-scoring rows for every query: they must still get no probability.
    table = table.copy()
    table[0] = 50 * queries.reshape(-1, D).mean(0)
    table[1] = table[0]
    task = NextItemTask(LossConfig(name="full_ce"), num_items=V)
    loss = task(queries, targets, table).numpy()
    keep = targets >= 2
    q, t = queries[keep], targets[keep]  # 5 positions
    logits = q @ table.T  # [5, V]
    expected = -log_softmax(logits[:, 2:])[np.arange(5), t - 2].mean()  # softmax over items only
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    with_pad = -log_softmax(logits)[np.arange(5), t].mean()
    assert with_pad > expected + 1.0  # had PAD/OOV been in the softmax, the loss would be higher


def test_item_bias_is_added(data):
    queries, targets, table = data
    bias = np.linspace(-1, 1, V).astype(np.float32)
    task = NextItemTask(LossConfig(name="full_ce"), num_items=V)
    keep = targets >= 2
    logits = queries[keep] @ table.T + bias
    expected = -log_softmax(logits[:, 2:])[np.arange(5), targets[keep] - 2].mean()
    np.testing.assert_allclose(task(queries, targets, table, item_bias=bias), expected, rtol=1e-5)


# --- padding, OOV, mask ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_padding_does_not_change_the_loss(name, data):
    queries, targets, table = data
    kwargs = {} if name in ("full_ce", "in_batch") else {"num_negatives": 3}
    config = LossConfig(name=name, negatives_per="position", **kwargs)
    keep = targets >= 2
    flat = NextItemTask(config, num_items=V, seed=4)(queries[keep], targets[keep], table)
    # Padding positions with wild queries, and an extra all-padding row.
    noisy = queries.copy()
    noisy[~keep] = 1e3
    noisy = np.concatenate([noisy, np.full((1, 4, D), -7e2, np.float32)])
    padded_targets = np.concatenate([targets, np.zeros((1, 4), np.int64)])
    padded = NextItemTask(config, num_items=V, seed=4)(noisy, padded_targets, table)
    np.testing.assert_allclose(padded, flat, rtol=1e-6)


def test_oov_targets_and_mask_drop_positions(data):
    queries, targets, table = data
    task = NextItemTask(LossConfig(name="full_ce"), num_items=V)
    reference = task(queries, targets, table)
    with_oov = targets.copy()
    with_oov[0, 2] = 1  # OOV target: nothing to predict
    np.testing.assert_allclose(task(queries, with_oov, table), reference, rtol=1e-6)
    mask = targets >= 2
    mask[1, 0] = False  # also drop the first position of the second row
    keep = mask
    expected = task(queries[keep], targets[keep], table)
    np.testing.assert_allclose(task(queries, targets, table, mask=mask), expected, rtol=1e-6)
    # No position left: loss 0, not NaN.
    assert task(queries, np.zeros_like(targets), table).numpy() == 0.0


# --- sampled softmax, logQ, accidental hits ----------------------------------------------------------


def test_sampled_softmax_logq_sign_end_to_end(data):
    queries, targets, table = data
    counts = np.ones(V)
    counts[9] = 1000.0  # item 9 is very popular, every other item has count 1
    config = LossConfig(name="sampled_softmax", sampler="popularity", sampling_alpha=1.0, num_negatives=3)
    task = NextItemTask(config, num_items=V, item_counts=counts)
    negatives = [9, 10, 11]
    fixed_negatives(task, negatives)
    keep = targets >= 2
    q, t = queries[keep], targets[keep]
    log_q = np.log(counts / counts[2:].sum())  # alpha = 1: q_i = count_i / sum
    raw = np.concatenate([(q * table[t]).sum(-1, keepdims=True), q @ table[negatives].T], axis=1)
    corrected = raw - np.concatenate([log_q[t][:, None], np.tile(log_q[negatives], (5, 1))], 1)
    # The popular negative (column 1) is lowered relative to the rare ones.
    shift = corrected - raw
    assert np.all(shift[:, 1] < shift[:, 2]) and np.allclose(shift[:, 2], shift[:, 3])
    expected = -log_softmax(corrected)[:, 0].mean()
    loss = task(queries, targets, table).numpy()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # Without the correction (or with the wrong sign) the loss differs in the expected direction:
    # the popular negative competes harder.
    no_logq = NextItemTask(dataclasses.replace(config, logq_correction=False), V, item_counts=counts)
    fixed_negatives(no_logq, negatives)
    np.testing.assert_allclose(no_logq(queries, targets, table), -log_softmax(raw)[:, 0].mean(), rtol=1e-5)
    wrong_sign = -log_softmax(raw + (raw - corrected))[:, 0].mean()
    assert -log_softmax(raw)[:, 0].mean() < wrong_sign
    # The popular negative's softmax share drops under the correction.
    assert np.all(np.exp(log_softmax(corrected))[:, 1] < np.exp(log_softmax(raw))[:, 1])


@pytest.mark.parametrize("name", ["sampled_softmax", "bce", "gbce", "bpr_max", "top1_max"])
@pytest.mark.parametrize("negatives_per", ["batch", "position", "group"])
def test_accidental_hit_does_not_contribute(name, negatives_per):
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(1, D)).astype(np.float32)
    targets = np.array([4])
    table = rng.normal(size=(V, D)).astype(np.float32)

    def loss_with(negatives, remove=True):
        config = LossConfig(
            name=name, num_negatives=len(negatives), negatives_per=negatives_per, remove_accidental_hits=remove
        )
        task = NextItemTask(config, num_items=V)
        fixed_negatives(task, negatives)
        return task(queries, targets, table).numpy()

    with_hit = loss_with([4, 8])  # the first negative is the target itself
    pos, neg = float(queries[0] @ table[4]), float(queries[0] @ table[8])
    if name == "gbce":  # alpha = 2 / 9 keeps counting both drawn negatives; only the hit's term goes
        alpha = 2 / 9
        beta = alpha * (0.75 * (1 - 1 / alpha) + 1 / alpha)
        offset = np.log(beta / 2)  # the default logit offset, log(beta / S)
        np.testing.assert_allclose(with_hit, beta * softplus(-pos - offset) + softplus(neg + offset), rtol=1e-5)
    elif name == "bce":  # S = 2 drawn: offset log(1 / 2) on both logits
        offset = np.log(1 / 2)
        np.testing.assert_allclose(with_hit, softplus(-pos - offset) + softplus(neg + offset), rtol=1e-5)
    else:
        np.testing.assert_allclose(with_hit, loss_with([8]), rtol=1e-5)
    assert not np.isclose(loss_with([4, 8], remove=False), with_hit)


def test_in_batch_against_numpy_with_logq_and_hits(data):
    queries, targets, table = data
    counts = np.arange(V, dtype=np.float64)  # item i seen i times
    task = NextItemTask(LossConfig(name="in_batch"), num_items=V, item_counts=counts)
    keep = targets >= 2
    q, t = queries[keep], targets[keep]  # targets 3, 5, 7, 7, 2: item 7 twice
    n = len(t)
    p = counts[t] / counts[2:].sum()
    prob = 1 - (1 - p) ** n  # chance of appearing among the batch's n candidates
    np.testing.assert_allclose(task.loss.in_batch_sampling_probability(t), prob, rtol=1e-5)
    logits = q @ table[t].T - np.log(prob)[None, :]  # logQ: subtract log probability
    hits = (t[:, None] == t[None, :]) & ~np.eye(n, dtype=bool)  # the other copy of item 7
    logits = np.where(hits, -np.inf, logits)
    expected = -np.diag(log_softmax(logits)).mean()
    np.testing.assert_allclose(task(queries, targets, table), expected, rtol=1e-5)
    # Without logQ: plain in-batch softmax (hits still removed).
    plain = NextItemTask(LossConfig(name="in_batch", logq_correction=False), num_items=V)
    raw = np.where(hits, -np.inf, q @ table[t].T)
    np.testing.assert_allclose(plain(queries, targets, table), -np.diag(log_softmax(raw)).mean(), rtol=1e-5)
    # Without item_counts the probability is the item's share of the batch (7: 2/5, others 1/5).
    estimated = NextItemTask(LossConfig(name="in_batch"), num_items=V)
    share = np.array([1, 1, 2, 2, 1]) / 5
    np.testing.assert_allclose(estimated.loss.in_batch_sampling_probability(t), 1 - (1 - share) ** 5, rtol=1e-5)


# --- gradients and learning ------------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_gradients_flow_to_item_embeddings(name, data):
    queries, targets, table = data
    kwargs = {} if name in ("full_ce", "in_batch") else {"num_negatives": 4}
    task = NextItemTask(LossConfig(name=name, **kwargs), num_items=V, seed=2)
    table = tf.Variable(table)
    queries = tf.Variable(queries)
    with tf.GradientTape() as tape:
        loss = task(queries, targets, table)
    grad_table, grad_queries = tape.gradient(loss, [table, queries])
    grad_table = tf.convert_to_tensor(grad_table).numpy()
    assert np.all(np.isfinite(grad_table))
    for item in (3, 5, 7, 2):  # every target's row gets a gradient
        assert np.any(grad_table[item] != 0)
    assert np.all(grad_table[:2] == 0)  # PAD / OOV rows are never scored
    grad_queries = grad_queries.numpy()
    assert np.all(grad_queries[targets < 2] == 0)  # padding positions get no gradient
    assert np.all(np.any(grad_queries[targets >= 2] != 0, axis=-1))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_toy_model_learns(name):
    # 10-item catalogue, 4 sequences of 5 positions with trainable query states and a trainable
    # item table: each loss must drop over 50 Adam steps.
    rng = np.random.default_rng(5)
    targets = rng.integers(2, V, size=(4, 5))
    targets[0, 3:] = 0  # some padding
    kwargs = {} if name in ("full_ce", "in_batch") else {"num_negatives": 4}
    counts = np.bincount(targets.ravel(), minlength=V) + 1
    config = LossConfig(name=name, sampler="popularity" if name == "bpr_max" else "uniform", **kwargs)
    task = NextItemTask(config, num_items=V, item_counts=counts, seed=9)
    history, _, _ = _train_toy(task, targets, rng)
    # sampled losses are noisy: compare averages of the first and last 5 steps
    assert np.mean(history[-5:]) < 0.7 * np.mean(history[:5]), history


# --- batch targets as negatives (GRU4Rec's session-parallel candidates) --------------------------


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def elu(x, alpha):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))


def batch_task(name, samples, counts=None, **kwargs):
    kwargs.setdefault("num_negatives", len(samples))
    config = LossConfig(name=name, batch_targets_as_negatives=True, **kwargs)
    task = NextItemTask(config, num_items=V, item_counts=counts)
    fixed_negatives(task, samples)
    return task


def test_batch_targets_candidate_layout_and_accidental_hits():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(3, D)).astype(np.float32)
    table = rng.normal(size=(V, D)).astype(np.float32)
    targets = np.array([3, 5, 3])  # examples 0 and 2 share item 3
    samples = [5, 9]
    candidates = [3, 5, 3, 5, 9]  # [targets (N = 3)] + [samples (S = 2)]
    task = batch_task("bpr_max", samples)
    got = task.loss._batch_target_candidates(tf.constant(q), tf.constant(targets, tf.int64), tf.constant(table), None)
    logits = q @ table[candidates].T  # [3, 5]
    np.testing.assert_allclose(got.neg_logits, logits, rtol=1e-5)
    np.testing.assert_allclose(got.pos_logits, np.diag(logits), rtol=1e-5)  # own column n
    np.testing.assert_allclose(got.pos_logits, (q * table[targets]).sum(-1), rtol=1e-5)
    # row 0 (target 3): own column 0 and column 2 (example 2's target, also 3) are not negatives
    # row 1 (target 5): own column 1 and the sample 5 (column 3) are not negatives
    # row 2 (target 3): own column 2 and column 0 (example 0's target 3) are not negatives
    np.testing.assert_array_equal(
        got.negative_mask,
        [[False, True, False, True, True], [True, False, True, False, True], [False, True, False, True, True]],
    )
    assert int(got.num_drawn) == 3 - 1 + 2
    # Without hit removal only the own column is excluded (the official code's softmax_neg).
    plain = batch_task("bpr_max", samples, remove_accidental_hits=False)
    got = plain.loss._batch_target_candidates(tf.constant(q), tf.constant(targets, tf.int64), tf.constant(table), None)
    np.testing.assert_array_equal(got.negative_mask, ~np.eye(3, 5, dtype=bool))
    # An item bias is added to every column.
    bias = np.linspace(-1, 1, V).astype(np.float32)
    got = plain.loss._batch_target_candidates(
        tf.constant(q), tf.constant(targets, tf.int64), tf.constant(table), tf.constant(bias)
    )
    np.testing.assert_allclose(got.neg_logits, logits + bias[candidates], rtol=1e-5)


def test_batch_targets_bpr_max_by_hand():
    # D = 2; item 3 = (1, 0), item 4 = (0, 1); queries (1, -1) and (0, 2); targets [3, 4]; one
    # sample, item 4. Candidates [3, 4, 4]: logits row 0 = [1, -1, -1], row 1 = [0, 2, 2].
    table = np.zeros((V, 2), np.float32)
    table[3], table[4] = [1, 0], [0, 1]
    q = np.array([[1, -1], [0, 2]], np.float32)
    targets = np.array([3, 4])
    # Row 0: positive 1, negatives -1, -1 (weights 1/2 each):
    #   -log sig(1 - (-1)) + 1.0 * (1/2 + 1/2) * 1 = softplus(-2) + 1 = 1.1269280
    # Row 1: positive 2 (column 1); column 2 (the sample 4) is an accidental hit and dropped;
    #   only negative 0: -log sig(2) + 0 = softplus(-2) = 0.1269280
    expected = (softplus(-2.0) + 1.0 + softplus(-2.0)) / 2
    np.testing.assert_allclose(expected, 0.6269280, rtol=1e-6)
    np.testing.assert_allclose(batch_task("bpr_max", [4])(q, targets, table), expected, rtol=1e-6)
    # Keeping the hit (official behaviour): row 1 negatives 0 and 2, weights (1, e^2) / (1 + e^2)
    w = np.array([1.0, np.exp(2.0)]) / (1 + np.exp(2.0))  # (0.1192029, 0.8807971)
    row1 = -np.log(w[0] * sigmoid(2.0) + w[1] * sigmoid(0.0)) + w[1] * 4.0
    np.testing.assert_allclose(row1, -np.log(0.5453921) + 3.5231884, rtol=1e-6)
    got = batch_task("bpr_max", [4], remove_accidental_hits=False)(q, targets, table)
    np.testing.assert_allclose(got, (softplus(-2.0) + 1.0 + row1) / 2, rtol=1e-6)
    # With ELU (alpha 0.5) on the scores: -1 -> 0.5 (e^-1 - 1) = -0.3160603, others >= 0 unchanged.
    e = 0.5 * (np.exp(-1.0) - 1)
    row0 = softplus(-(1.0 - e)) + 1.0 * e**2
    np.testing.assert_allclose(row0, softplus(-1.3160603) + 0.0998941, rtol=1e-6)
    got = batch_task("bpr_max", [4], score_activation="elu-0.5")(q, targets, table)
    np.testing.assert_allclose(got, (row0 + softplus(-2.0)) / 2, rtol=1e-6)


def official_bpr_max(scores, elu_param, bpreg):
    """Numpy port of GRU4Rec_PyTorch_Official's bpr_max_loss_with_elu (mean over the batch)."""
    if elu_param > 0:
        scores = elu(scores, elu_param)
    hm = 1.0 - np.eye(*scores.shape)
    x = scores * hm
    e_x = np.exp(x - x.max(axis=1, keepdims=True)) * hm
    softmax_scores = e_x / e_x.sum(axis=1, keepdims=True)
    target = np.diag(scores)[:, None]
    loss = -np.log(np.sum(sigmoid(target - scores) * softmax_scores, axis=1) + 1e-24) + bpreg * np.sum(
        scores**2 * softmax_scores, axis=1
    )
    return loss.sum() / scores.shape[0]


@pytest.mark.parametrize("targets", [[3, 5, 7, 2], [3, 5, 3, 3]])
def test_batch_targets_bpr_max_matches_the_official_code(targets):
    rng = np.random.default_rng(7)
    q = rng.normal(size=(4, D)).astype(np.float32)
    table = rng.normal(size=(V, D)).astype(np.float32)
    bias = rng.normal(size=V).astype(np.float32)
    samples = [9, 3, 11]
    candidates = targets + samples
    scores = q @ table[candidates].T + bias[candidates]  # official O = X W^T + B, [4, 7]
    # The official code keeps accidental hits: compare with remove_accidental_hits=False.
    task = batch_task("bpr_max", samples, bpr_reg=1.95, score_activation="elu-0.5", remove_accidental_hits=False)
    got = task(q, np.array(targets), table, item_bias=bias).numpy()
    np.testing.assert_allclose(got, official_bpr_max(scores, 0.5, 1.95), rtol=1e-5)
    # ... and the official cross-entropy (no logQ) is sampled softmax with label n over N + S.
    task = batch_task("sampled_softmax", samples, logq_correction=False, remove_accidental_hits=False)
    expected = -np.diag(log_softmax(scores)).mean()
    np.testing.assert_allclose(task(q, np.array(targets), table, item_bias=bias), expected, rtol=1e-5)


def reference_batch_losses(name, q, targets, table, samples, counts=None, sampler_probs=None, remove=True, t=0.75):
    """Numpy reference of every sampled loss with candidates [targets] + [samples]."""
    n, s = len(targets), len(samples)
    candidates = np.concatenate([targets, samples])
    logits = q @ table[candidates].T
    pos = np.diag(logits)
    mask = ~np.eye(n, n + s, dtype=bool)
    if remove:
        mask &= candidates[None, :] != targets[:, None]
    if name == "sampled_softmax":
        if counts is not None:
            p = counts / counts[2:].sum()
            in_batch = n * p[candidates]
        else:
            in_batch = (candidates[None, :] == targets[:, None]).sum(0)
        log_q = np.log(in_batch + s * sampler_probs[candidates])
        corrected = np.where(mask | np.eye(n, n + s, dtype=bool), logits - log_q, -np.inf)
        return -np.diag(log_softmax(corrected)).mean()
    drawn = n - 1 + s
    if name == "bce":  # default logit offset log(1 / drawn) on every logit
        logits, pos = logits + np.log(1 / drawn), pos + np.log(1 / drawn)
        return (softplus(-pos) + (mask * softplus(logits)).sum(1)).mean()
    if name == "gbce":
        alpha = min(drawn, V - 3) / (V - 3)  # catalogue V - 2 items
        beta = 1 - t * (1 - alpha)
        logits, pos = logits + np.log(beta / drawn), pos + np.log(beta / drawn)
        return (beta * softplus(-pos) + (mask * softplus(logits)).sum(1)).mean()
    weights = np.where(mask, np.exp(logits - np.where(mask, logits, -np.inf).max(1, keepdims=True)), 0)
    weights /= weights.sum(1, keepdims=True)
    safe = logits * mask
    if name == "bpr_max":
        return (-np.log((weights * sigmoid(pos[:, None] - safe)).sum(1) + 1e-24) + (weights * safe**2).sum(1)).mean()
    return (weights * (sigmoid(safe - pos[:, None]) + sigmoid(safe**2))).sum(1).mean()


@pytest.mark.parametrize("name", ["sampled_softmax", "bce", "gbce", "bpr_max", "top1_max"])
def test_batch_targets_every_loss_against_numpy(name, data):
    queries, targets, table = data
    keep = targets >= 2
    q, t = queries[keep], targets[keep]  # targets 3, 5, 7, 7, 2: item 7 twice
    samples = [7, 9, 2]  # 7 and 2 are accidental hits for some rows
    counts = np.arange(V, dtype=np.float64)
    task = batch_task(name, samples, counts=counts, sampler="popularity", sampling_alpha=0.5)
    sampler_probs = counts**0.5
    sampler_probs[:2] = 0
    sampler_probs /= sampler_probs.sum()
    expected = reference_batch_losses(name, q, t, table, np.array(samples), counts, sampler_probs)
    # padded [B, L] input: the candidates are the kept positions' targets only
    np.testing.assert_allclose(task(queries, targets, table), expected, rtol=1e-5)


def test_batch_targets_logq_without_item_counts_uses_the_batch_share(data):
    queries, targets, table = data
    keep = targets >= 2
    q, t = queries[keep], targets[keep]
    samples = [7, 10]
    task = batch_task("sampled_softmax", samples)  # uniform sampler, no item_counts
    uniform = np.full(V, 1 / (V - 2))
    uniform[:2] = 0
    expected = reference_batch_losses("sampled_softmax", q, t, table, np.array(samples), None, uniform)
    np.testing.assert_allclose(task(queries, targets, table), expected, rtol=1e-5)
    # Hand check of one correction: item 7 is 2 of the 5 targets and 1 of 2 uniform samples over
    # 10 items: expected copies 2 + 2 / 10 = 2.2; item 10 (not a target): 0 + 0.2.
    cand = task.loss._batch_target_candidates(tf.constant(q), tf.constant(t), tf.constant(table), None)
    np.testing.assert_allclose(np.exp(cand.neg_log_q.numpy()[0]), [1.2, 1.2, 2.2, 2.2, 1.2, 2.2, 0.2], rtol=1e-6)
    np.testing.assert_allclose(np.exp(cand.pos_log_q.numpy()), [1.2, 1.2, 2.2, 2.2, 1.2], rtol=1e-6)


def test_batch_targets_without_samples():
    rng = np.random.default_rng(2)
    q = rng.normal(size=(3, D)).astype(np.float32)
    table = rng.normal(size=(V, D)).astype(np.float32)
    targets = np.array([4, 6, 8])
    config = LossConfig(name="bpr_max", num_negatives=0, batch_targets_as_negatives=True)
    assert config.effective_num_negatives == 0
    task = NextItemTask(config, num_items=V)
    expected = reference_batch_losses("bpr_max", q, targets, table, np.zeros([0], np.int64))
    np.testing.assert_allclose(task(q, targets, table), expected, rtol=1e-5)
    # A single example has no negative at all: loss 0, not NaN.
    assert task(q[:1], targets[:1], table).numpy() == 0.0
    NextItemTask(LossConfig(name="gbce", num_negatives=0, batch_targets_as_negatives=True), num_items=V)  # S = 0: fine


def test_score_activation_full_ce_and_sampled(data):
    queries, targets, table = data
    keep = targets >= 2
    q, t = queries[keep], targets[keep]
    task = NextItemTask(LossConfig(name="full_ce", score_activation="elu-0.5"), num_items=V)
    logits = elu(q @ table.T, 0.5)  # PAD and OOV still get no probability after the activation
    expected = -log_softmax(logits[:, 2:])[np.arange(5), t - 2].mean()
    np.testing.assert_allclose(task(queries, targets, table), expected, rtol=1e-5)
    # Sampled softmax: activation first, then logQ (uniform: a constant shift).
    config = LossConfig(name="sampled_softmax", num_negatives=3, score_activation="elu")
    task = NextItemTask(config, num_items=V)
    fixed_negatives(task, [9, 10, 11])
    raw = np.concatenate([(q * table[t]).sum(-1, keepdims=True), q @ table[[9, 10, 11]].T], 1)
    expected = -log_softmax(elu(raw, 1.0))[:, 0].mean()
    np.testing.assert_allclose(task(queries, targets, table), expected, rtol=1e-5)


# --- config: new fields --------------------------------------------------------------------------


def test_new_config_fields_defaults_and_round_trip():
    config = LossConfig()
    assert config.batch_targets_as_negatives is False and config.score_activation == "linear"
    config = LossConfig(
        name="bpr_max",
        num_negatives=2048,
        sampler="popularity",
        sampling_alpha=0.4,
        bpr_reg=1.95,
        batch_targets_as_negatives=True,
        score_activation="elu-0.5",
    )
    as_dict = config.to_dict()
    assert as_dict["batch_targets_as_negatives"] is True and as_dict["score_activation"] == "elu-0.5"
    assert LossConfig.from_dict(as_dict) == config
    # a dict saved before these fields existed still loads, with the defaults
    old = {
        key: value
        for key, value in LossConfig(name="bce").to_dict().items()
        if key not in ("batch_targets_as_negatives", "score_activation")
    }
    assert LossConfig.from_dict(old) == LossConfig(name="bce")
    # and through the task's Keras config
    task = NextItemTask(config, num_items=V, item_counts=np.arange(V), seed=1)
    clone = NextItemTask.from_config(task.get_config())
    assert clone.loss_config == config and clone.get_config() == task.get_config()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="full_ce", batch_targets_as_negatives=True),
        dict(name="in_batch", batch_targets_as_negatives=True),
        dict(name="bpr_max", batch_targets_as_negatives=True, negatives_per="position"),
        dict(name="bpr_max", batch_targets_as_negatives=1),
        dict(name="bpr_max", num_negatives=0),  # 0 samples only with batch targets
        dict(name="bpr_max", num_negatives=-1, batch_targets_as_negatives=True),
        dict(name="bpr_max", score_activation="relu"),
        dict(name="bpr_max", score_activation="elu-0"),
        dict(name="bpr_max", score_activation="elu--0.5"),
        dict(name="bpr_max", score_activation=0.5),
        dict(name="in_batch", score_activation="elu-0.5"),
    ],
)
def test_new_config_fields_validation(kwargs):
    with pytest.raises(ValueError):
        LossConfig(**kwargs)


# --- learning with the new options ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["sampled_softmax", "bce", "gbce", "bpr_max", "top1_max"])
def test_toy_model_learns_with_batch_targets_and_elu(name):
    rng = np.random.default_rng(5)
    targets = rng.integers(2, V, size=(4, 5))
    targets[0, 3:] = 0  # padding: N changes with the batch, inside a tf.function
    counts = np.bincount(targets.ravel(), minlength=V) + 1
    # ELU bounds negative logits below by -alpha, so (g)BCE could not drive a negative's term below
    # softplus(-alpha): those two learn with linear scores (the official code uses ELU with BPR-max).
    activation = "linear" if name in ("bce", "gbce") else "elu-0.5"
    config = LossConfig(
        name=name,
        num_negatives=4,
        sampler="popularity",
        sampling_alpha=0.5,
        batch_targets_as_negatives=True,
        score_activation=activation,
    )
    task = NextItemTask(config, num_items=V, item_counts=counts, seed=9)
    history, queries, table = _train_toy(task, targets, rng)
    assert np.all(np.isfinite(history))
    assert np.mean(history[-5:]) < 0.7 * np.mean(history[:5]), history
    # the learned scores rank every position's target first among the items
    logits = tf.einsum("bld,vd->blv", queries, table).numpy()[..., 2:]
    keep = targets >= 2
    assert np.mean(logits[keep].argmax(-1) + 2 == targets[keep]) > 0.7


def test_gru4rec_session_parallel_with_official_candidates():
    from tfseqrec.data.session_parallel import SessionParallelBatcher
    from tfseqrec.models import build_model

    cycle = [[(s + i) % 10 + 2 for i in range(6)] for s in range(10)] * 3  # 2 -> 3 -> ... -> 11 -> 2
    counts = np.bincount(np.concatenate(cycle), minlength=V).astype(float)
    tf.keras.utils.set_random_seed(0)
    loss = {
        "name": "bpr_max",
        "num_negatives": 8,
        "sampler": "popularity",
        "sampling_alpha": 0.5,
        "bpr_reg": 1.0,
        "batch_targets_as_negatives": True,
        "score_activation": "elu-0.5",
    }
    model = build_model(
        "gru4rec", {"embedding_dim": 16, "max_len": 10, "dropout": 0.0, "loss": loss}, V, item_counts=counts
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02))
    data = SessionParallelBatcher.from_sessions(cycle, 8, seed=0).dataset()
    history = model.fit(data, epochs=15, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < 0.5 * history[0], history
    query, _ = model.step(tf.range(2, 12, dtype=tf.int64), model.initial_states(10))
    scores = tf.matmul(query, model.item_embeddings(), transpose_b=True).numpy()[:, 2:]
    assert np.mean(scores.argmax(axis=1) + 2 == [(i + 1) % 10 + 2 for i in range(10)]) >= 0.9


def _train_toy(task, targets, rng, steps=50):
    """Trains free queries [4, 5, 8] and an item table [V, 8] with Adam on ``task``.

    Returns (losses per step, queries, table).
    """
    queries = tf.Variable(rng.normal(scale=0.1, size=(4, 5, 8)).astype(np.float32))
    table = tf.Variable(rng.normal(scale=0.1, size=(V, 8)).astype(np.float32))
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = task(queries, targets, table)
        grads = tape.gradient(loss, [queries, table])
        optimizer.apply_gradients(zip(grads, [queries, table]))
        return loss

    return [float(step()) for _ in range(steps)], queries, table


@pytest.mark.parametrize(
    "name,num_negatives,expected",
    [
        ("bce", 1, 0.0),  # SASRec's single negative: no offset
        ("bce", 4, np.log(1 / 4)),
        ("gbce", 4, np.log((1 - 0.75 * (1 - 4 / (V - 3))) / 4)),  # log(beta / S), catalogue V - 2 items
    ],
)
def test_default_logit_offset_balances_positive_and_negative_gradients(name, num_negatives, expected):
    task = NextItemTask(LossConfig(name=name, num_negatives=num_negatives, negatives_per="batch"), num_items=V)
    np.testing.assert_allclose(float(task.loss.logit_offset(num_negatives)), expected, rtol=1e-6)
    # all scores 0 (zero query) and the target and its negatives share one embedding u: the positive's pull
    # (-beta * sigmoid(-offset) * u) and the negatives' push (S * sigmoid(offset) * u) cancel exactly
    fixed_negatives(task, list(range(5, 5 + num_negatives)))
    table = np.zeros((V, D), np.float32)
    table[4 : 5 + num_negatives] = np.linspace(-1, 1, D)
    queries = tf.Variable(np.zeros((1, D), np.float32))
    with tf.GradientTape() as tape:
        loss = task(queries, np.array([4]), table)
    np.testing.assert_allclose(tape.gradient(loss, queries), 0.0, atol=1e-6)
    untuned = NextItemTask(
        LossConfig(name=name, num_negatives=num_negatives, negatives_per="batch", logit_offset=0.0), num_items=V
    )
    fixed_negatives(untuned, list(range(5, 5 + num_negatives)))
    with tf.GradientTape() as tape:
        loss = untuned(queries, np.array([4]), table)
    assert num_negatives == 1 and name == "bce" or np.abs(tape.gradient(loss, queries)).max() > 1e-3


def test_explicit_logit_offset_is_added_to_every_candidate_logit():
    rng = np.random.default_rng(3)
    queries = rng.normal(size=(2, D)).astype(np.float32)
    targets = np.array([4, 6])
    table = rng.normal(size=(V, D)).astype(np.float32)
    task = NextItemTask(LossConfig(name="bce", num_negatives=2, negatives_per="batch", logit_offset=-3.0), num_items=V)
    fixed_negatives(task, [8, 9])
    logits = queries @ table.T - 3.0
    expected = [
        softplus(-logits[i, t]) + softplus(logits[i, 8]) + softplus(logits[i, 9]) for i, t in enumerate(targets)
    ]
    np.testing.assert_allclose(task(queries, targets, table), np.mean(expected), rtol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "full_ce", "logit_offset": -1.0},
        {"name": "bce", "logit_offset": float("nan")},
        {"name": "gbce", "logit_offset": True},
    ],
)
def test_logit_offset_is_validated(bad):
    with pytest.raises(ValueError, match="logit_offset"):
        LossConfig(**bad)
