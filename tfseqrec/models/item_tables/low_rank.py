"""``low_rank``: the table as a product of two factors, ``E = F P`` with ``F [rows, r]`` and ``P [r, D]``.

``rows x r + r x D`` parameters instead of ``rows x D``: a table ``D / r`` times smaller for large catalogues
(ALBERT's factorised embedding). ``embeddings_initializer`` initialises ``F``; ``P`` starts ``~N(0, 1 / r)`` so that
the product keeps ``F``'s scale (each entry of ``E`` sums ``r`` terms).
"""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401  (Keras 2)
import tensorflow as tf

from tfseqrec.models.item_tables.base import default_initializer
from tfseqrec.models.item_tables.config import ItemTableConfig, check_int
from tfseqrec.models.item_tables.registry import register_item_table


@dataclasses.dataclass(frozen=True)
class LowRankConfig(ItemTableConfig):
    """``rank``: the inner size ``r`` (< D to save anything)."""

    name: str = "low_rank"
    rank: int = 16

    def __post_init__(self):
        super().__post_init__()
        check_int(self.name, "rank", self.rank, 1)


@register_item_table("low_rank", LowRankConfig)
class LowRankItemTable(tf.keras.layers.Layer):
    """``ids [...] -> F[ids] P [..., D]``; ``embeddings``: ``F P [rows, D]``."""

    def __init__(self, config: LowRankConfig, rows: int, dim: int, name: str = "item_embedding", **kwargs):
        super().__init__(name=name, **kwargs)
        if config.rank >= dim:
            raise ValueError(
                f"item_table.rank={config.rank} must be below embedding_dim={dim}, or the factors are no smaller "
                f"than the full table (use item_table: full)"
            )
        self.config, self.rows, self.dim = config, rows, dim
        self.embeddings_initializer = default_initializer()

    def build(self, input_shape=None):
        self.row_factors = self.add_weight(
            "row_factors", shape=[self.rows, self.config.rank], initializer=self.embeddings_initializer
        )
        stddev = 1.0 / self.config.rank**0.5
        self.projection = self.add_weight(
            "projection",
            shape=[self.config.rank, self.dim],
            initializer=tf.keras.initializers.TruncatedNormal(stddev=stddev),
        )
        super().build(input_shape)

    def call(self, ids):
        rows = tf.gather(self.row_factors, tf.cast(ids, tf.int64))  # [..., r]
        return tf.cast(tf.tensordot(rows, self.projection, axes=1), self.compute_dtype)

    @property
    def embeddings(self) -> tf.Tensor:
        if not self.built:
            self.build()
        return tf.matmul(self.row_factors, self.projection)  # [rows, D]
