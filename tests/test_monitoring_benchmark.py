"""benchmarks/monitoring.py on a tiny trained run: the three server arms are timed and each replayed traffic's
drift comes from the server's request log (new items show up as the OOV rate they were given)."""

import json

import pytest

from tests.peer_scripts import load_benchmark_script
from tests.conftest import generated_dataset
from tfseqrec.cli import main


def test_cost_arms_and_drift_of_replayed_traffic(tmp_path):
    data = generated_dataset(tmp_path, 200, 80, 6)
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(data), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run),
                 "model_config.embedding_dim=16", "model_config.max_len=20", "verbose=0"]) == 0  # fmt: skip
    out = tmp_path / "report"
    bench = load_benchmark_script("monitoring")
    code = bench.main(["--run", str(run), "--output", str(out), "--rounds", "2", "--requests", "10",
                       "--histories", "60", "--new-item-share", "0.25"])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["cost"]) == {"off", "metrics", "metrics + request log (every request)"}
    assert all(arm["requests"] == 20 and arm["p50_ms"] > 0 for arm in results["cost"].values())
    assert results["cost"]["off"]["p50_vs_off"] == 1.0
    same, new = results["drift"]["test histories"], results["drift"]["test histories, 25% new items"]
    assert same["rows"] == new["rows"] == 60
    assert same["figures"]["oov_rate"] == 0.0 and "oov_rate" not in same["exceeded"]
    assert new["figures"]["oov_rate"] == pytest.approx(0.25, abs=0.05) and "oov_rate" in new["exceeded"]
    assert "| test histories |" in (out / "report.md").read_text()
