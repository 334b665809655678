"""Incremental updates against full retraining on consecutive time slices of a session log.

    python benchmarks/incremental.py --name yoochoose \\
        --input ../shared/data/yoochoose-100k-sample/yoochoose-clicks-100k_train_full.txt \\
        --input ../shared/data/yoochoose-100k-sample/yoochoose-clicks-100k_test.txt \\
        --preprocess-args="--format tsv" --start 2014-04-01 --slices 7 --warm-slices 3 \\
        --config configs/sasrec_yoochoose.yaml --work benchmarks/out/incremental/yoochoose \\
        --output benchmarks/reports/incremental_yoochoose

The log is cut into ``--slices`` consecutive slices of ``--slice-days`` days from ``--start``. For each slice
``t >= --warm-slices`` (the test slice), two models trained on everything before it are compared on its sessions
(every next item of every test session, full ranking, seen items kept: Recall@20 and MRR@20):

* **full retraining**: ``tfseqrec preprocess`` of slices ``0 .. t`` (``--split session``, the last slice as test),
  then ``tfseqrec train`` from scratch for ``--full-epochs`` epochs;
* **incremental**: slice ``t - 1`` alone, preprocessed with ``--base-vocabulary`` of the previous step's data (so
  earlier items keep their ids and new ones are appended), trained for ``--incremental-epochs`` epochs from the
  previous step's model (``init_from``: the item tables grow, new rows keep the model's initialisation) with
  ``--replay`` of the batches drawn from the earlier slices (``replay.data_dirs``), all of their sequences or a
  memory of ``--replay-memory`` per slice chosen by ``--replay-selection`` (``random``, or ``herding``: ADER's
  exemplars), and with ``--distill W`` the previous model as a teacher over the items it knows (``distillation``
  with weight ``W``: ADER's distillation). The first incremental step starts from the full model of slice
  ``--warm-slices`` (both chains share it).

Compute is each run's training seconds (``run.json``; preprocessing excluded for both), plus the forward pass that
chooses herded exemplars (``run.json`` ``replay_memory.seconds``). Each incremental model is
also exported (brute force) under one name, so successive steps get successive versions for a server to swap in.
Both chains evaluate the same test sessions: the incremental chain's vocabulary is the union of the slices seen,
which is full retraining's vocabulary (``--item-min-count`` must stay 0 so that no per-slice filter differs).

Runs already in ``--work`` are reused when finished with the same training config (copies of a data directory
count as the same data) and refused when trained with other values (``tfseqrec.training.run_reuse``).

Writes ``report.md`` and ``results.json`` to ``--output``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAST_BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _cli(argv: list) -> None:
    from tfseqrec.cli import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"`tfseqrec {shlex.join(argv)}` failed with exit code {code}")


def slice_bounds(start: str, slice_days: float, index: int) -> tuple:
    """ISO times ``[start of slice index, start of slice index + 1)``."""
    origin = dt.datetime.fromisoformat(start)
    begin = origin + dt.timedelta(days=slice_days * index)
    return begin.isoformat(), (begin + dt.timedelta(days=slice_days)).isoformat()


def preprocess(args, out: str, first: int, last: int, base: str | None = None) -> str:
    """Slices ``first .. last`` (the last one is test) into ``out``; reused when already there."""
    if os.path.exists(os.path.join(out, "feature_spec.json")):
        return out
    begin, _ = slice_bounds(args.start, args.slice_days, first)
    _, end = slice_bounds(args.start, args.slice_days, last)
    argv = ["preprocess", *sum((["--input", f] for f in args.input), []), *shlex.split(args.preprocess_args)]
    argv += ["--min-time", begin, "--max-time", end, "--split", "session", "--test-days", str(args.slice_days)]
    argv += ["--output-dir", out, *(["--base-vocabulary", base] if base else []), *FAST_BEAM]
    _cli(argv)
    return out


def train(args, data: str, run: str, epochs: int, extra: list) -> dict:
    """The finished run in ``run``, trained now unless there (one trained with another config is refused)."""
    from tfseqrec.training import load_train_config
    from tfseqrec.training.run_reuse import finished_run, reusable_run

    overrides = [f"epochs={epochs}", f"seed={args.seed}", "verbose=0", *args.overrides, *extra]
    try:
        finished = reusable_run(run, load_train_config(args.config, overrides, data_dir=data))
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if finished is None:
        _cli(["train", "--config", args.config, "--data-dir", data, "--output-dir", run, *overrides])
        finished = finished_run(run)
    return finished


def _figures(run: dict) -> dict:
    metrics = run["test_metrics"]
    return {
        "Recall@20": metrics.get("Recall@20", metrics.get("HR@20")),
        "MRR@20": metrics["MRR@20"],
        "train_seconds": float(run["train_seconds"]) + float(run.get("replay_memory", {}).get("seconds", 0.0)),
        "test_events": metrics.get("num_events"),
    }


def run_chains(args) -> list:
    from tfseqrec.export.exporter import ExportConfig, export_run

    work = Path(args.work)
    shutil.rmtree(work / "exports", ignore_errors=True)  # versions 1, 2, ... again when finished runs are reused
    steps, previous_data, previous_run, replayed = [], None, None, []
    for t in range(args.warm_slices, args.slices):
        full_data = preprocess(args, str(work / f"data_full_{t}"), 0, t)
        full = train(args, full_data, str(work / f"full_{t}"), args.full_epochs, [])
        if previous_run is None:  # the chains start from the same model
            incremental, inc_data, inc_run = full, full_data, str(work / f"full_{t}")
        else:
            inc_data = preprocess(args, str(work / f"data_incremental_{t}"), t - 1, t, base=previous_data)
            inc_run = str(work / f"incremental_{t}")
            replay = []
            if args.replay:
                replay = [f"replay.data_dirs=[{','.join(replayed)}]", f"replay.fraction={args.replay}"]
                if args.replay_memory:
                    replay += [f"replay.max_sequences={args.replay_memory}"]
                    replay += [f"replay.selection={args.replay_selection}"]
            if args.distill:
                replay += [f"distillation.teacher={previous_run}", f"distillation.weight={args.distill}"]
            incremental = train(
                args, inc_data, inc_run, args.incremental_epochs, [f"init_from={previous_run}", *replay]
            )
        version = export_run(
            inc_run, str(work / "exports"), "incremental", config=ExportConfig(variants=("brute_force",))
        )
        steps.append(
            {
                "test_slice": t,
                "test_slice_dates": list(slice_bounds(args.start, args.slice_days, t)),
                "full": _figures(full),
                "incremental": _figures(incremental),
                "export_version": int(os.path.basename(version["brute_force"])),
            }
        )
        replayed.append(inc_data)
        previous_data, previous_run = inc_data, inc_run
    return steps


def _events(full: dict, incremental: dict) -> str:
    if full["test_events"] == incremental["test_events"]:
        return f"{full['test_events']:,}"
    return f"{full['test_events']:,} / {incremental['test_events']:,}"


def report(command: str, machine: str, args, steps: list) -> str:
    lines = [
        f"# Incremental updates against full retraining: {args.name}",
        "",
        f"`{command}` on {machine}. Slices of {args.slice_days:g} day(s) from {args.start}; each test slice's "
        "sessions, every next item, full ranking, seen items kept. Full retraining: "
        f"{args.full_epochs} epochs from scratch on every earlier slice; incremental: {args.incremental_epochs} "
        f"epoch(s) on the latest slice from the previous model"
        + (f", {args.replay:.0%} of the batches replayed from earlier slices" if args.replay else ", no replay")
        + (
            f" (a memory of {args.replay_memory:,} sequences per slice, chosen by {args.replay_selection})"
            if args.replay and args.replay_memory
            else ""
        )
        + (f", the previous model distilled at weight {args.distill:g}" if args.distill else "")
        + ".",
        "",
        "| test slice | dates | test events | full Recall@20 | incremental Recall@20 | full MRR@20 | "
        "incremental MRR@20 | full s | incremental s | compute | export version |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    events = {(s["full"]["test_events"], s["incremental"]["test_events"]) for s in steps}
    same = all(a == b for a, b in events)
    for i, step in enumerate(steps):
        full, inc = step["full"], step["incremental"]
        shared = " (shared start)" if i == 0 else ""
        lines.append(
            f"| {step['test_slice']}{shared} | {step['test_slice_dates'][0][:10]} | {_events(full, inc)} | "
            f"{full['Recall@20']:.4f} | "
            f"{inc['Recall@20']:.4f} | {full['MRR@20']:.4f} | {inc['MRR@20']:.4f} | {full['train_seconds']:.1f} | "
            f"{inc['train_seconds']:.1f} | {inc['train_seconds'] / full['train_seconds']:.0%} | "
            f"{step['export_version']} |"
        )
    lines += [
        "",
        f"Both chains evaluated the same test events at every slice: {'yes' if same else 'no'} (a session that "
        "crosses a slice boundary is cut by the incremental slice's time window, so a few events can differ; the "
        "test events column gives full / incremental where they do).",
    ]
    later = steps[1:]  # the first step is shared
    if later:
        recall = sum(s["incremental"]["Recall@20"] for s in later) / sum(s["full"]["Recall@20"] for s in later)
        mrr = sum(s["incremental"]["MRR@20"] for s in later) / sum(s["full"]["MRR@20"] for s in later)
        compute = sum(s["incremental"]["train_seconds"] for s in later) / sum(s["full"]["train_seconds"] for s in later)
        met = recall >= 0.98 and mrr >= 0.98 and compute <= 0.20
        lines += [
            "",
            f"Over the {len(later)} incremental steps: Recall@20 at {recall:.1%} and MRR@20 at {mrr:.1%} of full "
            f"retraining's (summed over slices), for {compute:.1%} of its training seconds. Goal: within 2% at <= 20% "
            f"of the compute: **{'met' if met else 'not met'}**.",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="dataset name for the report")
    parser.add_argument("--input", action="append", required=True, help="log file(s) of tfseqrec preprocess")
    parser.add_argument("--preprocess-args", default="", help="extra tfseqrec preprocess flags (format, columns)")
    parser.add_argument("--start", required=True, help="ISO date of the first slice's start")
    parser.add_argument("--slice-days", type=float, default=1.0)
    parser.add_argument("--slices", type=int, required=True, help="slices in all (the last ones are test slices)")
    parser.add_argument("--warm-slices", type=int, default=3, help="slices before the first test slice")
    parser.add_argument("--config", required=True, help="the training preset")
    parser.add_argument("--overrides", nargs="*", default=[], help="KEY=VALUE overrides of every run")
    parser.add_argument("--full-epochs", type=int, default=10)
    parser.add_argument("--incremental-epochs", type=int, default=2)
    parser.add_argument("--replay", type=float, default=0.3, help="share of replayed batches (0: none)")
    parser.add_argument(
        "--replay-memory", type=int, default=None, help="earlier sequences kept per slice for replay (None: all)"
    )
    parser.add_argument(
        "--replay-selection",
        choices=("random", "herding"),
        default="random",
        help="how the --replay-memory sequences are chosen (herding: ADER's exemplars; needs --replay-memory)",
    )
    parser.add_argument(
        "--distill", type=float, default=0.0, help="weight of the previous model's soft targets (0: none)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", required=True, help="data, runs and exports go here (finished steps are reused)")
    parser.add_argument("--output", default=None, help="directory for report.md and results.json")
    args = parser.parse_args(argv)
    if args.warm_slices < 1 or args.slices <= args.warm_slices:
        parser.error("need 1 <= --warm-slices < --slices")
    if args.replay_selection == "herding" and not (args.replay and args.replay_memory):
        parser.error("--replay-selection herding chooses a memory: give --replay and --replay-memory")
    sys.path.insert(0, str(REPO))
    from tfseqrec.host.machine import describe

    steps = run_chains(args)
    command = "python benchmarks/incremental.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = report(command, describe().get("cpu_model", "?"), args, steps)
    print(text)
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        Path(args.output, "report.md").write_text(text)
        Path(args.output, "results.json").write_text(json.dumps({"steps": steps, "command": command}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
