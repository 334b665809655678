"""``alibi`` (Press et al., ICLR 2022, "Train Short, Test Long"): fixed linear distance penalties per head.

The logit of query ``i``, key ``j`` in head ``h`` gets ``-m_h * |i - j|``. The slopes are a geometric sequence:
for ``H`` a power of two, ``m_h = 2 ** (-8 (h + 1) / H)`` (``1/2, 1/4, ..., 1/256`` for 8 heads); otherwise the
``n`` slopes of the largest power of two ``n < H``, then every other slope of ``2n`` heads (the paper's recipe).
No weights; the bias is symmetric, so bidirectional encoders use it as it is.
"""

from __future__ import annotations

import numpy as np
import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.positions.base import LogitBias, PositionEncoding
from tfseqrec.models.positions.config import PositionEncodingConfig
from tfseqrec.models.positions.registry import register_position_encoding


def alibi_slopes(num_heads: int) -> np.ndarray:
    """float32 ``[num_heads]`` slopes (see the module docstring)."""

    def geometric(n: int) -> list:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    power = 2 ** int(np.floor(np.log2(num_heads)))
    slopes = geometric(power)
    if power < num_heads:
        slopes += geometric(2 * power)[0::2][: num_heads - power]
    return np.asarray(slopes, np.float32)


@register_position_encoding("alibi", PositionEncodingConfig)
class ALiBi(PositionEncoding):
    """``-m_h |i - j|`` added to every block's logits; inputs unchanged."""

    acts_on_attention_scores = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slopes = tf.constant(alibi_slopes(self.num_heads))

    def attention_positions(self, padding_mask, attention_mask, timestamps=None, training=False):
        columns = tf.range(tf.shape(padding_mask)[1])
        distance = tf.cast(tf.abs(columns[tf.newaxis, :] - columns[:, tf.newaxis]), tf.float32)  # [T, S]
        return LogitBias(-self.slopes[tf.newaxis, :, tf.newaxis, tf.newaxis] * distance)  # [1, H, T, S]
