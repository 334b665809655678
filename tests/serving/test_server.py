"""Server-level behaviour: concurrent requests are batched, graceful stop, config checks, the Client."""

import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf

from tests.serving.conftest import Stubs, history_array, http, make_model_dir, predict_request, wait_for
from tfseqrec.serving import Client, Server, ServerConfig, ServingError
from tfseqrec.serving.model_config import ModelEntry


@pytest.fixture(scope="module")
def server(exports, tmp_path_factory):
    base = make_model_dir(tmp_path_factory.mktemp("server_models"), "m", {1: exports["a"]})
    config = ServerConfig(
        models=(ModelEntry("m", base),),
        grpc_port=0,
        rest_port=0,
        poll_seconds=0,
        max_batch_size=64,
        batch_timeout_micros=20_000,
        max_k=50,
    )
    with Server(config) as s:
        yield s


def _signature_calls(servable) -> int:
    """The fixture model's ``calls`` counter (its only int64 variable), read in the version's own session."""
    runner = servable._runner
    handle = next(
        op for op in runner.graph.get_operations() if op.type == "VarHandleOp" and op.get_attr("dtype") == tf.int64
    )
    with runner.graph.as_default():
        read = tf.raw_ops.ReadVariableOp(resource=handle.outputs[0], dtype=tf.int64)
    return int(runner.session.run(read))


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(server):
    stubs = Stubs(server.grpc_port)
    histories = [[f"item_{i}", f"item_{(i * 7) % 50}"][: 1 + i % 2] for i in range(32)]
    expected = {}
    for i, h in enumerate(histories):  # one at a time: no batching possible
        r = stubs.predict.Predict(predict_request("m", {"history": history_array([h])}), timeout=10)
        expected[i] = tf.make_ndarray(r.outputs["item_ids"]).tolist()
    servable = server.manager.acquire("m")
    try:
        batcher = servable.batcher("serving_default")
        before_calls, before_batches, before_requests = _signature_calls(servable), batcher.batches, batcher.requests
        results, errors, barrier = {}, [], threading.Barrier(16)

        def worker(w):
            barrier.wait()
            for i in range(w, 32, 16):
                try:
                    r = stubs.predict.Predict(
                        predict_request("m", {"history": history_array([histories[i]])}), timeout=10
                    )
                    results[i] = tf.make_ndarray(r.outputs["item_ids"]).tolist()
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        requests = batcher.requests - before_requests
        batches = batcher.batches - before_batches
        signature_calls = _signature_calls(servable) - before_calls
    finally:
        servable.release()
        stubs.close()
    assert errors == [] and results == expected
    assert requests == 32 and signature_calls == batches < 32, (requests, batches, signature_calls)


def test_client_over_grpc_and_rest_agree(server):
    grpc_client = Client(f"127.0.0.1:{server.grpc_port}", "m", timeout=10)
    rest_client = Client(f"127.0.0.1:{server.rest_port}", "m", protocol="rest", timeout=10)
    histories = [["item_1", "item_2"], [], ["unknown_item"]]
    for client in (grpc_client, rest_client):
        default = client.recommend(histories)
        assert len(default) == 3 and len(default[0]) == 5 and isinstance(default[0][0], tuple)
        assert default[1][0][0] == "item_0" and all(i not in ("item_1", "item_2") for i, _ in default[0])
        top3 = client.recommend(histories, k=3, exclude_seen=False)
        assert [len(r) for r in top3] == [3, 3, 3]
        assert client.encode(histories).shape == (3, 8)
        assert client.status() == [{"version": 1, "state": "AVAILABLE", "error_code": "OK", "error_message": ""}]
        meta = client.metadata()
        assert meta["model_spec"]["version"] == "1"
        assert "recommend" in meta["metadata"]["signature_def"]["signature_def"]
    g, r = grpc_client.recommend(histories, k=7), rest_client.recommend(histories, k=7)
    assert [[i for i, _ in row] for row in g] == [[i for i, _ in row] for row in r]
    np.testing.assert_allclose([[s for _, s in row] for row in g], [[s for _, s in row] for row in r], rtol=1e-6)
    for client in (grpc_client, rest_client):
        with pytest.raises(ServingError) as e:
            client.recommend([["item_1"]], k=51)
        assert e.value.code == "INVALID_ARGUMENT" and "k" in e.value.message
        with pytest.raises(ServingError) as e:
            client.recommend([["item_1"]], version=9)
        assert e.value.code == "NOT_FOUND"
    with pytest.raises(ServingError) as e:
        Client(f"127.0.0.1:{server.grpc_port}", "nope").status()
    assert e.value.code == "NOT_FOUND"
    grpc_client.close()


