"""Request checks shared by the gRPC and REST front ends, then the call itself.

Checks happen in two steps so that nothing big is built from a bad request: names, dtypes and shapes
(against the signature and the server's limits) before any tensor is materialised, then values
(a common batch size, ``k`` in ``[1, max_k]``, history features of the shape of ``history``). Every failure
is an INVALID_ARGUMENT ``ServingError`` whose message names the input and says what is expected.

History features (``contract.HISTORY_FEATURES``, e.g. ``timestamps``) are the inputs an export takes next to
``history`` when its model reads them: one value per history entry, so they must have its shape.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

import numpy as np

from tfseqrec.export import contract
from tfseqrec.serving.errors import invalid
from tfseqrec.serving.servable import Servable, Signature, TensorSpec
from tfseqrec.serving.tensors import STRING, dtype_name

Arrays = dict[str, np.ndarray]
SERVER_TIMING = "server-timing"  # gRPC trailing metadata key (REST: the Server-Timing header) of a Predict


def server_timing(seconds: float) -> str:
    """The ``server-timing`` value of a Predict that took ``seconds`` in the server (HTTP Server-Timing syntax)."""
    return f"predict;dur={seconds * 1e3:.3f}"


def parse_server_timing(value: str) -> float:
    """Milliseconds from a ``server-timing`` value (``predict;dur=1.234``)."""
    return float(value.split("dur=", 1)[1].split(";", 1)[0])


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request caps: ``max_history`` items per history row (raised to a model's ``max_len`` for that model,
    see :meth:`for_model`), ``max_k`` for ``k``, ``max_batch_rows`` rows."""

    max_history: int = 2048
    max_k: int = 1000
    max_batch_rows: int = 1024

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"{field.name} must be >= 1, got {getattr(self, field.name)}")

    def for_model(self, export_info: dict) -> "Limits":
        """The limits of one served model: ``max_history`` at least its ``max_len`` (from its export's
        ``tfseqrec_export.json``), so a model trained on longer histories than the server's cap takes them."""
        max_len = int(export_info.get("max_len") or 0)
        return dataclasses.replace(self, max_history=max(self.max_history, max_len))


def resolve_signature(servable: Servable, signature_name: str) -> Signature:
    name = signature_name or contract.SERVING_SIGNATURE
    sig = servable.signatures.get(name)
    if sig is None:
        raise invalid(
            f"model {servable.name!r} version {servable.version} has no signature {name!r}; "
            f"its signatures are: {', '.join(sorted(servable.signatures))}"
        )
    return sig


def is_history_feature(name: str) -> bool:
    """Whether input ``name`` is a history feature: aligned with ``history``, one value per entry."""
    return name in contract.HISTORY_FEATURES


