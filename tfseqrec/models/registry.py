"""Architecture registry: a new architecture is one module plus one ``@register`` line.

Each entry maps a name (used in configs and on the command line) to its model class and its typed
config dataclass.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Type

_REGISTRY: dict[str, tuple[type, type]] = {}


def register(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: ``@register("sasrec", SASRecConfig)``."""

    def decorate(model_class: type) -> type:
        if name in _REGISTRY and _REGISTRY[name][0] is not model_class:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name][0].__name__}")
        _REGISTRY[name] = (model_class, config_class)
        model_class.registry_name = name
        return model_class

    return decorate


def _ensure_builtin_models_loaded() -> None:
    from tfseqrec.models import builtin  # noqa: F401  (registers the shipped architectures)


def available_models() -> list[str]:
    _ensure_builtin_models_loaded()
    return sorted(_REGISTRY)


def get_model_class(name: str) -> tuple[type, Type]:
    """(model class, config class) registered under ``name``."""
    _ensure_builtin_models_loaded()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def config_from_dict(config_class: type, values: dict):
    """Builds a (possibly nested) config dataclass from plain values, rejecting unknown keys by name."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{config_class.__name__} has no field(s) {', '.join(unknown)}; "
                         f"fields are: {', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        field = fields[name]
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = config_from_dict(type(default), value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return config_class(**kwargs)
