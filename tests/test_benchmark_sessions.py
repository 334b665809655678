"""benchmarks/train_sessions.py without training: resuming, retraining on other arguments, the report."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_sessions.py"


@pytest.fixture()
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("train_sessions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "train_sessions", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    calls = []

    def fake_cli(*args):
        """Stands in for `python -m tfseqrec.cli`: writes what preprocess / train / evaluate would."""
        calls.append(args)
        out = Path(args[args.index("--output-dir") + 1])
        out.mkdir(parents=True, exist_ok=True)
        if args[0] == "preprocess":
            (out / "feature_spec.json").write_text("{}")
        elif args[0] == "train":
            seed = int(next(a for a in args if a.startswith("seed=")).split("=")[1])
            quality = {"srgnn": 0.5, "sasrec": 0.3}[Path(args[args.index("--config") + 1]).name.split("_")[0]]
            rng = np.random.default_rng(seed)
            recall = (rng.random(200) < quality + 0.01 * seed).astype(float)  # per-event Recall@20
            mrr = recall / 2
            (out / "test").mkdir()
            np.savez(out / "test" / "per_user.npz", sequence_ids=np.repeat(np.arange(100), 2).astype(str),
                     position=np.tile([1, 2], 100), **{"Recall@20": recall, "MRR@20": mrr})
            (out / "run.json").write_text(json.dumps({
                "status": "finished", "test_split": "test", "best_epoch": 2, "epochs_run": 3,
                "stopped_by": "epochs", "seconds_per_epoch": 1.5, "peak_memory_mib": 900.0,
                "machine": {"cpus": 2},
                "test_metrics": {"Recall@20": recall.mean(), "MRR@20": mrr.mean(), "num_events": 200,
                                 "num_sessions": 100}}))
        else:  # evaluate --baseline
            (out / "metrics.json").write_text(json.dumps({"summary": {"Recall@20": 0.2, "MRR@20": 0.1}}))

    monkeypatch.setattr(module, "_cli", fake_cli)
    return module, calls


def test_resumes_and_retrains_on_other_arguments(bench, tmp_path):
    module, calls = bench
    for seed in (1, 2):
        module.run_experiment("srgnn_diginetica", seed, tmp_path, ["epochs=1"])
    trained = [c for c in calls if c[0] == "train"]
    assert len(trained) == 2 and "batch_size=32" in trained[0] and "seed=1" in trained[0]
    assert sum(c[0] == "preprocess" for c in calls) == 1
    module.run_experiment("srgnn_diginetica", 1, tmp_path, ["epochs=1"])       # finished, same arguments
    assert len([c for c in calls if c[0] == "train"]) == 2
    module.run_experiment("srgnn_diginetica", 1, tmp_path, [])                 # other arguments: retrained
    assert len([c for c in calls if c[0] == "train"]) == 3
    assert module._extra_args("srgnn_diginetica", module.run_dir(tmp_path, "srgnn_diginetica", 2)) == ["epochs=1"]


def test_report_means_winner_and_paired_test(bench, tmp_path):
    module, _ = bench
    for name in ("srgnn_diginetica", "sasrec_diginetica"):
        for seed in (1, 2, 3):
            module.run_experiment(name, seed, tmp_path, [])
    for baseline in module.BASELINES:
        module.run_baseline("diginetica", baseline, tmp_path)
    text = module.report(tmp_path, ["srgnn_diginetica", "gru4rec_diginetica", "sasrec_diginetica"], [1, 2, 3])
    assert "| gru4rec_diginetica | not run |" in text
    assert "| srgnn_diginetica | 3 | 0." in text and " ± " in text and "200 events / 100 sessions" in text
    assert "| transitions (baseline) | | 0.2000 | 0.1000 |" in text
    assert "**Winner on diginetica: srgnn_diginetica** by Recall@20" in text
    assert "paired over 200 test rows (per-row MRR@20, averaged over seeds)" in text
    assert "95% bootstrap CI [" in text and "Wilcoxon signed-rank p = " in text and "paired t-test p = " in text
    assert "ml1m" not in text.split("machine:")[0]
