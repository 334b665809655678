"""Session-based experiments: SR-GNN, GRU4Rec and SASRec on Yoochoose and Diginetica, and HRNN against a plain
GRU4Rec on sessionized ML-1M, several seeds each; prints a Markdown table (mean +- std over seeds) with costs.

    python benchmarks/train_sessions.py                             # the whole grid, seeds 1 2 3 (hours on 2 CPUs)
    python benchmarks/train_sessions.py --only srgnn_yoochoose gru4rec_yoochoose sasrec_yoochoose --seeds 1
    python benchmarks/train_sessions.py --time-budget-minutes 5     # cheap: each run stops after ~5 min of training
    python benchmarks/train_sessions.py --only hrnn_ml1m epochs=1   # KEY=VALUE overrides go to every run
    python benchmarks/train_sessions.py --report-only               # re-print the table from finished runs

Each run is ``tfseqrec train`` in its own process (so peak memory is per run) with a committed config of
``configs/``, on data written by ``tfseqrec preprocess`` into ``--workdir`` (the commands are in ``DATASETS``
and in the configs' comments). Finished runs (``run.json`` with ``status: finished``) trained with the same
extra arguments are not retrained; a run trained with other arguments (another time budget, overrides) is
deleted and trained again, so a cheap trial never passes for a full run.

Protocols (written into every run's ``test/metrics.json``):

* session data (Yoochoose, Diginetica): every next item of each test session (a session of ``n`` clicks gives
  ``n - 1`` events), full ranking over all items, seen items not excluded, ties against the model; Recall@20
  and MRR@20 are means over events. Early stopping on validation MRR@20.
* ML-1M with timestamps: leave-one-out per user, full ranking, seen items excluded; HR@10 and NDCG@10.

Most-popular and first-order item transitions are evaluated on the same test split with the same protocol
(``tfseqrec evaluate --baseline``) as reference rows. Per dataset the report names the winner (best mean
over seeds of the first metric), its margin over the runner-up, and a paired test over the test events
(users): the per-event metric of each model averaged over its seeds, the mean difference with a 95%
bootstrap interval, and the paired t-test and Wilcoxon signed-rank p-values (``tfseqrec.evaluation.stats``;
the events of one test split are the same rows in every run, see ``tfseqrec.evaluation.sessions``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from tfseqrec.benchmark.report import mean_std

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
YOOCHOOSE = SHARED / "yoochoose-100k-sample"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A benchmark dataset: how to preprocess it, what to report, and overrides for every run on it.

    ``filter_seen`` must match the configs' (the baselines are evaluated with it).
    """
    title: str
    preprocess: tuple[str, ...]
    metrics: tuple[str, str]
    overrides: tuple[str, ...] = ()
    note: str = ""
    filter_seen: bool = False


DATASETS = {
    "yoochoose": Dataset(
        "Yoochoose 100k-click sample (session-rec), test = its given last-day test file, validation = the day before",
        ("--input", str(YOOCHOOSE / "yoochoose-clicks-100k_train_full.txt"),
         "--input", str(YOOCHOOSE / "yoochoose-clicks-100k_test.txt"), "--format", "tsv",
         "--split", "session", "--test-days", "1", "--valid-days", "1", "--test-vocabulary", "train_valid"),
        ("Recall@20", "MRR@20")),
    "diginetica": Dataset(
        "Diginetica sample (SR-GNN), SR-GNN's protocol, test = last 7 days, validation = the 7 days before",
        ("--input", str(SHARED / "sample-diginetica-srgnn" / "sample_train-item-views.csv"),
         "--session-col", "session_id", "--time-col", "eventdate", "--order-col", "timeframe",
         "--item-min-count", "5", "--user-min-count", "2",
         "--split", "session", "--test-days", "7", "--valid-days", "7", "--test-vocabulary", "train_valid"),
        ("Recall@20", "MRR@20"),
        overrides=("batch_size=32", "epochs=100"),
        note="the sample keeps 357 train sessions after the paper's filters, so every model trains with batch 32 "
             "for up to 100 epochs (overrides of this benchmark); its ~90 test events make the numbers very noisy"),
    "ml1m_ts": Dataset(
        "ML-1M users 1-2999 with raw timestamps, leave-one-out per user, sessions at 30-minute gaps (HRNN)",
        ("--input", str(SHARED / "ml-1m" / "original" / "ratings.dat.first487650rows.gz"), "--format", "movielens",
         "--item-min-count", "5"),
        ("HR@10", "NDCG@10"), filter_seen=True),
}

