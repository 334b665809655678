"""TensorProto <-> numpy without TensorFlow on the hot path.

Strings are numpy ``object`` arrays of ``bytes``. Common dtypes read and write the typed repeated fields
(``string_val``, ``int_val``, ``float_val``, ``bool_val``, ...) or ``tensor_content`` directly, which is much
faster than ``tf.make_tensor_proto`` / ``tf.make_ndarray``; anything else falls back to TensorFlow.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from tfseqrec.serving.errors import invalid

STRING = np.dtype(object)
# TF DataType enum -> (numpy dtype, name of the TensorProto repeated field holding it).
_FIELDS = {
    types_pb2.DT_STRING: (STRING, "string_val"),
    types_pb2.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    types_pb2.DT_INT32: (np.dtype(np.int32), "int_val"),
    types_pb2.DT_INT16: (np.dtype(np.int16), "int_val"),
    types_pb2.DT_INT8: (np.dtype(np.int8), "int_val"),
    types_pb2.DT_UINT8: (np.dtype(np.uint8), "int_val"),
    types_pb2.DT_INT64: (np.dtype(np.int64), "int64_val"),
    types_pb2.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
}
_ENUM_OF_NUMPY = {np_dtype: enum for enum, (np_dtype, _) in _FIELDS.items()}
# Numeric outputs up to this many values use the typed fields (like TF Serving); larger ones tensor_content.
FIELD_LIMIT = 1 << 16


def dtype_name(enum: int) -> str:
    """``"DT_INT32"`` for ``types_pb2.DT_INT32``."""
    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return f"DataType({enum})"


def numpy_dtype(enum: int) -> Optional[np.dtype]:
    entry = _FIELDS.get(enum)
    return entry[0] if entry else None


def dtype_enum(arr: np.ndarray) -> int:
    if arr.dtype == STRING:
        return types_pb2.DT_STRING
    return _ENUM_OF_NUMPY.get(arr.dtype, types_pb2.DT_INVALID)


def proto_shape(tp: tensor_pb2.TensorProto, name: str) -> tuple[int, ...]:
    """The shape of ``tp``; rejects unknown rank and negative sizes (a request tensor must be concrete)."""
    if tp.tensor_shape.unknown_rank:
        raise invalid(f"input {name!r} has an unknown rank; send a tensor with a concrete shape")
    shape = tuple(d.size for d in tp.tensor_shape.dim)
    if any(s < 0 for s in shape):
        raise invalid(f"input {name!r} has a negative dimension in shape {list(shape)}")
    return shape


def to_ndarray(tp: tensor_pb2.TensorProto, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The numpy value of request tensor ``tp`` (already known to have ``shape``)."""
    entry = _FIELDS.get(tp.dtype)
    if entry is None:
        return _fallback(tp, name)
    np_dtype, field = entry
    n = math.prod(shape)
    if tp.tensor_content and np_dtype is not STRING:
        if len(tp.tensor_content) != n * np_dtype.itemsize:
            raise invalid(
                f"input {name!r}: tensor_content has {len(tp.tensor_content)} bytes, "
                f"shape {list(shape)} of {dtype_name(tp.dtype)} needs {n * np_dtype.itemsize}"
            )
        return np.frombuffer(tp.tensor_content, np_dtype).reshape(shape)
    values = getattr(tp, field)
    count = len(values)
    if count == n:
        if np_dtype is STRING:
            arr = np.empty(n, STRING)
            arr[:] = list(values)
            return arr.reshape(shape)
        return np.array(values, np_dtype).reshape(shape)
    if count == 1 and n > 1:  # a single value fills the tensor (TensorProto semantics)
        return np.full(shape, values[0], np_dtype)
    raise invalid(f"input {name!r} has {count} values in {field} but its shape {list(shape)} needs {n}")


def _fallback(tp: tensor_pb2.TensorProto, name: str) -> np.ndarray:
    import tensorflow as tf

    try:
        return tf.make_ndarray(tp)
    except Exception as e:  # noqa: BLE001  (any malformed tensor is the client's error)
        raise invalid(f"input {name!r} is not a valid {dtype_name(tp.dtype)} TensorProto: {e}") from None


def fill_tensor_proto(tp: tensor_pb2.TensorProto, arr: np.ndarray) -> None:
    """Writes ``arr`` into the (empty) response tensor ``tp``."""
    enum = dtype_enum(arr)
    dims = tp.tensor_shape.dim
    for s in arr.shape:
        dims.add().size = s
    if enum == types_pb2.DT_STRING:
        tp.dtype = enum
        tp.string_val.extend(arr.ravel().tolist())
        return
    if enum == types_pb2.DT_INVALID:
        import tensorflow as tf

        tp.CopyFrom(tf.make_tensor_proto(arr))
        return
    tp.dtype = enum
    if arr.size > FIELD_LIMIT:
        tp.tensor_content = np.ascontiguousarray(arr).tobytes()
    else:
        getattr(tp, _FIELDS[enum][1]).extend(arr.ravel().tolist())


def make_tensor_proto(arr: np.ndarray) -> tensor_pb2.TensorProto:
    tp = tensor_pb2.TensorProto()
    fill_tensor_proto(tp, arr)
    return tp


def string_array(rows: list[list], width: Optional[int] = None, pad: bytes = b"") -> np.ndarray:
    """A ``[len(rows), width]`` object array of bytes; short rows are padded on the left with ``pad``.

    Left padding keeps the latest items at the end of each row, the usual layout of a history.
    ``width`` defaults to the longest row, at least 1 (an empty history is a row of one padding token).
    """
    width = max([len(r) for r in rows] + [1]) if width is None else width
    arr = np.full((len(rows), width), pad, STRING)
    for i, row in enumerate(rows):
        if row:
            arr[i, width - len(row) :] = row
    return arr


__all__ = [
    "STRING",
    "dtype_name",
    "numpy_dtype",
    "dtype_enum",
    "proto_shape",
    "to_ndarray",
    "fill_tensor_proto",
    "make_tensor_proto",
    "string_array",
]
