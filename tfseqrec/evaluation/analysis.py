"""Error analysis of an evaluation: where does a model fail?

:func:`analyze` joins the rows of an :class:`~tfseqrec.evaluation.results.EvaluationResult` (users, or
the next-item events of session splits) with the split's records and breaks the per-row metrics down
by segments of several dimensions, and lists the rows whose target the model ranked worst::

    from tfseqrec.evaluation import EvaluationResult
    from tfseqrec.evaluation.analysis import analyze

    analysis = analyze(EvaluationResult.load("runs/sasrec/test"), "data/ml-1m")
    for row in analysis.segments:
        print(row.dimension, row.segment, row.count, row.metrics["NDCG@10"])
    analysis.write("runs/sasrec/test/analysis")  # analysis.json, segments.csv, failures.csv

Dimensions (every evaluated row is in exactly one segment of each dimension; rows that could not be
joined with the split's records are in the segment ``"unmatched"`` of every dimension, and counted in
``protocol["unmatched_rows"]`` with the reasons):

* ``history_length``: the length of the history of the row. Users: the whole stored history, before
  any ``max_len`` cut of the evaluation (what the model saw is its latest ``max_len`` items). Session
  events: the prefix length ``t``. Buckets from ``edges`` (see :func:`history_length_segments`).
* ``target_popularity``: ``head`` / ``torso`` / ``tail`` of the target item by its number of training
  interactions (see :func:`popularity_segments`).
* ``cold_target``: ``cold (<= c train interactions)`` (also items never seen in training) or
  ``warm (> c train interactions)``.
* ``session_position`` (session splits only): where the event is in its session of ``n`` items:
  ``first`` (``t = 1``), ``last`` (``t = n - 1``), ``middle``, or ``only (2-item session)`` for the
  single event of a 2-item session. The prefix length itself is the ``history_length`` dimension.

The target of a row: the ranked item for users with one target and for session events (``s[t]``); for
rows with several targets (temporal splits) the first of them (the next item), while ``rank`` is the
best position among the distinct targets.

Only numpy is imported with this module; reading the split (:func:`analyze`) imports the TensorFlow
loader when it is called.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any, Callable, Optional, Sequence

import numpy as np

from tfseqrec import io_utils
from tfseqrec.ids import FIRST_ITEM_ID
from tfseqrec.data.spec import FeatureSpec, load_feature_spec, load_item_counts, load_vocabulary
from tfseqrec.evaluation.results import EvaluationResult, _jsonable

__all__ = [
    "SegmentRow",
    "FailureCase",
    "ErrorAnalysis",
    "analyze",
    "history_length_segments",
    "history_length_labels",
    "popularity_segments",
    "popularity_thresholds",
    "cold_segments",
    "session_position_segments",
    "segment_metrics",
    "worst_rows",
    "worst_cases",
    "DIMENSIONS",
    "DEFAULT_METRICS",
    "HISTORY_EDGES",
    "SESSION_HISTORY_EDGES",
    "UNMATCHED",
    "ANALYSIS_FILENAME",
    "SEGMENTS_FILENAME",
    "FAILURES_FILENAME",
]

DIMENSIONS = ("history_length", "target_popularity", "cold_target", "session_position")
DEFAULT_METRICS = ("HR@10", "NDCG@10", "MRR")
HISTORY_EDGES = (5, 10, 20, 50, 100, 200)  # users: 1-5, 6-10, 11-20, 21-50, 51-100, 101-200, 201+
SESSION_HISTORY_EDGES = (1, 2, 3, 5, 10, 20)  # session prefixes: 1, 2, 3, 4-5, 6-10, 11-20, 21+
HEAD, TORSO, TAIL = "head", "torso", "tail"
FIRST, MIDDLE, LAST, ONLY = "first", "middle", "last", "only (2-item session)"
UNMATCHED = "unmatched"
ANALYSIS_FILENAME = "analysis.json"
SEGMENTS_FILENAME = "segments.csv"
FAILURES_FILENAME = "failures.csv"


@dataclasses.dataclass(frozen=True)
class SegmentRow:
    """The metrics of one segment of one dimension.

    Attributes:
      dimension: ``"history_length"``, ``"target_popularity"``, ``"cold_target"`` or ``"session_position"``.
      segment: the segment's label (``"1-5"``, ``"head"``, ``"cold (<= 5 train interactions)"``, ...).
      count: evaluated rows in the segment.
      metrics: metric name -> mean over the segment's rows (names of ``per_user``: ``"HR@10"``, ...).
    """

    dimension: str
    segment: str
    count: int
    metrics: dict


@dataclasses.dataclass(frozen=True)
class FailureCase:
    """One row whose target the model ranked badly.

    Attributes:
      sequence_id: the row's ``sequence_id`` (the session id for session events).
      target_item: the target's raw item id.
      rank: the target's rank among the candidates (1 = top; several targets: the best of them).
      history: raw item ids of the history, most recent last, at most ``history_items`` of them.
      top_items: raw item ids of the model's top-K list, best first.
      position: session events: ``t`` (the prefix length); None for users.
      target_train_count: training interactions of the target (0: never seen in training).
    """

    sequence_id: str
    target_item: str
    rank: int
    history: list
    top_items: list
    position: Optional[int] = None
    target_train_count: Optional[int] = None


@dataclasses.dataclass
class ErrorAnalysis:
    """What :func:`analyze` found.

    Attributes:
      segments: one row per (dimension, segment), dimensions in :data:`DIMENSIONS` order.
      failures: the worst-ranked rows, worst first.
      coverage: ``coverage@K`` copied from the evaluation's summary.
      popularity_bias: ``popularity_percentile@K`` and ``gini@K`` copied from the summary.
      protocol: how the analysis was made: the evaluation's protocol, the split, the join, the
        segment definitions and thresholds, the unmatched rows and why.
      overall: ``count`` and the metric means over all rows, to compare the segments with.
    """

    segments: list
    failures: list
    coverage: dict
    popularity_bias: dict
    protocol: dict
    overall: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-able dict of everything."""
        return _jsonable(
            {
                "overall": self.overall,
                "segments": [dataclasses.asdict(s) for s in self.segments],
                "failures": [dataclasses.asdict(f) for f in self.failures],
                "coverage": self.coverage,
                "popularity_bias": self.popularity_bias,
                "protocol": self.protocol,
            }
        )

    def write(self, directory: str) -> None:
        """Writes ``analysis.json`` (all of it), ``segments.csv`` (dimension, segment, count, share, one
        column per metric) and ``failures.csv`` (one row per failure; histories and top-K lists as raw
        ids joined by spaces) into ``directory`` (local or gs://)."""
        io_utils.write_json(io_utils.join(directory, ANALYSIS_FILENAME), self.to_dict())
        names: list[str] = []
        for row in self.segments:
            names += [n for n in row.metrics if n not in names]
        totals: dict[str, int] = {}
        for row in self.segments:
            totals[row.dimension] = totals.get(row.dimension, 0) + row.count
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["dimension", "segment", "count", "share"] + names)
        for row in self.segments:
            share = row.count / totals[row.dimension] if totals[row.dimension] else float("nan")
            writer.writerow(
                [row.dimension, row.segment, row.count, f"{share:.6g}"]
                + [f"{row.metrics[n]:.6g}" if n in row.metrics else "" for n in names]
            )
        io_utils.write_text(io_utils.join(directory, SEGMENTS_FILENAME), buffer.getvalue())
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            ["sequence_id", "position", "target_item", "target_train_count", "rank", "history", "top_items"]
        )
        for f in self.failures:
            writer.writerow(
                [
                    f.sequence_id,
                    "" if f.position is None else f.position,
                    f.target_item,
                    "" if f.target_train_count is None else f.target_train_count,
                    f.rank,
                    " ".join(f.history),
                    " ".join(f.top_items),
                ]
            )
        io_utils.write_text(io_utils.join(directory, FAILURES_FILENAME), buffer.getvalue())