# name: (dataset, config file, overrides of this experiment)
EXPERIMENTS = {
    "srgnn_yoochoose": ("yoochoose", "srgnn_yoochoose.yaml", ()),
    "gru4rec_yoochoose": ("yoochoose", "gru4rec_yoochoose.yaml", ()),
    "sasrec_yoochoose": ("yoochoose", "sasrec_yoochoose.yaml", ()),
    "srgnn_diginetica": ("diginetica", "srgnn_diginetica.yaml", ()),
    "gru4rec_diginetica": ("diginetica", "gru4rec_diginetica.yaml", ()),
    "sasrec_diginetica": ("diginetica", "sasrec_diginetica.yaml", ()),
    "hrnn_ml1m": ("ml1m_ts", "hrnn_ml1m_sessions.yaml", ()),
    "hrnn_none_ml1m": ("ml1m_ts", "hrnn_ml1m_sessions.yaml", ("model_config.user_input=none",)),
    "gru4rec_ml1m_sessions": ("ml1m_ts", "gru4rec_ml1m_sessions.yaml", ()),
}
BASELINES = ("most_popular", "transitions")  # `tfseqrec evaluate --baseline`, same split and protocol
DEFAULT_SEEDS = (1, 2, 3)
MARKER = "benchmark.json"  # the extra `tfseqrec train` arguments a run was trained with


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tfseqrec.cli", *args], check=True)


def prepare(dataset: str, workdir: Path) -> Path:
    out = workdir / "data" / dataset
    if not (out / "feature_spec.json").exists():
        _cli("preprocess", *DATASETS[dataset].preprocess, "--output-dir", str(out), "--overwrite")
    return out


def run_dir(workdir: Path, name: str, seed: int) -> Path:
    return workdir / "runs" / name / f"seed{seed}"


def _finished(run: Path) -> Optional[dict]:
    path = run / "run.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    return summary if summary.get("status") == "finished" else None


def run_experiment(name: str, seed: int, workdir: Path, extra: list[str]) -> Path:
    """Trains one (experiment, seed) unless a finished run with the same arguments exists."""
    dataset, config, own = EXPERIMENTS[name]
    data = prepare(dataset, workdir)
    run = run_dir(workdir, name, seed)
    args = [*DATASETS[dataset].overrides, *own, f"seed={seed}", *extra]
    marker = run / MARKER
    if _finished(run) and marker.exists() and json.loads(marker.read_text()).get("args") == args:
        return run
    if run.exists():
        print(f"{name} seed {seed}: retraining (unfinished, or trained with other arguments)", flush=True)
        shutil.rmtree(run)
    run.mkdir(parents=True)
    marker.write_text(json.dumps({"args": args}))
    _cli("train", "--config", str(REPO / "configs" / config), "--data-dir", str(data), "--output-dir", str(run),
         "verbose=2", *args)
    return run


def run_baseline(dataset: str, baseline: str, workdir: Path) -> Path:
    data = prepare(dataset, workdir)
    out = workdir / "runs" / "baselines" / f"{baseline}_{dataset}"
    if not (out / "metrics.json").exists():
        keep_seen = [] if DATASETS[dataset].filter_seen else ["--keep-seen"]
        _cli("evaluate", "--data-dir", str(data), "--baseline", baseline, "--output-dir", str(out), *keep_seen)
    return out


# ------------------------------------------------------------------------------------------------- report
def _runs(workdir: Path, name: str, seeds: list[int]) -> list[tuple[Path, dict]]:
    """Finished runs of ``name`` for ``seeds``."""
    found = []
    for seed in seeds:
        run = run_dir(workdir, name, seed)
        summary = _finished(run)
        if summary is not None:
            found.append((run, summary))
    return found


def _extra_args(name: str, run: Path) -> list[str]:
    """The arguments a run was trained with beyond its dataset's, its experiment's and its seed."""
    dataset, _, own = EXPERIMENTS[name]
    marker = run / MARKER
    args = json.loads(marker.read_text()).get("args", []) if marker.exists() else ["?"]
    fixed = set(DATASETS[dataset].overrides) | set(own)
    return [a for a in args if a not in fixed and not a.startswith("seed=")]


