"""Serving latency of the long-history models: exported SavedModels answering one user with a history of ``L``
items, against full attention's export in the same process.

    python benchmarks/long_serving.py                                   # L = 2048, every kind, 3,706 items
    python benchmarks/long_serving.py --length 512 --variants full local hierarchical --requests 20
    python benchmarks/long_serving.py --output benchmarks/reports/long_serving        # + results.json, .md

Every kind of ``benchmarks/long_attention.py`` (SASRec with full, local, linear, L2-linear and Performer
attention, HSTU, the hierarchical and the memory transformer; d 64, 2 blocks, 1 head, untrained weights: latency
does not depend on them) is built with ``max_len = L`` over a catalogue of ``--items`` items (default: ML-1M's
3,706 after its 5-core) and exported with ``tfseqrec.export.export_model`` in both variants (brute-force and ScaNN
top-K). The SavedModels are loaded as TF Serving loads them and their ``recommend`` signature is called with one
request (``--batch`` rows of ``L`` item-id strings, ``k`` 10, seen items excluded): after 3 untimed calls,
``--requests`` rounds, each calling every (kind, variant) once in turn, so drift in the machine's speed falls on
all alike. Reported: median and p99 milliseconds per request, the ratio of full attention's median to the kind's
(same process, same variant), and the in-memory encoder's median (``model.query`` compiled; the rest of a request
is string lookup, padding and the top-K). A model answers like its in-memory twin: the benchmark checks each
export's top 10 against ``score_all`` on the first request (and exits non-zero when one differs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
K = 10


def _variants() -> dict:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from long_attention import VARIANTS  # the kinds and their settings, shared with the scaling benchmark

    return VARIANTS


def _build(variant: str, length: int, num_items: int):
    from tfseqrec.models import build_model

    name, extra = _variants()[variant]
    config = {"embedding_dim": 64, "num_blocks": 2, "num_heads": 1, "dropout": 0.1, "max_len": length}
    model = build_model(name, {**config, "loss": {"name": "full_ce"}, **extra}, num_items)
    return model.build_for_inputs()


def _percentile(values: list, q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _top_ids(model, ids: np.ndarray, k: int) -> list:
    """The in-memory model's top ``k`` ids of each row, PAD / OOV and seen items excluded."""
    import tensorflow as tf

    scores = model.score_all(tf.constant(ids)).numpy()
    scores[:, :2] = -np.inf
    for row, history in enumerate(ids):
        scores[row, history] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k].tolist()


