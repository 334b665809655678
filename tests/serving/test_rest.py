"""REST API with plain urllib: predict in row and columnar form, status, metadata, health, and errors."""

import http.client as httpclient
import json
import math

import pytest

from tests.serving.conftest import http, make_model_dir
from tfseqrec.serving import Server, ServerConfig
from tfseqrec.serving.model_config import ModelEntry, VersionPolicy


@pytest.fixture(scope="module")
def port(exports, tmp_path_factory):
    root = tmp_path_factory.mktemp("rest_models")
    a = make_model_dir(root, "a", {1: exports["a"], 2: exports["b"]})
    config = ServerConfig(
        models=(ModelEntry("a", a, VersionPolicy("all")),),
        grpc_port=None,
        rest_port=0,
        poll_seconds=0,
        max_history=64,
        max_k=50,
        max_batch_rows=16,
        max_request_bytes=32 << 10,
    )
    with Server(config) as s:
        yield s.rest_port


def test_row_format_with_ragged_histories_and_a_single_input(port):
    status, body = http(port, "POST", "/v1/models/a:predict", {"instances": [["item_1", "item_2"], ["item_3"], []]})
    assert status == 200 and list(body) == ["predictions"]
    rows = body["predictions"]
    assert len(rows) == 3 and set(rows[0]) == {"item_ids", "scores"} and len(rows[0]["item_ids"]) == 5
    assert "item_1" not in rows[0]["item_ids"] and rows[2]["item_ids"][0] == "item_0"


def test_row_format_with_named_inputs_for_recommend(port):
    instances = [{"history": ["item_1"], "k": 3, "exclude_seen": True}, {"history": [], "k": 2, "exclude_seen": False}]
    status, body = http(
        port, "POST", "/v1/models/a/versions/1:predict", {"signature_name": "recommend", "instances": instances}
    )
    assert status == 200
    first, second = body["predictions"]
    assert len(first["item_ids"]) == 3 and second["item_ids"][2] == "" and second["scores"][2] == -math.inf


def test_columnar_format_and_a_single_output(port):
    status, body = http(
        port, "POST", "/v1/models/a:predict", {"inputs": {"history": [["item_1"], ["item_2", "item_3"]]}}
    )
    assert status == 200 and set(body["outputs"]) == {"item_ids", "scores"}
    assert len(body["outputs"]["item_ids"]) == 2
    status, body = http(
        port, "POST", "/v1/models/a:predict", {"signature_name": "encode_query", "inputs": {"history": [["item_1"]]}}
    )
    assert status == 200 and len(body["outputs"]) == 1 and len(body["outputs"][0]) == 8  # bare value
    status, body = http(
        port, "POST", "/v1/models/a:predict", {"signature_name": "encode_query", "instances": [["item_1"], ["item_2"]]}
    )
    assert status == 200 and len(body["predictions"]) == 2 and len(body["predictions"][0]) == 8


def test_status_and_metadata(port):
    status, body = http(port, "GET", "/v1/models/a")
    assert status == 200 and body == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        ]
    }
    status, body = http(port, "GET", "/v1/models/a/versions/1")
    assert status == 200 and [s["version"] for s in body["model_version_status"]] == ["1"]
    status, body = http(port, "GET", "/v1/models/a/metadata")
    assert status == 200 and body["model_spec"]["name"] == "a" and body["model_spec"]["version"] == "2"
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert sigs["serving_default"]["inputs"]["history"]["dtype"] == "DT_STRING"
    assert sigs["recommend"]["method_name"] == "tensorflow/serving/predict"
    status, body = http(port, "GET", "/v1/models/a/versions/1/metadata")
    assert status == 200 and body["model_spec"]["version"] == "1"


def test_health_and_readiness(port):
    assert http(port, "GET", "/healthz") == (200, {"status": "alive"})
    assert http(port, "GET", "/readyz") == (200, {"ready": True, "models": {"a": [1, 2]}})


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        ("/v1/models/a:predict", b"{not json", 400, "malformed JSON"),
        ("/v1/models/a:predict", {"instances": [["a"]], "inputs": {"history": [["a"]]}}, 400, "exactly one of"),
        ("/v1/models/a:predict", {"instances": [[1, 2]]}, 400, "DT_STRING"),
        ("/v1/models/a:predict", {"instances": ["item_1"]}, 400, "list of rows"),
        (
            "/v1/models/a:predict",
            {"signature_name": "recommend", "instances": [{"history": ["a"], "k": "3", "exclude_seen": True}]},
            400,
            "DT_INT32",
        ),
        (
            "/v1/models/a:predict",
            {"signature_name": "recommend", "instances": [{"history": ["a"], "k": 51, "exclude_seen": True}]},
            400,
            "'k' must be in [1, 50]",
        ),
        (
            "/v1/models/a:predict",
            {"signature_name": "recommend", "inputs": {"history": [["a"]], "k": [3]}},
            400,
            "missing input(s) 'exclude_seen'",
        ),
        ("/v1/models/a:predict", {"inputs": {"history": [["a"]], "extra": [1]}}, 400, "unknown input(s) 'extra'"),
        ("/v1/models/a:predict", {"instances": [["item_1"] * 65]}, 400, "at most 64"),
        ("/v1/models/a:predict", {"instances": [["item_1"]] * 17}, 400, "at most 16"),
        ("/v1/models/a:predict", {"signature_name": "nope", "instances": [["a"]]}, 400, "no signature 'nope'"),
        ("/v1/models/nope:predict", {"instances": [["a"]]}, 404, "model 'nope' is not served"),
        ("/v1/models/a/versions/9:predict", {"instances": [["a"]]}, 404, "version 9 of model 'a'"),
        ("/v1/models/a/labels/x:predict", {"instances": [["a"]]}, 501, "labels are not supported"),
        ("/v1/nothing", {}, 404, "no route"),
    ],
)
def test_bad_requests_get_http_errors_and_the_server_keeps_serving(port, path, body, status, message):
    got_status, got = http(
        port,
        "POST",
        path,
        raw=body if isinstance(body, bytes) else None,
        body=None if isinstance(body, bytes) else body,
    )
    assert got_status == status and message in got["error"], got
    assert http(port, "POST", "/v1/models/a:predict", {"instances": [["item_1"]]})[0] == 200


def test_get_errors(port):
    assert http(port, "GET", "/v1/models/nope")[0] == 404
    assert http(port, "GET", "/v1/models/a/versions/9")[0] == 404
    assert http(port, "GET", "/v1/other")[0] == 404
    assert http(port, "GET", "/v1/models/a:predict")[0] == 400


def test_oversized_body_is_refused_before_it_is_read(port):
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/v1/models/a:predict")
    conn.putheader("Content-Length", str(10 << 20))
    conn.endheaders(b'{"instances": [')
    response = conn.getresponse()
    assert response.status == 400 and "over this server's limit" in json.loads(response.read())["error"]
    conn.close()
    assert http(port, "POST", "/v1/models/a:predict", {"instances": [["item_1"]]})[0] == 200


def test_keep_alive_connection_serves_many_requests(port):
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(5):
        conn.request(
            "POST",
            "/v1/models/a:predict",
            body=json.dumps({"instances": [["item_1"]]}),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["predictions"]
    conn.close()


def test_predict_answers_with_a_server_timing_header(port):
    import urllib.request
    from tfseqrec.serving.predict import parse_server_timing

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/models/a:predict",
        method="POST",
        data=json.dumps({"instances": [["item_1"]]}).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200 and parse_server_timing(r.headers["Server-Timing"]) > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/a", timeout=10) as r:
        assert r.headers.get("Server-Timing") is None  # predict only
