"""How the item embedding table is stored (``model_config.item_table``): ``full`` (one row per id, the default),
``low_rank`` (two factors) or ``quotient_remainder`` (compositional). A new kind is one module with a
``@register_item_table`` layer (the contract is in ``base``)."""

from tfseqrec.models.item_tables.base import build_item_table
from tfseqrec.models.item_tables.config import ItemTableConfig, item_table_config
from tfseqrec.models.item_tables.registry import available_item_tables, get_item_table_class, register_item_table

__all__ = [
    "ItemTableConfig",
    "available_item_tables",
    "build_item_table",
    "get_item_table_class",
    "item_table_config",
    "register_item_table",
]
