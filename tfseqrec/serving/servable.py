"""One loaded, warmed-up version of a model: its signatures, their input specs, batchers and in-flight count.

The input specs (dtype enum, shape with ``None`` for unknown dims) and the ``SignatureDefMap`` come from
``saved_model.pb`` itself (what GetModelMetadata reports and what TF Serving validates against); each signature
runs as TF Serving runs it, on its SignatureDef's tensor names in the version's own session
(``session_runner``), one callable per signature bound at load.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from typing import Callable, Mapping, Optional

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from tfseqrec.export import contract
from tfseqrec.serving.batching import Batcher, BatchingOptions
from tfseqrec.serving.errors import ServingError
from tfseqrec.serving.session_runner import SessionOptions, SignatureRunner
from tfseqrec.serving.tensors import STRING, dtype_name, numpy_dtype

log = logging.getLogger(__name__)
BATCHED_SIGNATURES = (contract.SERVING_SIGNATURE, contract.RECOMMEND_SIGNATURE)
INIT_OP_SIGNATURE = "__saved_model_init_op"


class LoadError(Exception):
    """A version that cannot be served; ``code`` is the ``tensorflow.error.Code`` name for its status."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A signature tensor: ``dtype`` is a TF ``DataType`` enum; ``shape`` None = unknown rank, dims None = any."""

    name: str
    dtype: int
    shape: Optional[tuple[Optional[int], ...]]

    @property
    def rank(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)

    @property
    def np_dtype(self) -> Optional[np.dtype]:
        return numpy_dtype(self.dtype)

    def describe(self) -> str:
        dims = "?" if self.shape is None else "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"
        return f"{dtype_name(self.dtype)} {dims}"


@dataclasses.dataclass(frozen=True, eq=False)
class Signature:
    name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    batched: bool
    stateful: bool = False  # answered by the server's user state (``user_state.py``), not by one SavedModel call


def _vector(name: str, dtype: int) -> TensorSpec:
    return TensorSpec(name, dtype, (None,))


def stateful_signatures() -> dict[str, Signature]:
    """``append`` and ``reset`` (``user_state.py``), offered for exports with the stream signatures."""
    top = {
        contract.ITEM_IDS: TensorSpec(contract.ITEM_IDS, types_pb2.DT_STRING, (None, None)),
        contract.SCORES: TensorSpec(contract.SCORES, types_pb2.DT_FLOAT, (None, None)),
    }
    append = {
        contract.USER: _vector(contract.USER, types_pb2.DT_STRING),
        contract.ITEM: _vector(contract.ITEM, types_pb2.DT_STRING),
        contract.K: _vector(contract.K, types_pb2.DT_INT32),
    }
    return {
        contract.APPEND_SIGNATURE: Signature(contract.APPEND_SIGNATURE, append, top, False, True),
        contract.RESET_SIGNATURE: Signature(
            contract.RESET_SIGNATURE,
            {contract.USER: _vector(contract.USER, types_pb2.DT_STRING)},
            {contract.RESET: _vector(contract.RESET, types_pb2.DT_BOOL)},
            False,
            True,
        ),
    }


def _describe(sig_def, sig: Signature) -> None:
    """Fills a ``SignatureDef`` proto for a signature the server offers itself (``stateful_signatures``)."""
    sig_def.method_name = "tensorflow/serving/predict"
    for specs, infos in ((sig.inputs, sig_def.inputs), (sig.outputs, sig_def.outputs)):
        for name, spec in specs.items():
            info = infos[name]
            info.name = f"{sig.name}/{name}"
            info.dtype = spec.dtype
            for size in spec.shape:
                info.tensor_shape.dim.add(size=-1 if size is None else size)


def _spec(name: str, info) -> TensorSpec:
    shape = (
        None if info.tensor_shape.unknown_rank else tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)
    )
    return TensorSpec(name, info.dtype, shape)


