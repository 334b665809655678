"""Server monitoring: Prometheus metrics counted request by request over gRPC and REST, model load outcomes,
batch sizes, and the sampled, size-bounded request log."""

import json
import os
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.conftest import Stubs, history_array, http, make_model_dir, predict_request, write_corrupt_version
from tfseqrec.serving import Server, ServerConfig
from tfseqrec.serving.model_config import ModelEntry, VersionPolicy
from tfseqrec.serving.monitoring import RequestLabels, RequestLog, read_request_log


def _samples(port, path="/monitoring/prometheus/metrics") -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def served(exports, tmp_path_factory):
    root = tmp_path_factory.mktemp("monitored")
    good = make_model_dir(root, "a", {1: exports["a"]})
    bad = os.path.join(str(root), "bad")
    os.makedirs(bad)
    write_corrupt_version(bad, 3)
    log = root / "requests.jsonl"
    config = ServerConfig(
        models=(ModelEntry("a", good, VersionPolicy("all")), ModelEntry("bad", bad, VersionPolicy("all"))),
        grpc_port=0,
        rest_port=0,
        poll_seconds=0,
        request_log=str(log),
        request_log_sample_rate=1.0,
    )
    with Server(config) as server:
        stubs = Stubs(server.grpc_port)
        # gRPC: two good requests (1 and 2 rows), one for a model that is not served
        stubs.predict.Predict(predict_request("a", {"history": history_array([["item_1", "item_2"]])}))
        stubs.predict.Predict(predict_request("a", {"history": history_array([["", "item_3"], ["item_4", "item_5"]])}))
        with pytest.raises(Exception):
            stubs.predict.Predict(predict_request("no_such_model", {"history": history_array([["item_1"]])}))
        stubs.close()
        # REST: one good request, one naming a signature the model lacks
        assert http(server.rest_port, "POST", "/v1/models/a:predict", {"instances": [["item_6"]]})[0] == 200
        bad_signature = {"signature_name": "nope", "instances": [["item_6"]]}
        assert http(server.rest_port, "POST", "/v1/models/a:predict", bad_signature)[0] == 400
        yield server, _samples(server.rest_port), log


def test_requests_are_counted_by_model_version_signature_entrypoint_and_code(served):
    _, samples, _ = served
    count = ":tensorflow:serving:request_count_total"
    ok = {"model_name": "a", "version": "1", "signature": "serving_default", "code": "OK"}
    assert _value(samples, count, entrypoint="GRPC", **ok) == 2
    assert _value(samples, count, entrypoint="REST", **ok) == 1
    unknown = {"model_name": "<unknown>", "version": "", "signature": "<unknown>", "entrypoint": "GRPC"}
    assert _value(samples, count, code="NOT_FOUND", **unknown) == 1
    rest_bad = {"model_name": "a", "version": "1", "signature": "<unknown>", "entrypoint": "REST"}
    assert _value(samples, count, code="INVALID_ARGUMENT", **rest_bad) == 1
    latency = ":tensorflow:serving:request_latency"
    labels = {"model_name": "a", "signature": "serving_default", "entrypoint": "GRPC"}
    assert _value(samples, latency + "_count", **labels) == 2
    assert _value(samples, latency + "_sum", **labels) > 0
    assert _value(samples, latency + "_bucket", le="+Inf", **labels) == 2


def test_batch_sizes_loads_and_available_versions(served):
    _, samples, _ = served
    batch = {"model_name": "a", "signature": "serving_default"}
    rows = ":tensorflow:serving:batching_session:processed_batch_size"
    assert _value(samples, rows + "_sum", **batch) == 4  # 1 + 2 rows over gRPC, 1 over REST (warm-up bypasses)
    assert _value(samples, rows + "_count", **batch) == 3
    assert _value(samples, ":tfseqrec:serving:requests_per_batch_sum", **batch) == 3
    loads = ":tfseqrec:serving:model_load_count_total"
    assert _value(samples, loads, model_name="a", version="1", code="OK") == 1
    failed = [key for key in samples if key[0] == loads and ("model_name", "bad") in key[1]]
    assert len(failed) == 1 and ("code", "OK") not in failed[0][1] and samples[failed[0]] == 1
    assert _value(samples, ":tfseqrec:serving:available_versions", model_name="a") == 1


