"""``local``: sliding-window attention, computed block by block in ``O(L * window)``.

A query sees the keys within ``window`` positions: causal, the latest ``window`` (itself included); bidirectional,
those less than ``window`` away on either side. The sequence is cut into blocks of ``window`` positions (front
padded to a multiple); block ``i``'s queries score only the keys of blocks ``i - 1`` and ``i`` (and ``i + 1``
when bidirectional), ``[B, n, H, w, 2w | 3w]`` logits instead of ``[B, H, L, L]``, masked to the exact window.
"""

from __future__ import annotations

import dataclasses
import math

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.attention.base import AttentionKernel, masked_softmax
from tfseqrec.models.attention.config import AttentionConfig, check_int
from tfseqrec.models.attention.registry import register_attention
from tfseqrec.models.dropout import FastDropout


@dataclasses.dataclass(frozen=True)
class LocalAttentionConfig(AttentionConfig):
    """``window``: how many positions a query reaches (itself included)."""

    name: str = "local"
    window: int = 64

    def __post_init__(self):
        super().__post_init__()
        check_int(self.name, "window", self.window, 1)


def _blocks(x: tf.Tensor, pad: tf.Tensor, blocks: tf.Tensor, window: int) -> tf.Tensor:
    """``[B, L, ...]`` -> ``[B, n, w, ...]`` after ``pad`` zero rows in front."""
    x = tf.pad(x, [[0, 0], [pad, 0]] + [[0, 0]] * (x.shape.rank - 2))
    return tf.reshape(x, tf.concat([[tf.shape(x)[0], blocks, window], tf.shape(x)[2:]], 0))


def _neighbours(x: tf.Tensor, causal: bool) -> tf.Tensor:
    """``[B, n, w, ...]`` -> each block with its previous (and next) block: ``[B, n, 2w | 3w, ...]``."""
    zeros = tf.zeros_like(x[:, :1])
    parts = [tf.concat([zeros, x[:, :-1]], 1), x]
    if not causal:
        parts.append(tf.concat([x[:, 1:], zeros], 1))
    return tf.concat(parts, axis=2)


@register_attention("local", LocalAttentionConfig)
class LocalAttention(AttentionKernel):
    """Softmax attention within a sliding window, blockwise (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.window = int(self.config.window)
        self.dropout = FastDropout(self.dropout_rate)
        w = self.window
        query_at = tf.range(w)[:, tf.newaxis] + w  # a query's place among its block's keys
        offset = query_at - tf.range((2 if self.causal else 3) * w)[tf.newaxis, :]  # query - key, [w, 2w | 3w]
        self.band = (offset >= 0) & (offset < w) if self.causal else tf.abs(offset) < w

    def call(self, query, key, value, padding_mask=None, attention_mask=None, positions=None, training=False):
        length, w = tf.shape(query)[1], self.window
        blocks = (length + w - 1) // w
        pad = blocks * w - length
        q = _blocks(query * tf.cast(1.0 / math.sqrt(float(self.head_dim)), query.dtype), pad, blocks, w)
        k = _neighbours(_blocks(key, pad, blocks, w), self.causal)  # [B, n, 2w | 3w, H, Dh]
        v = _neighbours(_blocks(value, pad, blocks, w), self.causal)
        real = _neighbours(_blocks(padding_mask, pad, blocks, w), self.causal)  # [B, n, 2w | 3w]
        logits = tf.einsum("bnqhd,bnkhd->bnhqk", q, k)  # [B, n, H, w, 2w | 3w]
        allowed = self.band[tf.newaxis, tf.newaxis, tf.newaxis] & real[:, :, tf.newaxis, tf.newaxis, :]
        probabilities = self.dropout(masked_softmax(logits, allowed), training=training)
        out = tf.einsum("bnhqk,bnkhd->bnqhd", probabilities, v)  # [B, n, w, H, Dh]
        out = tf.reshape(out, tf.concat([[tf.shape(out)[0], blocks * w], tf.shape(out)[3:]], 0))
        return out[:, pad:], None
