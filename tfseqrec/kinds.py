"""A registry of one family of pluggable parts (attention kinds, ...): name -> class and its typed config.

A part is one class decorated with ``family.register(name, ConfigClass)``; the decorator sets ``kind`` and
``config_class`` on it. Its config is a frozen dataclass subclass of the family's config base with a ``name``
field, so a YAML config stays one flat mapping (``{name: local, window: 64}``) and :meth:`Kinds.config` builds the
registered class from it, from a bare name, or passes a config object through. Built-ins are the modules of the
family's package; plugins and entry points register as models and losses do (``tfseqrec.plugins``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from tfseqrec.plugins import Discovery


class Kinds:
    """The registry of one family.

    ``family``: what is registered, for messages (``"attention"``); ``key``: the config key that names a kind
    (``"attention.name"``); ``package``: the built-ins' package; ``group``: the entry point group;
    ``bases``: returns ``(part base class, config base class)`` (a callable, so modules can import each other
    lazily); ``decorator``: how a class registers, for messages.
    """

    def __init__(self, family: str, key: str, package: str, group: str, bases: Callable[[], tuple], decorator: str):
        self.family, self.key, self.group, self.decorator = family, key, group, decorator
        self._bases = bases
        self._classes: dict[str, type] = {}
        self._discovery = Discovery(family, package, group, lambda: self._classes, decorator)

    def register(self, name: str, config_class: type) -> Callable[[type], type]:
        """Class decorator: registers ``name``; a name taken by another class is an error."""
        part_base, config_base = self._bases()
        if not (
            isinstance(config_class, type)
            and issubclass(config_class, config_base)
            and dataclasses.is_dataclass(config_class)
        ):
            raise TypeError(
                f"{self.family} {name!r}: the config class must be a dataclass subclass of {config_base.__name__}"
            )

        def decorate(part: type) -> type:
            if not (isinstance(part, type) and issubclass(part, part_base)):
                raise TypeError(f"{self.family} {name!r}: decorate a {part_base.__name__} subclass, not {part!r}")
            if name in self._classes and self._classes[name] is not part:
                raise ValueError(f"{self.family} {name!r} is already registered to {self._classes[name].__name__}")
            part.kind, part.config_class = name, config_class
            self._classes[name] = part
            return part

        return decorate

    def available(self) -> list[str]:
        """Every registered name (built-ins, imported plugins, entry points), sorted."""
        self._discovery.load()
        return sorted(self._classes)

    def get(self, name: Any) -> type:
        """The class registered under ``name``; ``ValueError`` naming the key and the available names."""
        if not isinstance(name, str):
            raise ValueError(f"{self.key}={name!r}: a name is a string")
        self._discovery.load(name)
        if name not in self._classes:
            raise ValueError(
                f"{self.key}={name!r} is unknown; available: {', '.join(self.available())}. To add one, decorate a "
                f"class with {self.decorator.format(name=repr(name))} in a module listed under `plugins:` in the "
                f"training config, or declare it as an entry point in the group {self.group!r}."
            )
        return self._classes[name]

    def config(self, value: Any, default: str):
        """The typed config of ``value``: a config object (kept), a bare name, or a mapping with ``name``
        (``default`` when absent); fields the kind does not have are a ``ValueError`` naming them."""
        _, config_base = self._bases()
        if isinstance(value, config_base):
            return value
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            family_key = self.key.split(".")[0]
            raise ValueError(f"{family_key}={value!r}: give a mapping such as {{name: {default}}} or a name")
        name = value.get("name", default)
        config_class = self.get(name).config_class
        fields = {field.name for field in dataclasses.fields(config_class)}
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ValueError(
                f"{self.family} {name!r} has no field(s) {', '.join(unknown)}; "
                f"its fields are: {', '.join(sorted(fields))}"
            )
        return config_class(**dict(value, name=name))
