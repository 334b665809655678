"""``none``: no position information besides what the attention mask implies.

A causal encoder still sees order through its mask (each state summarises a prefix); a bidirectional one
sees the history as a bag of items.
"""

from __future__ import annotations

from tfseqrec.models.positions.base import PositionEncoding
from tfseqrec.models.positions.config import PositionEncodingConfig
from tfseqrec.models.positions.registry import register_position_encoding


@register_position_encoding("none", PositionEncodingConfig)
class NoPositions(PositionEncoding):
    """Inputs and attention unchanged."""
