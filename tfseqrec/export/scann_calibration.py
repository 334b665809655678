"""ScaNN settings chosen from a measured recall curve (``ScannConfig.target_recall``).

After the index is built, queries typical of the model (its query embeddings of held-out histories, or item
vectors drawn by popularity when no data is at hand) are searched at a grid of ``num_leaves_to_search`` x
``num_reordering_candidates``; each point gets its recall@k against the exact top k (NumPy over the same
folded vectors) and the time of one batched search of all queries (median of three). The fastest point whose
recall reaches the target is exported; when none does, the one with the highest recall (a warning says so).
Both knobs are per-search inputs of the same searcher, so the tree is trained once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)
# Shares of the leaves searched, and reordering candidates, tried by default.
LEAF_SHARES = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
REORDERING = (100, 250, 500)


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    leaves_to_search: int
    reordering_candidates: int
    recall: float  # mean over queries of |approximate top k & exact top k| / k
    seconds: float  # one batched search of every calibration query (median of three)


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """``[Q, k]`` positions of the ``k`` highest ``queries [Q, D] . vectors [N, D]`` (chunks of queries)."""
    out = []
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ vectors.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        out.append(top)
    return np.concatenate(out)


def leaves_grid(num_leaves: int, shares: Sequence[float] = LEAF_SHARES) -> list[int]:
    """Distinct leaf counts for ``shares`` of ``num_leaves`` (at least 1)."""
    return sorted({max(1, min(num_leaves, round(share * num_leaves))) for share in shares})


def recall_curve(
    search: Callable[[np.ndarray, int, int, int], np.ndarray],
    exact: np.ndarray,
    queries: np.ndarray,
    k: int,
    leaves: Sequence[int],
    reordering: Sequence[int] = REORDERING,
) -> list[CurvePoint]:
    """``search(queries, k, leaves_to_search, reordering_candidates) -> [Q, k]`` positions, against ``exact
    [Q, k]``, at every grid point; a reordering count leaves the grid once full recall is reached."""
    truth = [set(row) for row in exact.tolist()]
    curve = []
    for reorder in reordering:
        for n in leaves:
            found = search(queries, k, n, reorder)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                search(queries, k, n, reorder)
                times.append(time.perf_counter() - start)
            hits = [len(t & set(row)) / k for t, row in zip(truth, found.tolist())]
            curve.append(CurvePoint(n, reorder, float(np.mean(hits)), float(np.median(times))))
            if curve[-1].recall >= 1.0:
                break
    return curve


def choose(curve: Sequence[CurvePoint], target_recall: float) -> CurvePoint:
    """The fastest point reaching ``target_recall``; without one, the highest recall (then the fastest)."""
    reaching = [p for p in curve if p.recall >= target_recall]
    if reaching:
        return min(reaching, key=lambda p: (p.seconds, p.leaves_to_search, p.reordering_candidates))
    best = max(curve, key=lambda p: (p.recall, -p.seconds))
    log.warning(
        "no ScaNN setting reached recall@10 %.3f on the calibration queries; exporting the best one found "
        "(%d leaves searched, %d reordering candidates: recall %.3f)",
        target_recall,
        best.leaves_to_search,
        best.reordering_candidates,
        best.recall,
    )
    return best
