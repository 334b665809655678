"""The session protocol's events: every next item of every session, as GRU4Rec and SR-GNN evaluate.

A split written with the ``session`` protocol (``tfseqrec preprocess --split session``) holds whole
sessions in ``item_ids`` and no targets. A session ``s`` of ``n`` items gives the ``n - 1`` events
``(s[:t], s[t])``, ``t = 1..n-1``: the model sees the prefix and ranks the next item.

:func:`read_session_events` reads a split's sessions into memory (one flat int64 array per list feature
plus offsets: 8 bytes per click and feature, small next to any model) and lists the events in a fixed
order: sessions in read order (files sorted, records in file order), ``t`` ascending within a session.
Two evaluations of the same split therefore list the same events in the same order, so per-event
results can be paired (significance tests) by row, or by ``(session_index, position)``.
:meth:`SessionEvents.batches` builds left-padded prefix batches with vectorised numpy gathers (no
Python loop per event).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping, Sequence, Union

import numpy as np

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfseqrec.data.spec import FeatureSpec, resolve_spec

__all__ = ["SessionEvents", "session_events", "read_session_events", "SESSION_FEATURES"]

# List features that travel with the prefix (``timestamps`` / ``event_types`` when the spec has them).
SESSION_FEATURES = ("item_ids", "timestamps", "event_types")


@dataclasses.dataclass(frozen=True)
class SessionEvents:
    """Every next-item event of some sessions (``S`` sessions, ``N`` clicks, ``E`` events).

    Attributes:
      values: feature name -> int64 ``[N]``: the sessions' ``item_ids`` (and ``timestamps`` /
        ``event_types`` when read), concatenated session after session.
      offsets: int64 ``[S + 1]``: session ``s`` is ``values[name][offsets[s]:offsets[s + 1]]``.
      session_ids: str ``[S]``: the ``sequence_id`` of each session.
      session_index: int64 ``[E]``: the session of each event (an index into ``session_ids``).
      position: int64 ``[E]``: ``t``, the length of the event's prefix; the target is item ``t``
        (0-based) of the session.
    """

    values: Mapping[str, np.ndarray]
    offsets: np.ndarray
    session_ids: np.ndarray
    session_index: np.ndarray
    position: np.ndarray

    @property
    def num_events(self) -> int:
        return int(self.position.size)

    @property
    def num_sessions(self) -> int:
        """Sessions with at least one event (2 or more items)."""
        return int(np.unique(self.session_index).size)

    @property
    def targets(self) -> np.ndarray:
        """int64 ``[E]``: the item each event asks for, ``s[t]``."""
        return self.values["item_ids"][self.offsets[self.session_index] + self.position]

    @property
    def event_session_ids(self) -> np.ndarray:
        """str ``[E]``: the session id of each event."""
        return self.session_ids[self.session_index]

    def prefixes(self, events: np.ndarray, name: str = "item_ids") -> np.ndarray:
        """int64 ``[len(events), W]``: the whole prefixes ``s[:t]`` of ``events`` (indices into ``[E]``)
        of feature ``name``, left padded with 0; ``W`` = the longest of them (at least 1)."""
        t = self.position[events]  # [b]
        start = self.offsets[self.session_index[events]]  # [b]
        width = max(int(t.max()) if t.size else 1, 1)
        back = np.arange(width, dtype=np.int64) - width  # [W]: -W .. -1
        valid = (t[:, None] + back[None, :]) >= 0  # [b, W]
        source = np.where(valid, start[:, None] + t[:, None] + back[None, :], 0)
        return np.where(valid, self.values[name][source], 0)

    def batches(self, batch_size: int) -> Iterator[tuple[dict, np.ndarray]]:
        """``(batch, targets)`` for consecutive events, ``batch_size`` at a time.

        ``batch`` has the keys of :func:`tfseqrec.data.make_dataset` batches: ``item_ids`` int64
        ``[B, W]`` (the whole prefix, left padded), ``lengths`` int32 ``[B]`` (= ``t``), ``sequence_id``
        string ``[B]`` (the session) and the other features read, ``[B, W]`` like ``item_ids``.
        ``targets`` is int64 ``[B]``.
        """
        targets = self.targets
        session_ids = self.event_session_ids
        for begin in range(0, self.num_events, batch_size):
            events = np.arange(begin, min(begin + batch_size, self.num_events))
            batch = {name: tf.constant(self.prefixes(events, name)) for name in self.values}
            batch["lengths"] = tf.constant(self.position[events].astype(np.int32))
            batch["sequence_id"] = tf.constant(session_ids[events])
            yield batch, targets[events]


def session_events(
    values: Mapping[str, np.ndarray], lengths: np.ndarray, session_ids: Union[Sequence[str], np.ndarray]
) -> SessionEvents:
    """Lists every next-item event of sessions given as flat arrays.

    Args:
      values: feature name -> int ``[N]``, the sessions concatenated (``item_ids`` required).
      lengths: int ``[S]``, items per session (sums to ``N``).
      session_ids: ``[S]`` session ids.

    Returns:
      A :class:`SessionEvents`; sessions with fewer than 2 items give no event.
    """
    lengths = np.asarray(lengths, np.int64).reshape(-1)
    if "item_ids" not in values:
        raise ValueError(f"values must hold 'item_ids'; got {sorted(values)}")
    values = {name: np.asarray(v, np.int64).reshape(-1) for name, v in values.items()}
    for name, v in values.items():
        if v.size != lengths.sum():
            raise ValueError(f"values[{name!r}] has {v.size} entries but the session lengths sum to {lengths.sum()}")
    session_ids = np.asarray(session_ids, dtype=str).reshape(-1)
    if session_ids.size != lengths.size:
        raise ValueError(f"{session_ids.size} session ids for {lengths.size} sessions")
    per_session = np.maximum(lengths - 1, 0)  # events per session
    session_index = np.repeat(np.arange(lengths.size, dtype=np.int64), per_session)
    first_event = np.cumsum(per_session) - per_session  # [S]
    position = np.arange(session_index.size, dtype=np.int64) - first_event[session_index] + 1
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return SessionEvents(
        values=values, offsets=offsets, session_ids=session_ids, session_index=session_index, position=position
    )


def read_session_events(spec_or_dir: Union[FeatureSpec, str], split: str, read_batch_size: int = 4096) -> SessionEvents:
    """The events of one split of a session dataset (with the spec's ``timestamps`` / ``event_types``)."""
    from tfseqrec.data.loader import SequenceBatchConfig, make_dataset

    spec = resolve_spec(spec_or_dir)
    names = [n for n in SESSION_FEATURES if n in spec.features]
    config = SequenceBatchConfig(
        batch_size=read_batch_size,
        padding="ragged",
        include_targets=False,
        include_timestamps="timestamps" in names,
        include_event_types="event_types" in names,
        num_parallel_reads=None,
    )
    values: dict[str, list] = {name: [] for name in names}
    lengths, ids = [], []
    for batch in make_dataset(spec, split, config):
        for name in names:
            values[name].append(batch[name].flat_values.numpy())
        lengths.append(batch["item_ids"].row_lengths().numpy())
        if "sequence_id" in batch:
            ids.extend(s.decode("utf-8") for s in batch["sequence_id"].numpy())
        else:
            ids.extend(str(len(ids) + i) for i in range(int(batch["lengths"].shape[0])))
    flat = {name: np.concatenate(parts) if parts else np.zeros(0, np.int64) for name, parts in values.items()}
    return session_events(flat, np.concatenate(lengths) if lengths else np.zeros(0, np.int64), ids)
