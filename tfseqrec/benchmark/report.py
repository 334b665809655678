"""The benchmark report: ``report.md`` and ``report.html`` (the same tables) with PNG plots, from the
``cell.json`` files of a grid's output folder (:mod:`tfseqrec.benchmark.runner`).

Statistics (``tfseqrec.evaluation.stats``):

* **Accuracy**: per dataset x run, the headline metric as mean ± sample std over the seeds, and a 95%
  bootstrap confidence interval over *test users*: each user's metric is first averaged over the run's seeds
  (rows are paired by ``sequence_id``, plus the event position for session splits), then the users are
  resampled (10,000 resamples, fixed seed). The interval is about which users happen to be in the test set;
  the spread over training seeds is the separate ± std.
* **Published figures and targets** (runs with ``published``, ``target`` or ``above`` in the grid): the means
  over seeds next to the paper's figures, and whether the target is met: every named metric's mean reaches
  its bar and, with ``above``, the run's mean headline metric is above that run's with a paired Wilcoxon
  signed-rank p < 0.05 (same seed, shared users).
* **Pairwise comparisons**: within each dataset, every pair of runs (or the grid's ``pairs``) on the same seed
  (the smallest seed both finished) over the users they share: mean difference with a 95% bootstrap interval,
  paired t-test and Wilcoxon signed-rank p-values, and the Wilcoxon p-values Holm-Bonferroni adjusted over all
  comparisons of the report (one family). Then per dataset the best trained run, its margin over the
  runner-up and a paired test of the two over the rows they share, each row's value averaged over the run's seeds.

The headline metric is the grid's, or a dataset's own (``metric`` of the dataset, e.g. MRR@20 on session data).

Plots (matplotlib, Agg backend, no display needed): ``accuracy.png`` (bars with the bootstrap intervals),
``curves.png`` (validation metric against epochs and against training seconds), ``accuracy_vs_time.png``
and ``segments_<dataset>.png`` (the error analysis' segments, e.g. history length and target popularity).
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import json
import math
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from tfseqrec.benchmark.runner import CELL_FILE, GRID_FILE

CONFIDENCE = 0.95
NUM_RESAMPLES = 10_000
N_FAILURES_SHOWN = 5
PLOT_DIMENSIONS = ("history_length", "target_popularity", "session_position")  # segment dimensions plotted


# ------------------------------------------------------------------------------------------------ loading
def load_cells(output_dir) -> list[dict]:
    """Every ``cell.json`` under ``<output_dir>/runs``, with ``_dir`` (the cell's folder) added."""
    cells = []
    for path in sorted(Path(output_dir).glob(f"runs/*/*/*/{CELL_FILE}")):
        try:
            cell = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        cell["_dir"] = str(path.parent)
        cells.append(cell)
    return cells


def _grid_info(output_dir) -> dict:
    path = Path(output_dir) / GRID_FILE
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("grid", {})
        except (OSError, ValueError):
            pass
    return {}


def _stats_module():
    try:
        from tfseqrec.evaluation import stats

        return stats
    except ImportError:
        return None


def _analysis_present(cell: dict) -> bool:
    return (cell.get("analysis") or {}).get("status") == "done"


class _PerUser:
    """Per-user arrays of the cells, read once: ``(row keys, values of a metric)``."""

    def __init__(self):
        self._cache: dict = {}

    def get(self, cell: dict, metric: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        key = (cell["_dir"], metric)
        if key not in self._cache:
            self._cache[key] = self._read(cell, metric)
        return self._cache[key]

    @staticmethod
    def _read(cell: dict, metric: str):
        path = Path(cell["_dir"]) / (cell.get("per_user_file") or "test/per_user.npz")
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            if metric not in data.files:
                return None
            ids = data["sequence_ids"].astype(str)
            if "position" in data.files:
                ids = np.char.add(np.char.add(ids, "@"), data["position"].astype(str))
            return ids, data[metric].astype(np.float64)


def _align(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows present in every ``(keys, values)``, in the first one's order: ``(keys, [values...])``."""
    keys = pairs[0][0]
    common = set(keys.tolist())
    for other, _ in pairs[1:]:
        common &= set(other.tolist())
    order = [k for k in keys.tolist() if k in common]
    aligned = []
    for k, v in pairs:
        index = {key: i for i, key in enumerate(k.tolist())}
        aligned.append(v[[index[key] for key in order]])
    return np.asarray(order), aligned


# ------------------------------------------------------------------------------------------------ model
@dataclasses.dataclass
class Group:
    """The finished cells of one run on one dataset (one per seed)."""

    dataset: str
    run: str
    cells: list

    @property
    def is_baseline(self) -> bool:
        return any(c.get("kind") == "baseline" for c in self.cells)

    def values(self, path: tuple) -> list:
        out = []
        for cell in self.cells:
            node: Any = cell
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, (int, float)) and not isinstance(node, bool) and math.isfinite(node):
                out.append(float(node))
        return out


def _groups(cells: list[dict], grid: dict) -> dict[str, list[Group]]:
    """dataset -> groups in the grid's run order (finished cells only)."""
    order = [r["name"] for r in grid.get("runs", [])]
    datasets = [d["name"] for d in grid.get("datasets", [])]
    by: dict[tuple, list] = {}
    for cell in cells:
        if cell.get("status") == "finished":
            by.setdefault((cell["dataset"], cell["run"]), []).append(cell)
    names = sorted({d for d, _ in by}, key=lambda d: (datasets.index(d) if d in datasets else len(datasets), d))
    result = {}
    for dataset in names:
        runs = sorted(
            {r for d, r in by if d == dataset}, key=lambda r: (order.index(r) if r in order else len(order), r)
        )
        result[dataset] = [Group(dataset, r, sorted(by[(dataset, r)], key=lambda c: c["seed"])) for r in runs]
    return result


# ------------------------------------------------------------------------------------------------ document
class _Doc:
    """Blocks rendered to Markdown and to HTML alike."""

    def __init__(self):
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str):
        self.blocks.append(("h", level, text))

    def p(self, text: str):
        self.blocks.append(("p", text))

    def items(self, items: list[str]):
        self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list]):
        self.blocks.append(("table", header, [[_cell_text(v) for v in row] for row in rows]))

    def image(self, path: str, alt: str):
        self.blocks.append(("img", path, alt))

    def pre(self, text: str):
        self.blocks.append(("pre", text))

    def markdown(self) -> str:
        out = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out.append("#" * block[1] + " " + block[2])
            elif kind == "p":
                out.append(block[1])
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in block[1]))
            elif kind == "table":
                header, rows = block[1], block[2]
                lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in rows]
                out.append("\n".join(lines))
            elif kind == "img":
                out.append(f"![{block[2]}]({block[1]})")
            elif kind == "pre":
                out.append("```\n" + block[1] + "\n```")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        body = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
                rows = "".join("<tr>" + "".join(f"<td>{_inline(v)}</td>" for v in row) + "</tr>" for row in block[2])
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "img":
                body.append(f'<p><img src="{html.escape(block[1])}" alt="{html.escape(block[2])}"></p>')
            elif kind == "pre":
                body.append(f"<pre>{html.escape(block[1])}</pre>")
        style = (
            "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.4}"
            "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
            "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}"
            "th{background:#f2f2f2}img{max-width:100%}code{background:#f4f4f4;padding:0 3px}"
            "pre{background:#f4f4f4;padding:0.6em;overflow-x:auto}"
        )
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _num(value)
    return str(value)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _inline(text: str) -> str:
    """HTML of a Markdown-ish line: escaped, with `code` and **bold**."""
    parts = html.escape(str(text)).split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    bold = out.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(bold)) if len(bold) % 2 else out