# ----------------------------------------------------------------------------------- segment labels
def _check_edges(edges: Sequence[int]) -> tuple[int, ...]:
    edges = tuple(int(e) for e in edges)
    if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be strictly increasing positive ints, got {edges!r}")
    return edges


def history_length_labels(edges: Sequence[int] = HISTORY_EDGES) -> list[str]:
    """Every label :func:`history_length_segments` can give, shortest first: ``"0"``, then the buckets
    ``1..e0``, ``e0+1..e1``, ..., written ``"lo-hi"`` (``"lo"`` when ``lo == hi``), then ``"e_last+1+"``."""
    edges = _check_edges(edges)
    labels, low = ["0"], 1
    for high in edges:
        labels.append(str(low) if low == high else f"{low}-{high}")
        low = high + 1
    return labels + [f"{low}+"]


def history_length_segments(lengths, edges: Sequence[int] = HISTORY_EDGES) -> np.ndarray:
    """History-length bucket of each row.

    Args:
      lengths: int ``[num_rows]``, history lengths (>= 0).
      edges: strictly increasing positive bucket ends: with the default ``(5, 10, 20, 50, 100, 200)``
        the buckets are ``"1-5"``, ``"6-10"``, ``"11-20"``, ``"21-50"``, ``"51-100"``, ``"101-200"``
        and ``"201+"``; a bucket holding one length is written as that number (edges ``(1, 2, 5)``:
        ``"1"``, ``"2"``, ``"3-5"``, ``"6+"``). Length 0 is ``"0"``.

    Returns:
      str ``[num_rows]`` labels (see :func:`history_length_labels` for their order).
    """
    labels = np.asarray(history_length_labels(edges))
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths.size and not np.issubdtype(lengths.dtype, np.integer)):
        raise ValueError(f"lengths must be ints [num_rows], got {lengths.dtype} {lengths.shape}")
    if lengths.size and lengths.min() < 0:
        raise ValueError("lengths must be >= 0")
    # Length 0 -> label 0; 1..e0 -> 1; e0+1..e1 -> 2; ...; > e_last -> len(edges) + 1.
    where = np.searchsorted(np.asarray(_check_edges(edges)), lengths, side="left") + 1
    return labels[np.where(lengths == 0, 0, where)]


