"""Model registry: a model is one module whose class carries ``@register(name, ConfigClass)``.

Each entry maps a name (used in configs and on the command line) to its model class (a
``tfseqrec.models.base.SequentialRecommender`` subclass) and its typed config dataclass (a
``SequentialModelConfig`` subclass).

Built-in models: every module of ``tfseqrec.models`` is imported (``pkgutil``) the first time a model is looked
up, so a new built-in model is one file with ``@register`` and nothing else.

A user's model registers from outside the package in either of two ways (losses alike, see
``tfseqrec.tasks.registry``):

* ``plugins:`` at the top of the training config, a list of importable module names (an installed package, or
  a directory on ``PYTHONPATH``). The trainer imports them (:func:`tfseqrec.plugins.import_plugins`) before it
  builds the model, so their ``@register`` / ``@register_loss`` lines run, and again when a finished run is
  loaded (``tfseqrec evaluate``, export), as the run's ``config`` keeps the list::

      plugins: [my_package.my_models]
      model: my_model
      model_config: {embedding_dim: 64, loss: {name: my_loss}}

* a setuptools entry point in the group ``tfseqrec.models`` (losses: ``tfseqrec.losses``) named after the
  model, e.g. in the plugin package's ``setup.cfg``::

      [options.entry_points]
      tfseqrec.models =
          my_model = my_package.my_models:MyModel

  loaded (``importlib.metadata.entry_points``) when a name that is not registered yet is looked up, and all
  of them by :func:`available_models`; nothing else to list in configs once the package is installed.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Type

from tfseqrec.plugins import Discovery

ENTRY_POINT_GROUP = "tfseqrec.models"

_REGISTRY: dict[str, tuple[type, type]] = {}
_DISCOVERY = Discovery(
    "model", "tfseqrec.models", ENTRY_POINT_GROUP, lambda: _REGISTRY, "@tfseqrec.models.register({name}, ConfigClass)"
)


def register(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: ``@register("sasrec", SASRecConfig)``; sets the class's ``registry_name``."""

    def decorate(model_class: type) -> type:
        from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender

        if not (isinstance(model_class, type) and issubclass(model_class, SequentialRecommender)):
            raise TypeError(f"register({name!r}) decorates a SequentialRecommender subclass, not {model_class!r}")
        if not (
            isinstance(config_class, type)
            and issubclass(config_class, SequentialModelConfig)
            and dataclasses.is_dataclass(config_class)
        ):
            raise TypeError(
                f"register({name!r}, {config_class!r}): the config class must be a frozen dataclass "
                f"subclass of SequentialModelConfig"
            )
        if name in _REGISTRY and _REGISTRY[name][0] is not model_class:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name][0].__name__}")
        _REGISTRY[name] = (model_class, config_class)
        model_class.registry_name = name
        return model_class

    return decorate


def available_models() -> list[str]:
    """Every registered model name (built-ins, imported plugins and installed entry points), sorted."""
    _DISCOVERY.load()
    return sorted(_REGISTRY)


def get_model_class(name: str) -> tuple[type, Type]:
    """(model class, config class) registered under ``name``; ``ValueError`` listing the available ones."""
    _DISCOVERY.load(name)
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; available: {', '.join(available_models())}. To add a model, "
            f"decorate a tfseqrec.models.base.SequentialRecommender subclass with "
            f"@tfseqrec.models.register({name!r}, YourConfig) in a module listed under `plugins:` in "
            f"the training config, or declare it as an entry point in the group "
            f"{ENTRY_POINT_GROUP!r} (see tfseqrec.models.registry)."
        )
    return _REGISTRY[name]


def config_from_dict(config_class: type, values: dict):
    """Builds a (possibly nested) config dataclass from plain values, rejecting unknown keys by name.

    A nested config whose class has a ``from_dict`` (``LossConfig``, which picks the registered loss's config
    class) is built by it.
    """
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(
            f"{config_class.__name__} has no field(s) {', '.join(unknown)}; fields are: {', '.join(fields)}"
        )
    kwargs = {}
    for name, value in values.items():
        field = fields[name]
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            nested = type(default)
            kwargs[name] = nested.from_dict(value) if hasattr(nested, "from_dict") else config_from_dict(nested, value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return config_class(**kwargs)
