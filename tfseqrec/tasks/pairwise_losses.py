"""GRU4Rec's ranking losses on sampled negatives (Hidasi & Karatzoglou, CIKM 2018): BPR-max and TOP1-max."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfseqrec.tasks import losses
from tfseqrec.tasks.loss_config import LossConfig, check_number
from tfseqrec.tasks.registry import register_loss
from tfseqrec.tasks.sampled import Candidates, SampledLoss


@dataclasses.dataclass(frozen=True)
class BPRMaxConfig(LossConfig):
    """``LossConfig`` plus BPR-max's score regularisation ``bpr_reg`` (``lambda``, >= 0). Default 1.0, the
    default ``bpreg`` of GRU4Rec's official code (its tuned parameter files use 0.9 - 1.95)."""

    bpr_reg: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_number("bpr_reg", self.bpr_reg, low=0.0)


@register_loss("bpr_max", BPRMaxConfig)
class BPRMax(SampledLoss):
    """:func:`tfseqrec.tasks.losses.bpr_max`: softmax-weighted BPR over the negatives plus ``bpr_reg``."""

    def from_candidates(self, candidates: Candidates) -> tf.Tensor:
        return losses.bpr_max(
            candidates.pos_logits, candidates.neg_logits, self.config.bpr_reg, candidates.negative_mask
        )


@register_loss("top1_max")
class TOP1Max(SampledLoss):
    """:func:`tfseqrec.tasks.losses.top1_max`: softmax-weighted TOP1 over the negatives."""

    def from_candidates(self, candidates: Candidates) -> tf.Tensor:
        return losses.top1_max(candidates.pos_logits, candidates.neg_logits, candidates.negative_mask)