def popularity_thresholds(item_counts, head_share: float = 0.2, tail_share: float = 0.5) -> dict:
    """The train-count limits of :func:`popularity_segments`: ``head_min_count`` (the least popular
    head item's count; None without head items), ``tail_max_count`` (the most popular tail item's;
    None without tail items) and ``num_head_items`` / ``num_torso_items`` / ``num_tail_items``."""
    counts = _real_counts(item_counts)
    labels = popularity_segments(counts, np.concatenate([[0, 0], counts]), head_share, tail_share)
    head, tail = counts[labels == HEAD], counts[labels == TAIL]
    return {
        "head_min_count": int(head.min()) if head.size else None,
        "tail_max_count": int(tail.max()) if tail.size else None,
        "num_head_items": int(head.size),
        "num_torso_items": int((labels == TORSO).sum()),
        "num_tail_items": int(tail.size),
    }


def _real_counts(item_counts) -> np.ndarray:
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or counts.size <= FIRST_ITEM_ID:
        raise ValueError(f"item_counts must be [V] train counts per id with V > 2, got shape {counts.shape}")
    return counts[FIRST_ITEM_ID:].astype(np.int64)


def popularity_segments(target_counts, item_counts, head_share: float = 0.2, tail_share: float = 0.5) -> np.ndarray:
    """Head / torso / tail of each row's target, by training popularity.

    The catalogue is the vocabulary's real items (ids >= 2 of ``item_counts``, also those with count
    0), ``n`` of them. An item's popularity rank is the number ``m`` of catalogue items with strictly
    more training interactions. An item is *head* when ``m < head_share * n`` (it is among the most
    popular ``head_share`` of the catalogue), *tail* when ``m >= (1 - tail_share) * n`` (among the
    least popular ``tail_share``), *torso* otherwise. Items tied on their count share ``m`` and so a
    segment: a tie across a boundary goes wholly to the more popular side. A target with no training
    interaction (count 0, e.g. OOV or an item only in validation/test) is always tail.

    Example: counts ``100, 50, 50, 20, 10, 10, 5, 3, 1, 0`` (``n = 10``) with the defaults: head
    ``m < 2``: 100, 50, 50 (``m`` = 0, 1, 1); tail ``m >= 5``: 5, 3, 1, 0; torso: 20, 10, 10.

    Args:
      target_counts: int ``[num_rows]``, the training count of each row's target.
      item_counts: int ``[V]``, training count per vocabulary id (entries 0 and 1 ignored), as in
        ``vocab.tsv``.
      head_share, tail_share: fractions of the catalogue, ``>= 0`` with ``head_share + tail_share <= 1``.

    Returns:
      str ``[num_rows]``: ``"head"``, ``"torso"`` or ``"tail"``.
    """
    if not (0 <= head_share and 0 <= tail_share and head_share + tail_share <= 1):
        raise ValueError(
            f"need head_share >= 0, tail_share >= 0 and head_share + tail_share <= 1, got {head_share}, {tail_share}"
        )
    ordered = np.sort(_real_counts(item_counts))
    n = ordered.size
    target_counts = np.asarray(target_counts).reshape(-1)
    more_popular = n - np.searchsorted(ordered, target_counts, side="right")  # m: items with a larger count
    labels = np.full(target_counts.shape, TORSO, dtype=object)
    labels[more_popular < head_share * n] = HEAD
    labels[(more_popular >= (1 - tail_share) * n) | (target_counts <= 0)] = TAIL
    return labels.astype(str)


def _cold_labels(threshold: int) -> tuple[str, str]:
    return f"cold (<= {threshold} train interactions)", f"warm (> {threshold} train interactions)"


def cold_segments(target_counts, threshold: int = 5) -> np.ndarray:
    """str ``[num_rows]``: ``"cold (<= threshold train interactions)"`` when the target's training count
    (int ``[num_rows]``) is at most ``threshold`` (so also targets never seen in training), else
    ``"warm (> threshold train interactions)"``."""
    cold, warm = _cold_labels(threshold)
    return np.where(np.asarray(target_counts).reshape(-1) <= threshold, cold, warm).astype(str)


