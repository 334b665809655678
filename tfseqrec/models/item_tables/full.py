"""``full``: one free row per id, ``[rows, D]`` (a Keras ``Embedding``; the default)."""

from __future__ import annotations

import tfseqrec  # noqa: F401  (Keras 2)
import tensorflow as tf

from tfseqrec.models.item_tables.base import default_initializer
from tfseqrec.models.item_tables.config import ItemTableConfig
from tfseqrec.models.item_tables.registry import register_item_table


@register_item_table("full", ItemTableConfig)
class FullItemTable(tf.keras.layers.Embedding):
    """``Embedding(rows, D)``: ``rows x D`` parameters; ``embeddings_initializer`` initialises every row."""

    def __init__(self, config: ItemTableConfig, rows: int, dim: int, name: str = "item_embedding", **kwargs):
        super().__init__(rows, dim, name=name, embeddings_initializer=default_initializer(), **kwargs)
        self.config = config
