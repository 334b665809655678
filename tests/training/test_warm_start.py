"""Warm starts (``init_from``): a run continues from an earlier run's best weights, and says so."""

import json

import pytest

from tests.conftest import generated_dataset
from tfseqrec.cli import main

SMALL = ["model_config.embedding_dim=16", "model_config.max_len=20", "batch_size=64", "verbose=0"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generated_dataset(tmp_path_factory.mktemp("warm"), 200, 80, 3)


@pytest.fixture(scope="module")
def first_run(dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("first") / "run"
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
                "2",
                *SMALL,
            ]
        )
        == 0
    )
    return run


def _train(dataset, run, *overrides, model="sasrec", epochs=1):
    return main(
        [
            "train",
            "--data-dir",
            str(dataset),
            "--model",
            model,
            "--output-dir",
            str(run),
            "--epochs",
            str(epochs),
            *SMALL,
            *overrides,
        ]
    )


def test_continued_run_starts_from_the_best_weights_and_adds_up_the_cost(dataset, first_run, tmp_path):
    first = json.loads((first_run / "run.json").read_text())
    assert _train(dataset, tmp_path / "next", f"init_from={first_run}", "model_config.dropout=0.3", epochs=2) == 0
    run = json.loads((tmp_path / "next" / "run.json").read_text())
    start = run["initialised_from"]
    # the loaded weights validate exactly as the first run's best epoch did: they are those weights
    assert start["valid_NDCG@10"] == pytest.approx(first["best_valid_NDCG@10"], abs=1e-9)
    assert run["validation_history"][0]["epoch"] == 0
    assert run["best_valid_NDCG@10"] >= first["best_valid_NDCG@10"]  # never ends below where it started
    assert start["model_config_changes"] == {"dropout": {"was": first["model_config"]["dropout"], "now": 0.3}}
    assert start["epochs_before"] == first["best_epoch"]
    assert run["cumulative"] == {
        "best_epoch": first["best_epoch"] + run["best_epoch"],
        "epochs_run": first["best_epoch"] + 2,
        "train_seconds": pytest.approx(first["train_seconds"] + run["train_seconds"]),
    }


def test_a_chain_of_warm_starts_counts_from_the_first_run(dataset, first_run, tmp_path):
    assert _train(dataset, tmp_path / "second", f"init_from={first_run}") == 0
    assert _train(dataset, tmp_path / "third", f"init_from={tmp_path / 'second'}") == 0
    first, second, third = (
        json.loads((d / "run.json").read_text()) for d in (first_run, tmp_path / "second", tmp_path / "third")
    )
    assert third["initialised_from"]["train_seconds_before"] == pytest.approx(second["cumulative"]["train_seconds"])
    assert third["cumulative"]["train_seconds"] == pytest.approx(
        first["train_seconds"] + second["train_seconds"] + third["train_seconds"]
    )


def test_weights_that_do_not_fit_are_refused_with_the_reason(dataset, first_run, tmp_path, capsys):
    cases = [  # (expected reason, output dir, init_from, extra arguments)
        ("does not fit this model", tmp_path / "wider", first_run, ["model_config.embedding_dim=32"]),
        ("same architecture", tmp_path / "gru", first_run, ["--model", "gru4rec"]),
        ("no run.json", tmp_path / "none", tmp_path / "missing", []),
        ("output_dir", first_run, first_run, []),
    ]
    for reason, output, source, extra in cases:
        capsys.readouterr()
        assert (
            main(
                [
                    "train",
                    "--data-dir",
                    str(dataset),
                    "--model",
                    "sasrec",
                    "--output-dir",
                    str(output),
                    "--epochs",
                    "1",
                    *SMALL,
                    f"init_from={source}",
                    *extra,
                ]
            )
            == 2
        ), reason
        assert reason in capsys.readouterr().err


def test_the_optimizer_starts_fresh_not_at_the_earlier_runs_step(dataset, first_run):
    import numpy as np
    import tensorflow as tf

    from tfseqrec.models import build_model
    from tfseqrec.training.warm_start import reset_optimizer, warm_start

    first = json.loads((first_run / "run.json").read_text())

    def warm_model():
        model = build_model("sasrec", first["model_config"], first["num_items"])
        warm_start(model, str(first_run))
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
        return model

    # the checkpoint holds the first run's optimizer: created, this run's takes its step counter over
    taken_over = warm_model()
    taken_over.optimizer.build(taken_over.trainable_variables)
    assert int(taken_over.optimizer.iterations.numpy()) > 0

    fresh = warm_model()
    reset_optimizer(fresh)
    assert int(fresh.optimizer.iterations.numpy()) == 0
    assert all(not np.any(v.numpy()) for v in fresh.optimizer.variables)
    assert float(fresh.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)


def test_a_continuation_with_a_decaying_rate_trains(dataset, first_run, tmp_path):
    # linear decay sized for this run: had the first run's step counter been restored, the rate would be 0
    assert (
        _train(
            dataset,
            tmp_path / "decay",
            f"init_from={first_run}",
            "optimizer.decay=linear",
            "optimizer.learning_rate=0.05",
            epochs=2,
        )
        == 0
    )
    run = json.loads((tmp_path / "decay" / "run.json").read_text())
    scores = [entry["NDCG@10"] for entry in run["validation_history"]]
    assert len(set(scores)) > 1, scores
