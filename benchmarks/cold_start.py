"""New users with K interactions: the warm model zero-shot, fine-tuned and meta-learned, against most-popular and
item transitions, per K.

    tfseqrec preprocess --input ../shared/data/ml-100k/recbole/ml-100k.inter --format tsv \\
        --user-col user_id:token --item-col item_id:token --time-col timestamp:float \\
        --item-min-count 5 --user-min-count 5 --split cold_start --cold-user-fraction 0.3 \\
        --cold-valid-fraction 0.4 --output-dir benchmarks/out/data/ml-100k-meta
    python benchmarks/cold_start.py --data-dir benchmarks/out/data/ml-100k-meta --seeds 1 2 3 \\
        --meta maml fomaml reptile --output benchmarks/reports/cold_start_meta_ml100k

The data comes from ``tfseqrec preprocess --split cold_start`` (docs/preprocessing.md): the users who arrived last
are new and never trained on; split ``cold_k<K>`` holds each tested new user's first K events and the event
after them (``cold_valid_k<K>`` the same for the new users held out for validation, with
``--cold-valid-fraction``). Per seed, ``--config`` is trained on the warm users (``tfseqrec train``, early
stopping on the warm validation split), then every ``cold_k<K>`` split is ranked in full (seen items excluded):

* ``zero_shot``: the warm model as it is;
* ``fine_tune`` (with ``--meta``): the warm model with a per-user ``--adapter`` fine-tuned on each history's
  own next-item pairs (``--inner-steps`` steps, ``tfseqrec evaluate --model-config``); the step size for K events
  is picked from ``--fine-tune-lrs`` on the validation users with K events, which gives one step size per
  number of pairs (``adaptation.inner_lr`` as a list);
* ``meta_<algorithm>`` for each of ``--meta``: the warm model meta-trained with that algorithm
  (``tfseqrec train init_from=<warm run> model_config.adaptation...``, early stopping on the validation users of
  ``--validation-splits`` pooled); its step sizes start at fine-tuning's and are meta-learned, so its first
  validation is fine-tuning's;
* the baselines ``most_popular`` and ``transitions``.

Reported per K: NDCG@10 and HR@10 (mean and spread over the seeds); each method against most-popular paired over
the new users (seed 1); the adapted methods against zero-shot and meta-learning against fine-tuning paired over
the new users on their NDCG@10 averaged over the seeds (bootstrap interval, Wilcoxon); and the cost of adapting:
milliseconds per user of scoring a batch of 256 new users, adapted against zero-shot, in this process.
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


def _finished(run_dir: Path) -> bool:
    path = run_dir / "run.json"
    return path.exists() and json.loads(path.read_text())["status"] == "finished"


def _evaluate(run_dir: Path, split: str, target: Path, timeout: float, model_config: tuple = ()) -> dict:
    if not (target / "metrics.json").exists():
        extra = ("--model-config", *model_config) if model_config else ()
        _cli("evaluate", str(run_dir), "--split", split, "--output-dir", str(target), *extra, timeout=timeout)
    return evaluation(target)


def adapter_config(args, algorithm: str, inner_lr) -> tuple:
    """``key=value`` model-config settings of the adaptation (without the ``model_config.`` prefix)."""
    return (
        f"adaptation.adapter={args.adapter}",
        f"adaptation.algorithm={algorithm}",
        f"adaptation.inner_steps={args.inner_steps}",
        f"adaptation.inner_lr={inner_lr}",
        f"adaptation.support_window={args.support_window}",
    )


def fine_tune_lr(args, run_dir: Path, validation: str) -> tuple:
    """The fine-tuning step size with the best validation NDCG@10 on ``validation``, and every candidate's figure."""
    figures = {}
    for lr in args.fine_tune_lrs:
        target = run_dir / "fine_tune" / f"lr{lr}" / validation
        figures[lr] = _evaluate(run_dir, validation, target, args.timeout, adapter_config(args, "none", lr))
        figures[lr] = figures[lr]["summary"]["NDCG@10"]
    return max(figures, key=figures.get), figures