def measure(variants: list, length: int, num_items: int, batch: int, requests: int, seed: int) -> list:
    """Rows ``{variant, index, median_ms, p99_ms, encoder_ms, ...}`` for every kind and export variant."""
    import tfseqrec  # noqa: F401
    import tensorflow as tf

    from tfseqrec.export import ExportConfig, contract, export_model

    vocabulary = ["[PAD]", "[OOV]"] + [f"item{n:05d}" for n in range(2, num_items)]
    counts = [0, 0] + list(range(num_items - 2, 0, -1))
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, num_items, (batch, length))
    request = {
        contract.HISTORY: tf.constant(np.asarray(vocabulary, dtype=object)[ids].astype(bytes)),
        contract.K: tf.fill([batch], K),
        contract.EXCLUDE_SEEN: tf.fill([batch], True),
    }
    served, encoders, failures = {}, {}, []
    with tempfile.TemporaryDirectory() as folder:
        for variant in variants:
            tf.keras.utils.set_random_seed(seed)
            model = _build(variant, length, num_items)
            paths = export_model(
                model, vocabulary, counts, folder, variant, config=ExportConfig(max_k=100, warmup_requests=False)
            )
            want = _top_ids(model, ids, K)
            for index, path in paths.items():
                signature = tf.saved_model.load(path).signatures[contract.RECOMMEND_SIGNATURE]
                answer = signature(**request)[contract.ITEM_IDS].numpy()
                got = [[vocabulary.index(x.decode()) for x in row] for row in answer]
                if got != want:
                    failures.append(f"{variant}/{index}: served top {K} differs from the in-memory model's")
                served[(variant, index)] = signature
            query = tf.function(lambda history, m=model: m.query(history))
            query(tf.constant(ids)).numpy()  # trace
            encoders[variant] = (query, tf.constant(ids))
            print(f"exported {variant} ({', '.join(paths)})", flush=True)
        seconds = {key: [] for key in served}
        encoder_seconds = {variant: [] for variant in encoders}
        for key, signature in served.items():  # warm-up rounds, untimed: the first calls of a loaded function
            for _ in range(3):  # still optimise its graph
                signature(**request)[contract.ITEM_IDS].numpy()
        for _ in range(requests):
            for key, signature in served.items():
                start = time.perf_counter()
                signature(**request)[contract.ITEM_IDS].numpy()
                seconds[key].append(time.perf_counter() - start)
            for variant, (query, history) in encoders.items():
                start = time.perf_counter()
                query(history).numpy()
                encoder_seconds[variant].append(time.perf_counter() - start)
    rows = []
    for (variant, index), values in seconds.items():
        rows.append(
            {
                "variant": variant,
                "index": index,
                "length": length,
                "batch": batch,
                "median_ms": statistics.median(values) * 1e3,
                "p99_ms": _percentile(values, 99) * 1e3,
                "encoder_ms": statistics.median(encoder_seconds[variant]) * 1e3,
            }
        )
    for row in rows:
        full = next((r for r in rows if r["variant"] == "full" and r["index"] == row["index"]), None)
        if full and row["variant"] != "full":
            row["speedup_vs_full"] = full["median_ms"] / row["median_ms"]
    for failure in failures:
        print(f"FAILED: {failure}", flush=True)
    return rows, failures


def markdown(rows: list, machine: str, requests: int, num_items: int) -> str:
    lines = [
        "# Serving latency of the long-history models",
        "",
        f"One request of {rows[0]['batch']} row(s) x {rows[0]['length']:,} item ids (k {K}, seen items excluded) to "
        f"each exported SavedModel (`recommend`, loaded in process as TF Serving loads it), {num_items:,} "
        f"items, d 64, 2 blocks, untrained weights; {requests} rounds, every export called once per round; "
        f"{machine}. `speedup` = full attention's median / the kind's (same process, same top-K variant); "
        "`encoder` = the in-memory `model.query` alone (the rest of a request: string lookup, padding, top-K).",
        "",
        "| kind | top-K | median ms | p99 ms | encoder ms | speedup vs full |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["index"], r["variant"] != "full")):
        speed = f"{r['speedup_vs_full']:.2f}x" if r.get("speedup_vs_full") else "-"
        lines.append(
            f"| {r['variant']} | {r['index']} | {r['median_ms']:.1f} | {r['p99_ms']:.1f} | {r['encoder_ms']:.1f} "
            f"| {speed} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=2048, help="max_len of every model and items per history")
    parser.add_argument("--variants", nargs="+", default=None, help="kinds (default: all of long_attention.py)")
    parser.add_argument("--items", type=int, default=3706, help="catalogue size (ML-1M's after its 5-core)")
    parser.add_argument("--batch", type=int, default=1, help="rows per request")
    parser.add_argument("--requests", type=int, default=30, help="timed rounds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", help="folder for results.json and long_serving.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    variants = args.variants or list(_variants())
    unknown = sorted(set(variants) - set(_variants()))
    if unknown:
        parser.error(f"unknown --variants {unknown}; choose from {sorted(_variants())}")
    if "full" not in variants:
        variants = ["full"] + variants  # the baseline of every ratio
    rows, failures = measure(variants, args.length, args.items, args.batch, args.requests, args.seed)
    from tfseqrec.host.machine import describe

    machine = describe()
    label = f"{machine['cpu_model']} ({machine['cpus']} cores)"
    table = markdown(rows, label, args.requests, args.items)
    print(table)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        results = {"machine": machine, "requests": args.requests, "items": args.items, "rows": rows}
        (out / "results.json").write_text(json.dumps({**results, "failures": failures}, indent=2))
        (out / "long_serving.md").write_text(table)
        print(f"wrote {out}/results.json, long_serving.md")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
