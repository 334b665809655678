"""Sanity baselines scored by the same full-ranking evaluator as the neural models.

* ``MostPopular``: the same list for everyone, by training count.
* ``ItemTransitions``: first-order Markov chain: counts of ``previous -> next`` item pairs in the training
  sequences; a user's scores are the transition counts from their last item, with popularity (scaled below
  one transition) breaking ties, so users whose last item has no recorded successors get most-popular.

Both expose ``score_fn(batch) -> [B, num_items]`` for ``tfseqrec.evaluation.evaluate``.
"""

from __future__ import annotations

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.data import SequenceBatchConfig, make_dataset
from tfseqrec.data.spec import FeatureSpec

BASELINES = ("most_popular", "transitions")


class MostPopular:
    """Scores every item by its training count (``item_counts [V]``; PAD/OOV are excluded by the evaluator)."""

    def __init__(self, item_counts):
        self.scores = np.asarray(item_counts, dtype=np.float32)

    def score_fn(self, batch) -> tf.Tensor:
        batch_size = tf.shape(batch["item_ids"])[0]
        return tf.tile(tf.constant(self.scores)[tf.newaxis], [batch_size, 1])


class ItemTransitions:
    """First-order transitions from the training split: sparse ``[V, V]`` counts of ``i -> j``."""

    def __init__(self, spec: FeatureSpec, item_counts):
        num_items = spec.vocabulary.size
        pairs: dict[tuple[int, int], int] = {}
        for batch in make_dataset(spec, "train", SequenceBatchConfig(batch_size=1024, padding="ragged")):
            for row in batch["item_ids"].to_list():
                for a, b in zip(row, row[1:]):
                    pairs[(a, b)] = pairs.get((a, b), 0) + 1
        keys = sorted(pairs)
        indices = np.array(keys, dtype=np.int64).reshape(-1, 2)
        values = np.array([pairs[k] for k in keys], dtype=np.float32)
        self.num_items = num_items
        self.transitions = tf.sparse.SparseTensor(indices, values, [num_items, num_items])
        counts = np.asarray(item_counts, dtype=np.float32)
        self.popularity = tf.constant(0.5 * counts / max(float(counts.max()), 1.0))  # < one transition

    def score_fn(self, batch) -> tf.Tensor:
        last = tf.cast(batch["item_ids"], tf.int64)[:, -1]  # left padding: the most recent item is last
        one_hot = tf.one_hot(last, self.num_items, dtype=tf.float32)  # [B, V]
        # rows of T = one_hot @ T = (T^T @ one_hot^T)^T, computed sparse-dense.
        rows = tf.transpose(tf.sparse.sparse_dense_matmul(self.transitions, one_hot, adjoint_a=True, adjoint_b=True))
        return rows + self.popularity[tf.newaxis]
