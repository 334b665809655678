"""GRU4Rec: both training modes, state handling, learning, serialisation, registry."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.data.session_parallel import SessionParallelBatcher
from tfseqrec.models import build_model
from tfseqrec.models.base import SequentialRecommender
from tfseqrec.models.gru4rec import GRU4Rec, GRU4RecConfig

NUM_ITEMS = 12  # 0 = PAD, 1 = OOV, real items 2..11
CYCLE = 10  # the toy sequence 2 -> 3 -> ... -> 11 -> 2


def _model(**overrides):
    tf.keras.utils.set_random_seed(0)
    config = {"embedding_dim": 16, "max_len": 10, "dropout": 0.0, **overrides}
    return build_model("gru4rec", config, NUM_ITEMS)


def _cycle(start, length):
    return [(start + i) % CYCLE + 2 for i in range(length)]


def _left_pad(rows, width):
    out = np.zeros([len(rows), width], np.int64)
    for r, row in enumerate(rows):
        out[r, width - len(row) :] = row
    return tf.constant(out)


def _hr_at_1(model, rows, next_items):
    scores = model.score_all(_left_pad(rows, model.config.max_len)).numpy()
    scores[:, :2] = -np.inf
    return float((scores.argmax(axis=1) == np.asarray(next_items)).mean())


def test_config_defaults_and_validation():
    config = GRU4RecConfig()
    assert config.layer_sizes == (config.embedding_dim,) and config.tie_embeddings
    assert config.dropout_embedding == 0.0 and config.hidden_dropout_rate == config.dropout
    assert GRU4RecConfig(hidden_units=[8, 4]).hidden_units == (8, 4)
    assert GRU4RecConfig(dropout=0.3, dropout_hidden=0.1).hidden_dropout_rate == 0.1
    for bad in ({"hidden_units": ()}, {"hidden_units": (0,)}, {"dropout_embedding": 1.0}, {"initializer": "he"}):
        with pytest.raises(ValueError):
            GRU4RecConfig(**bad)


def test_registry_and_output_layer_variants():
    tied = _model()
    assert isinstance(tied, GRU4Rec) and tied.registry_name == "gru4rec"
    assert tied.projection is None and tied.output_item_embedding is None
    projected = _model(hidden_units=[24, 32])
    assert projected.projection is not None
    untied = _model(hidden_units=[24], tie_embeddings=False)
    assert untied.projection is None and untied.item_embeddings().shape == (NUM_ITEMS, 24)
    ids = _left_pad([[2, 3, 4], [5]], 6)
    for model in (tied, projected, untied):
        assert model.encode(ids).shape[:2] == (2, 6)
        assert model.score_all(ids).shape == (2, NUM_ITEMS)
    with pytest.raises(ValueError, match="has no field"):
        build_model("gru4rec", {"layers": [3]}, NUM_ITEMS)


def test_leading_padding_does_not_change_the_state():
    model = _model(hidden_units=[16, 16])
    items = [3, 7, 5, 9]
    short = model.encode(tf.constant([items], tf.int64)).numpy()
    padded = model.encode(_left_pad([items, [2, 4]], 9)).numpy()
    np.testing.assert_allclose(padded[0, -4:], short[0], atol=1e-5)
    np.testing.assert_array_equal(padded[0, :5], 0.0)  # padding positions are zero
    np.testing.assert_allclose(padded[1, -2:], model.encode(tf.constant([[2, 4]], tf.int64)).numpy()[0], atol=1e-5)


def test_step_matches_the_sequence_encoder():
    model = _model(hidden_units=[16, 16])
    items = tf.constant([[4, 8, 2, 6, 3]], tf.int64)
    expected = model.encode(items).numpy()[0]  # [5, 16]
    states = model.initial_states(1)
    for t in range(5):
        query, states = model.step(items[:, t], states)
        np.testing.assert_allclose(query.numpy()[0], expected[t], atol=1e-5)


def test_session_parallel_state_is_reset_exactly_at_session_boundaries():
    """After every batch, each slot's carried state equals the padded encoder's on that slot's session."""
    model = _model(hidden_units=[16, 16])
    sessions = [[2, 3, 4], [5, 6], [7, 8, 9, 10], [11, 2, 5], [6, 6, 6, 4]]
    batcher = SessionParallelBatcher.from_sessions(sessions, 2, shuffle=False)
    seen = [[], []]
    steps = 0
    for inputs, targets, reset in batcher.steps():
        batch = {"inputs": tf.constant(inputs), "targets": tf.constant(targets), "reset": tf.constant(reset)}
        assert np.isfinite(model.compute_loss(batch, training=False).numpy())
        carried = model.session_states(training=False)[-1].numpy()  # last layer, [2, 16]
        for slot in range(2):
            seen[slot] = [inputs[slot]] if reset[slot] else seen[slot] + [inputs[slot]]
            fresh = model.encode(tf.constant([seen[slot]], tf.int64)).numpy()[0, -1]
            np.testing.assert_allclose(carried[slot], fresh, atol=1e-5)
        steps += 1
    assert steps == 4
    assert model.session_states(training=True)[0].shape[0] == 0  # evaluation keeps its own states


