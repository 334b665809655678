"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the item history.

Item embeddings scaled by sqrt(D) plus learnable absolute position embeddings, dropout, ``num_blocks``
pre-norm transformer blocks with a causal mask, and a final layer norm. Positions count from the first
item of the (truncated) history by default, as in the reference implementations (right-padded there):
on ML-1M the index of a rating in a user's history carries signal (sign-up ratings come first). With the full
cross-entropy loss this is the "SASRec+" of Klenitskiy & Vasilev (RecSys 2023); with ``LossConfig("bce")`` it is
the original.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.ids import PAD_ID
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.layers import (
    causal_attention_mask,
    check_attention_init,
    check_position_origin,
    position_embedding,
    position_ids,
    transformer_blocks,
)
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
    """

    num_blocks: int = 2
    num_heads: int = 1
    ffn_dim: Optional[int] = None
    layer_norm_epsilon: float = 1e-8
    position_origin: str = "first"
    attention_init: str = "xavier_qkv"
    tie_embeddings: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_position_origin(self.position_origin)
        check_attention_init(self.attention_init)


@register("sasrec", SASRecConfig)
class SASRec(SequentialRecommender):
    """Self-attentive sequential recommendation; ``encode``: ``[B, L] -> [B, L, D]``."""

    attention_mask_fn = staticmethod(causal_attention_mask)

    def __init__(self, config: SASRecConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        dim = config.embedding_dim
        self.position_embedding = position_embedding(config.max_len, dim)
        self.input_dropout = FastDropout(config.dropout)
        self.blocks = transformer_blocks(
            config.num_blocks,
            dim,
            config.num_heads,
            config.ffn_dim or dim,
            config.dropout,
            config.layer_norm_epsilon,
            config.attention_init,
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
            return self.output_item_embedding.embeddings
        return super().item_embeddings()

    def encode(self, item_ids, training=False):
        padding_mask = tf.not_equal(item_ids, PAD_ID)  # [B, L]
        x = self.item_embedding(item_ids) * (self.config.embedding_dim**0.5)
        x = x + self.position_embedding(position_ids(padding_mask, self.config.max_len, self.config.position_origin))
        x = self.input_dropout(x, training=training) * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]
        attention_mask = self.attention_mask_fn(padding_mask)
        for block in self.blocks:
            x = block(x, attention_mask=attention_mask, padding_mask=padding_mask, training=training)
        return self.final_norm(x)
