"""Benchmark grids: typed dataclasses read from a committed YAML file, and their expansion into cells.

A grid file looks like::

    name: ml100k
    description: SASRec, GRU4Rec and BERT4Rec against baselines on MovieLens-100K
    root: ../..                 # the paths below are relative to this folder (itself relative to this
                                # file; default: the folder of this file)
    seeds: [1, 2, 3]
    metric: NDCG@10             # headline metric of the report, and every run's validation_metric
                                # (a dataset may give its own)
    ks: [1, 5, 10, 20]          # cut-offs computed by the evaluator (the metric's k must be one of them)
    time_budget_minutes: 15     # optional: time_budget_minutes=... for every training run
    filter_seen: true           # optional: filter_seen=... for every run (baselines too)
    overrides: [eval_batch_size=512]      # optional: KEY=VALUE (or a mapping) for every training run
    serving_results: benchmarks/out/serving/results.json   # optional: latency table of the report
    datasets:
      - name: ml100k
        preprocess: {input: ../shared/data/ml-100k/recbole/ml-100k.inter, format: tsv,
                     user-col: "user_id:token", item-col: "item_id:token", item-min-count: 5}
        beam_args: [--direct_num_workers=2]   # optional Beam options of the preprocessing
        overrides: [batch_size=64]            # optional: for every training run on this dataset
      - name: ready
        data_dir: out/ml-1m                   # already preprocessed (``tfseqrec preprocess`` output)
      - name: toy
        synthetic: {num_users: 300, num_items: 120, seed: 1}   # generated log (tfseqrec.synthetic)
        metric: MRR@20                        # optional: this dataset's headline and validation metric
    runs:
      - name: sasrec_ce
        config: configs/sasrec_ml1m.yaml      # or per dataset: {ml1m: configs/a.yaml, beauty: configs/b.yaml}
        overrides: [model_config.max_len=50]
        published: {HR@10: 0.3152, NDCG@10: 0.1821}   # optional: the paper's figures, shown next to ours
        target: {NDCG@10: 0.18}               # optional: bars the mean over seeds must reach (met / not met)
      - name: sasrec_ce_continued
        config: configs/sasrec_ml1m.yaml
        init_from: sasrec_ce                  # starts from the best weights of sasrec_ce's cell of the same
                                              # dataset and seed (an earlier run of the same architecture)
        above: sasrec_ce                      # optional: its target also needs a higher mean headline metric
                                              # than that run, paired Wilcoxon p < 0.05 (shared seed)
      - name: sasrec
        model: sasrec                         # no config file: the trainer's defaults + overrides
        losses: [full_ce, bce]                # expands into sasrec_full_ce and sasrec_bce
      - name: most_popular
        baseline: most_popular                # or transitions: ``tfseqrec evaluate --baseline`` (one seed)
        datasets: [ml100k]                    # optional: only on these datasets
    pairs: [[sasrec_ce_continued, sasrec_ce]]   # optional: the report's paired comparisons (A - B), on every
                                                # dataset both ran; default: every pair of runs of a dataset

Every cell is (dataset, run, seed). Training overrides apply in the order grid, dataset, run, then the
grid's own settings (``ks``, ``validation_metric``, ``time_budget_minutes``, ``filter_seen``) and last
``seed=<seed>``; a continuation adds ``init_from=<its parent's cell folder>`` after the run's overrides.
Baselines are deterministic, so they get one cell (the first seed) per dataset. A run whose ``config`` is a
per-dataset mapping runs only on the datasets it names (``"*"`` = any other). A continuation's parent must come
earlier in ``runs`` and run on every dataset the continuation runs on; selecting a continuation (``only_runs``)
selects its parents too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
BASELINES = ("most_popular", "transitions")


class GridError(ValueError):
    """A grid file that cannot be used; the message names the file and the offending key."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from: exactly one of ``data_dir`` (already preprocessed), ``preprocess``
    (``tfseqrec preprocess`` flags, without ``--output-dir``) or ``synthetic`` (a generated log, see
    :class:`tfseqrec.synthetic.SyntheticConfig`; ``preprocess`` then adds flags, its input is the log).

    Paths are absolute after :func:`load_grid`. ``overrides`` go to every training run on this dataset;
    ``filter_seen`` and ``metric`` (optional) override the grid's.
    """

    name: str
    data_dir: Optional[str] = None
    preprocess: dict = dataclasses.field(default_factory=dict)
    synthetic: Optional[dict] = None
    beam_args: tuple = ()
    overrides: tuple = ()
    filter_seen: Optional[bool] = None
    metric: Optional[str] = None
    description: str = ""

    def preprocess_args(self, inputs: Iterable[str] = ()) -> list[str]:
        """``tfseqrec preprocess`` arguments (without ``--output-dir``): ``--input`` first."""
        args = [arg for path in inputs for arg in ("--input", str(path))]
        for key, value in self.preprocess.items():
            flag = "--" + key.replace("_", "-")
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if v is True:
                    args.append(flag)
                elif v is False or v is None:
                    continue
                else:
                    args += [flag, str(v)]
        return args


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One row of the report: a training config (file and/or model name, plus overrides) or a baseline.

    ``config`` maps a dataset name (or ``"*"``) to a config file; ``datasets`` (optional) restricts the run.
    ``published`` (``{metric: value}``) and ``target`` (``{metric: bar}``) are shown in the report, where the
    target is met when the mean over seeds of every named metric reaches its bar and, with ``above``, the run
    also beats that run (see :mod:`.report`). ``init_from``: the run whose cell of the same dataset and seed
    gives this run's starting weights (a continuation).
    """

    name: str
    config: dict = dataclasses.field(default_factory=dict)
    model: Optional[str] = None
    baseline: Optional[str] = None
    overrides: tuple = ()
    datasets: Optional[tuple] = None
    published: dict = dataclasses.field(default_factory=dict)
    target: dict = dataclasses.field(default_factory=dict)
    above: Optional[str] = None
    init_from: Optional[str] = None
    description: str = ""

    @property
    def kind(self) -> str:
        return "baseline" if self.baseline else "train"

    def config_for(self, dataset: str) -> Optional[str]:
        return self.config.get(dataset, self.config.get("*"))

    def applies_to(self, dataset: str) -> bool:
        if self.datasets is not None and dataset not in self.datasets:
            return False
        return self.baseline is not None or not self.config or self.config_for(dataset) is not None


