"""Paired comparisons of a benchmark grid's pairs on the rows whose target is rare: cold and tail targets.

The grid report averages each segment; this tests the differences. For every pair ``(a, b)`` of the grid and
every seed both finished, rows (users) are paired by sequence id, and each per-row metric is compared on all
rows, on rows whose target has at most ``--cold-threshold`` training interactions (cold, as ``tfseqrec analyze``),
and on the tail: targets among the least popular ``--tail-share`` of the catalogue by training count (ties
included, never-trained items too). ``--history-edges`` adds the rows by the length of the user's whole history
(e.g. ``200 512 1024``: up to 200, 201-512, 513-1024, over 1024), to ask whether a longer ``max_len`` helps the
users with the longest histories. Seeds are pooled (a row is paired with itself under the same seed); mean
difference, 95% bootstrap interval and Wilcoxon p, Holm-adjusted over all rows of the table.

    python benchmarks/segment_pairs.py benchmarks/out/side_features \
        --report benchmarks/reports/side_features/segments.json
    python benchmarks/segment_pairs.py benchmarks/out/long_lengths --history-edges 200 512 1024 --no-popularity
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfseqrec.data import load_feature_spec  # noqa: E402
from tfseqrec.data.spec import load_item_counts  # noqa: E402
from tfseqrec.evaluation.results import EvaluationResult  # noqa: E402
from tfseqrec.evaluation.stats import compare, compare_all  # noqa: E402
from tfseqrec.ids import FIRST_ITEM_ID  # noqa: E402


def segment_masks(target_ids: np.ndarray, counts: np.ndarray, cold_threshold: int, tail_share: float) -> dict:
    """``{"all", "cold", "tail"}`` boolean masks over rows with one target each (``target_ids [U]``)."""
    real = counts[FIRST_ITEM_ID:]
    cut = np.sort(real)[max(int(np.ceil(tail_share * len(real))) - 1, 0)]  # the tail's largest count
    target_counts = counts[target_ids]
    return {
        "all": np.ones(len(target_ids), bool),
        f"cold (<= {cold_threshold})": target_counts <= cold_threshold,
        f"tail ({tail_share:.0%})": target_counts <= cut,
    }


def history_masks(lengths: np.ndarray, edges: list) -> dict:
    """``{"history <= e0": ..., "history e0+1-e1": ..., "history > eN": ...}`` boolean masks over rows by the
    length of their whole history (``lengths [U]``; ``edges`` increasing)."""
    masks, low = {}, None
    for edge in edges:
        label = f"history <= {edge}" if low is None else f"history {low + 1}-{edge}"
        masks[label] = (lengths <= edge) if low is None else (lengths > low) & (lengths <= edge)
        low = edge
    if low is not None:
        masks[f"history > {low}"] = lengths > low
    return masks


def comparisons(
    output: Path,
    metrics: list,
    cold_threshold: int,
    tail_share: float,
    history_edges: Optional[list] = None,
    popularity: bool = True,
) -> list:
    grid = json.loads((output / "grid.json").read_text())["grid"]
    rows = []
    for dataset in grid["datasets"]:
        spec = load_feature_spec(str(output / "data" / dataset["name"]))
        counts = np.asarray(load_item_counts(spec), np.float64)
        for a, b in grid.get("pairs") or []:
            pooled: dict = {}
            for seed in grid["seeds"]:
                cells = [output / "runs" / dataset["name"] / run / f"seed{seed}" / "test" for run in (a, b)]
                if not all((c / "per_user.npz").exists() for c in cells):
                    continue
                ra, rb = (EvaluationResult.load(str(c)) for c in cells)
                if "target_id" not in ra.per_user:
                    raise SystemExit(f"{cells[0]}: rows with several targets; cold / tail need one target per row")
                index = {key: i for i, key in enumerate(rb.sequence_ids)}
                order = np.array([index[key] for key in ra.sequence_ids])
                masks = segment_masks(ra.per_user["target_id"], counts, cold_threshold, tail_share)
                if not popularity:
                    masks = {"all": masks["all"]}
                if history_edges:
                    masks.update(history_masks(np.asarray(ra.per_user["history_length"]), history_edges))
                for metric in metrics:
                    for segment, mask in masks.items():
                        va, vb = pooled.setdefault(f"{dataset['name']} {segment} {metric}", ([], []))
                        va.extend(ra.per_user[metric][mask])
                        vb.extend(rb.per_user[metric][order][mask])
            for name, (va, vb) in pooled.items():
                rows.append((compare(np.array(va), np.array(vb), a, b, name), len(va)))
    adjusted = compare_all([c for c, _ in rows])
    return [
        {
            "a": c.name_a,
            "b": c.name_b,
            "metric": c.metric,
            "rows": n,
            "mean_a": c.mean_a,
            "mean_b": c.mean_b,
            "mean_diff": c.mean_diff,
            "relative_diff": c.mean_diff / c.mean_b if c.mean_b else None,
            "diff_ci": list(c.diff_ci),
            "wilcoxon_p": c.wilcoxon.pvalue,
            "holm_p": c.pvalue_holm,
        }
        for c, (_, n) in zip(adjusted, rows)
    ]


def markdown(rows: list) -> str:
    lines = ["| a | b | rows | metric | a | b | diff [95% CI] | relative | Wilcoxon p | Holm p |", "|---" * 10 + "|"]
    for r in rows:
        relative = "" if r["relative_diff"] is None else f"{r['relative_diff']:+.1%}"
        lines.append(
            f"| {r['a']} | {r['b']} | {r['rows']:,} | {r['metric']} | {r['mean_a']:.4f} | {r['mean_b']:.4f} | "
            f"{r['mean_diff']:+.4f} [{r['diff_ci'][0]:+.4f}, {r['diff_ci'][1]:+.4f}] | {relative} | "
            f"{r['wilcoxon_p']:.2g} | {r['holm_p']:.2g} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the --output folder of `tfseqrec benchmark`")
    parser.add_argument("--metrics", nargs="+", default=["NDCG@10", "HR@10"], help="per-row metrics of per_user.npz")
    parser.add_argument("--cold-threshold", type=int, default=5, help="cold: at most this many training interactions")
    parser.add_argument("--tail-share", type=float, default=0.5, help="tail: the least popular share of the catalogue")
    parser.add_argument(
        "--history-edges", type=int, nargs="+", help="also compare the rows by whole-history length, cut at these"
    )
    parser.add_argument("--no-popularity", action="store_true", help="leave out the cold and tail rows")
    parser.add_argument("--report", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    edges = sorted(args.history_edges) if args.history_edges else None
    rows = comparisons(
        args.output, args.metrics, args.cold_threshold, args.tail_share, edges, popularity=not args.no_popularity
    )
    print(markdown(rows))
    if args.report:
        os.makedirs(args.report.parent, exist_ok=True)
        args.report.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
