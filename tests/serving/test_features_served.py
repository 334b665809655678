"""The HRNN-with-sessions export (``tests/export/test_input_features.py``: it reads ``timestamps``) served by our
server over gRPC and REST: the metadata names the timestamps, the served top-K equals the in-memory model's top-K
computed with them, and a request without them gets a clear INVALID_ARGUMENT while the server keeps serving."""

import threading

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.export.test_input_features import (
    MAX_K,
    build_hrnn_export,
    dense_rows,
    model_inputs,
    reference_top_k,
    session_histories,
)
from tests.serving.conftest import Stubs, history_array, http, predict_request
from tfseqrec.export import contract
from tfseqrec.serving import Client, Server, ServerConfig, ServingError

K = 10
MODEL = "hrnn_brute_force"


@pytest.fixture(scope="module")
def hrnn_export(tmp_path_factory):
    return build_hrnn_export(tmp_path_factory)


@pytest.fixture(scope="module")
def server(hrnn_export):
    config = ServerConfig(
        model_config_file=str(hrnn_export.base / "models.config"), grpc_port=0, rest_port=0, poll_seconds=0
    )
    with Server(config) as s:
        assert sorted(s.manager.model_names) == ["hrnn_brute_force", "hrnn_scann"]
        yield s


def _target(server, protocol):
    return f"127.0.0.1:{server.grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{server.rest_port}"


def _ids(rows):
    return [[i for i, _ in row] for row in rows]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_metadata_names_the_timestamps(server, protocol):
    with Client(_target(server, protocol), MODEL, protocol=protocol) as client:
        assert client.history_features() == ["timestamps"]
        sigs = client.metadata()["metadata"]["signature_def"]["signature_def"]
    for name in (contract.SERVING_SIGNATURE, contract.RECOMMEND_SIGNATURE, contract.ENCODE_SIGNATURE):
        timestamps = sigs[name]["inputs"]["timestamps"]
        assert timestamps["dtype"] == "DT_INT64"
        assert [int(d["size"]) for d in timestamps["tensor_shape"]["dim"]] == [-1, -1]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_client_top_k_equals_the_in_memory_model_with_timestamps(hrnn_export, server, protocol):
    model, vocab = hrnn_export.model, hrnn_export.vocabulary
    histories, times = session_histories(vocab, seed=2)
    want_ids, want_scores = reference_top_k(model, vocab, histories, K, times)
    assert want_ids != reference_top_k(model, vocab, histories, K)[0]  # the timestamps matter
    with Client(_target(server, protocol), MODEL, protocol=protocol) as client:
        default = client.recommend(histories, timestamps=times)  # serving_default
        for_k = client.recommend(histories, k=MAX_K, timestamps=times)  # recommend
        query = client.encode(histories, timestamps=times)
    assert _ids(default) == want_ids
    np.testing.assert_allclose([[s for _, s in row] for row in default], want_scores, rtol=1e-5, atol=1e-6)
    assert _ids(for_k) == reference_top_k(model, vocab, histories, MAX_K, times)[0]
    inputs = model_inputs(vocab, histories, times)
    np.testing.assert_allclose(query, model.query(inputs.pop("item_ids"), **inputs).numpy(), rtol=1e-5, atol=1e-6)


def test_real_stub_and_raw_rest_json_with_ragged_rows(hrnn_export, server):
    model, vocab = hrnn_export.model, hrnn_export.vocabulary
    histories, times = session_histories(vocab, count=6, seed=3)
    want_ids, _ = reference_top_k(model, vocab, histories, K, times)
    stubs = Stubs(server.grpc_port)
    try:
        response = stubs.predict.Predict(
            predict_request(
                MODEL, {"history": history_array(histories), "timestamps": np.array(dense_rows(times, 0), np.int64)}
            ),
            timeout=30,
        )
    finally:
        stubs.close()
    assert [[x.decode() for x in row] for row in tf.make_ndarray(response.outputs[contract.ITEM_IDS])] == want_ids
    path = f"/v1/models/{MODEL}:predict"
    status, body = http(server.rest_port, "POST", path, {"inputs": {"history": histories, "timestamps": times}})
    assert status == 200 and body["outputs"][contract.ITEM_IDS] == want_ids
    instances = [{"history": h, "timestamps": t} for h, t in zip(histories, times)]
    status, body = http(server.rest_port, "POST", path, {"instances": instances})
    assert status == 200 and [row[contract.ITEM_IDS] for row in body["predictions"]] == want_ids


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_a_request_without_timestamps_is_refused_clearly_and_the_next_is_served(hrnn_export, server, protocol):
    vocab = hrnn_export.vocabulary
    histories, times = session_histories(vocab, count=3, seed=4)
    want_ids, _ = reference_top_k(hrnn_export.model, vocab, histories, K, times)
    with Client(_target(server, protocol), MODEL, protocol=protocol) as client:
        for call in (
            lambda: client.recommend(histories),
            lambda: client.recommend(histories, k=5),
            lambda: client.encode(histories),
        ):
            with pytest.raises(ServingError) as error:
                call()
            assert error.value.code == "INVALID_ARGUMENT"
            assert "missing input(s) 'timestamps'" in error.value.message
            assert "send one value per 'history' entry" in error.value.message
        with pytest.raises(ValueError, match=r"timestamps\[0\] has 1 values but history 0 has"):
            client.recommend(histories, timestamps=[[1]] * len(histories))  # refused before sending
        assert _ids(client.recommend(histories, timestamps=times)) == want_ids


def test_timestamps_of_another_shape_answered_clearly_then_served(hrnn_export, server):
    vocab = hrnn_export.vocabulary
    histories, times = session_histories(vocab, count=3, seed=4)
    want_ids, _ = reference_top_k(hrnn_export.model, vocab, histories, K, times)
    path = f"/v1/models/{MODEL}:predict"
    bad = [row[:-1] for row in times]
    status, body = http(server.rest_port, "POST", path, {"inputs": {"history": histories, "timestamps": bad}})
    assert (
        status == 400
        and f"'timestamps' row 0 has {len(bad[0])} values but 'history' row 0 has {len(histories[0])}" in body["error"]
    )
    for protocol in ("grpc", "rest"):
        with Client(_target(server, protocol), MODEL, protocol=protocol) as client:
            with pytest.raises(ServingError, match="input 'timestamps' .*one value per") as error:
                client.predict(
                    {"history": history_array(histories), "timestamps": np.zeros((len(histories), 1), np.int64)}
                )
            assert error.value.code == "INVALID_ARGUMENT"
            assert _ids(client.recommend(histories, timestamps=times)) == want_ids  # the server still serves


def test_concurrent_requests_of_different_widths(hrnn_export, server):
    """Requests of different history widths at once: each answered with its own sessions' top-K."""
    model, vocab = hrnn_export.model, hrnn_export.vocabulary
    requests = [session_histories(vocab, count=2, seed=10 + i) for i in range(8)]
    want = [reference_top_k(model, vocab, h, K, t)[0] for h, t in requests]
    got, errors = [None] * len(requests), []
    start = threading.Barrier(len(requests))

    def call(i):
        try:
            with Client(
                _target(server, "grpc" if i % 2 else "rest"), MODEL, protocol="grpc" if i % 2 else "rest"
            ) as client:
                start.wait(timeout=30)
                got[i] = _ids(client.recommend(requests[i][0], timestamps=requests[i][1]))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and got == want
