"""The contract of an attention kind: how one attention layer mixes projected values ``[B, L, H, Dh]``.

The transformer block projects queries, keys and values per head (``ProjectionInitAttention``), applies the
position encoding's rotations (``AttentionPositions.project``) and hands them to its kernel:

    kernel(query, key, value, padding_mask=[B, L] bool, attention_mask=[B, L, L] bool or None,
           positions=AttentionPositions, training=bool) -> (output [B, L, H, Dh], probabilities or None)

``needs_mask`` kernels (full softmax) get the encoder's ``[B, L, L]`` mask; the others get ``attention_mask=None``
and build only what they need from ``padding_mask`` and ``causal``, so nothing of size ``L^2`` is ever made.
``reads_attention_scores`` says whether position encodings that act on the logits or on the probabilities
(``relative``, ``alibi``, ``time_interval``) can be used: only kinds that form the ``[T, S]`` logits can.
A kind that cannot be causal (Linformer) sets ``supports_causal = False``; the model refuses the combination.
"""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.attention.config import AttentionConfig, attention_config
from tfseqrec.models.attention.registry import get_attention_class


class AttentionKernel(tf.keras.layers.Layer):
    """Base class of the registered kinds.

    Args:
      config: the kind's :class:`AttentionConfig` (or its mapping / name).
      max_len: longest input ``L``; num_heads: ``H``; head_dim: ``Dh``.
      causal: whether a position may only see itself and earlier positions.
      dropout: dropout rate on attention probabilities (kinds that form them).
    """

    kind = "base"  # set by register_attention
    config_class = AttentionConfig
    needs_mask = False
    reads_attention_scores = False
    supports_causal = True
    # True when one new query attended over cached keys / values with a [B, 1, S] mask gives what the whole
    # sequence's pass gives at that position (streaming with a key-value cache)
    attends_cached_keys = False

    def __init__(self, config, max_len: int, num_heads: int, head_dim: int, causal: bool, dropout: float = 0.0, **kw):
        super().__init__(**kw)
        self.config = attention_config(config)
        if self.config.name != self.kind:
            raise ValueError(f"{type(self).__name__} computes {self.kind!r}, not attention {self.config.name!r}")
        if causal and not self.supports_causal:
            raise ValueError(
                f"attention {self.kind!r} mixes every position with every other: it cannot be causal "
                f"(use it in bidirectional encoders such as bert4rec)"
            )
        self.max_len, self.num_heads, self.head_dim = int(max_len), int(num_heads), int(head_dim)
        self.causal, self.dropout_rate = bool(causal), float(dropout)

    def call(self, query, key, value, padding_mask=None, attention_mask=None, positions=None, training=False):
        raise NotImplementedError


def build_attention(config, max_len: int, num_heads: int, head_dim: int, causal: bool, dropout: float = 0.0, **kw):
    """The registered kernel of ``config.name`` (``config``: a config, a mapping or a name)."""
    config = attention_config(config)
    return get_attention_class(config.name)(config, max_len, num_heads, head_dim, causal, dropout, **kw)


def check_positions(attention, position_encoding) -> None:
    """Refuses position encodings that act on attention scores with kinds that never form them."""
    attention_class = get_attention_class(attention_config(attention).name)
    if getattr(position_encoding, "acts_on_attention_scores", False) and not attention_class.reads_attention_scores:
        raise ValueError(
            f"position_encoding {position_encoding.kind!r} acts on the attention logits, which attention "
            f"{attention_class.kind!r} never forms; use learnable, sinusoidal, rotary or none with it"
        )


def masked_softmax(logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis with ``mask`` (bool, broadcastable) False entries pushed to a large negative,
    as Keras' masked softmax does (a row without any allowed key comes out uniform, and is padding anyway)."""
    negative = -1e9 if logits.dtype == tf.float32 else float(logits.dtype.min)
    return tf.nn.softmax(tf.where(mask, logits, tf.constant(negative, logits.dtype)), axis=-1)


def valid_keys(padding_mask: tf.Tensor, dtype) -> tf.Tensor:
    """``[B, L, 1, 1]`` 1.0 at real items, 0.0 at padding (to zero padded keys and values)."""
    return tf.cast(padding_mask, dtype)[:, :, tf.newaxis, tf.newaxis]
