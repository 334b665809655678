"""`tfseqrec tune` end to end on generated data: killed mid-trial, resumed, parallel, report and preset."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, generated_dataset
from tfseqrec.cli import main
from tfseqrec.training.config import load_train_config

SPACE = """
name: toy
data_dir: {data}
overrides: [model=sasrec, model_config.embedding_dim=16, model_config.max_len=20, epochs=3, batch_size=64]
trials: 2
startup_trials: 2
pruner: none
params:
  optimizer.learning_rate: {{low: 1.0e-3, high: 1.0e-2, log: true}}
  model_config.num_blocks: {{low: 1, high: 2}}
"""


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    data = generated_dataset(root, 200, 80, 2)
    path = root / "space.yaml"
    path.write_text(SPACE.format(data=data))
    return path


def wait_for(path, process, timeout=300):
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, f"tfseqrec tune ended (rc {process.returncode}) before {path} appeared"
        assert time.time() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.2)


def read_trials(study):
    with open(study / "trials.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_killed_search_resumes_then_grows_in_parallel(space, tmp_path):
    study = tmp_path / "study"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tfseqrec.cli", "tune", str(space), "--output", str(study), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:  # kill -9 once trial 0 has a complete epoch on disk
        wait_for(study / "trials" / "trial_0000" / "resume" / "state.json", process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (study / "trials" / "trial_0000" / "run.json").exists() or (
        json.loads((study / "trials" / "trial_0000" / "run.json").read_text())["status"] != "finished"
    )

    assert main(["tune", str(space), "--output", str(study), "--no-progress"]) == 0
    rows = read_trials(study)
    assert [r["state"] for r in rows] == ["INTERRUPTED", "COMPLETE", "COMPLETE"]  # trial 0 killed, trial 1 resumes it
    resumed = json.loads((study / "trials" / "trial_0000" / "run.json").read_text())
    assert resumed["status"] == "finished" and len(resumed["invocations"]) == 2 and resumed["epochs_run"] == 3
    assert rows[1]["optimizer.learning_rate"] == rows[0]["optimizer.learning_rate"] and rows[1]["resumes_trial"] == "0"
    assert "1 interrupted" in (study / "report.md").read_text()
    assert json.loads((study / "baseline" / "run.json").read_text())["status"] == "finished"

    assert main(["tune", str(space), "--output", str(study), "--trials", "4", "--jobs", "2", "--no-progress"]) == 0
    rows = read_trials(study)
    assert sum(r["state"] == "COMPLETE" for r in rows) >= 4
    assert not (study / "tune.lock").exists()

    summary = json.loads((study / "summary.json").read_text())
    best = max((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: float(r["value"]))
    assert summary["best"]["number"] == int(best["number"])
    assert summary["best"]["valid"] == pytest.approx(float(best["value"]))
    preset = load_train_config(str(study / "best_config.yaml"))
    assert preset.optimizer.learning_rate == pytest.approx(float(best["optimizer.learning_rate"]))
    assert preset.model_config["num_blocks"] == int(best["model_config.num_blocks"])
    report = (study / "report.md").read_text()
    assert "base config (preset)" in report and "Wilcoxon p" in report and "![history](history.png)" in report
    assert (study / "history.png").stat().st_size > 0


def test_report_only_needs_a_study(space, tmp_path, capsys):
    assert main(["tune", str(space), "--output", str(tmp_path / "none"), "--report-only"]) == 2
    assert "holds no study" in capsys.readouterr().err
