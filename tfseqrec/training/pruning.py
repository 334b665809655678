"""Magnitude pruning of the item table during training (gradual pruning, Zhu & Gupta, "To prune, or not to
prune", 2017).

The item table's matrices (``model.item_embedding``'s rank-2 weights: ``[rows, D]`` for a full table, both factors
of a low-rank one) lose their smallest-magnitude entries along a cubic schedule::

    sparsity(step) = s * (1 - (1 - p)^3),   p = clip((step - begin) / (end - begin), 0, 1)

from 0 at ``begin_epoch`` to the target ``s`` at ``end_epoch``; every ``frequency`` steps each matrix's mask is
recomputed (the ``sparsity`` share of its entries with the smallest ``|w|`` set to zero), and after every step
the mask is applied again, so that the optimizer's moments cannot bring a pruned entry back. Validation only
counts from ``end_epoch`` on (``TrainConfig.pruning``), so the restored best weights have the target sparsity.

tensorflow-model-optimization's ``prune_low_magnitude`` wraps layers of Functional / Sequential models only; the
models here are subclassed, and only one table is pruned, so the schedule is this callback. The exported table
stays dense (with zeros): its size falls when stored compressed (gzip) or sparse, not in the SavedModel's
variables; ``tfseqrec.training.pruning.table_sparsity`` measures what was reached.
"""

from __future__ import annotations

import numpy as np

import tfseqrec  # noqa: F401  (Keras 2)
import tensorflow as tf

from tfseqrec.training.config import PruningConfig


def pruned_variables(model, built: bool = True) -> list:
    """The item table's rank-2 trainable variables (``[rows, D]``, or the factors of a factorised table);
    ``built=False``: an empty list for a model not yet built instead of an error."""
    variables = [w for w in model.item_embedding.trainable_weights if len(w.shape) == 2]
    if not variables and built:
        raise ValueError(f"pruning: the item table of {type(model).__name__} has no matrix to prune")
    return variables


def sparsity_at(config: PruningConfig, step: int, steps_per_epoch: int) -> float:
    """The schedule's sparsity after ``step`` optimizer steps (module docstring)."""
    begin, end = config.begin_epoch * steps_per_epoch, config.end_epoch * steps_per_epoch
    progress = 1.0 if end <= begin else min(max((step - begin) / (end - begin), 0.0), 1.0)
    return float(config.sparsity) * (1.0 - (1.0 - progress) ** 3)


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """``1.0`` where an entry is kept, ``0.0`` for the ``round(sparsity * size)`` entries of smallest ``|w|``
    (ties broken by position, so exactly that many are pruned)."""
    pruned = int(round(sparsity * weights.size))
    mask = np.ones(weights.size, dtype=weights.dtype)
    if pruned:
        order = np.argsort(np.abs(weights).reshape(-1), kind="stable")
        mask[order[:pruned]] = 0.0
    return mask.reshape(weights.shape)


def table_sparsity(model) -> float:
    """The share of zero entries over the item table's matrices."""
    variables = [v.numpy() for v in pruned_variables(model)]
    return float(sum((v == 0).sum() for v in variables) / sum(v.size for v in variables))


class MagnitudePruning(tf.keras.callbacks.Callback):
    """Prunes ``model``'s item table along ``config``'s schedule (module docstring); ``steps_per_epoch`` turns the
    schedule's epochs into optimizer steps."""

    def __init__(self, config: PruningConfig, steps_per_epoch: int):
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(f"pruning needs the steps per epoch (got {steps_per_epoch})")
        self.config, self.steps_per_epoch = config, int(steps_per_epoch)
        self.masks: list = []
        self.sparsity = 0.0
        self._updated_at = None

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def _update_masks(self, step: int) -> None:
        self.sparsity = sparsity_at(self.config, step, self.steps_per_epoch)
        # tensors made once per update, not converted from numpy at every step
        self.masks = [tf.constant(magnitude_mask(v.numpy(), self.sparsity)) for v in pruned_variables(self.model)]
        self._updated_at = step

    def _apply(self) -> None:
        if self.sparsity == 0.0:  # before the ramp every mask is all ones
            return
        for variable, mask in zip(pruned_variables(self.model), self.masks):
            variable.assign(variable * mask)

    def on_train_begin(self, logs=None):
        # A resumed run's weights already hold their zeros: the smallest magnitudes give the same mask back. A
        # model built by its first batch gets its mask after that batch.
        if pruned_variables(self.model, built=False):
            self._update_masks(self._step())
            self._apply()

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if self._updated_at is None:
            self._update_masks(step)
        begin, end = self.config.begin_epoch * self.steps_per_epoch, self.config.end_epoch * self.steps_per_epoch
        due = step - self._updated_at >= self.config.frequency or step >= end
        if begin <= step and self.sparsity < self.config.sparsity and due:
            self._update_masks(step)
        self._apply()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["item_table_sparsity"] = self.sparsity
