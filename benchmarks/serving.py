"""Serving benchmark: the top-K indexes, the gRPC server end to end, and version swaps under load.

    python benchmarks/serving.py                  # 1,000,000 items x 64 (about 7 min on 2 CPU cores)
    python benchmarks/serving.py --quick          # 20,000 items, short runs: a smoke test (about 75 s)
    python benchmarks/serving.py --only index     # parts: index, ml1m, e2e, load (e2e and load share one server)

(a) Index. Synthetic item embeddings with cluster structure (Gaussian cluster centres of Zipf-distributed sizes,
    items around them; item popularity Zipf; queries drawn near items picked by popularity, each with a history of
    20 items to exclude). The export's own indexes (``tfseqrec.export.indexes``: ScaNN through
    ``tfrs.layers.factorized_top_k.ScaNN`` with exact rescoring, and brute force = TF matmul + exclusion mask +
    top_k) plus NumPy brute force for reference: recall@10 against the exact top 10, single-query latency
    (median and p99), batch throughput, and a curve over ``num_leaves_to_search`` and the number of reordering
    candidates. The same on the trained ML-1M SASRec (``--ml1m-run``) when that run exists.
(b) End to end over gRPC on loopback: a SASRec (d=64, max_len 50, one block) whose item table is set to the
    synthetic embeddings (``item0000123`` ids, Zipf counts) is exported in both variants with ``export_model``
    and served by ``python -m tfseqrec.cli serve`` in a separate process. Single-request latency, throughput
    with 1/4/16 concurrent clients (client *processes*, each with the real ``PredictionServiceStub``; they share
    the machine's cores with the server), and where the time of one request goes (each step timed in a separate
    process with the server's code, plus the server's own time per request from its ``server-timing`` metadata).
(c) Load and faults: 16 client processes for ``--load-seconds`` against the ScaNN model while a new version is
    published (copied to a ``.tmp`` folder, renamed to the next integer) and a corrupt one is dropped in.

Writes ``report.md`` and ``results.json`` to ``--out`` and prints the Markdown tables. Ratios are against baselines
run in the same process (brute force for the indexes). Exits non-zero when a correctness check fails (failed
valid requests, a corrupt version served, recall not measured); performance targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import multiprocessing as mp
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ML1M_RUN = REPO / "benchmarks" / "out" / "models" / "runs" / "ml1m" / "sasrec_ml1m_ce" / "seed42"
K = 10
HISTORY = 20
TARGET_RECALL, TARGET_SPEEDUP, TARGET_P99_MS, TARGET_RPS = 0.98, 20.0, 5.0, 1000.0
# Faster serving (issue: single-request p99 <= 2 ms; >= 3,000 requests/s with 16 clients at p99 <= 15 ms).
FAST_P99_MS, FAST_RPS, FAST_RPS_P99_MS = 2.0, 3000.0, 15.0


# -- small helpers ----------------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def ms(seconds) -> float:
    return float(seconds) * 1e3


def percentiles(latencies) -> dict:
    a = np.asarray(latencies, np.float64)
    if not a.size:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    return {
        "n": int(a.size),
        "p50_ms": ms(np.percentile(a, 50)),
        "p99_ms": ms(np.percentile(a, 99)),
        "mean_ms": ms(a.mean()),
    }


def timed(fn, n: int, warmup: int = 3) -> np.ndarray:
    """Seconds of ``n`` calls of ``fn(i)`` (after ``warmup`` calls)."""
    for i in range(warmup):
        fn(i)
    out = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out[i] = time.perf_counter() - start
    return out


def median_us(fn, n: int = 300, warmup: int = 5) -> float:
    return float(np.median(timed(fn, n, warmup))) * 1e6


def other_heavy_processes() -> list[str]:
    """Trainings and test runs of other people on this machine (they distort every latency figure)."""
    found = subprocess.run(["pgrep", "-af", "tfseqrec.cli train|pytest"], capture_output=True, text=True).stdout
    return [
        line.split(" ", 1)[1][:100]
        for line in found.splitlines()
        if line.strip() and int(line.split(" ", 1)[0]) != os.getpid() and "serving.py" not in line
    ]


def machine_info() -> dict:
    import grpc
    import tensorflow as tf
    from importlib import metadata

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem = round(int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "logical_cpus": os.cpu_count(),
        "memory_gib": mem,
        "tensorflow": tf.__version__,
        "scann": metadata.version("scann"),
        "grpcio": grpc.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "training_running": bool(
            subprocess.run(["pgrep", "-f", "tfseqrec.cli train"], capture_output=True).stdout.strip()
        ),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


# -- synthetic catalogue -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Catalogue:
    embeddings: np.ndarray  # [N, D] float32, catalogue order (vocabulary id = index + 2)
    counts: np.ndarray  # [N] Zipf training counts, descending (popularity rank = index)
    popularity: np.ndarray  # [N] probability of drawing each item for a query or a history
    clusters: int


def synthetic_catalogue(num_items: int, dim: int, clusters: int, seed: int) -> Catalogue:
    """Gaussian cluster centres with Zipf(0.5)-distributed sizes, items around them; Zipf(1) counts; queries
    pick items with probability ~ 1/rank^0.8 (popular items are queried more, the tail still appears)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    sizes = 1.0 / np.arange(1, clusters + 1) ** 0.5
    assign = rng.choice(clusters, num_items, p=rng.permutation(sizes / sizes.sum()))
    emb = centres[assign]
    emb += 0.35 * rng.standard_normal((num_items, dim), dtype=np.float32)
    emb *= np.float32(1.0 / math.sqrt(dim))
    rank = np.arange(1, num_items + 1, dtype=np.float64)
    counts = np.maximum(1, np.round(1e6 / rank)).astype(np.int64)
    popularity = 1.0 / rank**0.8
    return Catalogue(emb, counts, popularity / popularity.sum(), clusters)


def synthetic_queries(cat: Catalogue, n: int, seed: int):
    """``(queries [n, D], histories [n, HISTORY] catalogue indexes)``: each query is a popular-weighted item's
    embedding plus noise; its history is that item and 19 more drawn by popularity."""
    rng = np.random.default_rng(seed)
    dim = cat.embeddings.shape[1]
    anchors = rng.choice(len(cat.counts), n, p=cat.popularity)
    queries = cat.embeddings[anchors] + (0.15 / math.sqrt(dim)) * rng.standard_normal((n, dim)).astype(np.float32)
    histories = rng.choice(len(cat.counts), (n, HISTORY), p=cat.popularity)
    histories[:, -1] = anchors
    return queries.astype(np.float32), histories


