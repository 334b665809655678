"""Contrastive (InfoNCE / NT-Xent) loss between two views of each sequence, as in CL4SRec.

For a batch of ``B`` sequences with two augmented views each, the ``2B`` representations
``z = [a_1 .. a_B, b_1 .. b_B]`` are compared pairwise; for the anchor ``a_u`` the positive is
``b_u`` and the negatives are the other ``2B - 2`` views of the batch (Xie et al., ICDE 2022, eq. 4;
SimCLR's NT-Xent, Chen et al. 2020):

    loss(a_u, b_u) = -log  exp(sim(a_u, b_u) / tau)
                           / (exp(sim(a_u, b_u) / tau) + sum_{z != a_u, b_u} exp(sim(a_u, z) / tau))

The loss is the mean of this over all ``2B`` anchors (each view is once the anchor). ``sim`` is the dot
product (the paper's choice) or the cosine; ``tau`` is a temperature (the paper has none, i.e. 1).
"""

from __future__ import annotations

from typing import Any, Dict

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfseqrec.tasks import losses
from tfseqrec.tasks.replicas import global_mean

SIMILARITIES = ("dot", "cosine")


class InfoNCE(tf.keras.layers.Layer):
    """NT-Xent over two views with in-batch negatives.

    Args:
      temperature: ``tau > 0``; logits are ``sim / tau``.
      similarity: ``"dot"`` or ``"cosine"`` (L2-normalised dot product).

    Call:
      ``layer(view_a, view_b, mask=None)`` -> scalar float32.

      * ``view_a``, ``view_b``: ``[B, D]`` representations of the two views; row ``u`` of both come from
        the same sequence.
      * ``mask``: optional ``[B]`` bool; a False row (e.g. an all-padding sequence) is neither an anchor
        nor a negative. The loss is the mean over the kept anchors (0 when there are none).
    """

    def __init__(self, temperature: float = 1.0, similarity: str = "dot", **kwargs):
        super().__init__(**kwargs)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        self.temperature = float(temperature)
        self.similarity = similarity

    def logits(self, view_a, view_b) -> tf.Tensor:
        """``[2B, 2B]`` float32 ``sim(z_i, z_j) / tau`` for ``z = concat([view_a, view_b])``."""
        z = tf.concat([tf.cast(view_a, tf.float32), tf.cast(view_b, tf.float32)], axis=0)
        if self.similarity == "cosine":
            z = tf.math.l2_normalize(z, axis=-1)
        return tf.matmul(z, z, transpose_b=True) / self.temperature

    def per_anchor_loss(self, view_a, view_b, mask=None) -> tf.Tensor:
        """``[2B]`` float32 losses, anchors ``a_1 .. a_B, b_1 .. b_B`` (masked anchors included, as 0)."""
        view_a, view_b = tf.convert_to_tensor(view_a), tf.convert_to_tensor(view_b)
        if view_a.shape.rank is not None and view_a.shape.rank != 2:
            raise ValueError(f"views must be [batch, dim], got {view_a.shape}")
        view_a.shape.assert_is_compatible_with(view_b.shape)
        batch = tf.shape(view_a)[0]
        logits = self.logits(view_a, view_b)
        index = tf.range(2 * batch)
        labels = tf.math.floormod(index + batch, 2 * batch)  # a_u <-> b_u
        valid = tf.ones([batch], tf.bool) if mask is None else tf.cast(mask, tf.bool)
        valid = tf.concat([valid, valid], axis=0)  # [2B]
        # a view is never its own negative; masked rows are never negatives
        allowed = tf.logical_and(tf.not_equal(index[:, tf.newaxis], index[tf.newaxis, :]), valid[tf.newaxis, :])
        logits = tf.where(allowed, logits, losses.MASKED_LOGIT)
        per_anchor = losses.softmax_cross_entropy(logits, labels)
        return tf.where(valid, per_anchor, 0.0)

    def call(self, view_a, view_b, mask=None):
        per_anchor = self.per_anchor_loss(view_a, view_b, mask)
        count = (
            2.0 * tf.reduce_sum(tf.cast(mask, tf.float32))
            if mask is not None
            else tf.cast(tf.size(per_anchor), tf.float32)
        )
        return global_mean(tf.reduce_sum(per_anchor), count)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature, "similarity": self.similarity}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "InfoNCE":
        return cls(**config)


__all__ = ["InfoNCE", "SIMILARITIES"]
