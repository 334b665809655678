"""The contract of an auxiliary head: a small prediction from the encoder's states, trained beside the next item.

A head predicts a property of the next event at every position (the next behaviour type, the next item's
category, the time to the next event) from the states ``[B, L, D]`` the next-item task also reads. The model's
loss is ``next_item_loss + sum_h weight_h * head_h_loss``; each head's loss is logged as ``<name>_loss``.

A head implements:

* ``labels(next, current) -> [...]``: its target from the next events' record features ``next`` (``item_ids``,
  ``event_types``, ``timestamps``; each ``[B, L]`` or ``[B]``) and the current ones (``timestamps``);
* ``predict(states [..., D]) -> [..., C]``: logits or a value;
* ``loss(prediction, labels) -> [...]``: per-position loss (the model averages it over real positions);
* ``score(prediction, labels) -> [...]`` and ``constant_score(labels) -> [...]``: a per-row metric of the head
  (accuracy, absolute error) and the same metric of the best constant predictor on those labels, which
  ``tfseqrec.evaluation.heads`` reports side by side;
* ``record_features``: the record features it reads (the model adds them to ``input_features``).
"""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """``name``: a registered head; ``weight``: its loss weight beside the next-item loss (> 0)."""

    name: str = ""
    weight: float = 0.1

    def __post_init__(self):
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight > 0:
            raise ValueError(f"heads: {self.name!r} weight={self.weight!r} must be a number > 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Head(tf.keras.layers.Layer):
    """Base class (see the module docstring). ``higher_is_better``: whether ``score`` is a reward (accuracy)."""

    kind: str = ""  # set by register_head
    record_features: tuple = ()
    metric_name = "accuracy"
    higher_is_better = True

    def __init__(self, config: HeadConfig, dim: int, num_items: int, side_inputs=None, **kwargs):
        super().__init__(name=f"{config.name}_head", **kwargs)
        self.config = config

    def labels(self, next_events: dict, current: dict) -> tf.Tensor:
        raise NotImplementedError

    def predict(self, states: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def loss(self, prediction: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def score(self, prediction, labels):
        raise NotImplementedError

    def constant_score(self, labels):
        raise NotImplementedError


class ClassificationHead(Head):
    """A softmax over ``num_classes`` classes; labels are class ids ``[...]`` (0 = no label, ignored)."""

    def __init__(self, config, dim, num_items, side_inputs=None, **kwargs):
        super().__init__(config, dim, num_items, side_inputs, **kwargs)
        self.num_classes = self.classes(side_inputs)
        self.dense = tf.keras.layers.Dense(self.num_classes, name="logits")

    def classes(self, side_inputs) -> int:
        raise NotImplementedError

    def predict(self, states):
        return tf.cast(self.dense(states), tf.float32)

    def loss(self, prediction, labels):
        labels = tf.cast(labels, tf.int64)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=prediction)

    def score(self, prediction, labels):
        """1 where the most likely class is the label."""
        return tf.cast(tf.equal(tf.argmax(prediction, axis=-1), tf.cast(labels, tf.int64)), tf.float32)

    def constant_score(self, labels):
        """1 where the label is the most frequent label of the batch given (the best constant class)."""
        labels = tf.cast(labels, tf.int64)
        counts = tf.math.bincount(tf.cast(labels, tf.int32), minlength=self.num_classes)
        return tf.cast(tf.equal(labels, tf.cast(tf.argmax(counts), tf.int64)), tf.float32)
