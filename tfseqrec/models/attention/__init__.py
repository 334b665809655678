"""Attention kinds of the transformer blocks (``model_config.attention``): full softmax (default), local
(sliding window, blockwise), linear (elu / LinRec's L2 form), Performer (FAVOR+) and Linformer (bidirectional).
A new kind is one module with a ``@register_attention`` class (``base.AttentionKernel``)."""

from tfseqrec.models.attention.base import AttentionKernel, build_attention, check_positions
from tfseqrec.models.attention.config import AttentionConfig, attention_config
from tfseqrec.models.attention.registry import available_attentions, get_attention_class, register_attention

__all__ = [
    "AttentionConfig",
    "AttentionKernel",
    "attention_config",
    "available_attentions",
    "build_attention",
    "check_positions",
    "get_attention_class",
    "register_attention",
]
