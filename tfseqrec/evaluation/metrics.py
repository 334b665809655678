"""Full-ranking metrics as pure numpy functions (no TensorFlow).

Conventions (``U`` = users, ``V`` = vocabulary size, ids 0 = PAD, 1 = OOV, real items 2..V-1):

* **Full ranking.** A target is ranked against every candidate item, never against sampled negatives.
  The candidates of a user are all real items minus the excluded ones (the history when
  ``filter_seen``); PAD and OOV are never candidates.
* **Ties count against the model** (conservative rank): ``rank = 1 + #{other candidates j : s_j >= s_t}``.
  A target tied with two other items at the top score has rank 3. A target whose score is ``-inf``
  is tied with every ``-inf`` candidate and so ranks below all of them.
* **The target is never excluded**, even when it is in the user's history and ``filter_seen`` is on.
  Excluding it would make a repeated item unrankable (the user would always count as a miss), so
  datasets with repeat consumption would be scored by a different rule than the rest; keeping it makes
  every target rankable and ``filter_seen`` only removes the *other* seen items from the competition.
* **Single target** (leave-one-out) metrics come from ranks ``[U]``. **Several targets** (temporal
  split) come from *positions* ``[U, T]``: the 1-based place of each target in the user's ranked list,
  0 = padding. :func:`positions_from_topk` makes positions from a top-K id list; the evaluator computes
  conservative positions (ties broken against the targets) so that a single-target position equals
  the conservative rank and the multi-target metrics reduce to the single-target ones.

Scores containing NaN are rejected (``ValueError``): a NaN comparison is neither a win nor a loss.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Sequence

import numpy as np

from tfseqrec.ids import FIRST_ITEM_ID

__all__ = [
    "conservative_ranks",
    "num_candidates",
    "hit_rate",
    "recall",
    "ndcg",
    "mrr",
    "precision",
    "average_precision",
    "auc",
    "single_target_metrics",
    "positions_from_topk",
    "multi_hit_rate",
    "multi_recall",
    "multi_ndcg",
    "multi_precision",
    "multi_average_precision",
    "multi_mrr",
    "multi_auc",
    "multi_target_metrics",
    "coverage",
    "popularity_percentiles",
    "gini",
    "PopularityBias",
    "popularity_bias",
]


# --------------------------------------------------------------------------------------- ranks
def _exclusion(exclude_mask: Optional[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Copy of ``exclude_mask`` (or all False) with the PAD and OOV columns set: bool ``[U, V]``."""
    if exclude_mask is None:
        excl = np.zeros(shape, dtype=bool)
    else:
        excl = np.array(exclude_mask, dtype=bool, copy=True)
        if excl.shape != shape:
            raise ValueError(f"exclude_mask has shape {excl.shape}, scores have {shape}")
    excl[:, :FIRST_ITEM_ID] = True
    return excl


def _check_targets(targets: np.ndarray, num_users: int, vocab_size: int) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.shape != (num_users,):
        raise ValueError(f"targets must have shape [{num_users}], got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets must be integer ids, got dtype {targets.dtype}")
    bad = (targets < FIRST_ITEM_ID) | (targets >= vocab_size)
    if bad.any():
        raise ValueError(f"targets must be real item ids in [2, {vocab_size}); got {targets[bad][:5].tolist()}")
    return targets.astype(np.int64)


