"""Resumable training (``resume=true``): a run cut short (a killed job, a machine's time limit) continues from
its last complete epoch instead of starting over.

After every epoch the run writes ``resume/``: a checkpoint of the model and its optimizer (weights, moments,
step counter, so a learning-rate schedule continues where it was) and ``resume/state.json`` with what the
callbacks know (validation history, best score and epoch, validations without improvement, epoch seconds) and
the cost of every invocation so far. A run started again with ``resume=true`` and the same config restores
them and calls ``model.fit`` with ``initial_epoch`` set; ``time_budget_minutes`` then counts the current
invocation, and ``run.json`` adds the invocations up (``train_seconds``, ``epochs_run``) and lists them under
``invocations``. ``resume/`` is removed when the run finishes.

What differs from an uninterrupted run: the batches after the resume point. ``model.fit`` owns the tf.data
iterator, whose shuffle buffers are not checkpointed, so a resumed invocation seeds its data pipeline and
Keras' generators with ``seed + epochs done`` (a restart at epoch 0's seed would replay the first epochs'
batches). A resumed run trains as an uninterrupted one does, not bit for bit the same.

The state file is written after the checkpoint and names its epoch; the two newest checkpoints are kept, so a
job killed between the two writes resumes from the checkpoint the state file names.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

RESUME_DIR = "resume"
STATE_FILE = os.path.join(RESUME_DIR, "state.json")
# config keys that may change between invocations of one resumed run
MAY_CHANGE = ("time_budget_minutes", "verbose", "resume")


def comparable_config(config: dict) -> dict:
    return {key: value for key, value in config.items() if key not in MAY_CHANGE}


def _with_new_defaults(saved: dict) -> dict:
    """``saved`` plus the default of every ``TrainConfig`` field it lacks: a key added to the config after the
    run started (e.g. ``plugins``) compares as its default, not as a difference."""
    import dataclasses

    from tfseqrec.training.config import TrainConfig

    defaults = {
        f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(TrainConfig)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    return {**json.loads(json.dumps(defaults, default=str)), **saved}


def read_state(output_dir: str, config: dict) -> Optional[dict]:
    """The saved state of an unfinished run in ``output_dir``, or None when there is none.

    Raises ``ValueError`` naming the keys when the run was started with another config (other than
    ``time_budget_minutes`` / ``verbose``): a resumed run must train what the first invocation trained.
    """
    path = os.path.join(output_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    saved = comparable_config(_with_new_defaults(state["config"]))
    given = comparable_config(json.loads(json.dumps(config, default=str)))
    differ = sorted(key for key in set(saved) | set(given) if saved.get(key) != given.get(key))
    if differ:
        details = "; ".join(f"{key}: saved {saved.get(key)!r}, given {given.get(key)!r}" for key in differ)
        raise ValueError(
            f"resume=true: {path} was written by a run with another config ({details}). Resume with "
            f"the same config, or train into a new output_dir (or without resume=true, which starts "
            f"this directory over)"
        )
    return state


def clear(output_dir: str) -> None:
    """Removes ``output_dir/resume`` (a fresh run, or a finished one)."""
    shutil.rmtree(os.path.join(output_dir, RESUME_DIR), ignore_errors=True)


def _checkpoint(model) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


def restore(model, state: dict, output_dir: str, best_checkpoint: str) -> Optional[list]:
    """Loads the state's epoch checkpoint (weights and optimizer) into the compiled ``model``.

    Returns the best weights so far (``get_weights()`` order, read from ``best_checkpoint``) for the validation
    callback, or None when no epoch has been validated yet. Call after ``compile``.
    """
    model.build_for_inputs()
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    optimizer.build(model.trainable_variables)  # slots exist, so the restores below assign them now
    best_weights = None
    if os.path.exists(best_checkpoint + ".index"):
        model.load_weights(best_checkpoint).expect_partial()
        best_weights = model.get_weights()
    path = os.path.join(output_dir, RESUME_DIR, f"ckpt-{state['epoch']}")
    if not os.path.exists(path + ".index"):
        raise FileNotFoundError(
            f"resume=true: {os.path.join(output_dir, STATE_FILE)} names epoch {state['epoch']} "
            f"but {path}.index is missing; train without resume=true to start over"
        )
    _checkpoint(model).restore(path).assert_existing_objects_matched()
    return best_weights


class ResumeCheckpoint(tf.keras.callbacks.Callback):
    """Saves ``resume/ckpt-<epoch>`` and then ``resume/state.json`` at every epoch end.

    ``state_fn() -> dict`` gives the callbacks' state; put this callback after them (validation,
    timer, CSV logger) so that the state includes the epoch just ended.
    """

    def __init__(self, output_dir: str, state_fn, keep: int = 2):
        super().__init__()
        self.output_dir, self.state_fn, self.keep = output_dir, state_fn, keep
        self._manager = None

    def on_train_begin(self, logs=None):
        directory = os.path.join(self.output_dir, RESUME_DIR)
        self._manager = tf.train.CheckpointManager(
            _checkpoint(self.model), directory, max_to_keep=self.keep, checkpoint_name="ckpt"
        )

    def on_epoch_end(self, epoch, logs=None):
        self._manager.save(checkpoint_number=epoch + 1)
        state = {"epoch": epoch + 1, **self.state_fn()}
        path = os.path.join(self.output_dir, STATE_FILE)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1, default=str)
        os.replace(path + ".tmp", path)


def truncate_history_csv(path: str, epochs_done: int) -> None:
    """Keeps the header and the rows of epochs ``< epochs_done`` of a Keras CSV log (rows of an epoch whose
    state was not saved are dropped: that epoch is trained again)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    kept = lines[:1] + [line for line in lines[1:] if line and int(line.split(",", 1)[0]) < epochs_done]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + ("\n" if kept else ""))