def _per_event(runs: list[tuple[Path, dict]], metric: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(row keys, the per-row metric averaged over the seeds), or None when the rows differ between runs."""
    keys, values = None, []
    for run, summary in runs:
        path = run / summary["test_split"] / "per_user.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            row_keys = np.char.add(data["sequence_ids"].astype(str),
                                   np.char.add("@", data["position"].astype(str) if "position" in data.files
                                               else np.zeros(len(data["sequence_ids"]), int).astype(str)))
            if keys is not None and not np.array_equal(keys, row_keys):
                return None
            keys = row_keys
            values.append(data[metric].astype(np.float64))
    return (keys, np.mean(values, axis=0)) if values else None


def _paired(best: tuple, other: tuple, metric: str) -> str:
    """Paired comparison over the shared test rows (``tfseqrec.evaluation.stats``: t-test, Wilcoxon, bootstrap CI)."""
    from tfseqrec.evaluation import stats
    if best is None or other is None or not np.array_equal(best[0], other[0]):
        return "paired test: n/a (runs do not share their test rows)"
    if best[1].size < 2:
        return "paired test: n/a (fewer than 2 test rows)"
    c = stats.compare(best[1], other[1], "best", "other", metric, seed=0)
    return (f"paired over {best[1].size:,} test rows (per-row {metric}, averaged over seeds): mean difference "
            f"{c.mean_diff:+.4f} (95% bootstrap CI [{c.diff_ci[0]:+.4f}, {c.diff_ci[1]:+.4f}]), paired t-test "
            f"p = {c.ttest.pvalue:.2g}, Wilcoxon signed-rank p = {c.wilcoxon.pvalue:.2g}")


def report(workdir: Path, names: list[str], seeds: list[int]) -> str:
    lines = ["# Session-based experiments\n", f"workdir: `{workdir}`; seeds {', '.join(map(str, seeds))}\n"]
    for dataset, info in DATASETS.items():
        chosen = [n for n in names if EXPERIMENTS[n][0] == dataset]
        if not chosen:
            continue
        m1, m2 = info.metrics
        lines += [f"## {dataset}: {info.title}\n"]
        if info.note:
            lines.append(f"Note: {info.note}.\n")
        rows = [f"| experiment | seeds | {m1} | {m2} | s/epoch | epochs to best / run | stopped by | peak MiB | "
                f"test rows | extra arguments |", "|" + "---|" * 10]
        scores = {}
        for name in chosen:
            runs = _runs(workdir, name, seeds)
            if not runs:
                rows.append(f"| {name} | not run | | | | | | | | |")
                continue
            extra = sorted({" ".join(_extra_args(name, run)) for run, _ in runs})
            tests = [s["test_metrics"] for _, s in runs]
            first = [t[m1] for t in tests]
            scores[name] = (float(np.mean(first)), float(np.mean([t[m2] for t in tests])), runs)
            epochs = ", ".join(f"{s['best_epoch']}/{s['epochs_run']}" for _, s in runs)
            stopped = ", ".join(sorted({s["stopped_by"] for _, s in runs}))
            seconds = [s["seconds_per_epoch"] for _, s in runs if s.get("seconds_per_epoch") is not None]
            test_rows = (f"{tests[0]['num_events']:,} events / {tests[0]['num_sessions']:,} sessions"
                         if "num_events" in tests[0] else f"{tests[0]['num_users']:,} users")
            rows.append(f"| {name} | {len(runs)} | {mean_std(first)} | {mean_std([t[m2] for t in tests])} | "
                        f"{mean_std(seconds, 1)} | {epochs} | {stopped} | "
                        f"{mean_std([s['peak_memory_mib'] for _, s in runs], 0)} | {test_rows} | "
                        f"{'; '.join(f'`{e}`' for e in extra if e) or 'none'} |")
        for baseline in BASELINES:
            path = workdir / "runs" / "baselines" / f"{baseline}_{dataset}" / "metrics.json"
            if path.exists():
                m = json.loads(path.read_text())["summary"]
                rows.append(f"| {baseline} (baseline) | | {m[m1]:.4f} | {m[m2]:.4f} | | | | | | |")
        lines += rows + [""]
        if len(scores) >= 2:
            ranked = sorted(scores, key=lambda n: scores[n][0], reverse=True)
            best, second = ranked[0], ranked[1]
            b, s = scores[best], scores[second]
            rel = f", {(b[0] / s[0] - 1) * 100:+.1f}%" if s[0] > 0 else ""
            lines.append(f"**Winner on {dataset}: {best}** by {m1}: {b[0]:.4f} vs {s[0]:.4f} for {second} "
                         f"({b[0] - s[0]:+.4f}{rel}); {m2}: {b[1]:.4f} vs {s[1]:.4f} ({b[1] - s[1]:+.4f}).\n")
            lines += [f"- {_paired(_per_event(b[2], m), _per_event(s[2], m), m)}" for m in (m1, m2)] + [""]
    machine = next((json.loads(p.read_text())["machine"] for p in (workdir / "runs").glob("*/*/run.json")
                    if "machine" in json.loads(p.read_text())), {})
    lines.append(f"machine: {json.dumps(machine)}\n")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(REPO / "benchmarks" / "out" / "sessions"), help="data and runs")
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), help="run only these experiments")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS), help="seeds of every experiment")
    parser.add_argument("--time-budget-minutes", type=float, default=None,
                        help="stop each run's training after this many minutes (the best epoch so far is tested)")
    parser.add_argument("--report-only", action="store_true", help="print the table from finished runs")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides passed to every `tfseqrec train` "
                        "(anywhere on the line, also after --only / --seeds)")
    argv = sys.argv[1:]
    overrides = [a for a in argv if "=" in a and not a.startswith("-")]  # not swallowed by --only / --seeds
    args = parser.parse_args([a for a in argv if a not in overrides])
    workdir = Path(args.workdir)
    names = args.only or list(EXPERIMENTS)
    extra = overrides + list(args.overrides)
    if args.time_budget_minutes is not None:
        extra.append(f"time_budget_minutes={args.time_budget_minutes:g}")
    if not args.report_only:
        for name in names:
            for seed in args.seeds:
                run_experiment(name, seed, workdir, extra)
        for dataset in sorted({EXPERIMENTS[n][0] for n in names}):
            for baseline in BASELINES:
                run_baseline(dataset, baseline, workdir)
    table = report(workdir, names, args.seeds)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "report.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