def step_sizes_by_pairs(lr_by_k: dict, support_window: int) -> list:
    """The step size for a history with ``1 .. support_window - 1`` pairs: that picked on the validation users
    whose pair count (``K - 1``, at most ``support_window - 1``) is nearest (ties: the fewer pairs)."""
    picked = {min(k - 1, support_window - 1): lr for k, lr in lr_by_k.items() if k >= 2}
    if not picked:
        raise SystemExit("fine-tuning needs validation users with K >= 2 events: preprocess with --support-sizes")
    return [picked[min(picked, key=lambda p: (abs(p - n), p))] for n in range(1, support_window)]


def _yaml_list(steps: list) -> str:
    return "[" + ",".join(str(v) for v in steps) + "]"


def run(args) -> tuple:
    out = Path(args.runs)
    splits = cold_splits(args.data_dir)
    validation = args.validation_splits or validation_splits(args.data_dir)
    if args.meta and not validation:
        raise SystemExit(f"--meta needs validation users: preprocess with --cold-valid-fraction ({args.data_dir})")
    rows: dict = {split: {} for split in splits}
    selection: dict = {}
    for name in BASELINES:
        for split in splits:
            target = out / "baselines" / name / split
            if not (target / "metrics.json").exists():
                _cli("evaluate", "--data-dir", args.data_dir, "--baseline", name, "--split", split, "--output-dir",
                     str(target), "--max-len", str(args.baseline_max_len), timeout=args.timeout)  # fmt: skip
            rows[split][name] = [evaluation(target)]
    for seed in args.seeds:
        run_dir = out / f"warm_seed{seed}"
        if not _finished(run_dir):
            _cli("train", "--config", args.config, "--data-dir", args.data_dir, "--output-dir", str(run_dir),
                 f"seed={seed}", "verbose=0", "resume=true", *args.overrides, timeout=args.timeout)  # fmt: skip
        for split in splits:
            rows[split].setdefault("zero_shot", []).append(_evaluate(run_dir, split, run_dir / split, args.timeout))
        if not args.meta:
            continue
        # fine-tuning's step size for each K from the validation users with K events; one per number of pairs
        lr_by_k, figures = {}, {}
        for held_out in validation_splits(args.data_dir):
            k = int(held_out[len("cold_valid_k") :])
            if k >= 2:
                lr_by_k[k], figures[held_out] = fine_tune_lr(args, run_dir, held_out)
        steps = step_sizes_by_pairs(lr_by_k, args.support_window)
        selection[f"seed{seed}"] = {"fine_tune_lr_by_k": lr_by_k, "step_sizes_by_pairs": steps,
                                    "validation_NDCG@10": figures}  # fmt: skip
        tuned = adapter_config(args, "none", _yaml_list(steps))
        for split in splits:
            target = run_dir / "fine_tune" / ("steps" + "_".join(str(v) for v in steps)) / split
            rows[split].setdefault("fine_tune", []).append(_evaluate(run_dir, split, target, args.timeout, tuned))
        for algorithm in args.meta:
            meta_dir = out / f"meta_{algorithm}_seed{seed}"
            if not _finished(meta_dir):
                settings = [f"model_config.{value}" for value in adapter_config(args, algorithm, _yaml_list(steps))]
                _cli("train", "--config", args.config, "--data-dir", args.data_dir, "--output-dir", str(meta_dir),
                     f"seed={seed}", "verbose=0", "resume=true", *args.overrides, f"init_from={run_dir}",
                     f"validation_split={_yaml_list(validation)}", *settings, *args.meta_overrides,
                     timeout=args.timeout)  # fmt: skip
            run_summary = json.loads((meta_dir / "run.json").read_text())
            selection[f"seed{seed}"][f"meta_{algorithm}"] = {
                "best_epoch": run_summary["best_epoch"],
                "epochs_run": run_summary["epochs_run"],
                "train_seconds": run_summary["train_seconds"],
                "validation_NDCG@10": run_summary["best_valid_NDCG@10"],
            }
            for split in splits:
                result = _evaluate(meta_dir, split, meta_dir / split, args.timeout)
                rows[split].setdefault(f"meta_{algorithm}", []).append(result)
    return rows, selection


