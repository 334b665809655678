"""What every item table provides to the model, and how the model builds one.

An item table is a Keras layer built as ``cls(config, rows, dim, name=...)`` with

* ``call(ids [...]) -> [..., D]``: the rows of ``ids`` in the layer's compute dtype (the input embedding);
* ``embeddings -> [rows, D]``: the whole table (the tied output layer scores every item against it), a variable
  for ``full`` and a tensor computed from the stored parameters otherwise;
* ``embeddings_initializer``: settable before the layer is built (GRU4Rec and SR-GNN set their own); each kind
  says which of its parameters it initialises.

The stored parameters are what the model's weights count and what a checkpoint holds, so a compressed
kind shrinks both; the output layer still scores every item against the materialised ``[rows, D]``.
"""

from __future__ import annotations

import tfseqrec  # noqa: F401  (Keras 2)
import tensorflow as tf

from tfseqrec.models.item_tables.config import ItemTableConfig, item_table_config
from tfseqrec.models.item_tables.registry import get_item_table_class

DEFAULT_STDDEV = 0.02  # the tables' default initialiser: TruncatedNormal(0.02), as BERT / SASRec


def default_initializer() -> tf.keras.initializers.Initializer:
    return tf.keras.initializers.TruncatedNormal(stddev=DEFAULT_STDDEV)


def build_item_table(config, rows: int, dim: int, name: str = "item_embedding") -> tf.keras.layers.Layer:
    """The item table of ``config`` (an ``ItemTableConfig``, its mapping or a bare name) over ``rows`` ids."""
    config = item_table_config(config)
    return get_item_table_class(config.name)(config, int(rows), int(dim), name=name)


__all__ = ["ItemTableConfig", "build_item_table", "default_initializer"]
