"""``time_interval`` (TiSASRec, Li, Wang & McAuley, WSDM 2020): personal time intervals inside the attention.

Query ``i`` and key ``j`` of a user's history are ``r_ij = min(floor(|t_i - t_j| / s), k)`` apart, ``k`` =
``max_interval`` and ``s`` the user's minimal non-zero interval (the paper's personalised scale; 1 when all
times are equal; any time unit). Every block's attention then reads, per head,

    e_ij = q_i . (k_j + R_K[r_ij] + P_K[j]) / sqrt(Dh),    z_i = sum_j a_ij (v_j + R_V[r_ij] + P_V[j])

with interval tables ``R_K``, ``R_V`` ``[k + 1, D]`` and, with ``absolute_positions`` (the paper's model),
absolute position tables ``P_K``, ``P_V`` ``[max_len, D]`` on keys and values instead of on the inputs. The four
tables are shared by the blocks (as in the authors' code), start ~ truncated N(0, 0.02) and get the encoder's
dropout.

Causality: the scale of query ``i`` is the minimal interval among the keys ``i`` may attend (a prefix in a
causal encoder, the whole history in a bidirectional one), so no state reads a later timestamp. Padding keys
are masked and take no part in the scale. The intervals are computed on int64 times, so millisecond
timestamps keep their precision. ``R_K`` enters through ``q_i . R_K[r]`` for the ``k + 1`` values of ``r``
(gathered per key), ``R_V`` through the attention mass of each interval bucket (a segment sum), which avoids
``[B, L, L, D]`` tensors.
"""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.layers import position_ids
from tfseqrec.models.positions.base import AttentionPositions, PositionEncoding
from tfseqrec.models.positions.config import PositionEncodingConfig, check_int
from tfseqrec.models.positions.registry import register_position_encoding

_NO_INTERVAL = tf.int64.max


@dataclasses.dataclass(frozen=True)
class TimeIntervalConfig(PositionEncodingConfig):
    """``max_interval``: ``k``, the largest interval told apart (256 in the paper's ML-1M setting);
    ``absolute_positions``: also the position tables on keys and values (the paper's model)."""

    name: str = "time_interval"
    max_interval: int = 256
    absolute_positions: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_int(self.name, "max_interval", self.max_interval, 1)
        if not isinstance(self.absolute_positions, bool):
            raise ValueError(f"position_encoding.absolute_positions={self.absolute_positions!r} must be true or false")


