"""benchmarks/throughput_revisions.py: the ratio of each round and their median, from the rows of both trees."""

import json

from tests.peer_scripts import load_benchmark_script


def _rows(speed: float) -> list[dict]:
    return [{"name": "sasrec_full_ce", "targets_per_second": speed, "other_cores": 0.02}]


ROUNDS = [
    {"base": _rows(100.0), "current": _rows(90.0)},
    {"base": _rows(80.0), "current": _rows(88.0)},
    {"base": _rows(100.0), "current": _rows(105.0)},
]


def test_the_headline_is_the_median_of_the_rounds_ratios():
    (row,) = load_benchmark_script("throughput_revisions").summarise(ROUNDS)
    assert row["ratio_per_round"] == [0.9, 1.1, 1.05]
    assert row["ratio"] == 1.05  # median of the paired ratios, not 90 / 100 of the medians
    assert (row["base_targets_per_second"], row["current_targets_per_second"]) == (100.0, 90.0)
    assert row["max_other_cores"] == 0.02


def test_rewrite_rebuilds_the_report_from_its_rounds(tmp_path):
    script = load_benchmark_script("throughput_revisions")
    meta = {"base": "abc1234", "current": "def5678", "data_dir": "out/x", "max_len": 50, "steps": 8}
    (tmp_path / "throughput.json").write_text(json.dumps({**meta, "rounds": ROUNDS, "table": []}))
    assert script.main(["--rewrite", "--report", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "throughput.json").read_text())
    assert saved["rounds"] == ROUNDS and saved["table"][0]["ratio"] == 1.05
    assert (
        "| sasrec_full_ce | 100 | 90 | 1.050 | 0.900, 1.100, 1.050 | 0.02 |" in (tmp_path / "throughput.md").read_text()
    )
