"""Does training on two workers reach what one process reaches? SASRec on a dataset, trained by one process and by
``--workers`` processes of a ``MultiWorkerMirroredStrategy`` cluster on localhost, per seed, with the same config
and global batch.

    python benchmarks/distributed.py --data-dir benchmarks/out/data/ml-100k
    python benchmarks/distributed.py --data-dir benchmarks/out/data/ml-100k --seeds 1 2 3 \\
        --output benchmarks/reports/distributed                     # + results.json and report.md

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
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_ports(n: int) -> list:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


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


def run_single(args, run_dir: Path, seed: int) -> dict:
    subprocess.run(train_command(args, run_dir, seed, "default"), env=environment(), check=True, timeout=args.timeout)
    return json.loads((run_dir / "run.json").read_text())


def run_workers(args, run_dir: Path, seed: int) -> list:
    """Starts the cluster's workers; returns each worker's run.json (the chief's first)."""
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
    dirs = [run_dir] + [run_dir / "workers" / f"worker_{i}" for i in range(1, args.workers)]
    return [json.loads((d / "run.json").read_text()) for d in dirs]


def paired(single_dir: Path, workers_dir: Path) -> dict:
    from tfseqrec.evaluation.results import EvaluationResult
    from tfseqrec.evaluation.stats import compare

    a = EvaluationResult.load(str(workers_dir / "test"))
    b = EvaluationResult.load(str(single_dir / "test"))
    c = compare(a.per_user["NDCG@10"], b.per_user["NDCG@10"], "workers", "single", "NDCG@10")
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


def report(results: dict) -> str:
    rows = results["seeds"]
    lines = [
        f"# {results['workers']} workers (MultiWorkerMirroredStrategy on localhost) against one process",
        "",
        f"`{results['command']}` on {results['machine']}; config `{results['config']}` "
        f"({' '.join(results['overrides'])}), data `{results['data_dir']}`; global batch as configured.",
        "",
        "| seed | single valid NDCG@10 | workers valid NDCG@10 | single test NDCG@10 | workers test NDCG@10 | "
        "paired test difference [95% CI], Wilcoxon p | epochs (best) single / workers | s/epoch single / workers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s, w, p = row["single"], row["workers"], row["paired"]
        lines.append(
            f"| {row['seed']} | {s['valid_NDCG@10']:.4f} | {w['valid_NDCG@10']:.4f} | {s['test_NDCG@10']:.4f} | "
            f"{w['test_NDCG@10']:.4f} | {p['mean_diff']:+.4f} [{p['diff_ci'][0]:+.4f}, {p['diff_ci'][1]:+.4f}], "
            f"{p['wilcoxon_p']:.2g} | {s['epochs_run']} ({s['best_epoch']}) / {w['epochs_run']} ({w['best_epoch']}) | "
            f"{s['seconds_per_epoch']:.1f} / {w['seconds_per_epoch']:.1f} |"
        )
    summary = results["summary"]
    lines += [
        "",
        f"Validation NDCG@10 over the seeds: single {summary['single_valid_mean']:.4f} "
        f"(sd {summary['single_valid_sd']:.4f}), workers {summary['workers_valid_mean']:.4f} "
        f"(sd {summary['workers_valid_sd']:.4f}); mean difference {summary['valid_diff_mean']:+.4f}.",
        "",
    ]
    return "\n".join(lines)


def _sd(values: list) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="output of tfseqrec preprocess")
    parser.add_argument("--config", default="configs/sasrec_ml1m.yaml", help="training config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workers", type=int, default=2)
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
        single_dir, workers_dir = runs / f"single_seed{seed}", runs / f"workers_seed{seed}"
        started = time.time()
        single = run_single(args, single_dir, seed)
        workers = run_workers(args, workers_dir, seed)
        chief = workers[0]
        for other in workers[1:]:
            if abs(other["test_metrics"]["NDCG@10"] - chief["test_metrics"]["NDCG@10"]) > 1e-9:
                print(f"seed {seed}: the workers' weights differ (test NDCG@10)", file=sys.stderr)
                return 1
        rows.append(
            {
                "seed": seed,
                "single": figures(single),
                "workers": figures(chief),
                "paired": paired(single_dir, workers_dir),
            }
        )
        print(
            f"seed {seed}: valid NDCG@10 single {single['best_valid_NDCG@10']:.4f}, workers "
            f"{chief['best_valid_NDCG@10']:.4f} ({time.time() - started:.0f} s)",
            flush=True,
        )
    single_valid = [r["single"]["valid_NDCG@10"] for r in rows]
    workers_valid = [r["workers"]["valid_NDCG@10"] for r in rows]
    results = {
        "command": "python benchmarks/distributed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": describe().get("cpu_model", "?"),
        "config": args.config,
        "overrides": args.overrides,
        "data_dir": args.data_dir,
        "workers": args.workers,
        "seeds": rows,
        "summary": {
            "single_valid_mean": statistics.mean(single_valid),
            "single_valid_sd": _sd(single_valid),
            "workers_valid_mean": statistics.mean(workers_valid),
            "workers_valid_sd": _sd(workers_valid),
            "valid_diff_mean": statistics.mean(w - s for w, s in zip(workers_valid, single_valid)),
        },
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
