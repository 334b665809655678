"""Position-encoding registry: a kind is one layer class decorated with ``@register_position_encoding``.

Each entry maps a name (``model_config.position_encoding.name``) to a
:class:`tfseqrec.models.positions.base.PositionEncoding` subclass; the class names its typed config
(``config_class``, a frozen dataclass subclass of
:class:`tfseqrec.models.positions.config.PositionEncodingConfig`). Built-in kinds are the modules of
``tfseqrec.models.positions`` (imported the first time a name is looked up); a user's kind registers from a
module listed under ``plugins:`` in the training config, or from an entry point of the group
``tfseqrec.position_encodings``, as models and losses do (``tfseqrec.models.registry``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from tfseqrec.plugins import Discovery

ENTRY_POINT_GROUP = "tfseqrec.position_encodings"

_REGISTRY: dict[str, type] = {}
_DISCOVERY = Discovery(
    "position encoding",
    "tfseqrec.models.positions",
    ENTRY_POINT_GROUP,
    lambda: _REGISTRY,
    "@tfseqrec.models.positions.register_position_encoding({name}, ConfigClass)",
)


def register_position_encoding(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: ``@register_position_encoding("rotary", RotaryConfig)``; sets ``kind`` and
    ``config_class`` on the class. A name registered to another class is an error."""
    from tfseqrec.models.positions.base import PositionEncoding
    from tfseqrec.models.positions.config import PositionEncodingConfig

    if not (
        isinstance(config_class, type)
        and issubclass(config_class, PositionEncodingConfig)
        and dataclasses.is_dataclass(config_class)
    ):
        raise TypeError(
            f"register_position_encoding({name!r}, {config_class!r}): the config class must be "
            f"PositionEncodingConfig or a frozen dataclass subclass of it"
        )

    def decorate(encoding_class: type) -> type:
        if not (isinstance(encoding_class, type) and issubclass(encoding_class, PositionEncoding)):
            raise TypeError(
                f"register_position_encoding({name!r}) decorates a PositionEncoding subclass, not {encoding_class!r}"
            )
        if name in _REGISTRY and _REGISTRY[name] is not encoding_class:
            raise ValueError(f"position encoding {name!r} is already registered to {_REGISTRY[name].__name__}")
        encoding_class.kind = name
        encoding_class.config_class = config_class
        _REGISTRY[name] = encoding_class
        return encoding_class

    return decorate


def available_position_encodings() -> list[str]:
    """Every registered position-encoding name (built-ins, imported plugins, entry points), sorted."""
    _DISCOVERY.load()
    return sorted(_REGISTRY)


def get_position_encoding_class(name: str) -> type:
    """The layer class registered under ``name``; ``ValueError`` naming the key and the available kinds."""
    if not isinstance(name, str):
        raise ValueError(f"position_encoding.name={name!r}: a name is a string, e.g. 'learnable'")
    _DISCOVERY.load(name)
    if name not in _REGISTRY:
        raise ValueError(
            f"position_encoding.name={name!r} is unknown; available: {', '.join(available_position_encodings())}. "
            f"To add one, decorate a tfseqrec.models.positions.PositionEncoding subclass with "
            f"@tfseqrec.models.positions.register_position_encoding({name!r}, YourConfig) in a module listed "
            f"under `plugins:` in the training config, or declare it as an entry point in the group "
            f"{ENTRY_POINT_GROUP!r}."
        )
    return _REGISTRY[name]
