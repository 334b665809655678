"""SR-GNN: session graphs (alias, normalised in/out adjacency), padding, causality, learning, serialisation."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

import tfseqrec.models.srgnn  # noqa: F401  (registers "srgnn")
from tfseqrec.models import available_models, build_model
from tfseqrec.models.srgnn import SRGNN, SRGNNConfig, session_graph
from tests.models import test_contract as contract

NUM_ITEMS = 14
A, B, C = 5, 7, 9


def _model(**overrides):
    tf.keras.utils.set_random_seed(0)
    return build_model("srgnn", {"embedding_dim": 16, "max_len": 8, "dropout": 0.0, **overrides}, NUM_ITEMS)


def _left_pad(rows, width):
    out = np.zeros([len(rows), width], np.int64)
    for r, row in enumerate(rows):
        out[r, width - len(row) :] = row
    return tf.constant(out)


def _reference_graph(row, end):
    """Plain-Python SR-GNN graph of ``row[:end + 1]`` (padding dropped), nodes keyed by first column."""
    node_of, edges = {}, set()
    cols = [j for j in range(end + 1) if row[j] != 0]
    for j in cols:
        node_of.setdefault(row[j], j)
    for j in range(end):
        if row[j] != 0 and row[j + 1] != 0:
            edges.add((node_of[row[j]], node_of[row[j + 1]]))
    n = len(row)
    adjacency = np.zeros([n, n])
    for u, v in edges:
        adjacency[u, v] = 1.0
    a_out = adjacency / np.maximum(adjacency.sum(1, keepdims=True), 1)
    a_in = (adjacency / np.maximum(adjacency.sum(0, keepdims=True), 1)).T
    return a_in, a_out


def test_config_and_registry():
    assert "srgnn" in available_models()
    model = _model(gnn_steps=2)
    assert isinstance(model, SRGNN) and model.registry_name == "srgnn" and model.causal
    assert model.config == SRGNNConfig(embedding_dim=16, max_len=8, dropout=0.0, gnn_steps=2)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError):
            SRGNNConfig(gnn_steps=bad)
    with pytest.raises(ValueError, match="has no field"):
        build_model("srgnn", {"steps": 2}, NUM_ITEMS)


def test_adjacency_of_a_hand_made_session():
    # [a, b, a, c]: nodes a (column 0), b (1), c (3); edges a->b, b->a, a->c.
    alias, a_in, a_out = session_graph(tf.constant([[A, B, A, C]], tf.int64), tf.constant([3]))
    np.testing.assert_array_equal(alias.numpy()[0], [[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    a, b, c = 0, 1, 3
    expected_out = np.zeros([4, 4])
    expected_out[a, b] = expected_out[a, c] = 0.5  # a has two successors
    expected_out[b, a] = 1.0
    expected_in = np.zeros([4, 4])
    expected_in[b, a] = 1.0  # b's only predecessor is a
    expected_in[a, b] = 1.0
    expected_in[c, a] = 1.0
    np.testing.assert_allclose(a_out.numpy()[0, 0], expected_out)
    np.testing.assert_allclose(a_in.numpy()[0, 0], expected_in)


def test_repeated_transitions_count_once_and_in_degree_normalises():
    # [a, b, a, b, c, b]: edges a->b (twice, counted once), b->a, b->c, c->b; b has in-degree 2.
    alias, a_in, a_out = session_graph(tf.constant([[A, B, A, B, C, B]], tf.int64), tf.constant([5]))
    a, b, c = 0, 1, 4
    assert a_out.numpy()[0, 0, a, b] == 1.0
    np.testing.assert_allclose(a_out.numpy()[0, 0, b, [a, c]], [0.5, 0.5])
    np.testing.assert_allclose(a_in.numpy()[0, 0, b, [a, c]], [0.5, 0.5])
    assert a_in.numpy()[0, 0, a, b] == 1.0 and a_in.numpy()[0, 0, c, b] == 1.0


def test_prefix_graphs_and_padding_match_a_python_reference():
    rng = np.random.default_rng(1)
    rows = [list(rng.integers(2, 6, size=n)) for n in (1, 3, 6, 8, 8)]
    ids = _left_pad(rows, 8)
    alias, a_in, a_out = session_graph(ids, tf.range(8))
    assert alias.shape == (5, 8, 8) and a_in.shape == (5, 8, 8, 8)
    for r, row in enumerate(ids.numpy()):
        for end in range(8):
            ref_in, ref_out = _reference_graph(row, end)
            np.testing.assert_allclose(a_in.numpy()[r, end], ref_in, err_msg=f"row {r} prefix {end}")
            np.testing.assert_allclose(a_out.numpy()[r, end], ref_out, err_msg=f"row {r} prefix {end}")
        np.testing.assert_array_equal(alias.numpy()[r][row == 0], 0.0)  # padding has no node


def test_padding_is_ignored_and_query_is_the_last_column():
    model = _model(gnn_steps=2)
    session = [A, B, A, C, 3]
    alone = model.encode(tf.constant([session], tf.int64)).numpy()[0]
    padded = model.encode(_left_pad([session, [4, 2]], 8)).numpy()
    np.testing.assert_allclose(padded[0, -5:], alone, atol=1e-5)
    query = model.query(_left_pad([session, [4, 2]], 8)).numpy()
    np.testing.assert_allclose(query, padded[:, -1], atol=1e-5)
    # Longer histories than max_len are truncated to the last max_len items.
    long = _left_pad([[2, 3, 4] + session + [6, 8]], 10)
    np.testing.assert_allclose(model.query(long).numpy(), model.query(long[:, -8:]).numpy(), atol=1e-6)


def test_states_are_causal_per_prefix():
    model = _model()
    ids = _left_pad([[A, B, A, C, 3, 4]], 6)
    states = model.encode(ids).numpy()[0]
    for t in range(6):
        prefix_state = model.query(ids[:, : t + 1]).numpy()[0]
        np.testing.assert_allclose(states[t], prefix_state, atol=1e-5)


def test_learns_a_session_cycle_with_repeats():
    # Sessions with repeated items: the next item depends on the last item only, whatever the graph.
    model = _model(embedding_dim=16)
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(64):
        n = rng.integers(3, 10)
        start = rng.integers(0, 6)
        rows.append([(start + i) % 6 + 2 for i in range(n)])  # cycle over 6 items, wraps (repeats)
    ids = _left_pad(rows, 9)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    model.fit(tf.data.Dataset.from_tensors({"item_ids": ids}).repeat(150), epochs=1, verbose=0)
    scores = model.score_all(ids[:, :-1]).numpy()
    scores[:, :2] = -np.inf
    assert (scores.argmax(axis=1) == ids[:, -1].numpy()).mean() == 1.0


def test_nonhybrid_variant_runs():
    model = _model(nonhybrid=True)
    assert model.combine is None
    ids = contract._cyclic_batch()
    assert np.isfinite(model.compute_loss({"item_ids": ids}).numpy())


# -- the shared contract, run for "srgnn" -----------------------------
def test_contract_shapes_and_scores():
    contract.test_shapes_and_scores("srgnn")


def test_contract_no_position_sees_the_future():
    contract.test_no_position_sees_the_future("srgnn")


def test_contract_learns_a_deterministic_sequence():
    contract.test_learns_a_deterministic_sequence_to_hr_at_1("srgnn")


def test_contract_config_and_weights_round_trip(tmp_path):
    contract.test_config_and_weights_round_trip("srgnn", tmp_path)
