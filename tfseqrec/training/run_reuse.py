"""Whether a finished run can stand for the run a benchmark asks for: the same training config.

Benchmarks that keep their runs (``benchmarks/compression.py``, ``benchmarks/incremental.py``) reuse a finished
``tfseqrec train`` directory instead of training again; one trained with other values would silently mix budgets
or settings in one table. ``run.json`` records the resolved config (``TrainConfig.to_dict``), so the check is a
comparison of the two: keys an older run lacks (fields added later) count as their defaults, a copy of the data
directory (the same records and vocabulary) is the same data, and a time budget or an epoch limit that bound
neither run (it stopped sooner, and not by that limit) does not count.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

from tfseqrec.training.config import TrainConfig, load_train_config

IGNORED_KEYS = ("output_dir", "verbose", "resume")  # differ between runs of the same config


def _plain(cfg: TrainConfig) -> dict:
    return json.loads(json.dumps(cfg.to_dict(), default=str))


def _differences(wanted: dict, had: dict, default: dict, prefix: str = "") -> list:
    out = []
    for key in sorted(set(wanted) | set(had)):
        if key in IGNORED_KEYS:
            continue
        mine, theirs = wanted.get(key, default.get(key)), had.get(key, default.get(key))
        if isinstance(mine, dict) and isinstance(theirs, dict):
            out += _differences(mine, theirs, default.get(key) or {}, f"{prefix}{key}.")
        elif mine != theirs:
            out.append(prefix + key)
    return out


def _data_files(data_dir: str) -> dict:
    """name -> sha256 of a data directory's records and vocabulary (what training reads)."""
    names = [n for n in sorted(os.listdir(data_dir)) if ".tfrecord" in n or n == "vocab.tsv"]
    out = {}
    for name in names:
        digest = hashlib.sha256()
        with open(os.path.join(data_dir, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out[name] = digest.hexdigest()
    return out


def same_data(a: str, b: str) -> bool:
    """Whether two data directories are one: the same path, or copies holding the same records and vocabulary."""
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    if not (os.path.isdir(a) and os.path.isdir(b)):
        return False
    files = _data_files(a)
    return bool(files) and files == _data_files(b)


def config_differences(run: dict, wanted: TrainConfig) -> list:
    """Dotted config keys whose value in the finished ``run`` (its ``run.json``) differs from ``wanted``."""
    default = _plain(load_train_config(None, [], data_dir=wanted.data_dir))
    keys = _differences(_plain(wanted), run.get("config", {}), default)
    if "data_dir" in keys and same_data(wanted.data_dir, run["config"].get("data_dir", "")):
        keys.remove("data_dir")
    budget = wanted.time_budget_minutes
    unbound = {
        "time_budget_minutes": run.get("stopped_by") != "time_budget"
        and (budget is None or run.get("train_seconds", float("inf")) < 60 * budget),
        "epochs": run.get("stopped_by") not in (None, "epochs") and run.get("epochs_run", float("inf")) < wanted.epochs,
    }
    return [k for k in keys if not unbound.get(k, False)]


def finished_run(run_dir: str) -> Optional[dict]:
    """``run_dir``'s ``run.json`` when it records a finished ``tfseqrec train`` run, else None."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    return run if run.get("status") == "finished" else None


def reusable_run(run_dir: str, wanted: TrainConfig) -> Optional[dict]:
    """``run_dir``'s ``run.json`` when it holds a finished run of ``wanted``'s config; None when there is no
    finished run (train it); ValueError naming the keys when a finished run was trained with other values."""
    run = finished_run(run_dir)
    if run is None:
        return None
    stale = config_differences(run, wanted)
    if stale:
        raise ValueError(
            f"{run_dir} was trained with other values of {', '.join(stale)} than asked now: remove it to train "
            f"it again, or write the runs elsewhere"
        )
    return run
