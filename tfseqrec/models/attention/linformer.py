"""``linformer``: Linformer (Wang et al. 2020), keys and values projected along the length to ``projected_length``
rows, then softmax attention over those, ``O(L * k)``. Every projected row mixes every position, so it is for
bidirectional encoders only (BERT4Rec); causal models refuse it.

The projections ``E, F [k, max_len]`` are learned; a batch shorter than ``max_len`` uses their last ``L`` columns
(histories are left-padded, so column ``-1`` is always the newest item). Padding keys and values are zeroed
before the projection.
"""

from __future__ import annotations

import dataclasses
import math

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.attention.base import AttentionKernel, valid_keys
from tfseqrec.models.attention.config import AttentionConfig, check_int
from tfseqrec.models.attention.registry import register_attention
from tfseqrec.models.dropout import FastDropout


@dataclasses.dataclass(frozen=True)
class LinformerConfig(AttentionConfig):
    """``projected_length``: rows ``k`` the keys and values are projected to."""

    name: str = "linformer"
    projected_length: int = 64

    def __post_init__(self):
        super().__post_init__()
        check_int(self.name, "projected_length", self.projected_length, 1)


@register_attention("linformer", LinformerConfig)
class LinformerAttention(AttentionKernel):
    """Softmax attention over length-projected keys and values (module docstring)."""

    supports_causal = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shape = [self.config.projected_length, self.max_len]
        stddev = 1.0 / math.sqrt(self.max_len)
        self.key_projection = self.add_weight(
            name="key_projection", shape=shape, initializer=tf.keras.initializers.RandomNormal(stddev=stddev)
        )
        self.value_projection = self.add_weight(
            name="value_projection", shape=shape, initializer=tf.keras.initializers.RandomNormal(stddev=stddev)
        )
        self.dropout = FastDropout(self.dropout_rate)

    def call(self, query, key, value, padding_mask=None, attention_mask=None, positions=None, training=False):
        length = tf.shape(key)[1]
        real = valid_keys(padding_mask, key.dtype)
        key_projection = tf.cast(self.key_projection[:, -length:], key.dtype)
        value_projection = tf.cast(self.value_projection[:, -length:], value.dtype)
        keys = tf.einsum("kl,blhd->bkhd", key_projection, key * real)  # [B, k, H, Dh]
        values = tf.einsum("kl,blhd->bkhd", value_projection, value * real)
        query = query * tf.cast(1.0 / math.sqrt(float(self.head_dim)), query.dtype)
        probabilities = tf.nn.softmax(tf.einsum("bthd,bkhd->bhtk", query, keys), axis=-1)
        dropped = self.dropout(probabilities, training=training)
        return tf.einsum("bhtk,bkhd->bthd", dropped, values), None
