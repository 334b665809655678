"""``time_to_next``: how long until the next event, as ``log1p(seconds)`` (regression)."""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.heads.base import Head, HeadConfig
from tfseqrec.models.heads.registry import register_head
from tfseqrec.models.inputs import MILLISECONDS_PER_SECOND, TIMESTAMPS


@register_head("time_to_next", HeadConfig)
class TimeToNext(Head):
    """A linear prediction of ``log1p(gap seconds)`` to the next event, Huber loss; scored by absolute error (lower
    is better) against the median of the labels (the best constant for absolute error)."""

    record_features = (TIMESTAMPS,)
    metric_name = "mae_log1p_seconds"
    higher_is_better = False

    def __init__(self, config, dim, num_items, side_inputs=None, **kwargs):
        super().__init__(config, dim, num_items, side_inputs, **kwargs)
        self.dense = tf.keras.layers.Dense(1, name="log_gap")
        self.huber = tf.keras.losses.Huber(reduction=tf.keras.losses.Reduction.NONE)

    def labels(self, next_events, current):
        gap = tf.cast(next_events[TIMESTAMPS] - current[TIMESTAMPS], tf.float32) / MILLISECONDS_PER_SECOND
        return tf.math.log1p(tf.maximum(gap, 0.0))

    def predict(self, states):
        return tf.cast(self.dense(states)[..., 0], tf.float32)

    def loss(self, prediction, labels):
        return self.huber(labels[..., tf.newaxis], prediction[..., tf.newaxis])

    def score(self, prediction, labels):
        return tf.abs(prediction - labels)

    def constant_score(self, labels):
        flat = tf.sort(tf.reshape(labels, [-1]))
        median = flat[tf.shape(flat)[0] // 2]
        return tf.abs(labels - median)
