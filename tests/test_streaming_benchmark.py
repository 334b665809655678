"""benchmarks/streaming.py on a tiny GRU4Rec: every replayed append equals the full recompute, latency and
memory are measured per history length, and a full cache evicts."""

import json

from tests.peer_scripts import load_benchmark_script
from tests.conftest import generated_dataset
from tfseqrec.cli import main


def test_replay_latency_and_full_cache(tmp_path):
    data = generated_dataset(tmp_path, 150, 80, 8)
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(data), "--model", "gru4rec", "--epochs", "1", "--output-dir", str(run),
                 "model_config.embedding_dim=16", "model_config.max_len=100", "verbose=0"]) == 0  # fmt: skip
    out = tmp_path / "report"
    bench = load_benchmark_script("streaming")
    code = bench.main(["--run", str(run), "--output", str(out), "--replay-users", "5", "--replay-events", "40",
                       "--lengths", "5", "30", "--rounds", "2", "--requests", "4", "--users", "30",
                       "--cache-users", "10", "--cache-events", "60"])  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert code == 0 and results["exactness"]["events"] == 40
    assert results["exactness"]["identical_top_k"] == 40
    assert set(results["latency"]) == {"5", "30"}
    assert results["latency"]["30"]["bytes_per_user"] > results["latency"]["5"]["bytes_per_user"] > 0
    assert results["full_cache"]["evictions"] > 0 and 0 < results["full_cache"]["hit_rate"] < 1
    assert "(a) Replayed test log: 40 events" in (out / "report.md").read_text()
