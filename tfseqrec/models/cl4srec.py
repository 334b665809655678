"""CL4SRec (Xie et al., ICDE 2022, "Contrastive Learning for Sequential Recommendation").

SASRec's encoder and next-item task, plus a contrastive term: each training sequence gets two
augmented views (crop / mask / reorder, one operator drawn per view and per sequence, see
:mod:`tfseqrec.data.augmentation`); both views are encoded by the same encoder and the states at the
last position (the sequence representations) are contrasted with InfoNCE (:class:`InfoNCE`), the
other ``2B - 2`` views of the batch being the negatives:

    loss = next-item loss (SASRec's, from the shared ``NextItemTask``) + contrastive_weight * InfoNCE

Vocabulary: ids ``0 .. V-1`` as everywhere (0 = PAD, 1 = OOV); the ``[MASK]`` token of the mask
augmentation is id ``V``, so the input embedding table has ``V + 1`` rows while the output layer (tied)
is its first ``V`` rows: scores stay ``[B, V]`` and ``[MASK]`` is never a candidate or a target.

What is augmented: the input history of each training row, ``item_ids[:, :-1]`` of the ``max_len + 1``
training window (the same input the next-item loss encodes; as in the CoSeRec / ICLRec reimplementations
of CL4SRec, which train on every position the same way). Rows without any item are left out of the
contrastive term.

Hyper-parameters (``CL4SRecConfig``): ``contrastive_weight`` (the paper's lambda, default 0.1),
``tau`` (1.0: the paper's loss has no temperature), ``similarity`` ("dot", the paper's), and the
augmentation ratios ``crop_eta`` / ``mask_gamma`` / ``reorder_beta``. The paper does not fix single
values for the ratios: it tunes each of them per data set over 0.1 - 0.9; the defaults here,
0.6 / 0.3 / 0.6, are the ones of the widely used reimplementations (RecBole / DuoRec's CL4SRec).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Optional, Tuple

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.data.augmentation import OPERATIONS, AugmentationConfig, check_ratios, random_augmentation
from tfseqrec.ids import PAD_ID
from tfseqrec.models.positions import get_position_encoding_class
from tfseqrec.models.registry import register
from tfseqrec.models.sasrec import SASRec, SASRecConfig
from tfseqrec.tasks.contrastive import SIMILARITIES, InfoNCE


@dataclasses.dataclass(frozen=True)
class CL4SRecConfig(SASRecConfig):
    """SASRec's fields plus the contrastive task.

    ``contrastive_weight``: lambda >= 0 (0 = plain SASRec training). ``tau``: InfoNCE temperature > 0.
    ``similarity``: "dot" or "cosine". ``crop_eta`` in (0, 1], ``mask_gamma`` and ``reorder_beta`` in
    [0, 1]: the augmentation ratios. ``augmentations``: the operator set ``A``.
    ``augmentation_seed``: seed of the views' random stream (None: drawn from Python's ``random``, which
    ``tf.keras.utils.set_random_seed`` seeds). ``position_encoding``: any kind that reads item ids only (the
    augmented views carry no timestamps, so ``time_interval`` is refused).
    """

    contrastive_weight: float = 0.1
    tau: float = 1.0
    similarity: str = "dot"
    crop_eta: float = 0.6
    mask_gamma: float = 0.3
    reorder_beta: float = 0.6
    augmentations: Tuple[str, ...] = OPERATIONS
    augmentation_seed: Optional[int] = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "augmentations", tuple(self.augmentations))
        if (
            isinstance(self.contrastive_weight, bool)
            or not isinstance(self.contrastive_weight, (int, float))
            or not self.contrastive_weight >= 0
        ):
            raise ValueError(f"contrastive_weight={self.contrastive_weight!r} must be a number >= 0")
        if isinstance(self.tau, bool) or not isinstance(self.tau, (int, float)) or not self.tau > 0:
            raise ValueError(f"tau={self.tau!r} must be a number > 0")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity={self.similarity!r}: use one of {SIMILARITIES}")
        check_ratios(self.crop_eta, self.mask_gamma, self.reorder_beta, self.augmentations)
        if get_position_encoding_class(self.position_encoding.name).reads_timestamps:
            raise ValueError(
                f"position_encoding {self.position_encoding.name!r} reads timestamps, which CL4SRec's augmented "
                f"views (crop / mask / reorder) do not carry: use a position encoding of item ids only"
            )
        if self.augmentation_seed is not None and (
            isinstance(self.augmentation_seed, bool) or not isinstance(self.augmentation_seed, int)
        ):
            raise ValueError(f"augmentation_seed={self.augmentation_seed!r} must be an int or None")


@register("cl4srec", CL4SRecConfig)
class CL4SRec(SASRec):
    """SASRec + InfoNCE between two augmented views of each training sequence."""

    num_extra_input_tokens = 1  # [MASK] = num_items, used by the item-mask augmentation

    def __init__(self, config: CL4SRecConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        self.augmentation = AugmentationConfig(
            mask_token_id=self.mask_token_id,
            crop_eta=config.crop_eta,
            mask_gamma=config.mask_gamma,
            reorder_beta=config.reorder_beta,
            operations=config.augmentations,
        )
        self.contrastive_task = InfoNCE(config.tau, config.similarity, name="contrastive_task")
        seed = config.augmentation_seed
        if seed is None:
            seed = random.getrandbits(31)
        self.augmentation_rng = tf.random.Generator.from_seed(seed)

    def augment(self, sequences: tf.Tensor, seed) -> Tuple[tf.Tensor, tf.Tensor]:
        """Two views ``[B, L]`` of left-padded ``sequences``, from the shape-``[2]`` ``seed``."""
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2)
        return (
            random_augmentation(sequences, self.augmentation, seeds[0]),
            random_augmentation(sequences, self.augmentation, seeds[1]),
        )

    def contrastive_loss(self, sequences: tf.Tensor, training: bool = False, seed=None) -> tf.Tensor:
        """InfoNCE between two views of each row of ``sequences [B, L]`` (at most ``max_len`` columns).

        ``seed``: shape-``[2]`` seed of the views; None draws one from ``augmentation_rng``.
        """
        sequences = self._truncate(tf.cast(sequences, tf.int64))
        if seed is None:
            seed = self.augmentation_rng.make_seeds(1)[:, 0]
        view_a, view_b = self.augment(sequences, seed)
        batch = tf.shape(sequences)[0]
        # one encoder pass over both views
        states = self.encode(tf.concat([view_a, view_b], axis=0), training=training)[:, -1, :]
        has_items = tf.reduce_any(tf.not_equal(sequences, PAD_ID), axis=1)
        return self.contrastive_task(states[:batch], states[batch:], mask=has_items)

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        """SASRec's next-item loss + ``contrastive_weight`` * InfoNCE between views of the input histories."""
        loss = super().compute_loss(inputs, training=training)
        weight = float(self.config.contrastive_weight)
        if weight == 0.0:
            return loss
        item_ids = tf.cast(inputs["item_ids"], tf.int64)[:, -(self.config.max_len + 1) :]
        return loss + weight * self.contrastive_loss(item_ids[:, :-1], training=training)
