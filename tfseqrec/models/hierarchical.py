"""Hierarchical transformer for long histories: items attend within fixed-size chunks, chunks attend to chunks.

``encode`` maps left-padded ``item_ids [B, L]`` to states ``[B, L, D]`` in four steps:

1. Inputs: item (and side-input) embeddings scaled by ``sqrt(D)`` plus absolute positions over the whole history,
   dropout; cut into ``C = ceil(L / S)`` chunks of ``S = chunk_size`` items ending at the newest item
   (``[B, C, S, D]``, zeros prepended).
2. Item level: ``num_blocks`` causal transformer blocks inside each chunk (``[B * C, S, D]``): ``O(L * S)``.
3. Chunk level: each non-empty chunk's summary is the state of its last item (which has seen the whole chunk);
   ``chunk_blocks`` causal blocks over the ``[B, C, D]`` summaries (with chunk positions): ``O(C^2)``.
4. Fusion: an item in chunk ``c`` receives the chunk-level state of chunk ``c - 1`` (everything before its chunk,
   so no later item leaks in) through a learned gate, ``h + sigmoid(W_g [h; g]) * W_c g``; final LayerNorm.

With ``S = 64`` a history of 4,096 costs ``4,096 * 64`` item-level attention pairs and ``64^2`` chunk-level ones,
against ``4,096^2`` for full attention. Position encodings that act inside the attention (rotary, relative,
ALiBi, time intervals) are refused: the chunk boundaries would cut their distances.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.ids import PAD_ID
from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.models.chunking import from_end_aligned_chunks, num_chunks, to_end_aligned_chunks
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.layers import (
    causal_attention_mask,
    check_attention_init,
    check_position_origin,
    small_normal_initializer,
    transformer_blocks,
)
from tfseqrec.models.positions import (
    PositionEncodingConfig,
    build_position_encoding,
    position_encoding_config,
    require_input_positions,
)
from tfseqrec.models.registry import register


@dataclasses.dataclass(frozen=True)
class HierarchicalConfig(SequentialModelConfig):
    """``chunk_size`` items per chunk; ``num_blocks`` item-level blocks inside chunks, ``chunk_blocks`` over chunk
    summaries, ``num_heads`` heads and ``ffn_dim`` (default ``embedding_dim``) in both. ``position_encoding``
    (``learnable``, ``sinusoidal`` or ``none``) numbers items over the whole history and chunks over the chunk
    sequence, from ``position_origin``; ``attention_init``: as SASRec's."""

    chunk_size: int = 64
    num_blocks: int = 2
    chunk_blocks: int = 1
    num_heads: int = 1
    ffn_dim: Optional[int] = None
    layer_norm_epsilon: float = 1e-8
    position_origin: str = "first"
    attention_init: str = "xavier_qkv"
    position_encoding: PositionEncodingConfig = dataclasses.field(default_factory=PositionEncodingConfig)

    def __post_init__(self):
        super().__post_init__()
        check_position_origin(self.position_origin)
        check_attention_init(self.attention_init)
        object.__setattr__(self, "position_encoding", position_encoding_config(self.position_encoding))
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size={self.chunk_size} must be >= 1")
        if self.num_blocks < 1 or self.chunk_blocks < 1 or self.num_heads < 1:
            raise ValueError(
                f"num_blocks ({self.num_blocks}), chunk_blocks ({self.chunk_blocks}) and num_heads "
                f"({self.num_heads}) must be >= 1"
            )

    @property
    def max_chunks(self) -> int:
        return num_chunks(self.max_len, self.chunk_size)


@register("hierarchical", HierarchicalConfig)
class HierarchicalTransformer(SequentialRecommender):
    """Chunked item-level encoder under a chunk-level encoder (module docstring); ``encode``: ``[B, L] -> [B, L,
    D]``."""

    def __init__(self, config: HierarchicalConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        dim, ffn = config.embedding_dim, config.ffn_dim or config.embedding_dim

        def positions(length: int, name: str):
            encoding = build_position_encoding(
                config.position_encoding,
                length,
                dim,
                config.num_heads,
                origin=config.position_origin,
                causal=True,
                dropout=config.dropout,
                name=name,
            )
            require_input_positions(encoding, "hierarchical", "attention inside chunks would cut its distances")
            return encoding

        def blocks(count: int, length: int, prefix: str):
            return transformer_blocks(
                count,
                dim,
                config.num_heads,
                ffn,
                config.dropout,
                config.layer_norm_epsilon,
                config.attention_init,
                max_len=length,
                causal=True,
                prefix=prefix,
            )

        self.position_embedding = positions(config.max_len, "position_embedding")
        self.chunk_position_embedding = positions(config.max_chunks, "chunk_position_embedding")
        self.input_dropout = FastDropout(config.dropout)
        self.item_blocks = blocks(config.num_blocks, config.chunk_size, "item_block")
        self.chunk_blocks = blocks(config.chunk_blocks, config.max_chunks, "chunk_block")
        self.chunk_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon)
        self.context_projection = tf.keras.layers.Dense(
            dim, kernel_initializer=small_normal_initializer(), name="context_projection"
        )
        self.context_gate = tf.keras.layers.Dense(
            dim, kernel_initializer=small_normal_initializer(), name="context_gate"
        )
        self.final_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon)

    def encode(self, item_ids, training=False, features=None):
        """States ``[B, L, D]`` of left-padded ``item_ids [B, L]`` (any ``L <= max_len``); ``features``: record
        features ``[B, L]`` by name (side inputs)."""
        item_ids = tf.cast(item_ids, tf.int64)
        padding_mask = tf.not_equal(item_ids, PAD_ID)  # [B, L]
        dim, size = self.config.embedding_dim, self.config.chunk_size
        x = self.embed_items(item_ids, features) * (dim**0.5)
        x = self.position_embedding(x, padding_mask=padding_mask, training=training)
        x = self.input_dropout(x, training=training) * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]

        chunks = to_end_aligned_chunks(x, size)  # [B, C, S, D]
        chunk_items = to_end_aligned_chunks(padding_mask, size)  # [B, C, S]
        batch, count = tf.shape(chunks)[0], tf.shape(chunks)[1]
        h = tf.reshape(chunks, [batch * count, size, dim])
        item_mask = tf.reshape(chunk_items, [batch * count, size])
        attention_mask = causal_attention_mask(item_mask)
        for block in self.item_blocks:
            h = block(h, attention_mask=attention_mask, padding_mask=item_mask, training=training)
        h = tf.reshape(h, [batch, count, size, dim])

        summaries = h[:, :, -1, :]  # [B, C, D]: the newest item of each chunk has seen all of it
        chunk_mask = chunk_items[:, :, -1]  # [B, C]: end alignment puts a chunk's items at its end
        g = self.chunk_position_embedding(summaries, padding_mask=chunk_mask, training=training)
        chunk_attention = causal_attention_mask(chunk_mask)
        for block in self.chunk_blocks:
            g = block(g, attention_mask=chunk_attention, padding_mask=chunk_mask, training=training)
        g = self.chunk_norm(g) * tf.cast(chunk_mask, g.dtype)[..., tf.newaxis]
        context = tf.pad(g[:, :-1], [[0, 0], [1, 0], [0, 0]])  # chunk c reads chunks < c: [B, C, D]
        context = tf.broadcast_to(context[:, :, tf.newaxis, :], tf.shape(h))
        gate = tf.sigmoid(self.context_gate(tf.concat([h, context], axis=-1)))
        fused = h + gate * self.context_projection(context)
        return self.final_norm(from_end_aligned_chunks(fused, tf.shape(item_ids)[1]))
