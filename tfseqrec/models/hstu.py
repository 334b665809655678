"""HSTU (Zhai et al., ICML 2024, "Actions Speak Louder than Words"): hierarchical sequential transduction units.

Each of ``num_blocks`` layers maps ``x [B, L, D]``:

    U, V, Q, K = split(SiLU(f1(LN(x))))                      # [B, L, H, dv], [B, L, H, dv], [B, L, H, dqk] x 2
    A = SiLU(Q K^T + rab_position + rab_time) / max_len       # [B, H, L, L], pointwise: no softmax
    x = x + f2(Dropout(LN(A V) * U))                          # gated by U, back to D

with ``A`` zero where a key is padding or later than the query (causal). Without a softmax the weights do not
compete, so an attention output keeps the *amount* of matching history, which the authors credit for HSTU's gains
on recommendation data. ``rab_position`` is a learned bias per head and offset ``i - j`` (``0 .. max_len - 1``);
``rab_time`` (``time_bias``, reads ``timestamps``) a learned bias per head and bucket ``floor(log2(1 + |t_i - t_j|
seconds))``. Inputs are the item (and side-input) embeddings scaled by ``sqrt(D)`` plus the position encoding of
``position_encoding`` (learnable by default, as the authors' ML-1M setup), then dropout; a final LayerNorm gives
the states that the shared next-item task scores against the item table.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.ids import PAD_ID
from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models import kv_cache
from tfseqrec.models.inputs import MILLISECONDS_PER_SECOND, TIMESTAMPS
from tfseqrec.models.layers import causal_attention_mask, small_normal_initializer
from tfseqrec.models.positions import (
    PositionEncodingConfig,
    build_position_encoding,
    position_encoding_config,
    require_input_positions,
)
from tfseqrec.models.registry import register


@dataclasses.dataclass(frozen=True)
class HSTUConfig(SequentialModelConfig):
    """``num_blocks`` HSTU layers with ``num_heads`` heads of ``attention_dim`` (query / key) and ``linear_dim``
    (value / gate) units each (default ``embedding_dim / num_heads``). ``time_bias``: add the learned bias of
    log2-bucketed time differences (``time_buckets`` of them), reading ``timestamps``. ``position_encoding``: the
    absolute encoding of the inputs (``learnable``, ``sinusoidal`` or ``none``; the kinds that act inside a softmax
    attention are refused: HSTU's attention is its own)."""

    dropout: float = 0.2
    num_blocks: int = 2
    num_heads: int = 1
    attention_dim: Optional[int] = None
    linear_dim: Optional[int] = None
    time_bias: bool = False
    time_buckets: int = 32
    layer_norm_epsilon: float = 1e-6
    position_encoding: PositionEncodingConfig = dataclasses.field(default_factory=PositionEncodingConfig)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "position_encoding", position_encoding_config(self.position_encoding))
        if self.num_blocks < 1 or self.num_heads < 1:
            raise ValueError(f"num_blocks ({self.num_blocks}) and num_heads ({self.num_heads}) must be >= 1")
        for name in ("attention_dim", "linear_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value} must be >= 1 or None")
        if self.time_buckets < 2:
            raise ValueError(f"time_buckets={self.time_buckets} must be >= 2")

    def head_dims(self) -> tuple[int, int]:
        """``(dqk, dv)`` per head."""
        default = max(1, self.embedding_dim // self.num_heads)
        return self.attention_dim or default, self.linear_dim or default


def time_difference_buckets(timestamps: tf.Tensor, num_buckets: int) -> tf.Tensor:
    """``timestamps [B, L]`` (ms) -> ``[B, L, L]`` buckets ``min(floor(log2(1 + |t_i - t_j| s)), num_buckets - 1)``."""
    seconds = tf.cast(timestamps, tf.float32) / MILLISECONDS_PER_SECOND
    gaps = tf.abs(seconds[:, :, tf.newaxis] - seconds[:, tf.newaxis, :])
    bucket = tf.floor(tf.math.log1p(gaps) / math.log(2.0))
    return tf.cast(tf.minimum(bucket, float(num_buckets - 1)), tf.int32)


class HSTULayer(tf.keras.layers.Layer):
    """One HSTU layer (module docstring); ``call(x [B, L, D], allowed [B, L, L] bool, time_buckets [B, L, L] or
    None)``."""

    def __init__(self, config: HSTUConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.heads = config.num_heads
        self.qk_dim, self.v_dim = config.head_dims()
        dim, eps = config.embedding_dim, config.layer_norm_epsilon
        self.input_norm = tf.keras.layers.LayerNormalization(epsilon=eps)
        width = self.heads * (2 * self.v_dim + 2 * self.qk_dim)
        self.f1 = tf.keras.layers.Dense(width, kernel_initializer="glorot_uniform", name="uvqk")
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=eps)
        self.f2 = tf.keras.layers.Dense(dim, kernel_initializer=small_normal_initializer(), name="output")
        self.dropout = FastDropout(config.dropout)
        self.position_bias = self.add_weight(
            name="position_bias", shape=[self.heads, config.max_len], initializer="zeros"
        )
        self.time_bias = (
            self.add_weight(name="time_bias", shape=[self.heads, config.time_buckets], initializer="zeros")
            if config.time_bias
            else None
        )

    def call(self, x, allowed, time_buckets=None, training=False):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        h, dqk, dv = self.heads, self.qk_dim, self.v_dim
        projected = tf.nn.silu(self.f1(self.input_norm(x)))
        u, v, q, k = tf.split(projected, [h * dv, h * dv, h * dqk, h * dqk], axis=-1)
        shape = lambda t, d: tf.reshape(t, [batch, length, h, d])  # noqa: E731
        u, v, q, k = shape(u, dv), shape(v, dv), shape(q, dqk), shape(k, dqk)
        scores = tf.einsum("bthd,bshd->bhts", q, k)  # [B, H, T, S]
        offsets = tf.maximum(tf.range(length)[:, tf.newaxis] - tf.range(length)[tf.newaxis, :], 0)  # i - j
        scores += tf.gather(tf.cast(self.position_bias, scores.dtype), offsets, axis=1)[tf.newaxis]
        if self.time_bias is not None and time_buckets is not None:
            bias = tf.gather(tf.cast(self.time_bias, scores.dtype), time_buckets, axis=1)  # [H, B, T, S]
            scores += tf.transpose(bias, [1, 0, 2, 3])
        weights = tf.nn.silu(scores) * tf.cast(allowed[:, tf.newaxis], scores.dtype)
        weights /= tf.cast(self.config.max_len, scores.dtype)
        attended = tf.reshape(tf.einsum("bhts,bshd->bthd", weights, v), [batch, length, h * dv])
        gated = self.attention_norm(attended) * tf.reshape(u, [batch, length, h * dv])
        return x + self.f2(self.dropout(gated, training=training))

    def project(self, x: tf.Tensor) -> tuple:
        """``(u, v, q, k)`` of inputs ``x [B, T, D]``: ``[B, T, H, dv]`` twice, then ``[B, T, H, dqk]`` twice (what
        ``call`` computes first; a key-value cache keeps ``k`` and ``v``)."""
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        h, dqk, dv = self.heads, self.qk_dim, self.v_dim
        u, v, q, k = tf.split(tf.nn.silu(self.f1(self.input_norm(x))), [h * dv, h * dv, h * dqk, h * dqk], axis=-1)
        return tuple(tf.reshape(t, [batch, length, h, d]) for t, d in ((u, dv), (v, dv), (q, dqk), (k, dqk)))

    def step(self, x, u, q, keys, values, key_mask) -> tf.Tensor:
        """The layer's output ``[B, 1, D]`` at one new position (inference, no time bias): ``x [B, 1, D]`` its input,
        ``u``, ``q`` its projections, ``keys [B, S, H, dqk]`` / ``values [B, S, H, dv]`` the latest ``S`` positions'
        (this one last), ``key_mask [B, S]`` which are real. Equals ``call`` at that position."""
        batch, width = tf.shape(x)[0], tf.shape(keys)[1]
        scores = tf.einsum("bthd,bshd->bhts", q, keys)  # [B, H, 1, S]
        offsets = width - 1 - tf.range(width)  # the query is the newest column
        scores += tf.gather(tf.cast(self.position_bias, scores.dtype), offsets, axis=1)[tf.newaxis, :, tf.newaxis]
        weights = tf.nn.silu(scores) * tf.cast(key_mask[:, tf.newaxis, tf.newaxis], scores.dtype)
        weights /= tf.cast(self.config.max_len, scores.dtype)
        attended = tf.reshape(tf.einsum("bhts,bshd->bthd", weights, values), [batch, 1, self.heads * self.v_dim])
        gated = self.attention_norm(attended) * tf.reshape(u, [batch, 1, self.heads * self.v_dim])
        return x + self.f2(gated)


@register("hstu", HSTUConfig)
class HSTU(SequentialRecommender):
    """HSTU encoder (module docstring); ``encode``: ``[B, L] -> [B, L, D]``."""

    def __init__(self, config: HSTUConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        self.position_embedding = build_position_encoding(
            config.position_encoding,
            config.max_len,
            config.embedding_dim,
            1,
            causal=True,
            dropout=config.dropout,
            name="position_embedding",
        )
        require_input_positions(
            self.position_embedding, "hstu", "HSTU has its own relative position (and, with time_bias, time) biases"
        )
        self.input_dropout = FastDropout(config.dropout)
        self.layers_ = [HSTULayer(config, name=f"hstu_{i}") for i in range(config.num_blocks)]
        self.final_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon)

    def encoder_features(self) -> tuple:
        """``("timestamps",)`` with ``time_bias``."""
        return (TIMESTAMPS,) if self.config.time_bias else ()

    def encode(self, item_ids, training=False, features=None, layer_inputs=None):
        """States ``[B, L, D]`` of left-padded ``item_ids [B, L]``; ``features``: record features ``[B, L]`` by
        name (side inputs, and ``timestamps`` with ``time_bias``); ``layer_inputs``: a list that receives each
        layer's input ``[B, L, D]``."""
        features = features or {}
        item_ids = tf.cast(item_ids, tf.int64)
        padding_mask = tf.not_equal(item_ids, PAD_ID)
        x = self.embed_items(item_ids, features) * (self.config.embedding_dim**0.5)
        x = self.position_embedding(x, padding_mask=padding_mask, training=training)
        x = self.input_dropout(x, training=training) * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]
        allowed = causal_attention_mask(padding_mask)
        timestamps = features.get(TIMESTAMPS)
        buckets = None
        if self.config.time_bias and timestamps is not None:
            buckets = time_difference_buckets(timestamps, self.config.time_buckets)
        for layer in self.layers_:
            if layer_inputs is not None:
                layer_inputs.append(x)
            x = layer(x, allowed, buckets, training=training) * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]
        return self.final_norm(x)

    # -- streaming: a key-value cache -----------------------------------------------------------------------------
    def stream_state_layout(self) -> Optional[kv_cache.StreamStateLayout]:
        """The number of items so far, then per cached position (at most ``max_len``) every layer's key and value
        (``num_blocks * H * (dqk + dv)`` values; ``tfseqrec.models.kv_cache``); None with ``time_bias`` (it reads
        timestamps), side inputs or a position encoding that does not ``extends_by_one``."""
        plain = self.input_features == ("item_ids",) and self.adaptation is None and self.target_behaviour is None
        if not (plain and self.position_embedding.extends_by_one):
            return None
        sizes = [self.config.num_heads * dim for dim in self.config.head_dims()] * self.config.num_blocks
        return kv_cache.cache_layout(sizes, self.config.max_len)

    def stream_start(self, item_ids: tf.Tensor) -> tuple:
        """``(query [B, D], state [B, 1 + W * P])`` after left-padded ``item_ids [B, W]`` (the latest ``max_len``
        columns kept)."""
        item_ids = tf.cast(item_ids, tf.int64)[:, -self.config.max_len :]
        inputs = []
        query = self.encode(item_ids, training=False, layer_inputs=inputs)[:, -1, :]
        count = tf.reduce_sum(tf.cast(tf.not_equal(item_ids, PAD_ID), tf.float32), axis=1)
        caches = []
        for layer, x in zip(self.layers_, inputs):
            _, value, _, key = layer.project(x)
            caches += [key, value]
        return query, kv_cache.pack(count, caches)

    def stream_step(self, state: tf.Tensor, item_ids: tf.Tensor) -> tuple:
        """``(query [B, D], state)`` after one more item ``item_ids [B]``; equals ``query`` of the whole history
        while it holds at most ``max_len`` items (the server recomputes past that)."""
        qk_dim, v_dim = self.config.head_dims()
        heads = self.config.num_heads
        count, caches = kv_cache.unpack(state, [(heads, qk_dim), (heads, v_dim)] * len(self.layers_))
        x = self.embed_items(tf.cast(item_ids, tf.int64)) * (self.config.embedding_dim**0.5)
        x = self.position_embedding.next_position(x, count)[:, tf.newaxis, :]  # [B, 1, D]
        updated, mask = [], None
        for i, layer in enumerate(self.layers_):
            u, value, q, key = layer.project(x)
            keys = kv_cache.push(caches[2 * i], key, self.config.max_len)
            values = kv_cache.push(caches[2 * i + 1], value, self.config.max_len)
            mask = kv_cache.key_mask(count + 1.0, tf.shape(keys)[1]) if mask is None else mask
            updated += [keys, values]
            x = layer.step(x, u, q, keys, values, mask)
        return self.final_norm(x)[:, 0, :], kv_cache.pack(count + 1.0, updated)
