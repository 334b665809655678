"""The Optuna study behind ``tfseqrec tune``: on disk, resumable after a kill, run by parallel processes.

Why Optuna: TPE handles log scales, integers, choices and conditional keys (``group=True``), its pruners (median,
Hyperband) act on our per-epoch validation curve, and its journal file storage lets several processes share one
study without a database server. keras-tuner 1.4 imports Keras 3, whose default ``run_trial`` rejects tf-keras
models; we would have to replace the part that makes it useful.

Layout of a study directory::

    study.journal      Optuna's journal (every trial, its params, curve and figures)
    baseline/          the base config trained unchanged (a `tfseqrec train` run directory)
    trials/trial_NNNN/ one `tfseqrec train` run directory per trial
    report.md, trials.csv, best_config.yaml, *.png   written by tfseqrec.tuning.report

A kill leaves the trials that were running in state RUNNING; the next ``tfseqrec tune`` on the same directory
marks them failed and queues their parameters again with the same run directory, so they continue from their
last complete epoch (``resume=true``).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
import warnings
from typing import Callable, Optional

import optuna
from optuna.trial import TrialState

from tfseqrec.tuning.space import SearchSpace
from tfseqrec.tuning.trials import BASELINE_DIR, Objective, check_metric, record_run, train_run, trial_config

STUDY_FILE = "study.journal"
LOCK_FILE = "tune.lock"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def storage(study_dir: str) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    os.makedirs(study_dir, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(os.path.join(study_dir, STUDY_FILE)))


def make_pruner(space: SearchSpace, max_epochs: int) -> optuna.pruners.BasePruner:
    cfg = space.pruner
    if cfg.name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs)
    if cfg.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=cfg.min_epochs, max_resource=max_epochs, reduction_factor=cfg.reduction_factor
        )
    return optuna.pruners.NopPruner()


def open_study(space: SearchSpace, study_dir: str, worker: int = 0) -> optuna.Study:
    """Creates or loads the study in ``study_dir``.

    The sampler's seed mixes ``space.seed``, the worker and the number of trials so far, so that parallel
    workers and a resumed study do not draw the random start-up trials again.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # TPE's multivariate, group
    store = storage(study_dir)
    try:
        done = len(optuna.load_study(study_name=space.name, storage=store).trials)
    except KeyError:
        done = 0
    sampler = optuna.samplers.TPESampler(
        seed=space.seed * 1_000_003 + worker * 7919 + done,
        n_startup_trials=space.startup_trials,
        multivariate=True,
        group=True,
    )
    epochs = int(space.base_values().get("epochs", 200))
    return optuna.create_study(
        study_name=space.name,
        storage=store,
        sampler=sampler,
        pruner=make_pruner(space, epochs),
        direction="maximize",
        load_if_exists=True,
    )


