"""``train(config)``: build a model from the registry, fit it with ``model.fit``, validate with full
ranking, restore the best weights, evaluate on test and write everything to ``output_dir``.

Run directory::

    run.json              config, protocol, timings, peak memory, machine, best epoch, test summary
    history.csv           Keras per-epoch logs (loss, val_* metrics, epoch_seconds)
    checkpoints/best.*    weights at the best validation metric
    resume/               last epoch's weights, optimizer and callback state, while the run is unfinished
    tensorboard/          TensorBoard logs
    test/metrics.json     test metrics with the protocol; test/per_user.npz per-user arrays

Batches hold the record features the model declares in ``model.input_features`` (``item_ids``, plus
``timestamps`` for HRNN with ``session_gap_seconds``), for training and for scoring alike. Validation and
test use the evaluator's protocol for the split: leave-one-out / temporal targets, or every next item of
each session for session splits (``tfseqrec.evaluation``). With ``resume=true`` an unfinished run continues
from its last complete epoch (``tfseqrec.training.resume``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import time
from typing import Optional, Sequence

import tfseqrec  # noqa: F401
import numpy as np
import tensorflow as tf

from tfseqrec.host.contention import CpuContention
from tfseqrec.host.machine import describe as describe_machine
from tfseqrec.data import SequenceBatchConfig, load_feature_spec, make_dataset
from tfseqrec.data.spec import FeatureSpec, load_item_counts
from tfseqrec.evaluation import evaluator
from tfseqrec.evaluation.heads import evaluate_heads
from tfseqrec.models import build_model, import_plugins
from tfseqrec.models.target_behaviour import TARGET_EVENT_TYPE
from tfseqrec.training import distribution
from tfseqrec.training.callbacks import (
    EpochTimer,
    FullRankingValidation,
    HistoryCSVLogger,
    TimeBudget,
    validation_log_keys,
)
from tfseqrec.training.config import TrainConfig
from tfseqrec.training import resume
from tfseqrec.training.precision import float32_twin, keras_policy, resolve_policy
from tfseqrec.training.schedules import build_optimizer
from tfseqrec.training.distillation import attach_teacher
from tfseqrec.training.pruning import MagnitudePruning, table_sparsity
from tfseqrec.training.replay import check_prefix_vocabulary, with_replay
from tfseqrec.training.warm_start import CHECKPOINT, cumulative, reset_optimizer, warm_start

RUN_FILE = "run.json"


def machine_description() -> dict:
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {**describe_machine(), "tensorflow": tf.__version__, "gpus": gpus}


def peak_memory_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def model_score_fn(model):
    """``batch -> [B, num_items]`` scores for the evaluator, compiled once.

    Passes the batch's ``model.input_features`` (e.g. HRNN's ``timestamps``) to ``model.call``; the
    evaluator's batches carry every list feature of the spec, session prefixes included.
    """
    names = tuple(model.input_features) + (TARGET_EVENT_TYPE,)  # the evaluator's behaviour asked for, if any
    score = tf.function(lambda inputs: model.call(inputs, training=False), reduce_retracing=True)
    return lambda batch: score({name: batch[name] for name in names if name in batch})


def check_input_features(model, spec: FeatureSpec) -> None:
    """Raises when the data lack a record feature the model reads (``model.input_features``)."""
    missing = [name for name in model.input_features if name not in spec.features]
    if missing:
        raise ValueError(
            f"model {model.registry_name!r} reads the record feature(s) {missing} (its input_features are "
            f"{list(model.input_features)}), but {spec.directory or 'the dataset'} has only {sorted(spec.features)}. "
            f"Preprocess a log that has them (timestamps need a time column) or change model_config "
            f"(e.g. hrnn reads timestamps only with session_gap_seconds set)"
        )


def pooled_summary(summaries: list) -> dict:
    """One summary for the users of several evaluations: each metric's mean weighted by ``num_users``."""
    if len(summaries) == 1:
        return summaries[0]
    users = [float(summary["num_users"]) for summary in summaries]
    pooled = {"num_users": int(sum(users)), "seconds": sum(float(s.get("seconds", 0.0)) for s in summaries)}
    for name in summaries[0]:
        if name in pooled or name == "users_per_second" or not all(name in s for s in summaries):
            continue
        values = [s[name] for s in summaries]
        if all(isinstance(v, (int, float)) for v in values):
            pooled[name] = float(np.dot(values, users) / max(sum(users), 1.0))
    return pooled


