"""Finding the registrations of one kind (models, losses): built-in modules, configs' plugins, entry points.

A registry (``tfseqrec.models.registry``, ``tfseqrec.tasks.registry``) keeps its own name -> class table; this
module only makes its entries appear, in three ways:

* built-ins: every module of the registry's package is imported the first time a name is looked up, so a new
  built-in is one module with its decorator and nothing else;
* ``plugins: [my_package.my_models]`` in a training config: :func:`import_plugins` imports the listed modules
  before the model is built, so their decorators run;
* setuptools entry points of the registry's group (``tfseqrec.models``, ``tfseqrec.losses``), loaded when a
  name that is not registered yet is looked up (and all of them when every name is listed).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from typing import Callable, Collection, Iterable, Optional


def import_plugins(modules: Iterable[str]) -> None:
    """Imports each module of a training config's ``plugins:`` list, so that its registrations run."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(
                f"plugins: cannot import {module!r} ({type(error).__name__}: {error}); list modules "
                f"importable from the Python path: install the plugin's package, or put its "
                f"directory on PYTHONPATH"
            ) from error


class Discovery:
    """Loads the built-in modules and the entry points of one registry.

    ``kind``: what is registered (``"model"``), for messages; ``package``: the package whose modules are the
    built-ins; ``group``: the entry point group; ``registered``: returns the names registered so far;
    ``decorator``: how a class registers, for the error of an entry point that registered nothing.
    """

    def __init__(self, kind: str, package: str, group: str, registered: Callable[[], Collection[str]], decorator: str):
        self.kind, self.package, self.group = kind, package, group
        self.registered, self.decorator = registered, decorator
        self._builtins_loaded = False

    def load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True  # set first: a module imported below may look a name up
        try:
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{self.package}.{module.name}")
        except BaseException:
            self._builtins_loaded = False
            raise

    def load_entry_points(self, name: Optional[str] = None) -> None:
        """Loads the group's entry points named ``name`` (all when None) whose names are not registered yet."""
        for entry_point in importlib.metadata.entry_points(group=self.group):
            if entry_point.name in self.registered() or (name is not None and entry_point.name != name):
                continue
            where = f"entry point {entry_point.name} = {entry_point.value} (group {self.group})"
            try:
                entry_point.load()
            except Exception as error:
                raise ValueError(f"the {where} failed to load: {type(error).__name__}: {error}") from error
            if entry_point.name not in self.registered():
                raise ValueError(
                    f"the {where} registered no {self.kind} named {entry_point.name!r}: decorate its "
                    f"class with {self.decorator.format(name=repr(entry_point.name))}"
                )

    def load(self, name: Optional[str] = None) -> None:
        """Built-ins, then the entry points of ``name`` when it is not registered (all entry points when None)."""
        self.load_builtins()
        if name is None or name not in self.registered():
            self.load_entry_points(name)
