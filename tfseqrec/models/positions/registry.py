"""Position-encoding registry: a kind is one layer class decorated with ``@register_position_encoding``.

Each entry maps a name (``model_config.position_encoding.name``) to a
:class:`tfseqrec.models.positions.base.PositionEncoding` subclass; the class names its typed config
(``config_class``, a frozen dataclass subclass of
:class:`tfseqrec.models.positions.config.PositionEncodingConfig`). Built-in kinds are the modules of
``tfseqrec.models.positions`` (imported the first time a name is looked up); a user's kind registers from a
module listed under ``plugins:`` in the training config, or from an entry point of the group
``tfseqrec.position_encodings``, as models and losses do (``tfseqrec.kinds``, ``tfseqrec.plugins``).
"""

from __future__ import annotations

from tfseqrec.kinds import Kinds

ENTRY_POINT_GROUP = "tfseqrec.position_encodings"


def _bases() -> tuple:
    from tfseqrec.models.positions.base import PositionEncoding
    from tfseqrec.models.positions.config import PositionEncodingConfig

    return PositionEncoding, PositionEncodingConfig


POSITION_ENCODINGS = Kinds(
    "position encoding",
    "position_encoding.name",
    "tfseqrec.models.positions",
    ENTRY_POINT_GROUP,
    _bases,
    "@tfseqrec.models.positions.register_position_encoding({name}, ConfigClass)",
)
# Class decorator: ``@register_position_encoding("rotary", RotaryConfig)``; sets ``kind`` and ``config_class``.
register_position_encoding = POSITION_ENCODINGS.register
available_position_encodings = POSITION_ENCODINGS.available
get_position_encoding_class = POSITION_ENCODINGS.get
