"""Monitoring a served model: what metrics and the request log cost per request, and what drift looks like.

    python benchmarks/monitoring.py --run RUN --output benchmarks/reports/monitoring

``RUN`` is a ``tfseqrec train`` run; its data directory (``run.json``) gives the vocabulary, the training split
(the reference of the drift figures) and the histories replayed. The run is exported (brute force) and served in
this process (``tfseqrec.serving.Server``, gRPC on loopback, one client):

(a) Cost: single-request latency with monitoring off, with Prometheus metrics (the default), and with metrics and
    the request log writing every request (sample rate 1, the worst case), in alternating rounds of
    ``--requests`` requests (each round's order rotates), reported as p50 / p99 and the ratio to off.
(b) Drift (``tfseqrec.evaluation.drift``, as ``tfseqrec monitor`` computes it), each from the server's own
    request log: the ``test`` split's histories (the training users, one step later: no drift expected); the
    same with a share of their items replaced by ids the vocabulary lacks (new items); and, when the data has
    ``cold_k<K>`` splits, the new users' first K events (users who arrived later, with short histories).

Writes ``report.md`` and ``results.json`` to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def histories(data_dir: str, split: str, limit: int) -> list[list[str]]:
    """Up to ``limit`` whole histories of ``split`` as item strings (the export reads its ``max_len`` latest)."""
    import tensorflow as tf

    from tfseqrec.data.spec import load_feature_spec, load_vocabulary

    spec = load_feature_spec(data_dir)
    vocabulary = load_vocabulary(spec)
    files = sorted(tf.io.gfile.glob(spec.split_pattern(split)))
    feature = {"item_ids": tf.io.VarLenFeature(tf.int64)}
    rows = []
    for record in tf.data.TFRecordDataset(files).take(limit):
        ids = tf.io.parse_single_example(record, feature)["item_ids"].values.numpy()
        if len(ids):
            rows.append([vocabulary[i] for i in ids])
    return rows


def latencies(client, rows: list, count: int, start: int) -> list:
    out = []
    for i in range(count):
        row = rows[(start + i) % len(rows)]
        began = time.perf_counter()
        client.recommend([row])
        out.append((time.perf_counter() - began) * 1e3)
    return out


def serve(base: str, **settings):
    from tfseqrec.serving import Server, ServerConfig
    from tfseqrec.serving.model_config import single_model

    config = ServerConfig(
        models=tuple(single_model("model", base)), grpc_port=0, rest_port=0, poll_seconds=0, **settings
    )
    return Server(config).start()


def cost(base: str, rows: list, rounds: int, requests: int, log_path: str) -> dict:
    """p50 / p99 ms per arm over alternating rounds (module doc, a)."""
    from tfseqrec.serving import Client

    arms = {
        "off": {"monitoring": False},
        "metrics": {"monitoring": True},
        "metrics + request log (every request)": {
            "monitoring": True,
            "request_log": log_path,
            "request_log_sample_rate": 1.0,
        },
    }
    servers = {name: serve(base, **settings) for name, settings in arms.items()}
    try:
        clients = {name: Client(f"127.0.0.1:{server.grpc_port}", "model") for name, server in servers.items()}
        for client in clients.values():
            latencies(client, rows, 50, 0)  # warm-up
        times = {name: [] for name in arms}
        names = list(arms)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name] += latencies(clients[name], rows, requests, r * requests)
    finally:
        for server in servers.values():
            server.stop(1)
    base_p50 = float(np.percentile(times["off"], 50))
    return {
        name: {
            "requests": len(values),
            "p50_ms": float(np.percentile(values, 50)),
            "p99_ms": float(np.percentile(values, 99)),
            "p50_vs_off": float(np.percentile(values, 50)) / base_p50,
        }
        for name, values in times.items()
    }


def drift(base: str, data_dir: str, traffic: dict, directory: str) -> dict:
    """The drift figures of each replayed traffic, from the server's request log (module doc, b)."""
    from tfseqrec.cli.monitor import reference_profile, served_profile
    from tfseqrec.evaluation.drift import compare
    from tfseqrec.serving import Client
    from tfseqrec.serving.monitoring import read_request_log

    reference = reference_profile(data_dir, "train")
    out = {}
    for name, rows in traffic.items():
        path = os.path.join(directory, f"{name}.jsonl")
        server = serve(base, request_log=path, request_log_sample_rate=1.0)
        try:
            client = Client(f"127.0.0.1:{server.grpc_port}", "model")
            for start in range(0, len(rows), 64):
                client.recommend(rows[start : start + 64])
        finally:
            server.stop(1)
        logged, skipped = read_request_log(path)
        result = compare(reference, served_profile(logged, data_dir))
        out[name] = {"rows": len(logged), "skipped": skipped, **result}
    return out


