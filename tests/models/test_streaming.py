"""Streaming: a model's query after one more event from its carried state equals the query of the whole
history (GRU4Rec, one and two layers, projection; SASRec's and HSTU's key-value caches), and models without a
streaming form say so."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model
from tfseqrec.models.kv_cache import StreamStateLayout

NUM_ITEMS = 30


def _gru(**config):
    model = build_model("gru4rec", {"embedding_dim": 8, "max_len": 12, **config}, NUM_ITEMS)
    return model.build_for_inputs()


@pytest.mark.parametrize("config", [{}, {"hidden_units": [6, 10]}])
def test_gru4rec_steps_reproduce_the_full_query_at_every_prefix(config):
    model = _gru(**config)
    assert model.stream_state_layout() == StreamStateLayout(fixed=sum(model.config.layer_sizes))
    rng = np.random.default_rng(0)
    rows = rng.integers(2, NUM_ITEMS, size=(3, 9))
    query, state = model.stream_start(tf.zeros([3, 1], tf.int64))  # empty histories
    np.testing.assert_array_equal(state.numpy(), 0.0)
    for t in range(rows.shape[1]):
        query, state = model.stream_step(state, tf.constant(rows[:, t]))
        full = model.query(tf.constant(rows[:, : t + 1])).numpy()
        np.testing.assert_allclose(query.numpy(), full, rtol=1e-5, atol=1e-5)
    # starting from a left-padded history gives the same state as stepping through it
    padded = np.concatenate([np.zeros((3, 2), np.int64), rows[:, :5]], axis=1)
    padded[1, :4] = 0  # a shorter row
    start_query, start_state = model.stream_start(tf.constant(padded))
    np.testing.assert_allclose(start_query.numpy(), model.query(tf.constant(padded)).numpy(), rtol=1e-5, atol=1e-5)
    stepped = tf.zeros_like(start_state)
    for t in range(padded.shape[1]):
        moved = model.stream_step(stepped, tf.constant(padded[:, t]))[1]
        stepped = tf.where(tf.constant(padded[:, t] > 0)[:, None], moved, stepped)
    np.testing.assert_allclose(start_state.numpy(), stepped.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "config",
    [{}, {"num_heads": 2, "num_blocks": 3}, {"tie_embeddings": False}, {"item_table": {"name": "low_rank", "rank": 4}}],
    ids=["default", "heads", "untied", "low_rank"],
)
def test_sasrec_key_value_cache_reproduces_the_full_query_at_every_prefix(config):
    tf.keras.utils.set_random_seed(0)
    model = build_model("sasrec", {"embedding_dim": 8, "max_len": 12, "dropout": 0.3, **config}, NUM_ITEMS)
    model = model.build_for_inputs()
    blocks = model.config.num_blocks
    layout = model.stream_state_layout()  # count, then per position every block's key and value
    assert layout == StreamStateLayout(fixed=1, per_item=blocks * 2 * 8, max_items=12)
    rng = np.random.default_rng(1)
    rows = rng.integers(2, NUM_ITEMS, size=(3, 12))
    query, state = model.stream_start(tf.zeros([3, 1], tf.int64))  # empty histories
    np.testing.assert_array_equal(state.numpy()[:, 0], 0.0)
    assert state.shape[1] == layout.width(1)  # one (padding) position
    for t in range(rows.shape[1]):  # up to max_len items
        query, state = model.stream_step(state, tf.constant(rows[:, t]))
        full = model.query(tf.constant(rows[:, : t + 1])).numpy()
        np.testing.assert_allclose(query.numpy(), full, rtol=1e-5, atol=1e-5)
        assert state.shape[1] == layout.width(min(t + 2, 12))  # grows with the history, at most max_len
    np.testing.assert_array_equal(state.numpy()[:, 0], 12.0)
    # a left-padded start (rows of different lengths) then steps
    padded = np.concatenate([np.zeros((3, 3), np.int64), rows[:, :5]], axis=1)
    padded[1, :6] = 0
    start_query, state = model.stream_start(tf.constant(padded))
    np.testing.assert_allclose(start_query.numpy(), model.query(tf.constant(padded)).numpy(), rtol=1e-5, atol=1e-5)
    history = padded
    for t in range(5, 9):
        query, state = model.stream_step(state, tf.constant(rows[:, t]))
        history = np.concatenate([history, rows[:, t : t + 1]], axis=1)
        np.testing.assert_allclose(query.numpy(), model.query(tf.constant(history)).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", [{}, {"num_heads": 2, "num_blocks": 3}], ids=["default", "heads"])
def test_hstu_key_value_cache_reproduces_the_full_query_at_every_prefix(config):
    tf.keras.utils.set_random_seed(0)
    model = build_model("hstu", {"embedding_dim": 8, "max_len": 12, "dropout": 0.3, **config}, NUM_ITEMS)
    model = model.build_for_inputs()
    for weight in model.weights:  # the relative position biases start at zero: make them matter
        if "position_bias" in weight.name:
            weight.assign(tf.random.normal(weight.shape, seed=2))
    qk_dim, v_dim = model.config.head_dims()
    heads, blocks = model.config.num_heads, model.config.num_blocks
    assert model.stream_state_layout() == StreamStateLayout(1, blocks * heads * (qk_dim + v_dim), 12)
    rows = np.random.default_rng(2).integers(2, NUM_ITEMS, size=(3, 12))
    padded = np.concatenate([np.zeros((3, 1), np.int64), rows[:, :3]], axis=1)
    padded[2, :3] = 0
    query, state = model.stream_start(tf.constant(padded))
    np.testing.assert_allclose(query.numpy(), model.query(tf.constant(padded)).numpy(), rtol=1e-5, atol=1e-5)
    history = padded
    for t in range(3, 12):
        query, state = model.stream_step(state, tf.constant(rows[:, t]))
        history = np.concatenate([history, rows[:, t : t + 1]], axis=1)
        np.testing.assert_allclose(query.numpy(), model.query(tf.constant(history)).numpy(), rtol=1e-5, atol=1e-5)
    timed = build_model("hstu", {"embedding_dim": 8, "max_len": 12, "time_bias": True}, NUM_ITEMS)
    assert timed.build_for_inputs().stream_state_layout() is None  # the time bias reads timestamps


@pytest.mark.parametrize(
    "config",
    [{"position_origin": "last"}, {"attention": "local"}, {"position_encoding": "rotary"}],
    ids=["origin_last", "local_attention", "rotary"],
)
def test_sasrec_configurations_without_a_cache_form_say_so(config):
    model = build_model("sasrec", {"embedding_dim": 8, "max_len": 12, **config}, NUM_ITEMS).build_for_inputs()
    assert model.stream_state_layout() is None


def test_models_without_a_streaming_form_say_so():
    model = build_model("bert4rec", {"embedding_dim": 8, "max_len": 6, "num_blocks": 1}, NUM_ITEMS)
    assert model.stream_state_layout() is None
    with pytest.raises(NotImplementedError, match="no streaming form"):
        model.stream_step(tf.zeros([1, 4]), tf.constant([3]))
    adapted = _gru(adaptation={"adapter": "query_offset"})
    assert adapted.stream_state_layout() is None  # a step cannot adapt the query


def test_an_unbuilt_model_says_whether_it_streams():
    layout = build_model("sasrec", {"embedding_dim": 8, "max_len": 6}, NUM_ITEMS).stream_state_layout()
    assert layout.max_width == 1 + 6 * 2 * 2 * 8
    hstu = build_model("hstu", {"embedding_dim": 8, "max_len": 6, "position_encoding": "none"}, NUM_ITEMS)
    assert hstu.stream_state_layout() is None
