"""Metrics per target behaviour: how well the top-K lists find the items a user will click, cart or order.

Records of data with event types carry ``target_event_types`` aligned with ``target_ids``. For a behaviour ``b``
and user ``u``, ``T_ub`` is the set of distinct target items with behaviour ``b``; users without such targets
do not count for ``b``. From each user's top-``K`` list ``R_u`` (after ``filter_seen``):

* ``Recall@K`` = ``sum_u |R_u ∩ T_ub| / sum_u min(K, |T_ub|)``: the OTTO competition's recall of one type;
* ``NDCG@K``: the mean over users of ``DCG(R_u; T_ub) / IDCG(min(K, |T_ub|))`` with binary relevance;
* ``users``: how many users have targets of ``b``.

With a model that answers a target behaviour (``tfseqrec.models.target_behaviour``), ``R_u`` of behaviour ``b`` is
the list ranked with ``b`` asked for (``topk_by_behaviour``).

``weighted_Recall@K`` = ``sum_b w_b Recall@K_b`` over the behaviours named in ``weights`` (OTTO:
``clicks`` 0.10, ``carts`` 0.30, ``orders`` 0.60); a behaviour without targets counts 0.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

OTTO_WEIGHTS = {"clicks": 0.10, "carts": 0.30, "orders": 0.60}


def per_user_behaviour(
    topk_ids: np.ndarray, target_ids: np.ndarray, target_events: np.ndarray, event_id: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(hits [U], wanted [U], ndcg [U])`` of one behaviour at ``k``: ``wanted = min(k, |T_ub|)`` (0 for users
    without targets of it, whose ``ndcg`` is NaN)."""
    users = len(topk_ids)
    hits, wanted, ndcg = np.zeros(users), np.zeros(users), np.full(users, np.nan)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for u in range(users):
        wanted_items = set(target_ids[u][(target_events[u] == event_id) & (target_ids[u] > 0)].tolist())
        if not wanted_items:
            continue
        found = np.array([int(i) in wanted_items for i in topk_ids[u, :k]], dtype=bool)
        hits[u], wanted[u] = found.sum(), min(k, len(wanted_items))
        ndcg[u] = (found * discounts[: len(found)]).sum() / discounts[: int(wanted[u])].sum()
    return hits, wanted, ndcg


def behaviour_metrics(
    topk_ids: np.ndarray,
    target_ids: np.ndarray,
    target_events: np.ndarray,
    event_names: Sequence[str],
    ks: Sequence[int],
    weights: Optional[Mapping[str, float]] = None,
    topk_by_behaviour: Optional[Mapping[int, np.ndarray]] = None,
) -> dict:
    """``{behaviour: {"Recall@K", "NDCG@K", "users"}, "weighted_Recall@K": ...}`` (module docstring).

    Args:
      topk_ids: int ``[U, K']`` ranked ids per user (``K' >= max(ks)``; 0 = no item).
      target_ids: int ``[U, T]`` target ids per user, 0-padded.
      target_events: int ``[U, T]`` their 1-based event-type ids (0 at padding).
      event_names: name of event-type id ``i`` at ``event_names[i - 1]``.
      ks: cut-offs (each at most ``K'``).
      weights: behaviour name -> weight of ``weighted_Recall@K`` (None: no weighted score).
      topk_by_behaviour: event-type id -> ``[U, K']`` lists ranked for that behaviour (used instead of
        ``topk_ids`` for it).
    """
    ks = [k for k in ks if k <= topk_ids.shape[1]]
    out: dict = {}
    recalls: dict = {}
    for event_id, name in enumerate(event_names, start=1):
        entry: dict = {}
        lists = (topk_by_behaviour or {}).get(event_id, topk_ids)
        for k in ks:
            hits, wanted, ndcg = per_user_behaviour(lists, target_ids, target_events, event_id, k)
            has = wanted > 0
            entry["users"] = int(has.sum())
            entry[f"Recall@{k}"] = float(hits.sum() / wanted.sum()) if has.any() else float("nan")
            entry[f"NDCG@{k}"] = float(np.nanmean(ndcg)) if has.any() else float("nan")
            recalls[(name, k)] = entry[f"Recall@{k}"] if has.any() else 0.0
        out[name] = entry
    if weights:
        for k in ks:
            out[f"weighted_Recall@{k}"] = float(sum(w * recalls.get((b, k), 0.0) for b, w in weights.items()))
    return out
