"""Runs a benchmark grid cell by cell, resumably, and writes one ``cell.json`` per cell.

Output folder::

    grid.json                                 the grid as loaded (the report reads metric and order from it)
    data/<dataset>/                           preprocessed data (unless the dataset names a data_dir)
    data/<dataset>.csv                        the generated log of a synthetic dataset
    data/<dataset>.train_lengths.json         histogram of training sequence lengths (for targets/epoch)
    runs/<dataset>/<run>/seed<k>/
        cell.json                             what the report reads (below)
        train.log | evaluate.log              the subprocess's output
        run.json, history.csv, checkpoints/   `tfseqrec train` output (training runs)
        test/metrics.json, test/per_user.npz  test evaluation with per-user arrays
        analysis/                             error analysis (tfseqrec.evaluation.analysis)

Each training cell is ``python -m tfseqrec.cli train`` in its own process (so peak memory is per run);
baselines are ``python -m tfseqrec.cli evaluate --baseline``. Preprocessing and the error analysis run in
this process. ``cell.json`` holds: status (``finished`` or ``failed`` with ``error``), the dataset, run and
seed, the command's arguments, the training config, the evaluation protocol, the test metrics, the paths
(relative to the cell) of ``metrics.json`` and ``per_user.npz``, the validation history with elapsed
seconds, timings (seconds per epoch, training targets per epoch and per second, time to the best validation
metric, inference users per second), peak memory, model size (bytes of the saved best weights), the
machine, and the error analysis' segments and failure cases.

A continuation (a run with ``init_from``) trains with ``init_from=<the folder of its parent's cell of the same
dataset and seed>``; that cell must have finished (its cell comes first), else the continuation fails with an
error saying so. ``cell.json`` then also holds ``initialised_from`` (the parent cell and the chain's cost before
it) and ``cumulative`` (epochs and training seconds over the whole chain).

A cell whose ``cell.json`` says ``finished`` is skipped (its files are not touched). A training cell cut short
(a killed grid) with the same arguments resumes from its last complete epoch (``tfseqrec train`` with
``resume=true``; ``tfseqrec.training.resume``); any other cell folder is deleted and the cell run again. A
failed cell is recorded with its error and the grid goes on.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable, Optional

from tfseqrec.benchmark.grid import BenchmarkGrid, Cell, DatasetSpec, expand_cells
from tfseqrec.host.machine import describe as describe_machine

CELL_FILE = "cell.json"
GRID_FILE = "grid.json"
SCHEMA_VERSION = 1
N_FAILURES = 20  # failure cases the analysis keeps (cell.json stores the first 10)


class CellError(RuntimeError):
    """A cell's command failed; the message carries the end of its log."""


def run_grid(
    grid: BenchmarkGrid,
    output_dir,
    only_datasets: Optional[Iterable[str]] = None,
    only_runs: Optional[Iterable[str]] = None,
    progress: bool = True,
) -> list[dict]:
    """Runs every cell of the grid not yet finished; returns the cells' records (``cell.json`` contents)."""
    runner = GridRunner(grid, output_dir)
    return runner.run(expand_cells(grid, only_datasets, only_runs), progress=progress)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_cell(directory) -> Optional[dict]:
    path = Path(directory) / CELL_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path, payload) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, (set, tuple, Path)):
        return list(obj) if not isinstance(obj, Path) else str(obj)
    return str(obj)