# -- (a) indexes ---------------------------------------------------------------------------------------------
class IndexBench:
    """The export's indexes over one table, with single-query and batch timing helpers."""

    def __init__(self, table: np.ndarray, scann_config=None, biases: np.ndarray | None = None):
        import tensorflow as tf
        from tfseqrec.export.indexes import ScannConfig, build_index

        self.tf = tf
        self.table = tf.Variable(table, trainable=False)  # [V, D], PAD and OOV rows included
        self.biases = None if biases is None else tf.Variable(biases, trainable=False)
        self._bias_fn = (lambda: None) if biases is None else (lambda: self.biases)
        self._scann_config = scann_config or ScannConfig()
        self.brute = build_index("brute_force", lambda: self.table, self._bias_fn)
        self.rebuild_scann()
        self.k = tf.constant(K, tf.int32)

    def rebuild_scann(self) -> None:
        """(Re)builds the ScaNN index as the export does (its k-means training is randomised)."""
        from tfseqrec.export.indexes import build_index

        start = time.perf_counter()
        self.scann = build_index("scann", lambda: self.table, self._bias_fn, self._scann_config)
        self.build_seconds = time.perf_counter() - start
        self.default = self.scann.config

    def search_fn(self, variant: str, leaves=None, reorder=None):
        """``index.search`` traced for ``[None, D]`` queries and ``[None, None]`` exclusions (dynamic shapes, as in
        the export's signatures), ScaNN with these search parameters; a concrete function ``(q, exclude, k)``."""
        tf = self.tf
        specs = (
            tf.TensorSpec([None, self.table.shape[1]], tf.float32),
            tf.TensorSpec([None, None], tf.int64),
            tf.TensorSpec([], tf.int32),
        )
        if variant == "brute_force":
            return tf.function(self.brute.search).get_concrete_function(*specs)
        self.scann.config = dataclasses.replace(
            self.default,
            num_leaves_to_search=leaves or self.default.num_leaves_to_search,
            num_reordering_candidates=reorder or self.default.num_reordering_candidates,
        )
        try:
            return tf.function(self.scann.search).get_concrete_function(*specs)
        finally:
            self.scann.config = self.default

    def run(self, fn, queries, exclude):
        """Top-K vocabulary ids ``[B, K]`` of ``fn`` for numpy queries and exclusions."""
        return fn(self.tf.constant(queries), self.tf.constant(exclude), self.k)[1].numpy()

    def single_query(self, fn, queries, exclude, n: int):
        """(ids [n, K], latencies [n] s) of one query at a time, inputs already tensors."""
        tf = self.tf
        q = [tf.constant(queries[i : i + 1]) for i in range(n)]
        e = [tf.constant(exclude[i : i + 1]) for i in range(n)]
        ids = np.zeros((n, K), np.int64)

        def call(i):
            ids[i % n] = fn(q[i % n], e[i % n], self.k)[1].numpy()[0]

        lat = timed(call, n, warmup=3)
        return ids, lat

    def batch_qps(self, fn, queries, exclude, batch: int, seconds: float = 3.0) -> float:
        tf = self.tf
        q, e = tf.constant(queries[:batch]), tf.constant(exclude[:batch])
        fn(q, e, self.k)[1].numpy()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or done == 0:
            fn(q, e, self.k)[1].numpy()
            done += batch
        return done / (time.perf_counter() - start)


def numpy_topk(table: np.ndarray, queries: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """Exact top-K ids ``[B, K]`` in NumPy: scores of every id, PAD/OOV and the history set to -inf."""
    scores = queries @ table.T
    scores[:, :2] = -np.inf
    np.put_along_axis(scores, exclude, -np.inf, axis=1)
    part = np.argpartition(-scores, K, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got.tolist(), want.tolist())]))


def leaves_curve(num_leaves: int, default: int, quick: bool) -> list[int]:
    fractions = (0.01, 0.05, 0.2, 1.0) if quick else (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0)
    return sorted({max(1, round(f * num_leaves)) for f in fractions} | {default})


def bench_index(bench: IndexBench, queries, exclude, n: int, quick: bool, label: str, builds: int = 1) -> dict:
    """Exact baselines, the export's ScaNN as configured, and the ScaNN curve over one table."""
    table = bench.table.numpy()
    log(f"{label}: brute force (TF, as exported), single queries x {n}")
    brute = bench.search_fn("brute_force")
    exact_ids, brute_lat = bench.single_query(brute, queries, exclude, n)
    rows = {"brute_force_tf": {"recall@10": 1.0, **percentiles(brute_lat)}}
    log(f"{label}: brute force (NumPy), single queries x {n}")
    np_ids = np.zeros((n, K), np.int64)

    def np_call(i):
        np_ids[i % n] = numpy_topk(table, queries[i % n : i % n + 1], exclude[i % n : i % n + 1])[0]

    np_lat = timed(np_call, n)
    rows["brute_force_numpy"] = {"recall@10": recall(np_ids, exact_ids), **percentiles(np_lat)}
    cfg = bench.default
    log(
        f"{label}: ScaNN as exported ({cfg.num_leaves} leaves, {cfg.num_leaves_to_search} searched, "
        f"{cfg.num_reordering_candidates} reordering candidates), built in {bench.build_seconds:.1f} s"
    )
    scann = bench.search_fn("scann")
    scann_ids, scann_lat = bench.single_query(scann, queries, exclude, n)
    rows["scann_export_default"] = {"recall@10": recall(scann_ids, exact_ids), **percentiles(scann_lat)}
    base_p50 = rows["brute_force_tf"]["p50_ms"]
    for row in rows.values():
        row["speedup_vs_brute_p50"] = base_p50 / row["p50_ms"]
    batch = 64
    log(f"{label}: batch throughput (batch {batch})")
    rows["brute_force_tf"]["batch_qps"] = bench.batch_qps(brute, queries, exclude, batch)
    rows["scann_export_default"]["batch_qps"] = bench.batch_qps(scann, queries, exclude, batch)
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < 3.0 or done == 0:
        numpy_topk(table, queries[:batch], exclude[:batch])
        done += batch
    rows["brute_force_numpy"]["batch_qps"] = done / (time.perf_counter() - start)
    curve = []
    reorders = (100, 250) if quick else (100, 250, 500)
    for leaves in leaves_curve(cfg.num_leaves, cfg.num_leaves_to_search, quick):
        for reorder in reorders:
            fn = bench.search_fn("scann", leaves, reorder)
            ids, lat = bench.single_query(fn, queries, exclude, n)
            point = {
                "leaves_to_search": leaves,
                "reordering_candidates": reorder,
                "recall@10": recall(ids, exact_ids),
                **percentiles(lat),
            }
            point["speedup_vs_brute_p50"] = base_p50 / point["p50_ms"]
            if leaves == cfg.num_leaves_to_search and reorder == cfg.num_reordering_candidates:
                point["export_default"] = True
            curve.append(point)
            log(
                f"{label}: leaves {leaves:>4} reorder {reorder:>4}: recall@10 {point['recall@10']:.4f}, "
                f"p50 {point['p50_ms']:.3f} ms, p99 {point['p99_ms']:.3f} ms"
            )
    good = [p for p in curve if p["recall@10"] >= TARGET_RECALL]
    best = min(good, key=lambda p: p["p50_ms"]) if good else None
    # ScaNN's tree and hashing training is randomised: the exported default over more builds of the same table.
    rebuilt = [
        {
            "build": 1,
            "recall@10": rows["scann_export_default"]["recall@10"],
            "p50_ms": rows["scann_export_default"]["p50_ms"],
            "build_seconds": bench.build_seconds,
        }
    ]
    for b in range(2, builds + 1):
        bench.rebuild_scann()
        ids, lat = bench.single_query(bench.search_fn("scann"), queries, exclude, n)
        rebuilt.append(
            {
                "build": b,
                "recall@10": recall(ids, exact_ids),
                "p50_ms": ms(np.median(lat)),
                "build_seconds": bench.build_seconds,
            }
        )
        log(f"{label}: ScaNN build {b}: recall@10 {rebuilt[-1]['recall@10']:.4f}, p50 {rebuilt[-1]['p50_ms']:.3f} ms")
    return {
        "items": int(table.shape[0] - 2),
        "dim": int(table.shape[1]),
        "queries": n,
        "k": K,
        "history": int(exclude.shape[1]),
        "scann_config": dataclasses.asdict(cfg),
        "scann_build_seconds": bench.build_seconds,
        "rows": rows,
        "curve": curve,
        "builds": rebuilt,
        "fastest_at_target_recall": best,
    }


