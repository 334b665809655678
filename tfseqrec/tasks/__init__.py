"""Training tasks: the next-item task, its losses (a registry of ``NextItemLoss`` classes, selected by
:class:`LossConfig`), their math and negative samplers.

Importing this package imports TensorFlow; import ``tfseqrec`` first (it selects Keras 2).
"""

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

from tfseqrec.tasks import losses
from tfseqrec.tasks.loss_config import DEFAULT_NUM_NEGATIVES, LossConfig
from tfseqrec.tasks.negatives import PopularitySampler, UniformSampler
from tfseqrec.tasks.next_item import NextItemTask
from tfseqrec.tasks.next_item_loss import NextItemLoss
from tfseqrec.tasks.registry import available_losses, get_loss_class, register_loss
from tfseqrec.tasks.sampled import Candidates, SampledLoss

__all__ = [
    "losses",
    "LossConfig",
    "NextItemTask",
    "NextItemLoss",
    "SampledLoss",
    "Candidates",
    "register_loss",
    "get_loss_class",
    "available_losses",
    "UniformSampler",
    "PopularitySampler",
    "DEFAULT_NUM_NEGATIVES",
]
