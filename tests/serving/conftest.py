"""Shared fixtures: tiny contract-following exports (saved once per session) and server helpers."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from tests.serving.fixture_model import copy_version, save_tiny_model


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """Two tiny exports with different weights (seed 0 and 1), to copy into version directories."""
    root = tmp_path_factory.mktemp("exports")
    return {"a": save_tiny_model(str(root / "a")), "b": save_tiny_model(str(root / "b"), seed=1)}


def make_model_dir(root, name: str, versions: dict[int, str]) -> str:
    """``root/name/<version>`` copies of the given exports; returns the base path."""
    base = os.path.join(str(root), name)
    os.makedirs(base, exist_ok=True)
    for version, src in versions.items():
        copy_version(src, base, version)
    return base


def write_corrupt_version(base: str, version: int) -> str:
    """A version directory whose saved_model.pb is garbage (written via a .tmp dir and a rename)."""
    tmp = os.path.join(base, f".tmp-{version}")
    os.makedirs(os.path.join(tmp, "variables"))
    with open(os.path.join(tmp, "saved_model.pb"), "wb") as f:
        f.write(b"this is not a protocol buffer \xff\xfe" * 10)
    dst = os.path.join(base, str(version))
    os.rename(tmp, dst)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remove_version(base: str, version: int) -> None:
    shutil.rmtree(os.path.join(base, str(version)))


# -- request helpers ---------------------------------------------------------------------------------------
def history_array(rows):
    """A left-padded [B, W] object array of bytes (W >= 1)."""
    from tfseqrec.serving.tensors import string_array

    return string_array([[x.encode() for x in r] for r in rows])


def predict_request(model, inputs, signature="", version=None, output_filter=()):
    from tensorflow_serving.apis import predict_pb2

    from tfseqrec.serving.tensors import make_tensor_proto
    import numpy as np

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if signature:
        request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(value if not isinstance(value, np.ndarray) else make_tensor_proto(value))
    request.output_filter.extend(output_filter)
    return request


class Stubs:
    """The real TF Serving stubs on one channel."""

    def __init__(self, port):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.predict = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self):
        self.channel.close()


def http(port, method, path, body=None, raw=None, timeout=10):
    """(status, decoded JSON) of a plain urllib request; HTTP errors are returned, not raised."""
    import json
    import urllib.error
    import urllib.request

    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
