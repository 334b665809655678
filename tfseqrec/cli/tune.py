"""`tfseqrec tune`: hyperparameter search over training config keys (Optuna TPE, pruning, resumable)."""

from __future__ import annotations

import argparse
import os

from tfseqrec.cli.common import Formatter

TUNE_EPILOG = """\
SPACE is a YAML file: the base training config (`config`, `data_dir`, `overrides`), the keys to search
(`params`: dotted config keys with low/high [log, step, type] or choices, optionally `when` conditions on
earlier keys), `trials`, `seed`, `startup_trials` and `pruner` (median, hyperband or none); see
tfseqrec/tuning/space.py and benchmarks/tune/.

Every trial is a `tfseqrec train` run in OUTPUT/trials/trial_NNNN; the study (Optuna's journal file
OUTPUT/study.journal) survives a kill: run the same command again and it continues, the interrupted trials from
their last complete epoch. The base config is also trained unchanged (OUTPUT/baseline) for the comparison.
At the end OUTPUT holds report.md (best trial vs the preset, paired test, importance), trials.csv, plots and
best_config.yaml (the preset to train with: tfseqrec train --config OUTPUT/best_config.yaml).

examples:
  tfseqrec preprocess --input ../shared/data/ml-100k/recbole/ml-100k.inter --format tsv \\
      --user-col user_id:token --item-col item_id:token --time-col timestamp:float \\
      --item-min-count 5 --user-min-count 5 --output-dir out/ml-100k
  tfseqrec tune benchmarks/tune/sasrec_ml100k.yaml --output tune/sasrec_ml100k --jobs 2
  tfseqrec tune benchmarks/tune/sasrec_ml100k.yaml --output tune/sasrec_ml100k --report-only
"""


def run_tune(args: argparse.Namespace) -> int:
    from tfseqrec.tuning.report import write_report
    from tfseqrec.tuning.space import load_search_space
    from tfseqrec.tuning.study import open_study, optimize, run_baseline

    space = load_search_space(args.space, trials=args.trials, data_dir=args.data_dir)
    if args.jobs < 1:
        raise ValueError(f"--jobs {args.jobs}: give at least 1")
    progress = not args.no_progress
    if args.report_only:
        if not os.path.exists(os.path.join(args.output, "study.journal")):
            raise FileNotFoundError(f"{args.output} holds no study: run tfseqrec tune without --report-only first")
        study = open_study(space, args.output)
    else:
        if space.baseline:
            if progress:
                print(f"training the base config unchanged -> {os.path.join(args.output, 'baseline')}", flush=True)
            run_baseline(space, args.output)
        study = optimize(space, args.output, jobs=args.jobs, timeout_minutes=args.timeout_minutes, progress=progress)
    summary = write_report(space, study, args.output, preset=args.preset)
    best = summary.get("best")
    if best:
        line = f"best trial {best['number']}: validation {summary['metric']} {best['valid']:.4f}"
        if "NDCG@10" in best["test"]:
            line += f", test NDCG@10 {best['test']['NDCG@10']:.4f}"
        if summary.get("baseline"):
            line += f" (base config: validation {summary['baseline']['valid']:.4f})"
        print(line)
    else:
        print("no trial completed")
    print(f"report: {os.path.join(args.output, 'report.md')}")
    return 0 if best else 1


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune",
        formatter_class=Formatter,
        epilog=TUNE_EPILOG,
        help="hyperparameter search (Optuna TPE with pruning; resumable, parallel)",
        description="Search training config keys with Bayesian optimisation (TPE), stop bad trials early on "
        "their validation curve, and write the report and the best config as a preset.",
    )
    p.add_argument("space", help="search space YAML (see tfseqrec/tuning/space.py)")
    p.add_argument("--output", "-o", required=True, help="study directory (created; reused to resume)")
    p.add_argument("--trials", type=int, default=None, help="finished trials to reach (default: the space's)")
    p.add_argument("--jobs", type=int, default=1, help="trial processes in parallel (each gets cores / jobs)")
    p.add_argument("--timeout-minutes", type=float, default=None, help="start no trial after this long")
    p.add_argument("--data-dir", default=None, help="replaces the space's data_dir")
    p.add_argument("--preset", default=None, help="also write the best config to this path")
    p.add_argument("--report-only", action="store_true", help="rewrite the report of an existing study")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or messages")
