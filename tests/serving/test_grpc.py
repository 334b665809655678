"""gRPC API through the real tensorflow-serving-api stubs: Predict, GetModelMetadata, GetModelStatus, errors."""

import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, classification_pb2

from tests.serving.conftest import Stubs, history_array, make_model_dir, predict_request
from tfseqrec.serving import Server, ServerConfig

CONFIG = """model_config_list {
  config { name: "a" base_path: "a" model_platform: "tensorflow" model_version_policy { all {} } }
  config { name: "b" base_path: "b" }
}"""


@pytest.fixture(scope="module")
def server(exports, tmp_path_factory):
    root = tmp_path_factory.mktemp("grpc_models")
    make_model_dir(root, "a", {1: exports["a"], 2: exports["b"]})
    make_model_dir(root, "b", {7: exports["a"]})
    (root / "models.config").write_text(CONFIG)
    config = ServerConfig(
        model_config_file=str(root / "models.config"),
        grpc_port=0,
        rest_port=None,
        poll_seconds=0,
        max_history=64,
        max_k=50,
        max_batch_rows=16,
        max_request_bytes=64 << 10,
    )
    with Server(config) as s:
        yield s


@pytest.fixture(scope="module")
def stubs(server):
    s = Stubs(server.grpc_port)
    yield s
    s.close()


def predict(stubs, *args, **kwargs):
    return stubs.predict.Predict(predict_request(*args, **kwargs), timeout=10)


def test_serving_default_returns_default_k_items_and_the_served_version(stubs):
    r = predict(stubs, "a", {"history": history_array([["item_1", "item_2"], []])})
    assert (r.model_spec.name, r.model_spec.version.value, r.model_spec.signature_name) == ("a", 2, "serving_default")
    ids, scores = tf.make_ndarray(r.outputs["item_ids"]), tf.make_ndarray(r.outputs["scores"])
    assert ids.shape == scores.shape == (2, 5) and scores.dtype == np.float32
    assert not {b"item_1", b"item_2"} & set(ids[0])  # seen items excluded
    assert ids[1].tolist() == [b"item_%d" % i for i in range(5)]  # empty history: popular items
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_recommend_honours_k_and_exclude_seen_per_row(stubs):
    inputs = {
        "history": history_array([["item_1"], ["item_1"]]),
        "k": np.array([3, 7], np.int32),
        "exclude_seen": np.array([True, False]),
    }
    r = predict(stubs, "a", inputs, signature="recommend")
    ids, scores = tf.make_ndarray(r.outputs["item_ids"]), tf.make_ndarray(r.outputs["scores"])
    assert ids.shape == (2, 7) and r.model_spec.signature_name == "recommend"
    assert b"" not in ids[0, :3] and ids[0, 3:].tolist() == [b""] * 4 and np.all(np.isneginf(scores[0, 3:]))
    assert b"item_1" not in ids[0] and b"item_1" in ids[1]


def test_specific_version_other_model_and_output_filter(stubs):
    h = {"history": history_array([["item_3"]])}
    v1, v2 = predict(stubs, "a", h, version=1), predict(stubs, "a", h, version=2)
    assert v1.model_spec.version.value == 1 and v2.model_spec.version.value == 2
    assert tf.make_ndarray(v1.outputs["scores"]).tolist() != tf.make_ndarray(v2.outputs["scores"]).tolist()
    b = predict(stubs, "b", h, output_filter=["scores"])
    assert b.model_spec.version.value == 7 and list(b.outputs) == ["scores"]
    assert tf.make_ndarray(b.outputs["scores"]).tolist() == tf.make_ndarray(v1.outputs["scores"]).tolist()


def test_encode_query_item_embeddings_and_empty_history(stubs):
    q = predict(stubs, "a", {"history": np.empty((2, 0), object)}, signature="encode_query")
    assert tf.make_ndarray(q.outputs["query"]).shape == (2, 8)
    items = predict(stubs, "a", {}, signature="item_embeddings")
    assert tf.make_ndarray(items.outputs["item_ids"]).shape == (50,)
    assert tf.make_ndarray(items.outputs["embeddings"]).shape == (50, 8)
    empty = predict(stubs, "a", {"history": np.empty((1, 0), object)})
    assert tf.make_ndarray(empty.outputs["item_ids"])[0, 0] == b"item_0"


