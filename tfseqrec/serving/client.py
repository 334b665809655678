"""A small client for our exports served by ``tfseqrec serve`` or TF Serving itself, over gRPC or REST.

    client = Client("localhost:8500", "sasrec")                       # gRPC
    client = Client("http://localhost:8501", "sasrec", protocol="rest")
    client.recommend([["item_1", "item_7"], []], k=10)  # [[("item_3", 4.2), ...], [...popular items...]]
    # a model that reads history features (``client.history_features()``, e.g. HRNN with sessions):
    client.recommend([["item_1", "item_7"]], k=10, timestamps=[[1700000000000, 1700000060000]])  # ms
    # a model with a target behaviour: the behaviour each row asks about (event-type id; 0 = any)
    client.recommend([["item_1", "item_7"]], k=10, event_types=[[1, 2]], target_event_type=[3])

gRPC uses the real ``PredictionServiceStub`` / ``ModelServiceStub``; REST uses plain ``urllib`` and the
columnar (``"inputs"``) JSON format. Every failure raises ``ServingError`` with the server's status code name
(``INVALID_ARGUMENT``, ``NOT_FOUND``, ``UNAVAILABLE``, ...) and message.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping, Optional, Sequence

import numpy as np

import tfseqrec  # noqa: F401  (TF_USE_LEGACY_KERAS before the protos import TensorFlow)
from tfseqrec.export import contract
from tfseqrec.serving.errors import CODE_OF_HTTP, ServingError
from tfseqrec.serving.tensors import STRING, string_array

GRPC, REST = "grpc", "rest"


def _encode_histories(histories: Sequence[Sequence[str]]) -> np.ndarray:
    if isinstance(histories, (str, bytes)) or any(isinstance(h, (str, bytes)) for h in histories):
        raise TypeError('histories must be a list of histories, each a list of item ids: [["a", "b"], ...]')
    rows = [[i.encode("utf-8") if isinstance(i, str) else bytes(i) for i in h] for h in histories]
    return string_array(rows)


def _encode_feature(name: str, rows: Sequence[Sequence], histories: Sequence[Sequence[str]]) -> np.ndarray:
    """``rows`` (one value per item of each history) left-padded with 0 to ``_encode_histories``' width; a row
    feature (``contract.ROW_FEATURES``) is one value per history."""
    if name in contract.ROW_FEATURES:
        values = np.asarray(rows, np.dtype(contract.ROW_FEATURES[name]))
        if values.shape != (len(histories),):
            raise ValueError(f"{name} must hold one value per history ({len(histories)}); got shape {values.shape}")
        return values
    dtype = contract.HISTORY_FEATURES.get(name)
    if dtype is None:
        known = ", ".join([*contract.HISTORY_FEATURES, *contract.ROW_FEATURES])
        raise ValueError(f"{name!r} is not a history or row feature; exports take {known}")
    if isinstance(rows, (str, bytes)) or len(rows) != len(histories):
        raise ValueError(f"{name} must hold one row per history ({len(histories)}), each with one value per item")
    width = max([len(h) for h in histories] + [1])
    out = np.zeros((len(histories), width), np.dtype(dtype))
    for i, (history, row) in enumerate(zip(histories, rows)):
        if len(row) != len(history):
            raise ValueError(
                f"{name}[{i}] has {len(row)} values but history {i} has {len(history)} items; give one value per item"
            )
        if len(row):
            out[i, width - len(row) :] = row
    return out


class Client:
    """Calls one model. ``target`` is ``host:port`` (gRPC) or ``[http://]host:port`` (REST)."""

    def __init__(self, target: str, model: str, protocol: str = GRPC, timeout: float = 10.0, default_k: int = 10):
        if protocol not in (GRPC, REST):
            raise ValueError(f"protocol must be {GRPC!r} or {REST!r}, got {protocol!r}")
        self.model, self.protocol, self.timeout, self.default_k = model, protocol, timeout, default_k
        if protocol == GRPC:
            import grpc
            from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

            self._channel = grpc.insecure_channel(
                target, options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
            )
            self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
            self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)
        else:
            self._base = (target if "://" in target else f"http://{target}").rstrip("/")
            self._channel = None
        self._output_names: dict[str, list[str]] = {}

    # -- high level -------------------------------------------------------------------------------------
    def recommend(
        self,
        histories: Sequence[Sequence[str]],
        k: Optional[int] = None,
        exclude_seen: Optional[bool] = None,
        version: Optional[int] = None,
        **features: Sequence[Sequence[int]],
    ) -> list[list[tuple[str, float]]]:
        """Top items per history, best first, as ``(item_id, score)``.

        With ``k`` and ``exclude_seen`` both None this calls ``serving_default`` (the export's default k);
        otherwise ``recommend`` with ``k`` (default ``default_k``) and ``exclude_seen`` (default True).
        ``features``: the history features the model reads (``history_features()``), each one row per history
        with one value per item, e.g. ``timestamps=[[t1, t2], [t3]]`` (ms, as the records; ``contract.py``), and
        its row features, one value per history (``target_event_type=[3, 0]``).
        Padding entries (``""``, when fewer than ``k`` items exist) are dropped.
        """
        if not len(histories):
            return []
        inputs = self._history_inputs(histories, features)
        signature = contract.SERVING_SIGNATURE
        if k is not None or exclude_seen is not None:
            rows = len(histories)
            signature = contract.RECOMMEND_SIGNATURE
            inputs[contract.K] = np.full(rows, self.default_k if k is None else k, np.int32)
            inputs[contract.EXCLUDE_SEEN] = np.full(rows, True if exclude_seen is None else exclude_seen, np.bool_)
        out = self.predict(inputs, signature, version)
        ids, scores = out[contract.ITEM_IDS], out[contract.SCORES]
        return [
            [
                (i.decode("utf-8") if isinstance(i, bytes) else str(i), float(s))
                for i, s in zip(row_ids, row_scores)
                if i not in (b"", "")
            ]
            for row_ids, row_scores in zip(ids, scores)
        ]

    def append(
        self, users: Sequence[str], items: Sequence[str], k: Optional[int] = None, version: Optional[int] = None
    ) -> list[list[tuple[str, float]]]:
        """One more event per row, kept by the server (``append`` of streamable models, ``user_state.py``): each
        user's top ``k`` (default ``default_k``) after ``items``, as ``recommend`` returns them."""
        inputs = {
            contract.USER: np.array([u.encode() for u in users], dtype=object),
            contract.ITEM: np.array([i.encode() for i in items], dtype=object),
            contract.K: np.full(len(users), self.default_k if k is None else k, np.int32),
        }
        out = self.predict(inputs, contract.APPEND_SIGNATURE, version)
        return [
            [
                (i.decode("utf-8") if isinstance(i, bytes) else str(i), float(s))
                for i, s in zip(row_ids, row_scores)
                if i not in (b"", "")
            ]
            for row_ids, row_scores in zip(out[contract.ITEM_IDS], out[contract.SCORES])
        ]

    def reset(self, users: Sequence[str], version: Optional[int] = None) -> list[bool]:
        """Forgets the server's state of ``users``; whether each had one."""
        out = self.predict(
            {contract.USER: np.array([u.encode() for u in users], dtype=object)}, contract.RESET_SIGNATURE, version
        )
        return [bool(v) for v in out[contract.RESET]]

    def encode(
        self, histories: Sequence[Sequence[str]], version: Optional[int] = None, **features: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """Query embeddings ``[B, D]`` float32 (the ``encode_query`` signature); ``features`` as ``recommend``."""
        out = self.predict(self._history_inputs(histories, features), contract.ENCODE_SIGNATURE, version)
        return np.asarray(out[contract.QUERY], np.float32)

    def history_features(self, version: Optional[int] = None) -> list[str]:
        """The history features the served model takes next to ``history`` (``[]`` for models that read only
        item ids), from its ``serving_default`` signature in GetModelMetadata."""
        sig = self.metadata(version)["metadata"]["signature_def"]["signature_def"].get(contract.SERVING_SIGNATURE, {})
        return sorted(name for name in sig.get("inputs", {}) if name in contract.HISTORY_FEATURES)

    def row_features(self, version: Optional[int] = None) -> list[str]:
        """The per-row inputs the served model takes (``["target_event_type"]`` for a model with a target
        behaviour, else ``[]``), from GetModelMetadata."""
        sig = self.metadata(version)["metadata"]["signature_def"]["signature_def"].get(contract.SERVING_SIGNATURE, {})
        return sorted(name for name in sig.get("inputs", {}) if name in contract.ROW_FEATURES)

    @staticmethod
    def _history_inputs(histories, features) -> dict[str, np.ndarray]:
        inputs = {contract.HISTORY: _encode_histories(histories)}
        inputs.update({name: _encode_feature(name, rows, histories) for name, rows in features.items()})
        return inputs

    # -- generic ----------------------------------------------------------------------------------------
    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        signature: str = contract.SERVING_SIGNATURE,
        version: Optional[int] = None,
    ) -> dict[str, np.ndarray]:
        """Calls ``signature`` with numpy ``inputs`` (strings as object arrays of bytes); numpy outputs."""
        if self.protocol == GRPC:
            return self._grpc_predict(inputs, signature, version)
        return self._rest_predict(inputs, signature, version)

    def status(self, version: Optional[int] = None) -> list[dict]:
        """``[{"version": 2, "state": "AVAILABLE", "error_code": "OK", "error_message": ""}, ...]``."""
        if self.protocol == GRPC:
            from tensorflow_serving.apis import get_model_status_pb2

            request = get_model_status_pb2.GetModelStatusRequest()
            self._spec(request.model_spec, version)
            response = self._grpc_call(self._model_stub.GetModelStatus, request)
            state_name = get_model_status_pb2.ModelVersionStatus.State.Name
            code_field = (
                get_model_status_pb2.ModelVersionStatus.DESCRIPTOR.fields_by_name["status"]
                .message_type.fields_by_name["error_code"]
                .enum_type
            )
            return [
                {
                    "version": s.version,
                    "state": state_name(s.state),
                    "error_code": code_field.values_by_number[s.status.error_code].name,
                    "error_message": s.status.error_message,
                }
                for s in response.model_version_status
            ]
        body = self._http("GET", self._url(version))
        return [
            {
                "version": int(s["version"]),
                "state": s["state"],
                "error_code": s.get("status", {}).get("error_code", "OK"),
                "error_message": s.get("status", {}).get("error_message", ""),
            }
            for s in body.get("model_version_status", [])
        ]

    def metadata(self, version: Optional[int] = None) -> dict:
        """The REST JSON form of GetModelMetadata: ``{"model_spec": ..., "metadata": {"signature_def": ...}}``."""
        if self.protocol == GRPC:
            from tensorflow_serving.apis import get_model_metadata_pb2

            from tfseqrec.serving.responses import metadata_json

            request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
            self._spec(request.model_spec, version)
            return metadata_json(self._grpc_call(self._predict_stub.GetModelMetadata, request))
        return self._http("GET", self._url(version) + "/metadata")

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- gRPC -------------------------------------------------------------------------------------------
    def _spec(self, spec, version: Optional[int], signature: Optional[str] = None) -> None:
        spec.name = self.model
        if version is not None:
            spec.version.value = version
        if signature:
            spec.signature_name = signature

    def _grpc_call(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise ServingError(e.code().name, e.details() or str(e)) from None

    def _grpc_predict(self, inputs, signature, version):
        from tensorflow_serving.apis import predict_pb2

        from tfseqrec.serving.tensors import fill_tensor_proto, proto_shape, to_ndarray

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, version, signature)
        for name, value in inputs.items():
            fill_tensor_proto(request.inputs[name], np.asarray(value))
        response = self._grpc_call(self._predict_stub.Predict, request)
        return {name: to_ndarray(tp, name, proto_shape(tp, name)) for name, tp in response.outputs.items()}

    # -- REST -------------------------------------------------------------------------------------------
    def _url(self, version: Optional[int]) -> str:
        url = f"{self._base}/v1/models/{urllib.parse.quote(self.model, safe='')}"
        return url + (f"/versions/{version}" if version is not None else "")

    def _http(self, method: str, url: str, body: Optional[dict] = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
            return json.loads(payload)
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("error", e.reason)
            except ValueError:
                message = str(e.reason)
            raise ServingError(CODE_OF_HTTP.get(e.code, "UNKNOWN"), message, e.code) from None
        except ValueError as e:
            raise ServingError("INTERNAL", f"{url} answered with invalid JSON: {e}") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            code = "DEADLINE_EXCEEDED" if isinstance(reason, socket.timeout) else "UNAVAILABLE"
            raise ServingError(code, f"cannot reach {url}: {reason}") from None

    def _rest_predict(self, inputs, signature, version):
        columns = {}
        for name, value in inputs.items():
            arr = np.asarray(value)
            columns[name] = (
                [[v.decode("utf-8") for v in row] for row in arr]
                if arr.dtype == STRING and arr.ndim == 2
                else [v.decode("utf-8") for v in arr]
                if arr.dtype == STRING and arr.ndim == 1
                else arr.tolist()
            )
        body = self._http("POST", self._url(version) + ":predict", {"signature_name": signature, "inputs": columns})
        outputs = body.get("outputs") if isinstance(body, dict) else None
        if outputs is None:
            raise ServingError("INTERNAL", f'the server\'s predict response has no "outputs": {str(body)[:200]}')
        if not isinstance(outputs, dict):  # a single-output signature returns the bare value: find its name
            outputs = {self._single_output_name(signature, version): outputs}
        result = {}
        for name, value in outputs.items():
            arr = np.array(value, dtype=object if _is_text(value) else None)
            if arr.dtype == object:
                arr = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(arr) if arr.size else arr
            elif arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            result[name] = arr
        return result

    def _single_output_name(self, signature: str, version: Optional[int]) -> str:
        if signature not in self._output_names:
            sig = self.metadata(version)["metadata"]["signature_def"]["signature_def"].get(signature, {})
            self._output_names[signature] = list(sig.get("outputs", {}))
        names = self._output_names[signature]
        return names[0] if len(names) == 1 else "output"


def _is_text(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, str)
