"""The search space of ``tfseqrec tune``: a base training config and the keys to search, read from YAML.

A space file looks like::

    name: sasrec_ml100k
    config: configs/sasrec_ml1m.yaml        # the preset the search starts from (any `tfseqrec train` config)
    data_dir: out/ml-100k
    overrides: [epochs=100, patience=5]     # applied to the preset and to every trial
    trials: 20
    params:                                  # dotted config keys, sampled in this order
      optimizer.learning_rate: {low: 1.0e-4, high: 3.0e-3, log: true}
      model_config.dropout: {low: 0.0, high: 0.5}
      model_config.num_blocks: {low: 1, high: 3}               # ints: both bounds ints
      optimizer.name: {choices: [adam, adamw]}
      optimizer.weight_decay: {low: 1.0e-4, high: 0.1, log: true, when: {optimizer.name: adamw}}

A parameter with ``when`` is sampled only where every named key (an earlier parameter or a value of the base
config) has one of the listed values; elsewhere the base config's value stays (a conditional key).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from tfseqrec import io_utils
from tfseqrec.training.config import _yaml, parse_overrides

PRUNERS = ("median", "hyperband", "none")


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One searched key: a float or int range (``log`` for a log scale, ``step`` for a grid) or ``choices``."""

    key: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    choices: Optional[tuple] = None
    type: Optional[str] = None
    when: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        where = f"params.{self.key}"
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError(f"{where}: give either choices or low/high, not both")
            if not self.choices:
                raise ValueError(f"{where}: choices is empty")
            object.__setattr__(self, "type", "categorical")
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"{where}: give low and high (a range) or choices (a list)")
            kind = self.type or ("int" if _is_int(self.low) and _is_int(self.high) and not self.log else "float")
            if kind not in ("int", "float"):
                raise ValueError(f"{where}: type={self.type!r}: use int or float (or give choices)")
            if not self.low < self.high:
                raise ValueError(f"{where}: low={self.low} must be below high={self.high}")
            if self.log and self.low <= 0:
                raise ValueError(f"{where}: a log scale needs low > 0 (got {self.low})")
            object.__setattr__(self, "type", kind)
        for key, allowed in self.when.items():
            if not isinstance(allowed, (list, tuple)):
                self.when[key] = [allowed]

    def suggest(self, trial) -> Any:
        """The value an Optuna trial samples for this key."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step, log=self.log)

    def active(self, values: dict) -> bool:
        """Whether ``when`` holds for ``values`` (dotted key -> value)."""
        return all(values.get(key) in allowed for key, allowed in self.when.items())


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class PrunerConfig:
    """Early stopping of bad trials on their validation curve (one step per validation epoch).

    ``median`` stops a trial whose best value so far is below the median of earlier trials at the same epoch,
    after ``startup_trials`` complete trials and ``warmup_epochs`` epochs; ``hyperband`` runs Optuna's
    Hyperband (successive halving brackets from ``min_epochs`` to the config's ``epochs``, factor
    ``reduction_factor``); ``none`` trains every trial to its own early stopping.
    """

    name: str = "median"
    startup_trials: int = 5
    warmup_epochs: int = 4
    min_epochs: int = 2
    reduction_factor: int = 3

    def __post_init__(self):
        if self.name not in PRUNERS:
            raise ValueError(f"pruner.name={self.name!r}: use one of {', '.join(PRUNERS)}")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A search: the base config (``config`` file, ``data_dir``, ``overrides``), ``params`` and the budget.

    ``trials`` counts finished trials (complete or pruned). ``startup_trials`` are drawn at random before TPE
    models the results. ``baseline``: also train the base config unchanged (the preset) once, so the report
    compares the best trial with it on the same data, seed and budget.
    """

    name: str
    config: Optional[str]
    data_dir: Optional[str]
    params: tuple
    overrides: tuple = ()
    trials: int = 20
    seed: int = 0
    startup_trials: int = 8
    pruner: PrunerConfig = dataclasses.field(default_factory=PrunerConfig)
    baseline: bool = True

    def __post_init__(self):
        if not self.params:
            raise ValueError("params is empty: name at least one config key to search")
        if self.trials < 1:
            raise ValueError(f"trials={self.trials} must be >= 1")
        keys = [p.key for p in self.params]
        for i, spec in enumerate(self.params):
            later = [k for k in spec.when if k in keys[i:]]
            if later:
                raise ValueError(
                    f"params.{spec.key}: its condition names {later}, which is sampled later; "
                    f"list the parameters a condition depends on first"
                )

    def base_values(self) -> dict:
        """The base config as a nested dict: the ``config`` file, ``data_dir``, then ``overrides``."""
        from tfseqrec.training.config import merge_nested

        raw: dict = {}
        if self.config:
            raw = _yaml(io_utils.read_text(self.config)) or {}
        if self.data_dir:
            raw["data_dir"] = self.data_dir
        return merge_nested(raw, parse_overrides(list(self.overrides)))

    def sample(self, trial) -> dict:
        """The dotted overrides an Optuna trial draws: every parameter whose condition holds."""
        base = self.base_values()
        chosen: dict = {}
        for spec in self.params:
            values = {**{k: lookup(base, k) for k in spec.when}, **chosen}
            if spec.active(values):
                chosen[spec.key] = spec.suggest(trial)
        return chosen


def lookup(values: dict, dotted: str) -> Any:
    """``values["a"]["b"]`` for ``"a.b"``; None where a key is missing."""
    node: Any = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def load_search_space(path: str, **replace) -> SearchSpace:
    """A :class:`SearchSpace` from YAML; relative ``config`` / ``data_dir`` paths are kept as written (they
    are read from the working directory, like ``tfseqrec train``'s). ``replace`` overrides top-level keys."""
    raw = _yaml(io_utils.read_text(path)) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a search space must be a mapping (see tfseqrec.tuning.space)")
    raw.update({k: v for k, v in replace.items() if v is not None})
    known = {f.name for f in dataclasses.fields(SearchSpace)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; a search space has {sorted(known)}")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: params must map dotted config keys to ranges or choices")
    specs = []
    for key, spec in params.items():
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: params.{key} must be a mapping such as {{low: 0.0, high: 0.5}}")
        fields = {f.name for f in dataclasses.fields(ParamSpec)} - {"key"}
        bad = sorted(set(spec) - fields)
        if bad:
            raise ValueError(f"{path}: params.{key} has unknown keys {bad}; use {sorted(fields)}")
        spec = dict(spec)
        if "choices" in spec:
            spec["choices"] = tuple(spec["choices"])
        specs.append(ParamSpec(key=key, **spec))
    pruner = raw.get("pruner") or {}
    if isinstance(pruner, str):
        pruner = {"name": pruner}
    return SearchSpace(
        name=str(raw.get("name") or os.path.splitext(os.path.basename(path))[0]),
        config=raw.get("config"),
        data_dir=raw.get("data_dir"),
        params=tuple(specs),
        overrides=tuple(raw.get("overrides") or ()),
        trials=int(raw.get("trials", 20)),
        seed=int(raw.get("seed", 0)),
        startup_trials=int(raw.get("startup_trials", 8)),
        pruner=PrunerConfig(**pruner),
        baseline=bool(raw.get("baseline", True)),
    )
