"""Models whose position encoding may read timestamps: the ``timestamps`` record feature through scoring.

:class:`TimestampInputs` is a mixin for a ``SequentialRecommender`` that keeps its encoding in
``self.position_embedding`` and whose ``query`` takes ``timestamps=``: it lists ``timestamps`` in the model's
``input_features`` when the encoding reads them (so the trainer, the evaluator and exports pass them, see
``tfseqrec.models.base``) and hands them from ``call`` / ``score_all`` to ``query``. Timestamps are
``[B, L]`` like ``item_ids`` (int ms in the records; any unit works for the built-in kinds).
"""

from __future__ import annotations

from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.ids import OOV_ID

TIMESTAMPS = "timestamps"


def columns(inputs, name: str, keep: int) -> Optional[tf.Tensor]:
    """The last ``keep`` columns of the feature ``name`` of a batch dict, or None when it has none."""
    if not isinstance(inputs, dict) or inputs.get(name) is None:
        return None
    return tf.convert_to_tensor(inputs[name])[:, -keep:]


class TimestampInputs:
    """Mixin: ``input_features``, ``call``, ``score_all`` and ``build_for_inputs`` with timestamps (module doc)."""

    @property
    def input_features(self) -> tuple:
        """``("item_ids", "timestamps")`` when the position encoding reads timestamps, else ``("item_ids",)``."""
        return ("item_ids", TIMESTAMPS) if self.position_embedding.reads_timestamps else ("item_ids",)

    def score_all(self, item_ids, training: bool = False, timestamps=None) -> tf.Tensor:
        """Scores ``[B, num_items]`` after each history (``timestamps [B, L]`` aligned with ``item_ids``)."""
        return self.scores_for(self.query(item_ids, training=training, timestamps=timestamps))

    def call(self, inputs, training: bool = False) -> tf.Tensor:
        """Scores ``[B, num_items]`` for ``item_ids [B, L]``, or a dict holding ``input_features``."""
        if isinstance(inputs, dict):
            return self.score_all(inputs["item_ids"], training=training, timestamps=inputs.get(TIMESTAMPS))
        return self.score_all(inputs, training=training)

    def build_for_inputs(self, batch_size: int = 1):
        """Creates the weights with one dummy batch, with zero timestamps when the encoding reads them."""
        if TIMESTAMPS not in self.input_features:
            return super().build_for_inputs(batch_size)
        dummy = tf.fill([batch_size, self.config.max_len + 1], tf.constant(OOV_ID + 1, tf.int64))
        times = tf.zeros_like(dummy)
        self.compute_loss({"item_ids": dummy, TIMESTAMPS: times}, training=False)
        self.score_all(dummy[:, 1:], timestamps=times[:, 1:])
        return self
