"""What an evaluation returns, and its files: ``metrics.json`` and ``per_user.npz``.

Both files carry the protocol (split, filter_seen, ks, tie handling, the dataset's split protocol),
so a number is never separated from how it was measured. No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from typing import Any

import numpy as np

from tfseqrec import io_utils

METRICS_FILENAME = "metrics.json"
PER_USER_FILENAME = "per_user.npz"
_SEQUENCE_IDS_KEY = "sequence_ids"
_PROTOCOL_KEY = "__protocol_json__"
_CONFIG_KEY = "__config_json__"

__all__ = ["EvaluationResult", "METRICS_FILENAME", "PER_USER_FILENAME"]


@dataclasses.dataclass
class EvaluationResult:
    """Result of :func:`tfseqrec.evaluation.evaluate` (``U`` = evaluated rows: users, or for session
    splits the next-item events of the sessions).

    Attributes:
      summary: metric name -> mean over rows (``"HR@10"``, ``"NDCG@10"``, ``"MRR"``, ``"AUC"``,
        ``"coverage@10"``, ``"popularity_percentile@10"``, ``"gini@10"``, ...), plus ``"num_users"``
        and ``"users_per_second"`` (session splits: ``"num_events"``, ``"num_sessions"`` and
        ``"events_per_second"``) and ``"seconds"``.
      per_user: name -> array with first dimension ``U``: ``"rank"`` (int), ``"num_candidates"``
        (int), per-row metrics (float, the same names as the summary), ``"topk_ids"`` ``[U, K]`` (with
        ``condition_on_behaviour`` also ``"topk_ids_for_event_<id>"``, each ranked with that behaviour asked);
        for several targets, ``"num_targets"`` and ``"target_positions"`` ``[U, T]``; for session
        splits ``"session_index"`` (the session's place in the split's read order) and
        ``"position"`` (``t``: the event ranks item ``t`` after the prefix ``s[:t]``), which pair the
        events of two evaluations of the same split.
      sequence_ids: str ``[U]``, the ``sequence_id`` of each row of ``per_user`` (the session id for
        session events).
      protocol: how the numbers were measured (split, filter_seen, ks, ties, the spec's protocol).
      config: the :class:`EvaluationConfig` as a dict.
      by_behaviour: metrics per target behaviour (``tfseqrec.evaluation.behaviours``) when the records carry
        ``target_event_types``, else empty.
    """

    summary: dict[str, Any]
    per_user: dict[str, np.ndarray]
    sequence_ids: np.ndarray
    protocol: dict[str, Any]
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    by_behaviour: dict[str, Any] = dataclasses.field(default_factory=dict)

    def save(self, directory: str) -> None:
        """Writes ``metrics.json`` (summary, protocol, config) and ``per_user.npz`` (arrays,
        sequence_ids, protocol and config as JSON strings) into ``directory`` (local or gs://)."""
        payload = {"summary": self.summary, "protocol": self.protocol, "config": self.config}
        if self.by_behaviour:
            payload["by_behaviour"] = self.by_behaviour
        io_utils.write_json(io_utils.join(directory, METRICS_FILENAME), _jsonable(payload))
        reserved = {_SEQUENCE_IDS_KEY, _PROTOCOL_KEY, _CONFIG_KEY} & set(self.per_user)
        if reserved:
            raise ValueError(f"per_user uses reserved names {sorted(reserved)}")
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            **{k: np.asarray(v) for k, v in self.per_user.items()},
            **{
                _SEQUENCE_IDS_KEY: np.asarray(self.sequence_ids, dtype=str),
                _PROTOCOL_KEY: np.asarray(json.dumps(_jsonable(self.protocol), sort_keys=True)),
                _CONFIG_KEY: np.asarray(json.dumps(_jsonable(self.config), sort_keys=True)),
            },
        )
        _write_bytes(io_utils.join(directory, PER_USER_FILENAME), buffer.getvalue())

    @classmethod
    def load(cls, directory: str) -> "EvaluationResult":
        """Reads what :meth:`save` wrote."""
        payload = io_utils.read_json(io_utils.join(directory, METRICS_FILENAME))
        with io_utils.open_binary(io_utils.join(directory, PER_USER_FILENAME)) as f:
            data = np.load(io.BytesIO(f.read()), allow_pickle=False)
            arrays = {k: data[k] for k in data.files}
        sequence_ids = arrays.pop(_SEQUENCE_IDS_KEY)
        arrays.pop(_PROTOCOL_KEY, None)
        arrays.pop(_CONFIG_KEY, None)
        return cls(
            summary=payload["summary"],
            per_user=arrays,
            sequence_ids=sequence_ids,
            protocol=payload["protocol"],
            config=payload.get("config", {}),
            by_behaviour=payload.get("by_behaviour", {}),
        )


def _jsonable(obj: Any) -> Any:
    """Converts numpy scalars/arrays and tuples so ``json`` can write them."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _write_bytes(path: str, data: bytes) -> None:
    from apache_beam.io.filesystems import FileSystems

    if "://" not in path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with FileSystems.create(path) as f:
        f.write(data)