def conservative_ranks(
    scores: np.ndarray, targets: np.ndarray, exclude_mask: Optional[np.ndarray] = None
) -> np.ndarray:
    """Conservative full-ranking rank of each user's target.

    Args:
      scores: float ``[U, V]``, a score for every vocabulary id (higher = better). No NaN.
      targets: int ``[U]``, the target id of each user, in ``[2, V)``.
      exclude_mask: bool ``[U, V]`` or None; True = the item is not a candidate (e.g. seen items).
        Columns 0 and 1 (PAD, OOV) are always excluded; the target itself is never excluded.

    Returns:
      int64 ``[U]``: ``1 + #{non-excluded items j != target : scores[u, j] >= scores[u, target]}``.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be [U, V], got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    targets = _check_targets(targets, scores.shape[0], scores.shape[1])
    excl = _exclusion(exclude_mask, scores.shape)
    rows = np.arange(scores.shape[0])
    excl[rows, targets] = False
    target_scores = scores[rows, targets][:, None]
    # The target compares >= with itself, which supplies the "1 +".
    return ((scores >= target_scores) & ~excl).sum(axis=1).astype(np.int64)


def num_candidates(targets: np.ndarray, vocab_size: int, exclude_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Candidates per user (non-excluded real items, the target included): int64 ``[U]``.

    ``targets`` int ``[U]`` or ``[U, T]`` (0 = padding): every target is a candidate.
    """
    targets = np.asarray(targets)
    if targets.ndim == 1:
        targets = targets[:, None]
    excl = _exclusion(exclude_mask, (targets.shape[0], vocab_size))
    rows = np.repeat(np.arange(targets.shape[0]), targets.shape[1])
    flat = targets.reshape(-1)
    keep = flat >= FIRST_ITEM_ID
    excl[rows[keep], flat[keep]] = False
    return (~excl).sum(axis=1).astype(np.int64)


# ---------------------------------------------------------------------------- single target
def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return int(k)


def _ranks(ranks) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.ndim != 1:
        raise ValueError(f"ranks must be [U], got shape {ranks.shape}")
    if (ranks < 1).any():
        raise ValueError("ranks are 1-based; got a rank < 1")
    return ranks.astype(np.float64)


def hit_rate(ranks: np.ndarray, k: int) -> np.ndarray:
    """HR@k of single targets: float ``[U]``, 1.0 where ``rank <= k``. Equals Recall@k for one target."""
    return (_ranks(ranks) <= _check_k(k)).astype(np.float64)


recall = hit_rate


def ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k of single targets: float ``[U]``, ``1 / log2(rank + 1)`` where ``rank <= k`` else 0 (ideal DCG = 1)."""
    r = _ranks(ranks)
    return np.where(r <= _check_k(k), 1.0 / np.log2(r + 1.0), 0.0)


def mrr(ranks: np.ndarray, k: Optional[int] = None) -> np.ndarray:
    """Reciprocal rank: float ``[U]``, ``1 / rank``; with ``k`` (MRR@k) 0 where ``rank > k``."""
    r = _ranks(ranks)
    rr = 1.0 / r
    return rr if k is None else np.where(r <= _check_k(k), rr, 0.0)


def precision(ranks: np.ndarray, k: int) -> np.ndarray:
    """Precision@k of single targets: float ``[U]``, ``hit / k``."""
    return hit_rate(ranks, k) / _check_k(k)


def average_precision(ranks: np.ndarray, k: int) -> np.ndarray:
    """AP@k of single targets (MAP@k is its mean): float ``[U]``, ``1 / rank`` where ``rank <= k`` else 0."""
    return mrr(ranks, k)


def auc(ranks: np.ndarray, num_candidates: np.ndarray) -> np.ndarray:
    """Full-ranking AUC of single targets: float ``[U]``, ``1 - (rank - 1) / (num_candidates - 1)``.

    ``num_candidates`` int ``[U]`` counts the non-excluded items *including* the target, so the
    fraction is over the other candidates; ties count as losses. A user whose only candidate is the
    target gets 1.0.
    """
    r = _ranks(ranks)
    n = np.asarray(num_candidates, dtype=np.float64)
    if n.shape != r.shape:
        raise ValueError(f"num_candidates has shape {n.shape}, ranks have {r.shape}")
    if (r > n).any():
        raise ValueError("a rank is larger than its number of candidates")
    others = n - 1.0
    return np.where(others > 0, 1.0 - (r - 1.0) / np.maximum(others, 1.0), 1.0)


def single_target_metrics(ranks: np.ndarray, num_candidates: np.ndarray, ks: Iterable[int]) -> dict[str, np.ndarray]:
    """All per-user single-target metrics: ``{"HR@k", "Recall@k", "NDCG@k", "MRR@k", "Precision@k",
    "MAP@k"}`` for each k, plus ``"MRR"`` and ``"AUC"``; each float ``[U]``."""
    cutoffs = (
        ("HR", hit_rate),
        ("Recall", recall),
        ("NDCG", ndcg),
        ("MRR", mrr),
        ("Precision", precision),
        ("MAP", average_precision),
    )
    return _metric_table(cutoffs, mrr, auc, ranks, num_candidates, ks)


def _metric_table(
    cutoffs, mrr_fn, auc_fn, values: np.ndarray, num_candidates: np.ndarray, ks: Iterable[int]
) -> dict[str, np.ndarray]:
    """``{"NAME@k": fn(values, k)}`` for each k and each ``(NAME, fn)`` of ``cutoffs``, then "MRR" and "AUC"."""
    out = {f"{name}@{k}": fn(values, k) for k in ks for name, fn in cutoffs}
    out["MRR"] = mrr_fn(values)
    out["AUC"] = auc_fn(values, num_candidates)
    return out


# ----------------------------------------------------------------------------- multi target
def positions_from_topk(topk_ids: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Positions of the targets in top-K lists, for the multi-target metrics.

    Args:
      topk_ids: int ``[U, K]``, each user's recommended ids, best first.
      targets: int ``[U, T]``, each user's target ids padded with 0 (ids < 2 are padding). Repeated
        targets count once (the later copies become padding).

    Returns:
      int64 ``[U, T]``: the 1-based position of each target in its user's list, ``K + 1`` for a
      target not in the list, 0 for padding. Only metrics at ``k <= K`` are meaningful on these
      (``multi_mrr`` without k and ``multi_auc`` need full-ranking positions).
      Note: a list made by ``top_k`` breaks score ties by id, not against the model; the evaluator
      computes conservative positions from the scores instead.
    """
    topk_ids = np.asarray(topk_ids)
    targets = _dedupe_targets(targets)
    if topk_ids.ndim != 2 or topk_ids.shape[0] != targets.shape[0]:
        raise ValueError(f"topk_ids must be [U, K] with U = {targets.shape[0]}, got {topk_ids.shape}")
    k = topk_ids.shape[1]
    match = targets[:, :, None] == topk_ids[:, None, :]  # [U, T, K]
    pos = np.where(match.any(axis=2), match.argmax(axis=2) + 1, k + 1)
    return np.where(targets >= FIRST_ITEM_ID, pos, 0).astype(np.int64)


def _dedupe_targets(targets) -> np.ndarray:
    """int64 ``[U, T]`` with ids < 2 and repeated ids (after their first occurrence) set to 0."""
    if isinstance(targets, np.ndarray) and targets.ndim == 2:
        t = targets.astype(np.int64)
    else:
        rows = [list(r) for r in targets]
        t = np.zeros((len(rows), max((len(r) for r in rows), default=0)), dtype=np.int64)
        for i, r in enumerate(rows):
            t[i, : len(r)] = r
    t = np.where(t >= FIRST_ITEM_ID, t, 0)
    earlier_same = np.tril(t[:, :, None] == t[:, None, :], k=-1).any(axis=2)  # [U, T]
    return np.where(earlier_same, 0, t)


