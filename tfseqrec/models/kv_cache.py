"""A key-value cache carried as one flat per-user state whose size follows the history it holds.

An attention model (SASRec, HSTU) streams by keeping every layer's keys and values of the positions so far, so
one more event costs one query over them instead of a pass over the whole history. The cache is a state row
``[F + W * P]``:

* ``F = 1`` leading value, the number of items so far;
* then ``W`` positions, oldest first, newest last, each the concatenation of every cache's entries at that
  position (``P`` = the sum of ``H * d`` over the caches: keys and values of every layer).

``W`` grows by one per step up to ``max_len`` (then the oldest position leaves), so a user with 50 items costs 50
positions, not ``max_len``. Rows of one batch share ``W``; a shorter row's missing positions are zeros before its
first, masked out by its count. Because the positions come last and whole, a server batches users of different
lengths by inserting zeros after the leading values (``StreamStateLayout.pad``), knowing nothing of the model.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class StreamStateLayout:
    """Shape of a model's streaming state row: ``fixed`` leading values, then ``per_item`` values for each of at
    most ``max_items`` cached positions (``per_item`` 0: a fixed-size state such as a GRU's; otherwise the first
    leading value is the number of items so far)."""

    fixed: int
    per_item: int = 0
    max_items: int = 0

    def width(self, items: int) -> int:
        """Values in a row holding ``items`` positions."""
        return self.fixed + self.per_item * items

    @property
    def max_width(self) -> int:
        return self.width(self.max_items)

    def items_in(self, width: int) -> int:
        """Positions held by a row of ``width`` values; ValueError when no number of positions gives it."""
        extra = width - self.fixed
        if self.per_item == 0:
            if extra != 0:
                raise ValueError(f"a state has {self.fixed} values, not {width}")
            return 0
        if extra < 0 or extra % self.per_item or extra // self.per_item > self.max_items:
            raise ValueError(
                f"a state has {self.fixed} + n * {self.per_item} values for n <= {self.max_items}, not {width}"
            )
        return extra // self.per_item

    def pad(self, rows: Sequence[np.ndarray]) -> np.ndarray:
        """``[B, width]`` float32 from state rows of different lengths: zeros inserted after each row's leading
        values up to the longest row (masked positions, so every row's next step is unchanged)."""
        widest = max(len(row) for row in rows)
        out = np.zeros((len(rows), widest), np.float32)
        for i, row in enumerate(rows):
            out[i, : self.fixed] = row[: self.fixed]
            out[i, widest - (len(row) - self.fixed) :] = row[self.fixed :]
        return out

    def trim(self, row: np.ndarray) -> np.ndarray:
        """``row`` without the padding positions a batch gave it: its leading values and its latest
        ``min(count, max_items)`` positions (a cache's first value counts its items)."""
        if self.per_item == 0:
            return row
        held = min(int(row[0]), self.max_items, (len(row) - self.fixed) // self.per_item)
        return np.concatenate([row[: self.fixed], row[len(row) - held * self.per_item :]])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def cache_layout(entry_sizes: Sequence[int], max_len: int) -> StreamStateLayout:
    """The layout of a cache whose positions hold one entry of each size in ``entry_sizes`` (``H * d`` each)."""
    return StreamStateLayout(fixed=1, per_item=int(sum(entry_sizes)), max_items=int(max_len))


def pack(count: tf.Tensor, caches: Sequence[tf.Tensor]) -> tf.Tensor:
    """State ``[B, 1 + W * P]`` from ``count [B]`` and caches ``[B, W, H, d]`` (module doc)."""
    batch, width = tf.shape(caches[0])[0], tf.shape(caches[0])[1]
    positions = tf.concat([tf.reshape(tf.cast(c, tf.float32), [batch, width, -1]) for c in caches], axis=2)
    return tf.concat([tf.cast(count, tf.float32)[:, tf.newaxis], tf.reshape(positions, [batch, -1])], axis=1)


def unpack(state: tf.Tensor, shapes: Sequence[tuple]) -> tuple:
    """``(count [B], caches [B, W, H, d] per (H, d) in shapes)`` of ``state [B, 1 + W * P]``."""
    sizes = [heads * dim for heads, dim in shapes]
    batch = tf.shape(state)[0]
    positions = tf.reshape(state[:, 1:], [batch, -1, sum(sizes)])  # [B, W, P]
    parts = tf.split(positions, sizes, axis=2)
    caches = [tf.reshape(part, [batch, -1, heads, dim]) for part, (heads, dim) in zip(parts, shapes)]
    return state[:, 0], caches


def push(cache: tf.Tensor, entry: tf.Tensor, max_len: int) -> tf.Tensor:
    """``cache [B, W, H, d]`` with ``entry [B, 1, H, d]`` appended as the newest position; the oldest leaves once
    ``W`` reaches ``max_len``."""
    return tf.concat([cache, tf.cast(entry, cache.dtype)], axis=1)[:, -max_len:]


def key_mask(count: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """``[B, W]``: which of a right-aligned cache's ``width`` positions hold items, for rows of ``count [B]`` items
    (the new one included)."""
    return tf.range(width, dtype=tf.float32)[tf.newaxis] >= tf.cast(width, tf.float32) - count[:, tf.newaxis]