def session_position_segments(position, session_length) -> np.ndarray:
    """Where each event is in its session.

    Args:
      position: int ``[num_rows]``, ``t``: the event ranks item ``t`` (0-based) after the prefix ``s[:t]``.
      session_length: int ``[num_rows]``, ``n``: items in the event's session (``1 <= t <= n - 1``).

    Returns:
      str ``[num_rows]``: ``"first"`` (``t = 1``), ``"last"`` (``t = n - 1``), ``"middle"``, or
      ``"only (2-item session)"`` (``n = 2``: the event is both).
    """
    t = np.asarray(position).reshape(-1)
    n = np.asarray(session_length).reshape(-1)
    if t.shape != n.shape:
        raise ValueError(f"position and session_length must have the same shape, got {t.shape} and {n.shape}")
    if t.size and ((t < 1).any() or (t > n - 1).any()):
        raise ValueError("every event needs 1 <= position <= session_length - 1")
    labels = np.full(t.shape, MIDDLE, dtype=object)
    labels[t == 1] = FIRST
    labels[t == n - 1] = LAST
    labels[n == 2] = ONLY
    return labels.astype(str)


# --------------------------------------------------------------------------------- metrics, failures
def segment_metrics(
    per_user: dict,
    labels,
    dimension: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
    order: Optional[Sequence[str]] = None,
) -> list[SegmentRow]:
    """Mean metrics per segment.

    Args:
      per_user: metric name -> float ``[num_rows]`` (an evaluation's ``per_user``).
      labels: str ``[num_rows]``, each row's segment.
      dimension: the name written into the rows.
      metrics: names of ``per_user`` to average.
      order: the segments' order; segments present but not listed follow, sorted; listed segments
        without rows are left out.

    Returns:
      One :class:`SegmentRow` per segment with rows; their counts sum to ``num_rows``.
    """
    labels = np.asarray(labels).astype(str).reshape(-1)
    for name in metrics:
        if name not in per_user:
            raise ValueError(f"metric {name!r} is not in per_user; available: {sorted(per_user)}")
        if np.shape(per_user[name]) != labels.shape:
            raise ValueError(f"per_user[{name!r}] has shape {np.shape(per_user[name])}, labels {labels.shape}")
    present, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=present.size)
    means = {}
    for name in metrics:
        values = np.asarray(per_user[name], dtype=np.float64)
        means[name] = np.bincount(inverse, weights=values, minlength=present.size) / np.maximum(counts, 1)
    index = {label: i for i, label in enumerate(present.tolist())}
    listed = [s for s in (order or ()) if s in index]
    ordered = list(dict.fromkeys(listed)) + sorted(s for s in index if s not in set(listed))
    return [
        SegmentRow(
            dimension=dimension,
            segment=s,
            count=int(counts[index[s]]),
            metrics={name: float(means[name][index[s]]) for name in metrics},
        )
        for s in ordered
    ]


def worst_rows(ranks, sequence_ids, n: int = 20, eligible=None) -> np.ndarray:
    """Indices of the ``n`` rows ranked worst: largest ``ranks`` (int ``[num_rows]``) first, ties by
    ``sequence_ids`` (str ``[num_rows]``) ascending, then by row order; only rows where ``eligible``
    (bool ``[num_rows]``, default all) is True. Returns int ``[min(n, eligible rows)]``."""
    ranks = np.asarray(ranks).reshape(-1)
    ids = np.asarray(sequence_ids).astype(str).reshape(-1)
    if ids.shape != ranks.shape:
        raise ValueError(f"ranks {ranks.shape} and sequence_ids {ids.shape} must have the same shape")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rows = np.arange(ranks.size) if eligible is None else np.flatnonzero(np.asarray(eligible).reshape(-1))
    order = np.lexsort((rows, ids[rows], -ranks[rows].astype(np.int64)))
    return rows[order[:n]]


