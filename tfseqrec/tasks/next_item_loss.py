"""``NextItemLoss``: the contract of a registered next-item loss (``tfseqrec.tasks.registry``).

``NextItemTask`` looks its loss class up by ``LossConfig.name`` once, builds it once, and at every call hands
it the kept positions (padding, OOV and masked positions already dropped)::

    loss.per_example(queries [N, D], targets [N] int64, item_embeddings [V, D], item_bias [V] or None) -> [N]

The returned per-position losses are float32; the task averages them. Everything a loss needs besides the
batch (a sampler, a Keras layer, probabilities from ``item_counts``) is made in ``__init__``, so a training
step runs no Python beyond the loss's own graph.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfseqrec.tasks.loss_config import DEFAULT_NUM_NEGATIVES, LossConfig


class NextItemLoss:
    """Base class of the registered losses; subclass it for a loss over the whole catalogue (``full_ce``),
    or subclass :class:`tfseqrec.tasks.sampled.SampledLoss` for one over drawn negatives.

    Class attributes a loss declares (the config's validation reads them):
      name, config_class: set by ``@register_loss(name, config_class)``.
      samples_negatives: the task's negative fields (``num_negatives``, ``sampler``, ``negatives_per``,
        ``batch_targets_as_negatives``) apply; True for ``SampledLoss``.
      default_num_negatives: negatives per position when ``num_negatives`` is None.
      uses_logq_correction: ``logq_correction=True`` is allowed, and None means True.
      supports_score_activation: a ``score_activation`` other than ``"linear"`` is allowed.

    Args:
      config: the loss's config (an instance of ``config_class``).
      num_items: vocabulary size ``V`` (PAD and OOV included).
      item_counts: optional ``[V]`` float64 item frequencies (validated by the task).
      seed: optional seed for anything random (the negative sampler).
    """

    name: str = ""
    config_class: type = LossConfig
    samples_negatives = False
    default_num_negatives = DEFAULT_NUM_NEGATIVES
    uses_logq_correction = False
    supports_score_activation = True

    def __init__(
        self, config: LossConfig, num_items: int, item_counts: Optional[np.ndarray] = None, seed: Optional[int] = None
    ):
        self.config = config
        self.num_items = int(num_items)
        self.item_counts = item_counts
        self.seed = seed

    def per_example(
        self, queries: tf.Tensor, targets: tf.Tensor, item_embeddings: tf.Tensor, item_bias: Optional[tf.Tensor] = None
    ) -> tf.Tensor:
        """Losses ``[N]`` float32 of the kept positions.

        Args:
          queries: ``[N, D]`` query states (float32, or the compute dtype under mixed precision).
          targets: ``[N]`` int64 target ids, all real items (``>= FIRST_ITEM_ID``).
          item_embeddings: ``[V, D]`` output item table, in the queries' dtype.
          item_bias: optional ``[V]`` per-item logit bias.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement per_example")