def counts(study: optuna.Study) -> dict:
    """Trials per state name, e.g. ``{"COMPLETE": 12, "PRUNED": 7, "FAIL": 1}``."""
    out: dict = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Marks the trials a killed run left RUNNING as failed and queues their params again (same run
    directory, so training resumes). Returns their numbers. Call only while no worker runs."""
    store = study._storage
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        store.set_trial_user_attr(trial._trial_id, "interrupted", True)
        store.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        attrs = {"resumes_trial": trial.number}
        if "run_dir" in trial.user_attrs:
            attrs["run_dir"] = trial.user_attrs["run_dir"]
        study.enqueue_trial(trial.params, user_attrs=attrs)
        recovered.append(trial.number)
    return recovered


class StudyLock:
    """One ``tfseqrec tune`` per study directory: a lock file holding the coordinator's PID."""

    def __init__(self, study_dir: str):
        self.path = os.path.join(study_dir, LOCK_FILE)

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if os.path.exists(self.path):
            pid = int(open(self.path, encoding="utf-8").read().strip() or 0)
            if pid and _alive(pid):
                raise ValueError(
                    f"{os.path.dirname(self.path)} is being tuned by process {pid}; wait for it or stop it "
                    f"(a killed run's lock is taken over)"
                )
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
        return self

    def __exit__(self, *exc):
        if os.path.exists(self.path):
            os.remove(self.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


@dataclasses.dataclass
class WorkerArgs:
    space: SearchSpace
    study_dir: str
    worker: int
    deadline: Optional[float]
    threads: int = 0
    parent: int = 0  # a spawned worker stops (between trials) when this coordinator is gone


# Exceptions that fail one trial (a sampled config the model rejects, memory) without stopping the study.
TRIAL_ERRORS = (ValueError, ArithmeticError, MemoryError)


def work(args: WorkerArgs, on_trial: Optional[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = None):
    """Runs trials until the study holds ``space.trials`` finished or running ones, or the deadline passes."""
    import tensorflow as tf

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        except RuntimeError:  # this process already ran TensorFlow (the coordinator after the baseline)
            pass
    study = open_study(args.space, args.study_dir, args.worker)
    objective = Objective(args.space, args.study_dir)
    callbacks = [on_trial] if on_trial else None
    while True:
        state = counts(study)
        started = sum(state.get(s.name, 0) for s in FINISHED) + state.get("RUNNING", 0)
        if started >= args.space.trials or state.get("FAIL", 0) > args.space.trials:
            return
        if args.deadline is not None and time.time() >= args.deadline:
            return
        if args.parent and os.getppid() != args.parent:
            return
        study.optimize(objective, n_trials=1, catch=TRIAL_ERRORS + (tf.errors.OpError,), callbacks=callbacks)


def _spawned_worker(args: WorkerArgs) -> None:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    work(args)


def run_baseline(space: SearchSpace, study_dir: str) -> dict:
    """Trains the base config unchanged into ``<study>/baseline`` (resumable; a finished one is kept)."""
    base = space.base_values()
    check_metric(base.get("validation_metric", "NDCG@10"))
    summary = train_run(trial_config(base, {}, os.path.join(study_dir, BASELINE_DIR)))
    return record_run(summary) | {"valid": summary[f"best_valid_{base.get('validation_metric', 'NDCG@10')}"]}


def optimize(
    space: SearchSpace,
    study_dir: str,
    jobs: int = 1,
    timeout_minutes: Optional[float] = None,
    progress: bool = True,
) -> optuna.Study:
    """Runs (or resumes) the search: ``jobs`` processes share the study; this one is worker 0.

    Each process gets ``cpu_count // jobs`` TensorFlow threads. The bar counts finished trials.
    """
    from tqdm import tqdm

    with StudyLock(study_dir):
        study = open_study(space, study_dir)
        recovered = recover_interrupted(study)
        if recovered and progress:
            print(f"resuming: trials {recovered} were interrupted; they continue from their last epoch", flush=True)
        deadline = time.time() + 60 * timeout_minutes if timeout_minutes else None
        threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
        context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
        workers = [
            context.Process(
                target=_spawned_worker, args=(WorkerArgs(space, study_dir, i, deadline, threads, os.getpid()),)
            )
            for i in range(1, jobs)
        ]
        for process in workers:
            process.start()
        finished = sum(counts(study).get(s.name, 0) for s in FINISHED)
        bar = tqdm(total=space.trials, initial=min(finished, space.trials), unit="trial", disable=not progress)

        def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            done = sum(counts(study).get(s.name, 0) for s in FINISHED)
            bar.update(max(0, min(done, space.trials) - bar.n))
            best = _best_value(study)
            bar.set_postfix_str(f"best {best:.4f}" if best is not None else "")

        try:
            work(WorkerArgs(space, study_dir, 0, deadline, threads), on_trial)
        finally:
            for process in workers:
                process.join()
            bar.close()
        return study


def _best_value(study: optuna.Study) -> Optional[float]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(t.value for t in complete) if complete else None
