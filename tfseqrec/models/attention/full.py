"""``full``: softmax attention over every allowed key, ``O(L^2)`` time and memory (the default)."""

from __future__ import annotations

import math

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.attention.base import AttentionKernel, masked_softmax
from tfseqrec.models.attention.config import AttentionConfig
from tfseqrec.models.attention.registry import register_attention
from tfseqrec.models.dropout import FastDropout


@register_attention("full", AttentionConfig)
class FullAttention(AttentionKernel):
    """``softmax(q k^T / sqrt(Dh) + bias) v`` with the encoder's ``[B, L, L]`` mask (None: every key); position
    encodings may add to the logits ``[B, H, T, S]`` and to the output (``AttentionPositions``)."""

    needs_mask = True
    reads_attention_scores = True
    attends_cached_keys = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dropout = FastDropout(self.dropout_rate)  # on the probabilities

    def call(self, query, key, value, padding_mask=None, attention_mask=None, positions=None, training=False):
        query = query * tf.cast(1.0 / math.sqrt(float(self.head_dim)), query.dtype)
        logits = tf.einsum("bshd,bthd->bhts", key, query)  # [B, H, T, S]
        bias = None if positions is None else positions.logit_bias(query)
        if bias is not None:
            logits = logits + bias
        if attention_mask is None:  # every key allowed
            probabilities = tf.nn.softmax(logits, axis=-1)
        else:
            probabilities = masked_softmax(logits, attention_mask[:, tf.newaxis])
        dropped = self.dropout(probabilities, training=training)
        output = tf.einsum("bhts,bshd->bthd", dropped, value)
        extra = None if positions is None else positions.value_terms(dropped)
        return (output if extra is None else output + extra), probabilities