def read_signature_defs(path: str):
    """The ``SignatureDefMap`` of the ``serve`` meta graph in ``path/saved_model.pb`` (or ``.pbtxt``)."""
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    pb, pbtxt = os.path.join(path, "saved_model.pb"), os.path.join(path, "saved_model.pbtxt")
    saved_model = saved_model_pb2.SavedModel()
    try:
        if tf.io.gfile.exists(pb):
            saved_model.ParseFromString(tf.io.gfile.GFile(pb, "rb").read())
        elif tf.io.gfile.exists(pbtxt):
            text_format.Parse(tf.io.gfile.GFile(pbtxt).read(), saved_model)
        else:
            raise LoadError("NOT_FOUND", f"no saved_model.pb in {path}")
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as e:
        raise LoadError("DATA_LOSS", f"{pb} is not a valid SavedModel proto: {e}") from None
    if not saved_model.meta_graphs:
        raise LoadError("DATA_LOSS", f"{pb} holds no meta graph")
    graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags] or list(saved_model.meta_graphs)
    result = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in graphs[0].signature_def.items():
        result.signature_def[key].CopyFrom(sig)
    return result


def _register_custom_ops() -> None:
    """ScaNN exports need ScaNN's ops registered before loading (TFRS issues #182/#297)."""
    try:
        import scann  # noqa: F401
    except ImportError:
        pass


def _read_export_info(path: str) -> dict:
    info_path = os.path.join(path, contract.EXPORT_INFO_FILE)
    try:
        if tf.io.gfile.exists(info_path):
            info = json.loads(tf.io.gfile.GFile(info_path).read())
            return info if isinstance(info, dict) else {}
    except (ValueError, OSError) as e:
        log.warning("ignoring unreadable %s: %s", info_path, e)
    return {}


def _recommends(key: str, inputs: Mapping[str, TensorSpec]) -> bool:
    """A signature of ``BATCHED_SIGNATURES`` with a ``history`` string ``[B, H]`` and a batch axis on every input."""
    history = inputs.get(contract.HISTORY)
    return (
        key in BATCHED_SIGNATURES
        and history is not None
        and history.dtype == types_pb2.DT_STRING
        and history.rank == 2
        and all(s.rank and s.rank >= 1 for s in inputs.values())
    )


def _dummy_inputs(sig: Signature) -> dict[str, np.ndarray]:
    """One small row per input: padding-only history, k=1, exclude_seen=True (zeros for anything else, such as
    history features)."""
    out = {}
    for name, spec in sig.inputs.items():
        shape = tuple(1 if d is None else d for d in (spec.shape or (1,)))
        if spec.dtype == types_pb2.DT_STRING:
            out[name] = np.full(shape, contract.PADDING_TOKEN.encode(), STRING)
        elif name == contract.K:
            out[name] = np.ones(shape, spec.np_dtype)
        elif name == contract.EXCLUDE_SEEN:
            out[name] = np.ones(shape, np.bool_)
        else:
            out[name] = np.zeros(shape, spec.np_dtype or np.float32)
    return out


