"""TF Serving's gRPC services: ``PredictionService`` (Predict, GetModelMetadata) and ``ModelService``
(GetModelStatus), on the real ``tensorflow_serving.apis`` stubs so any TF Serving client works unchanged.

Classify, Regress, MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED. Errors abort the call
with the ``ServingError``'s status code (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ...) and message.

A successful Predict carries the time the server spent in it as trailing metadata ``server-timing:
predict;dur=<milliseconds>`` (the HTTP ``Server-Timing`` syntax; the REST API sends the same header): checks,
batching and the model call, without gRPC's own transport and (de)serialisation. Clients that do not look
for it are unaffected (``response, call = stub.Predict.with_call(request)``; ``call.trailing_metadata()``).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional, TypeVar

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

from tfseqrec.serving import predict as checks
from tfseqrec.serving.errors import ServingError
from tfseqrec.serving.manager import ModelManager
from tfseqrec.serving.monitoring import Monitor, RequestLabels
from tfseqrec.serving.responses import metadata_response, model_name, requested_version, status_response
from tfseqrec.serving.tensors import fill_tensor_proto, proto_shape, to_ndarray

log = logging.getLogger(__name__)
T = TypeVar("T")


def _call(
    context: grpc.ServicerContext, method: str, fn: Callable[[], T], done: Optional[Callable[[str], None]] = None
) -> T:
    """Runs ``fn``; a ServingError aborts with its code, anything else with INTERNAL (logged). ``done(code)``
    hears the outcome's status code name before the call returns or aborts."""
    try:
        result = fn()
    except ServingError as e:
        code, message = grpc.StatusCode[e.code], e.message
    except Exception as e:  # noqa: BLE001  (a bug must not look like a hang to the client)
        log.exception("%s failed", method)
        code, message = grpc.StatusCode.INTERNAL, f"internal error in {method}: {type(e).__name__}: {e}"
    else:
        if done is not None:
            done("OK")
        return result
    if done is not None:
        done(code.name)
    context.abort(code, message)


def predict(
    manager: ModelManager,
    limits: checks.Limits,
    request: predict_pb2.PredictRequest,
    labels: Optional[RequestLabels] = None,
    monitor: Monitor = Monitor(),
) -> predict_pb2.PredictResponse:
    """Answers one Predict; ``labels`` (when given) learn the version and signature it resolved to."""
    labels = labels or RequestLabels("GRPC")
    name = model_name(request.model_spec)
    labels.model = name
    with manager.hold(name, requested_version(request.model_spec)) as servable:
        labels.version = str(servable.version)
        limits = limits.for_model(servable.export_info)
        sig = checks.resolve_signature(servable, request.model_spec.signature_name)
        labels.signature = sig.name
        inputs = request.inputs
        checks.check_input_names(sig, inputs.keys())
        arrays = {}
        for key, tp in inputs.items():
            spec = sig.inputs[key]
            checks.check_dtype(spec, tp.dtype)
            shape = proto_shape(tp, key)
            checks.check_shape(spec, shape, limits)
            arrays[key] = to_ndarray(tp, key, shape)
        outputs = checks.run(servable, sig, arrays, limits, request.output_filter)
        version = servable.version
    monitor.served(labels, arrays)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = name
    response.model_spec.version.value = version
    response.model_spec.signature_name = sig.name
    for key, value in outputs.items():
        fill_tensor_proto(response.outputs[key], value)
    return response


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager, limits: checks.Limits, monitor: Monitor = Monitor()):
        self._manager, self._limits, self._monitor = manager, limits, monitor

    def Predict(self, request, context):
        start = time.perf_counter()
        labels = RequestLabels("GRPC")

        def done(code: str) -> None:
            self._monitor.request_done(labels, code, time.perf_counter() - start)

        response = _call(
            context, "Predict", lambda: predict(self._manager, self._limits, request, labels, self._monitor), done
        )
        elapsed = time.perf_counter() - start
        context.set_trailing_metadata(((checks.SERVER_TIMING, checks.server_timing(elapsed)),))
        return response

    def GetModelMetadata(self, request, context):
        def run():
            if not request.HasField("model_spec"):
                raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
            return metadata_response(
                self._manager,
                model_name(request.model_spec),
                requested_version(request.model_spec),
                tuple(request.metadata_field),
            )

        return _call(context, "GetModelMetadata", run)

    def Classify(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Classify is not supported by tfseqrec serve; use Predict")

    def Regress(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Regress is not supported by tfseqrec serve; use Predict")

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported by tfseqrec serve; use Predict")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self._manager = manager

    def GetModelStatus(self, request, context):
        def run():
            if not request.HasField("model_spec"):
                raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
            return status_response(self._manager, model_name(request.model_spec), requested_version(request.model_spec))

        return _call(context, "GetModelStatus", run)

    def HandleReloadConfigRequest(self, request, context):
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "config reload is not supported; restart `tfseqrec serve` with the new models.config "
            "(new versions of configured models are picked up automatically)",
        )


def add_services(
    server: grpc.Server, manager: ModelManager, limits: checks.Limits, monitor: Monitor = Monitor()
) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, limits, monitor), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), server)
