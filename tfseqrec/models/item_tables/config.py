"""``ItemTableConfig``: how the item embedding table ``[rows, D]`` is stored (``model_config.item_table``).

``name`` selects a registered kind (``tfseqrec.models.item_tables.registry``); a kind with fields of its own
registers a frozen dataclass subclass, so a config stays one flat mapping::

    model_config:
      item_table: {name: low_rank, rank: 16}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from tfseqrec.models.item_tables.registry import ITEM_TABLES

DEFAULT_NAME = "full"


@dataclasses.dataclass(frozen=True)
class ItemTableConfig:
    """``name``: a registered kind (``available_item_tables()``); one free row per item (``full``) by default."""

    name: str = DEFAULT_NAME

    def __post_init__(self):
        kind = ITEM_TABLES.get(self.name)
        if type(self) is not kind.config_class:
            raise ValueError(
                f"item table {self.name!r} is configured by {kind.config_class.__name__}, not "
                f"{type(self).__name__}: build it with item_table_config({{'name': {self.name!r}, ...}})"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ItemTableConfig":
        """The config of ``values["name"]`` (default ``full``), whichever class it is called on."""
        return ITEM_TABLES.config(values, DEFAULT_NAME)


def item_table_config(value: Any) -> ItemTableConfig:
    """A config from a config object, a mapping (``{name: low_rank, rank: 16}``) or a bare name."""
    return ITEM_TABLES.config(value, DEFAULT_NAME)


def check_int(name: str, key: str, value: Any, low: int) -> None:
    """``ValueError`` naming ``item_table.<key>`` unless ``value`` is an int >= ``low`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"item_table.{key}={value!r} ({name}) must be an int >= {low}")
