"""Training throughput of this working tree against another git revision, on the same machine, in turns.

    python benchmarks/throughput_revisions.py --base ca98446 --data-dir out/ml-1m --max-len 200 \
        --report benchmarks/reports/throughput_revisions/ml1m
    python benchmarks/throughput_revisions.py --base HEAD~3 --data-dir out/beauty --max-len 50 --rounds 3

Two package versions cannot share a process, so this is the closest fair comparison: the base revision is
checked out into a temporary git worktree, and ``benchmarks/train_throughput.py`` of each tree (each importing its
own ``tfseqrec``) runs in its own process, alternating base / current for ``--rounds`` rounds, so that a slow
spell of the machine hits both. Per configuration it prints the median training targets per second of each tree
over the rounds, the ratio current / base of each round and their median (the headline: each round's two
processes ran back to back, so a slow spell of the machine cancels out), whose spread is the noise to judge it by;
the CPU other processes used during each timing is kept with the rows. The machine should be idle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = ("sasrec_full_ce", "sasrec_bce", "gru4rec_full_ce", "bert4rec_full_ce")


def run_tree(tree: Path, args: argparse.Namespace, out: Path) -> list[dict]:
    """One ``train_throughput.py`` process of ``tree``; its rows (``name``, ``targets_per_second``, ...)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable,
        str(tree / "benchmarks" / "train_throughput.py"),
        "--data-dir",
        args.data_dir,
        "--max-len",
        str(args.max_len),
        "--steps",
        str(args.steps),
        "--json",
        str(out),
        "--only",
        *args.only,
    ]
    if args.bucket_pool_batches:
        command += ["--bucket-pool-batches", str(args.bucket_pool_batches)]
    subprocess.run(command, check=True, env=env, cwd=tree, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["rows"]


def summarise(rounds: list[dict[str, list[dict]]]) -> list[dict]:
    """Per configuration: median targets/s of each tree over the rounds, the ratio current / base of each round
    (the two processes of a round ran back to back) and their median, the headline ratio."""
    names = [row["name"] for row in rounds[0]["base"]]
    table = []
    for name in names:
        speed = {
            tree: [next(r["targets_per_second"] for r in rnd[tree] if r["name"] == name) for rnd in rounds]
            for tree in ("base", "current")
        }
        others = [
            next(r["other_cores"] for r in rnd[tree] if r["name"] == name) or 0.0
            for rnd in rounds
            for tree in ("base", "current")
        ]
        ratios = [c / b for b, c in zip(speed["base"], speed["current"])]
        table.append(
            {
                "name": name,
                "base_targets_per_second": statistics.median(speed["base"]),
                "current_targets_per_second": statistics.median(speed["current"]),
                "ratio": statistics.median(ratios),
                "ratio_per_round": ratios,
                "max_other_cores": max(others),
            }
        )
    return table


def markdown(table: list[dict], meta: dict) -> str:
    lines = [
        f"Training throughput, `{meta['data_dir']}` at max length {meta['max_len']}, batch 128, {meta['steps']} "
        f"timed steps per configuration, {meta['rounds']} alternating rounds; base = {meta['base']}, current = "
        f"{meta['current']}.",
        "",
        "| configuration | base targets/s | current targets/s | current / base (median of rounds) | "
        "ratio per round | other processes' cores (max) |",
        "|" + "---|" * 6,
    ]
    for row in table:
        per_round = ", ".join(f"{r:.3f}" for r in row["ratio_per_round"])
        lines.append(
            f"| {row['name']} | {row['base_targets_per_second']:,.0f} | "
            f"{row['current_targets_per_second']:,.0f} | {row['ratio']:.3f} | {per_round} | "
            f"{row['max_other_cores']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(folder: Path, meta: dict, rounds: list[dict]) -> str:
    """``throughput.json`` (every round's rows and the table) and ``throughput.md`` in ``folder``; the Markdown."""
    table = summarise(rounds)
    text = markdown(table, meta)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "throughput.json").write_text(json.dumps({**meta, "rounds": rounds, "table": table}, indent=1) + "\n")
    (folder / "throughput.md").write_text(text)
    return text


def measure(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """(what was compared, the rounds: ``{"base": rows, "current": rows}`` each)."""
    base_commit = _git("rev-parse", "--short", args.base)
    meta = {
        "base": base_commit,
        "current": _git("describe", "--always", "--dirty"),
        "data_dir": args.data_dir,
        "max_len": args.max_len,
        "steps": args.steps,
        "rounds": args.rounds,
    }
    with tempfile.TemporaryDirectory(prefix="tfseqrec-base-") as tmp:
        base_tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base_tree), base_commit],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            rounds = []
            for i in range(args.rounds):
                rounds.append(
                    {
                        tree: run_tree(path, args, Path(tmp) / f"{tree}_{i}.json")
                        for tree, path in (("base", base_tree), ("current", REPO))
                    }
                )
                print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, check=False)
    return meta, rounds


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", help="git revision to compare against (commit, tag, HEAD~N)")
    parser.add_argument("--data-dir", help="output of `tfseqrec preprocess`")
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--steps", type=int, default=16, help="timed steps per configuration and process")
    parser.add_argument("--rounds", type=int, default=3, help="alternating base / current processes")
    parser.add_argument("--bucket-pool-batches", type=int, default=0, help="also time length-bucketed batches")
    parser.add_argument("--only", nargs="+", default=list(DEFAULT_CONFIGS), help="train_throughput.py configs")
    parser.add_argument("--report", help="folder for throughput.json and throughput.md")
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="measure nothing: rebuild --report's table and Markdown from its throughput.json",
    )
    args = parser.parse_args(argv)
    if args.rewrite:
        if not args.report:
            parser.error("--rewrite needs --report DIR")
        saved = json.loads((Path(args.report) / "throughput.json").read_text())
        rounds = saved.pop("rounds")
        meta = {key: saved[key] for key in ("base", "current", "data_dir", "max_len", "steps")}
        meta["rounds"] = len(rounds)
    else:
        if not args.base or not args.data_dir:
            parser.error("give --base and --data-dir (or --rewrite --report DIR)")
        meta, rounds = measure(args)
    text = write_report(Path(args.report), meta, rounds) if args.report else markdown(summarise(rounds), meta)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