def test_the_request_log_holds_each_served_row_without_padding(served):
    server, _, log = served
    rows, skipped = read_request_log(str(log))
    assert skipped == 0 and server.request_log.rows_written == 4
    assert [row["history"] for row in rows] == [["item_1", "item_2"], ["item_3"], ["item_4", "item_5"], ["item_6"]]
    assert {row["model"] for row in rows} == {"a"} and {row["version"] for row in rows} == {"1"}
    assert {row["signature"] for row in rows} == {"serving_default"}


def test_metrics_can_be_turned_off(exports, tmp_path):
    base = make_model_dir(tmp_path, "a", {1: exports["a"]})
    config = ServerConfig(
        models=(ModelEntry("a", base),), grpc_port=None, rest_port=0, poll_seconds=0, monitoring=False
    )
    with Server(config) as server:
        status, body = http(server.rest_port, "GET", "/monitoring/prometheus/metrics")
    assert status == 404 and "no route" in body["error"]


def test_request_log_samples_whole_requests_and_stays_bounded(tmp_path):
    path = str(tmp_path / "log.jsonl")
    log = RequestLog(path, sample_rate=0.5, max_bytes=2048, seed=3)
    labels = RequestLabels("REST", "m", "7", "recommend")
    history = np.array([[b"", b"x1", b"x2"], [b"y1", b"y2", b"y3"]], dtype=object)
    for _ in range(200):
        log.log(labels, {"history": history, "k": np.array([5, 9], np.int32)})
    log.close()
    assert os.path.getsize(path) <= 2048 and os.path.getsize(path + ".1") <= 2048
    rows, skipped = read_request_log(path)
    assert skipped == 0 and len(rows) % 2 == 0 and 0 < len(rows) < log.rows_written < 400
    first, second = rows[0], rows[1]
    assert first["history"] == ["x1", "x2"] and first["k"] == 5 and second["history"] == ["y1", "y2", "y3"]
    assert second["k"] == 9 and first["signature"] == "recommend" and first["version"] == "7"
    assert 70 < log.rows_written / 2 < 130  # about half of the 200 requests
    with open(path, "a") as f:
        f.write('{"cut by a cra\n')
    assert read_request_log(path)[1] == 1


@pytest.mark.parametrize(
    "values, message",
    [
        ({"request_log_sample_rate": 0.0}, "request_log_sample_rate"),
        ({"monitoring_path": "metrics"}, "monitoring_path"),
        ({"monitoring_path": "/v1/models/x"}, "monitoring_path"),
    ],
)
def test_bad_monitoring_settings_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        ServerConfig(models=(ModelEntry("a", "/nowhere"),), **values)


def test_request_log_rows_keep_event_types_aligned_with_the_history(tmp_path):
    path = str(tmp_path / "log.jsonl")
    log = RequestLog(path, sample_rate=1.0)
    history = np.array([[b"", b"x1", b"x2"]], dtype=object)
    log.log(
        RequestLabels("GRPC", "m", "1", "serving_default"), {"history": history, "event_types": np.array([[0, 2, 4]])}
    )
    log.close()
    row = read_request_log(path)[0][0]
    assert row["history"] == ["x1", "x2"] and row["event_types"] == [2, 4] and "k" not in row
    assert json.loads(open(path).read())["model"] == "m"


def test_a_request_log_that_cannot_be_written_never_fails_the_request(tmp_path, caplog):
    from tfseqrec.serving.monitoring import Monitor

    log = RequestLog(str(tmp_path / "log.jsonl"), sample_rate=1.0)
    log._file.close()  # writing now raises ValueError (I/O on a closed file)
    monitor = Monitor(request_log=log)
    monitor.served(RequestLabels("REST", "m"), {"history": np.array([[b"x"]], dtype=object)})
    assert "cannot write the request log" in caplog.text
