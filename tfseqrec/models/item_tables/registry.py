"""Item table registry: a kind of item table is one Keras layer class decorated with
``@register_item_table(name, ConfigClass)`` (``tfseqrec.kinds``); built-ins are this package's modules, plugins and
the entry point group ``tfseqrec.item_tables`` add more."""

from __future__ import annotations

from tfseqrec.kinds import Kinds


def _bases() -> tuple:
    import tfseqrec  # noqa: F401  (Keras 2)
    import tensorflow as tf

    from tfseqrec.models.item_tables.config import ItemTableConfig

    return tf.keras.layers.Layer, ItemTableConfig


ITEM_TABLES = Kinds(
    "item table",
    "item_table.name",
    "tfseqrec.models.item_tables",
    "tfseqrec.item_tables",
    _bases,
    "@tfseqrec.models.item_tables.register_item_table({name}, ConfigClass)",
)
register_item_table = ITEM_TABLES.register
available_item_tables = ITEM_TABLES.available
get_item_table_class = ITEM_TABLES.get
