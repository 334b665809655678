"""Negative samplers over the item vocabulary.

Item ids follow tfseqrec's vocabulary layout: 0 = PAD, 1 = OOV, real items ``2 .. V-1`` (``V`` =
vocabulary size). Samplers never return PAD or OOV.

Both samplers draw with replacement and expose

* ``sample(num) -> (ids [num] int64, log_q [num] float32)``: ``log_q`` is the log-probability of
  each id under the sampler (one draw), used for the logQ correction of sampled softmax;
* ``log_q(ids) -> float32`` of the shape of ``ids``: the same quantity for arbitrary ids, e.g. the
  positives, whose logits must be corrected like the negatives'.

Randomness comes from a ``tf.random.Generator``: with a ``seed`` two samplers built alike return the
same sequence of draws (eagerly and inside ``tf.function``); without one the state is
non-deterministic.
"""

import math
from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID


def _generator(seed: Optional[int]) -> tf.random.Generator:
    if seed is None:
        return tf.random.Generator.from_non_deterministic_state()
    return tf.random.Generator.from_seed(int(seed))


class UniformSampler:
    """Uniform sampling over the real items ``2 .. num_items - 1``.

    Args:
      num_items: vocabulary size ``V`` (PAD and OOV included); there must be at least one real item.
      seed: optional seed for reproducible draws.
    """

    def __init__(self, num_items: int, seed: Optional[int] = None):
        if num_items <= FIRST_ITEM_ID:
            raise ValueError(
                f"UniformSampler needs num_items > {FIRST_ITEM_ID} (PAD and OOV plus at "
                f"least one item), got {num_items}."
            )
        self.num_items = int(num_items)
        self._log_prob = -math.log(self.num_items - FIRST_ITEM_ID)
        self._generator = _generator(seed)

    def sample(self, num: Union[int, tf.Tensor]):
        """Draws ``num`` ids; returns ``(ids [num] int64, log_q [num] float32)``."""
        ids = self._generator.uniform([num], minval=FIRST_ITEM_ID, maxval=self.num_items, dtype=tf.int64)
        return ids, self.log_q(ids)

    def log_q(self, ids: tf.Tensor) -> tf.Tensor:
        """``log(1 / (V - 2))`` for every id, shape of ``ids``, float32."""
        return tf.fill(tf.shape(ids), tf.constant(self._log_prob, tf.float32))


class PopularitySampler:
    """Sampling proportional to ``(count + smoothing) ** alpha`` over the real items.

    ``q_i = w_i / sum_k w_k`` with ``w_i = (count_i + smoothing) ** alpha`` for ``i >= 2`` and
    ``w_0 = w_1 = 0`` (PAD and OOV are never drawn). ``alpha = 0`` is uniform over every real item,
    zero-count ones included (``0 ** 0 = 1``); ``alpha = 1`` is the unigram (popularity)
    distribution; 0.75 is word2vec's choice and GRU4Rec's old default ``sample_alpha``.

    With ``alpha > 0`` and ``smoothing = 0`` an item with count 0 is never drawn; give
    ``smoothing > 0`` (e.g. 1) to keep a small probability for such items. For ``log_q`` of a
    zero-probability id (a positive unseen when the counts were taken) the smallest non-zero
    probability is used, so the logQ correction stays finite and does not favour it.

    Args:
      item_counts: length-``V`` counts (e.g. training-target frequencies) indexed by item id; the
        entries at 0 and 1 are ignored.
      alpha: exponent, ``>= 0``.
      smoothing: added to every count before the exponent, ``>= 0``.
      seed: optional seed for reproducible draws.
    """

    def __init__(
        self,
        item_counts: Union[Sequence[float], np.ndarray],
        alpha: float = 0.75,
        smoothing: float = 0.0,
        seed: Optional[int] = None,
    ):
        counts = np.asarray(item_counts, dtype=np.float64).reshape(-1)
        if counts.size <= FIRST_ITEM_ID:
            raise ValueError(f"item_counts must have length V > {FIRST_ITEM_ID} (PAD, OOV, items), got {counts.size}.")
        if not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError("item_counts must be finite and non-negative.")
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha}.")
        if not (math.isfinite(smoothing) and smoothing >= 0):
            raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing}.")
        weights = np.power(counts + smoothing, alpha)
        weights[:FIRST_ITEM_ID] = 0.0
        total = weights.sum()
        if not total > 0:
            raise ValueError(
                "PopularitySampler: every real item has weight 0 (all counts are 0 and "
                "alpha > 0); use smoothing > 0 or alpha = 0."
            )
        probs = weights / total
        self.num_items = int(counts.size)
        self.alpha = float(alpha)
        self.probabilities = probs  # numpy [V] float64, for inspection and tests
        cdf = np.cumsum(weights) / total
        cdf[np.flatnonzero(weights)[-1] :] = 1.0  # exact top, so u < 1 never runs past the last item
        self._cdf = tf.constant(cdf, tf.float64)
        floor = probs[probs > 0].min()
        self._log_probs = tf.constant(np.log(np.maximum(probs, floor)), tf.float32)
        self._generator = _generator(seed)

    def sample(self, num: Union[int, tf.Tensor]):
        """Draws ``num`` ids (inverse-CDF); returns ``(ids [num] int64, log_q [num] float32)``."""
        u = self._generator.uniform([num], dtype=tf.float64)
        # First index whose CDF exceeds u: zero-weight ids (PAD, OOV, unseen items) have a flat CDF
        # step and are never returned.
        ids = tf.searchsorted(self._cdf, u, side="right", out_type=tf.int64)
        ids = tf.minimum(ids, self.num_items - 1)
        return ids, self.log_q(ids)

    def log_q(self, ids: tf.Tensor) -> tf.Tensor:
        """Log sampling probability of each id (floored, see class doc), shape of ``ids``."""
        return tf.gather(self._log_probs, tf.cast(ids, tf.int64))


def target_probabilities(item_counts: Union[Sequence[float], np.ndarray]) -> tf.Tensor:
    """``p_i``, the probability that a training target is item ``i``, from counts: ``[V]`` float64.

    ``count_i / sum`` over the real items (PAD and OOV get 0 before the floor), floored at the smallest
    non-zero probability so that ``log p`` stays finite for items unseen when the counts were taken.
    """
    probs = np.asarray(item_counts, dtype=np.float64).reshape(-1).copy()
    probs[:FIRST_ITEM_ID] = 0.0
    if not probs.sum() > 0:
        raise ValueError("item_counts has no positive count for a real item.")
    probs /= probs.sum()
    probs = np.maximum(probs, probs[probs > 0].min())
    return tf.constant(probs, tf.float64)