def interval_matrix(timestamps: tf.Tensor, attention_mask: tf.Tensor, max_interval: int) -> tf.Tensor:
    """int32 ``[B, T, S]``: ``min(floor(|t_i - t_j| / s_i), max_interval)``, ``s_i`` the smallest non-zero
    interval between neighbouring columns that query ``i`` may both attend (``attention_mask [B, T, S]``,
    ``T = S``), 1 when there is none. ``timestamps [B, S]`` int (any unit)."""
    times = tf.cast(timestamps, tf.int64)
    gaps = tf.abs(times[:, 1:] - times[:, :-1])  # [B, S - 1]
    both_seen = tf.logical_and(attention_mask[:, :, 1:], attention_mask[:, :, :-1])  # [B, T, S - 1]
    usable = tf.logical_and(both_seen, (gaps > 0)[:, tf.newaxis, :])
    scale = tf.reduce_min(tf.where(usable, gaps[:, tf.newaxis, :], _NO_INTERVAL), axis=-1)  # [B, T]
    scale = tf.where(tf.equal(scale, _NO_INTERVAL), tf.ones_like(scale), scale)
    spans = tf.abs(times[:, :, tf.newaxis] - times[:, tf.newaxis, :])  # [B, T, S]
    return tf.cast(tf.minimum(spans // scale[:, :, tf.newaxis], max_interval), tf.int32)


def bucket_sums(probabilities: tf.Tensor, buckets: tf.Tensor, num_buckets: int) -> tf.Tensor:
    """``[B, H, T, num_buckets]``: for each query, the probability mass ``[B, H, T, S]`` of the keys in each
    bucket (``buckets [B, T, S]`` int in ``[0, num_buckets)``)."""
    shape = tf.shape(probabilities)
    batch, heads, queries = shape[0], shape[1], shape[2]
    rows = tf.range(batch * heads * queries)  # one row per (b, h, t)
    rows = tf.reshape(rows, [batch, heads, queries, 1])
    segments = rows * num_buckets + tf.broadcast_to(buckets[:, tf.newaxis], shape)
    sums = tf.math.unsorted_segment_sum(
        tf.reshape(probabilities, [-1]), tf.reshape(segments, [-1]), batch * heads * queries * num_buckets
    )
    return tf.reshape(sums, [batch, heads, queries, num_buckets])


class TimeIntervalAttention(AttentionPositions):
    """The per-head tables of one forward pass: intervals ``[B, T, S]``; ``R_K``, ``R_V`` ``[k + 1, H, Dh]``;
    optional ``P_K``, ``P_V`` ``[B | 1, S, H, Dh]``."""

    def __init__(self, intervals, interval_keys, interval_values, position_keys=None, position_values=None):
        self.intervals = intervals
        self.interval_keys, self.interval_values = interval_keys, interval_values
        self.position_keys, self.position_values = position_keys, position_values

    def project(self, query, key, value):
        if self.position_keys is None:
            return query, key, value
        return query, key + tf.cast(self.position_keys, key.dtype), value + tf.cast(self.position_values, value.dtype)

    def logit_bias(self, query):
        per_interval = tf.einsum("bthd,rhd->bhtr", query, tf.cast(self.interval_keys, query.dtype))  # [B, H, T, k+1]
        heads = tf.shape(per_interval)[1]
        buckets = tf.tile(self.intervals[:, tf.newaxis], [1, heads, 1, 1])  # [B, H, T, S]
        return tf.gather(per_interval, buckets, batch_dims=3)

    def value_terms(self, probabilities):
        num_buckets = self.interval_values.shape[0]
        mass = bucket_sums(tf.cast(probabilities, tf.float32), self.intervals, num_buckets)  # [B, H, T, k+1]
        mass = tf.cast(mass, probabilities.dtype)
        return tf.einsum("bhtr,rhd->bthd", mass, tf.cast(self.interval_values, probabilities.dtype))


@register_position_encoding("time_interval", TimeIntervalConfig)
class TimeIntervalPositions(PositionEncoding):
    """TiSASRec's time-interval (and absolute position) keys and values; inputs unchanged. Reads timestamps."""

    reads_timestamps = True
    acts_on_attention_scores = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.table_dropout = FastDropout(self.dropout_rate)

    def build(self, input_shape):
        def table(name, rows):
            initializer = tf.keras.initializers.TruncatedNormal(stddev=0.02)
            return self.add_weight(name=name, shape=(rows, self.dim), initializer=initializer)

        self.interval_keys = table("interval_keys", self.config.max_interval + 1)
        self.interval_values = table("interval_values", self.config.max_interval + 1)
        self.position_keys = self.position_values = None
        if self.config.absolute_positions:
            self.position_keys = table("position_keys", self.max_len)
            self.position_values = table("position_values", self.max_len)
        super().build(input_shape)

    def _per_head(self, table, training):
        """``[rows, D]`` -> ``[rows, H, Dh]`` after dropout."""
        table = self.table_dropout(tf.convert_to_tensor(table), training=training)
        return tf.reshape(table, [-1, self.num_heads, self.head_dim])

    def attention_positions(self, padding_mask, attention_mask, timestamps=None, training=False):
        if timestamps is None:
            raise ValueError(
                "position_encoding 'time_interval' reads the timestamps of the history: pass timestamps [B, L] "
                "(the model lists them in its input_features, so the trainer, the evaluator and exports do)"
            )
        intervals = interval_matrix(timestamps, attention_mask, self.config.max_interval)
        keys, values = self._per_head(self.interval_keys, training), self._per_head(self.interval_values, training)
        position_keys = position_values = None
        if self.position_keys is not None:
            ids = position_ids(padding_mask, self.max_len, self.origin)
            position_keys = tf.gather(self._per_head(self.position_keys, training), ids)  # [B | 1, S, H, Dh]
            position_values = tf.gather(self._per_head(self.position_values, training), ids)
        return TimeIntervalAttention(intervals, keys, values, position_keys, position_values)
