"""``benchmarks/segment_pairs.py``: the grid's pairs compared on all rows and on cold / tail targets."""

import json

import numpy as np
import pytest

from tests.conftest import generated_dataset
from tests.peer_scripts import load_benchmark_script
from tfseqrec.data.spec import load_item_counts, load_feature_spec
from tfseqrec.evaluation import EvaluationConfig, evaluate


def test_masks_by_hand():
    script = load_benchmark_script("segment_pairs")
    counts = np.array([0, 0, 9, 1, 5, 0, 2])  # real items 2..6 with counts 9, 1, 5, 0, 2
    masks = script.segment_masks(np.array([2, 3, 4, 5, 6]), counts, cold_threshold=1, tail_share=0.4)
    assert masks["cold (<= 1)"].tolist() == [False, True, False, True, False]
    assert masks["tail (40%)"].tolist() == [False, True, False, True, False]  # the 2 least popular of 5


def test_pairs_on_segments_from_the_cells(tmp_path, capsys):
    script = load_benchmark_script("segment_pairs")
    output = tmp_path / "out"
    data = generated_dataset(tmp_path, 80, 100, 3)
    (output / "data").mkdir(parents=True)
    data.rename(output / "data" / "toy")
    spec = load_feature_spec(str(output / "data" / "toy"))
    counts = np.asarray(load_item_counts(spec), np.float32)
    grid = {"name": "t", "datasets": [{"name": "toy"}], "runs": [{"name": "a"}, {"name": "b"}], "seeds": [1]}
    (output / "grid.json").write_text(json.dumps({"grid": {**grid, "pairs": [["a", "b"]]}}))
    rare_first = lambda batch: np.tile(-counts, (len(batch["item_ids"]), 1))  # noqa: E731
    popular_first = lambda batch: np.tile(counts, (len(batch["item_ids"]), 1))  # noqa: E731
    for run, score in (("a", rare_first), ("b", popular_first)):
        evaluate(score, str(output / "data" / "toy"), EvaluationConfig(ks=(10,))).save(
            str(output / "runs" / "toy" / run / "seed1" / "test")
        )
    assert script.main([str(output), "--report", str(tmp_path / "r.json")]) == 0
    rows = {r["metric"].split(" ")[1]: r for r in json.loads((tmp_path / "r.json").read_text())}
    assert rows["all"]["rows"] == 80
    assert rows["cold"]["mean_a"] >= rows["cold"]["mean_b"]  # ranking rare items first wins on cold targets
    assert rows["all"]["mean_b"] > rows["all"]["mean_a"]  # and loses overall
    assert rows["all"]["mean_diff"] == pytest.approx(rows["all"]["mean_a"] - rows["all"]["mean_b"])
    assert "| a | b | 80 |" in capsys.readouterr().out


def test_history_masks_by_hand():
    script = load_benchmark_script("segment_pairs")
    masks = script.history_masks(np.array([3, 200, 201, 512, 513, 2000]), [200, 512])
    assert list(masks) == ["history <= 200", "history 201-512", "history > 512"]
    assert masks["history <= 200"].tolist() == [True, True, False, False, False, False]
    assert masks["history 201-512"].tolist() == [False, False, True, True, False, False]
    assert masks["history > 512"].tolist() == [False, False, False, False, True, True]


def test_pairs_by_history_length(tmp_path):
    script = load_benchmark_script("segment_pairs")
    output = tmp_path / "out"
    data = generated_dataset(tmp_path, 80, 100, 3)
    (output / "data").mkdir(parents=True)
    data.rename(output / "data" / "toy")
    grid = {"name": "t", "datasets": [{"name": "toy"}], "runs": [{"name": "a"}, {"name": "b"}], "seeds": [1]}
    (output / "grid.json").write_text(json.dumps({"grid": {**grid, "pairs": [["a", "b"]]}}))
    counts = np.asarray(load_item_counts(load_feature_spec(str(output / "data" / "toy"))), np.float32)
    for run in ("a", "b"):
        scores = lambda batch: np.tile(counts, (len(batch["item_ids"]), 1))  # noqa: E731
        evaluate(scores, str(output / "data" / "toy"), EvaluationConfig(ks=(10,))).save(
            str(output / "runs" / "toy" / run / "seed1" / "test")
        )
    lengths = np.load(output / "runs" / "toy" / "a" / "seed1" / "test" / "per_user.npz")["history_length"]
    edge = int(np.median(lengths))
    args = [str(output), "--history-edges", str(edge), "--no-popularity", "--metrics", "NDCG@10"]
    assert script.main(args + ["--report", str(tmp_path / "r.json")]) == 0
    rows = {r["metric"]: r["rows"] for r in json.loads((tmp_path / "r.json").read_text())}
    assert set(rows) == {"toy all NDCG@10", f"toy history <= {edge} NDCG@10", f"toy history > {edge} NDCG@10"}
    assert rows[f"toy history <= {edge} NDCG@10"] == int((lengths <= edge).sum())
    assert rows[f"toy history <= {edge} NDCG@10"] + rows[f"toy history > {edge} NDCG@10"] == 80
