"""End to end on generated data: preprocess -> train (model.fit) -> evaluate, and the baselines."""

import json

import pytest

from tests.conftest import generated_dataset
from tfseqrec.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generated_dataset(tmp_path_factory.mktemp("synthetic"), 300, 120, 1)


def test_train_then_evaluate_reproduces_test_metrics(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--data-dir",
            str(dataset),
            "--model",
            "sasrec",
            "--output-dir",
            str(run),
            "--epochs",
            "3",
            "model_config.embedding_dim=16",
            "model_config.max_len=20",
            "verbose=0",
            "batch_size=64",
        ]
    )
    assert code == 0
    summary = json.loads((run / "run.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_run"] == 3 and 1 <= summary["best_epoch"] <= 3
    assert summary["stopped_by"] == "epochs"
    assert summary["other_cores_during_training"] >= 0.0  # Linux: measured from /proc/stat
    assert summary["protocol"]["filter_seen"] is True and summary["protocol"]["split"] == "test"
    assert summary["test_metrics"]["num_users"] == 300
    assert (run / "test" / "per_user.npz").exists() and (run / "history.csv").exists()
    assert "sasrec: test HR@10" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())["summary"]
    for key in ("HR@10", "NDCG@10", "MRR"):
        assert again[key] == pytest.approx(summary["test_metrics"][key], abs=1e-9)


def test_baselines_and_sequence_signal(dataset, tmp_path):
    results = {}
    for baseline in ("most_popular", "transitions"):
        out = tmp_path / baseline
        assert main(["evaluate", "--data-dir", str(dataset), "--baseline", baseline, "--output-dir", str(out)]) == 0
        results[baseline] = json.loads((out / "metrics.json").read_text())["summary"]
    # The generator has strong first-order structure: transitions must beat popularity clearly.
    assert results["transitions"]["HR@10"] > 1.5 * results["most_popular"]["HR@10"]


def test_gru4rec_session_parallel_training(dataset, tmp_path):
    run = tmp_path / "gru"
    code = main(
        [
            "train",
            "--data-dir",
            str(dataset),
            "--model",
            "gru4rec",
            "--output-dir",
            str(run),
            "--epochs",
            "4",
            "batching=session_parallel",
            "batch_size=32",
            "model_config.embedding_dim=16",
            "model_config.loss.name=bpr_max",
            "model_config.loss.sampler=popularity",
            "model_config.loss.num_negatives=32",
            "verbose=0",
        ]
    )
    assert code == 0
    summary = json.loads((run / "run.json").read_text())
    # All 4 epochs run although passes of session-parallel batches differ in length (no "input ran out").
    assert summary["config"]["batching"] == "session_parallel" and summary["epochs_run"] == 4
    assert 0.0 <= summary["test_metrics"]["HR@10"] <= 1.0 and summary["test_metrics"]["num_users"] == 300


@pytest.fixture(scope="module")
def session_dataset(tmp_path_factory):
    """The generator's users cut into sessions at 1-hour gaps; the last 3 days are test, 2 before validation."""
    return generated_dataset(
        tmp_path_factory.mktemp("sessions"),
        150,
        80,
        1,
        "--session-gap",
        "3600",
        "--split",
        "session",
        "--test-days",
        "3",
        "--valid-days",
        "2",
        "--test-vocabulary",
        "train_valid",
    )


