"""``quotient_remainder``: compositional embeddings (Shi et al., KDD 2020): id ``i`` is the element-wise product
(or sum) of row ``i // m`` of a quotient table ``[ceil(rows / m), D]`` and row ``i % m`` of a remainder table
``[m, D]``.

``(ceil(rows / m) + m) x D`` parameters; ``m = ceil(sqrt(rows))`` (the default) gives about ``2 sqrt(rows)`` rows,
and every pair of ids still gets a distinct vector (no two ids share both rows). ``embeddings_initializer``
initialises the quotient table; with ``combine: multiply`` the remainder table starts ``~N(1, 0.1)`` (each item
starts near its quotient row, scaled), with ``sum`` it starts like the quotient table.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import tfseqrec  # noqa: F401  (Keras 2)
import tensorflow as tf

from tfseqrec.models.item_tables.base import default_initializer
from tfseqrec.models.item_tables.config import ItemTableConfig, check_int
from tfseqrec.models.item_tables.registry import register_item_table

COMBINES = ("multiply", "sum")


@dataclasses.dataclass(frozen=True)
class QuotientRemainderConfig(ItemTableConfig):
    """``buckets``: the remainder table's rows ``m`` (None: ``ceil(sqrt(rows))``); ``combine``: ``multiply`` (the
    paper's choice) or ``sum``."""

    name: str = "quotient_remainder"
    buckets: Optional[int] = None
    combine: str = "multiply"

    def __post_init__(self):
        super().__post_init__()
        if self.buckets is not None:
            check_int(self.name, "buckets", self.buckets, 2)
        if self.combine not in COMBINES:
            raise ValueError(f"item_table.combine={self.combine!r}: use one of {', '.join(COMBINES)}")


@register_item_table("quotient_remainder", QuotientRemainderConfig)
class QuotientRemainderItemTable(tf.keras.layers.Layer):
    """``ids [...] -> Q[ids // m] (*|+) R[ids % m] [..., D]``; ``embeddings``: every id's vector ``[rows, D]``."""

    def __init__(self, config: QuotientRemainderConfig, rows: int, dim: int, name: str = "item_embedding", **kwargs):
        super().__init__(name=name, **kwargs)
        self.config, self.rows, self.dim = config, rows, dim
        self.buckets = config.buckets or max(2, math.ceil(math.sqrt(rows)))
        self.quotients = math.ceil(rows / self.buckets)
        self.embeddings_initializer = default_initializer()

    def build(self, input_shape=None):
        self.quotient_table = self.add_weight(
            "quotient_table", shape=[self.quotients, self.dim], initializer=self.embeddings_initializer
        )
        remainder_init = (
            tf.keras.initializers.TruncatedNormal(mean=1.0, stddev=0.1)
            if self.config.combine == "multiply"
            else type(self.embeddings_initializer).from_config(self.embeddings_initializer.get_config())
        )
        self.remainder_table = self.add_weight(
            "remainder_table", shape=[self.buckets, self.dim], initializer=remainder_init
        )
        super().build(input_shape)

    def _compose(self, ids: tf.Tensor) -> tf.Tensor:
        ids = tf.cast(ids, tf.int64)
        quotient = tf.gather(self.quotient_table, ids // self.buckets)
        remainder = tf.gather(self.remainder_table, ids % self.buckets)
        return quotient * remainder if self.config.combine == "multiply" else quotient + remainder

    def call(self, ids):
        return tf.cast(self._compose(ids), self.compute_dtype)

    @property
    def embeddings(self) -> tf.Tensor:
        if not self.built:
            self.build()
        return self._compose(tf.range(self.rows, dtype=tf.int64))  # [rows, D]
