"""Warm start: a run's weights initialised from an earlier run's best checkpoint.

Continues a run that stopped at its time budget while validation was still rising, or fine-tunes a model
on newer data with the same item vocabulary. The optimizer starts fresh (:func:`reset_optimizer`: step 0
and zero moments, whatever of the earlier optimizer the checkpoint holds); the loaded weights are validated
first and are the bar the new run must beat, so a continuation never ends worse on validation than where it
started. ``run.json`` records where the weights came from and the cumulative cost (epochs to the best weights
and training seconds over the whole chain).
"""

from __future__ import annotations

import json
import os
import tempfile

import tfseqrec  # noqa: F401
import tensorflow as tf

CHECKPOINT = os.path.join("checkpoints", "best")  # a run's best weights, relative to its directory


def read_finished_run(run_dir: str) -> dict:
    """``run.json`` of a run of ``tfseqrec train`` that has a best checkpoint; clear errors otherwise."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"init_from={run_dir!r}: no run.json there; give the output directory of an earlier `tfseqrec train`"
        )
    if not os.path.exists(os.path.join(run_dir, CHECKPOINT + ".index")):
        raise FileNotFoundError(
            f"init_from={run_dir!r}: no best checkpoint ({CHECKPOINT}.index); the run never "
            f"validated, so there are no weights to start from"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def warm_start(model, run_dir: str) -> dict:
    """Loads ``run_dir``'s best weights into ``model`` (built here); returns the record for ``run.json``.

    Raises ``ValueError`` when the earlier run trained another architecture, or when its weights do not fit
    (a different ``embedding_dim``, number of blocks or item vocabulary). Other ``model_config`` changes
    (dropout, loss, ...) are allowed and listed under ``model_config_changes``. A run that adds an
    ``adaptation`` to a model trained without one loads every other weight (the adapter starts at its initial
    value).
    """
    previous = read_finished_run(run_dir)
    if previous.get("model") != model.registry_name:
        raise ValueError(
            f"init_from={run_dir!r} trained {previous.get('model')!r}, this run trains "
            f"{model.registry_name!r}: warm starts need the same architecture"
        )
    model.build_for_inputs()
    old_config = previous.get("model_config", {})
    path = os.path.join(run_dir, CHECKPOINT)
    adds_adaptation = model.adaptation is not None and old_config.get("adaptation", {}).get("adapter", "none") == "none"
    if adds_adaptation:  # a trained model meta-learns an adapter: every weight but the new adapter's must fit
        twin = (
            type(model)
            .from_config(
                {**model.get_config(), "config": {**model.config.to_dict(), "adaptation": {}}},
                side_inputs=model.side_inputs,
            )
            .build_for_inputs()
        )
        _load_matching(twin, path, run_dir)
        with tempfile.TemporaryDirectory() as directory:
            twin.save_weights(os.path.join(directory, "weights"))
            model.load_weights(os.path.join(directory, "weights")).expect_partial()
    else:
        _load_matching(model, path, run_dir)
    new_config = json.loads(json.dumps(model.config.to_dict(), default=str))  # as run.json holds it
    changes = {
        key: {"was": old_config.get(key), "now": value}
        for key, value in new_config.items()
        if key in old_config and old_config[key] != value
    }
    chain = previous.get("cumulative", {})
    return {
        "run_dir": run_dir,
        "best_epoch": previous.get("best_epoch"),
        "epochs_run": previous.get("epochs_run"),
        "train_seconds": previous.get("train_seconds"),
        "test_metrics": previous.get("test_metrics"),
        "model_config_changes": changes,
        # the whole chain up to the loaded weights: epochs that produced them, seconds spent (all of them)
        "epochs_before": chain.get("best_epoch", previous.get("best_epoch") or 0),
        "train_seconds_before": chain.get("train_seconds", previous.get("train_seconds") or 0.0),
    }


def _load_matching(model, path: str, run_dir: str) -> None:
    """Loads ``path`` into ``model``; ``ValueError`` unless every weight of ``model`` is in the checkpoint."""
    try:
        status = model.load_weights(path)
        status.expect_partial()  # the checkpoint may also hold the earlier optimizer's slots
        status.assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as error:
        raise ValueError(
            f"init_from={run_dir!r}: its best checkpoint does not fit this model (same embedding_dim, "
            f"blocks and item vocabulary needed): {error}"
        ) from error


def reset_optimizer(model) -> None:
    """Gives a warm-started ``model``'s compiled optimizer a fresh state: step 0, zero moments.

    The earlier run's checkpoint also holds its optimizer, and TensorFlow restores checkpointed objects that
    did not exist at load time as soon as they are created (deferred restoration): without this, this run's
    optimizer would take over the earlier step counter and moments, and a learning-rate schedule sized for this
    run (``decay``, ``warmup_steps``) would start at its end (a rate of 0 under linear decay). Zeros are Adam's
    initial state; a mixed-precision loss scale keeps its own. Call after ``compile``.
    """
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # LossScaleOptimizer's inner one
    optimizer.build(model.trainable_variables)  # creates the slots, which takes the deferred restore now
    for variable in optimizer.variables:
        if "learning_rate" not in variable.name:
            variable.assign(tf.zeros_like(variable))


def cumulative(initialised_from: dict, best_epoch: int, epochs_run: int, train_seconds: float) -> dict:
    """Cost over the whole chain of warm-started runs: epochs to the best weights, epochs and seconds trained."""
    return {
        "best_epoch": initialised_from["epochs_before"] + max(best_epoch, 0),
        "epochs_run": initialised_from["epochs_before"] + epochs_run,
        "train_seconds": initialised_from["train_seconds_before"] + train_seconds,
    }