def validation_splits(data_dir: str) -> list:
    spec = json.loads((Path(data_dir) / "feature_spec.json").read_text())
    return sorted((s for s in spec["splits"] if s.startswith("cold_valid_k")), key=lambda s: int(s[12:]))


def adaptation_cost(args, split: str, rounds: int = 7, repeats: int = 5) -> dict:
    """Milliseconds per user of scoring one batch of ``split`` (256 users) with the first seed's first meta-learned
    model, adapted and zero-shot (its adapter removed): ``rounds`` alternating rounds of ``repeats`` calls each,
    the median round of each."""
    import time

    import tfseqrec  # noqa: F401
    from tfseqrec.data import SequenceBatchConfig, make_dataset
    from tfseqrec.data.spec import load_feature_spec
    from tfseqrec.training.trainer import load_trained_model, model_score_fn

    seed = args.seeds[0]
    adapted_dir = Path(args.runs) / (f"meta_{args.meta[0]}_seed{seed}")
    spec = load_feature_spec(args.data_dir)
    scorers = {}
    for name, settings in (("zero_shot", ("adaptation.adapter=none",)), ("adapted", ())):
        model, _, _ = load_trained_model(str(adapted_dir), settings)
        batch = next(iter(make_dataset(spec, split, SequenceBatchConfig(batch_size=256, max_len=model.config.max_len))))
        scorers[name] = (model_score_fn(model), batch)
        scorers[name][0](batch).numpy()  # traced once
    times: dict = {name: [] for name in scorers}
    for _ in range(rounds):
        for name, (score, batch) in scorers.items():
            started = time.perf_counter()
            for _ in range(repeats):
                score(batch).numpy()
            users = int(batch["item_ids"].shape[0])
            times[name].append(1000.0 * (time.perf_counter() - started) / repeats / users)
    figures = {name: statistics.median(values) for name, values in times.items()}
    figures["ratio"] = figures["adapted"] / figures["zero_shot"]
    figures["split"], figures["inner_steps"] = split, args.inner_steps
    return figures


def _paired(a: dict, b: dict) -> dict:
    from tfseqrec.evaluation.stats import compare

    if a["ids"] != b["ids"]:
        raise SystemExit("the evaluations do not rank the same new users in the same order")
    c = compare(a["ndcg"], b["ndcg"], "a", "b", "NDCG@10")
    return {"mean_diff": c.mean_diff, "diff_ci": list(c.diff_ci), "wilcoxon_p": c.wilcoxon.pvalue}


def _seed_mean(runs: list) -> dict:
    """One evaluation whose per-user NDCG@10 is the mean over ``runs`` (the seeds), for paired tests."""
    if any(r["ids"] != runs[0]["ids"] for r in runs):
        raise SystemExit("the seeds' evaluations do not rank the same new users in the same order")
    return {"ids": runs[0]["ids"], "ndcg": [statistics.mean(values) for values in zip(*(r["ndcg"] for r in runs))]}


def summarise(rows: dict) -> dict:
    table = {}
    for split, methods in rows.items():
        reference = methods["most_popular"][0]
        table[split] = {}
        for name, runs in methods.items():
            ndcg = [r["summary"]["NDCG@10"] for r in runs]
            hr = [r["summary"]["HR@10"] for r in runs]
            row = table[split][name] = {
                "NDCG@10": statistics.mean(ndcg),
                "NDCG@10_sd": statistics.stdev(ndcg) if len(ndcg) > 1 else 0.0,
                "HR@10": statistics.mean(hr),
                "users": int(runs[0]["summary"]["num_users"]),
                "seeds": len(runs),
                "vs_most_popular": None if name == "most_popular" else _paired(runs[0], reference),
            }
            if name == "fine_tune" or name.startswith("meta_"):
                row["vs_zero_shot"] = _paired(_seed_mean(runs), _seed_mean(methods["zero_shot"]))
            if name.startswith("meta_"):
                row["vs_fine_tune"] = _paired(_seed_mean(runs), _seed_mean(methods["fine_tune"]))
    return table


def _difference(versus: dict) -> str:
    return (
        f"{versus['mean_diff']:+.4f} [{versus['diff_ci'][0]:+.4f}, {versus['diff_ci'][1]:+.4f}], "
        f"{versus['wilcoxon_p']:.2g}"
    )