def _evaluation_config(cfg: TrainConfig, split: str, max_len: int, model=None):
    """The evaluator's config; with ``model``, per-behaviour lists asked for each behaviour when the model takes
    a target behaviour (tests only: validation reads the overall metric)."""
    from tfseqrec.evaluation import EvaluationConfig

    return EvaluationConfig(
        ks=tuple(cfg.ks),
        filter_seen=cfg.filter_seen,
        batch_size=cfg.eval_batch_size,
        max_len=max_len,
        split=split,
        condition_on_behaviour=getattr(model, "target_behaviour", None) is not None,
    )


def train_dataset(
    spec: FeatureSpec, cfg: TrainConfig, max_len: int, input_features: Sequence[str] = ("item_ids",)
) -> tf.data.Dataset:
    """Left-padded training batches of ``max_len + 1`` items (inputs and shifted targets), shuffled,
    holding ``input_features`` (each ``[B, max_len + 1]``, aligned with ``item_ids``); or GRU4Rec's
    session-parallel mini-batches when ``cfg.batching == "session_parallel"``."""
    names = tuple(input_features)
    if cfg.batching == "session_parallel":
        if names != ("item_ids",):
            raise ValueError(
                f"batching=session_parallel feeds item ids only; this model reads {list(names)}: use batching=padded"
            )
        from tfseqrec.data.session_parallel import SessionParallelConfig, make_session_parallel_dataset

        return make_session_parallel_dataset(
            spec, "train", SessionParallelConfig(batch_size=cfg.batch_size, seed=cfg.seed)
        )
    ds = make_dataset(
        spec,
        "train",
        SequenceBatchConfig(
            batch_size=cfg.batch_size,
            max_len=max_len + 1,
            padding="left",
            shuffle_buffer=cfg.shuffle_buffer,
            seed=cfg.seed,
            include_timestamps="timestamps" in names,
            include_event_types="event_types" in names,
            bucket_pool_batches=cfg.bucket_pool_batches,
            windows=cfg.train_windows,
        ),
    )
    return ds.map(lambda b: {name: b[name] for name in names})


def training_rows(spec: FeatureSpec, cfg: TrainConfig, max_len: int) -> int:
    """Training rows per epoch: records, or with ``train_windows`` ``all`` / ``prefixes`` their windows (counted
    once)."""
    if cfg.train_windows not in ("all", "prefixes") or cfg.batching != "padded":
        return spec.splits["train"].num_records
    config = SequenceBatchConfig(
        batch_size=4096, max_len=max_len + 1, padding="ragged", windows=cfg.train_windows, include_targets=False
    )
    return sum(int(batch["lengths"].shape[0]) for batch in make_dataset(spec, "train", config))