def worst_cases(
    ranks,
    sequence_ids,
    target_items,
    histories,
    top_items,
    n: int = 20,
    eligible=None,
    history_items: int = 20,
    positions=None,
    target_counts=None,
) -> list[FailureCase]:
    """The failure cases of the :func:`worst_rows`.

    Args:
      ranks: int ``[num_rows]``; sequence_ids: str ``[num_rows]``.
      target_items: ``[num_rows]`` raw target ids; histories: ``[num_rows]`` raw ids, oldest first;
        top_items: ``[num_rows]`` lists of raw ids, best first. Anything indexable by row works (only
        the chosen rows are read).
      n, eligible: as in :func:`worst_rows`.
      history_items: keep the latest this many history items.
      positions, target_counts: optional int ``[num_rows]`` copied into the cases.
    """
    if history_items < 0:
        raise ValueError(f"history_items must be >= 0, got {history_items}")
    ranks = np.asarray(ranks).reshape(-1)
    ids = np.asarray(sequence_ids).astype(str).reshape(-1)
    cases = []
    for u in worst_rows(ranks, ids, n, eligible).tolist():
        history = list(histories[u])
        cases.append(
            FailureCase(
                sequence_id=str(ids[u]),
                target_item=str(target_items[u]),
                rank=int(ranks[u]),
                history=[str(x) for x in (history[len(history) - history_items :] if history_items else [])],
                top_items=[str(x) for x in top_items[u]],
                position=None if positions is None else int(positions[u]),
                target_train_count=None if target_counts is None else int(target_counts[u]),
            )
        )
    return cases


class _Rows:
    """Indexable by row, computing each value on demand."""

    def __init__(self, fn: Callable[[int], Any]):
        self.fn = fn

    def __getitem__(self, u: int) -> Any:
        return self.fn(u)


# ------------------------------------------------------------------------------------ the split's data
@dataclasses.dataclass
class _Joined:
    """The evaluation rows joined with the split (``U`` rows). For unmatched rows the arrays hold -1."""

    matched: np.ndarray  # bool [U]
    reasons: np.ndarray  # str [U], "" when matched
    history_length: np.ndarray  # int64 [U]
    target_id: np.ndarray  # int64 [U]
    history: Callable[[int], np.ndarray]  # row -> its history ids, oldest first
    session_length: Optional[np.ndarray] = None  # int64 [U] (session events)
    position: Optional[np.ndarray] = None  # int64 [U] (session events)
    join: str = ""


def _is_session_split(spec: FeatureSpec) -> bool:
    return spec.protocol.get("split") == "session" and "target_ids" not in spec.features


def _occurrence(ids: np.ndarray) -> np.ndarray:
    """int ``[N]``: how many earlier entries of ``ids`` equal each entry (0 for the first)."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    start = np.ones(ids.size, bool)
    start[1:] = sorted_ids[1:] != sorted_ids[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(ids.size), 0))
    out = np.empty(ids.size, np.int64)
    out[order] = np.arange(ids.size) - group_start
    return out


def _read_records(spec: FeatureSpec, split: str):
    """The split's records in read order: ids str [R], items flat + offsets [R + 1], targets flat + offsets."""
    from tfseqrec.data.loader import SequenceBatchConfig, make_dataset

    config = SequenceBatchConfig(batch_size=4096, padding="ragged", include_targets=True, num_parallel_reads=None)
    ids, items, lengths, targets, target_lengths = [], [], [], [], []
    for batch in make_dataset(spec, split, config):
        items.append(batch["item_ids"].flat_values.numpy())
        lengths.append(batch["item_ids"].row_lengths().numpy())
        targets.append(batch["target_ids"].flat_values.numpy())
        target_lengths.append(batch["target_ids"].row_lengths().numpy())
        if "sequence_id" in batch:
            ids.extend(s.decode("utf-8") for s in batch["sequence_id"].numpy())
        else:
            ids.extend(str(len(ids) + i) for i in range(int(lengths[-1].size)))

    def flat(parts, counts):
        values = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        sizes = np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)
        return values, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    return (np.asarray(ids, dtype=str),) + flat(items, lengths) + flat(targets, target_lengths)


def _join_records(result: EvaluationResult, spec: FeatureSpec, split: str, single: bool) -> _Joined:
    """Users: the k-th row with a sequence id is the k-th record with it (the evaluator's read order)."""
    rec_ids, items, offsets, targets, target_offsets = _read_records(spec, split)
    has_target = target_offsets[1:] > target_offsets[:-1]
    first_target = np.zeros(rec_ids.size, np.int64)
    first_target[has_target] = targets[target_offsets[:-1][has_target]]
    if single:
        evaluated = np.arange(rec_ids.size)
    else:  # The evaluator leaves out records without a target (ids 0 are padding).
        target_row = np.repeat(np.arange(rec_ids.size), target_offsets[1:] - target_offsets[:-1])
        evaluated = np.flatnonzero(np.bincount(target_row[targets > 0], minlength=rec_ids.size) > 0)
    lookup = {
        (sid, int(k)): int(r)
        for sid, k, r in zip(rec_ids[evaluated].tolist(), _occurrence(rec_ids[evaluated]).tolist(), evaluated.tolist())
    }
    ids = np.asarray(result.sequence_ids).astype(str)
    record = np.array(
        [lookup.get((sid, int(k)), -1) for sid, k in zip(ids.tolist(), _occurrence(ids).tolist())], dtype=np.int64
    )
    matched = record >= 0
    reasons = np.where(matched, "", f"sequence_id not among the evaluated records of split {split!r}").astype(object)
    safe = np.where(matched, record, 0)
    history_length = np.where(matched, (offsets[1:] - offsets[:-1])[safe] if rec_ids.size else 0, -1)
    target_id = np.where(matched, first_target[safe] if rec_ids.size else 0, -1)
    _check_stored(result, matched, reasons, history_length, target_id, check_target=single)
    matched = reasons == ""
    return _Joined(
        matched=matched,
        reasons=reasons.astype(str),
        history_length=np.where(matched, history_length, -1),
        target_id=np.where(matched, target_id, -1),
        history=lambda u: items[offsets[record[u]] : offsets[record[u] + 1]],
        join="by sequence_id: the k-th evaluated row with an id is the k-th record with it in the split's read "
        "order (records without targets are not evaluated)",
    )


