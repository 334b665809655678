"""Position encodings of the transformer encoders (SASRec, BERT4Rec, CL4SRec), chosen by config.

``model_config.position_encoding`` names a registered kind and gives its fields (``PositionEncodingConfig``)::

    model_config:
      position_encoding: {name: relative, num_buckets: 32, max_distance: 128}

Built-in kinds (one module each; the contract is :mod:`tfseqrec.models.positions.base`):

* ``learnable`` (default): a trained absolute table added to the inputs;
* ``sinusoidal``: Vaswani et al.'s fixed sine / cosine table added to the inputs (``base``, ``scale``);
* ``none``: no positions besides the attention mask;
* ``rotary``: RoPE, queries and keys rotated per head (``base``);
* ``relative``: T5's learned per-head logit bias by bucketed distance (``num_buckets``, ``max_distance``);
* ``alibi``: fixed per-head linear distance penalties on the logits;
* ``time_interval``: TiSASRec's clipped personal time intervals on keys and values (``max_interval``,
  ``absolute_positions``); reads the ``timestamps`` record feature.

Absolute kinds count positions from ``position_origin`` (a field of the model config).
"""

from tfseqrec.models.positions.base import (
    AttentionPositions,
    PositionEncoding,
    build_position_encoding,
    require_input_positions,
)
from tfseqrec.models.positions.config import PositionEncodingConfig, position_encoding_config
from tfseqrec.models.positions.registry import (
    available_position_encodings,
    get_position_encoding_class,
    register_position_encoding,
)

__all__ = [
    "AttentionPositions",
    "PositionEncoding",
    "PositionEncodingConfig",
    "available_position_encodings",
    "build_position_encoding",
    "get_position_encoding_class",
    "position_encoding_config",
    "register_position_encoding",
    "require_input_positions",
]