def _num(x: Optional[float], digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return f"{x:.{digits}f}"


def mean_std(values: list[float], digits: int = 4) -> str:
    """``"mean ± sample std"`` of per-seed values (one value: itself; none: empty)."""
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def _mean(values: list[float]) -> Optional[float]:
    return float(np.mean(values)) if values else None


def _pvalue(p: Optional[float]) -> str:
    if p is None or not isinstance(p, (int, float)) or not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _seconds(x: Optional[float]) -> str:
    if x is None:
        return ""
    return f"{x:.1f} s" if x < 120 else f"{x / 60:.1f} min"


# ------------------------------------------------------------------------------------------------ the report
def write_report(
    output_dir,
    report_dir=None,
    serving_results=None,
    metric: Optional[str] = None,
    num_resamples: int = NUM_RESAMPLES,
    readme=None,
) -> Path:
    """Writes ``report.md``, ``report.html`` and the PNG plots into ``report_dir`` (default:
    ``<output_dir>/report``); returns the path of ``report.md``. ``serving_results``: a JSON file of
    ``benchmarks/serving.py`` or a folder of them (default: the grid's ``serving_results``, if any).
    ``readme``: a Markdown file whose results block (between :data:`RESULTS_START` and
    :data:`RESULTS_END`) is replaced by a summary of this report (see :func:`update_readme`)."""
    output_dir = Path(output_dir)
    report_dir = Path(report_dir) if report_dir else output_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    grid = _grid_info(output_dir)
    cells = load_cells(output_dir)
    metrics = _headline_metrics(grid, cells, metric)
    serving_results = serving_results or grid.get("serving_results")
    groups = _groups(cells, grid)
    ctx = _Report(
        output_dir=output_dir,
        report_dir=report_dir,
        grid=grid,
        cells=cells,
        metrics=metrics,
        groups=groups,
        label=_label(metrics, groups),
        per_user=_PerUser(),
        stats=_stats_module(),
        colors=_colors([r["name"] for r in grid.get("runs", [])] + sorted({c["run"] for c in cells})),
        num_resamples=num_resamples,
    )

    doc = _Doc()
    title = f"Benchmark: {grid.get('name') or output_dir.name}"
    _intro_section(doc, ctx, title)
    accuracy = _accuracy_section(doc, ctx)
    _comparisons_section(doc, ctx)
    _curves_sections(doc, ctx)
    _efficiency_section(doc, ctx)
    if serving_results:
        _serving_section(doc, ctx, serving_results)
    _segments_section(doc, ctx)
    _failures_section(doc, ctx)
    _closing_sections(doc, ctx)

    md_path = report_dir / "report.md"
    md_path.write_text(doc.markdown(), encoding="utf-8")
    (report_dir / "report.html").write_text(doc.html(title), encoding="utf-8")
    if readme is not None:
        update_readme(readme, results_section(groups, accuracy, metrics, cells, grid, md_path, Path(readme)))
    return md_path


@dataclasses.dataclass
class _Report:
    """What the sections of :func:`write_report` read."""

    output_dir: Path
    report_dir: Path
    grid: dict
    cells: list[dict]
    metrics: dict  # dataset -> headline metric
    groups: dict  # dataset -> [Group] (finished cells)
    label: str  # the headline metric in the text (one name, or "headline metric")
    per_user: _PerUser
    stats: Any  # tfseqrec.evaluation.stats, or None
    colors: dict  # run -> plot color
    num_resamples: int


def _failed_cells(cells: list[dict]) -> list[dict]:
    return [c for c in cells if c.get("status") != "finished"]


def _intro_section(doc: _Doc, ctx: _Report, title: str) -> None:
    grid, cells = ctx.grid, ctx.cells
    doc.h(1, title)
    if grid.get("description"):
        doc.p(grid["description"])
    finished = sum(c.get("status") == "finished" for c in cells)
    failed = _failed_cells(cells)
    doc.p(
        f"Generated {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')} from "
        f"{len(cells)} cells in `{ctx.output_dir}` ({finished} finished, {len(failed)} failed or unfinished). "
        f"Headline metric: {_headline_text(ctx.metrics, ctx.groups)} on each dataset's test split"
        + (f"; seeds {', '.join(map(str, grid['seeds']))}" if grid.get("seeds") else "")
        + "."
    )


def _accuracy_section(doc: _Doc, ctx: _Report) -> dict:
    """Per dataset, every run's headline metric over seeds with its bootstrap CI; then the targets.

    Returns ``{(dataset, run): (mean over seeds or None, CI or None)}``.
    """
    doc.h(2, "Accuracy")
    doc.p(
        f"Mean ± sample std over seeds; **95% CI**: bootstrap over test users ({ctx.num_resamples:,} resamples) "
        f"of each user's {ctx.label} averaged over the run's seeds (rows paired by sequence id; the spread over "
        f"seeds is the ± std). Baselines are deterministic and run once."
    )
    accuracy = {}
    for dataset, dataset_groups in ctx.groups.items():
        metric = ctx.metrics[dataset]
        extra = [
            m for m in _extra_metrics(metric) if any(m in c.get("metrics", {}) for g in dataset_groups for c in g.cells)
        ]
        rows = []
        for g in dataset_groups:
            values = g.values(("metrics", metric))
            ci = _group_ci(g, metric, ctx.per_user, ctx.stats, ctx.num_resamples)
            accuracy[(dataset, g.run)] = (_mean(values), ci)
            rows.append(
                [
                    g.run,
                    g.cells[0].get("model", ""),
                    ", ".join(str(c["seed"]) for c in g.cells),
                    mean_std(values),
                    _ci_text(ci),
                    *[mean_std(g.values(("metrics", m))) for m in extra],
                    ", ".join(_num(v) for v in values),
                    _users(g.cells[0]),
                ]
            )
        doc.h(3, dataset)
        doc.table(
            [
                "run",
                "model",
                "seeds",
                f"{metric} mean ± std",
                "95% CI (users)",
                *[f"{m} mean ± std" for m in extra],
                f"{metric} per seed",
                "test rows",
            ],
            rows,
        )
    if ctx.stats is None:
        doc.p("_Confidence intervals and tests are not available: `tfseqrec.evaluation.stats` is not installed._")
    if ctx.groups:
        plot = _plot_accuracy(ctx.groups, accuracy, ctx.metrics, ctx.colors, ctx.report_dir / "accuracy.png")
        if plot:
            doc.image(plot, f"{ctx.label} per run with 95% bootstrap CI")
    _targets_section(doc, ctx.groups, ctx.grid, ctx.metrics, ctx.per_user, ctx.stats, ctx.num_resamples)
    return accuracy


def _comparisons_section(doc: _Doc, ctx: _Report) -> None:
    """Paired tests of runs on the same seed (Holm-adjusted), then the best run per dataset."""
    metric, stats = ctx.label, ctx.stats
    doc.h(2, "Pairwise comparisons")
    pairs = [tuple(p) for p in ctx.grid.get("pairs") or ()]
    comparisons = _comparisons(ctx.groups, ctx.metrics, ctx.per_user, stats, ctx.num_resamples, pairs)
    if comparisons:
        doc.p(
            f"Within each dataset, {'the pairs the grid names' if pairs else 'every pair of runs'} on the same "
            f"seed (the smallest seed both finished), over the test users both have: difference of the "
            f"per-user {metric} (A − B) with a 95% bootstrap interval, paired t-test and Wilcoxon signed-rank "
            f"p-values, and the Wilcoxon p-values "
            f"Holm-Bonferroni adjusted over all {len(comparisons)} comparisons of this report (one family)."
        )
        doc.table(
            [
                "dataset",
                "A",
                "B",
                "seed",
                "users",
                f"{metric} A",
                f"{metric} B",
                "A − B",
                "95% CI of A − B",
                "t-test p",
                "Wilcoxon p",
                "Holm p (Wilcoxon)",
                "note",
            ],
            [
                [
                    d,
                    c.name_a,
                    c.name_b,
                    seed,
                    getattr(c.ttest, "n", ""),
                    _num(c.mean_a),
                    _num(c.mean_b),
                    f"{c.mean_diff:+.4f}",
                    _ci_text(c.diff_ci, signed=True),
                    _pvalue(c.ttest.pvalue),
                    _pvalue(c.wilcoxon.pvalue),
                    _pvalue(c.pvalue_holm),
                    note,
                ]
                for d, seed, c, note in comparisons
            ],
        )
    else:
        doc.p(
            "No comparisons: "
            + (
                "`tfseqrec.evaluation.stats` is not installed."
                if stats is None
                else "no dataset has two finished runs with per-user results."
            )
        )
    best = _best_runs(ctx.groups, ctx.metrics, ctx.per_user, stats, ctx.num_resamples)
    if best:
        doc.h(3, "Best run per dataset")
        doc.p(
            "The trained run with the highest mean headline metric over seeds against the runner-up, then a "
            "paired test of the two over the rows they share, each row's value averaged over the run's seeds."
        )
        doc.items(best)


def _curves_sections(doc: _Doc, ctx: _Report) -> None:
    """Validation curves, and test accuracy against training time."""
    doc.h(2, "Training curves")
    doc.p(
        f"Validation {ctx.label} after each validated epoch, against epochs and against wall seconds of training "
        f"(training steps plus the validations so far); one line per seed."
    )
    plot = _plot_curves(ctx.groups, ctx.metrics, ctx.colors, ctx.report_dir / "curves.png")
    if plot:
        doc.image(plot, "validation curves")
    else:
        doc.p("No training runs with a validation history.")
    doc.h(2, "Accuracy vs training time")
    plot = _plot_accuracy_vs_time(ctx.groups, ctx.metrics, ctx.colors, ctx.report_dir / "accuracy_vs_time.png")
    if plot:
        doc.p(f"Test {ctx.label} of every seed against its training time (log scale); baselines as dashed lines.")
        doc.image(plot, "accuracy vs training time")
    else:
        doc.p("No training runs.")


def _efficiency_section(doc: _Doc, ctx: _Report) -> None:
    doc.h(2, "Efficiency")
    doc.p(
        "Means over seeds. s/epoch: median wall seconds of an epoch's training steps (validation excluded); "
        "targets/s: training targets (next-item positions of the padded training sequences) per epoch / "
        "s/epoch; time to best: training seconds (steps + validations) until the best validation epoch; "
        "inference users/s: full-ranking test evaluation; peak memory: the training process' peak RSS; "
        "model size: bytes of the saved best weights. A continuation (`init_from`) gives its best epoch and "
        "epochs over the whole chain (from the epoch its weights came from) and its training time with the "
        "chain's."
    )
    rows = []
    for dataset, dataset_groups in ctx.groups.items():
        for g in dataset_groups:
            size = _mean(g.values(("model_size_bytes",)))
            rows.append(
                [
                    dataset,
                    g.run,
                    _num(_mean(g.values(("timings", "seconds_per_epoch"))), 2),
                    _int(_mean(g.values(("timings", "targets_per_second")))),
                    _epochs(g),
                    _seconds(_mean(g.values(("timings", "time_to_best_seconds")))),
                    _train_time(g),
                    _int(_mean(g.values(("timings", "inference_users_per_second")))),
                    _int(_mean(g.values(("peak_memory_mib",)))),
                    f"{size / 2**20:.2f}" if size is not None else "",
                ]
            )
    doc.table(
        [
            "dataset",
            "run",
            "s/epoch",
            "targets/s",
            "best epoch / epochs",
            "time to best",
            "train time",
            "inference users/s",
            "peak MiB",
            "model MiB",
        ],
        rows,
    )


def _serving_section(doc: _Doc, ctx: _Report, serving_results) -> None:
    doc.h(2, "Serving latency")
    serving = _serving_rows(serving_results)
    if serving:
        doc.p(
            f"From `{_under_root(str(serving_results), ctx.grid)}` (the serving benchmark, `benchmarks/serving.py`; "
            f"its own machine and settings are in that file)."
        )
        doc.table(["source", "measurement", "p50 ms", "p99 ms", "requests/s"], serving)
    else:
        doc.p(f"No latency figures found in `{serving_results}`.")


def _segments_section(doc: _Doc, ctx: _Report) -> None:
    """The error analysis' segments per dataset, as a table and a plot."""
    doc.h(2, "Segments")
    any_segments = False
    for dataset, dataset_groups in ctx.groups.items():
        metric = ctx.metrics[dataset]
        table = _segment_table(dataset_groups, metric)
        if not table:
            continue
        any_segments = True
        doc.h(3, dataset)
        header, rows = table
        doc.table(header, rows)
        plot = _plot_segments(dataset, dataset_groups, metric, ctx.colors, ctx.report_dir / f"segments_{dataset}.png")
        if plot:
            doc.image(plot, f"{metric} by segment on {dataset}")
    if not any_segments:
        doc.p("No error analysis in the cells (`tfseqrec.evaluation.analysis` unavailable or failed).")


def _failures_section(doc: _Doc, ctx: _Report) -> None:
    """The worst-ranked test targets of each run's first seed with an error analysis."""
    doc.h(2, "Failure cases")
    rows = []
    for dataset, dataset_groups in ctx.groups.items():
        for g in dataset_groups:
            cell = next((c for c in g.cells if _analysis_present(c)), None)
            for f in ((cell or {}).get("analysis") or {}).get("failures", [])[:N_FAILURES_SHOWN]:
                rows.append(
                    [
                        dataset,
                        g.run,
                        cell["seed"],
                        f.get("sequence_id"),
                        f.get("target_item"),
                        f.get("rank"),
                        _items(f.get("history"), last=True),
                        _items(f.get("top_items")),
                    ]
                )
    if rows:
        doc.p(
            f"The error analysis' worst-ranked test targets, top {N_FAILURES_SHOWN} per run (first seed): the "
            f"user's most recent history items (oldest first) and the model's top items."
        )
        doc.table(["dataset", "run", "seed", "sequence", "target", "rank", "history (latest)", "top items"], rows)
    else:
        doc.p("No failure cases recorded.")


def _closing_sections(doc: _Doc, ctx: _Report) -> None:
    """Failed or unfinished cells, the protocol and the machines."""
    failed = _failed_cells(ctx.cells)
    if failed:
        doc.h(2, "Failed or unfinished cells")
        doc.table(
            ["cell", "status", "error"], [[c.get("key"), c.get("status"), (c.get("error") or "")[:300]] for c in failed]
        )
    doc.h(2, "Protocol")
    doc.items(_protocol_lines(ctx.cells, ctx.grid))
    machines = {json.dumps(c.get("machine"), sort_keys=True) for c in ctx.cells if c.get("machine")}
    if machines:
        doc.h(2, "Machine")
        doc.items([f"`{m}`" for m in sorted(machines)])


RESULTS_START = "<!-- tfseqrec-benchmark-results:start -->"
RESULTS_END = "<!-- tfseqrec-benchmark-results:end -->"


def results_section(
    groups: dict, accuracy: dict, metric, cells: list[dict], grid: dict, report_path: Path, readme: Path
) -> str:
    """Markdown for a README: per dataset, every run's test ``metric`` (a name, or ``{dataset: name}``; mean ±
    std over seeds, 95% CI over users), then the protocol; generated, never typed by hand."""
    metrics = metric
    doc = _Doc()
    try:
        link = os.path.relpath(report_path, readme.resolve().parent)
    except ValueError:  # another drive
        link = str(report_path)
    doc.p(
        f"_Generated by `tfseqrec benchmark` from {len(cells)} cells of grid "
        f"`{grid.get('name') or report_path.parent.name}` (full report: [{link}]({link})); do not edit by hand._"
    )
    for dataset, dataset_groups in groups.items():
        metric = metrics[dataset] if isinstance(metrics, dict) else metrics
        rows = []
        for g in dataset_groups:
            mean, ci = accuracy.get((dataset, g.run), (None, None))
            rows.append(
                [
                    g.run,
                    g.cells[0].get("model", ""),
                    mean_std(g.values(("metrics", metric))),
                    _ci_text(ci),
                    mean_std(g.values(("metrics", "HR@10"))),
                    len(g.cells),
                    _num(_mean(g.values(("timings", "seconds_per_epoch"))), 2),
                ]
            )
        rows.sort(key=lambda r: r[2], reverse=True)
        doc.p(f"**{dataset}**")
        doc.table(
            ["run", "model", f"{metric} mean ± std", "95% CI (users)", "HR@10 mean ± std", "seeds", "s/epoch"], rows
        )
    doc.p("Protocol:")
    doc.items(_protocol_lines(cells, grid))
    return doc.markdown().strip() + "\n"


def update_readme(path, section: str, start: str = RESULTS_START, end: str = RESULTS_END) -> None:
    """Replaces the text between the ``start`` and ``end`` marker lines (default :data:`RESULTS_START` and
    :data:`RESULTS_END`) in ``path`` by ``section``.

    Raises ``ValueError`` naming the file when the markers are missing or out of order (add both lines
    where the results should go)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    # Markers count only as whole lines, so that prose quoting them (in backticks) is left alone.
    starts = [i for i, line in enumerate(lines) if line.strip() == start]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if not starts or not ends or ends[0] < starts[0]:
        raise ValueError(
            f"{path}: no results block; add the lines {start!r} and {end!r} "
            "(in this order, each on a line of its own) where the generated results should go"
        )
    first, last = starts[0], ends[0]
    path.write_text("".join(lines[: first + 1]) + section + "".join(lines[last:]), encoding="utf-8")


def _extra_metrics(metric: str) -> list[str]:
    k = metric.split("@")[1] if "@" in metric else "10"
    return [m for m in (f"HR@{k}", f"NDCG@{k}", "MRR") if m != metric]


def _users(cell: dict) -> str:
    m = cell.get("metrics", {})
    if "num_events" in m:
        return f"{int(m['num_events']):,} events"
    return f"{int(m['num_users']):,} users" if "num_users" in m else ""


def _int(x: Optional[float]) -> str:
    return f"{x:,.0f}" if x is not None else ""


def _epochs(g: Group) -> str:
    if g.is_baseline:
        return "baseline"
    return ", ".join(
        _chain_epochs(c) if c.get("cumulative") else f"{c.get('best_epoch')}/{c.get('epochs_run')}" for c in g.cells
    )


def _chain_epochs(cell: dict) -> str:
    """``best/epochs (from E)`` over a continuation's whole chain, E the epoch its starting weights came from."""
    chain, start = cell["cumulative"], cell.get("initialised_from") or {}
    return f"{chain.get('best_epoch')}/{chain.get('epochs_run')} (from {start.get('epochs_before')})"


def _train_time(g: Group) -> str:
    """Mean training time over seeds; for a continuation also the whole chain's (``chain (earlier + this)``)."""
    this = _mean(g.values(("timings", "train_seconds")))
    chain = _mean(g.values(("cumulative", "train_seconds")))
    before = _mean(g.values(("initialised_from", "train_seconds_before")))
    if chain is None or before is None:
        return _seconds(this)
    return f"{_seconds(this)}; chain {_seconds(chain)} ({_seconds(before)} + {_seconds(this)})"


def _items(values, last: bool = False, n: int = 5) -> str:
    if not values:
        return ""
    values = [str(v) for v in values]
    if len(values) <= n:
        return ", ".join(values)
    return "…, " + ", ".join(values[-n:]) if last else ", ".join(values[:n]) + ", …"


def _ci_text(ci, signed: bool = False) -> str:
    if not ci or ci[0] is None:
        return "n/a"
    fmt = "+.4f" if signed else ".4f"
    return f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _seed_mean(g: Group, metric: str, per_user: _PerUser) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """``(row keys, values)``: each row's metric averaged over the run's seeds (rows every seed has)."""
    pairs = [p for p in (per_user.get(c, metric) for c in g.cells) if p is not None]
    if not pairs:
        return None
    keys, aligned = _align(pairs)
    return keys, np.mean(aligned, axis=0)


def _group_ci(g: Group, metric: str, per_user: _PerUser, stats, num_resamples: int):
    if stats is None:
        return None
    averaged = _seed_mean(g, metric, per_user)
    if averaged is None:
        return None
    values = averaged[1]
    if values.size < 2:
        return None
    low, high = stats.bootstrap_ci(values, confidence=CONFIDENCE, num_resamples=num_resamples, seed=0)
    return float(low), float(high)


_PROTOCOL_KEYS = ("split", "ranking", "ties", "filter_seen", "targets", "dataset_protocol")


def _compare_groups(a: Group, b: Group, metric: str, per_user: _PerUser, stats, num_resamples: int) -> Optional[tuple]:
    """``(seed, Comparison, note)`` of A − B on the smallest seed both finished, over the rows both have."""
    seeds = sorted({c["seed"] for c in a.cells} & {c["seed"] for c in b.cells})
    if not seeds:
        return None
    ca = next(c for c in a.cells if c["seed"] == seeds[0])
    cb = next(c for c in b.cells if c["seed"] == seeds[0])
    pa, pb = per_user.get(ca, metric), per_user.get(cb, metric)
    if pa is None or pb is None:
        return None
    keys, (va, vb) = _align([pa, pb])
    if keys.size < 2:
        return None
    try:
        comparison = stats.compare(va, vb, a.run, b.run, metric, seed=0, num_resamples=num_resamples)
    except (ValueError, FloatingPointError):
        return None
    differ = [k for k in _PROTOCOL_KEYS if (ca.get("protocol") or {}).get(k) != (cb.get("protocol") or {}).get(k)]
    note = f"protocols differ in {', '.join(differ)}" if differ else ""
    if keys.size < max(len(pa[0]), len(pb[0])):
        note = (note + "; " if note else "") + f"{keys.size} shared rows"
    return seeds[0], comparison, note


def _pairs_of(dataset_groups: list[Group], pairs: list[tuple]) -> list[tuple[Group, Group]]:
    """The ``(A, B)`` groups to compare: the named pairs both of whose runs finished, else every pair."""
    if not pairs:
        return [(a, b) for i, a in enumerate(dataset_groups) for b in dataset_groups[i + 1 :]]
    by_run = {g.run: g for g in dataset_groups}
    return [(by_run[a], by_run[b]) for a, b in pairs if a in by_run and b in by_run]


def _comparisons(
    groups: dict, metrics: dict, per_user: _PerUser, stats, num_resamples: int, pairs: Optional[list[tuple]] = None
) -> list[tuple]:
    """``[(dataset, seed, Comparison, note)]`` with Holm-adjusted p-values over the whole report."""
    if stats is None:
        return []
    found = []
    for dataset, dataset_groups in groups.items():
        for a, b in _pairs_of(dataset_groups, pairs or []):
            compared = _compare_groups(a, b, metrics[dataset], per_user, stats, num_resamples)
            if compared is not None:
                found.append((dataset, *compared))
    if not found:
        return []
    testable = [
        i
        for i, (_, _, c, _) in enumerate(found)
        if isinstance(c.wilcoxon.pvalue, float) and math.isfinite(c.wilcoxon.pvalue)
    ]
    adjusted = dict(zip(testable, stats.compare_all([found[i][2] for i in testable]))) if testable else {}
    return [(d, s, adjusted.get(i, c), n) for i, (d, s, c, n) in enumerate(found)]


def _headline_metrics(grid: dict, cells: list[dict], metric: Optional[str]) -> dict:
    """dataset -> its headline metric: ``metric`` when given, else the dataset's own in the grid, else the
    grid's (cells of datasets the grid does not name: the metric their cell recorded)."""
    default = metric or grid.get("metric") or next((c.get("metric") for c in cells if c.get("metric")), "NDCG@10")
    metrics = {c["dataset"]: metric or c.get("metric") or default for c in cells if c.get("dataset")}
    metrics.update({d["name"]: metric or d.get("metric") or default for d in grid.get("datasets", [])})
    return metrics


def _label(metrics: dict, groups: dict) -> str:
    """The reported datasets' one headline metric, or "headline metric" when they differ."""
    names = {metrics[d] for d in groups} or set(metrics.values())
    return names.pop() if len(names) == 1 else "headline metric"


def _headline_text(metrics: dict, groups: dict) -> str:
    if len({metrics[d] for d in groups}) <= 1:
        return f"**{_label(metrics, groups)}**"
    return ", ".join(f"**{metrics[d]}** ({d})" for d in groups)


def _targets_section(
    doc: _Doc, groups: dict, grid: dict, metrics: dict, per_user: _PerUser, stats, num_resamples: int
) -> None:
    """Published figures and targets of the runs that have them, with a met / not met column."""
    specs = {r["name"]: r for r in grid.get("runs", []) if r.get("published") or r.get("target") or r.get("above")}
    tables = []
    for dataset, dataset_groups in groups.items():
        shown = [g for g in dataset_groups if g.run in specs]
        if not shown:
            continue
        names = list(
            dict.fromkeys(
                [
                    metrics[dataset],
                    *[m for g in shown for key in ("published", "target") for m in specs[g.run].get(key) or {}],
                ]
            )
        )
        rows = []
        for g in shown:
            spec = specs[g.run]
            means = {m: _mean(g.values(("metrics", m))) for m in names}
            met = _met(g, spec, means, dataset_groups, metrics[dataset], per_user, stats, num_resamples)
            rows.append(
                [
                    g.run,
                    len(g.cells),
                    *[_num(means[m]) for m in names],
                    _figures_text(spec.get("published")),
                    _target_text(spec),
                    met,
                ]
            )
        tables.append((dataset, ["run", "seeds", *[f"{m} mean" for m in names], "published", "target", "met"], rows))
    if not tables:
        return
    doc.h(2, "Published figures and targets")
    doc.p(
        "Test metrics as means over seeds next to the published figures and the grid's targets. **met**: yes "
        "when every target metric's mean reaches its bar and, for a run that must be above another one, its "
        "mean headline metric is higher than that run's with a paired Wilcoxon signed-rank p < 0.05 (the "
        "smallest shared seed, the users both have); n/a: no target."
    )
    for dataset, header, rows in tables:
        doc.h(3, dataset)
        doc.table(header, rows)


def _figures_text(figures: Optional[dict]) -> str:
    return ", ".join(f"{m} {v:g}" for m, v in (figures or {}).items())


def _target_text(spec: dict) -> str:
    bars = [f"{m} ≥ {v:g}" for m, v in (spec.get("target") or {}).items()]
    return ", ".join(bars + ([f"above {spec['above']}"] if spec.get("above") else []))


def _met(
    g: Group,
    spec: dict,
    means: dict,
    dataset_groups: list[Group],
    metric: str,
    per_user: _PerUser,
    stats,
    num_resamples: int,
) -> str:
    """``yes`` / ``no: why`` / ``n/a``: the run's means against its bars, then against its ``above`` run."""
    target, above = spec.get("target") or {}, spec.get("above")
    if not target and not above:
        return "n/a"
    unmeasured = [m for m in target if means.get(m) is None]
    if unmeasured:
        return f"n/a: {', '.join(unmeasured)} not measured"
    below = [f"{m} {means[m]:.4f} < {bar:g}" for m, bar in target.items() if means[m] < bar]
    if below:
        return "no: " + "; ".join(below)
    if above is None:
        return "yes"
    other = next((o for o in dataset_groups if o.run == above), None)
    if other is None:
        return f"bars met; {above} not run"
    compared = _compare_groups(g, other, metric, per_user, stats, num_resamples) if stats is not None else None
    if compared is None:
        return f"bars met; no paired test against {above}"
    comparison = compared[1]
    if comparison.mean_diff <= 0:
        return f"no: {metric} {comparison.mean_diff:+.4f} against {above}"
    p = comparison.wilcoxon.pvalue
    return "yes" if p < 0.05 else f"by the mean only (Wilcoxon p {_pvalue(p)} against {above})"


def _best_runs(groups: dict, metrics: dict, per_user: _PerUser, stats, num_resamples: int) -> list[str]:
    """Per dataset: the best trained run by mean headline metric, its margin over the runner-up, and a paired
    test of the two (headline metric and the HR / NDCG at its k) over rows averaged over each run's seeds."""
    lines = []
    for dataset, dataset_groups in groups.items():
        metric = metrics[dataset]
        ranked = sorted(
            (
                (_mean(g.values(("metrics", metric))), g)
                for g in dataset_groups
                if not g.is_baseline and g.values(("metrics", metric))
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )
        if len(ranked) < 2:
            continue
        (b, best), (r, second) = ranked[:2]
        relative = f", {(b / r - 1) * 100:+.1f}%" if r > 0 else ""
        text = (
            f"**{dataset}**: `{best.run}` {metric} {b:.4f} against {r:.4f} for the runner-up `{second.run}` "
            f"({b - r:+.4f}{relative})"
        )
        for name in (metric, _extra_metrics(metric)[0]):
            paired = _seed_mean_comparison(best, second, name, per_user, stats, num_resamples)
            if paired is not None:
                n, c = paired
                text += (
                    f"; {name} paired over {n:,} rows: {c.mean_diff:+.4f} {_ci_text(c.diff_ci, signed=True)}, "
                    f"t-test p {_pvalue(c.ttest.pvalue)}, Wilcoxon p {_pvalue(c.wilcoxon.pvalue)}"
                )
        lines.append(text + ".")
    return lines


def _seed_mean_comparison(
    a: Group, b: Group, metric: str, per_user: _PerUser, stats, num_resamples: int
) -> Optional[tuple]:
    """``(rows, Comparison)`` of A − B over the rows both have, each row averaged over the run's seeds."""
    if stats is None:
        return None
    pa, pb = _seed_mean(a, metric, per_user), _seed_mean(b, metric, per_user)
    if pa is None or pb is None:
        return None
    keys, (va, vb) = _align([pa, pb])
    if keys.size < 2:
        return None
    try:
        return keys.size, stats.compare(va, vb, a.run, b.run, metric, seed=0, num_resamples=num_resamples)
    except (ValueError, FloatingPointError):
        return None


def _segment_table(dataset_groups: list[Group], metric: str):
    """(header, rows): per (dimension, segment), the count and each run's metric averaged over seeds."""
    runs, seen, values, counts = [], [], {}, {}
    for g in dataset_groups:
        cells = [c for c in g.cells if _analysis_present(c) and c["analysis"].get("segments")]
        if not cells:
            continue
        runs.append(g.run)
        for cell in cells:
            for seg in cell["analysis"]["segments"]:
                key = (str(seg.get("dimension")), str(seg.get("segment")))
                if key not in seen:
                    seen.append(key)
                    counts[key] = seg.get("count")
                m = seg.get("metrics") or {}
                value = m.get(metric, next(iter(m.values()), None) if m else None)
                if isinstance(value, (int, float)):
                    values.setdefault((g.run, key), []).append(float(value))
    if not runs:
        return None
    rows = [
        [dim, seg, counts[(dim, seg)], *[_num(_mean(values.get((r, (dim, seg)), []))) for r in runs]]
        for dim, seg in seen
    ]
    return ["dimension", "segment", "count", *[f"{r} {metric}" for r in runs]], rows


def _protocol_lines(cells: list[dict], grid: dict) -> list[str]:
    lines = []
    finished = [c for c in cells if c.get("status") == "finished" and c.get("protocol")]
    if grid.get("path"):
        lines.append(f"Grid file: `{grid['path']}`.")
    for dataset in sorted({c["dataset"] for c in finished}):
        protos = [c for c in finished if c["dataset"] == dataset]
        keys = sorted({k for c in protos for k in c["protocol"]})
        common = {
            k: protos[0]["protocol"].get(k)
            for k in keys
            if all(
                json.dumps(c["protocol"].get(k), sort_keys=True)
                == json.dumps(protos[0]["protocol"].get(k), sort_keys=True)
                for c in protos
            )
        }
        parts = [f"{k}: {_short(v)}" for k, v in common.items() if k != "dataset_protocol"]
        lines.append(f"**{dataset}**: " + "; ".join(parts) + ".")
        if "dataset_protocol" in common:
            lines.append(f"**{dataset}** data split: {_short(common['dataset_protocol'])}.")
        varying = [k for k in keys if k not in common]
        for k in varying:
            per_run = sorted({f"{c['run']}={_short(c['protocol'].get(k))}" for c in protos})
            lines.append(f"**{dataset}** varies in `{k}`: {', '.join(per_run)}.")
        configs = sorted({f"{c['run']}: {c.get('config_file')}" for c in protos if c.get("config_file")})
        if configs:
            lines.append(f"**{dataset}** configs: " + "; ".join(f"`{x}`" for x in configs) + ".")
        chains = sorted(
            {
                f"`{c['run']}` from `{c['initialised_from']['run']}`"
                for c in protos
                if (c.get("initialised_from") or {}).get("run")
            }
        )
        if chains:
            lines.append(
                f"**{dataset}** continuations (best weights of the same seed's cell, fresh optimizer): "
                + "; ".join(chains)
                + "."
            )
    if not lines:
        lines.append("No finished cells.")
    lines = [_under_root(line, grid) for line in lines]
    return lines


def _under_root(text: str, grid: dict) -> str:
    """``text`` with paths under the grid's root (the repository) written relative to it."""
    if not grid.get("root"):
        return text
    return text.replace(str(Path(grid["root"]).resolve()) + os.sep, "")


def _short(value) -> str:
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, sort_keys=True) + "`"
    return str(value)


def _serving_rows(source) -> list[list]:
    """Rows ``[file, measurement, p50, p99, requests/s]`` from every dict with ``p50_ms`` in the JSON file(s)."""
    path = Path(source)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    rows = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue

        def walk(node, trail):
            if isinstance(node, dict):
                if "p50_ms" in node:
                    label = " / ".join(trail)
                    if "clients" in node:
                        label += f" ({node.get('model', '')}, {node['clients']} clients)"
                    rows.append(
                        [
                            file.name,
                            label,
                            _num(node.get("p50_ms"), 2),
                            _num(node.get("p99_ms"), 2),
                            _int(node.get("rps", node.get("batch_qps"))),
                        ]
                    )
                    return
                for key, value in node.items():
                    if key not in ("curve", "builds", "argv", "machine", "args"):
                        walk(value, trail + [str(key)])
            elif isinstance(node, list):
                for item in node:
                    walk(item, trail)

        walk(data, [])
    return rows[:60]


# ------------------------------------------------------------------------------------------------ plots
def _colors(names: list[str]) -> dict:
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors + colormaps["Dark2"].colors
    unique = list(dict.fromkeys(names))
    return {name: palette[i % len(palette)] for i, name in enumerate(unique)}


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=110)
    return path.name


