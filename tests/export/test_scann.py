"""The ScaNN variant: ScaNN ops only there, recall against brute force, exclusions, index parameters, and an
index that searches only some of its leaves."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.export import contract
from tfseqrec.export.exporter import ExportConfig, export_model
from tfseqrec.export.indexes import ScannConfig
from tfseqrec.ids import FIRST_ITEM_ID
from tests.export.reference import decode, dense


def saved_model_op_types(export_dir) -> set:
    """Op types of every node of the SavedModel's graphs and of every function in their libraries."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())
    ops = set()
    for meta_graph in saved.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def test_only_the_scann_variant_has_scann_ops(exported):
    brute_ops = saved_model_op_types(exported.paths["brute_force"])
    scann_ops = saved_model_op_types(exported.paths["scann"])
    assert "MatMul" in brute_ops and "TopKV2" in brute_ops
    assert not [op for op in brute_ops if op.startswith("Scann")]
    assert [op for op in scann_ops if op.startswith("Scann")]


def _random_histories(vocab, count, seed=0):
    rng = np.random.default_rng(seed)
    return [[vocab[i] for i in rng.integers(2, len(vocab), rng.integers(1, 15))] for _ in range(count)]


def _recall(got, want):
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want)]))


@pytest.fixture(scope="module")
def approximate(exported, tmp_path_factory):
    """A ScaNN export that fetches ~30 of the ~100 items (the default config fetches all of a tiny catalogue)."""
    import scann  # noqa: F401

    config = ExportConfig(
        variants=("scann",),
        max_k=50,
        warmup_requests=False,
        scann=ScannConfig(num_leaves=10, num_leaves_to_search=10, num_reordering_candidates=30),
    )
    paths = export_model(
        exported.model,
        exported.vocabulary,
        exported.counts,
        str(tmp_path_factory.mktemp("approx")),
        "approx",
        config=config,
    )
    return tf.saved_model.load(paths["scann"])


@pytest.mark.parametrize("which", ["default", "approximate"])
def test_scann_recall_and_exclusions(request, exported, brute, which):
    loaded = request.getfixturevalue("scann_export" if which == "default" else "approximate")
    histories = _random_histories(exported.vocabulary, 64)
    want = brute.signatures[contract.SERVING_SIGNATURE](history=dense(histories))
    got = loaded.signatures[contract.SERVING_SIGNATURE](history=dense(histories))
    got_ids, want_ids = decode(got[contract.ITEM_IDS]), decode(want[contract.ITEM_IDS])
    assert _recall(got_ids, want_ids) >= (0.999 if which == "default" else 0.9)
    assert not any(set(row) & set(history) for row, history in zip(got_ids, histories))
    assert all("" not in row for row in got_ids)
    # Exact rescoring: an item found by both has the same (model) score.
    want_scores = {
        (r, item): s for r, row in enumerate(want_ids) for item, s in zip(row, want[contract.SCORES].numpy()[r])
    }
    for r, row in enumerate(got_ids):
        for item, score in zip(row, got[contract.SCORES].numpy()[r]):
            if (r, item) in want_scores:
                assert score == pytest.approx(want_scores[(r, item)], rel=1e-5, abs=1e-6)


@pytest.fixture(scope="module")
def half_searched(exported, tmp_path_factory):
    """A ScaNN export of the fixture's 100 items in 10 leaves that searches 5 of them per query. Its 100
    reordering candidates cover every item, so all the items of the searched leaves are rescored exactly: what
    it misses is only what the tree routed the query away from."""
    import scann  # noqa: F401

    config = ExportConfig(
        variants=("scann",),
        max_k=50,
        warmup_requests=False,
        scann=ScannConfig(num_leaves=10, num_leaves_to_search=5, num_reordering_candidates=100),
    )
    paths = export_model(
        exported.model,
        exported.vocabulary,
        exported.counts,
        str(tmp_path_factory.mktemp("half")),
        "half",
        config=config,
    )
    return tf.saved_model.load(paths["scann"])