def part_index(args, cat: Catalogue) -> dict:
    table = np.concatenate([np.zeros((2, args.dim), np.float32), cat.embeddings])
    queries, hist = synthetic_queries(cat, args.queries, args.seed + 1)
    log(f"index: building the export's indexes over {len(cat.counts):,} x {args.dim} (ScaNN training) ...")
    bench = IndexBench(table)
    result = bench_index(bench, queries, hist + 2, args.queries, args.quick, "index", args.builds)
    result["clusters"] = cat.clusters
    return result


def part_ml1m(args) -> dict:
    run_dir = Path(args.ml1m_run) if args.ml1m_run else DEFAULT_ML1M_RUN
    if args.quick and not args.ml1m_run:
        return {"skipped": "--quick (pass --ml1m-run DIR to include it)"}
    if not (run_dir / "run.json").exists() or not (run_dir / "checkpoints").exists():
        return {
            "skipped": f"no trained run at {run_dir} (train it with "
            f"`tfseqrec benchmark benchmarks/grids/models.yaml --output benchmarks/out/models "
            f"--only-runs sasrec_ml1m_ce`)"
        }
    import tensorflow as tf
    from tfseqrec.data import SequenceBatchConfig, make_dataset
    from tfseqrec.training.trainer import load_trained_model

    log(f"ml1m: loading {run_dir}")
    model, run, spec = load_trained_model(str(run_dir))
    batch = next(
        iter(
            make_dataset(
                spec,
                "test",
                SequenceBatchConfig(batch_size=args.queries, max_len=None, padding="left", include_targets=False),
            )
        )
    )
    items = batch["item_ids"]
    queries = tf.cast(model.query(items[:, -model.config.max_len :], training=False), tf.float32).numpy()
    bias = model.item_biases()
    bench = IndexBench(
        tf.cast(model.item_embeddings(), tf.float32).numpy(),
        biases=None if bias is None else tf.cast(bias, tf.float32).numpy(),
    )
    result = bench_index(bench, queries, items.numpy(), len(queries), args.quick, "ml1m", args.builds)
    result.update(
        run_dir=str(run_dir),
        run_status=run.get("status"),
        best_epoch=run.get("best_epoch"),
        test_metrics={k: run.get("test_metrics", {}).get(k) for k in ("HR@10", "NDCG@10")}
        if run.get("test_metrics")
        else None,
    )
    return result


# -- (b) end to end --------------------------------------------------------------------------------------------
def vocabulary(num_items: int) -> list[str]:
    return ["[PAD]", "[OOV]"] + [f"item{i:07d}" for i in range(num_items)]


def export_bench_model(args, cat: Catalogue, base: Path) -> dict:
    """A small SASRec whose item table is the synthetic catalogue, exported in both variants (or, with
    ``--work``, the export of an earlier run with the same catalogue, its later versions removed)."""
    vocab = vocabulary(len(cat.counts))
    info_file = base / "bench_scann" / "1" / "assets.extra" / "tfseqrec_export.json"
    import hashlib

    code = hashlib.sha256(b"".join(f.read_bytes() for f in sorted((REPO / "tfseqrec" / "export").glob("*.py"))))
    stamp = {
        "num_items": len(cat.counts),
        "dim": args.dim,
        "clusters": args.clusters,
        "seed": args.seed,
        "target_recall": args.target_recall,
        "export_code": code.hexdigest()[:16],
    }
    if (
        (base / "models.config").exists()
        and info_file.exists()
        and (base / "stamp.json").exists()
        and json.loads((base / "stamp.json").read_text()) == stamp
    ):
        for model_dir in base.iterdir():
            for version in model_dir.iterdir() if model_dir.is_dir() else ():
                if version.name != "1":
                    shutil.rmtree(version)
        paths = {v: str(base / f"bench_{v}" / "1") for v in ("brute_force", "scann")}
        log(f"e2e: reusing the exports in {base}")
        return {
            "paths": paths,
            "export_seconds": {},
            "export_mib": _sizes(paths),
            "scann_index": _index_info(paths["scann"]),
            "reused": True,
            "vocabulary": vocab,
        }
    from tfseqrec.export.exporter import ExportConfig, export_model
    from tfseqrec.export.indexes import ScannConfig
    from tfseqrec.models import build_model
    import tensorflow as tf

    shutil.rmtree(base, ignore_errors=True)
    n = len(cat.counts)
    model = build_model(
        "sasrec", {"embedding_dim": args.dim, "max_len": 50, "num_blocks": 1, "dropout": 0.0}, num_items=n + 2
    )
    model.build_for_inputs()
    table = np.concatenate([np.zeros((2, args.dim), np.float32), cat.embeddings])
    model.item_embedding.embeddings.assign(table)
    counts = [0, 0] + cat.counts.tolist()
    seconds = {}
    paths = {}
    # ScaNN's search settings from its recall curve on the model's queries of histories of their own (drawn like
    # the measured ones, another seed).
    rng = np.random.default_rng(args.seed + 7)
    ids = rng.choice(n, (500, HISTORY), p=cat.popularity) + 2
    calibration = model.query(tf.constant(ids), training=False).numpy()
    scann = ScannConfig(target_recall=args.target_recall) if args.target_recall else ScannConfig()
    for variant in ("brute_force", "scann"):
        start = time.perf_counter()
        config = ExportConfig(variants=(variant,), scann=scann)
        paths.update(
            export_model(model, vocab, counts, str(base), "bench", config=config, calibration_queries=calibration)
        )
        seconds[variant] = time.perf_counter() - start
        log(f"e2e: exported bench_{variant} in {seconds[variant]:.1f} s -> {paths[variant]}")
    (base / "stamp.json").write_text(json.dumps(stamp))
    return {
        "paths": paths,
        "export_seconds": seconds,
        "export_mib": _sizes(paths),
        "scann_index": _index_info(paths["scann"]),
        "vocabulary": vocab,
    }


def _index_info(version_dir: str) -> dict:
    """The ScaNN export's index parameters (and its calibration's choice) from its ``tfseqrec_export.json``."""
    info = json.loads((Path(version_dir) / "assets.extra" / "tfseqrec_export.json").read_text())["index"]
    calibration = info.get("calibration") or {}
    return {
        "num_leaves": info.get("num_leaves"),
        "num_leaves_to_search": info.get("num_leaves_to_search"),
        "num_reordering_candidates": info.get("num_reordering_candidates"),
        "calibration": {k: v for k, v in calibration.items() if k != "curve"},
        "calibration_points": len(calibration.get("curve", [])),
    }


def _sizes(paths: dict) -> dict:
    return {v: sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file()) / 2**20 for v, p in paths.items()}


