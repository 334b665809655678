"""Stateful serving: the server keeps each active user's encoder state, so one more event costs one model step.

Exports of streamable models (``stream_start`` / ``stream_append``, ``tfseqrec.export.serving_module``) get two
more signatures on the server, called through TF Serving's Predict like any other (gRPC or REST):

* ``append``: inputs ``user [B]`` (string), ``item [B]`` (string), ``k [B]`` (int32); outputs ``item_ids [B, K]``
  and ``scores [B, K]``: each user's top ``k`` after the new event, the user's items excluded;
* ``reset``: input ``user [B]``; output ``reset [B]`` (bool, whether the user had a state): forget the users.

Per user the cache holds the model state ``[S]`` (for a key-value cache, sized by the user's history:
``tfseqrec.models.kv_cache``), the items so far (the latest ``max_items``, for exclusion and
to rebuild the state) and the version that computed the state. An ``append`` for a user with a state of the
serving version runs ``stream_append`` (one step); otherwise (a new user, a state from an older version, or a
history past the model's ``max_len``, where the stateless path reads only the latest ``max_len`` items) it runs
``stream_start`` over the items kept, so the answer is always the one ``recommend`` gives for the same history.
Rows of one request are applied in order; rows of the same user in one request are applied one after another.

The cache is bounded: at most ``max_users`` users and ``max_bytes`` (state, items and a fixed overhead per user),
least recently used first out; a user idle for ``ttl_seconds`` expires. An evicted or expired user starts again
from an empty history at the next ``append`` (the answer is then that of a new user; send ``recommend`` with the
whole history instead when it matters). Counters: hits, new users, rebuilds (version, length), evictions.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Callable, Optional

import numpy as np

from tfseqrec.export import contract
from tfseqrec.models.kv_cache import StreamStateLayout
from tfseqrec.serving.errors import invalid

ENTRY_OVERHEAD_BYTES = 200  # the dict slot, the entry object, the list of items
ITEM_OVERHEAD_BYTES = 40  # a bytes object's header and its slot in the list
_STRIPES = 64


@dataclasses.dataclass(frozen=True)
class UserStateOptions:
    """Bounds of the per-model user cache (module doc)."""

    max_users: int = 100_000
    max_bytes: int = 1 << 30
    ttl_seconds: float = 3600.0
    max_items: int = 2048

    def __post_init__(self):
        for name in ("max_users", "max_bytes", "max_items"):
            if getattr(self, name) < 1:
                raise ValueError(f"user state {name} must be >= 1, got {getattr(self, name)}")
        if not self.ttl_seconds > 0:
            raise ValueError(f"user state ttl_seconds must be > 0, got {self.ttl_seconds}")


@dataclasses.dataclass
class _Entry:
    version: int
    state: np.ndarray  # [S] float32
    items: list  # bytes, oldest first
    touched: float
    nbytes: int = 0

    def size(self) -> int:
        return ENTRY_OVERHEAD_BYTES + self.state.nbytes + sum(len(i) + ITEM_OVERHEAD_BYTES for i in self.items)


class UserStateCache:
    """LRU of user -> state for one served model, bounded by users, bytes and idle time (module doc)."""

    def __init__(self, options: UserStateOptions = UserStateOptions(), clock: Callable[[], float] = time.monotonic):
        self.options = options
        self._clock = clock
        self._entries: collections.OrderedDict[bytes, _Entry] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self.bytes = 0
        self.counts = collections.Counter()  # hits, new_users, rebuilt_version, rebuilt_length, evicted_*, ...

    def __len__(self) -> int:
        return len(self._entries)

    def locks(self, users) -> list:
        """The stripe locks of ``users``, in a fixed order (take them all before touching their entries)."""
        return [self._stripes[i] for i in sorted({hash(u) % _STRIPES for u in users})]

    def get(self, user: bytes) -> Optional[_Entry]:
        with self._lock:
            entry = self._entries.get(user)
            if entry is None:
                return None
            if self._clock() - entry.touched > self.options.ttl_seconds:
                self._drop(user, "evicted_ttl")
                return None
            self._entries.move_to_end(user)
            return entry

    def put(self, user: bytes, entry: _Entry) -> None:
        entry.touched = self._clock()
        entry.nbytes = entry.size()
        with self._lock:
            old = self._entries.pop(user, None)
            if old is not None:
                self.bytes -= old.nbytes
            self._entries[user] = entry
            self.bytes += entry.nbytes
            while len(self._entries) > self.options.max_users or (
                self.bytes > self.options.max_bytes and len(self._entries) > 1
            ):
                self._drop(next(iter(self._entries)), "evicted_capacity")

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def remove(self, user: bytes) -> bool:
        with self._lock:
            if user not in self._entries:
                return False
            self._drop(user, "reset")
            return True

    def _drop(self, user: bytes, reason: str) -> None:
        entry = self._entries.pop(user)
        self.bytes -= entry.nbytes
        self.counts[reason] += 1


def _strings(values: np.ndarray, name: str) -> list:
    values = np.asarray(values)
    if values.ndim != 1:
        raise invalid(f"input {name!r} must be a vector [B] (one per row); got shape {list(values.shape)}")
    out = [v if isinstance(v, bytes) else str(v).encode() for v in values.tolist()]
    if any(not v for v in out):
        raise invalid(f"input {name!r} must not hold empty strings")
    return out


def _padded(rows: list) -> np.ndarray:
    """Left-padded ``[B, W]`` object array of bytes (``W >= 1``)."""
    width = max(1, max(len(r) for r in rows))
    out = np.full((len(rows), width), contract.PADDING_TOKEN.encode(), dtype=object)
    for i, row in enumerate(rows):
        if row:
            out[i, width - len(row) :] = row
    return out


def _stacked(states: list, layout: Optional[dict]) -> np.ndarray:
    """``[B, S]`` float32 of the users' states; states of different widths (key-value caches sized by each user's
    history) are aligned as their export's ``stream_state`` layout says."""
    if layout and layout.get("per_item") and len({len(state) for state in states}) > 1:
        return StreamStateLayout(**layout).pad(states)
    return np.stack(states).astype(np.float32)


