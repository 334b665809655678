"""gRPC serving of this working tree against another git revision, on the same exports and machine, in turns.

    python benchmarks/serving.py --only e2e --work benchmarks/out/serving_work     # makes the exports once
    python benchmarks/serving_revisions.py --base 144f6a6 --work benchmarks/out/serving_work \\
        --output benchmarks/reports/serving_revisions

The base revision is checked out into a temporary git worktree; each arm starts ``tfseqrec serve`` of its own tree
(its own ``tfseqrec`` on ``PYTHONPATH``) on the ScaNN export of ``--work`` and the same 16 client processes (the
real ``PredictionServiceStub``) send it 1-row requests, 1 client and then 16, for ``--seconds`` each. Arms: the
base tree, this tree, and this tree with ``--current-args`` (default: TensorFlow's own thread pools instead of the
server's default of every op in the request's thread). Rounds alternate the arms, so a slow spell of the machine
hits all of them; the report gives each round's figures and the median ratio to the base per row. The machine
should be idle.
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
sys.path.insert(0, str(REPO / "benchmarks"))

import serving as bench  # noqa: E402  (the serving benchmark's server process, clients and requests)

METRICS = ("rps", "p50_ms", "p99_ms", "server_p50_ms", "server_cpu_ms_per_request", "clients_cpu_ms_per_request")


class TreeServer(bench.ServerProcess):
    """``tfseqrec serve`` of ``tree`` (its package first on the path) on fixed ports, so clients keep a channel."""

    def __init__(self, tree: Path, config: Path, log: Path, extra: list[str], port: int):
        os.environ["PYTHONPATH"] = str(tree)
        bench.REPO = tree
        try:
            super().__init__(config, log, extra_args=[*extra, "--grpc-port", str(port), "--rest-port", str(port + 1)])
        finally:
            bench.REPO = REPO
            os.environ.pop("PYTHONPATH", None)


def scann_config(work: Path, out: Path) -> Path:
    base = (work / "saved_models" / "bench_scann").resolve()
    if not (base / "1" / "saved_model.pb").exists():
        raise SystemExit(f"no ScaNN export in {base}: run `python benchmarks/serving.py --only e2e --work {work}`")
    path = out / "scann.config"
    path.write_text(
        f'model_config_list {{\n  config {{\n    name: "bench_scann"\n    base_path: "{base}"\n'
        f'    model_platform: "tensorflow"\n  }}\n}}\n'
    )
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "serving_work"), help="serving.py --work")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "serving_revisions"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--current-args", default="--intra-op-threads 0 --inter-op-threads 0")
    parser.add_argument("--port", type=int, default=18500)
    args = parser.parse_args(argv)
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = scann_config(Path(args.work), out)
    cat = bench.synthetic_catalogue(1_000_000, 64, 2000, 1)
    vocab = bench.vocabulary(1_000_000)
    requests = [
        r.SerializeToString() for r in bench.predict_requests("bench_scann", bench.e2e_histories(cat, vocab, 500, 3))
    ]
    with tempfile.TemporaryDirectory(prefix="serving-base-") as tmp:
        base_tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base_tree), args.base], check=True,
                       capture_output=True)  # fmt: skip
        arms = {
            f"base {args.base}": (base_tree, []),
            "current": (REPO, []),
            f"current {args.current_args}": (REPO, args.current_args.split()),
        }
        rows = []
        pool = bench.ClientPool(16)
        try:
            for round_ in range(args.rounds):
                for arm, (tree, extra) in arms.items():
                    server = TreeServer(tree, config, out / "server.log", extra, args.port)
                    try:
                        server.wait_ready()
                        if round_ == 0 and arm.startswith("base"):
                            pool.connect(f"127.0.0.1:{args.port}")
                        for clients in (1, 16):
                            pool.run(clients, requests, 2.0)  # warm-up
                            r = pool.run(clients, requests, args.seconds, server_pid=server.proc.pid)
                            rows.append({"round": round_, "arm": arm, "clients": clients, **{k: r[k] for k in METRICS}})
                            bench.log(
                                f"round {round_} {arm} x {clients}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms"
                            )
                    finally:
                        server.stop()
        finally:
            pool.close()
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)], check=False)
    text = report(rows, list(arms), args)
    (out / "report.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"rows": rows, "base": args.base}, indent=2) + "\n")
    (out / "scann.config").unlink()
    log_file = out / "server.log"
    if log_file.exists():  # paths inside the repository written relative to it (reports are committed)
        log_file.write_text(log_file.read_text().replace(f"{REPO}{os.sep}", ""))
    print(text)
    return 0


def report(rows: list[dict], arms: list[str], args) -> str:
    lines = [
        "# Serving: this tree against an earlier revision",
        "",
        f"`python benchmarks/serving_revisions.py --base {args.base} --rounds {args.rounds} "
        f"--seconds {args.seconds:g}` on {bench.machine_info()['cpu']}, {os.cpu_count()} cores: "
        "the 1,000,000-item ScaNN export of `benchmarks/serving.py`, 1-row requests over gRPC; the arms "
        "alternate in each round.",
        "",
        "| clients | arm | requests/s (each round) | p50 ms | p99 ms | server CPU ms / request | median ratio "
        "requests/s vs base | median ratio p50 vs base |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for clients in (1, 16):
        base = {r["round"]: r for r in rows if r["arm"] == arms[0] and r["clients"] == clients}
        for arm in arms:
            mine = [r for r in rows if r["arm"] == arm and r["clients"] == clients]
            ratio_rps = statistics.median(r["rps"] / base[r["round"]]["rps"] for r in mine)
            ratio_p50 = statistics.median(r["p50_ms"] / base[r["round"]]["p50_ms"] for r in mine)
            each = " / ".join(f"{r['rps']:.0f}" for r in mine)
            p50 = statistics.median(r["p50_ms"] for r in mine)
            p99 = statistics.median(r["p99_ms"] for r in mine)
            cpu = statistics.median(r["server_cpu_ms_per_request"] for r in mine)
            lines.append(
                f"| {clients} | {arm} | {each} | {p50:.2f} | {p99:.2f} | {cpu:.2f} | {ratio_rps:.2f}x | "
                f"{ratio_p50:.2f}x |"
            )
    lines += ["", "p50, p99 and CPU: medians over the rounds."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
