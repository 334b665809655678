"""A dataset without a validation split: the run trains its epochs, keeps the last epoch's weights as its
checkpoint, and `tfseqrec evaluate` reads that checkpoint like any other run's."""

import json

import numpy as np
import pytest

from tests.conftest import generated_dataset
from tfseqrec.cli import main
from tfseqrec.training import load_train_config, train

SMALL = ["model_config.embedding_dim=16", "model_config.max_len=20", "batch_size=64", "verbose=0"]


@pytest.fixture(scope="module")
def sessions_without_validation(tmp_path_factory):
    data = generated_dataset(
        tmp_path_factory.mktemp("novalid"),
        200,
        80,
        3,
        "--split",
        "session",
        "--session-gap",
        "1800",
        "--test-days",
        "3",
    )
    spec = json.loads((data / "feature_spec.json").read_text())
    assert "valid" not in spec["splits"] and "test" in spec["splits"]
    return data


def test_a_run_without_validation_keeps_its_last_weights_and_can_be_evaluated(sessions_without_validation, tmp_path):
    run = tmp_path / "run"
    summary = train(
        load_train_config(
            overrides=[
                f"data_dir={sessions_without_validation}",
                f"output_dir={run}",
                "model=sasrec",
                "epochs=2",
                *SMALL,
            ]
        )
    )
    assert summary["stopped_by"] == "epochs" and summary["epochs_run"] == 2
    assert main(["evaluate", str(run), "--split", "test", "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())["summary"]
    assert np.isclose(again["NDCG@10"], summary["test_metrics"]["NDCG@10"])
