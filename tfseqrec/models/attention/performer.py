"""``performer``: FAVOR+ (Choromanski et al., ICLR 2021), softmax attention approximated with positive random
features, then computed as linear attention (``linear.linear_attention``), ``O(L * m)``.

``phi(x) = exp(W x' - ||x'||^2 / 2) / sqrt(m)`` with ``x' = x / Dh^(1/4)`` and ``W [m, Dh]`` orthogonal Gaussian
rows (blocks of ``Dh`` orthogonal rows, scaled to Gaussian norms), drawn once from ``seed`` and kept in the model
(a non-trainable weight, so checkpoints and exports carry the same features). ``E[phi(q) . phi(k)] =
exp(q . k / sqrt(Dh))``. Queries subtract their row's largest exponent (a constant per query, which cancels
between the numerator and the normaliser); keys subtract nothing: a shift taken over a sequence's keys would let
a causal query's features depend on later keys, and ``w . x - ||x||^2 / 2 <= ||w||^2 / 2`` bounds them anyway.
The features and their sums are computed in float32 whatever the compute dtype.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.attention.base import AttentionKernel, valid_keys
from tfseqrec.models.attention.config import AttentionConfig, check_int
from tfseqrec.models.attention.linear import linear_attention
from tfseqrec.models.attention.registry import register_attention


@dataclasses.dataclass(frozen=True)
class PerformerConfig(AttentionConfig):
    """``num_features``: random features ``m``; ``chunk_size``: positions per causal chunk; ``seed``: the draw."""

    name: str = "performer"
    num_features: int = 64
    chunk_size: int = 64
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        check_int(self.name, "num_features", self.num_features, 1)
        check_int(self.name, "chunk_size", self.chunk_size, 1)


def orthogonal_gaussian(num_features: int, dim: int, seed: int) -> np.ndarray:
    """``[m, d]``: stacked blocks of ``d`` orthogonal rows, each row rescaled to the norm of a Gaussian vector."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range((num_features + dim - 1) // dim):
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        blocks.append((q * np.sign(np.diag(r))).T)  # the signs make q uniform (Haar), so rows are unbiased
    rows = np.concatenate(blocks)[:num_features]
    norms = np.linalg.norm(rng.standard_normal((num_features, dim)), axis=1)
    return (rows * norms[:, None]).astype(np.float32)


@register_attention("performer", PerformerConfig)
class PerformerAttention(AttentionKernel):
    """FAVOR+ attention (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        m, d = self.config.num_features, self.head_dim
        matrix = orthogonal_gaussian(m, d, self.config.seed)
        self.projection = self.add_weight(
            name="projection", shape=[m, d], trainable=False, initializer=tf.constant_initializer(matrix)
        )

    def features(self, x: tf.Tensor, shift: bool) -> tf.Tensor:
        """``[B, L, H, m]`` positive float32 features of ``x [B, L, H, Dh]``; ``shift``: subtract each row's largest
        exponent (queries)."""
        x = tf.cast(x, tf.float32) * float(self.head_dim) ** -0.25
        projected = tf.einsum("blhd,md->blhm", x, self.projection)
        projected -= tf.reduce_sum(tf.square(x), axis=-1, keepdims=True) / 2.0
        if shift:
            projected -= tf.stop_gradient(tf.reduce_max(projected, axis=-1, keepdims=True))
        return tf.exp(projected) / float(self.config.num_features) ** 0.5

    def call(self, query, key, value, padding_mask=None, attention_mask=None, positions=None, training=False):
        real = valid_keys(padding_mask, tf.float32)
        phi_k = self.features(key, shift=False) * real
        values = tf.cast(value, tf.float32) * real
        out = linear_attention(self.features(query, shift=True), phi_k, values, self.causal, self.config.chunk_size)
        return tf.cast(out, query.dtype), None
