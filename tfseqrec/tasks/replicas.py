"""Means over the global batch when a ``tf.distribute`` strategy splits it among replicas.

Under a synchronous strategy each replica computes its loss on ``1/R`` of the global batch; the optimizer *sums*
the replicas' gradients and Keras *sums* the losses it logs (``reduce_per_replica``, reduction ``auto`` = sum off
TPU). So each replica must return its share of the global mean: ``sum of its losses / count over all replicas``.
Outside a strategy (one replica) these are the plain mean and the value itself.
"""

from __future__ import annotations

import tensorflow as tf


def _replicas():
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def global_mean(total: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """``total / count`` with ``count`` summed over the replicas (0 when nothing is counted anywhere)."""
    context = _replicas()
    if context is not None:
        count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.math.divide_no_nan(total, count)


def replica_share(value: tf.Tensor) -> tf.Tensor:
    """``value / R``: a term every replica computes whole (weight regularisation), counted once in the sum."""
    context = _replicas()
    return value if context is None else value / tf.cast(context.num_replicas_in_sync, value.dtype)


def num_replicas() -> int:
    """Replicas in sync in the current replica context (1 outside a strategy)."""
    context = _replicas()
    return 1 if context is None else int(context.num_replicas_in_sync)
