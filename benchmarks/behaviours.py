"""Per-behaviour results of a benchmark grid's cells: Recall@K / NDCG@K per target behaviour, with paired tests.

For data with event types (``target_event_types`` in the records), each cell's ``test/per_user.npz`` holds every
user's top-K list (models with a target behaviour: one list per behaviour asked for); with the test records'
targets and their behaviours this gives, per behaviour ``b``, OTTO's ``Recall@K`` and each user's ``NDCG@K``
(``tfseqrec.evaluation.behaviours``). The table averages the seeds; the
paired comparisons (the grid's ``pairs``) pool the users of all seeds, pairing a user with itself under the same
seed, on the users with targets of ``b``: mean difference, 95% bootstrap interval, Wilcoxon p (Holm over all rows).

    python benchmarks/behaviours.py benchmarks/out/behaviours --report benchmarks/reports/behaviours/behaviours.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfseqrec.data import SequenceBatchConfig, load_feature_spec, make_dataset  # noqa: E402
from tfseqrec.evaluation.behaviours import per_user_behaviour  # noqa: E402
from tfseqrec.evaluation.evaluator import TOPK_FOR_EVENT  # noqa: E402
from tfseqrec.evaluation.results import EvaluationResult  # noqa: E402
from tfseqrec.evaluation.stats import compare, compare_all  # noqa: E402


def test_targets(data_dir: str) -> tuple[list, dict]:
    """``(event names, {sequence_id: (target_ids, target_event_types)})`` of the test split."""
    spec = load_feature_spec(data_dir)
    if "target_event_types" not in spec.features:
        raise SystemExit(f"{data_dir}: the records have no target_event_types (data without event types)")
    config = SequenceBatchConfig(batch_size=512, max_len=1, include_targets=True, num_parallel_reads=None)
    targets = {}
    for batch in make_dataset(spec, "test", config):
        ids = batch["target_ids"].to_list()
        events = batch["target_event_types"].to_list()
        for key, t, e in zip(batch["sequence_id"].numpy(), ids, events):
            targets[key.decode("utf-8")] = (np.asarray(t, np.int64), np.asarray(e, np.int64))
    return list(spec.event_types), targets


def cell_scores(cell: Path, targets: dict, event_names: list, k: int) -> dict:
    """``{behaviour: (sequence_ids, hits, wanted, ndcg)}`` of one finished cell."""
    result = EvaluationResult.load(str(cell / "test"))
    topk = result.per_user["topk_ids"]
    if topk.shape[1] < k:
        raise SystemExit(f"{cell}: top-{topk.shape[1]} lists are shorter than K={k}")
    width = max(len(targets[s][0]) for s in result.sequence_ids)
    ids = np.zeros((len(topk), width), np.int64)
    events = np.zeros((len(topk), width), np.int64)
    for row, key in enumerate(result.sequence_ids):
        t, e = targets[str(key)]
        ids[row, : len(t)], events[row, : len(e)] = t, e
    out = {}
    for event_id, name in enumerate(event_names, start=1):
        lists = result.per_user.get(f"{TOPK_FOR_EVENT}{event_id}", topk)  # asked for b (target_behaviour)
        hits, wanted, ndcg = per_user_behaviour(lists, ids, events, event_id, k)
        out[name] = (np.asarray(result.sequence_ids, str), hits, wanted, ndcg)
    return out


def summarise(output: Path, k: int) -> dict:
    grid = json.loads((output / "grid.json").read_text())["grid"]
    report = {"grid": grid["name"], "k": k, "datasets": {}}
    for dataset in grid["datasets"]:
        name = dataset["name"]
        event_names, targets = test_targets(str(output / "data" / name))
        cells = {}
        for run in grid["runs"]:
            for seed in grid["seeds"]:
                cell = output / "runs" / name / run["name"] / f"seed{seed}"
                if (cell / "test" / "per_user.npz").exists():
                    cells[(run["name"], seed)] = cell_scores(cell, targets, event_names, k)
        report["datasets"][name] = {
            "table": _table(cells, event_names, k),
            "comparisons": _comparisons(cells, grid.get("pairs") or [], grid["seeds"], event_names, k),
        }
    return report


def _table(cells: dict, event_names: list, k: int) -> list:
    rows = []
    for run in dict.fromkeys(r for r, _ in cells):
        seeds = [s for r, s in cells if r == run]
        for name in event_names:
            recalls = [cells[(run, s)][name][1].sum() / max(cells[(run, s)][name][2].sum(), 1) for s in seeds]
            ndcgs = [np.nanmean(cells[(run, s)][name][3]) for s in seeds]
            users = int((cells[(run, seeds[0])][name][2] > 0).sum())
            rows.append(
                {
                    "run": run,
                    "behaviour": name,
                    f"Recall@{k}": float(np.mean(recalls)),
                    f"NDCG@{k}": float(np.mean(ndcgs)),
                    "seeds": seeds,
                    "users": users,
                }
            )
    return rows


def _comparisons(cells: dict, pairs: list, seeds: list, event_names: list, k: int) -> list:
    rows = []
    for a, b in pairs:
        both = [s for s in seeds if (a, s) in cells and (b, s) in cells]
        if not both:
            continue
        for name in event_names:
            values_a, values_b = [], []
            for seed in both:
                ids_a, _, _, ndcg_a = cells[(a, seed)][name]
                ids_b, _, _, ndcg_b = cells[(b, seed)][name]
                by_id = dict(zip(ids_b, ndcg_b))
                for key, value in zip(ids_a, ndcg_a):
                    if not np.isnan(value) and key in by_id:
                        values_a.append(value)
                        values_b.append(by_id[key])
            if len(values_a) >= 2:
                rows.append(compare(np.array(values_a), np.array(values_b), a, b, f"{name} NDCG@{k}"))
    return [
        {
            "a": c.name_a,
            "b": c.name_b,
            "metric": c.metric,
            "mean_a": c.mean_a,
            "mean_b": c.mean_b,
            "mean_diff": c.mean_diff,
            "diff_ci": list(c.diff_ci),
            "wilcoxon_p": c.wilcoxon.pvalue,
            "holm_p": c.pvalue_holm,
        }
        for c in compare_all(rows)
    ]


def markdown(report: dict) -> str:
    k = report["k"]
    lines = []
    for dataset, parts in report["datasets"].items():
        lines += [
            f"### {dataset}",
            "",
            f"| run | behaviour | Recall@{k} | NDCG@{k} | users | seeds |",
            "|---|---|---|---|---|---|",
        ]
        for r in parts["table"]:
            lines.append(
                f"| {r['run']} | {r['behaviour']} | {r[f'Recall@{k}']:.4f} | {r[f'NDCG@{k}']:.4f} | {r['users']} | "
                f"{len(r['seeds'])} |"
            )
        lines += [
            "",
            "| a | b | metric | a | b | diff [95% CI] | Wilcoxon p | Holm p |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in parts["comparisons"]:
            lines.append(
                f"| {c['a']} | {c['b']} | {c['metric']} | {c['mean_a']:.4f} | {c['mean_b']:.4f} | "
                f"{c['mean_diff']:+.4f} [{c['diff_ci'][0]:+.4f}, {c['diff_ci'][1]:+.4f}] | {c['wilcoxon_p']:.2g} | "
                f"{c['holm_p']:.2g} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the --output folder of `tfseqrec benchmark`")
    parser.add_argument("--k", type=int, default=20, help="cut-off (at most the cells' top-K list length)")
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    report = summarise(args.output, args.k)
    print(markdown(report))
    if args.report:
        os.makedirs(args.report.parent, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
