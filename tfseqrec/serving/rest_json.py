"""TF Serving's REST JSON tensor format <-> numpy, for the signature being called.

Request values are converted to each input's dtype (JSON strings or ``{"b64": ...}`` for DT_STRING, integers
for int types, ``true``/``false`` for DT_BOOL, numbers for floats). Our one extension: ragged ``history`` rows
(``[["a", "b"], ["c"]]``) are padded on the left with ``""`` to a common width, since users' histories differ
in length, and the rows of its history features (``"timestamps": [[t1, t2], [t3]]``, see ``contract.py``) on
the left with 0, so they stay aligned; each of their rows must have as many values as its history row.
Responses follow TF Serving: row format (``instances``) -> ``{"predictions": ...}``, a list with a dict per
row unless the signature has a single output; columnar (``inputs``) -> ``{"outputs": ...}``, a dict unless
single. String outputs are text (``{"b64": ...}`` for outputs named ``*_bytes``).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Mapping, Optional

import numpy as np

from tfseqrec.export import contract
from tfseqrec.serving.errors import ServingError, invalid
from tfseqrec.serving.predict import Limits, check_input_names, check_shape, is_history_feature
from tfseqrec.serving.servable import Signature, TensorSpec
from tfseqrec.serving.tensors import STRING, dtype_name, string_array

ROW, COLUMNAR = "row", "columnar"


def _bytes(value: Any, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid(f"input {name!r}: {value['b64'][:40]!r} is not valid base64") from None
    raise invalid(
        f'input {name!r} is DT_STRING: expected JSON strings (or {{"b64": ...}}); got '
        f"{type(value).__name__} {str(value)[:40]}"
    )


def _shape_of(value: Any, rank: int) -> tuple[int, ...]:
    """The nested-list shape of ``value`` down to ``rank`` levels (the first element's lengths)."""
    shape, v = [], value
    for _ in range(rank):
        if not isinstance(v, list):
            break
        shape.append(len(v))
        if not v:
            break
        v = v[0]
    return tuple(shape)


def _history(value: Any, spec: TensorSpec, limits: Limits) -> np.ndarray:
    """A rank-2 string input from a list of (possibly ragged) rows of strings."""
    if not isinstance(value, list) or any(not isinstance(row, list) for row in value):
        raise invalid(
            f"input {spec.name!r} must be a list of rows, each a list of item ids (shape [batch, history_length])"
        )
    check_shape(spec, (len(value), max([len(r) for r in value] + [0])), limits)
    rows = [[_bytes(v, spec.name) for v in row] for row in value]
    return string_array(rows)


def _history_feature(value: Any, spec: TensorSpec, limits: Limits) -> np.ndarray:
    """A rank-2 numeric history feature from (possibly ragged) rows, left-padded with 0 like ``history``."""
    if not isinstance(value, list) or any(not isinstance(row, list) for row in value):
        raise invalid(
            f"input {spec.name!r} must be a list of rows, each with one value per history entry "
            f"(shape [batch, history_length])"
        )
    width = max([len(r) for r in value] + [0])
    check_shape(spec, (len(value), width), limits)
    out = np.zeros((len(value), max(width, 1)), spec.np_dtype)  # width >= 1, as an empty history row
    for i, row in enumerate(value):
        if row:
            out[i, out.shape[1] - len(row) :] = _numeric(row, spec, spec.np_dtype)
    return out


def _check_aligned(columns: Mapping[str, Any]) -> None:
    """Each history feature row has as many values as its ``history`` row (checked before padding hides it)."""
    history = columns.get(contract.HISTORY)
    if history is None:
        return
    for name, rows in columns.items():
        if not is_history_feature(name):
            continue
        for i, (items, values) in enumerate(zip(history, rows)):
            if isinstance(items, list) and isinstance(values, list) and len(items) != len(values):
                raise invalid(
                    f"input {name!r} row {i} has {len(values)} values but 'history' row {i} has "
                    f"{len(items)} entries; send one value per history entry (0 at padding)"
                )


def _numeric(value: Any, spec: TensorSpec, np_dtype: np.dtype) -> np.ndarray:
    kind = np_dtype.kind
    flat = list(_flatten(value))
    for v in flat:
        ok = (
            isinstance(v, bool)
            if kind == "b"
            else (isinstance(v, int) and not isinstance(v, bool))
            if kind in "iu"
            else (isinstance(v, (int, float)) and not isinstance(v, bool))
        )
        if not ok:
            raise invalid(f"input {spec.name!r} is {dtype_name(spec.dtype)}: got {type(v).__name__} {v!r}")
    try:
        arr = np.array(value, dtype=np_dtype if kind != "i" else np.int64)
    except (ValueError, OverflowError) as e:
        raise invalid(f"input {spec.name!r} is not a regular {dtype_name(spec.dtype)} tensor: {e}") from None
    if kind == "i":
        info = np.iinfo(np_dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise invalid(f"input {spec.name!r}: a value is out of range for {dtype_name(spec.dtype)}")
        arr = arr.astype(np_dtype)
    return arr


def _flatten(value: Any):
    if isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def to_array(value: Any, spec: TensorSpec, limits: Limits) -> np.ndarray:
    """One input's JSON value (all rows) as a numpy array of the signature's dtype, shape-checked."""
    np_dtype = spec.np_dtype
    if np_dtype is None:
        raise invalid(
            f"input {spec.name!r} has dtype {dtype_name(spec.dtype)}, which the REST API here "
            "does not support; use gRPC"
        )
    if np_dtype == STRING and spec.rank == 2 and spec.name == contract.HISTORY:
        return _history(value, spec, limits)
    if np_dtype != STRING and spec.rank == 2 and is_history_feature(spec.name):
        return _history_feature(value, spec, limits)
    rank = spec.rank if spec.rank is not None else 32
    check_shape(spec, _shape_of(value, rank), limits)  # cheap guard before building anything
    if np_dtype == STRING:
        flat = [_bytes(v, spec.name) for v in _flatten(value)]
        shape = _shape_of(value, rank)
        if math.prod(shape) != len(flat):
            raise invalid(f"input {spec.name!r} is not a regular tensor (rows of different lengths)")
        arr = np.empty(len(flat), STRING)
        arr[:] = flat
        arr = arr.reshape(shape)
    else:
        arr = _numeric(value, spec, np_dtype)
    check_shape(spec, arr.shape, limits)
    return arr


def parse_predict_body(body: Any, sig_for: Any, limits: Limits) -> tuple[Signature, dict[str, np.ndarray], str]:
    """``(signature, inputs, format)`` from a decoded predict body; ``sig_for(name)`` resolves the signature."""
    if not isinstance(body, dict):
        raise invalid('the request body must be a JSON object with "instances" or "inputs"')
    unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise invalid(
            f"unknown key(s) {', '.join(map(repr, unknown))} in the request body; "
            'expected "signature_name" and "instances" or "inputs"'
        )
    name = body.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid('"signature_name" must be a string')
    if ("instances" in body) == ("inputs" in body):
        raise invalid(
            'the request body must have exactly one of "instances" (row format) and "inputs" (columnar format)'
        )
    sig: Signature = sig_for(name)
    try:
        if "instances" in body:
            return sig, _columns_from_instances(body["instances"], sig, limits), ROW
        return sig, _columns_from_inputs(body["inputs"], sig, limits), COLUMNAR
    except RecursionError:
        raise invalid("an input is nested far deeper than its signature's rank") from None


def _columns_from_instances(instances: Any, sig: Signature, limits: Limits) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise invalid('"instances" must be a non-empty list with one entry per row')
    if len(instances) > limits.max_batch_rows:
        raise invalid(
            f'"instances" has {len(instances)} rows; this server takes at most {limits.max_batch_rows} per request'
        )
    names = list(sig.inputs)
    if all(isinstance(inst, dict) for inst in instances):
        for i, inst in enumerate(instances):
            if set(inst) != set(names):
                try:
                    check_input_names(sig, inst)
                except ServingError as e:
                    raise invalid(f"instance {i}: {e.message}") from None
        return _to_arrays({n: [inst[n] for inst in instances] for n in names}, sig, limits)
    if len(names) != 1:
        raise invalid(
            f"signature {sig.name!r} takes {len(names)} inputs ({', '.join(names)}): each instance "
            "must be a JSON object naming them"
        )
    return {names[0]: to_array(instances, sig.inputs[names[0]], limits)}


def _columns_from_inputs(inputs: Any, sig: Signature, limits: Limits) -> dict[str, np.ndarray]:
    names = list(sig.inputs)
    if isinstance(inputs, dict):
        check_input_names(sig, inputs)
        return _to_arrays({n: inputs[n] for n in names}, sig, limits)
    if len(names) != 1:
        raise invalid(
            f'signature {sig.name!r} takes {len(names)} inputs ({", ".join(names)}): "inputs" '
            "must be a JSON object naming them"
        )
    return {names[0]: to_array(inputs, sig.inputs[names[0]], limits)}


def _to_arrays(columns: Mapping[str, Any], sig: Signature, limits: Limits) -> dict[str, np.ndarray]:
    """Every input's JSON value (all rows) as an array (``to_array``), history features aligned with ``history``."""
    arrays = {n: to_array(value, sig.inputs[n], limits) for n, value in columns.items()}
    _check_aligned(columns)
    return arrays


def _json_value(name: str, arr: np.ndarray) -> Any:
    if arr.dtype == STRING:
        if name.endswith("_bytes"):
            conv = [{"b64": base64.b64encode(v).decode("ascii")} for v in arr.ravel().tolist()]
        else:
            conv = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel().tolist()]
        out = np.empty(len(conv), object)
        out[:] = conv
        return out.reshape(arr.shape).tolist()
    return arr.tolist()


def format_outputs(outputs: Mapping[str, np.ndarray], fmt: str) -> dict:
    """The response body for ``outputs`` in the request's format (see the module docstring)."""
    if fmt == COLUMNAR:
        values = {n: _json_value(n, a) for n, a in outputs.items()}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(outputs) == 1:
        ((name, arr),) = outputs.items()
        return {"predictions": _json_value(name, arr)}
    rows: Optional[int] = None
    for name, arr in outputs.items():
        if arr.ndim == 0 or (rows is not None and arr.shape[0] != rows):
            raise invalid(
                "the outputs do not share a batch size, so they cannot be returned in row format; "
                'send the request in columnar format ("inputs")'
            )
        rows = arr.shape[0]
    values = {n: _json_value(n, a) for n, a in outputs.items()}
    return {"predictions": [{n: v[i] for n, v in values.items()} for i in range(rows or 0)]}
