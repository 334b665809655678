"""Merges concurrent requests to one signature into one call (TF Serving's ``--enable_batching``, simplified).

There is no dedicated worker thread: the request thread that finds the batcher idle becomes the *leader*,
runs a batch that starts with its own request and takes whatever is queued (up to ``max_batch_size`` rows),
hands every follower its slice, and then promotes the oldest queued request to lead the next batch. So:

* an idle batcher runs a single request at once, in the caller's thread (no thread hop, no waiting window);
* under load, requests queue while a batch runs and the next batch takes them all (adaptive batching);
* when others were already queued but the batch is not full, the leader waits until ``batch_timeout_micros``
  after its own request arrived for more to come (TF Serving's batching window, bounded by the oldest request).

Inputs are dicts of numpy arrays with the batch on axis 0. Rank-2 string inputs (``history`` ``[B, H]``) of
different widths are padded on the left with ``""`` (the contract's padding token) to a common width.
Outputs are split back by rows; when a request carries ``k`` (the ``recommend`` signature) its rank-2 outputs
are cut to ``max(k)`` columns of its own, since the merged batch returns ``max(k)`` over all requests.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Callable, Optional

import numpy as np

from tfseqrec.export import contract
from tfseqrec.serving.errors import unavailable
from tfseqrec.serving.tensors import STRING

Arrays = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """``max_batch_size``: most rows merged into one call; ``batch_timeout_micros``: how long a leader that
    saw a queue waits (from its own arrival) to fill the batch; ``num_batch_threads``: batches of one
    signature that may run at once."""

    max_batch_size: int = 64
    batch_timeout_micros: int = 500
    num_batch_threads: int = 1

    def __post_init__(self):
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        if self.num_batch_threads < 1:
            raise ValueError(f"num_batch_threads must be >= 1, got {self.num_batch_threads}")


class _Task:
    __slots__ = ("inputs", "rows", "arrived", "done", "outputs", "error", "lead")

    def __init__(self, inputs: Arrays, rows: int):
        self.inputs, self.rows, self.arrived = inputs, rows, time.monotonic()
        self.done = threading.Event()
        self.outputs: Optional[Arrays] = None
        self.error: Optional[BaseException] = None
        self.lead = False


def merge_inputs(tasks: list[_Task]) -> Arrays:
    """Concatenates the tasks' inputs on axis 0. Rank-2 history inputs (``history`` strings and the history
    features such as ``timestamps``) are left-padded to a common width, with ``""`` and 0, so every row stays
    aligned with its own history."""
    merged = {}
    for name in tasks[0].inputs:
        parts = [t.inputs[name] for t in tasks]
        is_history = parts[0].ndim == 2 and (parts[0].dtype == STRING or name in contract.HISTORY_FEATURES)
        if not is_history:
            merged[name] = np.concatenate(parts, axis=0)
            continue
        width = max(p.shape[1] for p in parts)
        pad = contract.PADDING_TOKEN.encode() if parts[0].dtype == STRING else 0
        out = np.full((sum(p.shape[0] for p in parts), width), pad, parts[0].dtype)
        row = 0
        for p in parts:
            out[row : row + p.shape[0], width - p.shape[1] :] = p
            row += p.shape[0]
        merged[name] = out
    return merged


def split_outputs(outputs: Arrays, tasks: list[_Task]) -> list[Arrays]:
    """Row slices of ``outputs`` per task; rank-2 outputs cut to a task's own ``max(k)`` columns."""
    results, row = [], 0
    for t in tasks:
        end = row + t.rows
        k = t.inputs.get(contract.K)
        cols = int(k.max()) if k is not None and k.size else None
        part = {}
        for name, value in outputs.items():
            piece = value[row:end]
            if cols is not None and piece.ndim == 2 and piece.shape[1] > cols:
                piece = piece[:, :cols]
            part[name] = piece
        results.append(part)
        row = end
    return results


class Batcher:
    """Batches calls of ``run(inputs) -> outputs`` for one (model version, signature)."""

    def __init__(
        self,
        name: str,
        run: Callable[[Arrays], Arrays],
        options: BatchingOptions = BatchingOptions(),
        on_batch: Optional[Callable[[int, int], None]] = None,
    ):
        """``on_batch(requests, rows)`` is told of each model call (metrics)."""
        self.name = name
        self._run = run
        self._on_batch = on_batch
        self._options = options
        self._timeout = options.batch_timeout_micros / 1e6
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[_Task] = collections.deque()
        self._leaders = 0
        self._closed = False
        # Counters for tests and logs: batches run, requests and rows they held.
        self.batches = self.requests = self.rows = 0

    def submit(self, inputs: Arrays, rows: int) -> Arrays:
        """Runs ``inputs`` (``rows`` rows) in some batch and returns this request's outputs."""
        task = _Task(inputs, rows)
        with self._cond:
            if self._closed:
                raise unavailable(f"{self.name} is shutting down; retry the request")
            if self._leaders < self._options.num_batch_threads:
                self._leaders += 1
                task.lead = True
            else:
                self._queue.append(task)
                self._cond.notify()  # a leader may be waiting to fill its batch
        if not task.lead:
            task.done.wait()
            if not task.lead:  # finished by another leader
                if task.error is not None:
                    raise task.error
                return task.outputs
        self._lead(task)
        if task.error is not None:
            raise task.error
        return task.outputs

    def _take_batch(self, first: _Task) -> list[_Task]:
        batch, rows, limit = [first], first.rows, self._options.max_batch_size
        with self._cond:
            if self._queue and rows < limit:
                deadline = first.arrived + self._timeout
                while True:
                    while self._queue and rows + self._queue[0].rows <= limit:
                        task = self._queue.popleft()
                        batch.append(task)
                        rows += task.rows
                    remaining = deadline - time.monotonic()
                    if rows >= limit or remaining <= 0 or (self._queue and rows + self._queue[0].rows > limit):
                        break
                    self._cond.wait(remaining)
        return batch

    def _lead(self, first: _Task) -> None:
        batch = self._take_batch(first)
        try:
            if len(batch) == 1:
                first.outputs = self._run(first.inputs)
            else:
                outputs = self._run(merge_inputs(batch))
                for task, part in zip(batch, split_outputs(outputs, batch)):
                    task.outputs = part
        except BaseException as e:  # noqa: BLE001  (every request of the batch gets the error)
            for task in batch:
                task.error = e
        for task in batch[1:]:
            task.done.set()
        if self._on_batch is not None:
            self._on_batch(len(batch), sum(t.rows for t in batch))
        with self._cond:
            self.batches += 1
            self.requests += len(batch)
            self.rows += sum(t.rows for t in batch)
            if self._queue:
                nxt = self._queue.popleft()
                nxt.lead = True
                nxt.done.set()  # it leads the next batch (the leader count stays the same)
            else:
                self._leaders -= 1
                if self._leaders == 0:
                    self._cond.notify_all()

    def close(self, timeout: Optional[float] = None) -> bool:
        """Refuses new requests and waits for queued and running ones; False if ``timeout`` ran out."""
        with self._cond:
            self._closed = True
            return self._cond.wait_for(lambda: self._leaders == 0 and not self._queue, timeout)
