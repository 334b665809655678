"""Attention registry: an attention kind is one ``AttentionKernel`` subclass decorated with
``@register_attention(name, ConfigClass)`` (``tfseqrec.kinds``); built-ins are this package's modules, plugins
and the entry point group ``tfseqrec.attentions`` add more."""

from __future__ import annotations

from tfseqrec.kinds import Kinds


def _bases() -> tuple:
    from tfseqrec.models.attention.base import AttentionKernel
    from tfseqrec.models.attention.config import AttentionConfig

    return AttentionKernel, AttentionConfig


ATTENTIONS = Kinds(
    "attention",
    "attention.name",
    "tfseqrec.models.attention",
    "tfseqrec.attentions",
    _bases,
    "@tfseqrec.models.attention.register_attention({name}, ConfigClass)",
)
register_attention = ATTENTIONS.register
available_attentions = ATTENTIONS.available
get_attention_class = ATTENTIONS.get
