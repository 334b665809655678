"""Resumable runs (``resume=true``): a run killed after some epochs continues from its last complete epoch with
the same weights, optimizer state and validation bookkeeping, and its run.json adds the invocations up."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import generated_dataset
from tfseqrec.cli import main
from tfseqrec.training import load_train_config, train
from tfseqrec.training.resume import STATE_FILE, truncate_history_csv

SMALL = ["model_config.embedding_dim=16", "model_config.max_len=20", "batch_size=64", "verbose=0"]


class Killed(Exception):
    """Stands for the job being killed."""


class KillAfterEpoch(tf.keras.callbacks.Callback):
    """Raises at the end of epoch ``epochs`` (after the resume checkpoint was written), keeping what the
    model held then."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs, self.weights, self.iterations = epochs, None, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            self.weights = self.model.get_weights()
            self.iterations = int(self.model.optimizer.iterations.numpy())
            raise Killed()


class StartingPoint(tf.keras.callbacks.Callback):
    """Keeps the weights and optimizer step a (resumed) ``model.fit`` starts from."""

    def on_train_begin(self, logs=None):
        self.weights = self.model.get_weights()
        self.iterations = int(self.model.optimizer.iterations.numpy())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generated_dataset(tmp_path_factory.mktemp("resume"), 200, 80, 3)


def _config(dataset, run, *overrides, epochs=4):
    return load_train_config(
        overrides=[
            f"data_dir={dataset}",
            f"output_dir={run}",
            "model=sasrec",
            f"epochs={epochs}",
            "patience=10",
            "optimizer.decay=linear",
            *SMALL,
            *overrides,
        ]
    )


def test_a_killed_run_resumes_where_it_stopped_and_adds_up_its_invocations(dataset, tmp_path):
    run = tmp_path / "run"
    kill = KillAfterEpoch(2)
    with pytest.raises(Killed):
        train(_config(dataset, run), callbacks=[kill])
    state = json.loads((run / STATE_FILE).read_text())
    assert state["epoch"] == 2 and [e["epoch"] for e in state["validation"]["history"]] == [1, 2]

    start = StartingPoint()
    summary = train(_config(dataset, run, "resume=true"), callbacks=[start])
    # the same weights and Adam step (so the linear decay goes on from there), not a fresh start
    assert start.iterations == kill.iterations > 0
    for restored, saved in zip(start.weights, kill.weights):
        np.testing.assert_array_equal(restored, saved)
    assert summary["epochs_run"] == 4
    assert [e["epoch"] for e in summary["validation_history"]] == [1, 2, 3, 4]
    assert [e["initial_epoch"] for e in summary["invocations"]] == [0, 2]
    assert summary["train_seconds"] == pytest.approx(sum(e["train_seconds"] for e in summary["invocations"]))
    assert summary["best_valid_NDCG@10"] == max(e["NDCG@10"] for e in summary["validation_history"])
    epochs_logged = [line.split(",")[0] for line in (run / "history.csv").read_text().splitlines()[1:]]
    assert epochs_logged == ["0", "1", "2", "3"]
    assert not (run / "resume").exists()  # removed once the run finished


def test_resuming_a_finished_run_does_not_train_it_again(dataset, tmp_path):
    run = tmp_path / "run"
    first = train(_config(dataset, run, epochs=1))
    again = train(_config(dataset, run, "resume=true", epochs=1))
    assert again == json.loads(json.dumps(first, default=str))
    assert "invocations" not in again


def test_resume_refuses_another_config_and_names_the_keys(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    with pytest.raises(Killed):
        train(_config(dataset, run), callbacks=[KillAfterEpoch(1)])
    # the budget and verbosity may change between invocations; the batch size may not
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(dataset),
                "--model",
                "sasrec",
                "--output-dir",
                str(run),
                "--epochs",
                "4",
                "--resume",
                "patience=10",
                "optimizer.decay=linear",
                *SMALL,
                "batch_size=32",
                "time_budget_minutes=5",
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert "batch_size: saved 64, given 32" in error and "time_budget_minutes" not in error


def test_a_state_saved_before_a_config_key_existed_compares_it_as_its_default(tmp_path):
    from tfseqrec.training.resume import read_state

    config = load_train_config(overrides=[f"data_dir={tmp_path}", "model=sasrec"]).to_dict()
    (tmp_path / "resume").mkdir()
    saved = {key: value for key, value in config.items() if key != "plugins"}
    (tmp_path / STATE_FILE).write_text(json.dumps({"config": saved, "epoch": 1}, default=str))
    assert read_state(str(tmp_path), config)["epoch"] == 1
    with pytest.raises(ValueError, match=r"plugins: saved \[\], given \['my_models'\]"):
        read_state(str(tmp_path), {**config, "plugins": ["my_models"]})


def test_a_run_without_resume_starts_over_and_drops_the_old_state(dataset, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Killed):
        train(_config(dataset, run), callbacks=[KillAfterEpoch(1)])
    assert (run / STATE_FILE).exists()
    start = StartingPoint()
    summary = train(_config(dataset, run, epochs=1), callbacks=[start])
    assert start.iterations == 0 and summary["epochs_run"] == 1 and "invocations" not in summary
    assert not (run / "resume").exists()


def test_history_rows_of_an_epoch_not_saved_are_dropped(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,2.0\n1,1.5\n2,1.2\n")
    truncate_history_csv(str(path), 2)
    assert path.read_text() == "epoch,loss\n0,2.0\n1,1.5\n"
    truncate_history_csv(os.fspath(tmp_path / "missing.csv"), 2)  # nothing to do