def test_session_split_validates_and_tests_every_next_item(session_dataset, tmp_path):
    run = tmp_path / "srgnn"
    code = main(
        [
            "train",
            "--data-dir",
            str(session_dataset),
            "--model",
            "srgnn",
            "--output-dir",
            str(run),
            "--epochs",
            "2",
            "model_config.embedding_dim=16",
            "model_config.max_len=10",
            "batch_size=64",
            "filter_seen=false",
            "validation_metric=MRR@20",
            "verbose=0",
        ]
    )
    assert code == 0
    summary = json.loads((run / "run.json").read_text())
    test = summary["test_metrics"]
    assert summary["protocol"]["targets"] == "session: every next item"
    assert test["num_events"] > test["num_sessions"] > 0 and "MRR@20" in test
    assert len(summary["validation_history"]) == 2 and "num_events" in summary["validation_history"][0]
    assert main(["evaluate", str(run), "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["protocol"]["targets"] == "session: every next item"
    for key in ("HR@20", "MRR@20", "num_events"):
        assert again["summary"][key] == pytest.approx(test[key], abs=1e-9)


def test_hrnn_trains_with_sessions_from_timestamps(dataset, tmp_path):
    run = tmp_path / "hrnn"
    code = main(
        [
            "train",
            "--data-dir",
            str(dataset),
            "--model",
            "hrnn",
            "--output-dir",
            str(run),
            "--epochs",
            "1",
            "model_config.embedding_dim=8",
            "model_config.max_len=10",
            "model_config.session_gap_seconds=3600",
            "model_config.predict_session_starts=false",
            "batch_size=64",
            "verbose=0",
        ]
    )
    assert code == 0
    summary = json.loads((run / "run.json").read_text())
    assert summary["model_config"]["session_gap_seconds"] == 3600 and summary["test_metrics"]["num_users"] == 300


def _train_small_sasrec(dataset, run, epochs: int, *overrides: str) -> dict:
    """A d=16 SASRec trained by the CLI; returns its run.json."""
    code = main(
        [
            "train",
            "--data-dir",
            str(dataset),
            "--model",
            "sasrec",
            "--output-dir",
            str(run),
            "--epochs",
            str(epochs),
            "model_config.embedding_dim=16",
            "verbose=0",
            *overrides,
        ]
    )
    assert code == 0
    return json.loads((run / "run.json").read_text())


def test_length_bucketed_training_runs_and_records_the_option(dataset, tmp_path):
    summary = _train_small_sasrec(
        dataset, tmp_path / "bucketed", 2, "model_config.max_len=50", "batch_size=32", "bucket_pool_batches=4"
    )
    assert summary["config"]["bucket_pool_batches"] == 4 and summary["epochs_run"] == 2
    assert summary["test_metrics"]["num_users"] == 300


def test_all_windows_training_uses_every_item_as_a_target(dataset, tmp_path):
    from tfseqrec.data import load_feature_spec
    from tfseqrec.training.config import load_train_config
    from tfseqrec.training.trainer import training_rows

    spec = load_feature_spec(str(dataset))
    latest = load_train_config(None, [f"data_dir={dataset}"])
    every = load_train_config(None, [f"data_dir={dataset}", "train_windows=all"])
    assert training_rows(spec, latest, 5) == spec.splits["train"].num_records
    assert training_rows(spec, every, 5) > 2 * spec.splits["train"].num_records  # histories of ~10-40 items
    summary = _train_small_sasrec(
        dataset,
        tmp_path / "windows",
        3,
        "model_config.max_len=5",
        "batch_size=64",
        "train_windows=all",
        "bucket_pool_batches=2",
    )
    assert summary["config"]["train_windows"] == "all" and summary["status"] == "finished"
    assert summary["epochs_run"] == 3  # every epoch ran: the windows' batches per pass do not vary


def test_random_prefix_training_keeps_one_row_per_record(dataset, tmp_path):
    from tfseqrec.data import load_feature_spec
    from tfseqrec.training.config import load_train_config
    from tfseqrec.training.trainer import training_rows

    spec = load_feature_spec(str(dataset))
    random = load_train_config(None, [f"data_dir={dataset}", "train_windows=random"])
    assert training_rows(spec, random, 5) == spec.splits["train"].num_records
    summary = _train_small_sasrec(
        dataset,
        tmp_path / "random",
        3,
        "model_config.max_len=5",
        "batch_size=64",
        "train_windows=random",
        "bucket_pool_batches=2",
    )
    assert summary["config"]["train_windows"] == "random" and summary["epochs_run"] == 3
    with pytest.raises(ValueError, match="train_windows='some'.*latest, all, random, prefixes"):
        load_train_config(None, [f"data_dir={dataset}", "train_windows=some"])


def test_prefix_training_counts_one_row_per_prefix(dataset, tmp_path):
    from tfseqrec.data import load_feature_spec
    from tfseqrec.data.loader import WINDOW_MODES, SequenceBatchConfig, make_dataset
    from tfseqrec.training.config import TRAIN_WINDOW_MODES, load_train_config
    from tfseqrec.training.trainer import training_rows

    assert TRAIN_WINDOW_MODES == WINDOW_MODES
    spec = load_feature_spec(str(dataset))
    prefixes = load_train_config(None, [f"data_dir={dataset}", "train_windows=prefixes"])
    lengths = [
        int(n)
        for b in make_dataset(spec, "train", SequenceBatchConfig(batch_size=512, padding="ragged"))
        for n in b["lengths"].numpy()
    ]
    assert training_rows(spec, prefixes, 5) == sum(max(n - 1, 1) for n in lengths)
    summary = _train_small_sasrec(
        dataset,
        tmp_path / "prefixes",
        2,
        "model_config.max_len=5",
        "batch_size=256",
        "train_windows=prefixes",
        "steps_per_epoch=4",
    )
    assert summary["config"]["train_windows"] == "prefixes" and summary["epochs_run"] == 2


def test_history_csv_has_the_validation_metrics_when_validating_every_other_epoch(dataset, tmp_path):
    import csv

    from tfseqrec.training.callbacks import LOGGED_METRICS, validation_log_keys

    summary = _train_small_sasrec(
        dataset, tmp_path / "every2", 2, "model_config.max_len=20", "batch_size=64", "validate_every=2"
    )
    with open(tmp_path / "every2" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    validated = summary["validation_history"][0]
    logged = sorted(f"val_{key}" for key in validated if key.split("@")[0] in LOGGED_METRICS)
    assert [key for key in rows[0] if key.startswith("val_")] == logged == validation_log_keys(summary["config"]["ks"])
    assert rows[0]["val_NDCG@10"] == "NA"  # epoch 1 was not validated
    assert float(rows[1]["val_NDCG@10"]) == pytest.approx(validated["NDCG@10"])
