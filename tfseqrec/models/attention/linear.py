"""``linear``: kernelised attention, ``phi(q) . sum_j phi(k_j) v_j^T / phi(q) . sum_j phi(k_j)``, ``O(L)`` in length.

Feature maps ``phi`` (``feature_map``):

* ``elu``: ``elu(x) + 1`` (Katharopoulos et al. 2020, "Transformers are RNNs");
* ``l2``: ``elu(x / ||x||) + 1``, the L2-normalised form of LinRec (Liu et al., SIGIR 2023), each query and key
  normalised on its own (LinRec normalises keys over the sequence, which would let a causal query see later keys).

Causal attention sums over ``j <= i`` by chunks of ``chunk_size`` (:func:`causal_linear_attention`): inside a
chunk the ``[c, c]`` scores are formed and masked, across chunks a running ``[m, Dh]`` state per head carries
everything earlier, so memory is ``O(L * (c + m * Dh / c))`` and never ``O(L^2)``. Padding keys are zeroed.
"""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.attention.base import AttentionKernel, valid_keys
from tfseqrec.models.attention.config import AttentionConfig, check_int
from tfseqrec.models.attention.registry import register_attention

FEATURE_MAPS = ("elu", "l2")
EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class LinearAttentionConfig(AttentionConfig):
    """``feature_map``: ``elu`` or ``l2`` (module docstring); ``chunk_size``: positions per causal chunk."""

    name: str = "linear"
    feature_map: str = "elu"
    chunk_size: int = 64

    def __post_init__(self):
        super().__post_init__()
        if self.feature_map not in FEATURE_MAPS:
            raise ValueError(f"attention.feature_map={self.feature_map!r}: use one of {', '.join(FEATURE_MAPS)}")
        check_int(self.name, "chunk_size", self.chunk_size, 1)


def linear_attention(phi_q, phi_k, value, causal: bool, chunk_size: int):
    """``[B, L, H, Dh]`` from non-negative features ``phi_q``, ``phi_k [B, L, H, m]`` (padding keys zero) and
    ``value [B, L, H, Dh]``: each query's feature-weighted mean of the values it may see."""
    if not causal:
        state = tf.einsum("blhm,blhd->bhmd", phi_k, value)
        numerator = tf.einsum("blhm,bhmd->blhd", phi_q, state)
        denominator = tf.einsum("blhm,bhm->blh", phi_q, tf.reduce_sum(phi_k, axis=1))
        return numerator / (denominator[..., tf.newaxis] + EPSILON)
    return causal_linear_attention(phi_q, phi_k, value, chunk_size)


def causal_linear_attention(phi_q, phi_k, value, chunk_size: int):
    """Causal linear attention by chunks (module docstring); shapes as :func:`linear_attention`."""
    length, c = tf.shape(phi_q)[1], chunk_size
    chunks = (length + c - 1) // c
    pad = chunks * c - length

    def split(x):  # [B, L, H, *] -> [B, n, c, H, *], zero rows in front
        x = tf.pad(x, [[0, 0], [pad, 0], [0, 0], [0, 0]])
        return tf.reshape(x, tf.concat([[tf.shape(x)[0], chunks, c], tf.shape(x)[2:]], 0))

    q, k, v = split(phi_q), split(phi_k), split(value)
    # everything before each chunk: exclusive running sums of the chunks' states [B, n, H, m, Dh] and key sums
    state = tf.cumsum(tf.einsum("bnchm,bnchd->bnhmd", k, v), axis=1, exclusive=True)
    key_sum = tf.cumsum(tf.reduce_sum(k, axis=2), axis=1, exclusive=True)  # [B, n, H, m]
    numerator = tf.einsum("bnchm,bnhmd->bnchd", q, state)
    denominator = tf.einsum("bnchm,bnhm->bnch", q, key_sum)
    # inside each chunk: the [c, c] scores up to the diagonal
    scores = tf.einsum("bnqhm,bnkhm->bnhqk", q, k) * tf.linalg.band_part(tf.ones([c, c], q.dtype), -1, 0)
    numerator += tf.einsum("bnhqk,bnkhd->bnqhd", scores, v)
    denominator += tf.transpose(tf.reduce_sum(scores, axis=-1), [0, 1, 3, 2])  # [B, n, c, H]
    out = numerator / (denominator[..., tf.newaxis] + EPSILON)
    out = tf.reshape(out, tf.concat([[tf.shape(out)[0], chunks * c], tf.shape(out)[3:]], 0))
    return out[:, pad:]


@register_attention("linear", LinearAttentionConfig)
class LinearAttention(AttentionKernel):
    """Linear attention with the ``elu`` or ``l2`` feature map (module docstring)."""

    def features(self, x: tf.Tensor) -> tf.Tensor:
        if self.config.feature_map == "l2":
            x = tf.math.l2_normalize(x, axis=-1)
        return tf.nn.elu(x) + 1.0

    def call(self, query, key, value, padding_mask=None, attention_mask=None, positions=None, training=False):
        real = valid_keys(padding_mask, key.dtype)
        phi_k = self.features(key) * real
        return linear_attention(self.features(query), phi_k, value * real, self.causal, self.config.chunk_size), None
