"""``sinusoidal``: the fixed sine / cosine table of Vaswani et al. (2017) added to the input embeddings.

``P[p, 2i] = sin(p / base ** (2i / D))``, ``P[p, 2i + 1] = cos(p / base ** (2i / D))`` for ``p < max_len``:
every dimension pair turns at its own frequency, so ``P[p + k]`` is a fixed rotation of ``P[p]``. No weights;
``x + scale * P[position_ids]``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.layers import position_ids
from tfseqrec.models.positions.base import PositionEncoding
from tfseqrec.models.positions.config import PositionEncodingConfig, check_positive
from tfseqrec.models.positions.registry import register_position_encoding


@dataclasses.dataclass(frozen=True)
class SinusoidalConfig(PositionEncodingConfig):
    """``base``: the wavelength scale (10000 in the paper); ``scale``: multiplies the table (1 in the paper)."""

    name: str = "sinusoidal"
    base: float = 10000.0
    scale: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.name, "base", self.base)
        check_positive(self.name, "scale", self.scale)


def sinusoid_table(max_len: int, dim: int, base: float = 10000.0) -> np.ndarray:
    """``[max_len, dim]`` float32: ``sin`` in the even columns, ``cos`` in the odd ones (see the module doc)."""
    pairs = (dim + 1) // 2
    inverse_frequencies = base ** (-2.0 * np.arange(pairs) / dim)  # [pairs]
    angles = np.arange(max_len)[:, np.newaxis] * inverse_frequencies[np.newaxis]  # [max_len, pairs]
    table = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(max_len, 2 * pairs)
    return table[:, :dim].astype(np.float32)


@register_position_encoding("sinusoidal", SinusoidalConfig)
class SinusoidalPositions(PositionEncoding):
    """``x [B, L, D] + scale * P[ids]``, ``P`` from :func:`sinusoid_table`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.table = tf.constant(self.config.scale * sinusoid_table(self.max_len, self.dim, self.config.base))

    def call(self, x, padding_mask=None, timestamps=None, training=False):
        ids = position_ids(padding_mask, self.max_len, self.origin)
        return x + tf.cast(tf.gather(self.table, ids), x.dtype)
