"""Auxiliary prediction heads on the encoder's states (multi-task learning), chosen by config.

``model_config.heads`` lists them, each with its loss weight and own fields::

    model_config:
      heads:
        - {name: next_event_type, weight: 0.2}
        - {name: next_item_feature, feature: categories, weight: 0.1}
        - {name: time_to_next, weight: 0.05}

Built-in heads (one module each; the contract is :mod:`tfseqrec.models.heads.base`): ``next_event_type``,
``next_item_feature``, ``time_to_next``. ``tfseqrec.evaluation.heads`` scores them on a split against the best
constant predictor.
"""

from tfseqrec.models.heads.base import Head, HeadConfig
from tfseqrec.models.heads.registry import available_heads, get_head_class, head_config, register_head

__all__ = ["Head", "HeadConfig", "available_heads", "get_head_class", "head_config", "register_head"]
