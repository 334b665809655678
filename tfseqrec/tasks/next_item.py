"""The next-item prediction task: one Keras layer owning the training loss, chosen by config.

Models compute query states and call the task; which loss is used is a :class:`LossConfig` value, looked up
once in the loss registry (``tfseqrec.tasks.registry``) when the task is built, never model code or a branch
on the loss's name.

Item ids: 0 = PAD, 1 = OOV, real items ``2 .. V-1``. Every position whose target is a real item is
a training example; positions with target PAD (padding) or OOV (no item to predict), or masked out
by ``mask``, are dropped before any logits are computed.
"""

from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID
from tfseqrec.tasks.loss_config import LossConfig
from tfseqrec.tasks.registry import get_loss_class
from tfseqrec.tasks.replicas import global_mean


@tf.keras.utils.register_keras_serializable(package="tfseqrec")
class NextItemTask(tf.keras.layers.Layer):
    """Next-item loss over the non-padding positions of a batch (a Keras 2 layer without weights).

    Args:
      loss_config: a :class:`LossConfig` (or its ``to_dict()``).
      num_items: vocabulary size ``V`` (PAD and OOV included); the catalogue is ``V - 2`` items.
      item_counts: optional length-``V`` item frequencies (e.g. training-target counts), needed by
        ``sampler="popularity"``; for ``"in_batch"`` with logQ correction they give the sampling
        probabilities (otherwise those are estimated from the batch). Stored in ``get_config()``.
      seed: optional seed of the negative sampler, for reproducible training.

    ``loss`` is the registered loss of ``loss_config.name`` (a ``NextItemLoss``), built here once; it
    computes the kept positions' losses at every call.

    Call:
      ``task(queries, targets, item_embeddings, item_bias=None, mask=None, training=None)``
      -> scalar float32 loss, the mean over the kept positions (0 when there are none).

      * ``queries``: ``[B, L, D]`` or ``[N, D]`` query states.
      * ``targets``: ``[B, L]`` or ``[N]`` int next-item ids; ids 0 (PAD) and 1 (OOV) are dropped.
      * ``item_embeddings``: ``[V, D]`` output item embeddings (usually the tied input table).
      * ``item_bias``: optional ``[V]`` per-item logit bias.
      * ``mask``: optional ``[B, L]`` / ``[N]`` bool, False drops a position (Keras fills it from the
        queries' ``_keras_mask`` when there is one).
      * ``training``: accepted for Keras; the loss is the same in training and evaluation.

    ``LossConfig.score_activation`` (e.g. ``"elu-0.5"``) is applied to the candidate logits inside the
    loss only; ``LossConfig.batch_targets_as_negatives`` makes the other kept positions' targets
    negatives too (see :class:`LossConfig`).
    """

    def __init__(
        self,
        loss_config: Union[LossConfig, Dict[str, Any]],
        num_items: int,
        item_counts: Optional[Union[Sequence[float], np.ndarray]] = None,
        seed: Optional[int] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(loss_config, dict):
            loss_config = LossConfig.from_dict(loss_config)
        if not isinstance(loss_config, LossConfig):
            raise TypeError(f"loss_config must be a LossConfig or a dict, got {type(loss_config)}.")
        if int(num_items) <= FIRST_ITEM_ID:
            raise ValueError(f"num_items (vocabulary size V) must be > {FIRST_ITEM_ID}, got {num_items}.")
        self.loss_config = loss_config
        self.num_items = int(num_items)
        self.seed = None if seed is None else int(seed)
        self.item_counts = None
        if item_counts is not None:
            counts = np.asarray(item_counts, dtype=np.float64).reshape(-1)
            if counts.size != self.num_items:
                raise ValueError(f"item_counts must have length num_items={self.num_items}, got {counts.size}.")
            self.item_counts = counts
        self.loss = get_loss_class(loss_config.name)(
            loss_config, self.num_items, item_counts=self.item_counts, seed=self.seed
        )

    def call(self, queries, targets, item_embeddings, item_bias=None, mask=None, training=None):
        per_example = self.per_example_loss(queries, targets, item_embeddings, item_bias, mask)
        count = tf.cast(tf.size(per_example), tf.float32)
        return global_mean(tf.reduce_sum(per_example), count)  # the mean over the global batch (replicas)

    def per_example_loss(self, queries, targets, item_embeddings, item_bias=None, mask=None):
        """Losses of the kept positions, ``[N]`` float32, in row-major order of ``targets``."""
        queries, targets = self._flatten(queries, targets, mask)
        item_embeddings = tf.cast(item_embeddings, queries.dtype)
        return self.loss.per_example(queries, targets, item_embeddings, item_bias)

    @staticmethod
    def _flatten(queries, targets, mask):
        """Keeps positions with a real-item target (and ``mask`` True): ``[N, D]``, ``[N]`` int64."""
        queries = tf.convert_to_tensor(queries)
        targets = tf.cast(targets, tf.int64)
        if (
            queries.shape.rank is not None
            and targets.shape.rank is not None
            and queries.shape.rank != targets.shape.rank + 1
        ):
            raise ValueError(
                f"queries must have one more axis than targets: got queries "
                f"{queries.shape} and targets {targets.shape}."
            )
        keep = targets >= FIRST_ITEM_ID
        if mask is not None:
            keep = tf.logical_and(keep, tf.cast(mask, tf.bool))
        return tf.boolean_mask(queries, keep), tf.boolean_mask(targets, keep)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "loss_config": self.loss_config.to_dict(),
                "num_items": self.num_items,
                "item_counts": None if self.item_counts is None else self.item_counts.tolist(),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "NextItemTask":
        config = dict(config)
        config["loss_config"] = LossConfig.from_dict(config["loss_config"])
        return cls(**config)
