"""``benchmarks/behaviours.py`` tabulates a grid's cells per target behaviour and compares the grid's pairs."""

import json
import math

import pytest

from tests.evaluation.test_behaviours import scorer, tiny_behaviour_data
from tests.peer_scripts import load_benchmark_script
from tfseqrec.evaluation import EvaluationConfig, evaluate


def test_table_and_paired_comparison_from_the_cells(tmp_path, capsys):
    behaviours = load_benchmark_script("behaviours")
    output = tmp_path / "out"
    data = tiny_behaviour_data(tmp_path)
    (output / "data").mkdir(parents=True)
    data.rename(output / "data" / "tiny")
    grid = {"name": "t", "datasets": [{"name": "tiny"}], "runs": [{"name": "a"}, {"name": "b"}], "seeds": [1]}
    (output / "grid.json").write_text(json.dumps({"grid": {**grid, "pairs": [["a", "b"]]}}))
    vocab = [line.split("\t")[0] for line in (output / "data" / "tiny" / "vocab.tsv").read_text().splitlines()]
    config = EvaluationConfig(ks=(1, 2), filter_seen=False)
    for run, order in (("a", ["e", "d"]), ("b", ["a", "d"])):  # a finds the order first; b the cart only
        evaluate(scorer(vocab, order), str(output / "data" / "tiny"), config).save(
            str(output / "runs" / "tiny" / run / "seed1" / "test")
        )
    assert behaviours.main([str(output), "--k", "2", "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())["datasets"]["tiny"]
    table = {(r["run"], r["behaviour"]): r for r in report["table"]}
    assert table[("a", "orders")]["Recall@2"] == 1.0 and table[("b", "orders")]["Recall@2"] == 0.0
    assert table[("a", "carts")]["NDCG@2"] == pytest.approx(1 / math.log2(3))
    assert table[("b", "carts")]["NDCG@2"] == pytest.approx(1 / math.log2(3))
    orders = next(c for c in report["comparisons"] if c["metric"] == "orders NDCG@2")
    assert orders["mean_diff"] == pytest.approx(1.0)
    assert "| a | orders | 1.0000 |" in capsys.readouterr().out