def test_scann_searching_half_of_its_leaves(exported, brute, half_searched):
    from scann.proto import scann_pb2

    # The searcher saved in the export (the TFRS layer's ScaNN state): its config and each item's leaf.
    state = half_searched.index.scann._serialized_searcher
    partitioning = scann_pb2.ScannConfig.FromString(state.scann_config.numpy()[0]).partitioning
    assert (partitioning.num_children, partitioning.query_spilling.max_spill_centers) == (10, 5)
    leaf_of = state.datapoint_to_token.numpy().reshape(-1)  # [100]: the leaf of item id FIRST_ITEM_ID + i
    assert leaf_of.shape == (100,) and 5 < len(set(leaf_of.tolist())) <= 10  # k-means may leave a leaf empty
    position = {item: i for i, item in enumerate(exported.vocabulary[FIRST_ITEM_ID:])}

    histories = _random_histories(exported.vocabulary, 64)
    got = decode(half_searched.signatures[contract.SERVING_SIGNATURE](history=dense(histories))[contract.ITEM_IDS])
    want = decode(brute.signatures[contract.SERVING_SIGNATURE](history=dense(histories))[contract.ITEM_IDS])
    for row, truth in zip(got, want):
        leaves = {leaf_of[position[item]] for item in row if item}
        assert len(leaves) <= 5  # a query's results come from the leaves it searched, at most 5
        # Nothing of a searched leaf is lost: every true top-10 item in one of them is in the top 10.
        assert all(item in row[:10] for item in truth[:10] if leaf_of[position[item]] in leaves)
    # Searching 5 random leaves of 10 would find each true neighbour with probability 1/2 (recall 0.5); the tree
    # sends queries to the leaves that hold their neighbours: 0.70-0.82 over 10 builds (ScaNN's k-means starts
    # from random centres, so each build differs). 0.6 is above chance and 0.1 below every build seen.
    assert _recall([r[:10] for r in got], [w[:10] for w in want]) >= 0.6


def test_scann_recommend_per_row_k_and_empty_rows(exported, scann_export, brute):
    vocab = exported.vocabulary
    args = dict(
        history=tf.constant([["", ""], [vocab[4], vocab[8]]]),
        k=tf.constant([3, 60]),
        exclude_seen=tf.constant([True, False]),
    )
    got, want = (
        scann_export.signatures[contract.RECOMMEND_SIGNATURE](**args),
        brute.signatures[contract.RECOMMEND_SIGNATURE](**args),
    )
    assert got[contract.ITEM_IDS].shape == (2, 50)
    assert decode(got[contract.ITEM_IDS])[0] == decode(want[contract.ITEM_IDS])[0]  # most popular, then ""
    assert _recall([decode(got[contract.ITEM_IDS])[1]], [decode(want[contract.ITEM_IDS])[1]]) >= 0.9


def test_scann_config_is_derived_and_validated():
    small = ScannConfig().resolve(num_items=100, dim=17)
    assert small.num_leaves == 10 and small.num_leaves_to_search == 10  # tiny catalogue: search everything
    large = ScannConfig().resolve(num_items=1_000_000, dim=65)
    assert large.num_leaves == 1000 and large.num_leaves_to_search == 50  # 5% of the leaves
    with pytest.raises(ValueError, match="num_leaves=200 exceeds the 100 items"):
        ScannConfig(num_leaves=200).resolve(100, 17)
    with pytest.raises(ValueError, match="num_leaves_to_search=20 exceeds num_leaves=10"):
        ScannConfig(num_leaves=10, num_leaves_to_search=20).resolve(100, 17)
    with pytest.raises(ValueError, match="at least 16 items.*brute_force"):
        ScannConfig().resolve(10, 17)
    with pytest.raises(ValueError, match="dimensions_per_block"):
        ScannConfig(dimensions_per_block=0)
