"""Head registry: an auxiliary prediction head is one class decorated with ``@register_head(name, ConfigClass)``
(``tfseqrec.kinds``; the decorator sets ``kind`` and ``config_class`` on it, not ``name``: a Keras layer's
``name`` is its own).

Each entry maps a name (``model_config.heads[i].name``) to a :class:`tfseqrec.models.heads.base.Head` subclass and
its typed config (a frozen dataclass subclass of :class:`tfseqrec.models.heads.base.HeadConfig`). Built-in heads
are the modules of ``tfseqrec.models.heads``; a user's head registers from a module listed under ``plugins:`` in
the training config, or from an entry point of the group ``tfseqrec.heads``, as models and losses do.
"""

from __future__ import annotations

from typing import Any, Mapping

from tfseqrec.kinds import Kinds

ENTRY_POINT_GROUP = "tfseqrec.heads"


def _bases() -> tuple:
    from tfseqrec.models.heads.base import Head, HeadConfig

    return Head, HeadConfig


HEADS = Kinds(
    "head",
    "heads.name",
    "tfseqrec.models.heads",
    ENTRY_POINT_GROUP,
    _bases,
    "@tfseqrec.models.heads.register_head({name}, ConfigClass)",
)
register_head = HEADS.register
available_heads = HEADS.available
get_head_class = HEADS.get


def head_config(value: Any):
    """A head's typed config from a config object, a bare name, or a mapping ``{name: ..., weight: ..., <its
    fields>}``."""
    from tfseqrec.models.heads.base import HeadConfig

    if isinstance(value, HeadConfig):
        return value
    if not (isinstance(value, str) or (isinstance(value, Mapping) and "name" in value)):
        raise ValueError(f"heads: each head is a mapping with a name, e.g. {{name: next_event_type}}; got {value!r}")
    return HEADS.config(value, default="")
