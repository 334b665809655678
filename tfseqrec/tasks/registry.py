"""Loss registry: a next-item loss is one class decorated with ``@register_loss(name, ConfigClass)``.

A loss is a :class:`tfseqrec.tasks.next_item_loss.NextItemLoss` subclass (over the whole catalogue, like
``full_ce``) or a :class:`tfseqrec.tasks.sampled.SampledLoss` subclass (over each position's positive and
the negatives the task draws, like ``bce``); its config class is :class:`LossConfig` or a frozen dataclass
subclass of it that adds the loss's own fields (``GBCEConfig`` adds ``gbce_t``). A config selects it by
name, its own fields beside the shared ones::

    model_config: {loss: {name: gbce, num_negatives: 256, gbce_t: 0.75}}

Built-in losses are the ones registered in the modules of ``tfseqrec.tasks``: every module of the package
is imported the first time a loss is looked up, so a new built-in loss is one module (or one class in an
existing one) and nothing else. A user's loss registers from outside the package in either of two ways,
the same as a model's (``tfseqrec.models.registry``):

* ``plugins: [my_package.my_losses]`` at the top of the training config: the trainer imports the listed
  modules before it builds the model, so their ``@register_loss`` lines run;
* a setuptools entry point in the group ``tfseqrec.losses`` named after the loss, e.g. in ``setup.cfg``::

      [options.entry_points]
      tfseqrec.losses =
          hinge = my_package.my_losses:Hinge

  loaded (``importlib.metadata.entry_points``) when a name that is not registered yet is looked up.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from tfseqrec.plugins import Discovery

ENTRY_POINT_GROUP = "tfseqrec.losses"

_REGISTRY: dict[str, type] = {}
_DISCOVERY = Discovery(
    "loss", "tfseqrec.tasks", ENTRY_POINT_GROUP, lambda: _REGISTRY, "@tfseqrec.tasks.register_loss({name}, ...)"
)


def register_loss(name: str, config_class: Optional[type] = None) -> Callable[[type], type]:
    """Class decorator: ``@register_loss("gbce", GBCEConfig)``; ``config_class`` defaults to ``LossConfig``.

    Sets the class's ``name`` and ``config_class``. A name registered to another class is an error.
    """
    from tfseqrec.tasks.loss_config import LossConfig
    from tfseqrec.tasks.next_item_loss import NextItemLoss

    config_class = LossConfig if config_class is None else config_class
    if not (
        isinstance(config_class, type)
        and issubclass(config_class, LossConfig)
        and dataclasses.is_dataclass(config_class)
    ):
        raise TypeError(
            f"register_loss({name!r}, {config_class!r}): the config class must be LossConfig or a "
            f"frozen dataclass subclass of it"
        )

    def decorate(loss_class: type) -> type:
        if not (isinstance(loss_class, type) and issubclass(loss_class, NextItemLoss)):
            raise TypeError(f"register_loss({name!r}) decorates a NextItemLoss subclass, not {loss_class!r}")
        if name in _REGISTRY and _REGISTRY[name] is not loss_class:
            raise ValueError(f"loss name {name!r} is already registered to {_REGISTRY[name].__name__}")
        loss_class.name = name
        loss_class.config_class = config_class
        _REGISTRY[name] = loss_class
        return loss_class

    return decorate


def get_loss_class(name: str) -> type:
    """The loss class registered under ``name``; ``ValueError`` listing the available ones otherwise."""
    _DISCOVERY.load(name)
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown loss {name!r}; available: {', '.join(available_losses())}. To add a loss, "
            f"decorate a NextItemLoss (or SampledLoss) subclass with "
            f"@tfseqrec.tasks.register_loss({name!r}) in a module listed under `plugins:` in the "
            f"training config, or declare it as an entry point in the group {ENTRY_POINT_GROUP!r} "
            f"(see tfseqrec.tasks.registry)."
        )
    return _REGISTRY[name]


def available_losses() -> list[str]:
    """Every registered loss name (built-ins, imported plugins and installed entry points), sorted."""
    _DISCOVERY.load()
    return sorted(_REGISTRY)


def registered_config_classes() -> list[type]:
    """The config classes of the losses registered so far (entry points not loaded)."""
    _DISCOVERY.load_builtins()
    return list({loss.config_class: None for loss in _REGISTRY.values()})