def report(command: str, machine: str, costs: dict, drifts: dict) -> str:
    lines = [
        "# Monitoring: cost per request and drift",
        "",
        f"`{command}` on {machine}.",
        "",
        "Single requests over gRPC on loopback, one client, alternating rounds:",
        "",
        "| server | requests | p50 ms | p99 ms | p50 vs off |",
        "|---|---|---|---|---|",
    ]
    for name, row in costs.items():
        lines.append(
            f"| {name} | {row['requests']:,} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {row['p50_vs_off']:.3f}x |"
        )
    lines += [
        "",
        "Drift of replayed traffic against the training split, from the server's request log:",
        "",
        "| traffic | rows | item JS | noise floor | JS excess | popularity PSI | length PSI | OOV rate | over |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in drifts.items():
        f = row["figures"]
        lines.append(
            f"| {name} | {row['rows']:,} | {f['item_js']:.4f} | {f['item_js_noise_floor']:.4f} | "
            f"{f['item_js_excess']:.4f} | {f['popularity_psi']:.4f} | {f['length_psi']:.4f} | {f['oov_rate']:.4f} | "
            f"{', '.join(row['exceeded']) or 'none'} |"
        )
    lines += ["", "Thresholds: PSI 0.25, JS excess over the noise floor 0.2, OOV rate 0.05 (`tfseqrec monitor`)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a tfseqrec train run directory")
    parser.add_argument("--output", default=None, help="directory for report.md and results.json")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per arm")
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--histories", type=int, default=2000, help="histories replayed per traffic")
    parser.add_argument("--new-item-share", type=float, default=0.2, help="items replaced by unknown ids")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import tfseqrec  # noqa: F401
    from tfseqrec.export.exporter import ExportConfig, export_run
    from tfseqrec.host.machine import describe

    run = json.loads((Path(args.run) / "run.json").read_text())
    data_dir = run["config"]["data_dir"]
    from tfseqrec.data.spec import load_feature_spec

    splits = load_feature_spec(data_dir).splits
    with tempfile.TemporaryDirectory() as directory:
        base = export_run(args.run, directory, "model", config=ExportConfig(variants=("brute_force",)))
        base = os.path.dirname(next(iter(base.values()))) if isinstance(base, dict) else base
        rows = histories(data_dir, "test", args.histories)
        costs = cost(base, rows, args.rounds, args.requests, os.path.join(directory, "cost.jsonl"))
        rng = np.random.default_rng(0)
        with_new = [
            [f"new_item_{rng.integers(1 << 30)}" if rng.random() < args.new_item_share else item for item in row]
            for row in rows
        ]
        traffic = {"test histories": rows, f"test histories, {args.new_item_share:.0%} new items": with_new}
        for split in sorted(s for s in splits if s.startswith("cold_k")):
            traffic[f"new users ({split})"] = histories(data_dir, split, args.histories)
        drifts = drift(base, data_dir, traffic, directory)
    command = "python benchmarks/monitoring.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(command, describe().get("cpu_model", "?"), costs, drifts)
    print(text)
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        Path(args.output, "report.md").write_text(text)
        Path(args.output, "results.json").write_text(
            json.dumps({"cost": costs, "drift": drifts, "command": command}, indent=2, default=float)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
