"""Cutting left-padded histories into fixed-size chunks and back, for the encoders that attend within chunks
(``hierarchical``) or carry a state from one segment to the next (``memory_transformer``).

Two alignments:

* ``end``: the newest item closes the last chunk; the row is padded on the left to a multiple of the chunk size.
  A chunk's last position is then a real item whenever the chunk holds any, so its state summarises the chunk.
* ``start``: each row's oldest item opens the first chunk (rows are first right-aligned per row), so a chunk holds
  the same events whatever the history's later length: what a state carried forward chunk by chunk needs.
"""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf


def num_chunks(length, chunk_size: int):
    """``ceil(length / chunk_size)`` (a Python int or a scalar tensor)."""
    return -(-length // chunk_size)


def to_end_aligned_chunks(x: tf.Tensor, chunk_size: int) -> tf.Tensor:
    """``x [B, L, ...]`` (left-padded) -> ``[B, C, S, ...]``, ``C = ceil(L / S)``, zeros prepended."""
    length = tf.shape(x)[1]
    chunks = num_chunks(length, chunk_size)
    pad = chunks * chunk_size - length
    paddings = tf.concat([[[0, 0], [pad, 0]], tf.zeros([tf.rank(x) - 2, 2], tf.int32)], axis=0)
    x = tf.pad(x, paddings)
    return tf.reshape(x, tf.concat([[tf.shape(x)[0], chunks, chunk_size], tf.shape(x)[2:]], axis=0))


def from_end_aligned_chunks(chunks: tf.Tensor, length) -> tf.Tensor:
    """Inverse of :func:`to_end_aligned_chunks`: ``[B, C, S, ...]`` -> ``[B, length, ...]`` (the last columns)."""
    shape = tf.shape(chunks)
    flat = tf.reshape(chunks, tf.concat([[shape[0], shape[1] * shape[2]], shape[3:]], axis=0))
    return flat[:, -length:]


def start_alignment(padding_mask: tf.Tensor) -> tf.Tensor:
    """Gather indices ``[B, L]`` that move each left-padded row's items to its front (right padding):
    ``right[b, j] = left[b, (j + L - n_b) mod L]`` with ``n_b`` the row's item count; the same indices move
    them back (``left[b, j] = right[b, (j + n_b) mod L]``) via :func:`end_alignment`."""
    length = tf.shape(padding_mask)[1]
    counts = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1, keepdims=True)
    return tf.math.floormod(tf.range(length)[tf.newaxis] + length - counts, length)


def end_alignment(padding_mask: tf.Tensor) -> tf.Tensor:
    """Gather indices ``[B, L]`` that move right-padded rows back to left padding (see :func:`start_alignment`)."""
    length = tf.shape(padding_mask)[1]
    counts = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1, keepdims=True)
    return tf.math.floormod(tf.range(length)[tf.newaxis] + counts, length)


def to_start_aligned_chunks(x: tf.Tensor, padding_mask: tf.Tensor, chunk_size: int) -> tf.Tensor:
    """``x [B, L, ...]`` (left-padded, ``padding_mask [B, L]`` True for items) -> ``[B, C, S, ...]`` with each
    row's oldest item at chunk 0, position 0; the last chunk and the padding follow on the right."""
    right = tf.gather(x, start_alignment(padding_mask), batch_dims=1)
    length = tf.shape(x)[1]
    chunks = num_chunks(length, chunk_size)
    pad = chunks * chunk_size - length
    paddings = tf.concat([[[0, 0], [0, pad]], tf.zeros([tf.rank(x) - 2, 2], tf.int32)], axis=0)
    right = tf.pad(right, paddings)
    return tf.reshape(right, tf.concat([[tf.shape(x)[0], chunks, chunk_size], tf.shape(x)[2:]], axis=0))


def from_start_aligned_chunks(chunks: tf.Tensor, padding_mask: tf.Tensor) -> tf.Tensor:
    """Inverse of :func:`to_start_aligned_chunks`: ``[B, C, S, ...]`` -> left-padded ``[B, L, ...]``."""
    shape = tf.shape(chunks)
    length = tf.shape(padding_mask)[1]
    flat = tf.reshape(chunks, tf.concat([[shape[0], shape[1] * shape[2]], shape[3:]], axis=0))[:, :length]
    return tf.gather(flat, end_alignment(padding_mask), batch_dims=1)