class ServerProcess:
    """``python -m tfseqrec.cli serve`` in its own process, ports picked by the OS and read from its log."""

    def __init__(self, config_file: Path, log_path: Path, poll_seconds: float = 1.0, extra_args=()):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tfseqrec.cli",
                "serve",
                "--model-config",
                str(config_file),
                "--grpc-port",
                "0",
                "--rest-port",
                "0",
                "--poll-seconds",
                str(poll_seconds),
                *extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(REPO),
        )
        self.grpc_port = self.rest_port = None

    def wait_ready(self, timeout: float = 900.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            m = re.search(r"gRPC on 127\.0\.0\.1:(\d+), REST on http://127\.0\.0\.1:(\d+)", self.log_path.read_text())
            if m:
                self.grpc_port, self.rest_port = int(m.group(1)), int(m.group(2))
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/readyz", timeout=5) as r:
                        if r.status == 200:
                            return time.perf_counter() - self.started
                except OSError:
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"the server was not ready after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def rss_mib(self) -> float | None:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="utf-8") as f:
                return int(next(line.split()[1] for line in f if line.startswith("VmRSS"))) / 1024
        except (OSError, StopIteration):
            return None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores; /proc/stat without idle and iowait)."""
    with open("/proc/stat", encoding="utf-8") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _import_serving_apis_without_tensorflow() -> None:
    """Lets ``tensorflow_serving.apis`` import TensorFlow's generated ``*_pb2`` modules without running
    ``tensorflow/__init__.py`` (the TF runtime: ~3 s of CPU and ~600 MB per process). The protos and the
    ``PredictionServiceStub`` are the real ones; only the packages around them are bare."""
    import importlib.util
    import types

    spec = importlib.util.find_spec("tensorflow")
    if spec is None or "tensorflow" in sys.modules:
        return
    root = os.path.dirname(spec.origin)
    for name in (
        "tensorflow",
        "tensorflow.core",
        "tensorflow.core.framework",
        "tensorflow.core.protobuf",
        "tensorflow.core.example",
    ):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, *name.split(".")[1:])]
        sys.modules[name] = module


def _server_ms(call) -> float:
    """The server's own time for a Predict (its ``server-timing`` trailing metadata), NaN when absent."""
    value = dict(call.trailing_metadata() or ()).get("server-timing", "")
    return float(value.split("dur=", 1)[1].split(";", 1)[0]) if "dur=" in value else float("nan")


def _client_worker(conn) -> None:
    """A client process: the real PredictionServiceStub on its own channel; runs timed request loops."""
    _import_serving_apis_without_tensorflow()
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    conn.send("imported")
    target = conn.recv()
    channel = grpc.insecure_channel(target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    conn.send("ready")
    while True:
        task = conn.recv()
        if task is None:
            break
        raw, start_at, end_at = task
        requests = [predict_pb2.PredictRequest.FromString(r) for r in raw]
        latency, ends, versions, errors, server_ms = [], [], [], [], []
        while time.time() < start_at:
            time.sleep(0.001)
        i = 0
        while time.time() < end_at:
            t0 = time.perf_counter()
            try:
                response, call = stub.Predict.with_call(requests[i % len(requests)], timeout=30)
                versions.append(response.model_spec.version.value)
                server_ms.append(_server_ms(call))
            except grpc.RpcError as e:
                versions.append(-1)
                if len(errors) < 5:
                    errors.append(f"{e.code().name}: {e.details()}")
            latency.append(time.perf_counter() - t0)
            ends.append(time.time())
            i += 1
        conn.send(
            {
                "latency": np.asarray(latency),
                "end": np.asarray(ends),
                "version": np.asarray(versions),
                "server_ms": np.asarray(server_ms),
                "errors": errors,
            }
        )
    channel.close()


class ClientPool:
    """``size`` client processes (spawned, so each has its own interpreter, GIL and gRPC channel)."""

    def __init__(self, size: int):
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for _ in range(size):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_client_worker, args=(child,), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)

    def connect(self, target: str, timeout: float = 600.0) -> None:
        """Waits for every process to have imported gRPC and the TF Serving APIs, then gives them the target."""
        for c in self.conns:
            if not c.poll(timeout) or c.recv() != "imported":
                raise RuntimeError("a client process did not start")
        for c in self.conns:
            c.send(target)
        for c in self.conns:
            if not c.poll(60) or c.recv() != "ready":
                raise RuntimeError("a client process did not connect")

    def run(
        self, clients: int, raw_requests: list[bytes], seconds: float, during=None, server_pid: int | None = None
    ) -> dict:
        """``clients`` processes send requests for ``seconds``; ``during(start_at)`` runs meanwhile here. With
        ``server_pid``, the CPU time of the server and of the whole machine over the run is measured too."""
        start_at = time.time() + 0.5
        end_at = start_at + seconds
        for i, c in enumerate(self.conns[:clients]):
            c.send((raw_requests[i::clients] or raw_requests, start_at, end_at))
        cpu0 = None
        if server_pid is not None and during is None:
            time.sleep(max(0.0, start_at - time.time()))
            cpu0 = (machine_cpu_seconds(), process_cpu_seconds(server_pid), time.time())
        extra = during(start_at) if during else None
        parts = [c.recv() for c in self.conns[:clients]]
        cpu = {}
        if cpu0 is not None:
            machine, server, wall = (
                machine_cpu_seconds() - cpu0[0],
                process_cpu_seconds(server_pid) - cpu0[1],
                time.time() - cpu0[2],
            )
            answered = max(1, sum(int((p["version"] >= 0).sum()) for p in parts))
            cpu = {
                "machine_busy_cores": machine / wall,
                "server_cpu_ms_per_request": 1e3 * server / answered,
                "clients_cpu_ms_per_request": 1e3 * (machine - server) / answered,
            }
        lat = np.concatenate([p["latency"] for p in parts])
        versions = np.concatenate([p["version"] for p in parts])
        ends = np.concatenate([p["end"] for p in parts])
        ok = versions >= 0
        server = np.concatenate([p["server_ms"] for p in parts])
        return {
            "clients": clients,
            "seconds": seconds,
            "requests": int(ok.sum()),
            "failed": int((~ok).sum()),
            "rps": float(ok.sum() / seconds),
            **percentiles(lat[ok]),
            "server_p50_ms": float(np.nanmedian(server)) if server.size else float("nan"),
            "errors": sum((p["errors"] for p in parts), []),
            **cpu,
            "_versions": versions,
            "_ends": ends - start_at,
            "_latency": lat,
            "extra": extra,
        }

    def close(self) -> None:
        for c in self.conns:
            try:
                c.send(None)
            except OSError:
                pass
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()


def predict_requests(model: str, histories: list[list[str]]) -> list:
    from tensorflow_serving.apis import predict_pb2
    from tfseqrec.serving.tensors import fill_tensor_proto, string_array

    out = []
    for h in histories:
        r = predict_pb2.PredictRequest()
        r.model_spec.name = model
        fill_tensor_proto(r.inputs["history"], string_array([[x.encode() for x in h]]))
        out.append(r)
    return out


def e2e_histories(cat: Catalogue, vocab: list[str], n: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(cat.counts), (n, HISTORY), p=cat.popularity)
    return [[vocab[i + 2] for i in row] for row in idx]


HANDLER = "server: handler (checks, TensorProto->numpy, batcher, signature, response proto)"
CLIENT_PROTO = "client: serialize request + parse response"


def _thread_args(server_args: str) -> tuple[int, int]:
    """``(intra, inter)`` from ``--server-args`` (0 = TensorFlow's default), so that in-process measurements use
    the server's TensorFlow thread pools."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--intra-op-threads", type=int, default=0)
    p.add_argument("--inter-op-threads", type=int, default=0)
    known, _ = p.parse_known_args(server_args.split())
    return known.intra_op_threads, known.inter_op_threads


def _breakdown_child(conn, job: dict) -> None:
    try:
        conn.send(_breakdown(**job))
    except BaseException as e:  # noqa: BLE001
        import traceback

        conn.send({"error": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"})


def breakdown(models: dict, requests: dict, args) -> dict:
    """Where one single-row request's time goes: measured in a fresh process with the server's TensorFlow thread
    settings, with the server's own code (and the export's index rebuilt over the same table)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    job = {
        "models": models,
        "raw_requests": {n: [r.SerializeToString() for r in rs] for n, rs in requests.items()},
        "threads": _thread_args(args.server_args),
        "catalogue": {"num_items": args.num_items, "dim": args.dim, "clusters": args.clusters, "seed": args.seed},
        "queries": min(args.queries, 200),
    }
    proc = ctx.Process(target=_breakdown_child, args=(child, job), daemon=True)
    proc.start()
    result = parent.recv()
    proc.join(60)
    if "error" in result:
        raise RuntimeError(f"the breakdown process failed: {result['error']}")
    return result