def test_get_model_metadata_packs_the_signature_def_map(stubs):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "a"
    r = stubs.predict.GetModelMetadata(request, timeout=10)
    assert r.model_spec.name == "a" and r.model_spec.version.value == 2
    sigs = get_model_metadata_pb2.SignatureDefMap()
    assert r.metadata["signature_def"].Unpack(sigs)
    assert {"serving_default", "recommend", "encode_query", "item_embeddings"} <= set(sigs.signature_def)
    rec = sigs.signature_def["recommend"]
    assert rec.inputs["k"].dtype == tf.int32.as_datatype_enum and set(rec.outputs) == {"item_ids", "scores"}
    request.ClearField("metadata_field")
    with pytest.raises(grpc.RpcError) as e:
        stubs.predict.GetModelMetadata(request, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "metadata_field" in e.value.details()


def test_get_model_status(stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "a"
    r = stubs.model.GetModelStatus(request, timeout=10)
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert [(s.version, s.state, s.status.error_code) for s in r.model_version_status] == [
        (2, available, 0),
        (1, available, 0),
    ]
    request.model_spec.version.value = 1
    assert len(stubs.model.GetModelStatus(request, timeout=10).model_version_status) == 1
    request.model_spec.version.value = 5
    with pytest.raises(grpc.RpcError) as e:
        stubs.model.GetModelStatus(request, timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


H = history_array([["item_1"]])
REC = {"history": H, "k": np.array([3], np.int32), "exclude_seen": np.array([True])}


@pytest.mark.parametrize(
    "kwargs, code, message",
    [
        (dict(inputs={"history": np.array([[1, 2]], np.int32)}), "INVALID_ARGUMENT", "must be DT_STRING; got DT_INT32"),
        (dict(inputs={"history": np.array([b"item_1"], object)}), "INVALID_ARGUMENT", "must have rank 2"),
        (
            dict(inputs={"history": H, "k": np.array([3], np.int32)}, signature="recommend"),
            "INVALID_ARGUMENT",
            "missing input(s) 'exclude_seen'",
        ),
        (dict(inputs={"history": H, "extra": np.array([1], np.int32)}), "INVALID_ARGUMENT", "unknown input(s) 'extra'"),
        (dict(model="nope"), "NOT_FOUND", "model 'nope' is not served"),
        (dict(version=9), "NOT_FOUND", "version 9 of model 'a' is not available"),
        (
            dict(inputs={**REC, "k": np.array([51], np.int32)}, signature="recommend"),
            "INVALID_ARGUMENT",
            "'k' must be in [1, 50]; got 51",
        ),
        (dict(inputs={**REC, "k": np.array([0], np.int32)}, signature="recommend"), "INVALID_ARGUMENT", "got 0"),
        (
            dict(inputs={**REC, "k": np.array([3], np.int64)}, signature="recommend"),
            "INVALID_ARGUMENT",
            "must be DT_INT32; got DT_INT64",
        ),
        (
            dict(inputs={**REC, "k": np.array([3, 4], np.int32)}, signature="recommend"),
            "INVALID_ARGUMENT",
            "same number of rows",
        ),
        (dict(inputs={"history": history_array([["item_1"] * 65])}), "INVALID_ARGUMENT", "at most 64"),
        (dict(inputs={"history": history_array([["item_1"]] * 17)}), "INVALID_ARGUMENT", "at most 16 per request"),
        (dict(signature="nope"), "INVALID_ARGUMENT", "has no signature 'nope'"),
        (dict(inputs={"history": history_array([["x" * 2000] * 40])}), "RESOURCE_EXHAUSTED", ""),
    ],
)
def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(stubs, kwargs, code, message):
    args = dict(model="a", inputs={"history": H}, signature="", version=None)
    args.update(kwargs)
    with pytest.raises(grpc.RpcError) as e:
        predict(stubs, args["model"], args["inputs"], signature=args["signature"], version=args["version"])
    assert e.value.code() == grpc.StatusCode[code]
    assert message in e.value.details()
    assert predict(stubs, "a", {"history": H}).model_spec.version.value == 2


def test_version_labels_and_classify_are_unimplemented(stubs):
    request = predict_request("a", {"history": H})
    request.model_spec.version_label = "stable"
    with pytest.raises(grpc.RpcError) as e:
        stubs.predict.Predict(request, timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.RpcError) as e:
        stubs.predict.Classify(classification_pb2.ClassificationRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_tensor_content_and_broadcast_inputs_are_read(stubs):
    k = tf.make_tensor_proto(np.array([2, 4], np.int32))  # tensor_content encoding
    assert k.tensor_content
    excl = tf.make_tensor_proto(True, shape=[2])  # one value filling the shape
    r = predict(
        stubs, "a", {"history": history_array([["item_1"], []]), "k": k, "exclude_seen": excl}, signature="recommend"
    )
    assert tf.make_ndarray(r.outputs["item_ids"]).shape == (2, 4)


def test_predict_reports_its_server_side_time_as_trailing_metadata(stubs):
    from tfseqrec.serving.predict import SERVER_TIMING, parse_server_timing

    start = time.perf_counter()
    response, call = stubs.predict.Predict.with_call(predict_request("a", {"history": H}), timeout=10)
    round_trip_ms = (time.perf_counter() - start) * 1e3
    assert response.model_spec.version.value == 2
    timing = dict(call.trailing_metadata())[SERVER_TIMING]
    assert timing.startswith("predict;dur=") and 0 < parse_server_timing(timing) <= round_trip_ms