def check_input_names(sig: Signature, names: Iterable[str]) -> None:
    names = set(names)
    missing = [n for n in sig.inputs if n not in names]
    unknown = sorted(names - set(sig.inputs))
    if missing or unknown:
        expected = ", ".join(f"{n} ({s.describe()})" for n, s in sig.inputs.items()) or "none"
        problems = ([f"missing input(s) {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"unknown input(s) {', '.join(map(repr, unknown))}"] if unknown else []
        )
        features = [n for n in missing if is_history_feature(n)]
        hint = (
            (
                f" ({', '.join(map(repr, features))}: this model reads them with the history; send one value "
                f"per 'history' entry, the shape of 'history', 0 at padding)"
            )
            if features
            else ""
        )
        raise invalid(f"signature {sig.name!r}: {'; '.join(problems)}; it takes: {expected}{hint}")


def check_dtype(spec: TensorSpec, dtype_enum: int) -> None:
    if dtype_enum != spec.dtype:
        raise invalid(f"input {spec.name!r} must be {dtype_name(spec.dtype)}; got {dtype_name(dtype_enum)}")


def check_shape(spec: TensorSpec, shape: Sequence[int], limits: Limits) -> None:
    """Rank and fixed dims from the signature; batch rows and history width from the server's limits."""
    if spec.shape is not None:
        if len(shape) != len(spec.shape):
            raise invalid(
                f"input {spec.name!r} must have rank {len(spec.shape)} ({spec.describe()}); got shape {list(shape)}"
            )
        for i, (want, got) in enumerate(zip(spec.shape, shape)):
            if want is not None and want != got:
                raise invalid(
                    f"input {spec.name!r} must be {spec.describe()}; got shape {list(shape)} (dim {i} differs)"
                )
    if shape and shape[0] > limits.max_batch_rows:
        raise invalid(
            f"input {spec.name!r} has {shape[0]} rows; this server takes at most "
            f"{limits.max_batch_rows} per request (split the batch)"
        )
    if (
        (spec.name == contract.HISTORY or is_history_feature(spec.name))
        and len(shape) == 2
        and shape[1] > limits.max_history
    ):
        what = "items" if spec.name == contract.HISTORY else "values"
        raise invalid(
            f"input {spec.name!r} has {shape[1]} {what} per row; this server takes at most "
            f"{limits.max_history} (send only the latest items)"
        )


def check_values(sig: Signature, arrays: Arrays, limits: Limits) -> tuple[Arrays, int]:
    """A common batch size (returned as ``rows``), ``k`` in range and history features of the shape of
    ``history``; an empty history becomes one ``""`` (and its features one 0)."""
    rows = None
    for name, arr in arrays.items():
        if arr.ndim == 0:
            continue
        if rows is None:
            rows = arr.shape[0]
        elif arr.shape[0] != rows:
            sizes = ", ".join(f"{n} {a.shape[0]}" for n, a in arrays.items() if a.ndim)
            raise invalid(f"signature {sig.name!r}: inputs must have the same number of rows; got {sizes}")
    if rows == 0:
        raise invalid(f"signature {sig.name!r}: the request has no rows; send at least one")
    k = arrays.get(contract.K)
    if k is not None and k.size and k.dtype.kind in "iu":
        low, high = int(k.min()), int(k.max())
        if low < 1 or high > limits.max_k:
            bad = low if low < 1 else high
            raise invalid(f"input 'k' must be in [1, {limits.max_k}]; got {bad}")
    history = arrays.get(contract.HISTORY)
    if history is None:
        return arrays, rows or 1
    for name, arr in arrays.items():
        if is_history_feature(name) and arr.shape != history.shape:
            raise invalid(
                f"input {name!r} must have one value per 'history' entry (shape {list(history.shape)}, "
                f"0 at padding); got shape {list(arr.shape)}"
            )
    if history.dtype == STRING and history.ndim == 2 and history.shape[1] == 0:
        rows_1 = (history.shape[0], 1)
        arrays = {
            **arrays,
            contract.HISTORY: np.full(rows_1, contract.PADDING_TOKEN.encode(), STRING),
            **{n: np.zeros(rows_1, a.dtype) for n, a in arrays.items() if is_history_feature(n)},
        }
    return arrays, rows or 1


def check_output_filter(sig: Signature, output_filter: Sequence[str]) -> None:
    unknown = [n for n in output_filter if n not in sig.outputs]
    if unknown:
        raise invalid(
            f"output_filter names unknown output(s) {', '.join(map(repr, unknown))} of signature "
            f"{sig.name!r}; its outputs are: {', '.join(sorted(sig.outputs))}"
        )


def run(
    servable: Servable, sig: Signature, arrays: Arrays, limits: Limits, output_filter: Sequence[str] = ()
) -> Mapping[str, np.ndarray]:
    """Checks values, runs the signature (batched when it can be) and keeps the filtered outputs."""
    check_output_filter(sig, output_filter)
    arrays, rows = check_values(sig, arrays, limits)
    outputs = servable.predict(sig.name, arrays, rows)
    if output_filter:
        return {n: outputs[n] for n in dict.fromkeys(output_filter)}
    return outputs