def report(table: dict, command: str, machine: str, selection: dict, cost: dict) -> str:
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
            paired = "" if versus is None else _difference(versus)
            lines.append(
                f"| {split} | {name} | {row['users']} | {row['seeds']} | {row['NDCG@10']:.4f} "
                f"({row['NDCG@10_sd']:.4f}) | {row['HR@10']:.4f} | {paired} |"
            )
    adapted = [(split, name, row) for split, methods in table.items() for name, row in methods.items()
               if "vs_zero_shot" in row]  # fmt: skip
    if adapted:
        lines += [
            "",
            "Adaptation, paired over the new users on their NDCG@10 averaged over the seeds "
            "(difference [95% bootstrap CI], Wilcoxon p):",
            "",
            "| split | method | vs zero-shot | vs fine-tuning |",
            "|---|---|---|---|",
        ]
        for split, name, row in adapted:
            tuned = _difference(row["vs_fine_tune"]) if "vs_fine_tune" in row else ""
            lines.append(f"| {split} | {name} | {_difference(row['vs_zero_shot'])} | {tuned} |")
    if selection:
        lines += ["", "Selection on the validation users (per seed):", ""]
        for seed, chosen in selection.items():
            parts = [
                f"fine-tuning step size for K = {k}: {lr} (validation NDCG@10 by step size: "
                + ", ".join(f"{step}: {v:.4f}" for step, v in chosen["validation_NDCG@10"][f"cold_valid_k{k}"].items())
                + ")"
                for k, lr in chosen["fine_tune_lr_by_k"].items()
            ]
            parts.append(f"step sizes by number of pairs {chosen['step_sizes_by_pairs']}")
            for name, meta in chosen.items():
                if name.startswith("meta_"):
                    parts.append(
                        f"{name} best epoch {meta['best_epoch']} of {meta['epochs_run']}, validation NDCG@10 "
                        f"{meta['validation_NDCG@10']:.4f}, {meta['train_seconds']:.0f} s"
                    )
            lines.append(f"- {seed}: " + "; ".join(parts))
    if cost:
        lines += [
            "",
            f"Cost of adapting ({cost['inner_steps']} inner steps, {cost['split']}, batches of 256 users, one "
            f"process): {cost['adapted']:.3f} ms per user adapted against {cost['zero_shot']:.3f} ms zero-shot "
            f"({cost['ratio']:.2f}x).",
        ]
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
    parser.add_argument(
        "--meta", nargs="*", default=[], choices=("maml", "fomaml", "reptile"),
        help="meta-learning algorithms to train from each warm run (adds the fine-tuning row too)",
    )  # fmt: skip
    parser.add_argument("--adapter", default="query_offset", help="per-user adapter (tfseqrec.models.adaptation)")
    parser.add_argument("--inner-steps", type=int, default=3, help="adaptation steps per user")
    parser.add_argument("--support-window", type=int, default=5, help="latest history items the adaptation reads")
    parser.add_argument("--fine-tune-lrs", type=float, nargs="+", default=[0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
                        help="fine-tuning step sizes tried on the validation users")  # fmt: skip
    parser.add_argument("--validation-splits", nargs="+", default=None,
                        help="validation users of meta-training, pooled (default: every cold_valid_k<K>)")  # fmt: skip
    parser.add_argument("--meta-overrides", nargs="*", default=["epochs=30", "validate_every=1", "patience=5"],
                        metavar="KEY=VALUE", help="training settings of the meta-learning runs only")  # fmt: skip
    parser.add_argument("overrides", nargs="*", default=["time_budget_minutes=null"], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tfseqrec.host.machine import describe

    rows, selection = run(args)
    table = summarise(rows)
    cost = adaptation_cost(args, list(table)[-1]) if args.meta else {}
    command = "python benchmarks/cold_start.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(table, command, describe().get("cpu_model", "?"), selection, cost)
    print(text)
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        results = {"command": command, "table": table, "selection": selection, "adaptation_cost": cost}
        (Path(args.output) / "results.json").write_text(json.dumps(results, indent=2))
        (Path(args.output) / "report.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
