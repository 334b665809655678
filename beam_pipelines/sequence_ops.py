"""Steps that work on one sequence at a time: sort, repeat removal, sessionizing, splitting, encoding.

Plain functions so that each is unit-tested without Beam; the PTransforms in ``transforms`` call them.
"""

from __future__ import annotations

from typing import Iterator, Optional

from beam_pipelines.config import FilterConfig, SplitConfig
from beam_pipelines.records import Sequence
from tfseqrec.data.example_codec import encode_example
from tfseqrec.ids import OOV_ID

DAY_MS = 86_400_000


def remove_consecutive_repeats(seq: Sequence) -> tuple[Sequence, int]:
    """Drops an item equal to the one right before it; returns the sequence and how many were dropped."""
    keep = [i == 0 or seq.items[i] != seq.items[i - 1] for i in range(len(seq.items))]
    dropped = keep.count(False)
    return (seq.replace_items(keep) if dropped else seq), dropped


def sessionize(seq: Sequence, gap_seconds: float) -> Iterator[Sequence]:
    """Splits a time-ordered history where consecutive events are more than ``gap_seconds`` apart.

    Session keys are ``<user>#<n>`` (n from 0); ``user`` and ``session_index`` are set on each session.
    """
    gap_ms = gap_seconds * 1000.0
    start = 0
    index = 0
    times = seq.times
    for i in range(1, len(seq.items) + 1):
        if i == len(seq.items) or times[i] - times[i - 1] > gap_ms:
            part = seq.slice(start, i)
            yield part._replace(key=f"{seq.key}#{index}", user=seq.key, session_index=index)
            index += 1
            start = i


def kcore_filter(seq: Sequence, item_counts: dict, cfg: FilterConfig) -> tuple[Optional[Sequence], int, int]:
    """One k-core round for one sequence: drop rare items, then the sequence if it is too short.

    Returns (sequence or None, items dropped as rare, items dropped with a short sequence).
    """
    if cfg.item_min_count > 1:
        keep = [item_counts.get(item, 0) >= cfg.item_min_count for item in seq.items]
        rare = keep.count(False)
        if rare:
            seq = seq.replace_items(keep)
    else:
        rare = 0
    if len(seq.items) < max(cfg.user_min_count, 1):
        return None, rare, len(seq.items)
    return seq, rare, 0


class SplitResult:
    """Where one sequence's items went: train part, and (input, targets) pairs for validation and test."""

    __slots__ = ("train", "valid", "test", "cold", "dropped")

    def __init__(self):
        self.train: Optional[Sequence] = None
        self.valid: Optional[tuple[Sequence, Sequence]] = None
        self.test: Optional[tuple[Sequence, Sequence]] = None
        self.cold: dict[str, tuple[Sequence, Sequence]] = {}  # cold_start: split name -> (support, targets)
        self.dropped: dict[str, int] = {}


