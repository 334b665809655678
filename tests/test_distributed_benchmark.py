"""benchmarks/distributed.py on generated data: one process and two localhost workers, compared per seed."""

import json

from tests.peer_scripts import load_benchmark_script
from tests.conftest import generated_dataset


def test_single_and_two_workers_are_trained_and_compared(tmp_path):
    data = generated_dataset(tmp_path / "data", 200, 80, 4)
    bench = load_benchmark_script("distributed")
    code = bench.main(
        [
            "--data-dir", str(data), "--seeds", "1", "--runs", str(tmp_path / "runs"),
            "--output", str(tmp_path / "out"), "--timeout", "300", "--strategies", "multi_worker", "parameter_server",
            "--", "time_budget_minutes=null", "epochs=2",
            "model_config.max_len=20", "model_config.embedding_dim=16", "batch_size=64",
        ]
    )  # fmt: skip
    assert code == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    (row,) = results["seeds"]
    for strategy in ("multi_worker", "parameter_server"):
        assert row["single"]["epochs_run"] == row[strategy]["epochs_run"] == 2
        assert 0 < row[strategy]["valid_NDCG@10"] <= 1
        assert -1 <= row[strategy]["paired"]["mean_diff"] <= 1 and 0 <= row[strategy]["paired"]["wilcoxon_p"] <= 1
    assert (tmp_path / "runs" / "workers_seed1" / "workers" / "worker_1" / "run.json").exists()
    ps_run = json.loads((tmp_path / "runs" / "ps_seed1" / "run.json").read_text())
    assert ps_run["config"]["strategy"] == "parameter_server" and ps_run["config"]["local_cluster"] == [2, 1]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| 1 | multi_worker |" in text and "| 1 | parameter_server |" in text
    single_mtime = (tmp_path / "runs" / "single_seed1" / "run.json").stat().st_mtime
    assert bench.main(["--data-dir", str(data), "--seeds", "1", "--runs", str(tmp_path / "runs")]) == 0
    assert (tmp_path / "runs" / "single_seed1" / "run.json").stat().st_mtime == single_mtime  # reused
