"""`tfseqrec analyze`: where does a model fail? Metrics by segment and the worst-ranked rows of an evaluation."""

from __future__ import annotations

import argparse
import os

from tfseqrec.cli.common import Formatter, csv_list

DESCRIPTION = """\
Join an evaluation (metrics.json + per_user.npz of `tfseqrec evaluate` or `tfseqrec train`) with the
evaluated split and break its per-row metrics down by segment:

  history_length     length of the history (users: the whole stored history; session events: the prefix)
  target_popularity  head / torso / tail of the target by training count (head: among the top
                     --head-share of the catalogue, tail: among the bottom --tail-share, or never trained on)
  cold_target        targets with at most --cold-threshold training interactions (also unseen ones)
  session_position   (session splits) first / middle / last event of its session, or the only one

and list the rows whose target the model ranked worst. Rows that cannot be joined with the split are
shown as the segment "unmatched" and counted. Writes analysis.json, segments.csv and failures.csv.
"""


def format_analysis(analysis) -> str:
    """A compact table per dimension: segment, rows, share of rows and the metric means."""
    names = [n for n in analysis.protocol.get("metrics", [])]
    width = max([len(s.segment) for s in analysis.segments] + [len("overall"), 10])
    header = f"  {'segment':<{width}} {'rows':>8} {'share':>6}" + "".join(f" {n:>9}" for n in names)
    overall = analysis.overall
    lines = [
        f"{analysis.protocol['rows']:,} {analysis.protocol['row_kind']} of split {analysis.protocol['split']!r}"
        + "".join(f", {n} {overall[n]:.4f}" for n in names if n in overall)
    ]
    unmatched = analysis.protocol.get("unmatched_rows", 0)
    if unmatched:
        lines.append(
            f"UNMATCHED rows (not in the split's records): {unmatched:,}: "
            + "; ".join(f"{r} ({c:,})" for r, c in analysis.protocol["unmatched_reasons"].items())
        )
    pop = analysis.protocol.get("popularity", {})
    notes = {
        "target_popularity": f"head: train count >= {pop.get('head_min_count')} ({pop.get('num_head_items')} items), "
        f"tail: <= {pop.get('tail_max_count')} ({pop.get('num_tail_items')} items)",
        "history_length": analysis.protocol.get("history_length", ""),
    }
    dimensions = list(dict.fromkeys(s.dimension for s in analysis.segments))
    for dimension in dimensions:
        rows = [s for s in analysis.segments if s.dimension == dimension]
        total = sum(s.count for s in rows) or 1
        lines.append("")
        lines.append(dimension + (f"  ({notes[dimension]})" if notes.get(dimension) else ""))
        lines.append(header)
        for s in rows:
            lines.append(
                f"  {s.segment:<{width}} {s.count:>8,} {s.count / total:>6.1%}"
                + "".join(f" {s.metrics[n]:>9.4f}" for n in names)
            )
    if analysis.failures:
        lines.append("")
        lines.append(f"worst {len(analysis.failures)} rows (largest rank):")
        for f in analysis.failures[:5]:
            where = f" t={f.position}" if f.position is not None else ""
            lines.append(
                f"  {f.sequence_id}{where}: target {f.target_item} (train count {f.target_train_count}) "
                f"at rank {f.rank:,}; latest history {' '.join(f.history[-5:])}; "
                f"top {' '.join(f.top_items[:5])}"
            )
        if len(analysis.failures) > 5:
            lines.append(f"  ... {len(analysis.failures) - 5} more in failures.csv")
    return "\n".join(lines)


def run_analyze(args: argparse.Namespace) -> int:
    from tfseqrec.evaluation.analysis import ANALYSIS_FILENAME, FAILURES_FILENAME, SEGMENTS_FILENAME, analyze
    from tfseqrec.evaluation.results import EvaluationResult

    result = EvaluationResult.load(args.evaluation)
    analysis = analyze(
        result,
        args.data,
        split=args.split,
        n_failures=args.failures,
        history_items=args.history_items,
        cold_threshold=args.cold_threshold,
        metrics=args.metrics,
        head_share=args.head_share,
        tail_share=args.tail_share,
    )
    output = args.output or os.path.join(args.evaluation, "analysis")
    analysis.write(output)
    print(format_analysis(analysis))
    print("")
    print(f"wrote {ANALYSIS_FILENAME}, {SEGMENTS_FILENAME} and {FAILURES_FILENAME} to {output}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "analyze",
        formatter_class=Formatter,
        description=DESCRIPTION,
        help="error analysis of an evaluation: metrics by segment and the worst failures",
    )
    p.add_argument(
        "--evaluation",
        required=True,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="directory with metrics.json and per_user.npz (written by `tfseqrec evaluate`, or the "
        "test/ folder of a `tfseqrec train` run)",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the evaluated dataset: output directory of `tfseqrec preprocess`",
    )
    p.add_argument(
        "--split",
        default=None,
        help="the evaluated split; by default the one recorded in the evaluation (another is an error)",
    )
    p.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="where to write analysis.json, segments.csv and failures.csv; by default EVALUATION/analysis",
    )
    p.add_argument(
        "--failures",
        type=int,
        default=20,
        metavar="N",
        help="how many worst-ranked rows to list (largest rank first, ties by sequence id)",
    )
    p.add_argument("--history-items", type=int, default=20, metavar="N", help="latest history items shown per failure")
    p.add_argument(
        "--cold-threshold",
        type=int,
        default=5,
        metavar="C",
        help="a target with at most C training interactions is cold",
    )
    p.add_argument(
        "--head-share",
        type=float,
        default=0.2,
        metavar="F",
        help="head items: the most popular this fraction of the catalogue (ties included)",
    )
    p.add_argument(
        "--tail-share",
        type=float,
        default=0.5,
        metavar="F",
        help="tail items: the least popular this fraction of the catalogue, and items never trained on",
    )
    p.add_argument(
        "--metrics",
        type=csv_list,
        default="HR@10,NDCG@10,MRR",
        metavar="NAMES",
        help="comma-separated per-row metrics to average per segment (names of per_user.npz)",
    )
