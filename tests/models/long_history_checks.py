"""Checks shared by the long-history models' tests (hierarchical, memory transformer): a learnable toy, save /
load, and a CLI run."""

import json

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model


def assert_learns_a_toy_and_round_trips(model, name: str, num_items: int, path) -> None:
    """``model`` (``max_len`` >= 12) halves its loss on histories where item ``i + 1`` follows item ``i``, then its
    saved weights give a rebuilt twin the same scores."""
    tf.keras.utils.set_random_seed(0)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(60):
        items = (rng.integers(2, num_items, (16, 1)) + np.arange(13)[None]) % (num_items - 2) + 2
        losses.append(float(model.train_step({"item_ids": tf.constant(items)})["loss"]))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    model.save_weights(str(path / "w"))
    twin = build_model(name, model.get_config()["config"], num_items).build_for_inputs()
    twin.load_weights(str(path / "w"))
    ids = tf.constant([[0, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]])
    np.testing.assert_allclose(twin.score_all(ids).numpy(), model.score_all(ids).numpy(), atol=1e-5)


def assert_the_cli_trains_and_tests(name: str, path, *overrides: str) -> None:
    """``tfseqrec train --model name`` for 3 steps on a generated dataset writes test metrics."""
    from tests.conftest import generated_dataset
    from tfseqrec.cli import main

    data = generated_dataset(path, 80, 100, 3)
    run = path / "run"
    args = ["train", "--data-dir", str(data), "--model", name, "--output-dir", str(run), "--epochs", "1"]
    defaults = ["steps_per_epoch=3", "batch_size=16", "verbose=0", "model_config.max_len=10"]
    assert main(args + defaults + list(overrides)) == 0
    assert json.loads((run / "run.json").read_text())["test_metrics"]["NDCG@10"] >= 0.0
