"""Training tasks: the next-item loss (selected by :class:`LossConfig`), its losses and samplers.

Importing this package imports TensorFlow; import ``tfseqrec`` first (it selects Keras 2).
"""
import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

from tfseqrec.tasks import losses
from tfseqrec.tasks.negatives import PopularitySampler, UniformSampler
from tfseqrec.tasks.next_item import DEFAULT_NUM_NEGATIVES, LOSS_NAMES, LossConfig, NextItemTask

__all__ = ["losses", "LossConfig", "NextItemTask", "UniformSampler", "PopularitySampler",
           "LOSS_NAMES", "DEFAULT_NUM_NEGATIVES"]