def _breakdown(models: dict, raw_requests: dict, threads: tuple, catalogue: dict, queries: int) -> dict:
    import tfseqrec  # noqa: F401
    import scann  # noqa: F401
    from tfseqrec.serving.server import set_tensorflow_threads
    from tfseqrec.serving.session_runner import SessionOptions

    set_tensorflow_threads(threads[0], max(threads[1], 0))
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tfseqrec.serving.batching import BatchingOptions
    from tfseqrec.serving.grpc_service import predict as handle
    from tfseqrec.serving.manager import ModelManager
    from tfseqrec.serving.model_config import ModelEntry
    from tfseqrec.serving.predict import Limits
    from tfseqrec.serving.tensors import to_ndarray, proto_shape

    cat = synthetic_catalogue(catalogue["num_items"], catalogue["dim"], catalogue["clusters"], catalogue["seed"])
    bench = IndexBench(np.concatenate([np.zeros((2, catalogue["dim"]), np.float32), cat.embeddings]))
    q, hist = synthetic_queries(cat, queries, catalogue["seed"] + 1)
    index = {}
    for variant in ("brute_force", "scann"):
        fn = bench.search_fn(variant)
        index[variant] = float(np.median(bench.single_query(fn, q, hist + 2, queries)[1])) * 1e6
    del bench, cat
    manager = ModelManager(
        [ModelEntry(name, str(Path(path).parent)) for name, path in models.items()],
        BatchingOptions(),
        poll_seconds=0,
        session=SessionOptions(*threads),
    )
    manager.start(wait=True)
    limits = Limits()
    result = {}
    try:
        for name, raw in raw_requests.items():
            reqs = [predict_pb2.PredictRequest.FromString(r) for r in raw]
            n = len(raw)
            response = handle(manager, limits, reqs[0])
            raw_response = response.SerializeToString()
            with manager.hold(name) as servable:
                arrays = [
                    {"history": to_ndarray(r.inputs["history"], "history", proto_shape(r.inputs["history"], "history"))}
                    for r in reqs
                ]
                fn = servable._fns["serving_default"]
                enc = servable._fns.get("encode_query")
                restored = tf.saved_model.load(models[name]).signatures["serving_default"]
                row = {
                    CLIENT_PROTO: median_us(
                        lambda i: (
                            reqs[i % n].SerializeToString(),
                            predict_pb2.PredictResponse.FromString(raw_response),
                        )
                    ),
                    "server: parse request": median_us(lambda i: predict_pb2.PredictRequest.FromString(raw[i % n])),
                    HANDLER: median_us(lambda i: handle(manager, limits, reqs[i % n])),
                    "server: signature call with numpy<->tensor (Servable.run)": median_us(
                        lambda i: servable.run("serving_default", arrays[i % n])
                    ),
                    "graph: serving_default in the version's session (RunCallable, numpy in and out)": median_us(
                        lambda i: fn(arrays[i % n])
                    ),
                    RESTORED: median_us(
                        lambda i: {
                            k: v.numpy()
                            for k, v in restored(history=tf.constant(arrays[i % n]["history"].tolist())).items()
                        }
                    ),
                    "graph: encode_query in the session (lookup + SASRec query)": median_us(
                        lambda i: enc(arrays[i % n])
                    )
                    if enc
                    else float("nan"),
                    "index alone (one query; the export's index class, same table and config)": index[
                        "scann" if name.endswith("_scann") else "brute_force"
                    ],
                    "server: serialize response": median_us(lambda i: response.SerializeToString()),
                }
            result[name] = row
    finally:
        manager.stop(10)
    return result


IN_SERVER = "server: Predict handler inside the server process (its server-timing, p50)"
RESTORED = "baseline: serving_default as a restored tf.saved_model.load function (the earlier server's call)"
ROUND_TRIP = "gRPC round trip (p50 of the single requests above)"
REST_ROW = "rest: gRPC on both sides (round trip - handler in the server - protos)"


def add_round_trip(rows: dict, single: dict) -> dict:
    """Adds the figures of the real server: its own handler time and what the round trip adds to it."""
    for name, row in rows.items():
        in_server = single[name]["server_p50_ms"] * 1e3
        round_trip = single[name]["p50_ms"] * 1e3
        row[IN_SERVER] = in_server
        row[ROUND_TRIP] = round_trip
        row[REST_ROW] = (
            round_trip
            - in_server
            - row[CLIENT_PROTO]
            - row["server: parse request"]
            - row["server: serialize response"]
        )
    return rows


def single_latency(stub, requests: list, n: int) -> tuple[dict, list]:
    """Sequential requests (after 10 warm-up ones): round-trip percentiles, the server's own time (its
    ``server-timing`` trailing metadata) and the returned ids."""
    ids, lat, server = [], [], []
    for i in range(n + 10):
        t0 = time.perf_counter()
        r, call = stub.Predict.with_call(requests[i % len(requests)], timeout=30)
        if i >= 10:
            lat.append(time.perf_counter() - t0)
            server.append(_server_ms(call))
            ids.append([x for x in r.outputs["item_ids"].string_val])
    srv = np.asarray(server)
    return {
        **percentiles(lat),
        "server_p50_ms": float(np.nanmedian(srv)),
        "server_p99_ms": float(np.nanpercentile(srv, 99)),
    }, ids