def test_states_are_carried_across_batches_inside_model_evaluate():
    """The same check through Keras (compiled test_step): the state survives from batch to batch."""
    model = _model(hidden_units=[16])
    rng = np.random.default_rng(4)
    sessions = [list(rng.integers(2, NUM_ITEMS, size=rng.integers(2, 7))) for _ in range(30)]
    batcher = SessionParallelBatcher.from_sessions(sessions, 3, shuffle=False)
    model.compile()
    model.evaluate(batcher.dataset(), verbose=0)
    seen = [[], [], []]
    for inputs, _, reset in batcher.steps():
        seen = [[x] if r else s + [x] for s, x, r in zip(seen, inputs, reset)]
    expected = np.stack([model.encode(tf.constant([s], tf.int64)).numpy()[0, -1] for s in seen])
    np.testing.assert_allclose(model.session_states(training=False)[0].numpy(), expected, atol=1e-5)


def test_states_are_not_weights():
    model = _model()
    model.build_for_inputs()
    before = len(model.weights)
    batch = {"inputs": tf.constant([2, 3]), "targets": tf.constant([3, 4]), "reset": tf.constant([True, True])}
    model.compute_loss(batch, training=True)
    assert len(model.weights) == before and model.session_states()[0].shape == (2, 16)
    model.reset_session_states()
    assert model.session_states()[0].shape[0] == 0


def _cyclic_sessions(count, rng, low=4, high=11):
    return [_cycle(int(rng.integers(CYCLE)), int(rng.integers(low, high))) for _ in range(count)]


def _counts(sessions):
    return np.bincount(np.concatenate(sessions), minlength=NUM_ITEMS).astype(float)


def test_learns_the_cycle_in_padded_mode():
    rng = np.random.default_rng(0)
    sessions = _cyclic_sessions(48, rng)
    tf.keras.utils.set_random_seed(0)
    loss = {"name": "bpr_max", "num_negatives": 8, "sampler": "popularity"}
    model = build_model(
        "gru4rec",
        {"embedding_dim": 16, "max_len": 10, "dropout_hidden": 0.1, "loss": loss},
        NUM_ITEMS,
        item_counts=_counts(sessions),
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02))
    data = tf.data.Dataset.from_tensor_slices({"item_ids": _left_pad(sessions, 11)}).batch(16)
    model.fit(data, epochs=25, verbose=0)
    histories = [_cycle(s, 4) for s in range(CYCLE)]
    assert _hr_at_1(model, histories, [_cycle(s, 5)[-1] for s in range(CYCLE)]) == 1.0


@pytest.mark.parametrize(
    "loss",
    [
        {"name": "full_ce"},
        {"name": "bpr_max", "num_negatives": 8, "sampler": "popularity", "sampling_alpha": 0.5},
    ],
)
def test_learns_the_cycle_in_session_parallel_mode(loss):
    rng = np.random.default_rng(1)
    sessions = _cyclic_sessions(40, rng)
    tf.keras.utils.set_random_seed(0)
    model = build_model(
        "gru4rec",
        {"embedding_dim": 16, "max_len": 10, "dropout": 0.0, "loss": loss},
        NUM_ITEMS,
        item_counts=_counts(sessions),
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02))
    data = SessionParallelBatcher.from_sessions(sessions, 8, seed=0).dataset()
    model.fit(data, epochs=20, verbose=0)
    histories = [_cycle(s, 3) for s in range(CYCLE)]
    assert _hr_at_1(model, histories, [_cycle(s, 4)[-1] for s in range(CYCLE)]) == 1.0
    # The step mode agrees: one step from a zero state predicts the next item too.
    query, _ = model.step(tf.range(2, 12, dtype=tf.int64), model.initial_states(CYCLE))
    scores = tf.matmul(query, model.item_embeddings(), transpose_b=True).numpy()
    scores[:, :2] = -np.inf
    assert list(scores.argmax(axis=1)) == [_cycle(s, 2)[-1] for s in range(CYCLE)]


@pytest.mark.parametrize(
    "overrides", [{}, {"hidden_units": [24, 8], "output_bias": True}, {"tie_embeddings": False, "initializer": "keras"}]
)
def test_config_and_weights_round_trip(overrides, tmp_path):
    model = _model(**overrides)
    model.build_for_inputs()
    ids = _left_pad([[2, 3, 4], [5, 6, 7, 8, 9]], 10)
    expected = model.score_all(ids).numpy()
    model.save_weights(str(tmp_path / "w"))
    clone = SequentialRecommender.from_config(model.get_config())
    assert type(clone) is GRU4Rec and clone.config == model.config
    clone.build_for_inputs()
    clone.load_weights(str(tmp_path / "w"))
    np.testing.assert_array_equal(clone.score_all(ids).numpy(), expected)