def _waves(users: list) -> list:
    """Row indices in order, cut so that no user appears twice in one wave."""
    waves, current, seen = [], [], set()
    for i, user in enumerate(users):
        if user in seen:
            waves.append(current)
            current, seen = [], set()
        current.append(i)
        seen.add(user)
    return waves + ([current] if current else [])


class StatefulSignatures:
    """``append`` and ``reset`` of one served model over its cache (module doc)."""

    def __init__(self, cache: UserStateCache):
        self.cache = cache

    def __call__(self, servable, signature: str, arrays: dict) -> dict:
        if signature == contract.RESET_SIGNATURE:
            users = _strings(arrays[contract.USER], contract.USER)
            return {contract.RESET: np.array([self.cache.remove(u) for u in users], np.bool_)}
        users = _strings(arrays[contract.USER], contract.USER)
        items = _strings(arrays[contract.ITEM], contract.ITEM)
        ks = np.asarray(arrays[contract.K]).reshape(-1)
        if not len(users) == len(items) == len(ks):
            raise invalid("append: user, item and k must have one value per row")
        results: list = [None] * len(users)
        for wave in _waves(users):
            wave_users = [users[i] for i in wave]
            locks = self.cache.locks(wave_users)
            for lock in locks:
                lock.acquire()
            try:
                for i, out in zip(wave, self._append(servable, wave_users, [items[i] for i in wave], ks[wave])):
                    results[i] = out
            finally:
                for lock in reversed(locks):
                    lock.release()
        width = max(len(ids) for ids, _ in results)
        item_ids = np.full((len(results), width), contract.PADDING_TOKEN.encode(), dtype=object)
        scores = np.full((len(results), width), -np.inf, np.float32)
        for i, (ids, values) in enumerate(results):
            item_ids[i, : len(ids)], scores[i, : len(values)] = ids, values
        return {contract.ITEM_IDS: item_ids, contract.SCORES: scores}

    def _append(self, servable, users: list, items: list, ks: np.ndarray) -> list:
        """Outputs per row ``(item_ids [K], scores [K])`` for distinct ``users`` (their locks held)."""
        max_len = int(servable.export_info.get("max_len") or 0) or None
        keep = self.cache.options.max_items
        entries = [self.cache.get(u) for u in users]
        histories, step = [], []
        for entry, item in zip(entries, items):
            history = ([] if entry is None else entry.items) + [item]
            histories.append(history[-keep:])
            fresh = entry is not None and entry.version == servable.version
            fits = max_len is None or len(entry.items if entry else []) + 1 <= max_len
            step.append(fresh and fits)
            self.cache.count(
                "hits" if fresh and fits else "new_users" if entry is None
                else "rebuilt_version" if not fresh else "rebuilt_length"
            )  # fmt: skip
        outputs: list = [None] * len(users)
        for chosen, run in ((True, self._step), (False, self._start)):
            rows = [i for i, s in enumerate(step) if s == chosen]
            if not rows:
                continue
            states, ids, scores = run(servable, rows, entries, histories, ks)
            layout = servable.export_info.get("stream_state")
            trim = StreamStateLayout(**layout).trim if layout else (lambda state: state)
            for j, i in enumerate(rows):
                state = trim(states[j])
                self.cache.put(users[i], _Entry(servable.version, state, histories[i], 0.0))
                outputs[i] = (ids[j], scores[j])
        return outputs

    @staticmethod
    def _step(servable, rows, entries, histories, ks):
        out = servable.run(
            contract.STREAM_APPEND_SIGNATURE,
            {
                contract.STATE: _stacked([entries[i].state for i in rows], servable.export_info.get("stream_state")),
                contract.ITEM: np.array([histories[i][-1] for i in rows], dtype=object),
                contract.SEEN: _padded([histories[i] for i in rows]),
                contract.K: ks[rows].astype(np.int32),
            },
        )
        return out[contract.STATE], out[contract.ITEM_IDS], out[contract.SCORES]

    @staticmethod
    def _start(servable, rows, entries, histories, ks):
        out = servable.run(
            contract.STREAM_START_SIGNATURE,
            {contract.HISTORY: _padded([histories[i] for i in rows]), contract.K: ks[rows].astype(np.int32)},
        )
        return out[contract.STATE], out[contract.ITEM_IDS], out[contract.SCORES]
