"""The batcher on its own (no TensorFlow): merging, padding, splitting, the idle fast path, errors, close."""

import threading
import time

import numpy as np
import pytest

from tfseqrec.serving.batching import Batcher, BatchingOptions
from tfseqrec.serving.errors import ServingError

OBJ = object


def history(*rows):
    width = max([len(r) for r in rows] + [1])
    arr = np.full((len(rows), width), b"", OBJ)
    for i, r in enumerate(rows):
        arr[i, width - len(r) :] = [x.encode() for x in r]
    return arr


class SlowEcho:
    """Returns each row's last item and a per-row k-wide output; records the batches it saw."""

    def __init__(self, delay=0.05):
        self.delay, self.calls, self.lock = delay, [], threading.Lock()

    def __call__(self, inputs):
        with self.lock:
            self.calls.append({n: v.copy() for n, v in inputs.items()})
        time.sleep(self.delay)
        h = inputs["history"]
        width = int(inputs["k"].max()) if "k" in inputs else 3
        return {"last": h[:, -1], "ranked": np.tile(np.arange(width), (h.shape[0], 1))}


def test_single_request_on_idle_batcher_runs_at_once_in_the_caller():
    seen, out = [], {}
    b = Batcher(
        "t",
        lambda x: seen.append(threading.current_thread()) or {"y": x["history"]},
        BatchingOptions(batch_timeout_micros=3_600_000_000),
    )  # an hour-long window it must not wait for
    caller = threading.Thread(target=lambda: out.update(b.submit({"history": history(["a"])}, 1)))
    caller.start()
    caller.join(timeout=60)
    assert not caller.is_alive(), "an idle batcher waited for its batching window"
    assert seen == [caller] and out["y"].tolist() == [[b"a"]]


def test_concurrent_requests_are_merged_padded_and_split_back():
    run = SlowEcho()
    b = Batcher("t", run, BatchingOptions(max_batch_size=64, batch_timeout_micros=20_000))
    results = {}

    def call(i):
        rows = [[f"x{i}"] * (i % 4)] if i % 4 else [[]]
        results[i] = b.submit({"history": history(*rows), "k": np.array([1 + i % 3], np.int32)}, 1)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 12 and b.requests == 12 and b.batches < 12
    assert max(len(c["history"]) for c in run.calls) > 1
    for i, out in results.items():
        assert out["last"].tolist() == [f"x{i}".encode() if i % 4 else b""]
        assert out["ranked"].shape == (1, 1 + i % 3)  # cut to the request's own k


def test_batches_respect_max_batch_size_and_oversized_requests_run_alone():
    run = SlowEcho(0.02)
    b = Batcher("t", run, BatchingOptions(max_batch_size=4, batch_timeout_micros=10_000))
    threads = [threading.Thread(target=b.submit, args=({"history": history(["a"], ["b"])}, 2)) for _ in range(6)]
    threads.append(threading.Thread(target=b.submit, args=({"history": history(*[["c"]] * 9)}, 9)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sizes = sorted(len(c["history"]) for c in run.calls)
    assert sum(sizes) == 21 and 9 in sizes and all(s <= 4 for s in sizes if s != 9)


def test_an_error_reaches_every_request_of_its_batch_and_the_batcher_keeps_working():
    fail = threading.Event()
    fail.set()

    def run(inputs):
        time.sleep(0.02)
        if fail.is_set():
            raise ServingError("INTERNAL", "boom")
        return {"y": inputs["history"]}

    b = Batcher("t", run)
    errors = []

    def call():
        try:
            b.submit({"history": history(["a"])}, 1)
        except ServingError as e:
            errors.append(e.message)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["boom"] * 5
    fail.clear()
    assert b.submit({"history": history(["z"])}, 1)["y"].tolist() == [[b"z"]]


def test_close_waits_for_running_batches_then_refuses():
    started, release, calls = threading.Event(), threading.Event(), []

    def run(inputs):  # runs until the test releases it
        calls.append(inputs)
        started.set()
        if not release.wait(30):
            raise ServingError("INTERNAL", "the test never released the batch")
        return {"y": inputs["history"]}

    b = Batcher("t", run)
    outputs = {}
    t = threading.Thread(target=lambda: outputs.update(b.submit({"history": history(["a"])}, 1)))
    t.start()
    assert started.wait(30)
    assert b.close(timeout=0) is False  # a batch is running: not drained, but closed from now on
    with pytest.raises(ServingError) as e:
        b.submit({"history": history(["b"])}, 1)  # refused at once, not queued behind the running batch
    assert e.value.code == "UNAVAILABLE"
    closed = []
    closer = threading.Thread(target=lambda: closed.append(b.close(timeout=30)))
    closer.start()
    release.set()
    closer.join(30)
    t.join(30)
    assert closed == [True] and len(calls) == 1
    assert outputs["y"].tolist() == [[b"a"]]  # the running batch finished normally
