"""The full-ranking evaluator: every target is ranked against ALL items, never sampled negatives.

Usage::

    import tfseqrec  # before tensorflow
    from tfseqrec.evaluation import EvaluationConfig, evaluate

    result = evaluate(model.score_all, "/data/ml-1m/processed", EvaluationConfig(max_len=200))
    result.summary["NDCG@10"]
    result.save("/runs/sasrec/eval")

``score_fn(batch) -> [B, V]`` scores every vocabulary id for each row of a batch from
:func:`tfseqrec.data.make_dataset` (left padded; ``item_ids``, ``lengths``, ``sequence_id`` and the
spec's ``timestamps`` / ``event_types``), or, for session splits, of a batch of session prefixes with
the same keys. The targets are removed from the batch before it is passed on, so a score function
cannot see them.

Protocol (written into every result):

* conservative ranks: ties count against the model (see :mod:`tfseqrec.evaluation.metrics`);
* PAD and OOV are never candidates; with ``filter_seen`` the items of the user's *whole stored
  history* are not candidates either (also those cut off by ``max_len`` before scoring); the
  targets are always candidates;
* leave-one-out splits (``targets_per_record == 1``) use the rank of ``target_id``; other splits
  with targets (temporal) use the conservative positions of the distinct ``target_ids``;
* session splits (protocol ``session``: whole sessions in ``item_ids``, no targets) are evaluated on
  *every next item*, as in the GRU4Rec and SR-GNN papers: a session ``s`` of ``n`` items gives the
  events ``(s[:t], s[t])``, ``t = 1..n-1`` (see :mod:`tfseqrec.evaluation.sessions`); the score
  function sees the prefix (its latest ``max_len`` items), ``filter_seen`` excludes the items of the
  whole prefix, every metric is a mean over events, and ``per_user`` holds one row per event with its
  ``session_index`` and ``position`` (``t``) so that two models' events can be paired;
* top-K lists (for coverage and popularity) are made without looking at the targets;
* for error analysis (:mod:`tfseqrec.evaluation.analysis`) ``per_user`` also holds ``history_length``
  (int ``[U]``: items of the whole stored history before any ``max_len`` cut; session events: ``t``)
  and, with one target per row, ``target_id`` (int ``[U]``: the ranked item).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfseqrec.checks import is_int
from tfseqrec.data.loader import SequenceBatchConfig, make_dataset
from tfseqrec.data.spec import FeatureSpec, load_item_counts, resolve_spec
from tfseqrec.evaluation import metrics, ranking
from tfseqrec.evaluation.behaviours import OTTO_WEIGHTS, behaviour_metrics
from tfseqrec.evaluation.results import EvaluationResult
from tfseqrec.evaluation.sessions import SessionEvents, read_session_events
from tfseqrec.ids import FIRST_ITEM_ID

__all__ = ["EvaluationConfig", "EvaluationResult", "evaluate", "ScoreFn", "is_session_split", "SESSION_TARGETS"]

ScoreFn = Callable[[dict], tf.Tensor]
TOPK_FOR_EVENT = "topk_ids_for_event_"  # + event-type id: per_user lists of condition_on_behaviour
_TARGET_KEYS = ("target_ids", "target_id", "target_timestamps", "target_event_types")
_SEQUENCE_KEYS = ("item_ids", "timestamps", "event_types")
SESSION_TARGETS = "session: every next item"
# How the split is evaluated: one target per record, several targets per record, or every next item.
SINGLE, MULTI, SESSION = "single", "multi", "session"


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """How :func:`evaluate` measures.

    Attributes:
      ks: cut-offs of the @K metrics (positive ints, deduplicated and sorted).
      filter_seen: whether items of the user's history are removed from the candidates (the target
        never is).
      batch_size: records (users) per batch; for session splits, events per batch.
      max_len: if set, the score function sees only the latest ``max_len`` items, left padded to
        ``[B, max_len]`` (exclusion still uses the whole stored history); None = whole histories.
      split: the split to evaluate (``"test"``, ``"valid"``).
      topk_for_lists: ids kept per user in ``per_user["topk_ids"]`` and used for coverage and
        popularity; None = ``max(ks)``. Catalogue metrics are reported for each K <= it.
      protocol: a name for this protocol, recorded in the results.
      behaviour_weights: behaviour name -> weight of ``weighted_Recall@K`` in the per-behaviour metrics
        (``tfseqrec.evaluation.behaviours``); None: OTTO's 0.10 / 0.30 / 0.60 when the data's event types are
        ``clicks`` / ``carts`` / ``orders``, else no weighted score.
      condition_on_behaviour: for a score function that answers ``target_event_type`` (int ``[B]``; models with
        ``target_behaviour``): each behaviour's per-behaviour metrics are measured on a top-K list ranked with
        that behaviour asked for (one more scoring pass per behaviour); the overall metrics keep the list of the
        batch as given (no behaviour asked: any).
    """

    ks: tuple[int, ...] = (1, 5, 10, 20)
    filter_seen: bool = True
    batch_size: int = 256
    max_len: Optional[int] = None
    split: str = "test"
    topk_for_lists: Optional[int] = None
    protocol: str = "full_ranking"
    behaviour_weights: Optional[dict] = None
    condition_on_behaviour: bool = False

    def __post_init__(self):
        ks = tuple(self.ks) if isinstance(self.ks, (list, tuple)) else ()
        if not ks or not all(is_int(k) and k > 0 for k in ks):
            raise ValueError(f"EvaluationConfig.ks must be a non-empty sequence of positive ints, got {self.ks!r}")
        object.__setattr__(self, "ks", tuple(sorted(set(ks))))
        if not isinstance(self.filter_seen, bool):
            raise ValueError(f"EvaluationConfig.filter_seen must be a bool, got {self.filter_seen!r}")
        if not is_int(self.batch_size) or self.batch_size <= 0:
            raise ValueError(f"EvaluationConfig.batch_size must be a positive int, got {self.batch_size!r}")
        if self.max_len is not None and (not is_int(self.max_len) or self.max_len <= 0):
            raise ValueError(f"EvaluationConfig.max_len must be None or a positive int, got {self.max_len!r}")
        if not isinstance(self.split, str) or not self.split:
            raise ValueError(f"EvaluationConfig.split must be a split name, got {self.split!r}")
        if self.topk_for_lists is None:
            object.__setattr__(self, "topk_for_lists", max(self.ks))
        elif not is_int(self.topk_for_lists) or self.topk_for_lists <= 0:
            raise ValueError(
                f"EvaluationConfig.topk_for_lists must be None or a positive int, got {self.topk_for_lists!r}"
            )
        if not isinstance(self.protocol, str):
            raise ValueError(f"EvaluationConfig.protocol must be a string, got {self.protocol!r}")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ks"] = list(self.ks)
        return d


def _model_inputs(batch: Mapping[str, Any], max_len: Optional[int]) -> dict:
    """The batch without targets; with ``max_len``, histories cut to the latest items, left padded."""
    out = {k: v for k, v in batch.items() if k not in _TARGET_KEYS}
    if max_len is None:
        return out
    for name in _SEQUENCE_KEYS:
        if name in out:
            x = out[name][:, -max_len:]
            out[name] = tf.pad(x, [[0, 0], [max_len - tf.shape(x)[1], 0]])
    out["lengths"] = tf.minimum(out["lengths"], max_len)
    return out


def is_session_split(spec: FeatureSpec) -> bool:
    """Whether the dataset was split with the ``session`` protocol (whole sessions, no targets)."""
    return spec.protocol.get("split") == "session" and "target_ids" not in spec.features


def _split_mode(spec: FeatureSpec, split: str) -> str:
    """``SINGLE``, ``MULTI`` or ``SESSION`` (see the module docstring); raises when it cannot be evaluated."""
    if split not in spec.splits:
        spec.split_pattern(split)  # KeyError listing the available splits.
    if is_session_split(spec):
        return SESSION
    if "target_ids" not in spec.features or spec.splits[split].num_targets <= 0:
        raise ValueError(
            f"split {split!r} of {spec.directory or 'this dataset'} has no targets (protocol "
            f"{spec.protocol.get('split')!r}); evaluate() needs target_ids (leave_one_out or temporal splits) "
            f"or a session split (every next item of each session)"
        )
    return SINGLE if spec.protocol.get("targets_per_record") == 1 else MULTI


def _record_batches(spec: FeatureSpec, config: EvaluationConfig, single: bool):
    """``(batch, targets)`` per batch of records: ``target_id [B]``, or ``target_ids [B, T]`` padded with 0."""
    batch_config = SequenceBatchConfig(
        batch_size=config.batch_size,
        max_len=None,
        padding="left",
        include_targets=True,
        include_timestamps="timestamps" in spec.features,
        include_event_types="event_types" in spec.features,
        num_parallel_reads=None,
    )
    for batch in make_dataset(spec, config.split, batch_config):
        if single:
            targets = batch["target_id"]
        else:
            targets = batch["target_ids"].to_tensor(default_value=0)
            targets = tf.pad(targets, [[0, 0], [0, tf.maximum(1 - tf.shape(targets)[1], 0)]])  # >= 1 column
        yield batch, targets


def evaluate(
    score_fn: ScoreFn,
    spec_or_dir: Union[FeatureSpec, str],
    config: EvaluationConfig = EvaluationConfig(),
    item_counts: Optional[Sequence[int]] = None,
    verbose: bool = True,
) -> EvaluationResult:
    """Full-ranking evaluation of ``score_fn`` on one split.

    Args:
      score_fn: ``batch dict -> float [B, V]`` scores for every id of the vocabulary.
      spec_or_dir: a :class:`FeatureSpec` or the directory holding ``feature_spec.json``.
      config: the protocol options.
      item_counts: train count per id, int ``[V]`` (for popularity percentiles); None reads them from
        ``vocab.tsv``.
      verbose: show a tqdm progress bar (only when stderr is a terminal).

    Returns:
      An :class:`EvaluationResult`.
    """
    if not callable(score_fn):
        raise TypeError("score_fn must be callable: batch dict -> [B, V] scores")
    if not isinstance(config, EvaluationConfig):
        raise TypeError(f"config must be an EvaluationConfig, got {type(config).__name__}")
    spec = resolve_spec(spec_or_dir)
    mode = _split_mode(spec, config.split)
    single = mode in (SINGLE, SESSION)  # one target per row (a record, or a session event)
    vocab_size = spec.vocabulary.size
    item_counts = _checked_item_counts(spec, item_counts)
    list_k = min(config.topk_for_lists, vocab_size)
    rank_batch = _batch_ranker(vocab_size, config.filter_seen, single, list_k)

    start = time.perf_counter()
    events: Optional[SessionEvents] = None
    if mode == SESSION:
        events = read_session_events(spec, config.split)  # In memory: 8 bytes per click and feature.
        batches, total, unit = events.batches(config.batch_size), events.num_events, "event"
    else:
        batches, total, unit = _record_batches(spec, config, single), spec.splits[config.split].num_records, "user"
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit=unit, desc=f"evaluate {config.split}", disable=not verbose or not sys.stderr.isatty())
    asked = len(spec.event_types) if config.condition_on_behaviour and mode != SESSION else 0
    ranked = _rank_all(score_fn, rank_batch, batches, config.max_len, vocab_size, single, bar, asked)
    seconds = time.perf_counter() - start
    bar.close()

    per_user, sequence_ids, skipped = ranked.per_user(config.ks, list_k, single)
    if events is not None:
        per_user["session_index"] = events.session_index
        per_user["position"] = events.position
    summary = _summary(per_user, config, per_user["topk_ids"], spec.num_items, item_counts)
    summary.update(_throughput(int(len(sequence_ids)), seconds, events, single, skipped))
    return EvaluationResult(
        summary=summary,
        per_user=per_user,
        sequence_ids=sequence_ids,
        protocol=_protocol(config, spec, single, list_k, events),
        config=config.to_json(),
        by_behaviour=ranked.behaviours(spec.event_types, config.ks, _behaviour_weights(config, spec)),
    )


def _behaviour_weights(config: EvaluationConfig, spec: FeatureSpec) -> Optional[dict]:
    if config.behaviour_weights is not None:
        return dict(config.behaviour_weights)
    return dict(OTTO_WEIGHTS) if set(OTTO_WEIGHTS) <= set(spec.event_types) else None


def _checked_item_counts(spec: FeatureSpec, item_counts: Optional[Sequence[int]]) -> Optional[np.ndarray]:
    """``item_counts`` (None: read from ``vocab.tsv``) as an array of one count per id, int ``[V]``."""
    if item_counts is None:
        item_counts = load_item_counts(spec)
    if item_counts is not None:
        item_counts = np.asarray(item_counts)
        vocab_size = spec.vocabulary.size
        if item_counts.shape != (vocab_size,):
            raise ValueError(f"item_counts must have shape [{vocab_size}] (one count per id), got {item_counts.shape}")
    return item_counts


def _batch_ranker(vocab_size: int, filter_seen: bool, single: bool, list_k: int):
    """A compiled ``(scores [B, V], history [B, L], targets) -> (where, candidates [B], top-k ids [B, list_k])``.

    ``where``: the conservative rank ``[B]`` of ``target_id`` (``single``), else the positions ``[B, T]`` of the
    distinct ``target_ids``.
    """

    @tf.function(reduce_retracing=True)
    def rank_batch(scores, history, targets):
        excl = ranking.exclusion_mask(history, vocab_size, filter_seen)
        if single:
            where, candidates = ranking.conservative_ranks(scores, targets, excl)
        else:
            where, candidates = ranking.target_positions(scores, targets, excl)
        return where, candidates, ranking.masked_top_k(scores, excl, list_k)

    return rank_batch


@dataclasses.dataclass
class _Ranked:
    """What :func:`_rank_all` gathers, one array per batch (``U`` = rows over all batches)."""

    found: list = dataclasses.field(default_factory=list)  # ranks [B], or target positions [B, T]
    counts: list = dataclasses.field(default_factory=list)  # candidates [B]
    lists: list = dataclasses.field(default_factory=list)  # top-k ids [B, list_k]
    sequence_ids: list = dataclasses.field(default_factory=list)  # str per row
    history_lengths: list = dataclasses.field(default_factory=list)  # For error analysis (evaluation.analysis).
    target_ids: list = dataclasses.field(default_factory=list)  # [B], one target per row only
    target_lists: list = dataclasses.field(default_factory=list)  # [B, T] 0-padded, with target_event_types
    target_events: list = dataclasses.field(default_factory=list)  # [B, T] their event types
    behaviour_lists: dict = dataclasses.field(default_factory=dict)  # event id -> [[B, list_k]]: lists asked for it

    def behaviours(self, event_names: Sequence[str], ks: Sequence[int], weights) -> dict:
        """Per-behaviour metrics of every row (``tfseqrec.evaluation.behaviours``); empty without event types."""
        if not self.target_events:
            return {}
        width = max(t.shape[1] for t in self.target_lists)
        pad = lambda parts: np.concatenate([np.pad(p, [(0, 0), (0, width - p.shape[1])]) for p in parts])  # noqa: E731
        topk = np.concatenate(self.lists)
        asked = {event_id: np.concatenate(lists) for event_id, lists in self.behaviour_lists.items()}
        return behaviour_metrics(
            topk, pad(self.target_lists), pad(self.target_events), event_names, ks, weights, topk_by_behaviour=asked
        )

    def per_user(self, ks: Sequence[int], list_k: int, single: bool) -> tuple[dict, np.ndarray, int]:
        """``(per_user, sequence_ids [U], rows without targets)``; with several targets per row, rows without
        any are left out (and counted)."""
        num_candidates = _concat(self.counts, np.zeros(0, np.int64))
        topk_ids = _concat(self.lists, np.zeros((0, list_k), np.int64))
        asked = {event_id: _concat(lists, topk_ids[:0]) for event_id, lists in self.behaviour_lists.items()}
        sequence_ids = np.asarray(self.sequence_ids, dtype=str)
        history_length = _concat(self.history_lengths, np.zeros(0, np.int64))
        per_user: dict[str, np.ndarray] = {}
        skipped = 0
        if single:
            ranks = _concat(self.found, np.zeros(0, np.int64))
            per_user["rank"] = ranks
            per_user.update(metrics.single_target_metrics(ranks, num_candidates, ks))
        else:
            width = max((f.shape[1] for f in self.found), default=1)
            positions = (
                np.concatenate([np.pad(f, [(0, 0), (0, width - f.shape[1])]) for f in self.found]).astype(np.int64)
                if self.found
                else np.zeros((0, 1), np.int64)
            )
            num_targets = (positions > 0).sum(axis=1)
            keep = num_targets > 0  # A record without targets cannot be scored; counted in the summary.
            skipped = int((~keep).sum())
            positions, num_targets = positions[keep], num_targets[keep]
            num_candidates, topk_ids, sequence_ids = num_candidates[keep], topk_ids[keep], sequence_ids[keep]
            asked = {event_id: lists[keep] for event_id, lists in asked.items()}
            history_length = history_length[keep]
            per_user["rank"] = (
                np.where(positions > 0, positions, np.iinfo(np.int64).max).min(axis=1)
                if len(positions)
                else np.zeros(0, np.int64)
            )
            per_user["num_targets"] = num_targets
            per_user["target_positions"] = positions
            per_user.update(metrics.multi_target_metrics(positions, num_candidates, ks))
        per_user["num_candidates"] = num_candidates
        per_user["topk_ids"] = topk_ids
        for event_id, lists in asked.items():
            per_user[f"{TOPK_FOR_EVENT}{event_id}"] = lists  # ranked with that behaviour asked for
        per_user["history_length"] = history_length
        if single:
            per_user["target_id"] = _concat(self.target_ids, np.zeros(0, np.int64))
        return per_user, sequence_ids, skipped


def _concat(parts: list, empty: np.ndarray) -> np.ndarray:
    """The int64 concatenation of ``parts``; ``empty`` when there are none."""
    return np.concatenate(parts).astype(np.int64) if parts else empty


def _checked_scores(score_fn: ScoreFn, inputs: dict, rows: int, vocab_size: int) -> tf.Tensor:
    scores = tf.convert_to_tensor(score_fn(inputs))
    if scores.shape.rank != 2 or scores.shape[0] != rows or scores.shape[1] != vocab_size:
        raise ValueError(
            f"score_fn must return [batch, vocabulary size] = [{rows}, {vocab_size}] scores, got shape {scores.shape}"
        )
    return scores


def _rank_all(
    score_fn: ScoreFn,
    rank_batch,
    batches,
    max_len: Optional[int],
    vocab_size: int,
    single: bool,
    bar,
    behaviours_asked: int = 0,
) -> _Ranked:
    """Scores and ranks every ``(batch, targets)`` of ``batches``; checks that scores are ``[B, V]``. With
    ``behaviours_asked = n``, also ranks each batch once per event type ``1..n`` with ``target_event_type`` set."""
    ranked = _Ranked()
    for batch, targets in batches:
        inputs = _model_inputs(batch, max_len)
        rows = int(tf.shape(batch["item_ids"])[0])
        scores = _checked_scores(score_fn, inputs, rows, vocab_size)
        where, candidates, topk = rank_batch(scores, batch["item_ids"], targets)
        for event_id in range(1, behaviours_asked + 1):
            asked = dict(inputs, target_event_type=tf.fill([rows], tf.constant(event_id, tf.int64)))
            asked_scores = _checked_scores(score_fn, asked, rows, vocab_size)
            _, _, asked_topk = rank_batch(asked_scores, batch["item_ids"], targets)
            ranked.behaviour_lists.setdefault(event_id, []).append(asked_topk.numpy())
        ranked.found.append(where.numpy())
        ranked.counts.append(candidates.numpy())
        ranked.lists.append(topk.numpy())
        ranked.history_lengths.append(np.asarray(batch["lengths"]))  # Whole stored history (session: the prefix).
        if single:
            ranked.target_ids.append(np.asarray(targets))
        if "target_event_types" in batch:
            ranked.target_lists.append(batch["target_ids"].to_tensor(default_value=0).numpy())
            ranked.target_events.append(batch["target_event_types"].to_tensor(default_value=0).numpy())
        if "sequence_id" in batch:
            ranked.sequence_ids.extend(s.decode("utf-8") for s in batch["sequence_id"].numpy())
        else:
            ranked.sequence_ids.extend(str(len(ranked.sequence_ids) + i) for i in range(rows))
        bar.update(rows)
    return ranked


def _throughput(
    rows: int, seconds: float, events: Optional[SessionEvents], single: bool, skipped: int
) -> dict[str, Any]:
    """The summary's counts and speed: events and sessions for session splits, else users."""
    if events is not None:
        return {
            "num_events": rows,
            "num_sessions": events.num_sessions,
            "seconds": seconds,
            "events_per_second": rows / seconds if seconds > 0 else float("nan"),
        }
    out: dict[str, Any] = {"num_users": rows}
    if not single:
        out["num_users_without_targets"] = skipped
    out["seconds"] = seconds
    out["users_per_second"] = rows / seconds if seconds > 0 else float("nan")
    return out