def _join_sessions(result: EvaluationResult, spec: FeatureSpec, split: str) -> _Joined:
    """Session events: by ``(sequence_id, session_index, position)``."""
    from tfseqrec.evaluation.sessions import read_session_events

    events = read_session_events(spec, split)
    values, offsets = events.values["item_ids"], events.offsets
    lengths = offsets[1:] - offsets[:-1]
    ids = np.asarray(result.sequence_ids).astype(str)
    rows = ids.size
    per_user = result.per_user
    if "session_index" in per_user and "position" in per_user:
        session = np.asarray(per_user["session_index"], np.int64)
        position = np.asarray(per_user["position"], np.int64)
        join = (
            "by (sequence_id, session_index, position): session_index is the session's place in the split's read order"
        )
    elif "position" in per_user:
        first = {}
        for s, sid in enumerate(events.session_ids.tolist()):
            first.setdefault(sid, s)
        session = np.array([first.get(sid, -1) for sid in ids.tolist()], np.int64)
        position = np.asarray(per_user["position"], np.int64)
        join = "by (sequence_id, position): no session_index stored"
    elif rows == events.num_events and np.array_equal(ids, events.event_session_ids):
        session, position = events.session_index.copy(), events.position.copy()
        join = "by row order: no session_index/position stored, and the rows list the split's events in order"
    else:
        session, position = np.full(rows, -1, np.int64), np.full(rows, -1, np.int64)
        join = "impossible: no session_index/position stored and the rows are not the split's events in order"
    ok = (session >= 0) & (session < lengths.size)
    safe = np.where(ok, session, 0)
    if lengths.size:
        ok &= (events.session_ids[safe] == ids) & (position >= 1) & (position < lengths[safe])
    reasons = np.where(ok, "", f"(sequence_id, session_index, position) is not an event of split {split!r}")
    reasons = reasons.astype(object)
    history_length = np.where(ok, position, -1)
    target_id = np.where(ok, values[np.where(ok, offsets[safe] + position, 0)] if values.size else 0, -1)
    _check_stored(result, ok, reasons, history_length, target_id, check_target=True)
    matched = reasons == ""
    return _Joined(
        matched=matched,
        reasons=reasons.astype(str),
        history_length=np.where(matched, history_length, -1),
        target_id=np.where(matched, target_id, -1),
        history=lambda u: values[offsets[session[u]] : offsets[session[u]] + position[u]],
        session_length=np.where(matched, lengths[safe] if lengths.size else 0, -1),
        position=np.where(matched, position, -1),
        join=join,
    )


def _check_stored(
    result: EvaluationResult,
    ok: np.ndarray,
    reasons: np.ndarray,
    history_length: np.ndarray,
    target_id: np.ndarray,
    check_target: bool,
) -> None:
    """Marks rows whose stored ``target_id`` / ``history_length`` (newer evaluations) disagree with the split."""
    checks = [("history_length", history_length)] + ([("target_id", target_id)] if check_target else [])
    for name, recomputed in checks:
        stored = result.per_user.get(name)
        if stored is None:
            continue
        differs = ok & (reasons == "") & (np.asarray(stored).reshape(-1) != recomputed)
        reasons[differs] = f"the stored {name} differs from the split's record"


