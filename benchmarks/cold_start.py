"""New users with K interactions: the warm model zero-shot against most-popular and item transitions, per K.

    tfseqrec preprocess --input ../shared/data/ml-100k/recbole/ml-100k.inter --format tsv \\
        --user-col user_id:token --item-col item_id:token --time-col timestamp:float \\
        --item-min-count 5 --user-min-count 5 --split cold_start --output-dir benchmarks/out/data/ml-100k-cold
    python benchmarks/cold_start.py --data-dir benchmarks/out/data/ml-100k-cold --seeds 1 2 3 \\
        --output benchmarks/reports/cold_start_ml100k

The data comes from ``tfseqrec preprocess --split cold_start`` (docs/preprocessing.md): the users who arrived last
are new and never trained on; split ``cold_k<K>`` holds each new user's first K events and the event after
them. Per seed, ``--config`` is trained on the warm users (``tfseqrec train``, early stopping on the warm
validation split), then every ``cold_k<K>`` split is ranked in full (seen items excluded) by that model as it
is (zero-shot) and by the two baselines. Reported per K: NDCG@10 and HR@10 (mean and spread over the seeds),
and each method against most-popular paired over the new users (bootstrap interval, Wilcoxon; seed 1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("most_popular", "transitions")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _cli(*args: str, timeout: float) -> None:
    command = [sys.executable, "-m", "tfseqrec.cli", *args]
    subprocess.run(command, env=_env(), check=True, timeout=timeout, stdout=subprocess.DEVNULL)


def cold_splits(data_dir: str) -> list:
    spec = json.loads((Path(data_dir) / "feature_spec.json").read_text())
    if spec["protocol"].get("split") != "cold_start":
        raise SystemExit(f"{data_dir} was not preprocessed with --split cold_start")
    return sorted((s for s in spec["splits"] if s.startswith("cold_k")), key=lambda s: int(s[len("cold_k") :]))


def evaluation(directory: Path) -> dict:
    from tfseqrec.evaluation.results import EvaluationResult

    result = EvaluationResult.load(str(directory))
    return {"summary": result.summary, "ndcg": result.per_user["NDCG@10"], "ids": list(result.sequence_ids)}


def run(args) -> dict:
    out = Path(args.runs)
    splits = cold_splits(args.data_dir)
    rows: dict = {split: {} for split in splits}
    for name in BASELINES:
        for split in splits:
            target = out / "baselines" / name / split
            if not (target / "metrics.json").exists():
                _cli("evaluate", "--data-dir", args.data_dir, "--baseline", name, "--split", split, "--output-dir",
                     str(target), "--max-len", str(args.baseline_max_len), timeout=args.timeout)  # fmt: skip
            rows[split][name] = [evaluation(target)]
    for seed in args.seeds:
        run_dir = out / f"warm_seed{seed}"
        if (
            not (run_dir / "run.json").exists()
            or json.loads((run_dir / "run.json").read_text())["status"] != "finished"
        ):
            _cli("train", "--config", args.config, "--data-dir", args.data_dir, "--output-dir", str(run_dir),
                 f"seed={seed}", "verbose=0", "resume=true", *args.overrides, timeout=args.timeout)  # fmt: skip
        for split in splits:
            target = run_dir / split
            if not (target / "metrics.json").exists():
                _cli("evaluate", str(run_dir), "--split", split, "--output-dir", str(target), timeout=args.timeout)
            rows[split].setdefault("zero_shot", []).append(evaluation(target))
    return rows


def _paired(a: dict, b: dict) -> dict:
    from tfseqrec.evaluation.stats import compare

    if a["ids"] != b["ids"]:
        raise SystemExit("the evaluations do not rank the same new users in the same order")
    c = compare(a["ndcg"], b["ndcg"], "a", "b", "NDCG@10")
    return {"mean_diff": c.mean_diff, "diff_ci": list(c.diff_ci), "wilcoxon_p": c.wilcoxon.pvalue}


def summarise(rows: dict) -> dict:
    table = {}
    for split, methods in rows.items():
        reference = methods["most_popular"][0]
        table[split] = {}
        for name, runs in methods.items():
            ndcg = [r["summary"]["NDCG@10"] for r in runs]
            hr = [r["summary"]["HR@10"] for r in runs]
            table[split][name] = {
                "NDCG@10": statistics.mean(ndcg),
                "NDCG@10_sd": statistics.stdev(ndcg) if len(ndcg) > 1 else 0.0,
                "HR@10": statistics.mean(hr),
                "users": int(runs[0]["summary"]["num_users"]),
                "seeds": len(runs),
                "vs_most_popular": None if name == "most_popular" else _paired(runs[0], reference),
            }
    return table


def report(table: dict, command: str, machine: str) -> str:
    lines = [
        "# Cold start: new users with K events",
        "",
        f"`{command}` on {machine}.",
        "",
        "| split | method | new users | seeds | NDCG@10 (sd) | HR@10 | vs most popular: NDCG@10 difference [95% CI], "
        "Wilcoxon p |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, methods in table.items():
        for name, row in methods.items():
            versus = row["vs_most_popular"]
            paired = (
                ""
                if versus is None
                else f"{versus['mean_diff']:+.4f} [{versus['diff_ci'][0]:+.4f}, "
                f"{versus['diff_ci'][1]:+.4f}], {versus['wilcoxon_p']:.2g}"
            )
            lines.append(
                f"| {split} | {name} | {row['users']} | {row['seeds']} | {row['NDCG@10']:.4f} "
                f"({row['NDCG@10_sd']:.4f}) | {row['HR@10']:.4f} | {paired} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="output of tfseqrec preprocess --split cold_start")
    parser.add_argument("--config", default="configs/sasrec_ml1m.yaml", help="the warm model's training config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--runs", default="benchmarks/out/cold_start", help="where runs and evaluations go")
    parser.add_argument("--output", default=None, help="directory for results.json and report.md")
    parser.add_argument("--baseline-max-len", type=int, default=200, help="history length the baselines read")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per command")
    parser.add_argument("overrides", nargs="*", default=["time_budget_minutes=null"], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tfseqrec.host.machine import describe

    table = summarise(run(args))
    command = "python benchmarks/cold_start.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(table, command, describe().get("cpu_model", "?"))
    print(text)
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        (Path(args.output) / "results.json").write_text(json.dumps({"command": command, "table": table}, indent=2))
        (Path(args.output) / "report.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
