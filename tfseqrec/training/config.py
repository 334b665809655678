"""Typed training configuration, read from YAML/JSON and overridden from the command line.

A config file looks like::

    data_dir: out/ml-1m
    plugins: []               # modules that register models or losses of your own (see TrainConfig)
    model: sasrec
    model_config: {embedding_dim: 64, max_len: 200, num_blocks: 2, loss: {name: full_ce}}
    optimizer: {name: adam, learning_rate: 0.001}
    epochs: 200
    batch_size: 128

and ``key=value`` overrides use dotted paths: ``optimizer.learning_rate=5e-4 model_config.loss.name=bce``.
Values are parsed as YAML scalars (``1e-3``, ``true``, ``[1, 5, 10]``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Optional, Union

import yaml

from tfseqrec import io_utils


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _yaml(text: str):
    return yaml.load(text, Loader=_YamlLoader)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam or AdamW with optional linear warm-up and linear/cosine decay to zero; ``clipnorm`` per step."""

    name: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    beta_2: float = 0.98
    warmup_steps: int = 0
    decay: str = "none"
    clipnorm: Optional[float] = None

    def __post_init__(self):
        if self.name not in ("adam", "adamw"):
            raise ValueError(f"optimizer.name={self.name!r}: use adam or adamw")
        if self.decay not in ("none", "linear", "cosine"):
            raise ValueError(f"optimizer.decay={self.decay!r}: use none, linear or cosine")
        if self.learning_rate <= 0:
            raise ValueError(f"optimizer.learning_rate={self.learning_rate} must be > 0")


@dataclasses.dataclass(frozen=True)
class DistillationConfig:
    """``teacher``: the output directory of a finished ``tfseqrec train`` run (None: no distillation);
    ``temperature`` (> 0) softens both distributions; ``weight`` in (0, 1] is the soft loss's share."""

    teacher: Optional[str] = None
    temperature: float = 2.0
    weight: float = 0.5

    def __post_init__(self):
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise ValueError(f"distillation.temperature={self.temperature!r} must be > 0")
        if not isinstance(self.weight, (int, float)) or not 0.0 < self.weight <= 1.0:
            raise ValueError(f"distillation.weight={self.weight!r} must be in (0, 1]")

    @property
    def enabled(self) -> bool:
        return bool(self.teacher)


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    """``data_dirs``: preprocessed earlier slices whose training sequences are replayed (empty: no replay);
    ``fraction`` in (0, 1): the share of batches drawn from them; ``max_sequences``: a fixed memory of about
    that many earlier sequences per slice (None: all of them), chosen by ``selection``: ``random`` or
    ``herding`` (ADER's exemplars, by the ``init_from`` model's representations; ``tfseqrec.training.herding``)
    (``tfseqrec.training.replay``)."""

    data_dirs: tuple = ()
    fraction: float = 0.3
    max_sequences: Optional[int] = None
    selection: str = "random"

    def __post_init__(self):
        object.__setattr__(self, "data_dirs", tuple(self.data_dirs))
        if not all(isinstance(d, str) and d for d in self.data_dirs):
            raise ValueError(f"replay.data_dirs={self.data_dirs!r}: give preprocessed data directories")
        if not isinstance(self.fraction, (int, float)) or not 0.0 < self.fraction < 1.0:
            raise ValueError(f"replay.fraction={self.fraction!r} must be in (0, 1)")
        if self.max_sequences is not None and (isinstance(self.max_sequences, bool) or self.max_sequences < 1):
            raise ValueError(f"replay.max_sequences={self.max_sequences!r} must be None (all) or >= 1")
        if self.selection not in ("random", "herding"):
            raise ValueError(f"replay.selection={self.selection!r}: use random or herding")
        if self.selection == "herding" and self.max_sequences is None:
            raise ValueError("replay.selection=herding chooses a memory: give its size as replay.max_sequences")

    @property
    def enabled(self) -> bool:
        return bool(self.data_dirs)