def part_e2e_and_load(args, cat: Catalogue, work: Path, parts: set) -> dict:
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, prediction_service_pb2_grpc

    base = work / "saved_models"
    exported = export_bench_model(args, cat, base)
    vocab = exported.pop("vocabulary")
    result = {"export": exported}
    server = ServerProcess(base / "models.config", Path(args.out) / "server.log", extra_args=args.server_args.split())
    pool = None
    try:
        log("e2e: server starting; starting 16 client processes meanwhile ...")
        pool = ClientPool(16)
        ready_s = server.wait_ready()
        target = f"127.0.0.1:{server.grpc_port}"
        log(f"e2e: server ready after {ready_s:.1f} s ({target}); RSS {_f(server.rss_mib(), ',.0f')} MiB")
        pool.connect(target)
        result["server"] = {"ready_seconds": ready_s, "rss_mib_after_load": server.rss_mib()}
        channel = grpc.insecure_channel(target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        histories = e2e_histories(cat, vocab, max(args.queries, 64), args.seed + 2)
        models = {f"bench_{v}": p for v, p in exported["paths"].items()}
        requests = {name: predict_requests(name, histories) for name in models}
        if "e2e" in parts:
            single, served = {}, {}
            for name in models:
                log(f"e2e: single requests to {name} x {args.queries}")
                single[name], served[name] = single_latency(stub, requests[name], args.queries)
            single["bench_scann"]["served_recall@10_vs_brute_force"] = float(
                np.mean([len(set(a) & set(b)) / K for a, b in zip(served["bench_scann"], served["bench_brute_force"])])
            )
            status = get_model_status_pb2.GetModelStatusRequest()
            status.model_spec.name = "bench_scann"
            mstub = model_service_pb2_grpc.ModelServiceStub(channel)
            single["GetModelStatus (gRPC floor)"] = percentiles(timed(lambda i: mstub.GetModelStatus(status), 300))
            result["single"] = single
            raw = {name: [r.SerializeToString() for r in reqs] for name, reqs in requests.items()}
            conc = []
            for name in models:
                for clients in (1, 4, 16):
                    r = pool.run(clients, raw[name], args.throughput_seconds, server_pid=server.proc.pid)
                    conc.append(
                        {"model": name, **{k: v for k, v in r.items() if not k.startswith("_") and k != "extra"}}
                    )
                    log(
                        f"e2e: {name} x {clients} clients: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
                        f"p99 {r['p99_ms']:.2f} ms, failed {r['failed']}"
                    )
            result["concurrency"] = conc
            log("e2e: where the time goes (in-process) ...")
            result["breakdown"] = add_round_trip(
                breakdown(models, {n: r[:64] for n, r in requests.items()}, args), single
            )
        if "load" in parts:
            result["load"] = load_test(args, pool, stub, channel, base, requests["bench_scann"], server)
        channel.close()
    finally:
        if pool is not None:
            pool.close()
        result["server_exit_code"] = server.stop()
    return result


def write_corrupt_version(model_dir: Path, version: int) -> Path:
    tmp = model_dir / f".tmp-{version}"
    (tmp / "variables").mkdir(parents=True)
    (tmp / "saved_model.pb").write_bytes(b"not a SavedModel \xff\xfe\x00" * 64)
    os.rename(tmp, model_dir / str(version))
    return model_dir / str(version)


def load_test(args, pool: ClientPool, stub, channel, base: Path, requests: list, server: ServerProcess) -> dict:
    """16 clients against bench_scann while version 2 (a copy of 1) is published and a corrupt 3 dropped in."""
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    model_dir = base / "bench_scann"
    seconds = args.load_seconds
    events = {}

    def during(start_at):
        time.sleep(max(0.0, start_at - time.time()) + 0.2 * seconds)
        t0 = time.time()
        tmp = model_dir / ".tmp-2"
        shutil.copytree(model_dir / "1", tmp)
        os.rename(tmp, model_dir / "2")
        events["v2_published_at"] = time.time() - start_at
        events["v2_copy_seconds"] = time.time() - t0
        time.sleep(max(0.0, start_at + 0.5 * seconds - time.time()))
        write_corrupt_version(model_dir, 3)
        events["v3_corrupt_published_at"] = time.time() - start_at
        return events

    log(
        f"load: 16 clients x {seconds:.0f} s against bench_scann; publishing v2 at {0.2 * seconds:.0f} s, a corrupt "
        f"v3 at {0.5 * seconds:.0f} s"
    )
    raw = [r.SerializeToString() for r in requests]
    r = pool.run(16, raw, seconds, during=during)
    versions, ends, lat = r.pop("_versions"), r.pop("_ends"), r.pop("_latency")
    r.pop("extra")
    served = {int(v): int((versions == v).sum()) for v in np.unique(versions) if v >= 0}
    first_v2 = float(ends[versions == 2].min()) if (versions == 2).any() else None
    last_v1 = float(ends[versions == 1].max()) if (versions == 1).any() else None
    # Latency in the seconds around the swap (v2 being loaded and warmed up next to live traffic).
    swap = None
    if first_v2 is not None:
        window = (ends >= events["v2_published_at"]) & (ends <= first_v2 + 1.0) & (versions >= 0)
        swap = percentiles(lat[window])
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "bench_scann"
    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    from tensorflow.core.protobuf import error_codes_pb2

    state = get_model_status_pb2.ModelVersionStatus.State.Name
    status_rows = [
        {
            "version": s.version,
            "state": state(s.state),
            "error_code": error_codes_pb2.Code.Name(s.status.error_code),
            "error_message": s.status.error_message,
        }
        for s in status.model_version_status
    ]
    final = stub.Predict(requests[0], timeout=30).model_spec.version.value
    checks = {
        "no_failed_valid_requests": r["failed"] == 0,
        "corrupt_v3_never_served": 3 not in served,
        "v3_reported_with_error": any(
            s["version"] == 3 and s["state"] == "END" and s["error_code"] != "OK" and s["error_message"]
            for s in status_rows
        ),
        "v2_live_at_the_end": final == 2 and any(s["version"] == 2 and s["state"] == "AVAILABLE" for s in status_rows),
    }
    return {
        **r,
        "events": events,
        "served_by_version": served,
        "v2_first_served_at": first_v2,
        "v1_last_served_at": last_v1,
        "swap_window": swap,
        "status": status_rows,
        "final_version": final,
        "checks": checks,
        "server_rss_mib_at_end": server.rss_mib(),
    }


# -- report ------------------------------------------------------------------------------------------------------
def _f(x, spec=".2f"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def index_tables(res: dict, title: str) -> list[str]:
    cfg = res["scann_config"]
    lines = [
        f"### {title}",
        "",
        f"{res['items']:,} items x {res['dim']}, {res['queries']} queries, k = {res['k']}, "
        f"{res['history']} history items excluded per query. ScaNN as exported: {cfg['num_leaves']} leaves, "
        f"{cfg['num_leaves_to_search']} searched, {cfg['num_reordering_candidates']} candidates rescored "
        f"exactly, {cfg['dimensions_per_block']} dims per block; index built in "
        f"{res['scann_build_seconds']:.1f} s.",
        "",
        "| index | recall@10 | p50 ms | p99 ms | speed-up vs TF brute force (p50) | batch-64 queries/s |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "brute_force_tf": "brute force, TF (exported: matmul + mask + top_k)",
        "brute_force_numpy": "brute force, NumPy (reference)",
        "scann_export_default": "ScaNN, exported default",
    }
    for key, label in names.items():
        row = res["rows"][key]
        lines.append(
            f"| {label} | {row['recall@10']:.4f} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | "
            f"{row['speedup_vs_brute_p50']:.1f}x | {row.get('batch_qps', float('nan')):,.0f} |"
        )
    lines += [
        "",
        "| leaves searched | reordering candidates | recall@10 | p50 ms | p99 ms | speed-up (p50) |",
        "|---|---|---|---|---|---|",
    ]
    for p in res["curve"]:
        mark = " (default)" if p.get("export_default") else ""
        lines.append(
            f"| {p['leaves_to_search']}{mark} | {p['reordering_candidates']} | {p['recall@10']:.4f} | "
            f"{p['p50_ms']:.3f} | {p['p99_ms']:.3f} | {p['speedup_vs_brute_p50']:.1f}x |"
        )
    best = res.get("fastest_at_target_recall")
    lines.append("")
    lines.append(
        "Every point calls the export's own search with its settings (ScaNN takes the leaves to search per call)."
    )
    builds = res.get("builds", [])
    if len(builds) > 1:
        r = [b["recall@10"] for b in builds]
        lines.append(
            f"The exported default over {len(builds)} builds of the index (ScaNN's training is randomised): "
            f"recall@10 "
            + ", ".join(f"{x:.4f}" for x in r)
            + "; p50 "
            + ", ".join(f"{b['p50_ms']:.3f}" for b in builds)
            + " ms."
        )
    if best:
        lines.append(
            f"Fastest point with recall@10 >= {TARGET_RECALL}: {best['leaves_to_search']} leaves, "
            f"{best['reordering_candidates']} candidates: recall {best['recall@10']:.4f}, "
            f"{best['speedup_vs_brute_p50']:.1f}x faster than brute force (p50)."
        )
    else:
        lines.append(f"No point of the curve reaches recall@10 >= {TARGET_RECALL}.")
    lines.append("")
    return lines


def report(results: dict) -> str:
    lines = _report_header(results)
    if "index" in results:
        lines += index_tables(
            results["index"], f"(a) Index: synthetic clustered catalogue ({results['index']['clusters']:,} clusters)"
        )
    if "ml1m" in results:
        if "skipped" in results["ml1m"]:
            lines += ["### (a) Index: trained ML-1M SASRec", "", f"Skipped: {results['ml1m']['skipped']}.", ""]
        else:
            r = results["ml1m"]
            lines += index_tables(
                r,
                f"(a) Index: trained ML-1M SASRec ({r['run_status']} run, best epoch "
                f"{r['best_epoch']}; queries = the model's query of test users)",
            )
    e2e = results.get("e2e")
    if e2e:
        lines += _e2e_lines(e2e)
        if "load" in e2e:
            lines += _load_lines(e2e["load"])
    lines += ["### Targets", ""] + [f"- {t}" for t in results["targets"]] + [""]
    return "\n".join(lines)


def _report_header(results: dict) -> list[str]:
    """The title, the command and the machine, and a warning when other heavy processes ran."""
    m = results["machine"]
    lines = [
        "# Serving benchmark",
        "",
        f"`python benchmarks/serving.py {' '.join(results['argv'])}` on {m['date_utc']}: {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, TensorFlow {m['tensorflow']}, ScaNN {m['scann']}, "
        f"grpcio {m['grpcio']}, Python {m['python']}; load average at start {m['load_average_at_start']}"
        + f", at the end {m.get('load_average_at_end')}"
        + ("; **a training was running (figures are not clean)**" if m["training_running"] else "")
        + ".",
        "",
    ]
    if results.get("other_processes_seen"):
        lines += [
            "**Other heavy processes ran during this benchmark (its latency figures are distorted):** "
            + "; ".join(f"`{p}`" for p in results["other_processes_seen"]),
            "",
        ]
    return lines


def _e2e_lines(e2e: dict) -> list[str]:
    """(b) End to end over gRPC: the exports, single requests, concurrent clients and the time breakdown."""
    ex = e2e["export"]
    lines = [
        "### (b) End to end over gRPC (loopback, server in its own process)",
        "",
        "Export: "
        + ", ".join(
            f"{v} "
            + (f"{ex['export_seconds'][v]:.1f} s / " if v in ex["export_seconds"] else "(reused) ")
            + f"{ex['export_mib'][v]:,.0f} MiB"
            for v in ex["export_mib"]
        )
        + f"; server ready {e2e['server']['ready_seconds']:.1f} s after start, RSS "
        f"{_f(e2e['server']['rss_mib_after_load'], ',.0f')} MiB.",
        "",
    ]
    idx = ex.get("scann_index")
    if idx:
        cal = idx["calibration"]
        chosen = cal.get("chosen")
        lines += [
            f"ScaNN export: {idx['num_leaves']} leaves, {idx['num_leaves_to_search']} searched, "
            f"{idx['num_reordering_candidates']} reordering candidates"
            + (
                f", chosen from its recall curve ({idx['calibration_points']} points on {cal['queries']}): the "
                f"fastest with recall@10 >= {cal['target_recall@10']} (calibration recall "
                f"{chosen['recall']:.4f}, {1e3 * chosen['seconds'] / cal['num_queries']:.3f} ms per query batched)."
                if chosen
                else " (the rule-based defaults)."
            ),
            "",
        ]
    if "single" not in e2e:
        return lines
    lines += [
        "Single requests, one at a time (1 row, 20-item history, k = 10, `serving_default`; server ms = "
        "the server's own time for the request, from its `server-timing` trailing metadata):",
        "",
        "| model | requests | p50 ms | p99 ms | p99 <= 5 ms | server p50 / p99 ms | served recall@10 vs brute force |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in e2e["single"].items():
        target = "" if name.startswith("GetModelStatus") else ("yes" if row["p99_ms"] <= TARGET_P99_MS else "**no**")
        server = f"{row['server_p50_ms']:.2f} / {row['server_p99_ms']:.2f}" if "server_p50_ms" in row else ""
        lines.append(
            f"| {name} | {row['n']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {target} | "
            f"{server} | {_f(row.get('served_recall@10_vs_brute_force'), '.4f')} |"
        )
    lines += [
        "",
        "Concurrent clients (separate client processes, each with the real `PredictionServiceStub`"
        " and its own channel; clients and server share the machine's cores):",
        "",
        "| model | clients | requests/s | p50 ms | p99 ms | server p50 ms (batching wait included) | failed "
        "| machine busy (cores) | server CPU ms / request | clients' CPU ms / request |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in e2e["concurrency"]:
        lines.append(
            f"| {row['model']} | {row['clients']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {_f(row.get('server_p50_ms'))} | {row['failed']} | "
            f"{_f(row.get('machine_busy_cores'))} | {_f(row.get('server_cpu_ms_per_request'), '.3f')} | "
            f"{_f(row.get('clients_cpu_ms_per_request'), '.3f')} |"
        )
    lines += [
        "",
        "CPU columns: /proc over the run; the clients' share is the machine's busy time less the server's (the "
        "load generator's Python gRPC stubs, 16 processes). On a machine shared with its load generator, requests/s "
        "is bounded by cores / (server + clients' CPU per request).",
    ]
    lines += [
        "",
        "Where the time of one request goes, in median microseconds. The first rows are measured "
        "in a separate process with the server's code and TensorFlow thread settings, calling each step "
        "in a tight loop on the same 1-row requests; the last three come from the real server above "
        "(its `server-timing`, and the round trip); the handler can take longer inside the serving "
        "process than in a tight loop:",
        "",
    ]
    names = list(e2e["breakdown"])
    lines += ["| step | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for step in e2e["breakdown"][names[0]]:
        lines.append(
            f"| {step} | " + " | ".join(f"{e2e['breakdown'][n].get(step, float('nan')):,.0f}" for n in names) + " |"
        )
    lines.append("")
    return lines


def _load_lines(ld: dict) -> list[str]:
    """(c) Load and faults: traffic, the version swaps and the final model status."""
    ev = ld["events"]
    lines = [
        f"### (c) Load and faults: 16 client processes x {ld['seconds']:.0f} s against bench_scann",
        "",
        f"{ld['requests']:,} requests answered ({ld['rps']:,.0f}/s, p50 {ld['p50_ms']:.2f} ms, p99 "
        f"{ld['p99_ms']:.2f} ms), **{ld['failed']} failed**. Version 2 (a copy of version 1 written to "
        f"`.tmp-2`, then renamed) published at {ev.get('v2_published_at', float('nan')):.1f} s "
        f"(copy {ev.get('v2_copy_seconds', float('nan')):.1f} s), first served at "
        f"{_f(ld['v2_first_served_at'], '.1f')} s, version 1 last served at "
        f"{_f(ld['v1_last_served_at'], '.1f')} s; a corrupt version 3 dropped in at "
        f"{ev.get('v3_corrupt_published_at', float('nan')):.1f} s. Responses by version: "
        f"{ld['served_by_version']}; latency while version 2 loaded next to the traffic: "
        + (
            f"p50 {ld['swap_window']['p50_ms']:.2f} ms, p99 {ld['swap_window']['p99_ms']:.2f} ms"
            if ld["swap_window"]
            else "n/a"
        )
        + f". Version served at the end: {ld['final_version']}.",
        "",
        "GetModelStatus at the end:",
        "",
        "| version | state | error code | error message |",
        "|---|---|---|---|",
    ]
    for s in ld["status"]:
        msg = s["error_message"].replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {s['version']} | {s['state']} | {s['error_code']} | {msg[:160] + ('...' if len(msg) > 160 else '')} |"
        )
    lines += ["", "Checks: " + ", ".join(f"{k} {'OK' if v else '**FAILED**'}" for k, v in ld["checks"].items()), ""]
    return lines


def targets(results: dict) -> list[str]:
    out = []
    idx = results.get("index")
    if idx:
        d = idx["rows"]["scann_export_default"]
        out.append(
            f"index, exported ScaNN default: recall@10 {d['recall@10']:.4f} (target >= {TARGET_RECALL}: "
            f"{'met' if d['recall@10'] >= TARGET_RECALL else 'MISSED'}), {d['speedup_vs_brute_p50']:.1f}x "
            f"faster than brute force for single queries (target >= {TARGET_SPEEDUP:.0f}x: "
            f"{'met' if d['speedup_vs_brute_p50'] >= TARGET_SPEEDUP else 'MISSED'})"
        )
    e2e = results.get("e2e", {})
    for name, row in e2e.get("single", {}).items():
        if not name.startswith("GetModelStatus"):
            out.append(
                f"{name}: single-request p99 {row['p99_ms']:.2f} ms (target <= {TARGET_P99_MS:.0f} ms: "
                f"{'met' if row['p99_ms'] <= TARGET_P99_MS else 'MISSED'}; faster-serving target <= "
                f"{FAST_P99_MS:.0f} ms: {'met' if row['p99_ms'] <= FAST_P99_MS else 'MISSED'})"
            )
    for row in e2e.get("concurrency", []):
        if row["clients"] == 16:
            fast = row["rps"] >= FAST_RPS and row["p99_ms"] <= FAST_RPS_P99_MS
            out.append(
                f"{row['model']}: {row['rps']:,.0f} requests/s with 16 clients at p99 {row['p99_ms']:.1f} ms "
                f"(target >= {TARGET_RPS:,.0f}: {'met' if row['rps'] >= TARGET_RPS else 'MISSED'}; faster-serving "
                f"target >= {FAST_RPS:,.0f} at p99 <= {FAST_RPS_P99_MS:.0f} ms: {'met' if fast else 'MISSED'})"
            )
    if "load" in e2e:
        out.append(
            "load and faults: " + ", ".join(f"{k} {'OK' if v else 'FAILED'}" for k, v in e2e["load"]["checks"].items())
        )
    return out


def main(argv=None) -> int:
    args = _parse_args(argv)
    parts = set(args.only or ("index", "ml1m", "e2e", "load"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
    import scann  # noqa: F401  (the ScaNN ops, before any ScaNN SavedModel is loaded)

    results = {
        "argv": sys.argv[1:] if argv is None else list(argv),
        "machine": machine_info(),
        "args": {k: v for k, v in vars(args).items()},
    }
    if results["machine"]["training_running"]:
        log("warning: a `tfseqrec.cli train` process is running: latency figures will be distorted")
    log(f"catalogue: {args.num_items:,} x {args.dim}, {args.clusters:,} clusters")
    cat = synthetic_catalogue(args.num_items, args.dim, args.clusters, args.seed)
    seen = set(other_heavy_processes())
    watching = threading.Event()

    def watch():  # every 5 s: did someone start a training or a test run meanwhile?
        while not watching.wait(5.0):
            seen.update(other_heavy_processes())

    threading.Thread(target=watch, daemon=True).start()
    _run_parts(args, parts, cat, out, results)
    watching.set()
    seen.update(other_heavy_processes())
    results["other_processes_seen"] = sorted(seen)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)
    # Paths inside the repository are written relative to it (reports are committed).
    text = report(results).replace(f"{REPO}{os.sep}", "")
    (out / "report.md").write_text(text)
    raw = json.dumps(results, indent=2, default=str) + "\n"
    (out / "results.json").write_text(raw.replace(f"{REPO}{os.sep}", ""))
    server_log = out / "server.log"
    if server_log.exists():
        server_log.write_text(server_log.read_text().replace(f"{REPO}{os.sep}", ""))
    print(text)
    log(f"wrote {out / 'report.md'} and {out / 'results.json'}")
    failed = _failed_checks(results)
    if failed:
        print(f"CHECKS FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _parse_args(argv=None) -> argparse.Namespace:
    """The command line, with the defaults that depend on ``--quick`` filled in."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--num-items", type=int, default=None, help="catalogue size (default 1,000,000; 20,000 with --quick)"
    )
    parser.add_argument("--dim", type=int, default=64, help="embedding dimension")
    parser.add_argument("--clusters", type=int, default=None, help="Gaussian cluster centres (default: items/500)")
    parser.add_argument(
        "--queries", type=int, default=None, help="queries for recall and latency (default 500; 100 with --quick)"
    )
    parser.add_argument(
        "--throughput-seconds",
        type=float,
        default=None,
        help="seconds per concurrency level (default 15; 3 with --quick)",
    )
    parser.add_argument(
        "--load-seconds", type=float, default=None, help="load test length (default 60; 12 with --quick)"
    )
    parser.add_argument(
        "--ml1m-run",
        default=None,
        help=f"trained ML-1M SASRec run (default {DEFAULT_ML1M_RUN}, skipped when missing or with --quick)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=("index", "ml1m", "e2e", "load"), default=None, help="parts to run (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run (about 75 s)")
    parser.add_argument(
        "--builds",
        type=int,
        default=None,
        help="ScaNN index builds measured at the exported "
        "default (its training is randomised; default 3, 1 with --quick)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out",
        default=str(REPO / "benchmarks" / "out" / "serving"),
        help="where report.md, results.json and server.log go",
    )
    parser.add_argument(
        "--work",
        default=None,
        help="keep the exports in WORK/saved_models and reuse them when the "
        "catalogue is the same (default: a temporary folder in OUT, deleted at the end)",
    )
    parser.add_argument("--server-args", default="", help='extra `tfseqrec serve` options, e.g. "--intra-op-threads 2"')
    parser.add_argument(
        "--target-recall",
        type=float,
        default=0.98,
        help="the e2e ScaNN export chooses its search settings for this recall@10 from its recall curve on 500 "
        "queries of their own (ScannConfig.target_recall); 0: the rule-based defaults",
    )
    args = parser.parse_args(argv)
    args.num_items = args.num_items or (20_000 if args.quick else 1_000_000)
    args.clusters = args.clusters or max(10, args.num_items // 500)
    args.queries = args.queries or (100 if args.quick else 500)
    args.builds = args.builds or (1 if args.quick else 3)
    args.throughput_seconds = args.throughput_seconds or (3.0 if args.quick else 15.0)
    args.load_seconds = args.load_seconds or (12.0 if args.quick else 60.0)
    return args


def _run_parts(args, parts: set, cat, out: Path, results: dict) -> None:
    """Runs the chosen parts (index, ml1m, e2e and load) and stores each one's results in ``results``."""
    if "index" in parts:
        results["index"] = part_index(args, cat)
    if "ml1m" in parts:
        results["ml1m"] = part_ml1m(args)
        if "skipped" in results["ml1m"]:
            log(f"ml1m: skipped: {results['ml1m']['skipped']}")
    if parts & {"e2e", "load"}:
        import gc

        gc.collect()
        work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="work-", dir=str(out)))
        try:
            results["e2e"] = part_e2e_and_load(args, cat, work, parts)
        finally:
            if not args.work:
                shutil.rmtree(work, ignore_errors=True)


def _failed_checks(results: dict) -> list[str]:
    """The load test's failed checks, and "no recall measured" when the index curve is empty."""
    failed = []
    load = results.get("e2e", {}).get("load")
    if load:
        failed += [k for k, v in load["checks"].items() if not v]
    if "index" in results and not results["index"]["curve"]:
        failed.append("no recall measured")
    return failed


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
