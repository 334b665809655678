"""`benchmarks/serving.py --quick` runs end to end (indexes, a served 20,000-item export, load with version swaps)
and writes its report; the timing targets are not checked here, only that the figures exist and parse."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_serving_benchmark_writes_its_report(tmp_path):
    out = tmp_path / "serving"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "serving.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=880,
        env=env,
        cwd=str(REPO),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert (out / "server.log").exists()
    m = re.search(r"\| ScaNN, exported default \| ([0-9.]+) \|", report)
    assert m and 0.0 <= float(m.group(1)) <= 1.0
    assert results["index"]["rows"]["scann_export_default"]["recall@10"] == pytest.approx(float(m.group(1)), abs=1e-4)
    assert results["index"]["items"] == 20_000 and results["index"]["curve"]
    e2e = results["e2e"]
    assert {r["clients"] for r in e2e["concurrency"]} == {1, 4, 16}
    assert e2e["load"]["checks"] == {
        "no_failed_valid_requests": True,
        "corrupt_v3_never_served": True,
        "v3_reported_with_error": True,
        "v2_live_at_the_end": True,
    }
    assert "### (c) Load and faults" in report and "| 3 | END |" in report
    assert results["machine"]["cores"] >= 1 and results["machine"]["tensorflow"]
