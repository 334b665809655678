"""ADER's exemplars (Mi et al., RecSys 2020): a replay memory of earlier sequences chosen by herding.

ADER keeps, for each item, a number of earlier training examples proportional to how often the item was the
target, and picks them by herding (Welling 2009, as iCaRL does): the examples whose running mean of L2-normalised
representations stays closest to the mean of all the item's examples, so that a small memory still covers what
the previous model saw. Here an example is one earlier training sequence (its latest ``max_len + 1`` items),
its item the sequence's last item, and its representation the previous model's query state ``[D]`` after the
sequence's history (``replay.selection: herding``; ``tfseqrec.training.replay``).
"""

from __future__ import annotations

import numpy as np

import tfseqrec  # noqa: F401  (Keras 2)
import tensorflow as tf


def allocate(counts: np.ndarray, size: int) -> np.ndarray:
    """Memory slots per label ``[L]``, proportional to ``counts [L]`` and summing to ``min(size, sum(counts))``
    (largest remainders get the leftover slots; ties to the more frequent, then the lower label); no label gets
    more slots than it has examples."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    size = min(int(size), total)
    if size <= 0:
        return np.zeros_like(counts)
    exact = counts * (size / total)
    quota = np.minimum(np.floor(exact).astype(np.int64), counts)
    leftover = size - int(quota.sum())
    order = np.lexsort((np.arange(len(counts)), -counts, -(exact - quota)))  # last key sorts first
    for label in order:
        if leftover == 0:
            break
        if quota[label] < counts[label]:
            quota[label] += 1
            leftover -= 1
    return quota


def herd(features: np.ndarray, m: int) -> np.ndarray:
    """Indices (into ``features [n, D]``) of ``m`` rows picked one by one so that the mean of the picked rows stays
    closest to the mean of all rows."""
    target = features.mean(axis=0)
    picked, running = [], np.zeros_like(target)
    available = np.ones(len(features), dtype=bool)
    for k in range(1, min(m, len(features)) + 1):
        distance = np.linalg.norm(target - (running + features) / k, axis=1)
        distance[~available] = np.inf
        best = int(np.argmin(distance))
        picked.append(best)
        available[best] = False
        running += features[best]
    return np.asarray(picked, dtype=np.int64)


def herding_selection(features: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    """Sorted indices of ``size`` rows of ``features [N, D]``: per label of ``labels [N]`` its :func:`allocate`
    share, chosen by :func:`herd` over the L2-normalised rows."""
    features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = allocate(counts, size)
    chosen = []
    for label in np.flatnonzero(quota):
        rows = np.flatnonzero(inverse == label)
        chosen.append(rows[herd(features[rows], int(quota[label]))])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def collect_rows(batches: tf.data.Dataset, width: int) -> dict:
    """``{name: [N, width]}``: every row of one pass over ``batches``, left-padded to ``width`` with zeros."""
    parts: dict = {}
    for batch in batches:
        for name, value in batch.items():
            value = value.numpy()
            parts.setdefault(name, []).append(np.pad(value, ((0, 0), (width - value.shape[1], 0))))
    return {name: np.concatenate(values) for name, values in parts.items()}


def herding_memory(model, batches: tf.data.Dataset, width: int, size: int, batch_size: int = 512) -> dict:
    """``{name: [size, width]}``: the rows of ``batches`` (training rows of ``width = max_len + 1`` columns, the
    last one each row's last item) that :func:`herding_selection` keeps, represented by ``model``'s query after
    each row's history."""
    rows = collect_rows(batches, width)
    queries = []
    for start in range(0, len(rows["item_ids"]), batch_size):
        part = {name: value[start : start + batch_size, :-1] for name, value in rows.items()}
        history = tf.constant(part.pop("item_ids"))
        states = model.encode_inputs(history, False, {k: tf.constant(v) for k, v in part.items()})  # [B, L, D]
        queries.append(tf.cast(states[:, -1, :], tf.float32).numpy())
    keep = herding_selection(np.concatenate(queries), rows["item_ids"][:, -1], size)
    return {name: value[keep] for name, value in rows.items()}
