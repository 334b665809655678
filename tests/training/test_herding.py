"""ADER's exemplars (``replay: {selection: herding, max_sequences: M}``): the per-item quota and the herding order
by hand, a memory chosen from an earlier slice by a trained model, the checks, and an end-to-end CLI run."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.training.test_grown_tables import TINY
from tests.training.test_replay import chain  # noqa: F401  (fixture)
from tfseqrec.cli import main
from tfseqrec.data.spec import load_feature_spec
from tfseqrec.training.config import ReplayConfig, load_train_config
from tfseqrec.training.herding import allocate, herd, herding_selection
from tfseqrec.training.replay import with_replay
from tfseqrec.training import trainer as trainer_module
from tfseqrec.training.trainer import load_trained_model


def test_each_item_gets_a_share_of_the_memory_proportional_to_its_count():
    np.testing.assert_array_equal(allocate([5, 3, 2], 5), [3, 1, 1])  # 2.5 / 1.5 / 1.0: the tie to the commoner
    np.testing.assert_array_equal(allocate([6, 3, 1], 5), [3, 2, 0])  # 3.0 / 1.5 / 0.5
    np.testing.assert_array_equal(allocate([2, 1], 10), [2, 1])  # a memory larger than the data keeps it all
    np.testing.assert_array_equal(allocate([4, 4], 0), [0, 0])
    assert allocate(np.arange(1, 40), 123).sum() == 123


def test_herding_keeps_the_running_mean_closest_to_the_mean():
    points = np.array([[0.0], [1.0], [2.0], [10.0]])  # mean 3.25
    # first 2 (nearest the mean); then (2 + x) / 2 nearest 3.25: 1 -> 1.5, 0 -> 1.0, 10 -> 6.0: picks 1
    np.testing.assert_array_equal(herd(points, 2), [2, 1])
    np.testing.assert_array_equal(np.sort(herd(points, 9)), [0, 1, 2, 3])  # never more than there are


def test_herding_selection_fills_each_items_quota_from_its_own_rows():
    rng = np.random.default_rng(0)
    labels = np.array([7] * 6 + [3] * 3 + [9] * 1)
    features = rng.normal(size=(10, 4))
    keep = herding_selection(features, labels, 5)
    assert list(keep) == sorted(keep) and len(set(keep)) == 5
    assert sorted(labels[keep].tolist()) == [3, 3, 7, 7, 7]  # quotas 3.0 / 1.5 / 0.5 -> 3 / 2 / 0
    scaled = features * rng.uniform(1, 5, size=(10, 1))  # herding compares directions (L2-normalised rows)
    np.testing.assert_array_equal(herding_selection(scaled, labels, 5), keep)


def test_the_memory_is_chosen_by_the_previous_model(chain, tmp_path):  # noqa: F811
    d1, d2, _ = chain
    run1 = tmp_path / "run1"
    assert main(["train", "--data-dir", str(d1), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run1),
                 *TINY]) == 0  # fmt: skip
    replay = {"data_dirs": [str(d1)], "fraction": 0.5, "max_sequences": 20, "selection": "herding"}
    cfg = load_train_config(None, ["batch_size=8", f"init_from={run1}"], data_dir=str(d2), replay=replay)
    new = tf.data.Dataset.from_tensors({"item_ids": tf.zeros([8, 11], tf.int64)})
    model = load_trained_model(str(run1))[0]
    mixed, _ = with_replay(new, 4, load_feature_spec(str(d2)), cfg, 10, ("item_ids",), memory_model=model)
    rows = set()
    for batch in mixed.take(300):
        ids = batch["item_ids"].numpy()
        if np.any(ids):
            assert ids.shape[1] == 11
            rows |= {row.tobytes() for row in ids}
    assert len(rows) == 20  # the memory, and only it, is replayed
    again, _ = with_replay(new, 4, load_feature_spec(str(d2)), cfg, 10, ("item_ids",), memory_model=model)
    rows_again = {r.tobytes() for b in again.take(300) for r in b["item_ids"].numpy() if np.any(r)}
    assert rows_again == rows  # deterministic: the same model and data choose the same exemplars


def test_config_values_are_checked():
    with pytest.raises(ValueError, match=r"replay.selection='best': use random or herding"):
        ReplayConfig(data_dirs=("a",), selection="best")
    with pytest.raises(ValueError, match=r"give its size as replay.max_sequences"):
        ReplayConfig(data_dirs=("a",), selection="herding")
    replay = {"data_dirs": ["a"], "max_sequences": 10, "selection": "herding"}
    with pytest.raises(ValueError, match=r"set init_from"):
        load_train_config(None, [], data_dir="d", replay=replay)


@pytest.mark.parametrize("distill", [False, True], ids=["alone", "with_distillation"])
def test_cli_fine_tunes_with_herded_exemplars(chain, tmp_path, monkeypatch, distill):  # noqa: F811
    d1, d2, _ = chain
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    assert main(["train", "--data-dir", str(d1), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run1),
                 *TINY]) == 0  # fmt: skip
    loaded = []

    def counting_load(path, *args, **kwargs):
        loaded.append(path)
        return load_trained_model(path, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "load_trained_model", counting_load)
    teacher = [f"distillation.teacher={run1}"] if distill else []
    assert main(["train", "--data-dir", str(d2), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run2),
                 f"init_from={run1}", f"replay.data_dirs=[{d1}]", "replay.max_sequences=16",
                 "replay.selection=herding", *teacher, *TINY]) == 0  # fmt: skip
    assert loaded == [str(run1)]  # the previous model is loaded once, for the memory and as the teacher
    run = json.loads((run2 / "run.json").read_text())
    assert run["config"]["replay"]["selection"] == "herding"
    assert run["replay_memory"]["selection"] == "herding" and run["replay_memory"]["seconds"] > 0
    assert np.isfinite(run["test_metrics"]["NDCG@10"])