@dataclasses.dataclass(frozen=True)
class PruningConfig:
    """Magnitude pruning of the item table (``tfseqrec.training.pruning``): ``sparsity`` in [0, 1) is the target
    share of zero entries (0: no pruning), reached along a cubic schedule from ``begin_epoch`` to ``end_epoch``,
    the masks recomputed every ``frequency`` steps; validation (early stopping, the best weights) starts at
    ``end_epoch``, so that the kept weights have the target sparsity."""

    sparsity: float = 0.0
    begin_epoch: int = 0
    end_epoch: int = 10
    frequency: int = 100

    def __post_init__(self):
        if not isinstance(self.sparsity, (int, float)) or not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"pruning.sparsity={self.sparsity!r} must be in [0, 1) (0: no pruning)")
        if not 0 <= self.begin_epoch <= self.end_epoch:
            raise ValueError(
                f"pruning: begin_epoch={self.begin_epoch} and end_epoch={self.end_epoch} must satisfy "
                f"0 <= begin_epoch <= end_epoch"
            )
        if self.frequency < 1:
            raise ValueError(f"pruning.frequency={self.frequency} must be >= 1 (steps between mask updates)")

    @property
    def enabled(self) -> bool:
        return self.sparsity > 0


# Keras dtype policies a run may train under (``TrainConfig.mixed_precision``; tfseqrec.training.precision).
PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = (
    "default",
    "mirrored",
    "multi_worker",
    "parameter_server",
)  # = tfseqrec.training.distribution.STRATEGIES (no TF import)
TRAIN_WINDOW_MODES = ("latest", "all", "random", "prefixes")  # = tfseqrec.data.loader.WINDOW_MODES (no TF import here)


