"""Building blocks shared by architectures: attention masks, transformer blocks, position embeddings.

Attention masks are functions of the padding mask, so a causal encoder (SASRec) and a bidirectional
masked-LM encoder (BERT4Rec) differ only in the mask function they pass to the same blocks.
"""
from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf


def causal_attention_mask(padding_mask: tf.Tensor) -> tf.Tensor:
    """``[B, L, L]`` bool: query position i may attend key j iff j <= i and key j is not padding.

    ``padding_mask [B, L]`` is True for real items.
    """
    length = tf.shape(padding_mask)[1]
    causal = tf.linalg.band_part(tf.ones([length, length], tf.bool), -1, 0)
    return tf.logical_and(causal[tf.newaxis], padding_mask[:, tf.newaxis, :])


def bidirectional_attention_mask(padding_mask: tf.Tensor) -> tf.Tensor:
    """``[B, L, L]`` bool: every position may attend every non-padding key (masked-LM encoders)."""
    length = tf.shape(padding_mask)[1]
    return tf.tile(padding_mask[:, tf.newaxis, :], [1, length, 1])


def small_normal_initializer(stddev: float = 0.02) -> tf.keras.initializers.Initializer:
    """Truncated normal with a small stddev for transformer weights (BERT/GPT-style; the SASRec and BERT4Rec
    reference implementations use 0.02): residual branches start near zero, so early training follows the
    embeddings."""
    return tf.keras.initializers.TruncatedNormal(stddev=stddev)


class PointWiseFeedForward(tf.keras.layers.Layer):
    """Two position-wise dense layers with ReLU and dropout: ``[B, L, D] -> [B, L, D]``."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.hidden_dim, self.dropout_rate = dim, hidden_dim, dropout
        self.inner = tf.keras.layers.Dense(hidden_dim, activation="relu", kernel_initializer=small_normal_initializer())
        self.outer = tf.keras.layers.Dense(dim, kernel_initializer=small_normal_initializer())
        self.dropout1 = tf.keras.layers.Dropout(dropout)
        self.dropout2 = tf.keras.layers.Dropout(dropout)

    def call(self, x, training=False):
        return self.dropout2(self.outer(self.dropout1(self.inner(x), training=training)), training=training)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "hidden_dim": self.hidden_dim, "dropout": self.dropout_rate}


class TransformerBlock(tf.keras.layers.Layer):
    """Pre-norm self-attention block as in SASRec (Kang & McAuley 2018).

    ``q = LN(x); x = q + MHA(q, x, x, mask); x = LN(x); x = x + FFN(x)``; padding rows are zeroed.
    Input/output ``[B, L, D]``; ``attention_mask [B, L, L]`` bool.
    """

    def __init__(self, dim: int, num_heads: int, hidden_dim: int, dropout: float, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"embedding_dim {dim} is not divisible by num_heads {num_heads}")
        self.dim, self.num_heads, self.hidden_dim, self.dropout_rate, self.epsilon = (
            dim, num_heads, hidden_dim, dropout, epsilon)
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=epsilon)
        self.attention = tf.keras.layers.MultiHeadAttention(num_heads, key_dim=dim // num_heads, dropout=dropout,
                                                            kernel_initializer=small_normal_initializer())
        self.ffn_norm = tf.keras.layers.LayerNormalization(epsilon=epsilon)
        self.ffn = PointWiseFeedForward(dim, hidden_dim, dropout)

    def call(self, x, attention_mask, padding_mask, training=False):
        q = self.attention_norm(x)
        x = q + self.attention(q, x, x, attention_mask=attention_mask, training=training)
        x = self.ffn_norm(x)
        x = x + self.ffn(x, training=training)
        return x * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "num_heads": self.num_heads, "hidden_dim": self.hidden_dim,
                "dropout": self.dropout_rate, "epsilon": self.epsilon}


def position_embedding(max_len: int, dim: int) -> tf.keras.layers.Embedding:
    """Learnable absolute positions ``[max_len, dim]`` (truncated-normal init, as the item table)."""
    return tf.keras.layers.Embedding(max_len, dim, name="position_embedding",
                                     embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02))


POSITION_ORIGINS = ("first", "last")


def check_position_origin(origin: str) -> None:
    if origin not in POSITION_ORIGINS:
        raise ValueError(f"position_origin={origin!r}: use one of {POSITION_ORIGINS} (first: position 0 is the "
                         "oldest item kept; last: the newest item is max_len - 1)")


def position_ids(padding_mask: tf.Tensor, max_len: int, origin: str = "first") -> tf.Tensor:
    """Position ids for left-padded rows, ``[B, L]`` (``origin="first"``) or ``[1, L]`` (``"last"``).

    ``"first"``: 0 at each row's oldest real item, counting up (padding gets 0 and is masked anyway), as
    with the right-padded reference implementations. ``"last"``: the newest column is ``max_len - 1``
    whatever the row's length. ``padding_mask [B, L]`` is True for real items; ``L <= max_len``.
    """
    if origin == "first":
        return tf.maximum(tf.cumsum(tf.cast(padding_mask, tf.int32), axis=1) - 1, 0)
    length = tf.shape(padding_mask)[1]
    return tf.range(max_len - length, max_len)[tf.newaxis]


def transformer_blocks(num_blocks: int, dim: int, num_heads: int, hidden_dim: int, dropout: float,
                       epsilon: float) -> list:
    """``num_blocks`` ``TransformerBlock``s named ``block_<i>``."""
    return [TransformerBlock(dim, num_heads, hidden_dim, dropout, epsilon, name=f"block_{i}")
            for i in range(num_blocks)]