@dataclasses.dataclass(frozen=True)
class BenchmarkGrid:
    """A whole benchmark: datasets x runs x seeds, the headline metric and the shared settings.

    ``pairs``: the ``(A, B)`` run pairs the report compares (empty: every pair of runs of a dataset).
    """

    name: str
    datasets: tuple
    runs: tuple
    seeds: tuple = (1,)
    metric: str = "NDCG@10"
    ks: tuple = (1, 5, 10, 20)
    time_budget_minutes: Optional[float] = None
    filter_seen: Optional[bool] = None
    overrides: tuple = ()
    serving_results: Optional[str] = None
    pairs: tuple = ()
    description: str = ""
    path: Optional[str] = None
    root: Optional[str] = None

    def dataset(self, name: str) -> DatasetSpec:
        return next(d for d in self.datasets if d.name == name)

    def run(self, name: str) -> RunSpec:
        return next(r for r in self.runs if r.name == name)

    def metric_for(self, dataset: DatasetSpec) -> str:
        """The dataset's headline (and validation) metric: its own, else the grid's."""
        return dataset.metric or self.metric

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One unit of work: a run on a dataset with a seed, in ``<output>/runs/<dataset>/<run>/seed<seed>``."""

    dataset: DatasetSpec
    run: RunSpec
    seed: int

    @property
    def key(self) -> str:
        return f"{self.dataset.name}/{self.run.name}/seed{self.seed}"

    def directory(self, output_dir) -> Path:
        return Path(output_dir) / "runs" / self.dataset.name / self.run.name / f"seed{self.seed}"

    @property
    def config_path(self) -> Optional[str]:
        return self.run.config_for(self.dataset.name)


def expand_cells(
    grid: BenchmarkGrid, only_datasets: Optional[Iterable[str]] = None, only_runs: Optional[Iterable[str]] = None
) -> list[Cell]:
    """The grid's cells, dataset by dataset, run by run, seed by seed (baselines: the first seed only).

    ``only_runs`` brings in the runs that the chosen continuations start from (``init_from``, transitively);
    as parents come earlier in the grid, their cells come before their continuations'.
    """
    only_datasets = _check_names("dataset", only_datasets, [d.name for d in grid.datasets])
    only_runs = _check_names("run", only_runs, [r.name for r in grid.runs])
    for name in list(only_runs or ()):
        while grid.run(name).init_from is not None:
            name = grid.run(name).init_from
            only_runs.add(name)
    cells = []
    for dataset in grid.datasets:
        if only_datasets is not None and dataset.name not in only_datasets:
            continue
        for run in grid.runs:
            if (only_runs is not None and run.name not in only_runs) or not run.applies_to(dataset.name):
                continue
            for seed in grid.seeds[:1] if run.baseline else grid.seeds:
                cells.append(Cell(dataset, run, seed))
    return cells


def _check_names(what: str, chosen: Optional[Iterable[str]], known: list[str]) -> Optional[set]:
    if chosen is None:
        return None
    chosen = list(chosen)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise GridError(f"unknown {what}(s) {unknown}; the grid has {known}")
    return set(chosen)


# ------------------------------------------------------------------------------------------------ loading
_GRID_KEYS = {
    "name",
    "description",
    "root",
    "seeds",
    "metric",
    "ks",
    "time_budget_minutes",
    "filter_seen",
    "overrides",
    "serving_results",
    "pairs",
    "datasets",
    "runs",
}
_DATASET_KEYS = {
    "name",
    "data_dir",
    "preprocess",
    "synthetic",
    "beam_args",
    "overrides",
    "filter_seen",
    "metric",
    "description",
}
_RUN_KEYS = {
    "name",
    "config",
    "model",
    "baseline",
    "overrides",
    "losses",
    "datasets",
    "published",
    "target",
    "above",
    "init_from",
    "description",
}
_METRIC = re.compile(r"^[A-Za-z_]+(@(\d+))?$")


def load_grid(path) -> BenchmarkGrid:
    """Reads and checks a grid file; raises :class:`GridError` naming the file and the bad key."""
    path = Path(path)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridError(f"{where}: no such grid file") from None
    except yaml.YAMLError as e:
        raise GridError(f"{where}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise GridError(f"{where}: a grid must be a mapping with datasets and runs")
    _unknown(where, "", raw, _GRID_KEYS)
    for key in ("datasets", "runs"):
        if not raw.get(key):
            raise GridError(f"{where}: '{key}' is missing or empty")
        if not isinstance(raw[key], list):
            raise GridError(f"{where}: '{key}' must be a list")
    base = path.resolve().parent
    root = (base / _string(where, "root", raw["root"])).resolve() if raw.get("root") else base
    ks = _int_list(where, "ks", raw.get("ks", [1, 5, 10, 20]))
    metric = _metric(where, "metric", raw.get("metric", "NDCG@10"), ks)
    seeds = _int_list(where, "seeds", raw.get("seeds", [1]))
    budget = raw.get("time_budget_minutes")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
        raise GridError(f"{where}: time_budget_minutes: must be a positive number of minutes or null, got {budget!r}")
    datasets = tuple(_dataset(where, i, d, root, ks) for i, d in enumerate(raw["datasets"]))
    runs = tuple(run for i, r in enumerate(raw["runs"]) for run in _runs(where, i, r, root, ks))
    _unique(where, "datasets", [d.name for d in datasets])
    _unique(where, "runs", [r.name for r in runs])
    names = {d.name for d in datasets}
    for i, run in enumerate(runs):
        for name in list(run.datasets or ()) + [k for k in run.config if k != "*"]:
            if name not in names:
                raise GridError(f"{where}: runs ({run.name}): dataset {name!r} is not in datasets ({sorted(names)})")
    _check_links(where, runs, [d.name for d in datasets])
    serving = raw.get("serving_results")
    return BenchmarkGrid(
        name=_name(where, "name", raw.get("name", path.stem)),
        datasets=datasets,
        runs=runs,
        seeds=tuple(seeds),
        metric=metric,
        ks=tuple(ks),
        time_budget_minutes=budget,
        filter_seen=_bool(where, "filter_seen", raw.get("filter_seen")),
        overrides=_overrides(where, "overrides", raw.get("overrides")),
        serving_results=str(root / _string(where, "serving_results", serving)) if serving else None,
        pairs=_pairs(where, raw.get("pairs"), runs, [d.name for d in datasets]),
        description=_string(where, "description", raw.get("description", "")),
        path=str(path.resolve()),
        root=str(root),
    )


def _check_links(where: str, runs: tuple, datasets: list[str]) -> None:
    """``init_from`` names an earlier training run that covers the continuation's datasets; ``above`` names
    another run that shares a dataset with it."""
    earlier: dict = {}
    for run in runs:
        at = f"runs ({run.name})"
        if run.init_from is not None:
            parent = earlier.get(run.init_from)
            if parent is None:
                known = [r.name for r in runs]
                raise GridError(
                    f"{where}: {at}.init_from: {run.init_from!r} is not "
                    + (
                        "an earlier run: a continuation's parent must come before it in runs"
                        if run.init_from in known
                        else f"a run of this grid ({', '.join(known)})"
                    )
                )
            if parent.baseline:
                raise GridError(f"{where}: {at}.init_from: {parent.name!r} is a baseline; continue a training run")
            missing = [d for d in datasets if run.applies_to(d) and not parent.applies_to(d)]
            if missing:
                raise GridError(
                    f"{where}: {at}.init_from: {parent.name!r} does not run on {', '.join(missing)}, "
                    f"where this run does"
                )
        if run.above is not None:
            if run.above == run.name or run.above not in {r.name for r in runs}:
                raise GridError(f"{where}: {at}.above: {run.above!r} is not another run of this grid")
            _shared_dataset(where, f"{at}.above", run, next(r for r in runs if r.name == run.above), datasets)
        earlier[run.name] = run


def _shared_dataset(where: str, at: str, a: RunSpec, b: RunSpec, datasets: list[str]) -> None:
    if not any(a.applies_to(d) and b.applies_to(d) for d in datasets):
        raise GridError(f"{where}: {at}: {a.name!r} and {b.name!r} share no dataset, so they cannot be compared")


def _pairs(where: str, value: Any, runs: tuple, datasets: list[str]) -> tuple:
    """``[[A, B], ...]`` of distinct runs that share a dataset."""
    if value is None:
        return ()
    by_name = {r.name: r for r in runs}
    if not isinstance(value, list):
        raise GridError(f"{where}: pairs: must be a list of [A, B] run pairs, got {value!r}")
    pairs = []
    for i, pair in enumerate(value):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(n, str) for n in pair)
            or pair[0] == pair[1]
        ):
            raise GridError(f"{where}: pairs[{i}]: must be [A, B], two different run names, got {pair!r}")
        unknown = [n for n in pair if n not in by_name]
        if unknown:
            raise GridError(f"{where}: pairs[{i}]: {unknown[0]!r} is not a run of this grid ({', '.join(by_name)})")
        _shared_dataset(where, f"pairs[{i}]", by_name[pair[0]], by_name[pair[1]], datasets)
        pairs.append(tuple(pair))
    _unique(where, "pairs", [" - ".join(p) for p in pairs])
    return tuple(pairs)


def _named_entry(where: str, section: str, index: int, raw: Any, keys) -> tuple[str, str]:
    """``(location, name)`` of entry ``index`` of a list section (``datasets`` / ``runs``), checked: a mapping
    with a valid name and only known keys; the location (``runs[0] (sasrec)``) prefixes later errors."""
    at = f"{section}[{index}]"
    if not isinstance(raw, dict):
        raise GridError(f"{where}: {at}: must be a mapping with a name, got {raw!r}")
    name = _name(where, f"{at}.name", raw.get("name"))
    at = f"{section}[{index}] ({name})"
    _unknown(where, at, raw, keys)
    return at, name


def _dataset(where: str, index: int, raw: Any, root: Path, ks: list[int]) -> DatasetSpec:
    at, name = _named_entry(where, "datasets", index, raw, _DATASET_KEYS)
    sources = [k for k in ("data_dir", "synthetic") if raw.get(k) is not None]
    if raw.get("preprocess") and "synthetic" not in sources:
        sources.append("preprocess")
    if len(sources) != 1:
        raise GridError(
            f"{where}: {at}: give exactly one of data_dir, preprocess or synthetic "
            f"(synthetic may come with extra preprocess flags); got {sources or 'none'}"
        )
    preprocess = raw.get("preprocess") or {}
    if not isinstance(preprocess, dict):
        raise GridError(
            f"{where}: {at}.preprocess: must be a mapping of `tfseqrec preprocess` flags to values "
            f"(e.g. {{input: data.csv, item-min-count: 5}})"
        )
    preprocess = {str(k).replace("_", "-"): v for k, v in preprocess.items()}
    _check_preprocess_flags(where, at, preprocess)
    if "synthetic" in sources:
        if "input" in preprocess:
            raise GridError(f"{where}: {at}.preprocess.input: a synthetic dataset's input is its generated log")
    elif "preprocess" in sources:
        if "input" not in preprocess:
            raise GridError(f"{where}: {at}.preprocess: needs 'input'")
        inputs = preprocess["input"] if isinstance(preprocess["input"], list) else [preprocess["input"]]
        preprocess["input"] = [_resolve(root, str(p)) for p in inputs]
    synthetic = raw.get("synthetic")
    if synthetic is not None:
        if not isinstance(synthetic, dict):
            raise GridError(f"{where}: {at}.synthetic: must be a mapping of SyntheticConfig fields")
        from tfseqrec.synthetic import SyntheticConfig

        fields = {f.name for f in dataclasses.fields(SyntheticConfig)}
        bad = sorted(set(synthetic) - fields)
        if bad:
            raise GridError(f"{where}: {at}.synthetic: unknown key(s) {bad}; known: {sorted(fields)}")
        try:
            SyntheticConfig(**synthetic)
        except (TypeError, ValueError) as e:
            raise GridError(f"{where}: {at}.synthetic: {e}") from None
    beam_args = raw.get("beam_args") or []
    if not isinstance(beam_args, list) or not all(isinstance(a, str) and a.startswith("--") for a in beam_args):
        raise GridError(f"{where}: {at}.beam_args: must be a list of Beam options like --direct_num_workers=1")
    data_dir = raw.get("data_dir")
    return DatasetSpec(
        name=name,
        data_dir=_resolve(root, _string(where, f"{at}.data_dir", data_dir)) if data_dir else None,
        preprocess=preprocess,
        synthetic=dict(synthetic) if synthetic is not None else None,
        beam_args=tuple(beam_args),
        overrides=_overrides(where, f"{at}.overrides", raw.get("overrides")),
        filter_seen=_bool(where, f"{at}.filter_seen", raw.get("filter_seen")),
        metric=_metric(where, f"{at}.metric", raw["metric"], ks) if raw.get("metric") is not None else None,
        description=_string(where, f"{at}.description", raw.get("description", "")),
    )


def _check_preprocess_flags(where: str, at: str, preprocess: dict) -> None:
    from beam_pipelines.options import known_flags

    known = known_flags()
    for key in preprocess:
        if key == "output-dir" or key == "overwrite":
            raise GridError(f"{where}: {at}.preprocess.{key}: set by the runner (data go to <output>/data/<name>)")
        if key not in known:
            raise GridError(
                f"{where}: {at}.preprocess.{key}: not a `tfseqrec preprocess` flag; known: "
                f"{', '.join(sorted(known - {'output-dir', 'overwrite'}))}"
            )


def _runs(where: str, index: int, raw: Any, root: Path, ks: list[int]) -> list[RunSpec]:
    at, name = _named_entry(where, "runs", index, raw, _RUN_KEYS)
    baseline = raw.get("baseline")
    config = raw.get("config")
    model = raw.get("model")
    if baseline is not None:
        if baseline not in BASELINES:
            raise GridError(f"{where}: {at}.baseline: {baseline!r} is not one of {list(BASELINES)}")
        extra = [k for k in ("config", "model", "overrides", "losses", "init_from") if raw.get(k)]
        if extra:
            raise GridError(f"{where}: {at}: a baseline takes no {', '.join(extra)}")
    elif config is None and model is None:
        raise GridError(f"{where}: {at}: give a config file, a model name or a baseline")
    configs: dict = {}
    if config is not None:
        mapping = config if isinstance(config, dict) else {"*": config}
        for dataset, file in mapping.items():
            key = f"{at}.config" + ("" if dataset == "*" and not isinstance(config, dict) else f".{dataset}")
            resolved = Path(_resolve(root, _string(where, key, file)))
            if not resolved.is_file():
                raise GridError(f"{where}: {key}: config file {resolved} does not exist")
            configs[str(dataset)] = str(resolved)
    datasets = raw.get("datasets")
    if datasets is not None and (not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets)):
        raise GridError(f"{where}: {at}.datasets: must be a list of dataset names")
    overrides = _overrides(where, f"{at}.overrides", raw.get("overrides"))
    common = dict(
        config=configs,
        model=_string(where, f"{at}.model", model) if model else None,
        baseline=baseline,
        datasets=tuple(datasets) if datasets is not None else None,
        published=_figures(where, f"{at}.published", raw.get("published"), ks),
        target=_figures(where, f"{at}.target", raw.get("target"), ks),
        above=_name(where, f"{at}.above", raw["above"]) if raw.get("above") is not None else None,
        init_from=(_name(where, f"{at}.init_from", raw["init_from"]) if raw.get("init_from") is not None else None),
        description=_string(where, f"{at}.description", raw.get("description", "")),
    )
    losses = raw.get("losses")
    if losses is None:
        model_override = (f"model={model}",) if model and not baseline else ()
        return [RunSpec(name=name, overrides=model_override + overrides, **common)]
    if not isinstance(losses, list) or not losses or not all(isinstance(x, str) for x in losses):
        raise GridError(f"{where}: {at}.losses: must be a non-empty list of loss names (e.g. [full_ce, bce])")
    model_override = (f"model={model}",) if model else ()
    return [
        RunSpec(
            name=_name(where, f"{at}.losses", f"{name}_{loss}"),
            overrides=model_override + (f"model_config.loss.name={loss}",) + overrides,
            **common,
        )
        for loss in losses
    ]


def _metric(where: str, key: str, value: Any, ks: list[int]) -> str:
    """A metric name such as ``NDCG@10`` or ``MRR`` whose cut-off is one of ``ks`` (so that it is computed)."""
    match = _METRIC.match(value) if isinstance(value, str) else None
    if not match:
        raise GridError(f"{where}: {key}: {value!r} is not a metric name such as NDCG@10 or MRR")
    if match.group(2) and int(match.group(2)) not in ks:
        raise GridError(f"{where}: {key}: {value} needs k={match.group(2)} in ks (ks is {ks})")
    return value


def _figures(where: str, key: str, value: Any, ks: list[int]) -> dict:
    """``{metric: number}`` (published figures or target bars)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise GridError(f"{where}: {key}: must be a mapping of metric to number, e.g. {{NDCG@10: 0.18}}; got {value!r}")
    figures = {}
    for metric, number in value.items():
        metric = _metric(where, key, metric, ks)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise GridError(f"{where}: {key}.{metric}: must be a number, got {number!r}")
        figures[metric] = float(number)
    return figures


