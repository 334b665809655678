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
import numpy as np
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID

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


def warm_start(model, run_dir: str, spec=None) -> dict:
    """Loads ``run_dir``'s best weights into ``model`` (built here); returns the record for ``run.json``.

    Raises ``ValueError`` when the earlier run trained another architecture, or when its weights do not fit
    (a different ``embedding_dim``, number of blocks or item vocabulary). Other ``model_config`` changes
    (dropout, loss, ...) are allowed and listed under ``model_config_changes``. A run that adds an
    ``adaptation`` to a model trained without one loads every other weight (the adapter starts at its initial
    value). When this data's vocabulary extends the earlier run's (``tfseqrec preprocess --base-vocabulary``,
    ``spec`` tells), the item tables grow: the earlier items keep their rows, the new items' rows keep this
    model's initialisation (``grown_item_tables`` in the record).
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
    old_items = int(previous.get("num_items") or model.num_items)
    grown = None
    if old_items != model.num_items:
        grown = _load_grown(model, path, run_dir, old_items, spec)
    elif adds_adaptation:  # a trained model meta-learns an adapter: every weight but the new adapter's must fit
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
        **({"grown_item_tables": grown} if grown else {}),
        # the whole chain up to the loaded weights: epochs that produced them, seconds spent (all of them)
        "epochs_before": chain.get("best_epoch", previous.get("best_epoch") or 0),
        "train_seconds_before": chain.get("train_seconds", previous.get("train_seconds") or 0.0),
    }


def attribute_neighbours(spec, old_items: int) -> dict[int, np.ndarray]:
    """New item id -> the earlier ids (``FIRST_ITEM_ID .. old_items - 1``) sharing an attribute value with it,
    from the data's item feature tables (``tfseqrec preprocess --item-feature-cols`` / ``--item-features``): per new
    item the most specific feature that gives any (the feature with the most values first: a brand before a
    top-level category); items without a shared known value are absent."""
    from tfseqrec.data.side_features import load_item_feature_table

    table_info = None if spec is None else spec.item_features
    if table_info is None or not table_info.features:
        return {}
    features = sorted(table_info.features, key=lambda name: -table_info.features[name].vocabulary_size)
    found: dict[int, np.ndarray] = {}
    for name in features:
        table = load_item_feature_table(spec, name)  # [V, M] value ids; 0 padding, 1 unknown
        holders: dict[int, list[int]] = {}
        for item in range(FIRST_ITEM_ID, old_items):
            for value in set(table[item].tolist()) - {0, 1}:
                holders.setdefault(value, []).append(item)
        for item in range(old_items, min(table.shape[0], spec.vocabulary.size)):
            if item in found:
                continue
            ids = sorted({i for value in set(table[item].tolist()) - {0, 1} for i in holders.get(value, ())})
            if ids:
                found[item] = np.asarray(ids, np.int64)
    return found


def _load_grown(model, path: str, run_dir: str, old_items: int, spec) -> dict:
    """Loads an earlier run over ``old_items`` ids into ``model`` over more: every weight of the same shape as it
    is; item tables (``[ids + extra tokens, ...]``) row by row, the earlier ids into the same rows, extra input
    tokens (a mask token) after the new ids. A new id's row is the mean of the earlier rows of the items sharing
    an attribute value with it (:func:`attribute_neighbours`), else ``model``'s initialisation."""
    base = None if spec is None else spec.vocabulary.base_size
    if base != old_items:
        raise ValueError(
            f"init_from={run_dir!r} was trained on {old_items} ids, this data has {model.num_items}; a run on new "
            f"data warm starts only when that data's vocabulary extends the earlier one (tfseqrec preprocess "
            f"--base-vocabulary <the earlier data directory>; this data's base size is {base})"
        )
    side = model.side_inputs
    if side is not None and (side.tables or side.dense_vectors is not None):
        raise ValueError(
            f"init_from={run_dir!r}: growing the item tables of a model with side inputs (item / user feature "
            f"tables) is not supported; train it from scratch on the extended data"
        )
    counts = model.get_config()["item_counts"]
    twin = (
        type(model)
        .from_config(
            {
                **model.get_config(),
                "num_items": old_items,
                "item_counts": None if counts is None else counts[:old_items],
            }
        )
        .build_for_inputs()
    )
    _load_matching(twin, path, run_dir)
    new_items, grown = model.num_items, []
    neighbours = attribute_neighbours(spec, old_items)
    if len(twin.weights) != len(model.weights):
        raise ValueError(f"init_from={run_dir!r}: the earlier model has other weights than this one")
    for old, new in zip(twin.weights, model.weights):
        if old.shape == new.shape:
            new.assign(old)
            continue
        extra = old.shape[0] - old_items
        if old.shape[1:] != new.shape[1:] or new.shape[0] - extra != new_items or extra < 0:
            raise ValueError(
                f"init_from={run_dir!r}: weight {new.name} is {new.shape} here and {old.shape} in the earlier "
                f"run, which a grown vocabulary does not explain"
            )
        earlier = old.numpy()
        rows = np.concatenate([earlier[:old_items], new.numpy()[old_items:new_items], earlier[old_items:]], axis=0)
        for item, ids in neighbours.items():
            rows[item] = earlier[ids].mean(axis=0)
        new.assign(rows.astype(new.dtype.as_numpy_dtype))
        grown.append(new.name)
    return {
        "from_ids": old_items,
        "to_ids": new_items,
        "tables": grown,
        "new_rows": "the mean of the earlier rows of items sharing an attribute value, else this model's "
        "initialisation",
        "new_rows_from_attributes": len(neighbours),
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
