"""One trial of ``tfseqrec tune``: a ``tfseqrec train`` run with the sampled keys, reporting to Optuna.

A trial's run lives in ``<study>/trials/trial_NNNN`` and is trained with ``resume=true``, so a trial cut off by a
kill continues from its last complete epoch when the study resumes. Its validation curve goes to the pruner
after every validation (step = epoch); the objective is the run's best validation metric.
"""

from __future__ import annotations

import copy
import os
from typing import Optional

import optuna
import tensorflow as tf

from tfseqrec.training.callbacks import LOGGED_METRICS
from tfseqrec.training.config import TrainConfig, _set_dotted

TRIALS_DIR = "trials"
BASELINE_DIR = "baseline"
REPORTED_TEST_KEYS = ("HR@10", "NDCG@10", "MRR")


class PruningCallback(tf.keras.callbacks.Callback):
    """Reports each validation's ``metric`` to ``trial``; raises ``optuna.TrialPruned`` when the pruner says so.

    It reads the value the validation callback (which runs first) puts in the epoch's Keras logs as
    ``val_<metric>``; epochs without a validation report nothing.
    """

    def __init__(self, trial: optuna.trial.Trial, metric: str):
        super().__init__()
        self.trial, self.key = trial, f"val_{metric}"

    def on_epoch_end(self, epoch, logs=None):
        if not logs or self.key not in logs:
            return
        self.trial.report(float(logs[self.key]), step=epoch + 1)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch + 1} ({self.key} {logs[self.key]:.4f})")


def check_metric(metric: str) -> None:
    """The pruner reads ``val_<metric>`` from Keras logs, where only these families are written."""
    if metric.split("@")[0] not in LOGGED_METRICS:
        raise ValueError(
            f"validation_metric={metric!r} cannot be tuned on: use one of the logged families "
            f"{', '.join(LOGGED_METRICS)} (e.g. NDCG@10)"
        )


def trial_config(base: dict, params: dict, output_dir: str) -> TrainConfig:
    """The base config (nested dict) with ``params`` (dotted key -> value) set, quiet, resumable."""
    from tfseqrec.models.registry import config_from_dict

    raw = copy.deepcopy(base)
    for key, value in params.items():
        _set_dotted(raw, key, value)
    raw.update(output_dir=output_dir, verbose=0, resume=True)
    return config_from_dict(TrainConfig, raw)


def train_run(cfg: TrainConfig, callbacks=()) -> dict:
    """``tfseqrec.training.train`` in a fresh Keras session (trials run one after another in a process)."""
    from tfseqrec.training import train

    tf.keras.backend.clear_session()
    return train(cfg, callbacks=list(callbacks))


def record_run(summary: dict) -> dict:
    """The run's figures kept with a trial (and in the report): test metrics, epochs, time."""
    test = summary.get("test_metrics", {})
    return {
        "test": {k: float(test[k]) for k in REPORTED_TEST_KEYS if k in test},
        "test_split": summary.get("test_split"),
        "best_epoch": summary.get("best_epoch"),
        "epochs_run": summary.get("epochs_run"),
        "stopped_by": summary.get("stopped_by"),
        "train_seconds": summary.get("train_seconds"),
    }


class Objective:
    """``Objective(space, study_dir)(trial)`` trains one sampled config and returns its best validation value."""

    def __init__(self, space, study_dir: str):
        self.space, self.study_dir = space, study_dir
        self.base = space.base_values()
        self.metric = self.base.get("validation_metric", "NDCG@10")
        check_metric(self.metric)

    def run_dir(self, trial) -> str:
        resumed: Optional[str] = trial.user_attrs.get("run_dir")
        return resumed or os.path.join(self.study_dir, TRIALS_DIR, f"trial_{trial.number:04d}")

    def __call__(self, trial: optuna.trial.Trial) -> float:
        params = self.space.sample(trial)
        run_dir = self.run_dir(trial)
        trial.set_user_attr("run_dir", run_dir)
        cfg = trial_config(self.base, params, run_dir)
        summary = train_run(cfg, [PruningCallback(trial, self.metric)])
        for key, value in record_run(summary).items():
            trial.set_user_attr(key, value)
        return float(summary[f"best_valid_{self.metric}"])
