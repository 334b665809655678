"""GetModelStatus and GetModelMetadata responses as protos, shared by the gRPC and REST front ends.

REST returns their JSON form the way TF Serving prints it: snake_case field names, default values printed,
and the metadata's ``signature_def`` ``Any`` unpacked into ``{"signature_def": {"signature_def": {...}}}``.
"""

from __future__ import annotations

from typing import Optional

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from tfseqrec.serving.errors import ServingError, invalid
from tfseqrec.serving.manager import ModelManager

SIGNATURE_DEF = "signature_def"


def requested_version(spec: model_pb2.ModelSpec) -> Optional[int]:
    """``model_spec.version`` when set; version labels are not supported."""
    choice = spec.WhichOneof("version_choice")
    if choice == "version_label":
        raise ServingError(
            "UNIMPLEMENTED",
            f"version labels are not supported (got {spec.version_label!r}); "
            "use model_spec.version or leave it unset for the latest",
        )
    return spec.version.value if choice == "version" else None


def model_name(spec: model_pb2.ModelSpec) -> str:
    if not spec.name:
        raise invalid("model_spec.name is empty; name the model to call")
    return spec.name


def status_response(
    manager: ModelManager, name: str, version: Optional[int]
) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for st in manager.status(name, version):
        entry = response.model_version_status.add()
        entry.version = st.version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(st.state)
        entry.status.error_code = (
            entry.status.DESCRIPTOR.fields_by_name["error_code"].enum_type.values_by_name[st.error_code].number
        )
        entry.status.error_message = st.error_message
    return response


def metadata_response(
    manager: ModelManager, name: str, version: Optional[int], fields: tuple[str, ...] = (SIGNATURE_DEF,)
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    if not fields:
        raise invalid('GetModelMetadataRequest must specify at least one metadata_field; use "signature_def"')
    for field in fields:
        if field != SIGNATURE_DEF:
            raise invalid(f'metadata field {field!r} is not supported; use "signature_def"')
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    with manager.hold(name, version) as servable:
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata[SIGNATURE_DEF].Pack(servable.signature_defs)
    return response


def status_json(response: get_model_status_pb2.GetModelStatusResponse) -> dict:
    return json_format.MessageToDict(
        response, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


def metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> dict:
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF].Unpack(signature_defs)
    opts = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    return {
        "model_spec": json_format.MessageToDict(response.model_spec, **opts),
        "metadata": {SIGNATURE_DEF: json_format.MessageToDict(signature_defs, **opts)},
    }
