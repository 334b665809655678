"""``relative``: a learned bias per head on the attention logits, by bucketed relative distance (T5).

Raffel et al. (JMLR 2020) add ``bias[bucket(j - i), h]`` to the logit of query ``i``, key ``j`` in head ``h``.
Buckets: the first half of a direction's buckets hold the distances ``0, 1, ...`` one each; the others cover
``[exact, max_distance)`` with log-spaced widths, and every longer distance shares the last bucket. A causal
encoder only sees keys at or before the query, so all ``num_buckets`` go to that direction; a bidirectional
one gives half to each (later keys after the earlier ones). The table ``[num_buckets, H]`` is shared by every
block (as in T5) and starts ~ truncated N(0, 0.02).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.positions.base import LogitBias, PositionEncoding
from tfseqrec.models.positions.config import PositionEncodingConfig, check_int
from tfseqrec.models.positions.registry import register_position_encoding


@dataclasses.dataclass(frozen=True)
class RelativeBiasConfig(PositionEncodingConfig):
    """``num_buckets`` (>= 4) distance buckets, log-spaced up to ``max_distance`` (> ``num_buckets // 2``)."""

    name: str = "relative"
    num_buckets: int = 32
    max_distance: int = 128

    def __post_init__(self):
        super().__post_init__()
        check_int(self.name, "num_buckets", self.num_buckets, 4)
        check_int(self.name, "max_distance", self.max_distance, self.num_buckets // 2 + 1)


def relative_buckets(offsets: np.ndarray, causal: bool, num_buckets: int, max_distance: int) -> np.ndarray:
    """int32 bucket ids of ``offsets = key - query`` (any shape; see the module docstring).

    Causal: the distance ``max(query - key, 0)`` over all ``num_buckets``. Bidirectional: ``num_buckets // 2``
    buckets per direction, keys after the query in the upper half.
    """
    offsets = np.asarray(offsets, np.int64)
    if causal:
        per_direction, upper = num_buckets, np.zeros_like(offsets)
        distance = np.maximum(-offsets, 0)
    else:
        per_direction = num_buckets // 2
        upper = np.where(offsets > 0, per_direction, 0)
        distance = np.abs(offsets)
    exact = per_direction // 2
    spread = np.log(np.maximum(distance, 1) / exact) / math.log(max_distance / exact) * (per_direction - exact)
    far = np.minimum(exact + np.floor(spread).astype(np.int64), per_direction - 1)
    return (upper + np.where(distance < exact, distance, far)).astype(np.int32)


@register_position_encoding("relative", RelativeBiasConfig)
class RelativeBias(PositionEncoding):
    """``bias[bucket(j - i), h]`` added to every block's logits; inputs unchanged."""

    acts_on_attention_scores = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # bucket of every offset -(max_len - 1) .. max_len - 1, looked up by offset + max_len - 1
        offsets = np.arange(-(self.max_len - 1), self.max_len)
        self.offset_buckets = tf.constant(
            relative_buckets(offsets, self.causal, self.config.num_buckets, self.config.max_distance)
        )

    def build(self, input_shape):
        self.bias = self.add_weight(
            name="bias",
            shape=(self.config.num_buckets, self.num_heads),
            initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02),
        )
        super().build(input_shape)

    def attention_positions(self, padding_mask, attention_mask, timestamps=None, training=False):
        columns = tf.range(tf.shape(padding_mask)[1])
        offsets = columns[tf.newaxis, :] - columns[:, tf.newaxis]  # [T, S]: key - query
        buckets = tf.gather(self.offset_buckets, offsets + self.max_len - 1)
        bias = tf.gather(tf.convert_to_tensor(self.bias), buckets)  # [T, S, H]
        return LogitBias(tf.transpose(bias, [2, 0, 1])[tf.newaxis])  # [1, H, T, S]