def test_client_reports_an_unreachable_server():
    with pytest.raises(ServingError) as e:
        Client("127.0.0.1:1", "m", protocol="rest", timeout=2).status()
    assert e.value.code == "UNAVAILABLE"
    with pytest.raises(ServingError) as e:
        Client("127.0.0.1:1", "m", timeout=2).status()
    assert e.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def test_graceful_stop_finishes_in_flight_requests_then_refuses(exports, tmp_path):
    base = make_model_dir(tmp_path, "m", {1: exports["a"]})
    server = Server(ServerConfig(models=(ModelEntry("m", base),), grpc_port=0, rest_port=0, poll_seconds=0)).start()
    servable = server.manager.acquire("m")
    real_run, real_acquire = servable.run, server.manager.acquire
    started, acquired = threading.Event(), []

    def run_until_stopping(signature, inputs):  # keeps the requests in flight until stop() has begun
        started.set()
        assert server.stopping.wait(30), "stop() never began"
        return real_run(signature, inputs)

    def counting_acquire(*args, **kwargs):  # a request that holds a version is in flight
        held = real_acquire(*args, **kwargs)
        acquired.append(held)
        return held

    servable.run = run_until_stopping  # instance attributes: the batcher and the APIs call them
    server.manager.acquire = counting_acquire
    servable.release()
    stubs = Stubs(server.grpc_port)
    outcomes = []

    def call_grpc():
        try:
            stubs.predict.Predict(predict_request("m", {"history": history_array([["item_1"]])}), timeout=10)
            outcomes.append("ok")
        except grpc.RpcError as e:
            outcomes.append(e.code())

    def call_rest():
        outcomes.append(
            "ok"
            if http(server.rest_port, "POST", "/v1/models/m:predict", {"instances": [["item_1"]]})[0] == 200
            else "rest failed"
        )

    threads = [
        threading.Thread(target=call_grpc),
        threading.Thread(target=call_grpc),
        threading.Thread(target=call_rest),
    ]
    for t in threads:
        t.start()
    assert started.wait(30)
    wait_for(lambda: len(acquired) == 3, what="the three requests to be in flight")
    assert not server.stopping.is_set()
    server.stop(grace=10)
    for t in threads:
        t.join()
    assert outcomes == ["ok"] * 3 and server.wait(0)
    with pytest.raises(grpc.RpcError):
        stubs.predict.Predict(predict_request("m", {"history": history_array([["item_1"]])}), timeout=2)
    with pytest.raises(OSError):
        http(server.rest_port, "GET", "/healthz", timeout=2)
    assert server.manager.status("m")[0].state == "END"
    stubs.close()


def test_a_port_in_use_is_a_clear_error(exports, tmp_path):
    import socket

    base = make_model_dir(tmp_path, "m", {1: exports["a"]})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for ports in (dict(grpc_port=port, rest_port=None), dict(grpc_port=None, rest_port=port)):
            with pytest.raises(OSError, match=f"cannot listen for (gRPC|REST) on 127.0.0.1:{port}"):
                Server(ServerConfig(models=(ModelEntry("m", base),), poll_seconds=0, **ports)).start()


def test_server_config_checks():
    with pytest.raises(ValueError, match="exactly one"):
        ServerConfig()
    with pytest.raises(ValueError, match="enable at least one"):
        ServerConfig(models=(ModelEntry("m", "/x"),), grpc_port=None, rest_port=None)
    with pytest.raises(ValueError, match="max_batch_size"):
        ServerConfig(models=(ModelEntry("m", "/x"),), max_batch_size=0)
    with pytest.raises(ValueError, match="intra_op_threads must be >= 0"):
        ServerConfig(models=(ModelEntry("m", "/x"),), intra_op_threads=-1)
    with pytest.raises(ValueError, match="inter_op_threads must be >= -1"):
        ServerConfig(models=(ModelEntry("m", "/x"),), inter_op_threads=-2)


def test_thread_pools_are_sized_in_a_fresh_process_and_left_alone_after_tensorflow_ran(caplog):
    import subprocess
    import sys

    code = (
        "import tfseqrec, tensorflow as tf\n"
        "from tfseqrec.serving.server import set_tensorflow_threads\n"
        "set_tensorflow_threads(1, 2)\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["1", "2"], out.stderr[-2000:]
    import tensorflow as tf
    from tfseqrec.serving.server import set_tensorflow_threads

    tf.constant(1) + 1  # TensorFlow has run here: the pools can no longer change
    before = tf.config.threading.get_intra_op_parallelism_threads()
    set_tensorflow_threads(before + 3, 0)
    assert tf.config.threading.get_intra_op_parallelism_threads() == before
    assert "keeps" in caplog.text and "intra-op" in caplog.text