# -------------------------------------------------------------------------------------------- analyze
def analyze(
    result: EvaluationResult,
    data_dir: str,
    split: Optional[str] = None,
    n_failures: int = 20,
    history_items: int = 20,
    cold_threshold: int = 5,
    metrics: Sequence[str] = DEFAULT_METRICS,
    head_share: float = 0.2,
    tail_share: float = 0.5,
    history_edges: Optional[Sequence[int]] = None,
) -> ErrorAnalysis:
    """Segments an evaluation's rows and lists its worst failures.

    Args:
      result: an evaluation (:func:`tfseqrec.evaluation.evaluate`, or :meth:`EvaluationResult.load`).
      data_dir: the dataset it evaluated (the output directory of ``tfseqrec preprocess``).
      split: the evaluated split; None = the one in ``result.protocol`` (a different one is an error).
      n_failures: failure cases to list (the matched rows with the largest rank).
      history_items: latest history items shown per failure case.
      cold_threshold: targets with at most this many training interactions are cold.
      metrics: ``per_user`` names to average per segment; names the evaluation lacks are skipped and
        listed in ``protocol["metrics_missing"]``.
      head_share, tail_share: see :func:`popularity_segments`.
      history_edges: bucket ends of ``history_length`` (see :func:`history_length_segments`); None =
        :data:`HISTORY_EDGES` for users, :data:`SESSION_HISTORY_EDGES` for session events.

    Returns:
      An :class:`ErrorAnalysis`.
    """
    if n_failures < 0 or history_items < 0:
        raise ValueError(f"n_failures and history_items must be >= 0, got {n_failures} and {history_items}")
    spec = load_feature_spec(data_dir)
    split = _checked_split(result, split)
    session = _check_dataset(result, spec, data_dir)
    single = session or spec.protocol.get("targets_per_record") == 1
    available = [m for m in metrics if m in result.per_user and np.ndim(result.per_user[m]) == 1]
    missing = [m for m in metrics if m not in available]
    if not available:
        raise ValueError(
            f"none of the metrics {list(metrics)} is in the evaluation; per-row names: "
            f"{sorted(k for k, v in result.per_user.items() if np.ndim(v) == 1)}"
        )

    joined = _join_sessions(result, spec, split) if session else _join_records(result, spec, split, single)
    vocab = load_vocabulary(spec)
    item_counts = np.asarray(load_item_counts(spec), np.int64)
    known = joined.matched & (joined.target_id >= 0) & (joined.target_id < item_counts.size)
    target_counts = np.where(known, item_counts[np.where(known, joined.target_id, 0)], 0)
    options = _Options(
        n_failures=n_failures,
        history_items=history_items,
        cold_threshold=cold_threshold,
        head_share=head_share,
        tail_share=tail_share,
        edges=_check_edges(
            history_edges if history_edges is not None else SESSION_HISTORY_EDGES if session else HISTORY_EDGES
        ),
    )
    segments = _segments(result, joined, target_counts, item_counts, session, available, options)
    failures = _failures(result, joined, vocab, target_counts, options)
    protocol = _analysis_protocol(
        result, data_dir, split, session, single, joined, target_counts, item_counts, available, missing, options
    )
    rows = int(joined.matched.size)
    overall = {"count": rows, **{m: float(np.mean(result.per_user[m])) if rows else float("nan") for m in available}}
    summary = result.summary
    return ErrorAnalysis(
        segments=segments,
        failures=failures,
        coverage={k: v for k, v in summary.items() if k.startswith("coverage@")},
        popularity_bias={k: v for k, v in summary.items() if k.startswith(("popularity_percentile@", "gini@"))},
        protocol=protocol,
        overall=overall,
    )


@dataclasses.dataclass(frozen=True)
class _Options:
    """The options of :func:`analyze` (``edges``: the checked ``history_length`` bucket ends)."""

    n_failures: int
    history_items: int
    cold_threshold: int
    head_share: float
    tail_share: float
    edges: tuple[int, ...]


def _checked_split(result: EvaluationResult, split: Optional[str]) -> str:
    """The split to analyze: ``split``, else the evaluated one (default ``"test"``); they must agree."""
    evaluated = result.protocol.get("split") or result.config.get("split")
    split = split or evaluated or "test"
    if evaluated and split != evaluated:
        raise ValueError(f"the evaluation is of split {evaluated!r}, not {split!r}")
    return split


def _check_dataset(result: EvaluationResult, spec: FeatureSpec, data_dir: str) -> bool:
    """Raises when ``data_dir`` cannot be the evaluated dataset; returns whether it is a session split."""
    expected = result.protocol.get("num_items")
    if expected is not None and int(expected) != spec.num_items:
        raise ValueError(
            f"the evaluation ranked {expected} items but {data_dir} has {spec.num_items}: "
            f"is it the dataset that was evaluated?"
        )
    session = _is_session_split(spec)
    if "position" in result.per_user and not session:
        raise ValueError(f"the evaluation holds session events but {data_dir} is not a session split")
    if not session and "target_ids" not in spec.features:
        raise ValueError(f"{data_dir} has no targets and is not a session split; nothing was evaluated on it")
    return session