def _resolve(root: Path, path: str) -> str:
    if "://" in path:
        return path
    return str((root / os.path.expanduser(path)).resolve())


def _unknown(where: str, at: str, raw: dict, known: set) -> None:
    bad = sorted(str(k) for k in set(raw) - known)
    if bad:
        prefix = f"{at}." if at else ""
        raise GridError(
            f"{where}: unknown key {prefix}{bad[0]}"
            + (f" (and {bad[1:]})" if len(bad) > 1 else "")
            + f"; known keys{' of ' + at if at else ''}: {', '.join(sorted(known))}"
        )


def _unique(where: str, key: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise GridError(f"{where}: {key}: the name {name!r} is used twice")
        seen.add(name)


def _name(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise GridError(f"{where}: {key}: {value!r} is not a valid name (letters, digits, _ . -; it names a folder)")
    return value


def _string(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise GridError(f"{where}: {key}: must be a string, got {value!r}")
    return value


def _bool(where: str, key: str, value: Any) -> Optional[bool]:
    if value is not None and not isinstance(value, bool):
        raise GridError(f"{where}: {key}: must be true, false or null, got {value!r}")
    return value


def _int_list(where: str, key: str, value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise GridError(f"{where}: {key}: must be a non-empty list of integers, got {value!r}")
    if len(set(value)) != len(value):
        raise GridError(f"{where}: {key}: has duplicates: {value}")
    return list(value)


def _overrides(where: str, key: str, value: Any) -> tuple:
    """A list of ``KEY=VALUE`` strings, or a mapping of dotted keys to values."""
    if value is None:
        return ()
    if isinstance(value, dict):
        return tuple(f"{k}={json.dumps(v)}" for k, v in value.items())
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise GridError(f"{where}: {key}: must be a list of KEY=VALUE strings or a mapping, got {value!r}")
    return tuple(value)
