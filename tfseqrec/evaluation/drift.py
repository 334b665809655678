"""Drift between the data a model was trained on and the traffic it serves.

A ``Profile`` summarises a set of histories: how often each item appears (``item_counts [V]`` over the
vocabulary ids), history lengths, event types, and items outside the vocabulary. ``compare`` measures how far
the served profile is from the training one:

* item popularity: the Jensen-Shannon divergence of the two item distributions (base 2, in [0, 1]), its noise
  floor (the divergence of a sample of the same size drawn from the training distribution itself: a few
  hundred served rows are far from the training distribution by chance alone) and the excess over it, which
  ``max_js`` checks; and the population
  stability index (PSI) over popularity buckets (the items making up each tenth of the training interactions,
  head first), which a small sample estimates well;
* history lengths: PSI over the deciles of the training lengths;
* event types: PSI over the types seen in either;
* the out-of-vocabulary rate of served items (new items the model cannot score).

PSI is ``sum((a - e) * ln(a / e))`` over bins of proportions (empty bins count as ``1e-4``); by the usual rule of
thumb below 0.1 is stable, 0.1-0.25 a moderate shift, above 0.25 a large one.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from scipy.spatial.distance import jensenshannon

from tfseqrec.ids import FIRST_ITEM_ID

EMPTY_SHARE = 1e-4


@dataclasses.dataclass
class Profile:
    """``item_counts [V]`` (ids below ``FIRST_ITEM_ID`` stay 0), ``lengths [N]`` per history, ``event_types``
    ``{type: count}``, and ``oov`` items outside the vocabulary (not in ``item_counts``)."""

    item_counts: np.ndarray
    lengths: np.ndarray
    event_types: dict
    oov: int = 0

    @property
    def histories(self) -> int:
        return int(len(self.lengths))

    @property
    def items(self) -> int:
        return int(self.item_counts.sum()) + self.oov


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Above any of these, ``compare`` flags drift (``None``: not checked)."""

    max_psi: Optional[float] = 0.25
    max_js: Optional[float] = 0.2
    max_oov_rate: Optional[float] = 0.05


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    e = np.asarray(expected, np.float64)
    a = np.asarray(actual, np.float64)
    if e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e = np.maximum(e / e.sum(), EMPTY_SHARE)
    a = np.maximum(a / a.sum(), EMPTY_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two count vectors over the same support."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    return float(jensenshannon(p, q, base=2) ** 2)


def js_noise_floor(reference: np.ndarray, size: int, draws: int = 5, seed: int = 0) -> float:
    """The mean divergence of ``size`` items drawn from ``reference`` itself: what a sample that small
    shows without any drift."""
    reference = np.asarray(reference, np.float64)
    if size <= 0 or reference.sum() <= 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    p = reference / reference.sum()
    return float(np.mean([js_divergence(reference, rng.multinomial(size, p)) for _ in range(draws)]))


def popularity_buckets(reference_counts: np.ndarray, buckets: int = 10) -> np.ndarray:
    """``[V]`` bucket per item: items sorted by training count, each in the bucket where its share of the
    interactions starts (bucket ``b`` covers the ``b``-th ``1 / buckets`` of them; 0 = head); items never seen
    in training go to the last."""
    counts = np.asarray(reference_counts, np.float64)
    order = np.argsort(-counts, kind="stable")
    before = (np.cumsum(counts[order]) - counts[order]) / max(counts.sum(), 1.0)
    result = np.empty(len(counts), np.int64)
    result[order] = np.minimum((before * buckets + 1e-9).astype(np.int64), buckets - 1)
    result[counts <= 0] = buckets - 1
    return result


def length_edges(reference_lengths: np.ndarray, bins: int = 10) -> np.ndarray:
    """Bin edges at the deciles of the training lengths (repeated edges merged)."""
    lengths = np.asarray(reference_lengths, np.float64)
    inner = np.unique(np.quantile(lengths, np.linspace(0, 1, bins + 1)[1:-1])) if len(lengths) else np.array([])
    return np.concatenate([[-np.inf], inner, [np.inf]])


def length_counts(lengths: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histories per length bin (``(edges[i], edges[i + 1]]``)."""
    return np.bincount(np.searchsorted(edges, np.asarray(lengths), side="left") - 1, minlength=len(edges) - 1)


def compare(reference: Profile, served: Profile, thresholds: Thresholds = Thresholds()) -> dict:
    """Every drift figure (module doc), the bins behind them (for plots), and the thresholds exceeded."""
    ref_items = np.asarray(reference.item_counts, np.float64)[FIRST_ITEM_ID:]
    served_items = np.asarray(served.item_counts, np.float64)[FIRST_ITEM_ID:]
    buckets = popularity_buckets(ref_items)
    ref_buckets = np.bincount(buckets, weights=ref_items, minlength=10)
    served_buckets = np.bincount(buckets, weights=served_items, minlength=10)
    edges = length_edges(reference.lengths)
    ref_lengths, served_lengths = length_counts(reference.lengths, edges), length_counts(served.lengths, edges)
    types = sorted(set(reference.event_types) | set(served.event_types))
    ref_types = np.array([reference.event_types.get(t, 0) for t in types], np.float64)
    served_types = np.array([served.event_types.get(t, 0) for t in types], np.float64)
    figures = {
        "item_js": js_divergence(ref_items, served_items),
        "item_js_noise_floor": js_noise_floor(ref_items, int(served_items.sum())),
        "item_js_excess": float("nan"),
        "popularity_psi": psi(ref_buckets, served_buckets),
        "length_psi": psi(ref_lengths, served_lengths),
        "event_type_psi": psi(ref_types, served_types) if served_types.sum() > 0 else float("nan"),
        "oov_rate": served.oov / served.items if served.items else float("nan"),
    }
    figures["item_js_excess"] = max(figures["item_js"] - figures["item_js_noise_floor"], 0.0)
    checks = {
        "item_js_excess": thresholds.max_js,
        "popularity_psi": thresholds.max_psi,
        "length_psi": thresholds.max_psi,
        "event_type_psi": thresholds.max_psi,
        "oov_rate": thresholds.max_oov_rate,
    }
    exceeded = {
        name: {"value": figures[name], "threshold": limit}
        for name, limit in checks.items()
        if limit is not None and np.isfinite(figures[name]) and figures[name] > limit
    }
    return {
        "figures": figures,
        "exceeded": exceeded,
        "thresholds": dataclasses.asdict(thresholds),
        "counts": {"reference_histories": reference.histories, "served_histories": served.histories,
                   "reference_items": reference.items, "served_items": served.items, "served_oov": served.oov},
        "bins": {
            "popularity": {"reference": ref_buckets.tolist(), "served": served_buckets.tolist()},
            "length_edges": [float(e) for e in edges],
            "lengths": {"reference": ref_lengths.tolist(), "served": served_lengths.tolist()},
            "event_types": {"types": [int(t) for t in types], "reference": ref_types.tolist(),
                            "served": served_types.tolist()},
        },
    }  # fmt: skip
