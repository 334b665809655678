"""`tfseqrec stats`: read, print and plot what a preprocessing run counted."""

from __future__ import annotations

import argparse
import json
import sys

from tfseqrec.cli.common import Formatter


def format_stats(stats: dict) -> str:
    """A short human-readable summary of ``stats.json``."""
    rows = stats["rows"]
    lines = [
        f"rows read {rows['rows_read']:,} = kept {rows['rows_kept']:,} + filtered {rows['rows_filtered']:,}"
        f" + rejected {rows['rows_rejected']:,}" + ("" if rows["balanced"] else "   (DOES NOT BALANCE)"),
    ]
    for title, key in (("filtered", "filtered_by_rule"), ("rejected", "rejected_by_reason")):
        if rows[key]:
            lines.append(f"  {title}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(rows[key].items())))
    lines.append(
        f"users {stats['users']:,}   sequences {stats['sequences']:,}   items {stats['items']:,}   "
        f"interactions {stats['interactions']:,}"
    )
    lines.append(
        "splits: "
        + (
            ", ".join(
                f"{name} {s['records']:,} records" + (f" / {s['targets']:,} targets" if s["targets"] else "")
                for name, s in stats["splits"].items()
            )
            or "no records written"
        )
    )
    length = stats.get("sequence_length", {})
    if length.get("sequences"):
        lines.append(
            f"sequence length: min {length['min']}, median {length['median']}, mean {length['mean']}, "
            f"p90 {length['p90']}, max {length['max']}"
        )
    pop = stats.get("item_popularity", {})
    if pop.get("num_items"):
        lines.append(
            f"item popularity: gini {pop['gini']:.3f}, top 10% of items get {pop['top_10pct_share']:.1%} "
            f"of train interactions"
        )
    lines.extend(format_side_features(stats.get("side_features")))
    if stats.get("kcore"):
        k = stats["kcore"]
        lines.append(
            f"k-core: {'converged' if k['converged'] else 'NOT converged'} "
            f"after {k['rounds_removing']} removing round(s)"
        )
    return "\n".join(lines)


def format_side_features(side: dict | None) -> list[str]:
    """One line per feature table (rows read / rejected) and per feature (values, width, coverage, counters)."""
    if not side:
        return []
    lines = []
    for table in side.get("tables", []):
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(table["rejected_by_reason"].items()))
        lines.append(
            f"{table['entity']} table {table['source']} ({table['format']}): rows read {table['rows_read']:,}, "
            f"rejects {table['rejects']:,}" + (f" ({rejected})" if rejected else "")
        )
    for entity in ("item", "user"):
        for name, f in side.get(entity, {}).get("features", {}).items():
            counters = [
                f"{f[key]:,} {label}"
                for key, label in (
                    ("values_unknown", "values unknown"),
                    ("values_truncated", "values truncated"),
                    ("ids_not_in_vocabulary", f"table {entity}s not in the vocabulary"),
                )
                if f.get(key)
            ]
            lines.append(
                f"{entity} feature {name}: {f['num_values']:,} values, up to {f['max_values']} per {entity}, "
                f"covers {f['covered']:,} of {f['covered'] + f['missing']:,} {entity}s ({f['coverage']:.1%})"
                + (f"; {', '.join(counters)}" if counters else "")
            )
    return lines


def plot_stats(stats: dict, path: str) -> None:
    """Sequence-length histogram (log-spaced bins) and item popularity by rank (log-log), as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    exact = {int(k): v for k, v in stats["sequence_length"].get("exact", {}).items()}
    if exact:
        lengths, weights = np.array(list(exact)), np.array(list(exact.values()))
        bins = np.unique(np.geomspace(max(1, lengths.min()), lengths.max() + 1, 40).astype(int))
        ax1.hist(lengths, bins=bins if len(bins) > 1 else 10, weights=weights)
        ax1.set_xscale("log")
    length = stats["sequence_length"]
    ax1.set_xlabel("sequence length (items)")
    ax1.set_ylabel("sequences")
    ax1.set_title(f"{length.get('sequences', 0):,} sequences, median length {length.get('median', 0)}")
    pop = stats["item_popularity"]
    curve = pop.get("rank_curve", [])
    if curve:
        ranks, counts = zip(*curve)
        ax2.loglog(ranks, np.maximum(counts, 0.5), marker=".")
    ax2.set_xlabel("item rank")
    ax2.set_ylabel("train interactions")
    ax2.set_title(
        f"{pop.get('num_items', 0):,} items, gini {pop.get('gini', 0):.2f}, "
        f"top 10% = {pop.get('top_10pct_share', 0):.0%} of interactions"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_stats(args: argparse.Namespace) -> int:
    from tfseqrec import io_utils
    from tfseqrec.data.spec import STATS_FILENAME

    path = args.path if args.path.endswith(".json") else io_utils.join(args.path, STATS_FILENAME)
    if not io_utils.exists(path):
        print(f"error: {path} not found; run `tfseqrec preprocess` first", file=sys.stderr)
        return 2
    stats = io_utils.read_json(path)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    if args.plot:
        plot_stats(stats, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "stats",
        formatter_class=Formatter,
        help="summarise a preprocessing output directory",
        description="Print the summary of stats.json (and plot it).",
    )
    p.add_argument("path", help="output directory of `tfseqrec preprocess`, or a stats.json")
    p.add_argument("--json", action="store_true", help="print the whole stats.json")
    p.add_argument("--plot", default=None, help="write a PNG with the length histogram and item popularity")
