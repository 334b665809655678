"""Magnitude pruning of the item table (``pruning: {sparsity, begin_epoch, end_epoch, frequency}``): the schedule
and the mask by hand, a toy model that still learns while its table is pruned, factorised tables, the config's
checks, and an end-to-end CLI run whose kept weights have the target sparsity."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tests.models.test_contract import _cyclic_batch
from tfseqrec.cli import main
from tfseqrec.models import build_model
from tfseqrec.training.callbacks import FullRankingValidation
from tfseqrec.training.config import PruningConfig, load_train_config
from tfseqrec.training.pruning import MagnitudePruning, magnitude_mask, pruned_variables, sparsity_at, table_sparsity

NUM_ITEMS = 14


def test_the_cubic_schedule_by_hand():
    config = PruningConfig(sparsity=0.8, begin_epoch=0, end_epoch=10, frequency=1)
    assert sparsity_at(config, 0, 10) == 0.0
    assert sparsity_at(config, 50, 10) == pytest.approx(0.8 * (1 - 0.5**3))  # 0.7
    assert sparsity_at(config, 100, 10) == pytest.approx(0.8)
    assert sparsity_at(config, 500, 10) == pytest.approx(0.8)
    late = PruningConfig(sparsity=0.5, begin_epoch=2, end_epoch=4)
    assert sparsity_at(late, 15, 10) == 0.0
    assert sparsity_at(late, 25, 10) == pytest.approx(0.5 * (1 - 0.75**3))
    assert sparsity_at(PruningConfig(sparsity=0.6, begin_epoch=3, end_epoch=3), 30, 10) == pytest.approx(0.6)


def test_the_mask_drops_the_smallest_magnitudes():
    weights = np.array([[3.0, -1.0], [0.5, -4.0]], dtype=np.float32)
    np.testing.assert_array_equal(magnitude_mask(weights, 0.5), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(magnitude_mask(weights, 0.75), [[0, 0], [0, 1]])
    np.testing.assert_array_equal(magnitude_mask(weights, 0.0), np.ones((2, 2)))
    ties = np.zeros((3, 3), dtype=np.float32)
    assert magnitude_mask(ties, 1 / 3).sum() == 6  # exactly round(s * size) entries go, ties or not


def _toy(item_table=None, seed=0):
    tf.keras.utils.set_random_seed(seed)
    config = {"embedding_dim": 16, "max_len": 8, "dropout": 0.0}
    if item_table:
        config["item_table"] = item_table
    model = build_model("sasrec", config, NUM_ITEMS).build_for_inputs()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    return model


def test_a_toy_model_learns_while_its_table_is_pruned():
    ids = _cyclic_batch(batch_size=64)
    data = tf.data.Dataset.from_tensors({"item_ids": ids}).repeat(20)
    model = _toy()
    pruning = MagnitudePruning(PruningConfig(sparsity=0.5, begin_epoch=0, end_epoch=5, frequency=5), 20)
    zeros_seen = []

    class Watch(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            table = pruned_variables(model)[0].numpy()
            zeros_seen.append(table == 0)

    history = model.fit(data, epochs=8, verbose=0, callbacks=[pruning, Watch()])
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    sparsities = history.history["item_table_sparsity"]
    assert sparsities == sorted(sparsities) and sparsities[-1] == pytest.approx(0.5)
    assert table_sparsity(model) == pytest.approx(0.5, abs=1.0 / (16 * 16))
    for earlier, later in zip(zeros_seen, zeros_seen[1:]):  # an entry once pruned stays pruned
        assert not (earlier & ~later).any()
    scores = model.score_all(ids[:, :-1]).numpy()
    scores[:, :2] = -np.inf
    assert (scores.argmax(axis=1) == ids[:, -1].numpy()).mean() >= 0.9


def test_both_factors_of_a_low_rank_table_are_pruned():
    model = _toy({"name": "low_rank", "rank": 4})
    variables = pruned_variables(model)
    assert sorted(tuple(v.shape) for v in variables) == sorted([(NUM_ITEMS, 4), (4, 16)])
    data = tf.data.Dataset.from_tensors({"item_ids": _cyclic_batch(batch_size=16)}).repeat(4)
    model.fit(data, epochs=1, verbose=0, callbacks=[MagnitudePruning(PruningConfig(sparsity=0.5, end_epoch=0), 4)])
    for variable in variables:
        assert (variable.numpy() == 0).mean() == pytest.approx(0.5, abs=0.02)


def test_validation_waits_for_the_target_sparsity():
    seen = []
    validation = FullRankingValidation(lambda m: seen.append(1) or {"NDCG@10": 0.1}, from_epoch=3, verbose=0)
    validation.set_model(_toy())
    for epoch in range(5):
        validation.on_epoch_end(epoch, {})
    assert [record["epoch"] for record in validation.history] == [3, 4, 5]


def test_config_values_are_checked():
    with pytest.raises(ValueError, match=r"pruning.sparsity=1.0 must be in \[0, 1\)"):
        PruningConfig(sparsity=1.0)
    with pytest.raises(ValueError, match=r"begin_epoch=5 and end_epoch=2"):
        PruningConfig(sparsity=0.5, begin_epoch=5, end_epoch=2)
    with pytest.raises(ValueError, match=r"pruning.frequency=0"):
        PruningConfig(frequency=0)
    with pytest.raises(ValueError, match=r"pruning.end_epoch=10 is past epochs=3"):
        load_train_config(None, ["pruning.sparsity=0.5", "epochs=3"], data_dir="d")
    with pytest.raises(ValueError, match=r"strategy=parameter_server"):
        load_train_config(None, ["pruning.sparsity=0.5", "strategy=parameter_server"], data_dir="d")
    cfg = load_train_config(None, ["pruning.sparsity=0.8", "pruning.end_epoch=4"], data_dir="d")
    assert cfg.pruning == PruningConfig(sparsity=0.8, end_epoch=4) and cfg.pruning.enabled
    assert not load_train_config(None, [], data_dir="d").pruning.enabled


def test_cli_run_keeps_weights_at_the_target_sparsity(tmp_path):
    data = generated_dataset(tmp_path / "data", 200, 80, 3)
    out = tmp_path / "run"
    argv = ["train", "--model", "sasrec", "--data-dir", str(data), "--output-dir", str(out), "--epochs", "3"]
    overrides = ["model_config.max_len=20", "batch_size=64", "verbose=0", "pruning.sparsity=0.6"]
    assert main(argv + overrides + ["pruning.end_epoch=2", "pruning.frequency=1"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["pruning"]["target_sparsity"] == 0.6
    assert run["pruning"]["item_table_sparsity"] == pytest.approx(0.6, abs=1e-3)
    assert [record["epoch"] for record in run["validation_history"]] == [2, 3]
    assert run["best_epoch"] >= 2 and np.isfinite(run["test_metrics"]["NDCG@10"])
    assert "item_table_sparsity" in (out / "history.csv").read_text().splitlines()[0]


def test_a_killed_pruned_run_resumes_with_its_zeros(tmp_path):
    from tests.training.test_resume import Killed, KillAfterEpoch, StartingPoint
    from tfseqrec.training import train

    data = generated_dataset(tmp_path / "data", 200, 80, 3)
    overrides = [f"data_dir={data}", f"output_dir={tmp_path / 'run'}", "model=sasrec", "epochs=4", "patience=10",
                 "model_config.embedding_dim=16", "model_config.max_len=20", "batch_size=64", "verbose=0",
                 "pruning.sparsity=0.5", "pruning.end_epoch=3", "pruning.frequency=1"]  # fmt: skip
    kill = KillAfterEpoch(2)
    with pytest.raises(Killed):
        train(load_train_config(overrides=overrides), callbacks=[kill])
    start = StartingPoint()
    summary = train(load_train_config(overrides=overrides + ["resume=true"]), callbacks=[start])
    zeros_at_kill = [w == 0 for w in kill.weights if w.ndim == 2 and w.shape[1] == 16 and w.shape[0] == 82]
    assert zeros_at_kill and 0.3 < zeros_at_kill[0].mean() < 0.5  # epoch 2 of a ramp to 0.5 at epoch 3
    assert summary["pruning"]["item_table_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert [e["epoch"] for e in summary["validation_history"]] == [3, 4]
