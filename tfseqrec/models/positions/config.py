"""``PositionEncodingConfig``: which position encoding a transformer encoder uses, and its own fields.

The name selects a registered kind (:mod:`tfseqrec.models.positions.registry`); a kind with fields of its own
registers a frozen dataclass subclass, and ``PositionEncodingConfig(name=...)`` builds that class, so a config
stays one flat mapping, in Python as in YAML::

    PositionEncodingConfig(name="relative", num_buckets=32)      # a RelativeBiasConfig
    PositionEncodingConfig.from_dict({"name": "rotary", "base": 500.0})

    model_config:
      position_encoding: {name: time_interval, max_interval: 256}
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from tfseqrec.models.positions.registry import get_position_encoding_class

DEFAULT_NAME = "learnable"


@dataclasses.dataclass(frozen=True)
class PositionEncodingConfig:
    """``name``: a registered kind (:func:`tfseqrec.models.positions.available_position_encodings`); the other
    fields are the kind's own (see each kind's config class). A field the kind does not have is a
    ``ValueError`` naming it."""

    name: str = DEFAULT_NAME

    def __new__(cls, *args, **kwargs):
        if cls is not PositionEncodingConfig:  # a kind's class built directly (or copied, unpickled)
            return super().__new__(cls)
        name = args[0] if args else kwargs.get("name", DEFAULT_NAME)
        config_class = get_position_encoding_class(name).config_class
        _check_keys(name, config_class, kwargs)
        return super().__new__(config_class)

    def __post_init__(self):
        encoding = get_position_encoding_class(self.name)
        if type(self) is not encoding.config_class:
            raise ValueError(
                f"position_encoding {self.name!r} is configured by {encoding.config_class.__name__}, not "
                f"{type(self).__name__}: build it with PositionEncodingConfig(name={self.name!r}, ...) or "
                f"PositionEncodingConfig.from_dict"
            )

    def to_dict(self) -> dict:
        """A flat JSON-friendly dict, ``name`` included (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "PositionEncodingConfig":
        """The config of ``values["name"]`` (default ``learnable``), whichever class it is called on."""
        if not isinstance(values, Mapping):
            raise ValueError(
                f"position_encoding={values!r}: give a mapping such as {{name: rotary}} (or just the name)"
            )
        name = values.get("name", DEFAULT_NAME)
        config_class = get_position_encoding_class(name).config_class
        _check_keys(name, config_class, values)
        return config_class(**dict(values, name=name))


def position_encoding_config(value: Any) -> PositionEncodingConfig:
    """A config from a config object, a mapping (``{name: rotary, base: 500}``) or a bare name (``"rotary"``)."""
    if isinstance(value, PositionEncodingConfig):
        return value
    if isinstance(value, str):
        return PositionEncodingConfig.from_dict({"name": value})
    return PositionEncodingConfig.from_dict(value)


def _check_keys(name: str, config_class: type, values: Mapping[str, Any]) -> None:
    fields = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(
            f"position_encoding: {name!r} has no field(s) {', '.join(unknown)}; its fields are: "
            f"{', '.join(sorted(fields))}"
        )


def check_int(name: str, key: str, value: Any, low: int) -> None:
    """``ValueError`` naming ``position_encoding.<key>`` unless ``value`` is an int >= ``low`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"position_encoding.{key}={value!r} ({name}) must be an int >= {low}")


def check_positive(name: str, key: str, value: Any) -> None:
    """``ValueError`` naming ``position_encoding.<key>`` unless ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"position_encoding.{key}={value!r} ({name}) must be a finite number > 0")
