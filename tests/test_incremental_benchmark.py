"""benchmarks/incremental.py on a tiny four-day session log: both chains are trained and tested on the same
events of each test day, the incremental chain warm-starts with replay and grown tables, and each step's export
gets the next version."""

import json

import numpy as np
import pytest

from tests.peer_scripts import load_benchmark_script

DAY = 86_400


def _log(path):
    rng = np.random.default_rng(0)
    start = 1_700_006_400  # 2023-11-15 00:00 UTC
    rows = ["session_id,item_id,timestamp"]
    for day in range(4):
        for s in range(60):
            first = rng.integers(0, 20 + 5 * day)  # each day brings 5 new items
            for j in range(4):
                rows.append(f"d{day}s{s},item{(first + j) % (20 + 5 * day)},{start + day * DAY + 600 * s + j}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_both_chains_are_compared_on_the_same_test_events(tmp_path):
    log = _log(tmp_path / "log.csv")
    bench = load_benchmark_script("incremental")
    work, out = tmp_path / "work", tmp_path / "report"
    code = bench.main(["--name", "tiny", "--input", str(log), "--start", "2023-11-15", "--slices", "4",
                       "--warm-slices", "2", "--config", "configs/sasrec_yoochoose.yaml", "--overrides",
                       "model_config.embedding_dim=8", "batch_size=32", "--full-epochs", "2",
                       "--incremental-epochs", "1", "--replay-memory", "10", "--replay-selection", "herding",
                       "--distill", "0.3", "--work", str(work), "--output", str(out)])  # fmt: skip
    assert code == 0
    steps = json.loads((out / "results.json").read_text())["steps"]
    assert [s["test_slice"] for s in steps] == [2, 3] and [s["export_version"] for s in steps] == [1, 2]
    for step in steps:
        assert step["full"]["test_events"] == step["incremental"]["test_events"] > 0
    assert steps[0]["full"] == steps[0]["incremental"]  # the shared start
    run = json.loads((work / "incremental_3" / "run.json").read_text())
    assert run["initialised_from"]["run_dir"] == str(work / "full_2")
    assert (
        run["initialised_from"]["grown_item_tables"]["to_ids"]
        > run["initialised_from"]["grown_item_tables"]["from_ids"]
    )
    assert run["config"]["replay"]["data_dirs"] == [str(work / "data_full_2")]
    assert run["config"]["replay"]["selection"] == "herding" and run["config"]["replay"]["max_sequences"] == 10
    assert run["config"]["distillation"] == {"teacher": str(work / "full_2"), "temperature": 2.0, "weight": 0.3}
    herding_seconds = run["replay_memory"]["seconds"]  # the exemplars' forward pass counts as compute
    assert steps[1]["incremental"]["train_seconds"] == pytest.approx(run["train_seconds"] + herding_seconds)
    text = (out / "report.md").read_text()
    assert "Both chains evaluated the same test events at every slice: yes" in text
    assert "Goal: within 2% at <= 20%" in text and "10 sequences per slice, chosen by herding" in text
    assert "the previous model distilled at weight 0.3" in text
