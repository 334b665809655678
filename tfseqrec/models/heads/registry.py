"""Head registry: an auxiliary prediction head is one class decorated with ``@register_head(name, ConfigClass)``.

Each entry maps a name (``model_config.heads[i].name``) to a :class:`tfseqrec.models.heads.base.Head` subclass and
its typed config (a frozen dataclass subclass of :class:`tfseqrec.models.heads.base.HeadConfig`). Built-in heads
are the modules of ``tfseqrec.models.heads``; a user's head registers from a module listed under ``plugins:`` in
the training config, or from an entry point of the group ``tfseqrec.heads``, as models and losses do.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from tfseqrec.plugins import Discovery

ENTRY_POINT_GROUP = "tfseqrec.heads"

_REGISTRY: dict[str, type] = {}
_DISCOVERY = Discovery(
    "head", "tfseqrec.models.heads", ENTRY_POINT_GROUP, lambda: _REGISTRY, "@register_head({name}, ConfigClass)"
)


def register_head(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: ``@register_head("next_event_type", HeadConfig)``; sets ``head_name`` and
    ``config_class`` (not ``name``: a Keras layer's ``name`` is its own)."""
    from tfseqrec.models.heads.base import Head, HeadConfig

    if not (
        isinstance(config_class, type)
        and issubclass(config_class, HeadConfig)
        and dataclasses.is_dataclass(config_class)
    ):
        raise TypeError(f"register_head({name!r}, {config_class!r}): the config class must subclass HeadConfig")

    def decorate(head_class: type) -> type:
        if not (isinstance(head_class, type) and issubclass(head_class, Head)):
            raise TypeError(f"register_head({name!r}) decorates a Head subclass, not {head_class!r}")
        if name in _REGISTRY and _REGISTRY[name] is not head_class:
            raise ValueError(f"head {name!r} is already registered to {_REGISTRY[name].__name__}")
        head_class.head_name = name
        head_class.config_class = config_class
        _REGISTRY[name] = head_class
        return head_class

    return decorate


def available_heads() -> list[str]:
    _DISCOVERY.load()
    return sorted(_REGISTRY)


def get_head_class(name: str) -> type:
    """The head class registered under ``name``; ``ValueError`` listing the available ones."""
    _DISCOVERY.load(name)
    if name not in _REGISTRY:
        raise ValueError(f"unknown head {name!r}; available: {', '.join(available_heads())}")
    return _REGISTRY[name]


def head_config(value: Any):
    """A head's typed config from a config object or a mapping ``{name: ..., weight: ..., <its fields>}``."""
    from tfseqrec.models.heads.base import HeadConfig

    if isinstance(value, HeadConfig):
        return value
    if not isinstance(value, Mapping) or "name" not in value:
        raise ValueError(f"heads: each head is a mapping with a name, e.g. {{name: next_event_type}}; got {value!r}")
    config_class = get_head_class(value["name"]).config_class
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(value) - fields)
    if unknown:
        raise ValueError(
            f"head {value['name']!r} has no field(s) {', '.join(unknown)}; fields: {', '.join(sorted(fields))}"
        )
    return config_class(**value)
