"""Benchmark grids: datasets x runs (model, loss, config) x seeds, trained and evaluated cell by cell
(:mod:`.runner`, resumable), then summarised in one Markdown/HTML report with plots (:mod:`.report`).

The grid is a committed YAML file (:mod:`.grid`, e.g. ``benchmarks/grids/smoke.yaml``); the command
line is ``tfseqrec benchmark GRID.yaml --output DIR``. Nothing here imports TensorFlow at import time.
"""

from tfseqrec.benchmark.grid import BenchmarkGrid, Cell, DatasetSpec, GridError, RunSpec, expand_cells, load_grid

__all__ = [
    "BenchmarkGrid",
    "Cell",
    "DatasetSpec",
    "GridError",
    "RunSpec",
    "expand_cells",
    "load_grid",
    "run_grid",
    "write_report",
]


def __getattr__(name):  # Lazy: the runner and the report pull in heavier modules.
    if name == "run_grid":
        from tfseqrec.benchmark.runner import run_grid

        return run_grid
    if name == "write_report":
        from tfseqrec.benchmark.report import write_report

        return write_report
    raise AttributeError(name)