def _plot_accuracy(groups: dict, accuracy: dict, metrics: dict, colors: dict, path: Path) -> Optional[str]:
    fig = _figure(
        min(len(groups), 3) * max(4.0, 1.2 + 0.9 * max(len(g) for g in groups.values())),
        3.8 * math.ceil(len(groups) / 3),
    )
    axes = fig.subplots(math.ceil(len(groups) / 3), min(len(groups), 3), squeeze=False).ravel()
    for ax, (dataset, dataset_groups) in zip(axes, groups.items()):
        names = [g.run for g in dataset_groups]
        means = [accuracy[(dataset, n)][0] or 0.0 for n in names]
        errors = []
        for n, m in zip(names, means):
            ci = accuracy[(dataset, n)][1]
            errors.append([max(m - ci[0], 0.0), max(ci[1] - m, 0.0)] if ci else [0.0, 0.0])
        ax.bar(range(len(names)), means, color=[colors[n] for n in names], yerr=np.array(errors).T, capsize=4)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(dataset)
        ax.set_ylabel(metrics[dataset])
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    return _save(fig, path)


def _plot_curves(groups: dict, metrics: dict, colors: dict, path: Path) -> Optional[str]:
    datasets = [d for d, gs in groups.items() if any(c.get("validation_curve") for g in gs for c in g.cells)]
    if not datasets:
        return None
    fig = _figure(11, 3.4 * len(datasets))
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for row, dataset in zip(axes, datasets):
        for g in groups[dataset]:
            for i, cell in enumerate(g.cells):
                curve = [p for p in cell.get("validation_curve") or [] if isinstance(p.get("value"), (int, float))]
                if not curve:
                    continue
                label = g.run if i == 0 else None
                row[0].plot(
                    [p["epoch"] for p in curve],
                    [p["value"] for p in curve],
                    marker=".",
                    color=colors[g.run],
                    label=label,
                    alpha=0.85,
                )
                timed = [p for p in curve if p.get("elapsed_seconds") is not None]
                row[1].plot(
                    [p["elapsed_seconds"] for p in timed],
                    [p["value"] for p in timed],
                    marker=".",
                    color=colors[g.run],
                    label=label,
                    alpha=0.85,
                )
        row[0].set_xlabel("epoch")
        row[1].set_xlabel("training seconds (steps + validation)")
        for ax in row:
            ax.set_ylabel(f"validation {metrics[dataset]}")
            ax.set_title(dataset)
            ax.grid(alpha=0.3)
        if row[0].get_legend_handles_labels()[0]:
            row[0].legend(fontsize=8)
    return _save(fig, path)


