"""Meta-training episodes cut from training rows, in the graph: a support set and the item after it.

A row ``item_ids [B, T]`` (left padded, ``n`` real items) gives one episode per step: a support size ``S`` drawn
uniformly from ``[min, max]`` (at most ``n - 1``), a start (the row's first item for ``first``, a uniform one
for ``random``) and the ``S + 1`` items from there. The episode comes left padded to ``[B, max + 1]`` (support,
then the query item in the last column), the training layout of every encoder; rows with fewer than two items
give an empty episode (``valid`` false). Record features (``timestamps``, ...) are cut the same way.
"""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.ids import PAD_ID


def cut_episodes(item_ids: tf.Tensor, features: dict, support: tuple, mode: str) -> tuple:
    """``(episode item ids [B, max + 1], features {name: [B, max + 1]}, valid [B])`` (module doc)."""
    item_ids = tf.cast(item_ids, tf.int64)
    batch, width = tf.shape(item_ids)[0], tf.shape(item_ids)[1]
    low, high = int(support[0]), int(support[1])
    n = tf.reduce_sum(tf.cast(tf.not_equal(item_ids, PAD_ID), tf.int32), axis=1)
    drawn = tf.random.uniform([batch], low, high + 1, dtype=tf.int32)
    size = tf.maximum(tf.minimum(drawn, n - 1), 0)  # support items
    first = width - n
    if mode == "random":
        slack = tf.maximum(n - 1 - size, 0)  # starts after the first item that still leave a query
        offset = tf.cast(tf.floor(tf.random.uniform([batch]) * tf.cast(slack + 1, tf.float32)), tf.int32)
        start = first + tf.minimum(offset, slack)
    else:
        start = first
    columns = tf.range(high + 1)[tf.newaxis, :]
    source = (start + size - high)[:, tf.newaxis] + columns  # [B, max + 1]; the query at the last column
    real = source >= start[:, tf.newaxis]
    index = tf.clip_by_value(source, 0, width - 1)

    def cut(values):
        taken = tf.gather(values, index, batch_dims=1)
        return tf.where(real, taken, tf.zeros_like(taken))

    valid = n >= 2
    episode = tf.where(valid[:, tf.newaxis], cut(item_ids), tf.zeros_like(cut(item_ids)))
    return episode, {name: cut(tf.convert_to_tensor(value)) for name, value in features.items()}, valid