def _positions(positions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted positions (padding last as +inf) float ``[U, T]``, validity ``[U, T]`` and counts ``[U]``."""
    p = np.asarray(positions)
    if p.ndim != 2:
        raise ValueError(f"positions must be [U, T], got shape {p.shape}")
    if (p < 0).any():
        raise ValueError("positions are 1-based with 0 = padding; got a negative position")
    n = (p > 0).sum(axis=1)
    if (n == 0).any():
        raise ValueError("a user has no targets (all positions are padding)")
    s = np.sort(np.where(p > 0, p, np.inf).astype(np.float64), axis=1)
    return s, np.isfinite(s), n


def _hits(sorted_pos: np.ndarray, k: int) -> np.ndarray:
    return sorted_pos <= k  # [U, T] bool


def multi_hit_rate(positions: np.ndarray, k: int) -> np.ndarray:
    """HR@k: float ``[U]``, 1.0 where at least one target is in the top k."""
    s, _, _ = _positions(positions)
    return _hits(s, _check_k(k)).any(axis=1).astype(np.float64)


def multi_recall(positions: np.ndarray, k: int) -> np.ndarray:
    """Recall@k = hits / |T| (not hits / min(k, |T|), so Recall@k < 1 when |T| > k): float ``[U]``."""
    s, _, n = _positions(positions)
    return _hits(s, _check_k(k)).sum(axis=1) / n


def multi_precision(positions: np.ndarray, k: int) -> np.ndarray:
    """Precision@k = hits / k: float ``[U]``."""
    s, _, _ = _positions(positions)
    k = _check_k(k)
    return _hits(s, k).sum(axis=1) / k


def _ideal_dcg(n: np.ndarray, k: int) -> np.ndarray:
    gains = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])  # gains[m] = IDCG of m hits
    return gains[np.minimum(n, k)]


def multi_ndcg(positions: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k: float ``[U]``, ``sum_{p_t <= k} 1/log2(p_t + 1)`` over the ideal DCG of ``min(k, |T|)`` hits."""
    s, _, n = _positions(positions)
    k = _check_k(k)
    dcg = np.where(_hits(s, k), 1.0 / np.log2(np.where(np.isfinite(s), s, 1.0) + 1.0), 0.0).sum(axis=1)
    return dcg / _ideal_dcg(n, k)


def multi_average_precision(positions: np.ndarray, k: int) -> np.ndarray:
    """AP@k: float ``[U]``, ``sum over hits (i-th hit at position p) of i / p``, divided by ``min(k, |T|)``."""
    s, _, n = _positions(positions)
    k = _check_k(k)
    order = np.arange(1, s.shape[1] + 1, dtype=np.float64)[None, :]  # i: the i-th best target
    prec = np.where(_hits(s, k), order / np.where(np.isfinite(s), s, 1.0), 0.0)
    return prec.sum(axis=1) / np.minimum(n, k)


def multi_mrr(positions: np.ndarray, k: Optional[int] = None) -> np.ndarray:
    """Reciprocal position of the best-placed target: float ``[U]``; with ``k``, 0 when it is below k."""
    s, _, _ = _positions(positions)
    first = s[:, 0]
    return 1.0 / first if k is None else np.where(first <= _check_k(k), 1.0 / first, 0.0)


def multi_auc(positions: np.ndarray, num_candidates: np.ndarray) -> np.ndarray:
    """Full-ranking AUC with several targets: float ``[U]``.

    For each target, the fraction of the non-target candidates ranked strictly below it; a target at
    position ``p`` with ``i - 1`` targets above it has ``p - i`` non-targets above it, so its AUC is
    ``1 - (p - i) / (num_candidates - |T|)``. Averaged over the user's targets. Needs full-ranking
    positions (conservative ones make ties losses). A user with no non-target candidate gets 1.0.
    """
    s, valid, n = _positions(positions)
    nc = np.asarray(num_candidates, dtype=np.float64)
    if nc.shape != n.shape:
        raise ValueError(f"num_candidates has shape {nc.shape}, expected {n.shape}")
    negatives = (nc - n)[:, None]
    if (negatives < 0).any():
        raise ValueError("num_candidates is smaller than the number of targets")
    order = np.arange(1, s.shape[1] + 1, dtype=np.float64)[None, :]
    above = np.where(valid, s - order, 0.0)
    if (above > negatives).any():
        raise ValueError("a position is larger than the number of candidates")
    per_target = np.where(negatives > 0, 1.0 - above / np.maximum(negatives, 1.0), 1.0)
    return np.where(valid, per_target, 0.0).sum(axis=1) / n


def multi_target_metrics(positions: np.ndarray, num_candidates: np.ndarray, ks: Iterable[int]) -> dict[str, np.ndarray]:
    """All per-user multi-target metrics, same keys as :func:`single_target_metrics`; each float ``[U]``.

    With one target per user and conservative positions (= ranks) the values equal the single-target ones.
    """
    cutoffs = (
        ("HR", multi_hit_rate),
        ("Recall", multi_recall),
        ("NDCG", multi_ndcg),
        ("MRR", multi_mrr),
        ("Precision", multi_precision),
        ("MAP", multi_average_precision),
    )
    return _metric_table(cutoffs, multi_mrr, multi_auc, positions, num_candidates, ks)


# ------------------------------------------------------------------------------- catalogue
def _real_ids(topk_ids: np.ndarray, num_items: int) -> np.ndarray:
    ids = np.asarray(topk_ids).reshape(-1)
    return ids[(ids >= FIRST_ITEM_ID) & (ids < num_items + FIRST_ITEM_ID)]


def coverage(topk_ids: np.ndarray, num_items: int) -> float:
    """Catalogue coverage: the fraction of the real items (ids ``2 .. num_items + 1``) that appear in
    at least one user's list.

    Args:
      topk_ids: int ``[U, K]`` recommended ids; ids outside the real range (e.g. 0 for an empty slot)
        are ignored.
      num_items: real items in the catalogue, ``spec.num_items`` = vocabulary size - 2.
    """
    if num_items <= 0:
        raise ValueError(f"num_items must be positive, got {num_items}")
    return float(np.unique(_real_ids(topk_ids, num_items)).size / num_items)


def popularity_percentiles(item_counts: Sequence[int]) -> np.ndarray:
    """Popularity percentile of every id: float ``[V]`` in ``[0, 1]`` (NaN for PAD and OOV).

    ``item_counts`` int ``[V]``: train interactions per id (as in ``vocab.tsv``). The percentile of a
    real item is its mid-rank among the real items' counts, scaled to ``[0, 1]``:
    ``(#{j : c_j < c_i} + (#{j : c_j == c_i} - 1) / 2) / (n - 1)`` with ``n`` real items, so the least
    popular item is 0, the most popular is 1, and tied items share a value (all tied: 0.5).
    """
    counts = np.asarray(item_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size <= FIRST_ITEM_ID:
        raise ValueError(f"item_counts must be [V] with V > 2, got shape {counts.shape}")
    real = counts[FIRST_ITEM_ID:]
    n = real.size
    ordered = np.sort(real)
    less = np.searchsorted(ordered, real, side="left")
    equal = np.searchsorted(ordered, real, side="right") - less
    pct = (less + (equal - 1) / 2.0) / (n - 1) if n > 1 else np.full(n, 0.5)
    return np.concatenate([[np.nan, np.nan], pct])


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values ``[n]``: 0 when all are equal, ``(n - 1) / n`` when one
    holds everything (0 for all zeros). ``sum_i (2i - n - 1) x_(i) / (n sum x)`` over ascending ``x``."""
    x = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    n, total = x.size, x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


@dataclasses.dataclass(frozen=True)
class PopularityBias:
    """``mean_percentile``: mean popularity percentile of the recommended items (0 = niche, 1 = most
    popular; every list slot counts once). ``gini``: Gini coefficient of how often each real item is
    recommended (items never recommended count as 0)."""

    mean_percentile: float
    gini: float


def popularity_bias(topk_ids: np.ndarray, item_counts: Sequence[int]) -> PopularityBias:
    """Popularity bias of top-K lists.

    Args:
      topk_ids: int ``[U, K]`` recommended ids; ids outside ``2 .. V-1`` are ignored.
      item_counts: int ``[V]`` train count per id (index = id; entries 0 and 1 are ignored).
    """
    pct = popularity_percentiles(item_counts)
    num_items = pct.size - FIRST_ITEM_ID
    ids = _real_ids(topk_ids, num_items)
    mean_pct = float(pct[ids].mean()) if ids.size else float("nan")
    freq = np.bincount(ids - FIRST_ITEM_ID, minlength=num_items)
    return PopularityBias(mean_percentile=mean_pct, gini=gini(freq))