def _plot_accuracy_vs_time(groups: dict, metrics: dict, colors: dict, path: Path) -> Optional[str]:
    datasets = [d for d, gs in groups.items() if any(not g.is_baseline for g in gs)]
    if not datasets:
        return None
    fig = _figure(5.5 * min(len(datasets), 3), 3.8 * math.ceil(len(datasets) / 3))
    axes = fig.subplots(math.ceil(len(datasets) / 3), min(len(datasets), 3), squeeze=False).ravel()
    for ax, dataset in zip(axes, datasets):
        metric = metrics[dataset]
        for g in groups[dataset]:
            if g.is_baseline:
                for value in g.values(("metrics", metric))[:1]:
                    ax.axhline(value, color=colors[g.run], linestyle="--", label=f"{g.run} (baseline)")
                continue
            points = [
                (c["timings"]["train_seconds"], c["metrics"][metric])
                for c in g.cells
                if isinstance((c.get("timings") or {}).get("train_seconds"), (int, float))
                and isinstance(c.get("metrics", {}).get(metric), (int, float))
            ]
            if points:
                ax.scatter(
                    [max(p[0], 1e-3) for p in points], [p[1] for p in points], color=colors[g.run], label=g.run, s=30
                )
        ax.set_xscale("log")
        ax.set_xlabel("training seconds")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(datasets) :]:
        ax.set_visible(False)
    return _save(fig, path)


