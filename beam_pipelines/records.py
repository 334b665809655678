"""The records that flow through the pipeline: parsed interactions, rejects and sequences.

Plain ``NamedTuple``s: cheap to build per row and encoded by Beam's fast primitive coders.
"""

from __future__ import annotations

from typing import NamedTuple, Optional


class Interaction(NamedTuple):
    """One parsed input row.

    ``key`` groups rows into sequences (user id, or session id). ``time_ms`` is milliseconds since the
    epoch (None when the input has no times). ``order`` is an optional integer order column.
    ``pos`` = (file index, line number, position within the line): the input order, used to keep ties stable.
    """

    key: str
    item: str
    time_ms: Optional[int]
    order: Optional[int]
    pos: tuple
    event: Optional[str] = None
    rating: Optional[float] = None
    features: Optional[tuple] = None


class Reject(NamedTuple):
    """A malformed input row, kept with where it came from and why it was rejected."""

    file: str
    line: int
    reason: str
    detail: str
    text: str

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason, "detail": self.detail, "text": self.text}


class Sequence(NamedTuple):
    """One user's (or session's) cleaned, time-ordered history, still with string item ids.

    ``times`` and ``events`` are parallel to ``items`` or None when the input had no times / event types.
    ``user`` and ``session_index`` are set when the pipeline sessionized a user's history.
    """

    key: str
    items: list
    times: Optional[list]
    events: Optional[list]
    user: Optional[str] = None
    session_index: Optional[int] = None

    def replace_items(self, keep: list) -> "Sequence":
        """A copy holding only the positions where ``keep`` is true."""
        return self._replace(
            items=[x for x, k in zip(self.items, keep) if k],
            times=None if self.times is None else [x for x, k in zip(self.times, keep) if k],
            events=None if self.events is None else [x for x, k in zip(self.events, keep) if k],
        )

    def slice(self, start: Optional[int], stop: Optional[int]) -> "Sequence":
        return self._replace(
            items=self.items[start:stop],
            times=None if self.times is None else self.times[start:stop],
            events=None if self.events is None else self.events[start:stop],
        )
