"""``learnable``: a trained absolute position table added to the input embeddings (SASRec, BERT4Rec; default).

``x + P[position_ids]`` with ``P [max_len, D]`` ~ truncated N(0, 0.02), like the item table. The table is the
layer's ``embeddings`` weight, as a Keras ``Embedding`` holds it, so checkpoints keep the same object paths.
"""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.layers import position_ids
from tfseqrec.models.positions.base import PositionEncoding
from tfseqrec.models.positions.config import PositionEncodingConfig
from tfseqrec.models.positions.registry import register_position_encoding


@register_position_encoding("learnable", PositionEncodingConfig)
class LearnablePositions(PositionEncoding):
    """``x [B, L, D] + P[ids]``, ``P`` the trained ``[max_len, D]`` table."""

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.max_len, self.dim),
            initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02),
            experimental_autocast=False,  # read in float32 and cast after the lookup
        )
        super().build(input_shape)

    def call(self, x, padding_mask=None, timestamps=None, training=False):
        ids = position_ids(padding_mask, self.max_len, self.origin)
        return x + tf.cast(tf.nn.embedding_lookup(self.embeddings, ids), x.dtype)

    @property
    def extends_by_one(self) -> bool:
        return self.origin == "first"  # counted from the newest item, every position moves with a new one

    def next_position(self, x, count):
        """``x + P[count]``."""
        return x + tf.cast(tf.gather(self.embeddings, tf.cast(count, tf.int32)), x.dtype)