class Servable:
    """A loaded version. ``run`` calls a signature now; ``predict`` goes through its batcher when it has one.

    Requests hold it between ``try_acquire()`` and ``release()``; ``close()`` refuses new holders, waits for
    the current ones (in-flight requests on an old version finish normally), then stops its batchers.
    """

    def __init__(
        self,
        name: str,
        version: int,
        path: str,
        runner: SignatureRunner,
        signature_defs,
        batching: BatchingOptions,
        export_info: Optional[dict] = None,
        on_batch: Optional[Callable[[str, int, int], None]] = None,
    ):
        """``on_batch(signature, requests, rows)`` is told of each merged model call (metrics)."""
        self.name, self.version, self.path = name, version, path
        self.signature_defs = signature_defs  # get_model_metadata_pb2.SignatureDefMap
        self.export_info = export_info or {}  # assets.extra/tfseqrec_export.json, for logs and clients
        self._runner = runner
        self._fns = {}
        self.signatures: dict[str, Signature] = {}
        for key, sig_def in signature_defs.signature_def.items():
            if key == INIT_OP_SIGNATURE or key not in runner.meta_graph.signature_def:
                continue
            inputs = {n: _spec(n, i) for n, i in sig_def.inputs.items()}
            outputs = {n: _spec(n, i) for n, i in sig_def.outputs.items()}
            self.signatures[key] = Signature(key, inputs, outputs, _recommends(key, inputs))
            self._fns[key] = runner.callable(runner.meta_graph.signature_def[key])
        self._batchers = {
            key: Batcher(
                f"{name}/{version}/{key}",
                lambda x, key=key: self.run(key, x),
                batching,
                None if on_batch is None else (lambda requests, rows, key=key: on_batch(key, requests, rows)),
            )
            for key, sig in self.signatures.items()
            if sig.batched
        }
        if contract.STREAM_START_SIGNATURE in self.signatures and contract.STREAM_APPEND_SIGNATURE in self.signatures:
            for key, sig in stateful_signatures().items():
                self.signatures[key] = sig
                _describe(signature_defs.signature_def[key], sig)  # so GetModelMetadata lists them too
        self.stateful = None  # user_state.StatefulSignatures, set by the model manager when the server keeps state
        self._cond = threading.Condition()
        self._inflight = 0
        self._closing = False

    # -- execution --------------------------------------------------------------------------------------
    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls ``signature`` once on ``inputs`` (numpy, validated) and returns numpy outputs."""
        try:
            return self._fns[signature](inputs)
        except tf.errors.OpError as e:
            raise ServingError(_code_name(e.error_code), f"signature {signature!r} failed: {e.message}") from None

    def predict(self, signature: str, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        if self.signatures[signature].stateful:
            if self.stateful is None:
                raise ServingError(
                    "FAILED_PRECONDITION", f"signature {signature!r} needs the server's user state, which is off"
                )
            return self.stateful(self, signature, inputs)
        batcher = self._batchers.get(signature)
        if batcher is not None:
            return batcher.submit(inputs, rows)
        return self.run(signature, inputs)

    def batcher(self, signature: str) -> Optional[Batcher]:
        return self._batchers.get(signature)

    def warm_up(self) -> None:
        """One small call of each recommending signature (``serving_default`` first), off the request path."""
        keys = [key for key, sig in self.signatures.items() if _recommends(key, sig.inputs)]
        for key in sorted(keys, key=lambda k: k != contract.SERVING_SIGNATURE):
            try:
                self.run(key, _dummy_inputs(self.signatures[key]))
            except Exception as e:  # noqa: BLE001
                raise LoadError("INTERNAL", f"warm-up call of signature {key!r} failed: {e}") from None

    # -- lifetime ---------------------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        with self._cond:
            if self._closing:
                return False
            self._inflight += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._inflight -= 1
            if self._closing and self._inflight == 0:
                self._cond.notify_all()

    def close(self, timeout: Optional[float] = None) -> bool:
        """Stops serving; False if in-flight requests were still running when ``timeout`` ran out."""
        with self._cond:
            self._closing = True
            drained = self._cond.wait_for(lambda: self._inflight == 0, timeout)
        for b in self._batchers.values():
            drained = b.close(timeout) and drained
        self._fns = {}
        self._runner.close()
        return drained


def _code_name(error_code: int) -> str:
    from tensorflow.core.protobuf import error_codes_pb2

    try:
        return error_codes_pb2.Code.Name(error_code)
    except ValueError:
        return "UNKNOWN"


def load_servable(
    name: str,
    version: int,
    path: str,
    batching: BatchingOptions,
    on_batch: Optional[Callable[[str, int, int], None]] = None,
    session: SessionOptions = SessionOptions(),
) -> Servable:
    """Loads, checks and warms up ``path``; raises LoadError with a status code and a clear message.
    ``on_batch(signature, requests, rows)`` is told of each merged model call; ``session``: its threads."""
    signature_defs = read_signature_defs(path)
    _register_custom_ops()
    try:
        runner = SignatureRunner(path, session)
    except tf.errors.OpError as e:
        raise LoadError(_code_name(e.error_code), f"cannot load SavedModel {path}: {e.message}") from None
    except Exception as e:  # noqa: BLE001  (corrupt files raise many kinds of errors)
        raise LoadError("UNKNOWN", f"cannot load SavedModel {path}: {type(e).__name__}: {e}") from None
    try:
        servable = Servable(name, version, path, runner, signature_defs, batching, _read_export_info(path), on_batch)
        if not servable.signatures:
            raise LoadError("FAILED_PRECONDITION", f"SavedModel {path} has no signatures to serve")
        servable.warm_up()
    except BaseException:
        runner.close()
        raise
    return servable