def _protocol(
    config: EvaluationConfig, spec: FeatureSpec, single: bool, list_k: int, events: Optional[SessionEvents]
) -> dict[str, Any]:
    """The protocol written into the result (see the module docstring)."""
    protocol = {
        "name": config.protocol,
        "split": config.split,
        "ranking": "full",  # Against all items, never sampled negatives.
        "ties": "conservative",
        "filter_seen": config.filter_seen,
        "filter_seen_scope": "whole stored history" if config.filter_seen else None,
        "target_in_history": "kept as a candidate",
        "targets": "single (target_id)" if single else "multiple (distinct target_ids)",
        "ks": list(config.ks),
        "topk_for_lists": list_k,
        "max_len": config.max_len,
        "num_items": spec.num_items,
        "dataset": spec.directory,
        "dataset_protocol": spec.protocol,
    }
    if events is not None:
        protocol.update(
            {
                "targets": SESSION_TARGETS,
                "events": "a session s of n items gives n - 1 events: input s[:t] (its latest max_len items), "
                "target s[t], t = 1..n-1; metrics are means over events",
                "filter_seen_scope": "the session prefix s[:t]" if config.filter_seen else None,
            }
        )
    return protocol


def _summary(
    per_user: dict[str, np.ndarray],
    config: EvaluationConfig,
    topk_ids: np.ndarray,
    num_items: int,
    item_counts: Optional[np.ndarray],
) -> dict[str, Any]:
    """Means of the per-user metrics, and the catalogue metrics of the top-K lists at each K."""
    summary: dict[str, Any] = {}
    names = [
        n for k in config.ks for n in (f"HR@{k}", f"Recall@{k}", f"NDCG@{k}", f"MRR@{k}", f"Precision@{k}", f"MAP@{k}")
    ] + ["MRR", "AUC"]
    for name in names:
        values = per_user[name]
        summary[name] = float(values.mean()) if values.size else float("nan")
    percentiles = metrics.popularity_percentiles(item_counts) if item_counts is not None else None
    for k in config.ks:
        if k > topk_ids.shape[1]:
            continue
        lists = topk_ids[:, :k]
        summary[f"coverage@{k}"] = metrics.coverage(lists, num_items)
        if percentiles is not None:
            bias = metrics.popularity_bias(lists, item_counts)
            summary[f"popularity_percentile@{k}"] = bias.mean_percentile
            summary[f"gini@{k}"] = bias.gini
            real = lists >= FIRST_ITEM_ID
            pct = np.where(real, percentiles[np.where(real, lists, FIRST_ITEM_ID)], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_user[f"popularity_percentile@{k}"] = pct.sum(axis=1) / real.sum(axis=1)
    return summary
