"""benchmarks/train_models.py: the accuracy table's rows, targets ("met") and paired rows, from finished runs."""
import json

import numpy as np
import pytest

from tests.peer_scripts import load_benchmark_script


@pytest.fixture()
def train_models():
    return load_benchmark_script("train_models")


def _finished_run(workdir, name, hr, ndcg_per_user, **extra):
    """A run directory as ``tfseqrec train`` leaves it: run.json and the test's per-user metrics."""
    run = workdir / "runs" / name
    (run / "test").mkdir(parents=True)
    ndcg_per_user = np.asarray(ndcg_per_user, dtype=np.float64)
    summary = {"status": "finished", "seconds_per_epoch": 50.0, "best_epoch": 3, "epochs_run": 5,
               "train_seconds": 600.0, "peak_memory_mib": 1500.0, "machine": {"cpus": 2},
               "test_metrics": {"HR@10": hr, "NDCG@10": float(ndcg_per_user.mean()), "users_per_second": 100.0},
               **extra}
    (run / "run.json").write_text(json.dumps(summary))
    ids = np.array([f"u{i}" for i in range(ndcg_per_user.size)])
    np.savez(run / "test" / "per_user.npz", sequence_ids=ids, **{"NDCG@10": ndcg_per_user})


def _row(table, name):
    return next(line for line in table.splitlines() if line.startswith(f"| {name} |"))


def test_targets_are_checked_against_each_experiments_bar(train_models, tmp_path):
    rng = np.random.default_rng(0)
    low = rng.uniform(0.0, 0.2, 400)
    _finished_run(tmp_path, "bert4rec_ml1m_random", 0.29, low + 0.1)       # above 0.284 / 0.154
    _finished_run(tmp_path, "bert4rec_ml1m_bucketed", 0.25, low)           # below both
    _finished_run(tmp_path, "sasrec_ml1m_bce", 0.25, low)                  # no bar: a gap to reproduce
    _finished_run(tmp_path, "cl4srec_beauty", 0.07, low + 0.05)            # SASRec not run: HR only
    table = train_models.report(tmp_path)

    assert _row(table, "bert4rec_ml1m_random").split(" | ")[5] == "yes"
    assert _row(table, "bert4rec_ml1m_bucketed").split(" | ")[5] == "NO"
    assert "n/a (reproduce the gap)" in _row(table, "sasrec_ml1m_bce")
    assert "HR only (sasrec_beauty_ce not run)" in _row(table, "cl4srec_beauty")
    assert _row(table, "gru4rec_ml1m").startswith("| gru4rec_ml1m | not run |")
    assert "| 50.0 | 3 / 5 | 10.0 min | 1500 | 100 |" in _row(table, "bert4rec_ml1m_random")
    paired = _row(table, "bert4rec_ml1m_random | bert4rec_ml1m_bucketed")
    assert "+0.1000 [+0.1000, +0.1000]" in paired and paired.endswith("| 400 |")
    assert 'machine: {"cpus": 2}' in table


def test_cl4srec_must_beat_sasrec_over_the_same_users(train_models, tmp_path):
    rng = np.random.default_rng(1)
    base = rng.uniform(0.0, 0.1, 500)
    _finished_run(tmp_path, "sasrec_beauty_ce", 0.09, base)
    _finished_run(tmp_path, "cl4srec_beauty", 0.08, base + rng.uniform(0.0, 0.02, 500))   # clearly above
    _finished_run(tmp_path, "cl4srec_beauty_cosine", 0.08, base + rng.normal(0.0005, 0.02, 500))  # noise
    table = train_models.report(tmp_path)
    assert _row(table, "cl4srec_beauty").split(" | ")[5] == "yes"
    assert "by the mean only (Wilcoxon p" in _row(table, "cl4srec_beauty_cosine")


def test_a_continuation_has_its_parents_target_and_reports_the_chain(train_models, tmp_path):
    assert train_models.EXPERIMENTS["gsasrec_ml1m_group_continued"].bar == (0.0, 0.17)
    assert train_models.EXPERIMENTS["gsasrec_ml1m_group_continued"].config == "gsasrec_ml1m_group.yaml"
    _finished_run(tmp_path, "gsasrec_ml1m_continued", 0.28, np.full(10, 0.16),
                  cumulative={"best_epoch": 84, "epochs_run": 98, "train_seconds": 167.3 * 60},
                  initialised_from={"epochs_before": 34, "train_seconds_before": 66.0 * 60},
                  train_seconds=101.3 * 60)
    row = _row(train_models.report(tmp_path), "gsasrec_ml1m_continued")
    assert "| NO |" in row and "84 / 98 (from epoch 34) | 167.3 min (66.0 + 101.3)" in row


def test_a_continuation_trains_its_parent_first_and_starts_from_it(train_models, tmp_path, monkeypatch):
    (tmp_path / "data" / "ml1m").mkdir(parents=True)
    (tmp_path / "data" / "ml1m" / "feature_spec.json").write_text("{}")
    calls = []

    def fake_cli(*args):
        calls.append(args)
        out = args[args.index("--output-dir") + 1]
        (tmp_path / "runs" / out.split("/")[-1]).mkdir(parents=True, exist_ok=True)
        (tmp_path / "runs" / out.split("/")[-1] / "run.json").write_text('{"status": "finished"}')

    monkeypatch.setattr(train_models, "_cli", fake_cli)
    train_models.run_experiment("bert4rec_ml1m_bucketed_continued", tmp_path, ["seed=1"])
    assert [call[call.index("--output-dir") + 1].split("/")[-1] for call in calls] == [
        "bert4rec_ml1m_bucketed", "bert4rec_ml1m_bucketed_continued"]
    assert "seed=1" in calls[0] and not any(a.startswith("init_from=") for a in calls[0])
    assert f"init_from={tmp_path / 'runs' / 'bert4rec_ml1m_bucketed'}" in calls[1]
    train_models.run_experiment("bert4rec_ml1m_bucketed_continued", tmp_path, [])
    assert len(calls) == 2  # finished runs are not retrained


def test_overrides_may_follow_only_and_unknown_names_are_refused(train_models, tmp_path, monkeypatch, capsys):
    trained = []
    monkeypatch.setattr(train_models, "run_experiment", lambda name, workdir, overrides: trained.append((name, overrides)))
    monkeypatch.setattr(train_models, "run_baseline", lambda *args: None)
    assert train_models.main(["--workdir", str(tmp_path), "--only", "bert4rec_ml1m_random", "time_budget_minutes=5"]) == 0
    assert trained == [("bert4rec_ml1m_random", ["time_budget_minutes=5"])]
    assert (tmp_path / "report.md").exists()
    with pytest.raises(SystemExit):
        train_models.main(["--workdir", str(tmp_path), "--only", "bert4rec_ml1m_randm"])
    assert "--only bert4rec_ml1m_randm: no such experiment" in capsys.readouterr().err