def _segments(
    result: EvaluationResult,
    joined: _Joined,
    target_counts: np.ndarray,
    item_counts: np.ndarray,
    session: bool,
    available: list[str],
    options: _Options,
) -> list[SegmentRow]:
    """The metrics of every segment of every dimension (unmatched rows in the segment ``"unmatched"``)."""
    matched = joined.matched
    rows = int(matched.size)

    def labelled(values: np.ndarray) -> np.ndarray:
        out = np.full(rows, UNMATCHED, dtype=object)
        out[matched] = values
        return out.astype(str)

    edges = options.edges
    cold, warm = _cold_labels(options.cold_threshold)
    dimensions = [
        (
            "history_length",
            labelled(history_length_segments(joined.history_length[matched], edges)),
            history_length_labels(edges),
        ),
        (
            "target_popularity",
            labelled(popularity_segments(target_counts[matched], item_counts, options.head_share, options.tail_share)),
            [HEAD, TORSO, TAIL],
        ),
        ("cold_target", labelled(cold_segments(target_counts[matched], options.cold_threshold)), [cold, warm]),
    ]
    if session:
        dimensions.append(
            (
                "session_position",
                labelled(session_position_segments(joined.position[matched], joined.session_length[matched])),
                [FIRST, MIDDLE, LAST, ONLY],
            )
        )
    segments = []
    for name, labels, order in dimensions:
        segments += segment_metrics(result.per_user, labels, name, available, order=list(order) + [UNMATCHED])
    return segments


def _failures(
    result: EvaluationResult, joined: _Joined, vocab: list, target_counts: np.ndarray, options: _Options
) -> list[FailureCase]:
    """The matched rows with the largest rank, with their items as strings."""
    history_items = options.history_items
    rows = int(joined.matched.size)

    def raw(i: int) -> str:
        return vocab[i] if 0 <= i < len(vocab) else f"<id {i}>"

    topk = np.asarray(result.per_user.get("topk_ids", np.zeros((rows, 0), np.int64)))
    return worst_cases(
        result.per_user["rank"],
        result.sequence_ids,
        target_items=_Rows(lambda u: raw(int(joined.target_id[u]))),
        histories=_Rows(lambda u: [raw(int(i)) for i in joined.history(u)[-history_items:]] if history_items else []),
        top_items=_Rows(lambda u: [raw(int(i)) for i in topk[u] if i > 0]),
        n=options.n_failures,
        eligible=joined.matched,
        history_items=history_items,
        positions=joined.position,
        target_counts=target_counts,
    )


def _analysis_protocol(
    result: EvaluationResult,
    data_dir: str,
    split: str,
    session: bool,
    single: bool,
    joined: _Joined,
    target_counts: np.ndarray,
    item_counts: np.ndarray,
    available: list[str],
    missing: list[str],
    options: _Options,
) -> dict[str, Any]:
    """How the analysis was made: the join, the unmatched rows and why, the definitions of the segments."""
    matched = joined.matched
    reasons, reason_counts = np.unique(joined.reasons[~matched], return_counts=True)
    protocol = {
        "evaluation": result.protocol,
        "data_dir": data_dir,
        "split": split,
        "rows": int(matched.size),
        "row_kind": "session events" if session else "users" if single else "users with several targets",
        "join": joined.join,
        "checked_against_stored": [n for n in ("history_length", "target_id") if n in result.per_user],
        "matched_rows": int(matched.sum()),
        "unmatched_rows": int((~matched).sum()),
        "unmatched_reasons": {str(r): int(c) for r, c in zip(reasons.tolist(), reason_counts.tolist())},
        "metrics": available,
        "metrics_missing": missing,
        "target": "s[t], the item after the prefix"
        if session
        else "the target item"
        if single
        else "the first target (the next item); rank is the best position among the distinct targets",
        "history_length": "the prefix length t"
        if session
        else "items of the whole stored history (before any max_len cut of the evaluation)",
        "history_edges": list(options.edges),
        "popularity": {
            "head_share": options.head_share,
            "tail_share": options.tail_share,
            **popularity_thresholds(item_counts, options.head_share, options.tail_share),
            "definition": "items ranked by train count; m = items with a strictly larger count; "
            "head: m < head_share * n, tail: m >= (1 - tail_share) * n or count 0, "
            "torso: the rest (n = real items of the vocabulary)",
        },
        "cold_threshold": options.cold_threshold,
        "targets_unseen_in_training": int((matched & (target_counts <= 0)).sum()),
        "failures": "the matched rows with the largest rank; ties by sequence_id, then row order",
        "history_items": options.history_items,
    }
    if session:
        protocol["session_position"] = (
            "first: t = 1; last: t = n - 1; middle: between; only (2-item session): n = 2 (n = items in the session)"
        )
    return protocol