def split_sequence(
    seq: Sequence,
    cfg: SplitConfig,
    latest_ms: Optional[int] = None,
    cold_cut_ms: Optional[float] = None,
    cold_valid_cut_ms: Optional[float] = None,
) -> SplitResult:
    """Applies the protocol of ``cfg`` (see ``SplitConfig``) to one sequence.

    For the session protocol this only decides the split of the whole session; the removal of unseen
    items happens later, once the training vocabulary is known (``filter_eval_session``). The cold-start
    protocol needs ``cold_cut_ms``, the first-event time from which a user is new (``cold_start_cut``), and
    with ``cold_valid_fraction`` ``cold_valid_cut_ms``: new users who arrived before it are validation users.
    """
    out = SplitResult()
    n = len(seq.items)
    if cfg.protocol == "cold_start" and seq.times[0] >= cold_cut_ms:
        validating = cold_valid_cut_ms is not None and seq.times[0] < cold_valid_cut_ms
        for k in (int(k) for k in cfg.support_sizes):
            name = f"cold_valid_k{k}" if validating else f"cold_k{k}"
            if n >= k + cfg.query_items:
                out.cold[name] = (seq.slice(None, k), seq.slice(k, k + cfg.query_items))
            else:
                out.dropped[f"short_cold_user/{name}"] = 1
        return out
    if cfg.protocol == "none":
        out.train = seq
    elif cfg.protocol in ("leave_one_out", "cold_start"):
        if n < 3:
            out.train = seq
        else:
            out.train = seq.slice(None, -2)
            out.valid = (seq.slice(None, -2), seq.slice(-2, -1))
            out.test = (seq.slice(None, -1), seq.slice(-1, None))
    elif cfg.protocol == "temporal":
        valid_ms, test_ms = cfg.valid_cut * 1000.0, cfg.test_cut * 1000.0
        a = sum(1 for t in seq.times if t < valid_ms)
        b = sum(1 for t in seq.times if t < test_ms)
        if a:
            out.train = seq.slice(None, a)
        if b > a:
            out.valid = (seq.slice(None, a), seq.slice(a, b))
        if n > b:
            out.test = (seq.slice(None, b), seq.slice(b, None))
    elif cfg.protocol == "session":
        end = seq.times[-1]
        test_start = latest_ms - cfg.test_days * DAY_MS
        valid_start = test_start - cfg.valid_days * DAY_MS
        empty = seq.slice(0, 0)
        if end > test_start:
            out.test = (seq, empty)
        elif end > valid_start and cfg.valid_days > 0:
            out.valid = (seq, empty)
        else:
            out.train = seq
    else:
        raise ValueError(f"unknown protocol {cfg.protocol!r}")
    return out


def cold_start_cut(first_times: list, fraction: float) -> float:
    """The first-event time from which users are new: the ``1 - fraction`` quantile of ``first_times`` (users at
    or after it are new, so ties at the cut make the new share slightly larger); +inf without users."""
    times = sorted(first_times)
    if not times:
        return float("inf")
    index = min(len(times) - 1, int(len(times) * (1.0 - fraction)))
    return float(times[index])


def cold_valid_cut(first_times: list, cold_cut_ms: float, fraction: float) -> float:
    """The first-event time from which new users are tested rather than validated: the ``fraction`` quantile
    of the new users' (``>= cold_cut_ms``) first-event times; -inf (no validation users) at fraction 0."""
    times = sorted(t for t in first_times if t >= cold_cut_ms)
    if fraction <= 0 or not times:
        return float("-inf")
    return float(times[min(len(times) - 1, int(len(times) * fraction))])


def filter_eval_session(seq: Sequence, vocab: dict) -> tuple[Optional[Sequence], int, int]:
    """Session protocol: drop items unseen in training, then sessions left with fewer than 2 items.

    Returns (session or None, unseen items dropped, items dropped with a short session).
    """
    keep = [item in vocab for item in seq.items]
    unseen = keep.count(False)
    if unseen:
        seq = seq.replace_items(keep)
    if len(seq.items) < 2:
        return None, unseen, len(seq.items)
    return seq, unseen, 0


def truncate(seq: Sequence, max_len: Optional[int]) -> tuple[Sequence, int]:
    """Keeps the latest ``max_len`` items; returns the sequence and how many were dropped."""
    if max_len is None or len(seq.items) <= max_len:
        return seq, 0
    return seq.slice(-max_len, None), len(seq.items) - max_len


def encode_record(inputs: Sequence, targets: Optional[Sequence], vocab: dict, event_ids: dict) -> bytes:
    """Serialises one record (see ``tfseqrec.data.spec``) with vocabulary ids."""
    features = {
        "sequence_id": ("bytes", [inputs.key]),
        "item_ids": ("int64", [vocab.get(i, OOV_ID) for i in inputs.items]),
    }
    if inputs.user is not None:
        features["user_id"] = ("bytes", [inputs.user])
        features["session_index"] = ("int64", [inputs.session_index])
    if inputs.times is not None:
        features["timestamps"] = ("int64", inputs.times)
    if inputs.events is not None:
        features["event_types"] = ("int64", [event_ids[e] for e in inputs.events])
    if targets is not None:
        features["target_ids"] = ("int64", [vocab.get(i, OOV_ID) for i in targets.items])
        if targets.times is not None:
            features["target_timestamps"] = ("int64", targets.times)
        if targets.events is not None:
            features["target_event_types"] = ("int64", [event_ids[e] for e in targets.events])
    return encode_example(features)