class GridRunner:
    """Prepares datasets, runs cells and records them. Each step is a method, so that tests (and other
    executors) can replace one: ``execute`` runs a ``tfseqrec`` command, ``prepare_dataset`` makes the
    data, ``analyze`` runs the error analysis, ``train_lengths`` reads the training sequence lengths."""

    def __init__(
        self, grid: BenchmarkGrid, output_dir, python: str = sys.executable, log: Optional[Callable[[str], None]] = None
    ):
        self.grid = grid
        self.output_dir = Path(output_dir).resolve()
        self.python = python
        self._log = log
        self._data: dict[str, object] = {}  # dataset name -> data dir, or the exception preparing it raised

    # ------------------------------------------------------------------------------------------ the loop
    def run(self, cells: list[Cell], progress: bool = True) -> list[dict]:
        from tqdm.auto import tqdm

        self.output_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.output_dir / GRID_FILE, {"grid": self.grid.to_dict(), "written": now()})
        records = []
        bar = tqdm(cells, desc=f"benchmark {self.grid.name}", unit="cell", disable=not progress, dynamic_ncols=True)
        self._bar = bar
        counts = {"finished": 0, "skipped": 0, "failed": 0}
        for cell in bar:
            bar.set_postfix_str(cell.key)
            existing = read_cell(cell.directory(self.output_dir))
            if existing and existing.get("status") == "finished":
                counts["skipped"] += 1
                self._warn_if_stale(cell, existing)
                records.append(existing)
                continue
            record = self.run_cell(cell)
            counts[record["status"]] += 1
            if record["status"] == "failed":
                self.log(
                    f"{cell.key}: FAILED: {record['error'].splitlines()[0] if record['error'] else ''} "
                    f"(see {cell.directory(self.output_dir) / CELL_FILE})"
                )
            else:
                name = self.grid.metric_for(cell.dataset)
                metric = record["metrics"].get(name)
                self.log(
                    f"{cell.key}: {name} {metric:.4f} in {record['timings']['wall_seconds']:.0f} s"
                    if isinstance(metric, (int, float))
                    else f"{cell.key}: finished"
                )
            records.append(record)
        bar.close()
        self._bar = None
        self.log(
            f"{len(cells)} cells: {counts['finished']} run, {counts['skipped']} already finished (skipped), "
            f"{counts['failed']} failed"
        )
        return records

    def log(self, message: str) -> None:
        if self._log is not None:
            self._log(message)
            return
        bar = getattr(self, "_bar", None)
        if bar is not None and not bar.disable:
            bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def _warn_if_stale(self, cell: Cell, existing: dict) -> None:
        try:
            wanted = self.cell_arguments(cell, self.data_path(cell.dataset), cell.directory(self.output_dir))
        except Exception:  # noqa: BLE001 (a warning only)
            return
        if existing.get("arguments") != wanted:
            self.log(
                f"{cell.key}: finished with other arguments than the grid now gives; kept (delete "
                f"{cell.directory(self.output_dir)} to run it again)"
            )

    # ------------------------------------------------------------------------------------------ one cell
    def _resumable(self, cell: Cell, directory: Path) -> bool:
        """Whether ``directory`` holds a training cell cut short after an epoch, started with the arguments
        the grid gives now (so ``tfseqrec train`` can resume it)."""
        if cell.run.baseline or not (directory / "resume" / "state.json").exists():
            return False
        try:
            wanted = self.cell_arguments(cell, self.data_path(cell.dataset), directory)
        except Exception:  # noqa: BLE001 (then it is run again from scratch)
            return False
        return (read_cell(directory) or {}).get("arguments") == wanted

    def run_cell(self, cell: Cell) -> dict:
        directory = cell.directory(self.output_dir)
        resuming = self._resumable(cell, directory)
        if directory.exists() and not resuming:
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.time()
        record = {
            "schema": SCHEMA_VERSION,
            "status": "running",
            "key": cell.key,
            "grid": self.grid.name,
            "dataset": cell.dataset.name,
            "run": cell.run.name,
            "seed": cell.seed,
            "kind": cell.run.kind,
            "metric": self.grid.metric_for(cell.dataset),
            "started": now(),
            "error": None,
        }
        write_json(directory / CELL_FILE, record)
        try:
            data_dir = self.data_dir(cell.dataset)
            record["data_dir"] = data_dir
            record["arguments"] = self.cell_arguments(cell, data_dir, directory)
            if cell.run.baseline:
                self._baseline_cell(cell, data_dir, directory, record)
            else:
                self._train_cell(cell, data_dir, directory, record)
            record["analysis"] = self.analyze(cell, data_dir, directory, record)
            record["status"] = "finished"
        except Exception as e:  # noqa: BLE001 (recorded; the grid goes on)
            record["status"] = "failed"
            record["error"] = f"{type(e).__name__}: {e}"
            record["traceback"] = traceback.format_exc(limit=8)
        record["finished"] = now()
        record.setdefault("timings", {})["wall_seconds"] = time.time() - started
        write_json(directory / CELL_FILE, record)
        return record

    def cell_arguments(self, cell: Cell, data_dir: str, directory: Path) -> list[str]:
        """The ``tfseqrec`` command line (without ``python -m tfseqrec.cli``) of a cell."""
        grid, dataset, run = self.grid, cell.dataset, cell.run
        filter_seen = dataset.filter_seen if dataset.filter_seen is not None else grid.filter_seen
        if run.baseline:
            args = [
                "evaluate",
                "--data-dir",
                data_dir,
                "--baseline",
                run.baseline,
                "--output-dir",
                str(directory / "test"),
                "--ks",
                *map(str, grid.ks),
            ]
            return args + (["--keep-seen"] if filter_seen is False else [])
        args = ["train"]
        if cell.config_path:
            args += ["--config", cell.config_path]
        args += [
            "--data-dir",
            data_dir,
            "--output-dir",
            str(directory),
            "verbose=2",
            *grid.overrides,
            *dataset.overrides,
            *run.overrides,
        ]
        parent = self.parent_cell(cell)
        if parent is not None:
            args.append(f"init_from={parent.directory(self.output_dir)}")
        args += [f"ks={json.dumps(list(grid.ks))}", f"validation_metric={grid.metric_for(dataset)}"]
        if grid.time_budget_minutes is not None:
            args.append(f"time_budget_minutes={grid.time_budget_minutes:g}")
        if filter_seen is not None:
            args.append(f"filter_seen={'true' if filter_seen else 'false'}")
        return args + [f"seed={cell.seed}"]

    def parent_cell(self, cell: Cell) -> Optional[Cell]:
        """The cell a continuation starts from: its ``init_from`` run on the same dataset and seed."""
        if cell.run.init_from is None:
            return None
        return Cell(cell.dataset, self.grid.run(cell.run.init_from), cell.seed)

    def execute(self, args: list[str], log_path: Path, append: bool = False) -> None:
        """Runs ``python -m tfseqrec.cli ARGS`` with its output in ``log_path`` (added to it with ``append``);
        raises CellError on failure."""
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with open(log_path, "a" if append else "w", encoding="utf-8") as log:
            log.write("$ " + " ".join([self.python, "-m", "tfseqrec.cli", *args]) + "\n")
            log.flush()
            code = subprocess.run(
                [self.python, "-m", "tfseqrec.cli", *args], stdout=log, stderr=subprocess.STDOUT, env=env
            ).returncode
        if code != 0:
            tail = "\n".join(Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
            raise CellError(f"`tfseqrec {args[0]}` exited with status {code}; end of {log_path}:\n{tail}")

    def _train_cell(self, cell: Cell, data_dir: str, directory: Path, record: dict) -> None:
        parent = self.parent_cell(cell)
        if parent is not None:
            status = (read_cell(parent.directory(self.output_dir)) or {}).get("status", "not run")
            if status != "finished":
                raise CellError(
                    f"init_from {parent.key}: that cell is {status}, not finished, so there are no "
                    f"weights to start from; run {parent.run.name!r} on {parent.dataset.name} first"
                )
        # resume=true: a cell cut short goes on from its last epoch (kept by run_cell); else a fresh run
        self.execute([*record["arguments"], "resume=true"], directory / "train.log", append=True)
        run = json.loads((directory / "run.json").read_text(encoding="utf-8"))
        if run.get("status") != "finished":
            raise CellError(f"run.json says status {run.get('status')!r}")
        split = run.get("test_split", "test")
        history = read_history(directory / "history.csv")
        lengths = self.train_lengths(cell.dataset, data_dir)
        targets = train_targets_per_epoch(lengths, run["config"], run.get("model_config", {}))
        seconds_per_epoch = run.get("seconds_per_epoch")
        curve = validation_curve(run.get("validation_history", []), history, self.grid.metric_for(cell.dataset))
        best = next((p for p in curve if p["epoch"] == run.get("best_epoch")), None)
        metrics = run["test_metrics"]
        record.update(
            {
                "model": run.get("model"),
                "model_config": run.get("model_config"),
                "config": run.get("config"),
                "config_file": cell.config_path,
                "protocol": run.get("protocol"),
                "test_split": split,
                "metrics": metrics,
                "metrics_file": f"{split}/metrics.json",
                "per_user_file": f"{split}/per_user.npz",
                "validation_curve": curve,
                "best_epoch": run.get("best_epoch"),
                "epochs_run": run.get("epochs_run"),
                "stopped_by": run.get("stopped_by"),
                "num_items": run.get("num_items"),
                "train_records": run.get("train_records"),
                "initialised_from": _chain_start(run.get("initialised_from"), parent),
                "cumulative": run.get("cumulative"),
                "peak_memory_mib": run.get("peak_memory_mib"),
                "model_size_bytes": model_size_bytes(directory),
                "machine": run.get("machine"),
            }
        )
        record["timings"] = {
            "seconds_per_epoch": seconds_per_epoch,
            "epoch_seconds": [row.get("epoch_seconds") for row in history],
            "train_seconds": run.get("train_seconds"),
            "eval_seconds": run.get("eval_seconds"),
            "total_seconds": run.get("total_seconds"),
            "train_targets_per_epoch": targets,
            "targets_per_second": targets / seconds_per_epoch if targets and seconds_per_epoch else None,
            "time_to_best_seconds": best["elapsed_seconds"] if best else None,
            "inference_users_per_second": _rows_per_second(metrics),
        }

    def _baseline_cell(self, cell: Cell, data_dir: str, directory: Path, record: dict) -> None:
        self.execute(record["arguments"], directory / "evaluate.log")
        payload = json.loads((directory / "test" / "metrics.json").read_text(encoding="utf-8"))
        metrics = payload["summary"]
        record.update(
            {
                "model": cell.run.baseline,
                "model_config": {},
                "config": payload.get("config", {}),
                "config_file": None,
                "protocol": payload.get("protocol"),
                "test_split": payload.get("protocol", {}).get("split", "test"),
                "metrics": metrics,
                "metrics_file": "test/metrics.json",
                "per_user_file": "test/per_user.npz",
                "validation_curve": [],
                "best_epoch": None,
                "epochs_run": 0,
                "stopped_by": None,
                "peak_memory_mib": None,
                "model_size_bytes": None,
                "machine": describe_machine(),
            }
        )
        record["timings"] = {
            "seconds_per_epoch": None,
            "train_seconds": 0.0,
            "eval_seconds": metrics.get("seconds"),
            "train_targets_per_epoch": None,
            "targets_per_second": None,
            "time_to_best_seconds": None,
            "inference_users_per_second": _rows_per_second(metrics),
        }

    # ------------------------------------------------------------------------------------------ data
    def data_path(self, dataset: DatasetSpec) -> str:
        return dataset.data_dir or str(self.output_dir / "data" / dataset.name)

    def data_dir(self, dataset: DatasetSpec) -> str:
        """The dataset's preprocessed folder, made on first use (a failure is remembered for its other cells)."""
        if dataset.name not in self._data:
            try:
                self._data[dataset.name] = self.prepare_dataset(dataset)
            except Exception as e:  # noqa: BLE001
                self._data[dataset.name] = e
        value = self._data[dataset.name]
        if isinstance(value, Exception):
            raise CellError(f"dataset {dataset.name!r} could not be prepared: {type(value).__name__}: {value}")
        return value

    def prepare_dataset(self, dataset: DatasetSpec) -> str:
        out = Path(self.data_path(dataset))
        if dataset.data_dir:
            if not (out / "feature_spec.json").exists():
                raise FileNotFoundError(f"{out} has no feature_spec.json (run `tfseqrec preprocess` into it)")
            return str(out)
        if (out / "feature_spec.json").exists():
            return str(out)
        inputs = []
        if dataset.synthetic is not None:
            from tfseqrec import synthetic

            log_path = out.parent / f"{dataset.name}.csv"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            synthetic.write_csv(synthetic.SyntheticConfig(**dataset.synthetic), str(log_path))
            inputs.append(str(log_path))
        else:
            missing = [
                p for p in dataset.preprocess["input"] if "://" not in p and "*" not in p and not os.path.exists(p)
            ]
            if missing:
                raise FileNotFoundError(f"input {missing[0]} does not exist")
        flags = dataset.preprocess_args(inputs)  # a synthetic log is the input; else preprocess["input"]
        self.log(f"preprocessing {dataset.name} -> {out}")
        preprocess_in_process(flags, str(out), dataset.beam_args)
        return str(out)

    def train_lengths(self, dataset: DatasetSpec, data_dir: str) -> Optional[dict]:
        """``{length: count}`` of the training sequences, cached in ``data/<dataset>.train_lengths.json``."""
        cache = self.output_dir / "data" / f"{dataset.name}.train_lengths.json"
        if cache.exists():
            return {int(k): v for k, v in json.loads(cache.read_text())["lengths"].items()}
        try:
            lengths = read_train_lengths(data_dir)
        except Exception as e:  # noqa: BLE001 (targets/second is then unknown, the cell still counts)
            self.log(f"{dataset.name}: could not read training lengths ({type(e).__name__}: {e})")
            return None
        write_json(cache, {"data_dir": data_dir, "lengths": {str(k): v for k, v in sorted(lengths.items())}})
        return lengths

    # ------------------------------------------------------------------------------------------ analysis
    def analyze(self, cell: Cell, data_dir: str, directory: Path, record: dict) -> dict:
        """Error analysis of the test results (segments and failure cases); its failure does not fail the cell."""
        try:
            from tfseqrec.evaluation.analysis import analyze
        except ImportError as e:
            return {"status": "unavailable", "error": f"tfseqrec.evaluation.analysis: {e}"}
        try:
            from tfseqrec.evaluation.results import EvaluationResult

            result = EvaluationResult.load(str(directory / Path(record["metrics_file"]).parent))
            from tfseqrec.evaluation.analysis import DEFAULT_METRICS

            metrics = tuple(dict.fromkeys([self.grid.metric_for(cell.dataset), *DEFAULT_METRICS]))
            analysis = analyze(result, data_dir, split=record.get("test_split"), n_failures=N_FAILURES, metrics=metrics)
            analysis.write(str(directory / "analysis"))
            return {
                "status": "done",
                "directory": "analysis",
                "segments": [_plain(s) for s in analysis.segments],
                "failures": [_plain(f) for f in list(analysis.failures)[:10]],
            }
        except Exception as e:  # noqa: BLE001
            return {"status": "failed", "error": f"{type(e).__name__}: {e}"}


# ---------------------------------------------------------------------------------------------- helpers
def preprocess_in_process(flags: list[str], output_dir: str, beam_args: Iterable[str] = ()) -> None:
    """``tfseqrec preprocess FLAGS --output-dir OUT --overwrite`` in this process (Beam options as given)."""
    from beam_pipelines import preprocess
    from beam_pipelines.options import check_stats, config_from_flags

    stats = preprocess.run(config_from_flags([*flags, "--output-dir", output_dir]), list(beam_args), overwrite=True)
    if stats and check_stats(stats) != 0:
        raise CellError(f"preprocessing into {output_dir} failed its checks (see its stats.json)")


def read_train_lengths(data_dir: str) -> dict:
    """``{length: count}`` of the training split's sequences (reads the TFRecords with TensorFlow)."""
    import numpy as np

    from tfseqrec.data import SequenceBatchConfig, make_dataset

    counts: dict[int, int] = {}
    for batch in make_dataset(data_dir, "train", SequenceBatchConfig(batch_size=4096, padding="ragged")):
        values, freq = np.unique(batch["lengths"].numpy(), return_counts=True)
        for v, c in zip(values.tolist(), freq.tolist()):
            counts[int(v)] = counts.get(int(v), 0) + int(c)
    return counts


def train_targets_per_epoch(lengths: Optional[dict], config: dict, model_config: dict) -> Optional[int]:
    """Training targets (next-item positions) one epoch sees.

    Padded batches: every (input, next item) pair in the latest ``max_len + 1`` items of each training
    sequence, i.e. ``sum(min(L, max_len + 1) - 1)`` (the same count for every model, BERT4Rec included,
    although its masked loss uses fewer); with ``steps_per_epoch`` set, ``steps x batch x`` that count per
    sequence. Session-parallel batches: ``batch_size`` targets a step, ``sum(L - 1)`` a pass.
    """
    if not lengths:
        return None
    batch_size = int(config.get("batch_size") or 0)
    steps = config.get("steps_per_epoch")
    if config.get("batching") == "session_parallel":
        return int(steps) * batch_size if steps else sum(max(n - 1, 0) * c for n, c in lengths.items())
    max_len = model_config.get("max_len")
    window = (int(max_len) + 1) if max_len else None
    total = sum(max((min(n, window) if window else n) - 1, 0) * c for n, c in lengths.items())
    if steps:
        records = sum(lengths.values())
        return int(round(int(steps) * batch_size * total / max(records, 1)))
    return int(total)


def read_history(path: Path) -> list[dict]:
    """Rows of Keras' ``history.csv`` (numbers as floats; ``epoch`` 1-based)."""
    if not Path(path).exists():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            parsed = {}
            for key, value in row.items():
                try:
                    parsed[key] = float(value)
                except (TypeError, ValueError):
                    parsed[key] = value
            if "epoch" in parsed and isinstance(parsed["epoch"], float):
                parsed["epoch"] = int(parsed["epoch"]) + 1
            rows.append(parsed)
    return rows


def validation_curve(validation_history: list[dict], history: list[dict], metric: str) -> list[dict]:
    """``[{epoch, value, elapsed_seconds}]``: the validation metric after each validated epoch, and the
    wall seconds of training up to then (training steps of every epoch so far + the validations so far)."""
    epoch_seconds = {row["epoch"]: row.get("epoch_seconds") for row in history if isinstance(row.get("epoch"), int)}
    curve, validation_seconds = [], 0.0
    for point in validation_history:
        epoch = int(point["epoch"])
        validation_seconds += float(point.get("seconds") or 0.0)
        steps = [epoch_seconds.get(e) for e in range(1, epoch + 1)]
        elapsed = (
            sum(s for s in steps if isinstance(s, float)) + validation_seconds
            if all(isinstance(s, float) for s in steps)
            else None
        )
        curve.append({"epoch": epoch, "value": point.get(metric), "elapsed_seconds": elapsed})
    return curve


def model_size_bytes(run_dir: Path) -> Optional[int]:
    """Bytes of the saved best weights (``checkpoints/best.*``)."""
    files = list((Path(run_dir) / "checkpoints").glob("best.*"))
    return sum(f.stat().st_size for f in files) if files else None


def _chain_start(initialised_from: Optional[dict], parent: Optional[Cell]) -> Optional[dict]:
    """Where a continuation's weights came from: the parent cell and the chain's cost up to them."""
    if not initialised_from:
        return None
    keep = ("run_dir", "best_epoch", "epochs_run", "train_seconds", "epochs_before", "train_seconds_before")
    return {
        **({"cell": parent.key, "run": parent.run.name} if parent else {}),
        **{k: initialised_from.get(k) for k in keep},
    }


def _rows_per_second(metrics: dict) -> Optional[float]:
    value = metrics.get("users_per_second", metrics.get("events_per_second"))
    return float(value) if isinstance(value, (int, float)) else None


def _plain(obj) -> dict:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return json.loads(json.dumps(dataclasses.asdict(obj), default=_json_default))
    if isinstance(obj, dict):
        return json.loads(json.dumps(obj, default=_json_default))
    return json.loads(json.dumps(vars(obj), default=_json_default))
