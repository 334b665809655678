"""Keras callbacks: full-ranking validation with early stopping and best-weight restore, and timing."""

from __future__ import annotations

import time
from typing import Callable, Optional

import tfseqrec  # noqa: F401
import tensorflow as tf


LOGGED_METRICS = ("HR", "NDCG", "MRR", "AUC", "coverage")


class FullRankingValidation(tf.keras.callbacks.Callback):
    """Every ``every`` epochs, ranks all items for the validation split and logs ``val_<metric>``.

    Keeps the best weights by ``metric`` (higher is better), saves them to ``checkpoint_path`` when given,
    stops training after ``patience`` validations without improvement and restores the best weights at the
    end. ``evaluate_fn(model) -> summary dict`` does the ranking (see ``tfseqrec.evaluation``). Epochs before
    ``from_epoch`` (1-based) are not validated: their weights are not candidates (e.g. while pruning ramps up).
    """

    def __init__(
        self,
        evaluate_fn: Callable,
        metric: str = "NDCG@10",
        every: int = 1,
        patience: int = 10,
        checkpoint_path: Optional[str] = None,
        verbose: int = 1,
        from_epoch: int = 0,
    ):
        super().__init__()
        self.evaluate_fn, self.metric, self.every, self.patience = evaluate_fn, metric, every, patience
        self.from_epoch = from_epoch
        self.checkpoint_path, self.verbose = checkpoint_path, verbose
        self.best: float = float("-inf")
        self.best_epoch: int = -1
        self.best_weights = None
        self.bad_validations = 0
        self.history: list[dict] = []

    def validate_initial_weights(self, model) -> float:
        """Validates ``model`` before training (a warm start) as epoch 0: its score is the bar to beat and its
        weights are kept (and checkpointed) unless an epoch improves on them."""
        self.set_model(model)
        self._validate(-1, None)
        return self.best

    def state(self) -> dict:
        """What a resumed run needs to go on validating as this one would (``tfseqrec.training.resume``)."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_validations": self.bad_validations,
            "history": self.history,
        }

    def load_state(self, state: dict, best_weights) -> None:
        """Takes over a saved :meth:`state` and the best weights so far (None: no epoch validated yet)."""
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.bad_validations, self.history = int(state["bad_validations"]), list(state["history"])
        self.best_weights = best_weights

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or epoch + 1 < self.from_epoch:
            return
        self._validate(epoch, logs)
        if self.bad_validations >= self.patience:
            if self.verbose:
                print(f"  early stopping: no improvement in {self.patience} validations", flush=True)
            self.model.stop_training = True

    def _validate(self, epoch, logs):
        started = time.time()
        summary = self.evaluate_fn(self.model)
        if self.metric not in summary:
            raise KeyError(f"validation metric {self.metric!r} is not computed; available: {sorted(summary)}")
        value = float(summary[self.metric])
        record = {
            "epoch": epoch + 1,
            "seconds": time.time() - started,
            **{k: float(v) for k, v in summary.items() if isinstance(v, (int, float))},
        }
        self.history.append(record)
        if logs is not None:  # the headline metrics go to Keras logs (progress bar, CSV, TensorBoard)
            for key, v in summary.items():
                if key.split("@")[0] in LOGGED_METRICS and isinstance(v, (int, float)):
                    logs[f"val_{key}"] = float(v)
        improved = value > self.best
        if improved:
            self.best, self.best_epoch, self.bad_validations = value, epoch + 1, 0
            self.best_weights = self.model.get_weights()
            if self.checkpoint_path:
                self.model.save_weights(self.checkpoint_path)
        else:
            self.bad_validations += 1
        if self.verbose:
            mark = " (best)" if improved else f" (best {self.best:.4f} at epoch {self.best_epoch})"
            print(f"  validation {self.metric} = {value:.4f}{mark}  [{record['seconds']:.1f} s]", flush=True)

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def validation_log_keys(ks) -> list:
    """The ``val_*`` keys :class:`FullRankingValidation` puts in Keras logs for the cut-offs ``ks``."""
    names = [f"{metric}@{k}" for k in ks for metric in LOGGED_METRICS if metric != "AUC"] + ["MRR", "AUC"]
    return sorted(f"val_{name}" for name in names)


class HistoryCSVLogger(tf.keras.callbacks.CSVLogger):
    """``CSVLogger`` whose columns hold the validation metrics from the first row on.

    Keras takes the columns from the first epoch's logs, so with ``validate_every > 1`` the validation
    metrics were never written (their columns did not exist); missing values are written as ``NA``.
    """

    def __init__(self, filename: str, validation_keys=(), **kwargs):
        super().__init__(filename, **kwargs)
        self.validation_keys = list(validation_keys)

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted(set(logs or {}) | set(self.validation_keys))
        super().on_epoch_end(epoch, logs)


class EpochTimer(tf.keras.callbacks.Callback):
    """Wall seconds of each epoch's training steps (validation time excluded; it runs after this)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.time() - self._start)
        if logs is not None:
            logs["epoch_seconds"] = self.seconds[-1]


class TimeBudget(tf.keras.callbacks.Callback):
    """Stops training at the first epoch end after ``minutes`` of wall-clock time since training began."""

    def __init__(self, minutes: float, verbose: int = 1):
        super().__init__()
        self.minutes, self.verbose = minutes, verbose
        self.exhausted = False
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if time.time() - self._start >= self.minutes * 60 and not self.model.stop_training:
            self.exhausted = True
            self.model.stop_training = True
            if self.verbose:
                print(f"  time budget of {self.minutes:g} min used up after epoch {epoch + 1}: stopping", flush=True)
