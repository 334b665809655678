"""Does distributed training reach what one process reaches? SASRec on a dataset, trained per seed by one process
and by each of ``--strategies``: ``multi_worker`` (``--workers`` processes of a ``MultiWorkerMirroredStrategy``
cluster on localhost, the same global batch) and ``parameter_server`` (an in-process cluster of ``--workers``
workers and one parameter server, asynchronous steps of ``batch_size`` rows).

    python benchmarks/distributed.py --data-dir benchmarks/out/data/ml-100k
    python benchmarks/distributed.py --data-dir benchmarks/out/data/ml-100k --seeds 1 2 3 \\
        --strategies multi_worker parameter_server --output benchmarks/reports/distributed

Finished runs under ``--runs`` are reused, so a strategy can be added to an earlier comparison.

Each run is a ``tfseqrec train`` of ``--config`` (default: the preset the ML-100K benchmark uses) to early
stopping, with ``KEY=VALUE`` overrides (default: ``time_budget_minutes=null``, which multi_worker needs). Reported
per seed: best validation NDCG@10 and test NDCG@10 of each, the workers' test NDCG@10 against the single
process's (paired over the test users: bootstrap interval and Wilcoxon), epochs and seconds per epoch. "Within
noise" is judged against the spread of the single-process runs over the seeds. Every worker holds the same
weights: the benchmark checks that the workers' test figures agree (and exits non-zero when they do not).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train_command(args, run_dir: Path, seed: int, strategy: str) -> list:
    command = [sys.executable, "-m", "tfseqrec.cli", "train", "--config", args.config, "--data-dir", args.data_dir]
    command += ["--output-dir", str(run_dir), f"seed={seed}", f"strategy={strategy}", "verbose=0", *args.overrides]
    return command


def environment(tf_config=None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def finished(run_dir: Path):
    path = run_dir / "run.json"
    if path.exists():
        run = json.loads(path.read_text())
        if run.get("status") == "finished":
            return run
    return None


def run_single(args, run_dir: Path, seed: int, strategy: str = "default", extra=()) -> dict:
    """One process (``default``, or ``parameter_server`` with its in-process cluster); reused when finished."""
    done = finished(run_dir)
    if done is not None:
        return done
    command = train_command(args, run_dir, seed, strategy) + list(extra)
    subprocess.run(command, env=environment(), check=True, timeout=args.timeout)
    return json.loads((run_dir / "run.json").read_text())


def run_workers(args, run_dir: Path, seed: int) -> list:
    """Starts the cluster's workers; returns each worker's run.json (the chief's first); reused when finished."""
    dirs = [run_dir] + [run_dir / "workers" / f"worker_{i}" for i in range(1, args.workers)]
    if all(finished(d) is not None for d in dirs):
        return [finished(d) for d in dirs]
    from tfseqrec.training.distribution import free_ports

    cluster = {"worker": [f"localhost:{port}" for port in free_ports(args.workers)]}
    processes = [
        subprocess.Popen(
            train_command(args, run_dir, seed, "multi_worker"),
            env=environment({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        )
        for i in range(args.workers)
    ]
    try:
        for p in processes:
            if p.wait(timeout=args.timeout):
                raise RuntimeError(f"a worker of seed {seed} failed (exit {p.returncode})")
    finally:
        for p in processes:
            p.kill()
    return [json.loads((d / "run.json").read_text()) for d in dirs]


def paired(single_dir: Path, other_dir: Path) -> dict:
    from tfseqrec.evaluation.results import EvaluationResult
    from tfseqrec.evaluation.stats import compare

    a = EvaluationResult.load(str(other_dir / "test"))
    b = EvaluationResult.load(str(single_dir / "test"))
    c = compare(a.per_user["NDCG@10"], b.per_user["NDCG@10"], "distributed", "single", "NDCG@10")
    return {"mean_diff": c.mean_diff, "diff_ci": list(c.diff_ci), "wilcoxon_p": c.wilcoxon.pvalue}


def figures(run: dict) -> dict:
    return {
        "valid_NDCG@10": run["best_valid_NDCG@10"],
        "test_NDCG@10": run["test_metrics"]["NDCG@10"],
        "test_HR@10": run["test_metrics"]["HR@10"],
        "best_epoch": run["best_epoch"],
        "epochs_run": run["epochs_run"],
        "seconds_per_epoch": run["seconds_per_epoch"],
    }


LABELS = {
    "multi_worker": "{n} workers (MultiWorkerMirroredStrategy on localhost)",
    "parameter_server": "parameter servers ({n} workers, 1 ps, in process)",
}


def report(results: dict) -> str:
    n = results["workers"]
    lines = [
        "# Distributed training against one process",
        "",
        f"`{results['command']}` on {results['machine']}; config `{results['config']}` "
        f"({' '.join(results['overrides'])}), data `{results['data_dir']}`.",
        "",
        "| seed | strategy | single valid NDCG@10 | distributed valid NDCG@10 | single test NDCG@10 | distributed test "
        "NDCG@10 | paired test difference [95% CI], Wilcoxon p | epochs (best) single / distributed | s/epoch "
        "single / distributed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["seeds"]:
        s = row["single"]
        for strategy in results["strategies"]:
            w, p = row[strategy], row[strategy]["paired"]
            lines.append(
                f"| {row['seed']} | {strategy} | {s['valid_NDCG@10']:.4f} | {w['valid_NDCG@10']:.4f} | "
                f"{s['test_NDCG@10']:.4f} | {w['test_NDCG@10']:.4f} | {p['mean_diff']:+.4f} [{p['diff_ci'][0]:+.4f}, "
                f"{p['diff_ci'][1]:+.4f}], {p['wilcoxon_p']:.2g} | {s['epochs_run']} ({s['best_epoch']}) / "
                f"{w['epochs_run']} ({w['best_epoch']}) | {s['seconds_per_epoch']:.1f} / {w['seconds_per_epoch']:.1f} |"
            )
    lines += ["", "Validation NDCG@10 over the seeds:", ""]
    single = results["summary"]["single"]
    lines.append(f"- one process: {single['mean']:.4f} (sd {single['sd']:.4f})")
    for strategy in results["strategies"]:
        summary = results["summary"][strategy]
        lines.append(
            f"- {LABELS[strategy].format(n=n)}: {summary['mean']:.4f} (sd {summary['sd']:.4f}); mean difference "
            f"{summary['diff_mean']:+.4f}"
        )
    return "\n".join(lines + [""])


def _sd(values: list) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="output of tfseqrec preprocess")
    parser.add_argument("--config", default="configs/sasrec_ml1m.yaml", help="training config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workers", type=int, default=2, help="workers of each distributed run")
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=("multi_worker", "parameter_server"),
        default=["multi_worker"],
        help="what to compare with one process",
    )
    parser.add_argument("--runs", default="benchmarks/out/distributed", help="where the runs are written")
    parser.add_argument("--output", default=None, help="directory for results.json and report.md")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run before it counts as hung")
    parser.add_argument("overrides", nargs="*", default=["time_budget_minutes=null"], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tfseqrec.host.machine import describe

    runs = Path(args.runs)
    rows = []
    for seed in args.seeds:
        started = time.time()
        single_dir = runs / f"single_seed{seed}"
        row = {"seed": seed, "single": figures(run_single(args, single_dir, seed))}
        for strategy in args.strategies:
            if strategy == "multi_worker":
                other_dir = runs / f"workers_seed{seed}"
                workers = run_workers(args, other_dir, seed)
                if any(
                    abs(w["test_metrics"]["NDCG@10"] - workers[0]["test_metrics"]["NDCG@10"]) > 1e-9 for w in workers
                ):
                    print(f"seed {seed}: the workers' weights differ (test NDCG@10)", file=sys.stderr)
                    return 1
                run = workers[0]
            else:
                other_dir = runs / f"ps_seed{seed}"
                run = run_single(args, other_dir, seed, strategy, [f"local_cluster=[{args.workers}, 1]"])
            row[strategy] = {**figures(run), "paired": paired(single_dir, other_dir)}
        rows.append(row)
        shown = ", ".join(f"{k} {row[k]['valid_NDCG@10']:.4f}" for k in args.strategies)
        print(f"seed {seed}: valid NDCG@10 single {row['single']['valid_NDCG@10']:.4f}, {shown} "
              f"({time.time() - started:.0f} s)", flush=True)  # fmt: skip
    single_valid = [r["single"]["valid_NDCG@10"] for r in rows]
    summary = {"single": {"mean": statistics.mean(single_valid), "sd": _sd(single_valid)}}
    for strategy in args.strategies:
        values = [r[strategy]["valid_NDCG@10"] for r in rows]
        summary[strategy] = {
            "mean": statistics.mean(values),
            "sd": _sd(values),
            "diff_mean": statistics.mean(v - s for v, s in zip(values, single_valid)),
        }
    results = {
        "command": "python benchmarks/distributed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": describe().get("cpu_model", "?"),
        "config": args.config,
        "overrides": args.overrides,
        "data_dir": args.data_dir,
        "workers": args.workers,
        "strategies": list(args.strategies),
        "seeds": rows,
        "summary": summary,
    }
    text = report(results)
    print(text)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "report.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
