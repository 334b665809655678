"""Replay (``replay: {data_dirs, fraction}``): fine-tuning on a new slice draws a share of its batches from the
earlier slices, whose vocabularies must be prefixes of the new one."""

import dataclasses
import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import FAST_BEAM
from tests.training.test_grown_tables import TINY, _slices
from tfseqrec.cli import main
from tfseqrec.data.spec import load_feature_spec
from tfseqrec.training.config import ReplayConfig, load_train_config
from tfseqrec.training.replay import with_replay


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    first, second = _slices(root)
    d1, d2, d3 = root / "d1", root / "d2", root / "d3"
    assert main(["preprocess", "--input", str(first), "--output-dir", str(d1), *FAST_BEAM]) == 0
    assert main(["preprocess", "--input", str(second), "--output-dir", str(d2), "--base-vocabulary", str(d1),
                 *FAST_BEAM]) == 0  # fmt: skip
    assert main(["preprocess", "--input", str(second), "--output-dir", str(d3), *FAST_BEAM]) == 0  # no base
    return d1, d2, d3


def test_a_share_of_the_batches_comes_from_the_earlier_slice(chain):
    d1, d2, _ = chain
    cfg = load_train_config(
        None, ["batch_size=16"], data_dir=str(d2), replay={"data_dirs": [str(d1)], "fraction": 0.25}
    )
    new = tf.data.Dataset.from_tensors({"item_ids": tf.zeros([16, 11], tf.int64)})  # a marker: all padding
    mixed, steps = with_replay(new, 12, load_feature_spec(str(d2)), cfg, 10, ("item_ids",))
    assert steps == 16  # ceil(12 / 0.75): the new slice is still covered about once per epoch
    old = [bool(np.any(b["item_ids"].numpy())) for b in mixed.take(800)]
    assert 0.19 < np.mean(old) < 0.31  # ~ fraction
    width = {b["item_ids"].shape[1] for b, o in zip(mixed.take(40), old) if o}
    assert width == {11}  # the earlier slice's batches are cut to max_len + 1 like this run's


def test_a_bounded_memory_replays_the_same_few_sequences(chain):
    d1, d2, _ = chain
    replay = {"data_dirs": [str(d1)], "fraction": 0.5, "max_sequences": 32}
    cfg = load_train_config(None, ["batch_size=16"], data_dir=str(d2), replay=replay)
    new = tf.data.Dataset.from_tensors({"item_ids": tf.zeros([16, 11], tf.int64)})
    mixed, _ = with_replay(new, 4, load_feature_spec(str(d2)), cfg, 10, ("item_ids",))
    replayed = {b["item_ids"].numpy().tobytes() for b in mixed.take(200) if np.any(b["item_ids"].numpy())}
    assert len(replayed) == 2  # 32 sequences = two batches of 16, drawn again and again


def test_a_vocabulary_that_is_not_a_prefix_is_refused(chain):
    d1, _, d3 = chain
    cfg = load_train_config(None, [], data_dir=str(d3), replay={"data_dirs": [str(d1)]})
    data = tf.data.Dataset.from_tensors({"item_ids": tf.zeros([2, 11], tf.int64)})
    with pytest.raises(ValueError, match=r"not a prefix of .*--base-vocabulary"):
        with_replay(data, 1, load_feature_spec(str(d3)), cfg, 10, ("item_ids",))
    with pytest.raises(ValueError, match=r"use batching=padded"):
        with_replay(data, 1, load_feature_spec(str(d3)), dataclasses.replace(cfg, batching="session_parallel"),
                    10, ("item_ids",))  # fmt: skip


def test_config_values_are_checked():
    with pytest.raises(ValueError, match=r"replay.fraction=1.0 must be in \(0, 1\)"):
        ReplayConfig(data_dirs=("a",), fraction=1.0)
    with pytest.raises(ValueError, match=r"replay.max_sequences=0"):
        ReplayConfig(data_dirs=("a",), max_sequences=0)
    with pytest.raises(ValueError, match=r"replay.data_dirs=\(''"):
        ReplayConfig(data_dirs=("",))
    assert not ReplayConfig().enabled


def test_cli_fine_tunes_a_warm_started_run_with_replay(chain, tmp_path):
    d1, d2, _ = chain
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    assert main(["train", "--data-dir", str(d1), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run1),
                 *TINY]) == 0  # fmt: skip
    assert main(["train", "--data-dir", str(d2), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run2),
                 f"init_from={run1}", f"replay.data_dirs=[{d1}]", "replay.fraction=0.5", *TINY]) == 0  # fmt: skip
    run = json.loads((run2 / "run.json").read_text())
    assert run["config"]["replay"] == {
        "data_dirs": [str(d1)],
        "fraction": 0.5,
        "max_sequences": None,
        "selection": "random",
    }
    assert run["initialised_from"]["grown_item_tables"]["to_ids"] == load_feature_spec(str(d2)).vocabulary.size
