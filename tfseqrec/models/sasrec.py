"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the item history.

Item embeddings scaled by sqrt(D) plus learnable absolute position embeddings, dropout, ``num_blocks``
pre-norm transformer blocks with a causal mask, and a final layer norm. Positions count from the first
item of the (truncated) history by default, as in the reference implementations (right-padded there):
on ML-1M the index of a rating in a user's history carries signal (sign-up ratings come first). With the full
cross-entropy loss this is the "SASRec+" of Klenitskiy & Vasilev (RecSys 2023); with ``LossConfig("bce")`` it is
the original.

``position_encoding`` swaps the learnable table for another kind (``tfseqrec.models.positions``): sinusoidal,
none, rotary, relative (T5), ALiBi, or TiSASRec's time intervals (``time_interval``), which read the history's
``timestamps``: the model then lists them in ``input_features`` and ``encode`` reads ``features["timestamps"]
[B, L]`` (``query`` / ``score_all`` take ``timestamps=``).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.ids import PAD_ID
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.attention import AttentionConfig, attention_config, check_positions
from tfseqrec.models.layers import (
    causal_attention_mask,
    check_attention_init,
    check_position_origin,
    run_blocks,
    transformer_blocks,
)
from tfseqrec.models import kv_cache
from tfseqrec.models.inputs import TIMESTAMPS
from tfseqrec.models.positions import PositionEncodingConfig, build_position_encoding, position_encoding_config
from tfseqrec.models.registry import register


@dataclasses.dataclass(frozen=True)
class SASRecConfig(SequentialModelConfig):
    """``num_blocks`` transformer blocks with ``num_heads`` heads; ``ffn_dim`` defaults to ``embedding_dim``.

    ``position_origin``: ``"first"`` numbers positions from the oldest kept item (0, 1, ...); ``"last"``
    anchors the newest item at ``max_len - 1`` whatever the history length. ``attention_init``:
    ``"xavier_qkv"`` (default) initialises query/key/value as torch's ``nn.MultiheadAttention`` does in the
    reference implementation, every other transformer weight ~N(0, 0.02); ``"small_normal"`` puts
    query/key/value at N(0, 0.02) too (BERT-style; near-uniform attention at the start).
    ``tie_embeddings``: True (default, the paper) scores items with the input embedding table; False learns a
    separate output table ``[num_items, D]``, as gSASRec's reference code does by default
    (``reuse_item_embeddings=False``): with many negatives per position, the push on the negatives' output
    embeddings then does not also move their input embeddings.
    ``position_encoding``: a :class:`PositionEncodingConfig` (or its mapping, or a bare name), ``learnable``
    by default; ``position_origin`` applies to the kinds that number absolute positions.
    ``attention``: an :class:`AttentionConfig` (or its mapping, or a bare name): ``full`` softmax by default, or an
    efficient kind for long histories (``tfseqrec.models.attention``: local, linear, performer).
    """

    num_blocks: int = 2
    num_heads: int = 1
    ffn_dim: Optional[int] = None
    layer_norm_epsilon: float = 1e-8
    position_origin: str = "first"
    attention_init: str = "xavier_qkv"
    tie_embeddings: bool = True
    position_encoding: PositionEncodingConfig = dataclasses.field(default_factory=PositionEncodingConfig)
    attention: AttentionConfig = dataclasses.field(default_factory=AttentionConfig)

    def __post_init__(self):
        super().__post_init__()
        check_position_origin(self.position_origin)
        check_attention_init(self.attention_init)
        object.__setattr__(self, "position_encoding", position_encoding_config(self.position_encoding))
        object.__setattr__(self, "attention", attention_config(self.attention))


