"""``AttentionConfig``: which attention the transformer blocks compute, and the kind's own fields.

``name`` selects a registered kind (``tfseqrec.models.attention.registry``); a kind with fields of its own
registers a frozen dataclass subclass, so a config stays one flat mapping::

    model_config:
      attention: {name: local, window: 64}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from tfseqrec.models.attention.registry import ATTENTIONS

DEFAULT_NAME = "full"


@dataclasses.dataclass(frozen=True)
class AttentionConfig:
    """``name``: a registered kind (``available_attentions()``); full softmax attention by default."""

    name: str = DEFAULT_NAME

    def __post_init__(self):
        kind = ATTENTIONS.get(self.name)
        if type(self) is not kind.config_class:
            raise ValueError(
                f"attention {self.name!r} is configured by {kind.config_class.__name__}, not {type(self).__name__}: "
                f"build it with attention_config({{'name': {self.name!r}, ...}})"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "AttentionConfig":
        """The config of ``values["name"]`` (default ``full``), whichever class it is called on."""
        return ATTENTIONS.config(values, DEFAULT_NAME)


def attention_config(value: Any) -> AttentionConfig:
    """A config from a config object, a mapping (``{name: local, window: 32}``) or a bare name."""
    return ATTENTIONS.config(value, DEFAULT_NAME)


def check_int(name: str, key: str, value: Any, low: int) -> None:
    """``ValueError`` naming ``attention.<key>`` unless ``value`` is an int >= ``low`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"attention.{key}={value!r} ({name}) must be an int >= {low}")
