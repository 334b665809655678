"""``next_item_feature``: a value of the next item's side feature (its category, genre or brand)."""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.heads.base import ClassificationHead, HeadConfig
from tfseqrec.models.heads.registry import register_head


@dataclasses.dataclass(frozen=True)
class NextItemFeatureConfig(HeadConfig):
    """``feature``: an item side feature of the data (``feature_spec.json``); the label is the next item's first
    value of it (a multi-valued feature: its first listed value)."""

    feature: str = ""

    def __post_init__(self):
        super().__post_init__()
        if not self.feature:
            raise ValueError("head next_item_feature needs feature: the name of an item side feature")


@register_head("next_item_feature", NextItemFeatureConfig)
class NextItemFeature(ClassificationHead):
    """Softmax over the feature's values; the label of an item without a value is OOV (1)."""

    def classes(self, side_inputs) -> int:
        name = self.config.feature
        if side_inputs is None or name not in side_inputs.tables:
            raise ValueError(
                f"head next_item_feature: item feature {name!r} was not given to the model; list it in "
                f"model_config.inputs.item_features too (the tables come from the dataset's spec)"
            )
        self._first_values = tf.constant(side_inputs.tables[name][:, 0])  # [V]
        return side_inputs.vocabulary_sizes[name]

    def labels(self, next_events, current):
        return tf.gather(self._first_values, tf.cast(next_events["item_ids"], tf.int64))