def training_input(
    spec: FeatureSpec, cfg: TrainConfig, max_len: int, input_features: Sequence[str] = ("item_ids",)
) -> tuple:
    """``(dataset for model.fit, steps_per_epoch or None)``.

    Padded batches: one pass per epoch unless ``cfg.steps_per_epoch`` is set (then repeated); with length buckets
    or ``train_windows`` ``all`` / ``prefixes`` repeated too, with ``ceil(rows / batch_size)`` steps per epoch.
    Session-parallel batches: always repeated, with ``cfg.steps_per_epoch`` or the batcher's ``floor(pairs / B)``,
    because their number per pass varies with the session order and Keras would stop at the first shorter pass
    ("input ran out of data").
    """
    if cfg.batching == "session_parallel":
        if tuple(input_features) != ("item_ids",):
            raise ValueError(
                f"batching=session_parallel feeds item ids only; this model reads "
                f"{list(input_features)}: use batching=padded"
            )
        from tfseqrec.data.session_parallel import SessionParallelConfig, make_session_parallel_batcher

        config = SessionParallelConfig(batch_size=cfg.batch_size, seed=cfg.seed)
        batcher = make_session_parallel_batcher(spec, "train", config)
        steps = cfg.steps_per_epoch or batcher.steps_per_epoch()
        return batcher.dataset(config.steps_per_chunk, config.prefetch).repeat(), steps
    data = train_dataset(spec, cfg, max_len, input_features)
    if cfg.steps_per_epoch:
        return data.repeat(), cfg.steps_per_epoch
    if cfg.bucket_pool_batches or cfg.train_windows in ("all", "prefixes"):
        # an explicit epoch length: if one pass ever gave fewer batches than the first, Keras would stop
        return data.repeat(), -(-training_rows(spec, cfg, max_len) // cfg.batch_size)
    return data, None


def parameter_server_input(spec: FeatureSpec, cfg: TrainConfig, max_len: int, input_features: Sequence[str]):
    """A ``DatasetCreator`` for ``ParameterServerStrategy``: worker ``i`` of ``n`` takes every ``n``-th batch of
    the training input, repeated (the coordinator counts the steps of an epoch)."""

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        data, _ = training_input(spec, cfg, max_len, input_features)
        return data.shard(context.num_input_pipelines, context.input_pipeline_id).repeat()

    return tf.keras.utils.experimental.DatasetCreator(dataset_fn)


def train(cfg: TrainConfig, model=None, callbacks: Sequence[tf.keras.callbacks.Callback] = ()) -> dict:
    """Trains, validates, restores the best weights, tests; returns the run summary (also in run.json).

    The model is built and trained under ``cfg.mixed_precision``'s Keras policy (restored afterwards); a
    ``model`` passed in keeps the policy it was built with. ``callbacks`` run after the built-in ones
    (validation, time budget, resume checkpoint). With ``cfg.resume`` a finished run in ``cfg.output_dir``
    is not trained again: its summary is returned.
    """
    if cfg.resume:
        finished = _finished_run(cfg.output_dir)
        if finished is not None:
            if cfg.verbose:
                print(f"resume=true: {cfg.output_dir} holds a finished run; not training it again", flush=True)
            return finished
    if distribution.serve_if_parameter_server_task(cfg.strategy):  # a worker / ps task of a TF_CONFIG cluster
        return {}
    # first: multi_worker configures the collectives
    strategy = distribution.make_strategy(cfg.strategy, local_cluster=tuple(cfg.local_cluster))
    if cfg.strategy != "default":
        if model is not None:
            raise ValueError(f"strategy={cfg.strategy}: let train build the model (in the strategy's scope)")
        distribution.check_global_batch(cfg.batch_size, strategy)
        cfg = dataclasses.replace(cfg, output_dir=distribution.worker_output_dir(cfg.output_dir, strategy))
    policy = resolve_policy(cfg.mixed_precision, bool(tf.config.list_physical_devices("GPU")))
    with keras_policy(policy), strategy.scope():
        return _train(cfg, model, policy, list(callbacks), strategy)


def _finished_run(run_dir: str) -> Optional[dict]:
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    return run if run.get("status") == "finished" else None


def _train(cfg: TrainConfig, model, policy: str, extra_callbacks: list, strategy) -> dict:
    started = time.time()
    import_plugins(cfg.plugins)  # before the model and its loss are looked up by name
    run = _Run(cfg, model, strategy)
    callbacks = run.callbacks(extra_callbacks)
    training_dtype = run.model.compute_dtype
    history = run.fit(callbacks)
    return run.finish(history, policy, training_dtype, started)


class _Run:
    """One invocation of a training run: its data, model, callbacks and bookkeeping.

    ``__init__`` reads the resume state (``cfg.resume``), builds (or takes) the model, warm-starts it
    (``cfg.init_from``), compiles it and writes a ``running`` run.json; :meth:`callbacks` wires validation,
    logging, the time budget and the resume checkpoint; :meth:`fit` trains; :meth:`finish` tests the trained
    weights and writes the finished run.json.
    """

    def __init__(self, cfg: TrainConfig, model, strategy=None):
        self.cfg = cfg
        self.state = resume.read_state(cfg.output_dir, cfg.to_dict()) if cfg.resume else None
        if self.state is None:
            resume.clear(cfg.output_dir)  # a fresh run: an earlier run's resume state must not outlive it
        elif cfg.verbose:
            print(
                f"resume=true: continuing {cfg.output_dir} after epoch {self.state['epoch']} (best "
                f"{cfg.validation_metric} {self.state['validation']['best']:.4f} at epoch "
                f"{self.state['validation']['best_epoch']})",
                flush=True,
            )
        self.epochs_done = self.state["epoch"] if self.state else 0
        # a resumed invocation draws new batches and dropout masks (the data iterator is not checkpointed)
        tf.keras.utils.set_random_seed(cfg.seed + self.epochs_done)
        self.spec = load_feature_spec(cfg.data_dir)
        missing = [s for s in cfg.validation_splits if s not in self.spec.splits]
        if cfg.validation_splits != ("valid",) and (missing or not cfg.validation_splits):
            raise ValueError(
                f"validation_split={cfg.validation_split!r}: {cfg.data_dir} has the splits {sorted(self.spec.splits)}"
            )
        item_counts = load_item_counts(self.spec)
        self.item_counts = np.asarray(item_counts)
        if model is None:
            model = build_model(
                cfg.model, cfg.model_config, self.spec.vocabulary.size, item_counts=item_counts, spec=self.spec
            )
        self.model, self.max_len = model, model.config.max_len
        check_input_features(model, self.spec)
        teacher = None
        if cfg.distillation.enabled:
            teacher, _, teacher_spec = load_trained_model(cfg.distillation.teacher)
            grown = teacher.num_items < model.num_items
            if grown:  # a teacher of an earlier slice: its ids must mean the same items here
                check_prefix_vocabulary(self.spec, teacher_spec)
            attach_teacher(model, teacher, cfg.distillation, grown=grown)
        if self.state is not None:
            self.initialised_from = self.state["initialised_from"]
        else:
            self.initialised_from = warm_start(model, cfg.init_from, self.spec) if cfg.init_from else None
        data_cfg = dataclasses.replace(cfg, seed=cfg.seed + self.epochs_done)
        self.data, self.steps_per_epoch = training_input(self.spec, data_cfg, self.max_len, model.input_features)
        self.replay_memory = None
        if cfg.replay.enabled:
            herding = cfg.replay.selection == "herding"
            memory_started = time.time()
            self.data, self.steps_per_epoch = with_replay(
                self.data,
                self.steps_per_epoch,
                self.spec,
                data_cfg,
                self.max_len,
                model.input_features,
                memory_model=self._previous_model(teacher) if herding else None,
            )
            if herding:  # the exemplars' choice is compute of this run (a forward pass over the earlier slices)
                self.replay_memory = {"selection": "herding", "seconds": time.time() - memory_started}
        steps = self.steps_per_epoch or -(-training_rows(self.spec, cfg, self.max_len) // cfg.batch_size)
        if cfg.strategy == "parameter_server":  # each worker reads its own share of the batches, repeated
            self.data = parameter_server_input(self.spec, data_cfg, self.max_len, model.input_features)
            self.steps_per_epoch = self.steps_per_epoch or steps
        if cfg.strategy == "multi_worker":  # every worker runs the same number of steps, whatever its shard holds
            files = tf.io.gfile.glob(self.spec.split_pattern("train"))
            workers = distribution.num_workers(strategy)
            self.data = self.data.with_options(distribution.shard_options(len(files), workers))
            if self.steps_per_epoch is None:
                self.data, self.steps_per_epoch = self.data.repeat(), steps
        model.compile(optimizer=build_optimizer(cfg.optimizer, steps * cfg.epochs), jit_compile=cfg.jit_compile)
        self.pruning = MagnitudePruning(cfg.pruning, self.steps_per_epoch or steps) if cfg.pruning.enabled else None
        self.checkpoint_path = os.path.join(cfg.output_dir, CHECKPOINT)
        self.best_weights = (
            resume.restore(model, self.state, cfg.output_dir, self.checkpoint_path) if self.state else None
        )
        if self.initialised_from and self.state is None:
            reset_optimizer(model)
        os.makedirs(cfg.output_dir, exist_ok=True)
        # Written now so that `tfseqrec evaluate` can score the best checkpoint of an unfinished run.
        _write_run(
            cfg.output_dir,
            {
                "status": "running",
                "model": cfg.model,
                "model_config": model.config.to_dict(),
                "config": cfg.to_dict(),
                "num_items": self.spec.vocabulary.size,
            },
        )
        self.earlier = self.state["invocations"] if self.state else []
        self.contention = CpuContention()
        self.timer = EpochTimer()
        self.validation = FullRankingValidation(
            self.validate,
            cfg.validation_metric,
            cfg.validate_every,
            cfg.patience,
            checkpoint_path=self.checkpoint_path,
            verbose=cfg.verbose,
            from_epoch=cfg.pruning.end_epoch if cfg.pruning.enabled else 0,
        )
        self.budget = TimeBudget(cfg.time_budget_minutes, cfg.verbose) if cfg.time_budget_minutes else None
        self.fit_started = None

    def _previous_model(self, teacher):
        """The ``init_from`` run's model, which picks the herded replay memory: the distillation teacher when it
        is that same run (loaded once), else loaded now."""
        cfg = self.cfg
        if teacher is not None and os.path.realpath(cfg.distillation.teacher) == os.path.realpath(cfg.init_from):
            return teacher
        return load_trained_model(cfg.init_from)[0]

    @property
    def validated(self) -> bool:
        return all(split in self.spec.splits for split in self.cfg.validation_splits)

    def validate(self, model) -> dict:
        """Validation metrics; several splits are pooled (each metric averaged over all their users)."""
        summaries = [
            evaluator.evaluate(
                model_score_fn(model),
                self.spec,
                _evaluation_config(self.cfg, split, self.max_len),
                item_counts=self.item_counts,
                verbose=False,
            ).summary
            for split in self.cfg.validation_splits
        ]
        return pooled_summary(summaries)

    def callbacks(self, extra: list) -> list:
        cfg, state = self.cfg, self.state
        history_csv = os.path.join(cfg.output_dir, "history.csv")
        if state is not None:
            self.validation.load_state(state["validation"], self.best_weights)
            self.timer.seconds = list(state["epoch_seconds"])
            resume.truncate_history_csv(history_csv, self.epochs_done)
        callbacks = [self.timer]
        if self.pruning is not None:  # before validation: an epoch's weights are validated with their mask
            callbacks.append(self.pruning)
        if self.validated:
            callbacks.append(self.validation)
            if self.initialised_from is not None and state is None and self.pruning is None:
                self.initialised_from["valid_" + cfg.validation_metric] = self.validation.validate_initial_weights(
                    self.model
                )
        callbacks += [
            HistoryCSVLogger(
                history_csv, validation_log_keys(cfg.ks) if self.validated else (), append=state is not None
            ),
            tf.keras.callbacks.TensorBoard(
                os.path.join(cfg.output_dir, "tensorboard"), write_graph=False, profile_batch=0
            ),
        ]
        if self.budget is not None:
            callbacks.append(self.budget)  # after validation, so the epoch that exhausts it is still validated
        callbacks.append(
            resume.ResumeCheckpoint(
                cfg.output_dir,
                lambda: {
                    "config": cfg.to_dict(),
                    "validation": self.validation.state(),
                    "epoch_seconds": self.timer.seconds,
                    "initialised_from": self.initialised_from,
                    "invocations": self.earlier + [self.invocation()],
                },
            )
        )
        return callbacks + extra

    def invocation(self) -> dict:
        """This invocation's cost so far."""
        _, other_cores = self.contention.so_far()
        return {
            "initial_epoch": self.epochs_done,
            "train_seconds": time.time() - self.fit_started,
            "other_cores_during_training": other_cores,
            "peak_memory_mib": peak_memory_mib(),
        }

    def fit(self, callbacks: list):
        self.fit_started = time.time()
        with self.contention:  # other processes' CPU: is seconds_per_epoch an idle-machine figure?
            # a run killed after its early-stopping epoch but before testing only tests
            stopped = self.state is not None and self.validation.bad_validations >= self.cfg.patience
            history = self.model.fit(
                self.data,
                epochs=self.epochs_done if stopped else self.cfg.epochs,
                initial_epoch=self.epochs_done,
                steps_per_epoch=self.steps_per_epoch,
                callbacks=callbacks,
                verbose=self.cfg.verbose,
            )
        if not self.validated:  # no validation picked a best epoch: the run's weights are the last epoch's
            self.model.save_weights(self.checkpoint_path)
        return history

    def finish(self, history, policy: str, training_dtype, started: float) -> dict:
        """Tests the trained weights (in float32), writes ``<split>/`` and the finished run.json."""
        cfg, validation = self.cfg, self.validation
        invocations = self.earlier + [self.invocation()]
        train_seconds = sum(entry["train_seconds"] for entry in invocations)
        test_split = "test" if "test" in self.spec.splits else "valid"
        eval_started = time.time()
        model = float32_twin(self.model)  # mixed precision: test the trained weights in float32
        result = evaluator.evaluate(
            model_score_fn(model),
            self.spec,
            _evaluation_config(cfg, test_split, self.max_len, model),
            item_counts=self.item_counts,
            verbose=bool(cfg.verbose),
        )
        result.save(os.path.join(cfg.output_dir, test_split))
        summary = {
            "status": "finished",
            "model": cfg.model,
            "model_config": model.config.to_dict(),
            "config": cfg.to_dict(),
            "protocol": result.protocol,
            "num_items": self.spec.vocabulary.size,
            "train_records": self.spec.splits["train"].num_records,
            "epochs_run": self.epochs_done + len(history.history.get("loss", [])),
            "stopped_by": (
                "time_budget"
                if self.budget is not None and self.budget.exhausted
                else "early_stopping"
                if validation.bad_validations >= cfg.patience
                else "epochs"
            ),
            "best_epoch": validation.best_epoch,
            f"best_valid_{cfg.validation_metric}": validation.best,
            "validation_history": validation.history,
            "seconds_per_epoch": float(np.median(self.timer.seconds)) if self.timer.seconds else None,
            "train_seconds": train_seconds,
            "other_cores_during_training": _mean_other_cores(invocations),
            "precision": {"policy": policy, "compute_dtype": str(training_dtype), "test_dtype": "float32"},
            "test_metrics": result.summary,
            "test_split": test_split,
            "eval_seconds": time.time() - eval_started,
            "total_seconds": time.time() - started,
            "peak_memory_mib": max([peak_memory_mib()] + [entry["peak_memory_mib"] for entry in self.earlier]),
            "machine": machine_description(),
        }
        if result.by_behaviour:
            summary["test_by_behaviour"] = result.by_behaviour
        if model.aux_heads:  # each auxiliary head against the best constant predictor
            summary["test_heads"] = evaluate_heads(model, self.spec, test_split, cfg.eval_batch_size)
            with open(os.path.join(cfg.output_dir, test_split, "heads.json"), "w", encoding="utf-8") as f:
                json.dump(summary["test_heads"], f, indent=2)
        if self.replay_memory is not None:
            summary["replay_memory"] = self.replay_memory
        if self.pruning is not None:
            summary["pruning"] = {"target_sparsity": cfg.pruning.sparsity, "item_table_sparsity": table_sparsity(model)}
        if self.state is not None:
            summary["invocations"] = invocations
        if self.initialised_from is not None:
            summary["initialised_from"] = self.initialised_from
            summary["cumulative"] = cumulative(
                self.initialised_from, validation.best_epoch, summary["epochs_run"], train_seconds
            )
        _write_run(cfg.output_dir, summary)
        resume.clear(cfg.output_dir)
        return summary


def _mean_other_cores(invocations: list) -> Optional[float]:
    """Other processes' mean cores over all invocations' training, weighted by their seconds."""
    known = [
        (e["other_cores_during_training"], e["train_seconds"])
        for e in invocations
        if e["other_cores_during_training"] is not None
    ]
    seconds = sum(s for _, s in known)
    return sum(c * s for c, s in known) / seconds if known and seconds > 0 else None


def _write_run(run_dir: str, summary: dict) -> None:
    path = os.path.join(run_dir, RUN_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, default=str)
    os.replace(path + ".tmp", path)


def _with_model_config(run: dict, overrides: Sequence[str]) -> dict:
    """``run`` with ``model_config`` changed by dotted ``key=value`` overrides (e.g. ``adaptation.adapter=film``)."""
    from tfseqrec.training.config import merge_nested, parse_overrides

    if not overrides:
        return run
    return {**run, "model_config": merge_nested(run["model_config"], parse_overrides(list(overrides)))}


def load_trained_model(run_dir: str, model_config: Sequence[str] = ()):
    """Rebuilds a model from ``run.json`` and loads its best checkpoint; ``model_config``: ``key=value``
    changes to the run's model config (weights the checkpoint lacks, such as an adapter added for evaluation,
    keep their initial values)."""
    with open(os.path.join(run_dir, RUN_FILE), encoding="utf-8") as f:
        run = _with_model_config(json.load(f), model_config)
    import_plugins(run["config"].get("plugins", ()))
    spec = load_feature_spec(run["config"]["data_dir"])
    model = build_model(
        run["model"], run["model_config"], run["num_items"], item_counts=load_item_counts(spec), spec=spec
    )
    model.build_for_inputs()
    model.load_weights(os.path.join(run_dir, CHECKPOINT)).expect_partial()
    return model, run, spec


def evaluate_run(
    run_dir: str,
    split: str = "test",
    output_dir: Optional[str] = None,
    verbose: bool = True,
    model_config: Sequence[str] = (),
):
    """Re-evaluates a trained run on a split; writes ``<run_dir>/<split>`` (or ``output_dir``).
    ``model_config``: ``key=value`` changes to the model config for this evaluation (``load_trained_model``)."""
    model, run, spec = load_trained_model(run_dir, model_config)
    result = evaluate_model(model, run, spec, split, verbose)
    result.save(output_dir or os.path.join(run_dir, split))
    return result


def evaluate_model(model, run: dict, spec: FeatureSpec, split: str = "test", verbose: bool = False):
    """``model`` (e.g. a changed copy of a run's model) evaluated on ``split`` under ``run``'s protocol."""
    from tfseqrec.training.config import load_train_config

    check_input_features(model, spec)
    cfg = load_train_config(**run["config"])
    return evaluator.evaluate(
        model_score_fn(model),
        spec,
        _evaluation_config(cfg, split, model.config.max_len, model),
        item_counts=np.asarray(load_item_counts(spec)),
        verbose=verbose,
    )
