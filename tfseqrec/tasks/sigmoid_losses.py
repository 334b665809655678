"""Pointwise losses on sampled negatives: BCE (SASRec) and gBCE (gSASRec), with their logit offset."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Union

import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID
from tfseqrec.tasks import losses
from tfseqrec.tasks.loss_config import LossConfig, check_number
from tfseqrec.tasks.registry import register_loss
from tfseqrec.tasks.sampled import Candidates, SampledLoss


@dataclasses.dataclass(frozen=True)
class SigmoidLossConfig(LossConfig):
    """``LossConfig`` plus the field of the sigmoid losses.

    Attributes:
      logit_offset: a constant added to every candidate logit inside the loss, ``sigmoid(score + offset)``
        being the modelled probability. ``None`` (default) = ``log(beta / S)`` (``beta`` = 1 for ``bce``,
        gBCE's ``beta`` otherwise; ``S`` negatives per example), the offset at which an untrained model's
        (all scores ~0) positive and negative gradients balance; 0 for SASRec's single negative. Why: with
        many negatives and near-zero initial scores the negatives' pull dominates, and the cheapest way to
        lower every score is one shared direction added to all item embeddings; with the small (std 0.02)
        initialisation that shared part swamps the item-specific parts and training stalls near popularity
        ranking (``benchmarks/logit_offset.sh``, SASRec on ML-100K: without the offset BCE with 32 or 256
        negatives and gBCE with 256 stayed at best validation NDCG@10 0.016 - 0.039, with it they reached
        0.088 - 0.109). A constant changes no ranking: scores, metrics and exports are unaffected.
    """

    logit_offset: Optional[float] = None

    def __post_init__(self):
        super().__post_init__()
        if self.logit_offset is not None:
            if (
                isinstance(self.logit_offset, bool)
                or not isinstance(self.logit_offset, (int, float))
                or not math.isfinite(self.logit_offset)
            ):
                raise ValueError(f"LossConfig.logit_offset must be a finite number or None, got {self.logit_offset!r}.")


@dataclasses.dataclass(frozen=True)
class GBCEConfig(SigmoidLossConfig):
    """``SigmoidLossConfig`` plus gSASRec's calibration parameter ``gbce_t`` in ``[0, 1]`` (paper default 0.75)."""

    gbce_t: float = 0.75

    def __post_init__(self):
        super().__post_init__()
        check_number("gbce_t", self.gbce_t, low=0.0, high=1.0)


class SigmoidLoss(SampledLoss):
    """A pointwise loss: a probability per candidate, so the logits' level matters; adds the logit offset."""

    def from_candidates(self, candidates: Candidates) -> tf.Tensor:
        offset = self.logit_offset(candidates.num_drawn)
        return self.sigmoid_loss(
            candidates._replace(pos_logits=candidates.pos_logits + offset, neg_logits=candidates.neg_logits + offset)
        )

    def sigmoid_loss(self, candidates: Candidates) -> tf.Tensor:
        """Losses ``[N]`` from the offset logits."""
        raise NotImplementedError

    def beta(self, num_negatives: Union[int, tf.Tensor]) -> Union[float, tf.Tensor]:
        """Weight of the positive's term (1 for BCE)."""
        return 1.0

    def logit_offset(self, num_negatives: Union[int, tf.Tensor]) -> tf.Tensor:
        """``logit_offset``, or its default ``log(beta / S)`` for ``S`` negatives (float32 scalar)."""
        if self.config.logit_offset is not None:
            return tf.constant(float(self.config.logit_offset), tf.float32)
        count = tf.maximum(tf.cast(num_negatives, tf.float32), 1.0)
        return tf.math.log(self.beta(num_negatives) / count)


@register_loss("bce", SigmoidLossConfig)
class BCE(SigmoidLoss):
    """Binary cross-entropy of the positive and each negative (SASRec: one negative per position)."""

    default_num_negatives = 1

    def sigmoid_loss(self, candidates: Candidates) -> tf.Tensor:
        return losses.binary_cross_entropy(candidates.pos_logits, candidates.neg_logits, candidates.negative_mask)


@register_loss("gbce", GBCEConfig)
class GBCE(SigmoidLoss):
    """gSASRec's generalised BCE (Petrov & Macdonald, RecSys 2023): the positive's term weighted by ``beta``."""

    def __init__(self, config, num_items, item_counts=None, seed=None):
        super().__init__(config, num_items, item_counts=item_counts, seed=seed)
        if config.effective_num_negatives > 0:  # checks S against the catalogue size now, not mid-training
            losses.gbce_beta(config.effective_num_negatives, self.catalogue_size, config.gbce_t)

    @property
    def catalogue_size(self) -> int:
        return self.num_items - FIRST_ITEM_ID

    def beta(self, num_negatives):
        return losses.gbce_beta_tensor(num_negatives, self.catalogue_size, self.config.gbce_t)

    def sigmoid_loss(self, candidates: Candidates) -> tf.Tensor:
        num_drawn = candidates.num_drawn if self.config.batch_targets_as_negatives else None
        return losses.gbce(
            candidates.pos_logits,
            candidates.neg_logits,
            self.catalogue_size,
            self.config.gbce_t,
            candidates.negative_mask,
            num_negatives=num_drawn,
        )
