"""NextItemTask and LossConfig: numbers against numpy, masking, logQ, accidental hits, learning."""
import dataclasses

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.tasks import LOSS_NAMES, LossConfig, NextItemTask

V, D = 12, 4  # vocabulary: PAD, OOV and 10 items (ids 2..11)


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
    task.sampler.sample = lambda num: (ids, task.sampler.log_q(ids))


# --- LossConfig ------------------------------------------------------------------------------

def test_config_defaults_and_per_loss_resolution():
    config = LossConfig()
    assert (config.name, config.num_negatives, config.sampler, config.sampling_alpha,
            config.logq_correction, config.remove_accidental_hits, config.gbce_t, config.bpr_reg,
            config.negatives_per) == ("full_ce", None, "uniform", 0.75, None, True, 0.75, 1.0, "batch")
    assert LossConfig(name="bce").effective_num_negatives == 1
    assert LossConfig(name="gbce").effective_num_negatives == 256
    assert LossConfig(name="sampled_softmax").effective_num_negatives == 256
    assert LossConfig(name="bce", num_negatives=8).effective_num_negatives == 8
    assert LossConfig(name="full_ce").effective_num_negatives == 0
    assert LossConfig(name="sampled_softmax").effective_logq_correction
    assert LossConfig(name="in_batch").effective_logq_correction
    assert not LossConfig(name="bce").effective_logq_correction
    assert not LossConfig(name="sampled_softmax", logq_correction=False).effective_logq_correction
    # None survives replace(): switching the loss switches the defaults.
    assert dataclasses.replace(LossConfig(name="bce"), name="gbce").effective_num_negatives == 256


@pytest.mark.parametrize("kwargs", [
    dict(name="ce"), dict(name="bce", num_negatives=0), dict(name="bce", num_negatives=2.5),
    dict(name="full_ce", num_negatives=8), dict(name="in_batch", num_negatives=8),
    dict(sampler="zipf"), dict(sampling_alpha=-1.0), dict(name="bce", logq_correction=True),
    dict(name="full_ce", logq_correction=True), dict(gbce_t=1.5), dict(bpr_reg=-0.1),
    dict(negatives_per="sequence"), dict(remove_accidental_hits="yes"),
    dict(sampling_alpha=float("nan")),
])
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        LossConfig(**kwargs)


def test_config_dict_round_trip():
    config = LossConfig(name="gbce", num_negatives=16, sampler="popularity", sampling_alpha=0.5,
                        gbce_t=0.9, negatives_per="position")
    assert LossConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown LossConfig keys"):
        LossConfig.from_dict({"name": "bce", "negatives": 3})


# --- task construction and serialization ---------------------------------------------------------

def test_get_config_round_trip(data):
    queries, targets, table = data
    task = NextItemTask(LossConfig(name="sampled_softmax", num_negatives=5, sampler="popularity"),
                        num_items=V, item_counts=np.arange(V), seed=11, name="next_item")
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
    config = LossConfig(name="sampled_softmax", sampler="popularity", sampling_alpha=1.0,
                        num_negatives=3)
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
    np.testing.assert_allclose(no_logq(queries, targets, table), -log_softmax(raw)[:, 0].mean(),
                               rtol=1e-5)
    wrong_sign = -log_softmax(raw + (raw - corrected))[:, 0].mean()
    assert -log_softmax(raw)[:, 0].mean() < wrong_sign
    # The popular negative's softmax share drops under the correction.
    assert np.all(np.exp(log_softmax(corrected))[:, 1] < np.exp(log_softmax(raw))[:, 1])


@pytest.mark.parametrize("name", ["sampled_softmax", "bce", "gbce", "bpr_max", "top1_max"])
@pytest.mark.parametrize("negatives_per", ["batch", "position"])
def test_accidental_hit_does_not_contribute(name, negatives_per):
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(1, D)).astype(np.float32)
    targets = np.array([4])
    table = rng.normal(size=(V, D)).astype(np.float32)

    def loss_with(negatives, remove=True):
        config = LossConfig(name=name, num_negatives=len(negatives), negatives_per=negatives_per,
                            remove_accidental_hits=remove)
        task = NextItemTask(config, num_items=V)
        fixed_negatives(task, negatives)
        return task(queries, targets, table).numpy()

    with_hit = loss_with([4, 8])  # the first negative is the target itself
    pos, neg = float(queries[0] @ table[4]), float(queries[0] @ table[8])
    if name == "gbce":  # alpha = 2 / 9 keeps counting both drawn negatives; only the hit's term goes
        alpha = 2 / 9
        beta = alpha * (0.75 * (1 - 1 / alpha) + 1 / alpha)
        np.testing.assert_allclose(with_hit, beta * softplus(-pos) + softplus(neg), rtol=1e-5)
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
    np.testing.assert_allclose(task.in_batch_sampling_probability(t), prob, rtol=1e-5)
    logits = q @ table[t].T - np.log(prob)[None, :]  # logQ: subtract log probability
    hits = (t[:, None] == t[None, :]) & ~np.eye(n, dtype=bool)  # the other copy of item 7
    logits = np.where(hits, -np.inf, logits)
    expected = -np.diag(log_softmax(logits)).mean()
    np.testing.assert_allclose(task(queries, targets, table), expected, rtol=1e-5)
    # Without logQ: plain in-batch softmax (hits still removed).
    plain = NextItemTask(LossConfig(name="in_batch", logq_correction=False), num_items=V)
    raw = np.where(hits, -np.inf, q @ table[t].T)
    np.testing.assert_allclose(plain(queries, targets, table), -np.diag(log_softmax(raw)).mean(),
                               rtol=1e-5)
    # Without item_counts the probability is the item's share of the batch (7: 2/5, others 1/5).
    estimated = NextItemTask(LossConfig(name="in_batch"), num_items=V)
    share = np.array([1, 1, 2, 2, 1]) / 5
    np.testing.assert_allclose(estimated.in_batch_sampling_probability(t), 1 - (1 - share) ** 5,
                               rtol=1e-5)


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
    config = LossConfig(name=name, sampler="popularity" if name == "bpr_max" else "uniform",
                        **kwargs)
    task = NextItemTask(config, num_items=V, item_counts=counts, seed=9)
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

    history = [float(step()) for _ in range(50)]
    # sampled losses are noisy: compare averages of the first and last 5 steps
    assert np.mean(history[-5:]) < 0.7 * np.mean(history[:5]), history