@register("sasrec", SASRecConfig)
class SASRec(SequentialRecommender):
    """Self-attentive sequential recommendation; ``encode``: ``[B, L] -> [B, L, D]``."""

    attention_mask_fn = staticmethod(causal_attention_mask)

    def __init__(self, config: SASRecConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        dim = config.embedding_dim
        # the encoder's position encoding (any kind), under the attribute name of the learnable table
        self.position_embedding = build_position_encoding(
            config.position_encoding,
            config.max_len,
            dim,
            config.num_heads,
            origin=config.position_origin,
            causal=self.causal,
            dropout=config.dropout,
            name="position_embedding",
        )
        check_positions(config.attention, self.position_embedding)
        self.input_dropout = FastDropout(config.dropout)
        self.blocks = transformer_blocks(
            config.num_blocks,
            dim,
            config.num_heads,
            config.ffn_dim or dim,
            config.dropout,
            config.layer_norm_epsilon,
            config.attention_init,
            attention=config.attention,
            max_len=config.max_len,
            causal=self.causal,
        )
        self.final_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon)
        self.output_item_embedding = None
        if not config.tie_embeddings:
            self.output_item_embedding = tf.keras.layers.Embedding(
                self.num_items,
                dim,
                name="output_item_embedding",
                embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02),
            )
            self.output_item_embedding.build((None,))

    def item_embeddings(self) -> tf.Tensor:
        """``[num_items, D]``: the input table (tied, the default) or the separate output table."""
        if self.output_item_embedding is not None:
            return self.item_inputs.output_table(self.output_item_embedding.embeddings)
        return super().item_embeddings()

    def encoder_features(self) -> tuple:
        """``("timestamps",)`` when the position encoding reads them."""
        return (TIMESTAMPS,) if self.position_embedding.reads_timestamps else ()

    def encode(self, item_ids, training=False, features=None, block_inputs=None):
        """States ``[B, L, D]`` of left-padded ``item_ids [B, L]``; ``features``: record features ``[B, L]`` by
        name (side inputs, and ``timestamps`` for encodings that read them); ``block_inputs``: a list that receives
        each block's input ``[B, L, D]``."""
        features = features or {}
        timestamps = features.get(TIMESTAMPS)
        padding_mask = tf.not_equal(item_ids, PAD_ID)  # [B, L]
        x = self.embed_items(item_ids, features) * (self.config.embedding_dim**0.5)
        x = self.position_embedding(x, padding_mask=padding_mask, timestamps=timestamps, training=training)
        x = self.input_dropout(x, training=training) * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]
        x = run_blocks(
            self.blocks,
            x,
            padding_mask,
            self.attention_mask_fn,
            self.position_embedding,
            timestamps,
            training,
            block_inputs=block_inputs,
        )
        return self.final_norm(x)

    # -- streaming: a key-value cache -----------------------------------------------------------------------------
    def stream_state_layout(self) -> Optional[kv_cache.StreamStateLayout]:
        """The number of items so far, then per cached position (at most ``max_len``) every block's key and value
        (``2 * num_blocks * D`` values; ``tfseqrec.models.kv_cache``); None unless the model reads item ids alone,
        the attention ``attends_cached_keys`` (full) and the position encoding ``extends_by_one`` (learnable
        positions counted from the oldest item)."""
        plain = self.input_features == ("item_ids",) and self.adaptation is None and self.target_behaviour is None
        streamable = self.causal and all(b.attention.attention_kernel.attends_cached_keys for b in self.blocks)
        if not (plain and streamable and self.position_embedding.extends_by_one):
            return None
        return kv_cache.cache_layout([self.config.embedding_dim] * 2 * self.config.num_blocks, self.config.max_len)

    def stream_start(self, item_ids: tf.Tensor) -> tuple:
        """``(query [B, D], state [B, 1 + W * P])`` after left-padded ``item_ids [B, W]`` (the latest ``max_len``
        columns kept): ``encode``'s last state and every block's keys / values of the ``W`` positions."""
        item_ids = tf.cast(item_ids, tf.int64)[:, -self.config.max_len :]
        inputs = []
        query = self.encode(item_ids, training=False, block_inputs=inputs)[:, -1, :]
        count = tf.reduce_sum(tf.cast(tf.not_equal(item_ids, PAD_ID), tf.float32), axis=1)  # [B]
        caches = [tensor for block, x in zip(self.blocks, inputs) for tensor in block.project_key_value(x)]
        return query, kv_cache.pack(count, caches)

    def stream_step(self, state: tf.Tensor, item_ids: tf.Tensor) -> tuple:
        """``(query [B, D], state)`` after one more item ``item_ids [B]``: the new position's keys and values join
        each block's cache (one position more, or the oldest leaves at ``max_len``), one query attends over it.
        Equals ``query`` of the whole history while it holds at most ``max_len`` items (the server recomputes past
        that)."""
        heads = self.config.num_heads
        count, caches = kv_cache.unpack(state, [(heads, self.config.embedding_dim // heads)] * 2 * len(self.blocks))
        x = self.embed_items(tf.cast(item_ids, tf.int64)) * (self.config.embedding_dim**0.5)  # [B, D]
        x = self.position_embedding.next_position(x, count)[:, tf.newaxis, :]  # [B, 1, D]
        updated, mask = [], None
        for i, block in enumerate(self.blocks):
            key, value = block.project_key_value(x)  # [B, 1, H, Dh]
            keys = kv_cache.push(caches[2 * i], key, self.config.max_len)
            values = kv_cache.push(caches[2 * i + 1], value, self.config.max_len)
            mask = kv_cache.key_mask(count + 1.0, tf.shape(keys)[1]) if mask is None else mask
            updated += [keys, values]
            x = block.step(x, keys, values, mask)
        return self.final_norm(x)[:, 0, :], kv_cache.pack(count + 1.0, updated)
