"""A finished run stands for the run asked for only with the same training config: keys an older run lacks count
as their defaults, a time budget that bound neither run does not count, anything else is named."""

import json

import pytest

from tfseqrec.training.config import load_train_config
from tfseqrec.training.run_reuse import config_differences, reusable_run


def _run(tmp_path, status="finished", **values):
    cfg = load_train_config(None, ["epochs=10", "model_config.embedding_dim=16"], data_dir="d", model="sasrec")
    run = {"status": status, "config": {**cfg.to_dict(), **values}, "stopped_by": "epochs", "train_seconds": 90.0}
    run = json.loads(json.dumps(run, default=str))
    (tmp_path / "run.json").write_text(json.dumps(run))
    return run


def _wanted(*overrides):
    base = ["epochs=10", "model_config.embedding_dim=16"]
    return load_train_config(None, base + list(overrides), data_dir="d", model="sasrec")


def test_the_same_config_is_reused_and_other_values_are_named(tmp_path):
    run = _run(tmp_path)
    assert reusable_run(str(tmp_path), _wanted()) == run
    assert reusable_run(str(tmp_path), _wanted("output_dir=elsewhere", "verbose=1")) == run  # not the config
    changed = _wanted("epochs=20", "model_config.embedding_dim=8", "optimizer.learning_rate=0.1")
    assert config_differences(run, changed) == ["epochs", "model_config.embedding_dim", "optimizer.learning_rate"]
    with pytest.raises(ValueError, match=r"trained with other values of epochs than asked now: remove it"):
        reusable_run(str(tmp_path), _wanted("epochs=20"))


def test_missing_or_unfinished_runs_are_trained(tmp_path):
    assert reusable_run(str(tmp_path / "none"), _wanted()) is None
    _run(tmp_path, status="running")
    assert reusable_run(str(tmp_path), _wanted("epochs=99")) is None


def test_keys_an_older_run_lacks_count_as_their_defaults(tmp_path):
    run = _run(tmp_path)
    del run["config"]["pruning"]  # a run from before the field existed
    assert config_differences(run, _wanted()) == []
    assert config_differences(run, _wanted("pruning.sparsity=0.5")) == ["pruning.sparsity"]


def test_a_time_budget_counts_only_where_it_bound(tmp_path):
    run = _run(tmp_path, time_budget_minutes=10)  # stopped by its epochs after 1.5 minutes
    assert config_differences(run, _wanted("time_budget_minutes=30")) == []
    assert config_differences(run, _wanted("time_budget_minutes=1")) == ["time_budget_minutes"]  # would bind now
    assert config_differences({**run, "stopped_by": "time_budget"}, _wanted("time_budget_minutes=30")) == [
        "time_budget_minutes"
    ]


def test_a_copy_of_the_data_directory_is_the_same_data(tmp_path):
    original, copy, other = (tmp_path / name for name in ("original", "copy", "other"))
    for folder, records in ((original, b"rows"), (copy, b"rows"), (other, b"other rows")):
        folder.mkdir()
        (folder / "train-00000-of-00001.tfrecord").write_bytes(records)
        (folder / "vocab.tsv").write_text("a\t3\n")
        (folder / "stats.json").write_text(json.dumps({"output_dir": str(folder)}))  # differs between copies
    run = {"status": "finished", "config": _wanted().to_dict() | {"data_dir": str(original)}}
    run = json.loads(json.dumps(run, default=str))
    moved = load_train_config(None, ["epochs=10", "model_config.embedding_dim=16"], data_dir=str(copy), model="sasrec")
    assert config_differences(run, moved) == []
    elsewhere = load_train_config(
        None, ["epochs=10", "model_config.embedding_dim=16"], data_dir=str(other), model="sasrec"
    )
    assert config_differences(run, elsewhere) == ["data_dir"]


def test_an_epoch_limit_counts_only_where_it_bound(tmp_path):
    run = {**_run(tmp_path), "stopped_by": "early_stopping", "epochs_run": 6}
    assert config_differences(run, _wanted("epochs=200")) == []  # it stopped at 6 under 10 and would under 200
    assert config_differences(run, _wanted("epochs=5")) == ["epochs"]
    assert config_differences({**run, "stopped_by": "epochs", "epochs_run": 10}, _wanted("epochs=200")) == ["epochs"]