def _plot_segments(dataset: str, dataset_groups: list[Group], metric: str, colors: dict, path: Path) -> Optional[str]:
    table = _segment_table(dataset_groups, metric)
    if not table:
        return None
    header, rows = table
    runs = [h[: -len(metric) - 1] for h in header[3:]]
    dims = list(dict.fromkeys(r[0] for r in rows))
    dims = [d for d in dims if d in PLOT_DIMENSIONS] or dims
    fig = _figure(
        max(5.5, 1.0 + 0.9 * max(sum(r[0] == d for r in rows) for d in dims)) * min(len(dims), 2),
        3.8 * math.ceil(len(dims) / 2),
    )
    axes = fig.subplots(math.ceil(len(dims) / 2), min(len(dims), 2), squeeze=False).ravel()
    width = 0.8 / max(len(runs), 1)
    for ax, dim in zip(axes, dims):
        segs = [r for r in rows if r[0] == dim]
        for j, run in enumerate(runs):
            heights = [float(r[3 + j]) if r[3 + j] else 0.0 for r in segs]
            ax.bar(
                np.arange(len(segs)) + (j - (len(runs) - 1) / 2) * width, heights, width, color=colors[run], label=run
            )
        ax.set_xticks(range(len(segs)), [f"{r[1]}\n(n={r[2]})" for r in segs], fontsize=7)
        ax.set_title(f"{dataset}: {dim}")
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(dims) :]:
        ax.set_visible(False)
    return _save(fig, path)
