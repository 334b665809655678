"""The contract of a position encoding: one Keras layer per transformer encoder, shared by its blocks.

An encoding tells positions apart in one or both of two places:

* **inputs** (absolute kinds: ``learnable``, ``sinusoidal``): ``layer(x, padding_mask=..., timestamps=...)``
  returns the input embeddings ``x [B, L, D]`` with the positions added (``x`` itself for the other kinds);
  this call also creates the layer's weights;
* **attention** (relative kinds: ``rotary``, ``relative``, ``alibi``, ``time_interval``):
  :meth:`PositionEncoding.attention_positions` returns, once per forward pass, an :class:`AttentionPositions`
  that every block's attention (``tfseqrec.models.layers.ProjectionInitAttention``) applies to its projected
  queries, keys and values (``[B, T, H, Dh]`` / ``[B, S, H, Dh]``), its logits and its output; ``None`` leaves
  the attention as Keras computes it.

Absolute position ids come from ``tfseqrec.models.layers.position_ids`` with the encoder's ``origin``
(``position_origin``); relative kinds depend on offsets between columns only, which left padding keeps
equal to offsets between items, so no kind makes a row's scores depend on its padding width. Anything computed
from the keys a query may see goes through the attention mask, so a causal encoder stays causal.

Kinds register with :func:`tfseqrec.models.positions.register_position_encoding` and read their typed
config (``self.config``); ``reads_timestamps`` kinds need the ``timestamps`` record feature (the model then
lists it in its ``input_features``).
"""

from __future__ import annotations

from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.positions.config import PositionEncodingConfig, position_encoding_config
from tfseqrec.models.positions.registry import get_position_encoding_class


class AttentionPositions:
    """What one forward pass's positions change inside every attention layer; the defaults change nothing.

    Shapes: ``query [B, T, H, Dh]``, ``key`` / ``value [B, S, H, Dh]`` (projected, per head), logits and
    probabilities ``[B, H, T, S]``.
    """

    def project(self, query: tf.Tensor, key: tf.Tensor, value: tf.Tensor) -> tuple:
        """``(query, key, value)`` after the positions (rotations, additive key / value embeddings)."""
        return query, key, value

    def logit_bias(self, query: tf.Tensor) -> Optional[tf.Tensor]:
        """Added to the logits (``query`` already scaled by ``1 / sqrt(Dh)``): ``[B | 1, H | 1, T, S]`` or None."""
        return None

    def value_terms(self, probabilities: tf.Tensor) -> Optional[tf.Tensor]:
        """Added to the attention output ``[B, T, H, Dh]`` from the (dropped-out) probabilities, or None."""
        return None


class LogitBias(AttentionPositions):
    """A fixed or learned additive bias ``[1, H, T, S]`` on the logits (``relative``, ``alibi``)."""

    def __init__(self, bias: tf.Tensor):
        self.bias = bias

    def logit_bias(self, query):
        return tf.cast(self.bias, query.dtype)


class PositionEncoding(tf.keras.layers.Layer):
    """Base class of the registered kinds (see the module docstring); on its own it encodes no position.

    Args:
      config: the kind's :class:`PositionEncodingConfig` (or a mapping / name, see ``position_encoding_config``).
      max_len: longest input ``L``; dim: model width ``D``; num_heads: ``H`` (``Dh = D / H``).
      origin: where absolute positions count from (``"first"`` / ``"last"``, see ``position_ids``).
      causal: whether the encoder's attention is causal (only past keys), for kinds whose buckets depend on it.
      dropout: the encoder's dropout rate, for kinds with embeddings of their own.
    """

    kind = "base"  # set by register_position_encoding
    config_class = PositionEncodingConfig
    reads_timestamps = False
    # True for kinds that add to the attention logits or output: they need an attention kind that forms the
    # [T, S] logits (full softmax; tfseqrec.models.attention).
    acts_on_attention_scores = False

    def __init__(
        self,
        config,
        max_len: int,
        dim: int,
        num_heads: int,
        origin: str = "first",
        causal: bool = True,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = position_encoding_config(config)
        if self.config.name != self.kind:
            raise ValueError(f"{type(self).__name__} encodes {self.kind!r}, not position_encoding {self.config.name!r}")
        if dim % num_heads:
            raise ValueError(f"embedding_dim {dim} is not divisible by num_heads {num_heads}")
        self.max_len, self.dim, self.num_heads = int(max_len), int(dim), int(num_heads)
        self.origin, self.causal, self.dropout_rate = origin, bool(causal), float(dropout)

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    def call(self, x, padding_mask=None, timestamps=None, training=False):
        """``x [B, L, D]`` with absolute positions added (unchanged here)."""
        return x

    @property
    def extends_by_one(self) -> bool:
        """Whether :meth:`next_position` can encode one more item without the others (streaming with a key-value
        cache); False for positions counted from the newest item and for relative or time-based kinds."""
        return False

    def next_position(self, x: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
        """``x [B, D]`` of an item appended after ``count [B]`` items, with its position added (kinds that
        ``extends_by_one``)."""
        raise NotImplementedError(f"position encoding {type(self).__name__} cannot encode one more item alone")

    def attention_positions(
        self, padding_mask: tf.Tensor, attention_mask: tf.Tensor, timestamps=None, training: bool = False
    ) -> Optional[AttentionPositions]:
        """What every block's attention applies (None: nothing), from ``padding_mask [B, L]``,
        ``attention_mask [B, L, L]`` and, for ``reads_timestamps`` kinds, ``timestamps [B, L]``."""
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "config": self.config.to_dict(),
            "max_len": self.max_len,
            "dim": self.dim,
            "num_heads": self.num_heads,
            "origin": self.origin,
            "causal": self.causal,
            "dropout": self.dropout_rate,
        }


def require_input_positions(encoding: PositionEncoding, model: str, reason: str) -> None:
    """Refuse a kind that acts inside the attention (rotary, relative, ALiBi, time intervals) for ``model``, whose
    attention does not take it (``reason`` says why and what to use instead)."""
    if type(encoding).attention_positions is not PositionEncoding.attention_positions:
        raise ValueError(
            f"{model}: position_encoding {encoding.config.name!r} acts inside a softmax attention; {reason}: "
            f"use learnable, sinusoidal or none"
        )


def build_position_encoding(config, max_len: int, dim: int, num_heads: int, **kwargs) -> PositionEncoding:
    """The registered layer of ``config.name`` (``config``: a config, a mapping or a name)."""
    config = position_encoding_config(config)
    return get_position_encoding_class(config.name)(config, max_len, dim, num_heads, **kwargs)
