"""`tfseqrec benchmark`: run a grid of datasets x runs x seeds from a YAML file, then write the report."""

from __future__ import annotations

import argparse
import sys

from tfseqrec.cli.common import Formatter

BENCHMARK_EPILOG = """\
The grid file (YAML) names datasets (data_dir, preprocess flags or a synthetic log), runs (a training config
and/or model with overrides, optional losses to expand, or a most_popular / transitions baseline), seeds,
the headline metric (also every run's validation_metric; a dataset may give its own) and ks; see
tfseqrec/benchmark/grid.py and the committed grids in benchmarks/grids/. A run may carry published figures
and a target ({metric: bar}, optionally `above: <run>`), which the report shows with a met / not met column,
and may continue another run (`init_from: <run>`: it starts from the best weights of that run's cell of the
same dataset and seed, which runs first). `pairs` picks the report's paired comparisons.

Each cell (dataset, run, seed) trains with `tfseqrec train` in its own process into
OUTPUT/runs/<dataset>/<run>/seed<k>/, keeps the test metrics with per-user arrays, runs the error analysis
and writes cell.json. Cells whose cell.json says finished are skipped, so an interrupted benchmark resumes
where it stopped; a failed cell is recorded with its error and the others go on. The report (report.md,
report.html and PNG plots) is then written from every cell.json of OUTPUT.

examples:
  tfseqrec benchmark benchmarks/grids/smoke.yaml --output /tmp/smoke
  tfseqrec benchmark benchmarks/grids/ml100k.yaml --output benchmarks/out/ml100k --only-runs sasrec_ce most_popular
  tfseqrec benchmark benchmarks/grids/models.yaml --output benchmarks/out/models --only-runs gsasrec_ml1m_continued
  tfseqrec benchmark benchmarks/grids/ml100k.yaml --output benchmarks/out/ml100k --report-only \\
      --serving-results benchmarks/out/serving/results.json

Exit status: 0 when every selected cell finished, 1 when a cell failed, 2 for a bad grid file.
"""


def run_benchmark(args: argparse.Namespace) -> int:
    from tfseqrec.benchmark.grid import GridError, expand_cells, load_grid

    try:
        grid = load_grid(args.grid)
        cells = expand_cells(grid, args.only_datasets, args.only_runs)
    except GridError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    status = 0
    if not args.report_only:
        from tfseqrec.benchmark.runner import GridRunner

        records = GridRunner(grid, args.output).run(cells, progress=not args.no_progress)
        status = 1 if any(r.get("status") != "finished" for r in records) else 0
    from tfseqrec.benchmark.report import write_report

    try:
        path = write_report(
            args.output,
            args.report_dir,
            serving_results=args.serving_results,
            num_resamples=args.num_resamples,
            readme=args.readme,
        )
    except ValueError as e:  # a README without its results block
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"report: {path} and {path.with_suffix('.html')}"
        + (f"; results block of {args.readme} updated" if args.readme else "")
    )
    return status


def add_parser(sub) -> None:
    p = sub.add_parser(
        "benchmark",
        formatter_class=Formatter,
        epilog=BENCHMARK_EPILOG,
        help="run a resumable grid of datasets x models x seeds and write a report",
        description="Train and evaluate every cell of a benchmark grid (resumable), then write a "
        "Markdown/HTML report with accuracy and bootstrap confidence intervals, paired tests, "
        "training curves, efficiency, per-segment results and failure cases.",
    )
    p.add_argument("grid", metavar="GRID.yaml", help="grid file (e.g. benchmarks/grids/smoke.yaml)")
    p.add_argument("--output", "-o", required=True, help="folder for data, runs (cell.json per cell) and the report")
    p.add_argument(
        "--report-dir", default=None, help="where report.md, report.html and the plots go; None: OUTPUT/report"
    )
    p.add_argument("--report-only", action="store_true", help="run nothing; write the report from OUTPUT's cells")
    p.add_argument("--only-datasets", nargs="+", default=None, metavar="NAME", help="run only these datasets")
    p.add_argument(
        "--only-runs",
        nargs="+",
        default=None,
        metavar="NAME",
        help="run only these runs (names as expanded: a run with losses is <name>_<loss>) and the runs "
        "their continuations start from",
    )
    p.add_argument(
        "--serving-results",
        default=None,
        metavar="PATH",
        help="JSON of benchmarks/serving.py (or a folder of them) for the latency table; "
        "None: the grid's serving_results, if any",
    )
    p.add_argument(
        "--readme",
        default=None,
        metavar="PATH",
        help="also replace the results block of this Markdown file (between the lines "
        "'<!-- tfseqrec-benchmark-results:start -->' and '<!-- tfseqrec-benchmark-results:end -->') by "
        "a summary of the report: the README's Results section is generated this way",
    )
    p.add_argument("--num-resamples", type=int, default=10_000, help="bootstrap resamples of the report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
