"""ScaNN settings chosen from a measured recall curve (``ScannConfig.target_recall``)."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.export import contract
from tfseqrec.export.exporter import ExportConfig, export_model
from tfseqrec.export.indexes import ScannConfig
from tfseqrec.export.scann_calibration import CurvePoint, choose, exact_top_k, leaves_grid


def test_choose_takes_the_fastest_point_at_the_target_else_the_best_recall(caplog):
    curve = [
        CurvePoint(1, 100, 0.80, 0.001),
        CurvePoint(2, 100, 0.95, 0.002),
        CurvePoint(4, 100, 0.99, 0.004),
        CurvePoint(2, 250, 0.99, 0.003),
        CurvePoint(8, 250, 1.00, 0.009),
    ]
    assert choose(curve, 0.9) == curve[1]
    assert choose(curve, 0.98) == curve[3]  # two reach 0.99: the faster one
    assert choose(curve, 1.0) == curve[4]
    with caplog.at_level("WARNING"):
        assert choose(curve[:3], 0.999) == curve[2]  # none reaches it: the highest recall, with a warning
    assert "no ScaNN setting reached" in caplog.text


def test_exact_top_k_and_leaves_grid():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]], np.float32)
    queries = np.array([[1.0, 0.1], [0.0, -1.0]], np.float32)
    top = exact_top_k(vectors, queries, 2, chunk=1)
    assert [set(row) for row in top.tolist()] == [{0, 2}, {0, 3}]  # scores [1, .1, 1.1, -1] and [0, -1, -1, 0]
    assert leaves_grid(10) == [1, 2, 3, 5, 10]
    assert leaves_grid(1000)[:3] == [10, 20, 30] and leaves_grid(1000)[-1] == 1000


@pytest.fixture(scope="module")
def calibrated(exported, tmp_path_factory):
    """A ScaNN export of the fixture's 100 items in 10 leaves whose search settings come from the recall curve
    of 64 query embeddings (histories of the fixture's vocabulary), target recall@10 0.95."""
    import scann  # noqa: F401

    rng = np.random.default_rng(3)
    ids = rng.integers(2, len(exported.vocabulary), (64, 8))
    queries = exported.model.query(tf.constant(ids), training=False).numpy()
    config = ExportConfig(
        variants=("scann",),
        warmup_requests=False,
        scann=ScannConfig(num_leaves=10, target_recall=0.95),
    )
    base = tmp_path_factory.mktemp("calibrated")
    paths = export_model(
        exported.model,
        exported.vocabulary,
        exported.counts,
        str(base),
        "cal",
        config=config,
        calibration_queries=queries,
    )
    info = json.loads((base / "cal_scann" / "1" / contract.EXPORT_INFO_FILE).read_text())
    return paths["scann"], info, queries, ids


def test_the_export_searches_with_the_chosen_point(exported, calibrated):
    path, info, queries, ids = calibrated
    index = info["index"]
    cal = index["calibration"]
    chosen = cal["chosen"]
    assert cal["num_queries"] == 64 and cal["target_recall@10"] == 0.95
    assert chosen["recall"] >= 0.95
    reaching = [p for p in cal["curve"] if p["recall"] >= 0.95]
    assert chosen["seconds"] == min(p["seconds"] for p in reaching)
    assert (index["num_leaves_to_search"], index["num_reordering_candidates"]) == (
        chosen["leaves_to_search"],
        chosen["reordering_candidates"],
    )
    # Every leaf searched and every item rescored exactly is exact search: the curve says so.
    full = [p for p in cal["curve"] if p["leaves_to_search"] == 10 and p["reordering_candidates"] >= 100]
    assert full and all(p["recall"] == 1.0 for p in full)
    # The served export finds what the calibration measured: the top 10 of the same histories, nothing excluded.
    loaded = tf.saved_model.load(path)
    vocab = np.asarray(exported.vocabulary, object)
    got = (
        loaded.signatures[contract.RECOMMEND_SIGNATURE](
            history=tf.constant(vocab[ids].tolist()),
            k=tf.fill([len(ids)], 10),
            exclude_seen=tf.fill([len(ids)], False),
        )[contract.ITEM_IDS]
        .numpy()
        .astype(str)
    )
    table = exported.model.item_embeddings().numpy()
    bias = exported.model.item_biases()
    scores = queries @ table[2:].T + (0 if bias is None else bias.numpy()[2:])
    want = vocab[np.argsort(-scores, axis=1)[:, :10] + 2]
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.tolist(), want.tolist())])
    assert recall == pytest.approx(chosen["recall"], abs=0.02)


def test_target_recall_is_validated():
    with pytest.raises(ValueError, match="target_recall"):
        ScannConfig(target_recall=1.5)
    with pytest.raises(ValueError, match="target_recall"):
        ScannConfig(target_recall=0.0)


def test_the_cli_calibrates_on_the_models_queries_of_validation_histories(tmp_path):
    from tests.export.trained import FAST
    from tfseqrec.cli import main

    log, data, run, base = tmp_path / "log.csv", tmp_path / "data", tmp_path / "run", tmp_path / "saved_models"
    assert main(["generate", "--output", str(log), "--num-users", "120", "--num-items", "80", "--seed", "2"]) == 0
    assert main(["preprocess", "--input", str(log), "--output-dir", str(data), *FAST]) == 0
    assert main(["train", "--data-dir", str(data), "--model", "sasrec", "--output-dir", str(run), "--epochs", "1",
                 "model_config.embedding_dim=8", "model_config.max_len=10", "verbose=0"]) == 0  # fmt: skip
    assert main(["export", str(run), "--output", str(base), "--variants", "scann", "--num-leaves", "8",
                 "--target-recall", "0.9", "--no-warmup"]) == 0  # fmt: skip
    info = json.loads((base / "run_scann" / "1" / contract.EXPORT_INFO_FILE).read_text())
    calibration = info["index"]["calibration"]
    assert calibration["queries"] == "the model's queries of 120 validation histories"
    assert calibration["num_queries"] == 120 and calibration["chosen"]["recall"] >= 0.9
    with pytest.raises(SystemExit):
        main(["export", str(run), "--target-recall", "1.5"])
