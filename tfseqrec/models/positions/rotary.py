"""``rotary`` (RoPE, Su et al. 2021, "RoFormer"): queries and keys rotated per head by their position's angles.

Each head's ``Dh`` dimensions form ``Dh / 2`` pairs ``(x[i], x[i + Dh / 2])``; pair ``i`` of the vector at
position ``p`` turns by ``p * theta_i``, ``theta_i = base ** (-2i / Dh)``. A rotation preserves lengths, and
``rot(q, p) . rot(k, p')`` depends on ``p' - p`` only, so attention logits see relative offsets while nothing is
added to the inputs. (Pairing the two halves instead of neighbouring dimensions, as GPT-NeoX does, is the same
model up to a fixed permutation of the learned projections.) Angles are computed in float32 and cast to the
compute dtype. No weights.
"""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.layers import position_ids
from tfseqrec.models.positions.base import AttentionPositions, PositionEncoding
from tfseqrec.models.positions.config import PositionEncodingConfig, check_positive
from tfseqrec.models.positions.registry import register_position_encoding


@dataclasses.dataclass(frozen=True)
class RotaryConfig(PositionEncodingConfig):
    """``base``: wavelength scale of the angles (10000 in the paper)."""

    name: str = "rotary"
    base: float = 10000.0

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.name, "base", self.base)


def rotation_angles(positions: tf.Tensor, head_dim: int, base: float = 10000.0) -> tf.Tensor:
    """float32 ``[..., Dh / 2]``: ``positions [...] * base ** (-2i / Dh)`` for ``i < Dh / 2``."""
    inverse_frequencies = base ** (-2.0 * tf.range(head_dim // 2, dtype=tf.float32) / head_dim)
    return tf.cast(positions, tf.float32)[..., tf.newaxis] * inverse_frequencies


def rotate(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor) -> tf.Tensor:
    """``x [..., Dh]`` with each pair ``(x[i], x[i + Dh / 2])`` turned by the angle whose cos / sin are given
    (``[..., Dh / 2]``, broadcast against ``x``'s leading axes)."""
    first, second = tf.split(x, 2, axis=-1)
    return tf.concat([first * cos - second * sin, first * sin + second * cos], axis=-1)


class RotaryAttention(AttentionPositions):
    """Rotates queries and keys by their columns' angles (``cos`` / ``sin`` ``[B | 1, L, 1, Dh / 2]``)."""

    def __init__(self, cos: tf.Tensor, sin: tf.Tensor):
        self.cos, self.sin = cos, sin

    def project(self, query, key, value):
        cos, sin = tf.cast(self.cos, query.dtype), tf.cast(self.sin, query.dtype)
        return rotate(query, cos, sin), rotate(key, cos, sin), value


@register_position_encoding("rotary", RotaryConfig)
class RotaryPositions(PositionEncoding):
    """Rotary queries and keys in every block; inputs unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.head_dim % 2:
            raise ValueError(
                f"position_encoding 'rotary' rotates pairs of dimensions: the per-head size "
                f"embedding_dim / num_heads = {self.dim} / {self.num_heads} = {self.head_dim} must be even"
            )

    def attention_positions(self, padding_mask, attention_mask, timestamps=None, training=False):
        angles = rotation_angles(position_ids(padding_mask, self.max_len, self.origin), self.head_dim, self.config.base)
        angles = angles[:, :, tf.newaxis, :]  # [B | 1, L, 1, Dh / 2]: the same angle for every head
        return RotaryAttention(tf.cos(angles), tf.sin(angles))
