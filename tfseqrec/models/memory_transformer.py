"""Memory-augmented transformer: a few memory slots carry everything older than the current segment.

A history is read segment by segment (``S = segment_size`` items, the first segment opening at the row's oldest
item), with a memory of ``K = memory_slots`` vectors (Bulatov et al., NeurIPS 2022, "Recurrent Memory
Transformer", read / write tokens). For segment ``c`` the blocks see ``K + S + K`` tokens::

    [ read memory M_{c-1} | the segment's items | write tokens M_{c-1} + w ]

under one mask: read tokens attend to read tokens; item ``t`` to the read tokens and the segment's items up to
``t`` (causal); write tokens to the read tokens, every item of the segment and each other. The item tokens' outputs
are the states; ``M_c = LayerNorm(write outputs)`` (unchanged by a segment without items). So an item's state
depends on its own segment's earlier items and, through ``M_{c-1}``, on every earlier segment, never on later
items. Cost: ``O(L * (S + 2K))`` attention in ``C = ceil(L / S)`` sequential steps (``tf.scan``), against
``O(L^2)`` for full attention; gradients flow through the memory across all segments.

A user's state can be carried forward: :meth:`MemoryTransformer.encode_with_memory` takes a memory and returns the
one after the history's complete segments, so a history read in parts ending on segment boundaries gives the
states of reading it whole, without recomputing the older parts. Positions are numbered within each segment
(``position_encoding``: learnable, sinusoidal or none), so the memory, not an absolute index, carries order
across segments.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.ids import PAD_ID
from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.models.chunking import from_start_aligned_chunks, to_start_aligned_chunks
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.layers import check_attention_init, small_normal_initializer, transformer_blocks
from tfseqrec.models.positions import (
    PositionEncodingConfig,
    build_position_encoding,
    position_encoding_config,
    require_input_positions,
)
from tfseqrec.models.registry import register


@dataclasses.dataclass(frozen=True)
class MemoryTransformerConfig(SequentialModelConfig):
    """``segment_size`` items per segment, ``memory_slots`` memory vectors; ``num_blocks`` transformer blocks with
    ``num_heads`` heads and ``ffn_dim`` (default ``embedding_dim``) read each segment with its memory.
    ``position_encoding`` (``learnable``, ``sinusoidal`` or ``none``) numbers items within their segment;
    ``attention_init``: as SASRec's."""

    segment_size: int = 64
    memory_slots: int = 8
    num_blocks: int = 2
    num_heads: int = 1
    ffn_dim: Optional[int] = None
    layer_norm_epsilon: float = 1e-8
    attention_init: str = "xavier_qkv"
    position_encoding: PositionEncodingConfig = dataclasses.field(default_factory=PositionEncodingConfig)

    def __post_init__(self):
        super().__post_init__()
        check_attention_init(self.attention_init)
        object.__setattr__(self, "position_encoding", position_encoding_config(self.position_encoding))
        if self.segment_size < 1 or self.memory_slots < 1:
            raise ValueError(f"segment_size ({self.segment_size}) and memory_slots ({self.memory_slots}) must be >= 1")
        if self.num_blocks < 1 or self.num_heads < 1:
            raise ValueError(f"num_blocks ({self.num_blocks}) and num_heads ({self.num_heads}) must be >= 1")


def segment_attention_mask(item_mask: tf.Tensor, slots: int) -> tf.Tensor:
    """``[B, K + S + K, K + S + K]`` bool mask of one segment (module docstring) from ``item_mask [B, S]``."""
    size = tf.shape(item_mask)[1]
    batch = tf.shape(item_mask)[0]
    items = tf.cast(item_mask, tf.bool)
    causal = tf.linalg.band_part(tf.ones([size, size], tf.bool), -1, 0)[tf.newaxis] & items[:, tf.newaxis, :]
    read_cols = tf.ones([batch, size + 2 * slots, slots], tf.bool)
    write_cols = tf.ones([batch, slots, slots], tf.bool)
    # columns: read | items | write
    read_rows = tf.concat([tf.zeros([batch, slots, size], tf.bool), tf.zeros([batch, slots, slots], tf.bool)], 2)
    item_rows = tf.concat([causal, tf.zeros([batch, size, slots], tf.bool)], axis=2)
    write_rows = tf.concat([tf.broadcast_to(items[:, tf.newaxis, :], [batch, slots, size]), write_cols], axis=2)
    return tf.concat([read_cols, tf.concat([read_rows, item_rows, write_rows], axis=1)], axis=2)


