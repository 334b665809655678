"""What a running server tells about itself: Prometheus metrics, and a sampled log of the requests it served.

Metrics are served on the REST port at TF Serving's path, ``/monitoring/prometheus/metrics`` (text format
0.0.4). Names follow TF Serving's where it has one; ``prometheus_client`` adds ``_total`` to counters:

* ``:tensorflow:serving:request_count{model_name, version, signature, entrypoint, code}``: Predict requests
  answered, by TF status code name (``OK``, ``INVALID_ARGUMENT``, ``NOT_FOUND``, ...);
* ``:tensorflow:serving:request_latency{model_name, signature, entrypoint}``: histogram of the time the server
  spent on a Predict, in microseconds as TF Serving's (checks, batching and the model call);
* ``:tensorflow:serving:batching_session:processed_batch_size{model_name, signature}``: histogram of the rows
  of each merged model call, and ``:tfseqrec:serving:requests_per_batch`` of the requests it merged;
* ``:tfseqrec:serving:model_load_count{model_name, version, code}`` and ``...:model_unload_count``: load
  attempts (``OK`` or the failure's code) and unloads; ``:tfseqrec:serving:available_versions{model_name}``;
* with user state (``user_state.py``): ``:tfseqrec:serving:user_state_users``, ``..._bytes`` and
  ``..._events_total{model_name, event}`` (cache hits, new users, rebuilds, evictions, resets).

Label values stay bounded: a model name that is not configured is recorded as ``<unknown>``, a signature the
version lacks as ``<unknown>``, so bad requests cannot create unbounded series.

``RequestLog`` writes the rows of a sample of successful requests as JSON lines (``history`` without padding,
``event_types`` when sent, ``k``, ``model``, ``version``, ``signature``, ``time``), bounded by size: past
``max_bytes`` the file moves to ``<path>.1`` (replacing the previous one) and a new one starts, so the log never
holds more than twice ``max_bytes``. ``tfseqrec monitor`` reads it to measure drift from the training data.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import threading
import time
from typing import Callable, Optional

import numpy as np

from tfseqrec.export import contract

log = logging.getLogger(__name__)
METRICS_PATH = "/monitoring/prometheus/metrics"
UNKNOWN = "<unknown>"
# microseconds, from 100 us to 10 s (TF Serving's request_latency is in microseconds too)
LATENCY_BUCKETS_US = (100, 250, 500, 1e3, 2e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 1e6, 1e7)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclasses.dataclass
class RequestLabels:
    """What a Predict request resolved to, filled in as the request goes (``version`` once a version holds
    it, ``signature`` once its signature is resolved)."""

    entrypoint: str
    model: str = ""
    version: str = ""
    signature: str = ""


class ServingMetrics:
    """The server's Prometheus registry and its metrics (module doc); one per ``Server``."""

    def __init__(self, model_names: list[str]):
        import prometheus_client as prom

        prom.disable_created_metrics()  # no ``*_created`` series next to each counter and histogram
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        self.model_names = set(model_names)
        self.requests = prom.Counter(
            ":tensorflow:serving:request_count",
            "Predict requests answered, by model, version, signature, entrypoint and status code",
            ["model_name", "version", "signature", "entrypoint", "code"],
            registry=self.registry,
        )
        self.latency = prom.Histogram(
            ":tensorflow:serving:request_latency",
            "Time the server spent on a Predict request, in microseconds",
            ["model_name", "signature", "entrypoint"],
            buckets=LATENCY_BUCKETS_US,
            registry=self.registry,
        )
        self.batch_rows = prom.Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Rows of each merged model call",
            ["model_name", "signature"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = prom.Histogram(
            ":tfseqrec:serving:requests_per_batch",
            "Requests merged into each model call",
            ["model_name", "signature"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.loads = prom.Counter(
            ":tfseqrec:serving:model_load_count",
            "Model version load attempts, by outcome (OK or the error code)",
            ["model_name", "version", "code"],
            registry=self.registry,
        )
        self.unloads = prom.Counter(
            ":tfseqrec:serving:model_unload_count",
            "Model versions unloaded",
            ["model_name", "version"],
            registry=self.registry,
        )
        self.available = prom.Gauge(
            ":tfseqrec:serving:available_versions",
            "Versions of the model being served",
            ["model_name"],
            registry=self.registry,
        )

    def watch_user_states(self, model: str, cache) -> None:
        """Exports a ``user_state.UserStateCache``'s users, bytes and event counts at every scrape."""
        self.registry.register(_UserStateCollector(self.model_label(model), cache))

    def model_label(self, name: str) -> str:
        return name if name in self.model_names else UNKNOWN

    def request_done(self, labels: RequestLabels, code: str, seconds: float) -> None:
        model = self.model_label(labels.model)
        signature = labels.signature or UNKNOWN
        self.requests.labels(model, labels.version, signature, labels.entrypoint, code).inc()
        self.latency.labels(model, signature, labels.entrypoint).observe(seconds * 1e6)

    def batch_observer(self, model: str) -> Callable[[str, int, int], None]:
        """``observe(signature, requests, rows)`` for one model's batchers."""
        model = self.model_label(model)

        def observe(signature: str, requests: int, rows: int) -> None:
            self.batch_rows.labels(model, signature).observe(rows)
            self.batch_requests.labels(model, signature).observe(requests)

        return observe

    def loaded(self, model: str, version: int, code: str) -> None:
        self.loads.labels(self.model_label(model), str(version), code).inc()

    def unloaded(self, model: str, version: int) -> None:
        self.unloads.labels(self.model_label(model), str(version)).inc()

    def set_available(self, model: str, versions: int) -> None:
        self.available.labels(self.model_label(model)).set(versions)

    def exposition(self) -> tuple[bytes, str]:
        """The text to answer a scrape with, and its content type."""
        from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

        return self._prom.generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


class _UserStateCollector:
    """``:tfseqrec:serving:user_state_users`` / ``..._bytes`` (gauges) and ``..._events_total{event}`` (hits,
    new_users, rebuilt_version, rebuilt_length, evicted_capacity, evicted_ttl, reset) of one model's cache."""

    def __init__(self, model: str, cache):
        self.model, self.cache = model, cache

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        users = GaugeMetricFamily(":tfseqrec:serving:user_state_users", "Users with a state", labels=["model_name"])
        users.add_metric([self.model], len(self.cache))
        size = GaugeMetricFamily(":tfseqrec:serving:user_state_bytes", "Bytes of user state", labels=["model_name"])
        size.add_metric([self.model], self.cache.bytes)
        events = CounterMetricFamily(
            ":tfseqrec:serving:user_state_events", "User state lookups and evictions", labels=["model_name", "event"]
        )
        for event, count in sorted(dict(self.cache.counts).items()):
            events.add_metric([self.model, event], count)
        return [users, size, events]


class Monitor:
    """What the front ends report to: metrics and the request log, each optional."""

    def __init__(self, metrics: Optional[ServingMetrics] = None, request_log: Optional["RequestLog"] = None):
        self.metrics, self.request_log = metrics, request_log

    def request_done(self, labels: RequestLabels, code: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.request_done(labels, code, seconds)

    def served(self, labels: RequestLabels, arrays: dict) -> None:
        """Logs a served request; a failure to log is reported and never fails the request."""
        if self.request_log is None:
            return
        try:
            self.request_log.log(labels, arrays)
        except Exception:  # noqa: BLE001  (a full disk must not turn answers into errors)
            log.exception("cannot write the request log %s", self.request_log.path)


class RequestLog:
    """A sampled, size-bounded JSON-lines log of served rows (module doc).

    ``sample_rate``: the share of requests logged (each request all or nothing); ``max_bytes``: size of the
    current file before it moves to ``<path>.1``.
    """

    def __init__(self, path: str, sample_rate: float = 0.01, max_bytes: int = 64 << 20, seed: Optional[int] = None):
        if not 0 < sample_rate <= 1:
            raise ValueError(f"request log sample_rate={sample_rate} must be in (0, 1]")
        if max_bytes < 1024:
            raise ValueError(f"request log max_bytes={max_bytes} must be >= 1024")
        self.path, self.sample_rate, self.max_bytes = path, sample_rate, max_bytes
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")
        self._bytes = self._file.tell()
        self.rows_written = 0

    def log(self, labels: RequestLabels, arrays: dict) -> None:
        """Writes the rows of one successful request (``arrays``: its validated inputs), if sampled."""
        with self._lock:
            if self._file is None or self._random.random() >= self.sample_rate:
                return
        lines = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in _rows(labels, arrays))
        data = lines.encode("utf-8")
        with self._lock:
            if self._file is None:
                return
            if self._bytes and self._bytes + len(data) > self.max_bytes:
                self._file.close()
                os.replace(self.path, self.path + ".1")
                self._file, self._bytes = open(self.path, "a", encoding="utf-8"), 0
            self._file.write(lines)
            self._file.flush()
            self._bytes += len(data)
            self.rows_written += lines.count("\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _rows(labels: RequestLabels, arrays: dict) -> list[dict]:
    history = arrays.get(contract.HISTORY)
    if history is None:
        history = arrays.get(contract.SUPPORT)
    if history is None:
        return []
    history = np.asarray(history)
    history = history.reshape(-1, 1) if history.ndim == 1 else history
    events = arrays.get("event_types")
    ks = arrays.get(contract.K)
    now = round(time.time(), 3)
    rows = []
    for i, row in enumerate(history):
        kept = [j for j, item in enumerate(row) if item != contract.PADDING_TOKEN.encode() and item != b""]
        record = {
            "time": now,
            "model": labels.model,
            "version": labels.version,
            "signature": labels.signature,
            "history": [row[j].decode("utf-8", "replace") for j in kept],
        }
        if events is not None:
            record["event_types"] = [int(v) for v in np.asarray(events).reshape(history.shape)[i][kept]]
        if ks is not None:
            flat = np.asarray(ks).reshape(-1)
            record["k"] = int(flat[i] if flat.size > i else flat[0])
        rows.append(record)
    return rows


def read_request_log(path: str) -> tuple[list[dict], int]:
    """``(rows, skipped)``: the rows of a request log, ``<path>.1`` (older) then ``path``, and the number of
    lines that were not rows (a line cut by a crash, ...): counted, not fatal."""
    rows, skipped = [], 0
    for name in (path + ".1", path):
        if not os.path.exists(name):
            continue
        with open(name, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    skipped += 1
                    continue
                if isinstance(row, dict) and isinstance(row.get("history"), list):
                    rows.append(row)
                else:
                    skipped += 1
    return rows, skipped
