"""Stateful serving: ``append`` (one model step per event) against a full recompute, on a served model.

    tfseqrec train --config configs/gru4rec_ml1m.yaml --data-dir benchmarks/out/data/ml-100k \\
        --output-dir benchmarks/out/streaming/gru4rec_ml100k model_config.max_len=1100 time_budget_minutes=5
    python benchmarks/streaming.py --run benchmarks/out/streaming/gru4rec_ml100k --output benchmarks/reports/streaming

The same for a key-value cache (SASRec, HSTU; max_len 1100 makes their cache hold the 1,000-item histories):

    tfseqrec train --config configs/sasrec_ml1m.yaml --data-dir benchmarks/out/data/ml-100k \
        --output-dir benchmarks/out/streaming/sasrec_ml100k model_config.max_len=1100 time_budget_minutes=5
    python benchmarks/streaming.py --run benchmarks/out/streaming/sasrec_ml100k \
        --output benchmarks/reports/streaming_sasrec

The run (a streamable model: GRU4Rec, SASRec, HSTU) is exported (brute force) and served in this process
(``tfseqrec.serving.Server``, gRPC on loopback, one client):

(a) Exactness: the ``test`` split's histories are replayed as an event log (users interleaved, one event per
    request); each ``append`` answer is compared with ``recommend`` over the user's whole history so far:
    identical top-``k`` item lists, and the largest score difference.
(b) Latency at history lengths ``--lengths`` (default 50, 200, 1000; synthetic histories of catalogue items):
    ``append`` of one event to a cached user against ``recommend`` with the whole history, in alternating rounds;
    p50 / p99 and the ratio; and the cache's bytes per user (state + the kept items) at each length.
(c) A full cache: ``--users`` users take turns on a cache of ``--cache-users``; hit rate, evictions, and the
    latency of appends that find their user against those that start again.

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


def _serve(base: str, **settings):
    from tfseqrec.serving import Client, Server, ServerConfig
    from tfseqrec.serving.model_config import single_model

    server = Server(
        ServerConfig(models=tuple(single_model("model", base)), grpc_port=0, rest_port=None, poll_seconds=0, **settings)
    ).start()
    return server, Client(f"127.0.0.1:{server.grpc_port}", "model")


def _ids(rows):
    return [[item for item, _ in row] for row in rows]


def exactness(client, histories: list, k: int, max_events: int) -> dict:
    """(a): every ``append`` against ``recommend`` over the same history."""
    cursors = [0] * len(histories)
    same = events = 0
    worst = 0.0
    while events < max_events and any(c < len(h) for c, h in zip(cursors, histories)):
        for u, history in enumerate(histories):
            if cursors[u] >= len(history) or events >= max_events:
                continue
            cursors[u] += 1
            streamed = client.append([f"user{u}"], [history[cursors[u] - 1]], k=k)[0]
            full = client.recommend([history[: cursors[u]]], k=k)[0]
            same += [i for i, _ in streamed] == [i for i, _ in full]
            worst = max(worst, max(abs(a[1] - b[1]) for a, b in zip(streamed, full)))
            events += 1
    return {"events": events, "users": len(histories), "identical_top_k": same, "max_score_difference": worst}


def latency(client, server, items: list, lengths: list, rounds: int, requests: int, k: int) -> dict:
    """(b): ``append`` to a cached user of each length against ``recommend`` of the whole history."""
    rng = np.random.default_rng(0)
    cache = server.manager.user_states("model")
    out = {}
    for length in lengths:
        users = [f"len{length}_{i}" for i in range(requests)]
        histories = [list(rng.choice(items, size=length)) for _ in users]
        for user, history in zip(users, histories):  # build each user's state (not timed)
            for item in history:
                client.append([user], [item], k=k)
        per_user = float(np.mean([cache.get(user.encode()).size() for user in users]))  # these users alone
        times = {"append": [], "recommend": []}
        for r in range(rounds):
            order = ("append", "recommend") if r % 2 == 0 else ("recommend", "append")
            for how in order:
                for user, history in zip(users, histories):
                    item = str(rng.choice(items))
                    began = time.perf_counter()
                    if how == "append":
                        client.append([user], [item], k=k)
                        history.append(item)
                    else:
                        client.recommend([history + [item]], k=k)
                    times[how].append((time.perf_counter() - began) * 1e3)
        for user in users:
            client.reset([user])
        summary = {how: {"p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99))}
                   for how, v in times.items()}  # fmt: skip
        summary["speedup_p50"] = summary["recommend"]["p50_ms"] / summary["append"]["p50_ms"]
        summary["bytes_per_user"] = per_user
        out[str(length)] = summary
    return out


def full_cache(base: str, items: list, users: int, capacity: int, events: int, k: int) -> dict:
    """(c): more users than the cache holds, taking turns."""
    server, client = _serve(base, user_state_max_users=capacity)
    rng = np.random.default_rng(1)
    try:
        cache = server.manager.user_states("model")
        times = {"hit": [], "restart": []}
        for e in range(events):
            user = f"c{rng.integers(users)}"
            known = cache.get(user.encode()) is not None
            began = time.perf_counter()
            client.append([user], [str(rng.choice(items))], k=k)
            times["hit" if known else "restart"].append((time.perf_counter() - began) * 1e3)
        counts = dict(cache.counts)
    finally:
        server.stop(1)
    return {
        "users": users,
        "capacity": capacity,
        "events": events,
        "hit_rate": counts.get("hits", 0) / events,
        "evictions": counts.get("evicted_capacity", 0),
        "p50_ms": {how: float(np.percentile(v, 50)) if v else None for how, v in times.items()},
    }


def report(command: str, machine: str, result: dict) -> str:
    a, b, c = result["exactness"], result["latency"], result["full_cache"]
    lines = [
        "# Stateful serving: append against a full recompute",
        "",
        f"`{command}` on {machine}; model {result['model']} (max_len {result['max_len']}), "
        f"{result['items']:,} items, k = {result['k']}, gRPC on loopback, one client.",
        "",
        f"(a) Replayed test log: {a['events']:,} events of {a['users']} users; `append` gave the same top "
        f"{result['k']} as `recommend` over the whole history for {a['identical_top_k']:,} of {a['events']:,} "
        f"events; largest score difference {a['max_score_difference']:.2e}.",
        "",
        "(b) Latency per request and memory per cached user:",
        "",
        "| history length | append p50 ms | append p99 ms | recompute p50 ms | recompute p99 ms | speed-up (p50) | "
        "bytes per user |",
        "|---|---|---|---|---|---|---|",
    ]
    for length, row in b.items():
        lines.append(
            f"| {int(length):,} | {row['append']['p50_ms']:.3f} | {row['append']['p99_ms']:.3f} | "
            f"{row['recommend']['p50_ms']:.3f} | {row['recommend']['p99_ms']:.3f} | {row['speedup_p50']:.1f}x | "
            f"{row['bytes_per_user']:,.0f} |"
        )
    restart = c["p50_ms"]["restart"]
    lines += [
        "",
        f"(c) Full cache: {c['users']:,} users taking turns on a cache of {c['capacity']:,} for {c['events']:,} "
        f"events: hit rate {c['hit_rate']:.3f}, {c['evictions']:,} evictions (least recently used first); p50 of an "
        f"append that found its user {c['p50_ms']['hit']:.3f} ms, of one that started again "
        + ("n/a" if restart is None else f"{restart:.3f} ms")
        + " (an evicted user starts from an empty history).",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a tfseqrec train run of a streamable model (GRU4Rec, SASRec)")
    parser.add_argument("--output", default=None, help="directory for report.md and results.json")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--replay-users", type=int, default=100, help="test users replayed in (a)")
    parser.add_argument("--replay-events", type=int, default=3000, help="events replayed in (a)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per length in (b)")
    parser.add_argument("--requests", type=int, default=50, help="users (one request each per round) in (b)")
    parser.add_argument("--users", type=int, default=2000, help="users taking turns in (c)")
    parser.add_argument("--cache-users", type=int, default=500, help="cache capacity in (c)")
    parser.add_argument("--cache-events", type=int, default=4000, help="events in (c)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import tfseqrec  # noqa: F401
    from tfseqrec.data.spec import load_feature_spec, load_vocabulary
    from tfseqrec.export.exporter import ExportConfig, export_run
    from tfseqrec.host.machine import describe

    sys.path.insert(0, str(REPO / "benchmarks"))
    from monitoring import histories

    run = json.loads((Path(args.run) / "run.json").read_text())
    data_dir = run["config"]["data_dir"]
    max_len = int(run["model_config"]["max_len"])
    if max(args.lengths) + args.rounds > max_len:
        raise SystemExit(
            f"the longest history timed ({max(args.lengths)} + {args.rounds} rounds) is past the model's max_len "
            f"{max_len}, where append recomputes (the stateless path reads only the latest max_len items): train with "
            f"model_config.max_len >= {max(args.lengths) + args.rounds}"
        )
    items = load_vocabulary(load_feature_spec(data_dir))[2:]
    with tempfile.TemporaryDirectory() as directory:
        paths = export_run(args.run, directory, "model", config=ExportConfig(variants=("brute_force",)))
        base = os.path.dirname(paths["brute_force"])
        server, client = _serve(base)
        try:
            result = {
                "model": run["model"],
                "max_len": max_len,
                "items": len(items),
                "k": args.k,
                "exactness": exactness(
                    client, histories(data_dir, "test", args.replay_users), args.k, args.replay_events
                ),
                "latency": latency(client, server, items, args.lengths, args.rounds, args.requests, args.k),
            }
        finally:
            server.stop(1)
        result["full_cache"] = full_cache(base, items, args.users, args.cache_users, args.cache_events, args.k)
    command = "python benchmarks/streaming.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(command, describe().get("cpu_model", "?"), result)
    print(text)
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        Path(args.output, "report.md").write_text(text)
        Path(args.output, "results.json").write_text(json.dumps({**result, "command": command}, indent=2))
    return 0 if result["exactness"]["identical_top_k"] == result["exactness"]["events"] else 1


if __name__ == "__main__":
    sys.exit(main())