@register("memory_transformer", MemoryTransformerConfig)
class MemoryTransformer(SequentialRecommender):
    """Segment-recurrent transformer with memory slots (module docstring); ``encode``: ``[B, L] -> [B, L, D]``."""

    def __init__(self, config: MemoryTransformerConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        dim, slots = config.embedding_dim, config.memory_slots
        self.position_embedding = build_position_encoding(
            config.position_encoding,
            config.segment_size,
            dim,
            config.num_heads,
            origin="first",
            causal=True,
            dropout=config.dropout,
            name="position_embedding",
        )
        require_input_positions(self.position_embedding, "memory_transformer", "memory tokens have no distance")
        self.input_dropout = FastDropout(config.dropout)
        self.blocks = transformer_blocks(
            config.num_blocks,
            dim,
            config.num_heads,
            config.ffn_dim or dim,
            config.dropout,
            config.layer_norm_epsilon,
            config.attention_init,
            max_len=config.segment_size + 2 * slots,
            causal=True,
        )
        self.memory_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="memory_norm")
        self.initial_slots = self.add_weight(
            name="initial_memory", shape=[slots, dim], initializer=tf.keras.initializers.TruncatedNormal(stddev=1.0)
        )
        self.write_embedding = self.add_weight(
            name="write_embedding", shape=[slots, dim], initializer=small_normal_initializer()
        )
        self.final_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon)
        # Build every layer the segment step uses here, eagerly: tf.scan's loop body cannot create variables.
        self._read_segment(
            self.initial_memory(1), tf.zeros([1, config.segment_size, dim]), tf.ones([1, config.segment_size], tf.bool)
        )
        self.final_norm(tf.zeros([1, 1, dim]))

    def initial_memory(self, batch_size) -> tf.Tensor:
        """The memory before any event, ``[B, K, D]``."""
        memory = self.memory_norm(self.initial_slots[tf.newaxis])  # [1, K, D]
        return tf.tile(memory, [batch_size, 1, 1])

    def _read_segment(self, memory, x, item_mask, training=False):
        """One segment: ``memory [B, K, D]``, inputs ``x [B, S, D]``, ``item_mask [B, S]`` -> (states ``[B, S,
        D]``, the memory after the segment ``[B, K, D]``)."""
        slots, size = self.config.memory_slots, tf.shape(x)[1]
        memory = tf.cast(memory, x.dtype)
        write = memory + tf.cast(self.write_embedding, x.dtype)[tf.newaxis]
        tokens = tf.concat([memory, x, write], axis=1)
        token_mask = tf.concat(
            [tf.ones([tf.shape(x)[0], slots], tf.bool), item_mask, tf.ones([tf.shape(x)[0], slots], tf.bool)], 1
        )
        attention_mask = segment_attention_mask(item_mask, slots)
        for block in self.blocks:
            tokens = block(tokens, attention_mask=attention_mask, padding_mask=token_mask, training=training)
        updated = tf.cast(self.memory_norm(tokens[:, slots + size :]), memory.dtype)
        has_items = tf.reduce_any(item_mask, axis=1)[:, tf.newaxis, tf.newaxis]
        return tokens[:, slots : slots + size], tf.where(has_items, updated, memory)

    def encode_with_memory(self, item_ids, memory=None, training=False, features=None):
        """Read left-padded ``item_ids [B, L]`` (each row's oldest item opens its first segment) after ``memory
        [B, K, D]`` (None: the initial memory) -> (states ``[B, L, D]``, the memory after the row's complete
        segments ``[B, K, D]``: pass it with the following events to carry the state forward)."""
        item_ids = tf.cast(item_ids, tf.int64)
        padding_mask = tf.not_equal(item_ids, PAD_ID)  # [B, L]
        dim, size = self.config.embedding_dim, self.config.segment_size
        batch = tf.shape(item_ids)[0]
        x = self.embed_items(item_ids, features) * (dim**0.5)
        segments = to_start_aligned_chunks(x, padding_mask, size)  # [B, C, S, D]
        segment_items = to_start_aligned_chunks(padding_mask, padding_mask, size)  # [B, C, S]
        count = tf.shape(segments)[1]
        flat_items = tf.reshape(segment_items, [batch * count, size])
        flat = self.position_embedding(
            tf.reshape(segments, [batch * count, size, dim]), padding_mask=flat_items, training=training
        )
        flat = self.input_dropout(flat, training=training) * tf.cast(flat_items, flat.dtype)[..., tf.newaxis]
        segments = tf.transpose(tf.reshape(flat, [batch, count, size, dim]), [1, 0, 2, 3])  # [C, B, S, D]
        masks = tf.transpose(segment_items, [1, 0, 2])  # [C, B, S]
        start = self.initial_memory(batch) if memory is None else memory
        start = tf.cast(start, segments.dtype)

        def step(carry, segment):
            states, memory = self._read_segment(carry[1], segment[0], segment[1], training=training)
            return states, memory

        states, memories = tf.scan(step, (segments, masks), initializer=(segments[0], start))  # [C, B, ...]
        states = from_start_aligned_chunks(tf.transpose(states, [1, 0, 2, 3]), padding_mask)
        complete = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1) // size  # [B] full segments read
        memories = tf.concat([start[tf.newaxis], memories], axis=0)  # [C + 1, B, K, D]: index c = after c segments
        after = tf.gather_nd(tf.transpose(memories, [1, 0, 2, 3]), complete[:, tf.newaxis], batch_dims=1)
        return self.final_norm(states), after

    def encode(self, item_ids, training=False, features=None):
        """States ``[B, L, D]`` of left-padded ``item_ids [B, L]``, from the initial memory; ``features``: record
        features ``[B, L]`` by name (side inputs)."""
        return self.encode_with_memory(item_ids, training=training, features=features)[0]