def check_mixed_precision(value) -> None:
    """Raises ``ValueError`` naming the accepted values unless ``value`` is a bool or a policy name."""
    if isinstance(value, bool) or value in PRECISION_POLICIES:
        return
    raise ValueError(
        f"mixed_precision={value!r}: use false, true (mixed_float16 on a GPU, else float32), "
        f"or one of {list(PRECISION_POLICIES)}"
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: data, architecture, optimisation, validation and outputs.

    ``validation_metric`` is computed with full ranking on ``validation_split`` every ``validate_every``
    epochs (``valid``; a cold-start run meta-learning an adaptation validates on new users held out for it,
    ``cold_valid_k<K>``, or on a list of splits whose users are pooled: ``[cold_valid_k3, cold_valid_k5]``);
    training stops after ``patience`` validations without improvement and the best weights are
    restored. ``steps_per_epoch`` limits an epoch (None = one pass over the training split).
    ``time_budget_minutes`` stops training at the first epoch end past that wall-clock budget (the best
    weights so far are still restored and tested; ``run.json`` says ``stopped_by: time_budget``).
    ``batching``: ``padded`` (whole sequences, every position a target) or ``session_parallel`` (GRU4Rec's
    session-parallel mini-batches, for models that implement them). ``bucket_pool_batches`` (padded batching):
    0 pads every batch to ``max_len + 1``; ``N > 0`` sorts ``N`` batches' worth of shuffled histories by length
    and pads each batch only to its longest history (see ``SequenceBatchConfig``): much faster on data whose
    histories are mostly shorter than ``max_len`` (Amazon, sessions); a batch then holds similar lengths.
    ``train_windows`` (padded batching): ``latest`` trains on each history's latest ``max_len + 1`` items (the
    SASRec reference implementations); ``all`` cuts longer histories into windows so that every training item
    is a target once (as RecBole's one-sample-per-prefix training covers them), more steps per epoch; ``random``
    cuts each history at a random end every epoch (a random prefix, then its latest ``max_len + 1`` items): the
    same steps per epoch as ``latest``, a different context every pass (regularises small datasets);
    ``prefixes`` makes every prefix a row (RecBole's one sample per prefix: ``n - 1`` rows for ``n`` items), for
    cloze training (BERT4Rec), where each prefix is a different masked example ending in the inference task.
    ``mixed_precision``: ``false`` (float32), ``mixed_float16``, ``mixed_bfloat16``, or ``true`` (mixed_float16 on
    a GPU, else float32); losses, scores and the test evaluation stay float32 (``tfseqrec.training.precision``).
    ``plugins``: importable module names (an installed package, or a directory on ``PYTHONPATH``) that the
    trainer imports before it builds the model, so that a model (``@tfseqrec.models.register``) or loss
    (``@tfseqrec.tasks.register_loss``) defined outside tfseqrec can be named by ``model`` and
    ``model_config.loss.name``; the run's ``run.json`` keeps the list, so ``tfseqrec evaluate`` and the export
    import them again. Installed packages can instead declare entry points (groups ``tfseqrec.models``,
    ``tfseqrec.losses``) and need no list; see ``tfseqrec.models.registry``.
    ``init_from``: the output directory of an earlier run of the same architecture; its best weights start
    this run (a warm start: continue a run cut short by its budget, or fine-tune on newer data with the same
    items; see ``tfseqrec.training.warm_start``).
    ``strategy``: ``default`` (one device), ``mirrored`` (this machine's GPUs) or ``multi_worker`` (the cluster in
    ``TF_CONFIG``; every worker runs the same command); ``batch_size`` is then the global batch and the loss the
    mean over it, so the single-process learning rate applies (``tfseqrec.training.distribution``).
    ``parameter_server``: variables on parameter servers, asynchronous workers with ``batch_size`` rows each; the
    cluster of ``TF_CONFIG``, else an in-process one of ``local_cluster = [workers, parameter servers]``.
    ``resume``: continue an unfinished run in ``output_dir`` from its last complete epoch (weights, optimizer,
    validation state; ``tfseqrec.training.resume``) instead of starting it over; a finished one is not trained
    again. The config must be the one the run started with, except ``time_budget_minutes`` (which then counts
    the current invocation) and ``verbose``.
    ``distillation``: train this (small) model on a finished teacher run's soft targets as well as the next item
    (``{teacher: RUN_DIR, temperature: 2.0, weight: 0.5}``; ``tfseqrec.training.distillation``).
    ``replay``: when fine-tuning on a new slice, draw a share of the batches from earlier slices' training
    sequences (``{data_dirs: [...], fraction: 0.3}``; ``tfseqrec.training.replay``).
    ``pruning``: magnitude pruning of the item table to a target sparsity (``{sparsity: 0.8, end_epoch: 10}``;
    ``tfseqrec.training.pruning``).
    """

    data_dir: str
    plugins: tuple = ()
    model: str = "sasrec"
    model_config: dict = dataclasses.field(default_factory=dict)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    epochs: int = 200
    batch_size: int = 128
    steps_per_epoch: Optional[int] = None
    batching: str = "padded"
    shuffle_buffer: int = 10_000
    bucket_pool_batches: int = 0
    train_windows: str = "latest"
    validation_metric: str = "NDCG@10"
    validation_split: Union[str, tuple] = "valid"
    validate_every: int = 1
    patience: int = 10
    time_budget_minutes: Optional[float] = None
    eval_batch_size: int = 256
    filter_seen: bool = True
    ks: tuple = (1, 5, 10, 20)
    seed: int = 42
    jit_compile: bool = False
    mixed_precision: Union[bool, str] = False
    output_dir: str = "runs/latest"
    verbose: int = 1
    init_from: Optional[str] = None
    resume: bool = False
    strategy: str = "default"
    local_cluster: tuple = (2, 1)
    distillation: DistillationConfig = dataclasses.field(default_factory=DistillationConfig)
    replay: ReplayConfig = dataclasses.field(default_factory=ReplayConfig)
    pruning: PruningConfig = dataclasses.field(default_factory=PruningConfig)

    def __post_init__(self):
        if not isinstance(self.plugins, (tuple, list)) or not all(isinstance(m, str) and m for m in self.plugins):
            raise ValueError(
                f"plugins={self.plugins!r}: give a list of importable module names, e.g. [my_package.my_models]"
            )
        if self.batching not in ("padded", "session_parallel"):
            raise ValueError(f"batching={self.batching!r}: use padded or session_parallel")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1 or self.validate_every < 1:
            raise ValueError("epochs, batch_size, patience and validate_every must be >= 1")
        if self.train_windows not in TRAIN_WINDOW_MODES:
            raise ValueError(f"train_windows={self.train_windows!r}: use one of {', '.join(TRAIN_WINDOW_MODES)}")
        if self.bucket_pool_batches < 0:
            raise ValueError(f"bucket_pool_batches={self.bucket_pool_batches} must be >= 0 (0 = no length buckets)")
        if self.time_budget_minutes is not None and not self.time_budget_minutes > 0:
            raise ValueError(f"time_budget_minutes={self.time_budget_minutes} must be > 0 (or null for none)")
        check_mixed_precision(self.mixed_precision)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r}: use one of {', '.join(STRATEGIES)}")
        if self.strategy != "default" and self.batching != "padded":
            raise ValueError(f"strategy={self.strategy} trains padded batches only: use batching=padded")
        if self.strategy == "multi_worker" and self.time_budget_minutes is not None:
            raise ValueError(
                "strategy=multi_worker cannot stop on a wall-clock budget (workers could stop at different "
                "epochs and wait for each other forever): set time_budget_minutes=null and rely on epochs / patience"
            )
        if self.replay.enabled and self.replay.selection == "herding" and not self.init_from:
            raise ValueError(
                "replay.selection=herding picks exemplars by the previous model's representations: set init_from "
                "to the run trained on the earlier slices"
            )
        if self.pruning.enabled and self.strategy == "parameter_server":
            raise ValueError(
                "pruning cannot run with strategy=parameter_server (asynchronous workers would train between a "
                "mask and its application): use default, mirrored or multi_worker"
            )
        if self.pruning.enabled and self.pruning.end_epoch > self.epochs:
            raise ValueError(
                f"pruning.end_epoch={self.pruning.end_epoch} is past epochs={self.epochs}: validation starts at "
                f"end_epoch, so no epoch would be validated"
            )
        if self.init_from is not None and os.path.abspath(self.init_from) == os.path.abspath(self.output_dir):
            raise ValueError(
                f"init_from={self.init_from!r} is this run's output_dir: write the continued run to a "
                f"new directory (the earlier run's checkpoint would be overwritten)"
            )

    @property
    def validation_splits(self) -> tuple:
        """The split(s) validation reads (``validation_split`` as a tuple)."""
        if isinstance(self.validation_split, (tuple, list)):
            return tuple(self.validation_split)
        return (self.validation_split,)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _set_dotted(values: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = values
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {dotted!r}: {key!r} is not a section")
    node[keys[-1]] = value


def parse_overrides(overrides: list[str]) -> dict:
    """``["a.b=1", "c=true"]`` -> ``{"a": {"b": 1}, "c": True}``; values are YAML scalars."""
    values: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        _set_dotted(values, key.strip(), _yaml(raw) if raw.strip() else "")
    return values


def merge_nested(base: dict, extra: dict) -> dict:
    """``base`` with ``extra``'s values; nested mappings merge key by key (a new dict; neither input changes)."""
    out = dict(base)
    for key, value in extra.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge_nested(out[key], value) if nested else value
    return out


def load_train_config(path: Optional[str] = None, overrides: Optional[list[str]] = None, **values) -> TrainConfig:
    """Config from a YAML/JSON file (optional), then keyword values, then ``key=value`` overrides."""
    from tfseqrec.models.registry import config_from_dict

    raw: dict = {}
    if path:
        text = io_utils.read_text(path)
        raw = json.loads(text) if path.endswith(".json") else (_yaml(text) or {})
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a training config must be a mapping of keys to values")
    raw = merge_nested(raw, values)
    raw = merge_nested(raw, parse_overrides(overrides or []))
    if "data_dir" not in raw:
        raise ValueError("no data_dir: give it in the config file or as data_dir=PATH")
    return config_from_dict(TrainConfig, raw)
