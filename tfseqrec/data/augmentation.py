"""Sequence augmentations of CL4SRec (Xie et al., ICDE 2022): crop, mask and reorder.

In-graph, batched TensorFlow ops on **left-padded** ``[B, L]`` integer id tensors (``0`` = padding,
as in :mod:`tfseqrec.data.spec`): no Python loop over sequences, so they run inside ``tf.function``
/ ``model.fit`` on a whole batch at once. Every op

* returns a tensor of the input's shape and dtype, still left-padded (real items in the last columns);
* never turns padding into an item: only the ``n`` real items of a row (its non-padding ids) are used;
* keeps at least one real, unmasked item in every row that has one (an all-padding row stays as it is);
* draws its randomness from ``tf.random.stateless_*`` ops with the given ``seed`` (a Python int or a
  shape-``[2]`` int tensor, e.g. a column of ``tf.random.Generator.make_seeds()``): the same ids and
  seed give the same output, in eager and graph mode alike.

With ``n`` the number of real items of a row (lengths use ``floor`` as in the paper, computed in float64,
so ``floor(0.6 * 5) == 3``):

* :func:`item_crop`: keeps a random contiguous sub-sequence of ``max(1, floor(eta * n))`` items (start
  uniform over the ``n - k + 1`` possible ones), moved to the right end (left padding);
* :func:`item_mask`: replaces ``min(floor(gamma * n), n - 1)`` distinct real items, chosen uniformly,
  with ``mask_token_id``; positions do not move;
* :func:`item_reorder`: shuffles (uniform permutation) a random contiguous window of
  ``floor(beta * n)`` items; items outside the window and the padding do not move;
* :func:`random_augmentation`: one of the enabled operations per row, chosen uniformly and independently
  per row (CL4SRec samples the two views' operators ``a_i, a_j`` independently from the set ``A``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple, Union

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfseqrec.ids import PAD_ID

OPERATIONS = ("crop", "mask", "reorder")

SeedLike = Union[int, Sequence[int], tf.Tensor]


def check_ratios(
    crop_eta: float, mask_gamma: float, reorder_beta: float, operations: Sequence[str] = OPERATIONS
) -> None:
    """Raises ``ValueError`` unless ``0 < eta <= 1``, ``0 <= gamma <= 1``, ``0 <= beta <= 1`` and
    ``operations`` is a non-empty, duplicate-free subset of :data:`OPERATIONS`."""
    for name, value, low_open in (
        ("crop_eta", crop_eta, True),
        ("mask_gamma", mask_gamma, False),
        ("reorder_beta", reorder_beta, False),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not ((0.0 < value) if low_open else (0.0 <= value)) or value > 1.0:
            interval = "(0, 1]" if low_open else "[0, 1]"
            raise ValueError(f"{name}={value} must be in {interval}")
    operations = tuple(operations)
    unknown = [op for op in operations if op not in OPERATIONS]
    if not operations or unknown or len(set(operations)) != len(operations):
        raise ValueError(
            f"augmentation operations must be a non-empty subset of {OPERATIONS} without repeats, got {operations!r}"
        )


@dataclasses.dataclass(frozen=True)
class AugmentationConfig:
    """What :func:`random_augmentation` may do.

    ``mask_token_id``: the id written by ``item_mask`` (CL4SRec: ``V``, one row past the catalogue).
    ``crop_eta`` / ``mask_gamma`` / ``reorder_beta``: the paper's ratios eta, gamma, beta; the defaults
    0.6 / 0.3 / 0.6 are those of the common CL4SRec reimplementations (the paper tunes each ratio per data
    set on a 0.1 - 0.9 grid). ``operations``: the set ``A`` to draw from.
    """

    mask_token_id: int
    crop_eta: float = 0.6
    mask_gamma: float = 0.3
    reorder_beta: float = 0.6
    operations: Tuple[str, ...] = OPERATIONS

    def __post_init__(self):
        if (
            isinstance(self.mask_token_id, bool)
            or not isinstance(self.mask_token_id, int)
            or self.mask_token_id == PAD_ID
        ):
            raise ValueError(
                f"mask_token_id must be an int other than the padding id {PAD_ID}, got {self.mask_token_id!r}"
            )
        object.__setattr__(self, "operations", tuple(self.operations))
        check_ratios(self.crop_eta, self.mask_gamma, self.reorder_beta, self.operations)


# -- helpers ---------------------------------------------------------------------------------------
def as_seed(seed: SeedLike) -> tf.Tensor:
    """A shape-``[2]`` int64 seed for ``tf.random.stateless_*`` from an int or a pair."""
    if isinstance(seed, int) and not isinstance(seed, bool):
        return tf.constant([0, seed], tf.int64)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    seed.shape.assert_is_compatible_with([2])
    return seed


def _split(seed: SeedLike, num: int) -> tf.Tensor:
    """``[num, 2]`` independent seeds derived from ``seed``."""
    return tf.random.experimental.stateless_split(as_seed(seed), num=num)


def _check_ids(ids) -> tf.Tensor:
    ids = tf.convert_to_tensor(ids)
    if ids.shape.rank is not None and ids.shape.rank != 2:
        raise ValueError(f"item ids must be a [batch, length] tensor, got shape {ids.shape}")
    if not ids.dtype.is_integer:
        raise TypeError(f"item ids must be integers, got {ids.dtype}")
    return ids


def sequence_lengths(ids: tf.Tensor) -> tf.Tensor:
    """``[B]`` int32: the number of non-padding ids of each row."""
    return tf.reduce_sum(tf.cast(tf.not_equal(ids, tf.cast(PAD_ID, ids.dtype)), tf.int32), axis=1)


def _floor_ratio(lengths: tf.Tensor, ratio: float) -> tf.Tensor:
    """``floor(ratio * n)`` per row, in float64 (as Python's ``math.floor(ratio * n)``)."""
    return tf.cast(tf.floor(tf.cast(lengths, tf.float64) * float(ratio)), tf.int32)


def _random_start(lengths: tf.Tensor, window: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """``[B]`` int32 start (relative to the first real item), uniform in ``[0, n - window]``."""
    u = tf.random.stateless_uniform(tf.shape(lengths), seed, dtype=tf.float64)
    room = lengths - window  # >= 0
    start = tf.cast(tf.floor(u * tf.cast(room + 1, tf.float64)), tf.int32)
    return tf.minimum(start, room)


# -- the three operations --------------------------------------------------------------------------
def item_crop(ids, eta: float, seed: SeedLike) -> tf.Tensor:
    """Keeps a random contiguous run of ``max(1, floor(eta * n))`` items, left-padded again.

    ``ids``: ``[B, L]`` left-padded ids; ``eta`` in ``(0, 1]`` (1 = identity).
    """
    check_ratios(eta, 0.0, 0.0)
    ids = _check_ids(ids)
    lengths = sequence_lengths(ids)
    width = tf.shape(ids)[1]
    keep = tf.minimum(tf.maximum(_floor_ratio(lengths, eta), 1), lengths)  # 0 only for empty rows
    start = _random_start(lengths, keep, as_seed(seed))
    columns = tf.range(width)[tf.newaxis, :]  # [1, L]
    # Output column j >= L - k holds relative item start + j - (L - k), i.e. input column
    # (L - n) + start + j - (L - k).
    source = columns - lengths[:, tf.newaxis] + start[:, tf.newaxis] + keep[:, tf.newaxis]
    gathered = tf.gather(ids, tf.clip_by_value(source, 0, width - 1), batch_dims=1)
    is_kept = columns >= (width - keep)[:, tf.newaxis]
    return tf.where(is_kept, gathered, tf.zeros_like(ids) + tf.cast(PAD_ID, ids.dtype))


def item_mask(ids, gamma: float, mask_token_id: int, seed: SeedLike) -> tf.Tensor:
    """Replaces ``min(floor(gamma * n), n - 1)`` distinct random real items by ``mask_token_id``.

    ``ids``: ``[B, L]`` left-padded ids; ``gamma`` in ``[0, 1]``. Positions and padding are unchanged.
    """
    check_ratios(1.0, gamma, 0.0)
    ids = _check_ids(ids)
    lengths = sequence_lengths(ids)
    num_masked = tf.maximum(tf.minimum(_floor_ratio(lengths, gamma), lengths - 1), 0)
    is_item = tf.not_equal(ids, tf.cast(PAD_ID, ids.dtype))
    keys = tf.random.stateless_uniform(tf.shape(ids), as_seed(seed), dtype=tf.float32)
    keys = tf.where(is_item, keys, 2.0)  # padding sorts after every real item
    # rank of each column in its row's random order; the real items take ranks 0 .. n-1
    rank = tf.argsort(tf.argsort(keys, axis=1, stable=True), axis=1, stable=True)
    masked = rank < num_masked[:, tf.newaxis]
    return tf.where(masked, tf.cast(mask_token_id, ids.dtype), ids)


def item_reorder(ids, beta: float, seed: SeedLike) -> tf.Tensor:
    """Shuffles a random contiguous window of ``floor(beta * n)`` items in place.

    ``ids``: ``[B, L]`` left-padded ids; ``beta`` in ``[0, 1]`` (windows of 0 or 1 item: identity).
    """
    check_ratios(1.0, 0.0, beta)
    ids = _check_ids(ids)
    lengths = sequence_lengths(ids)
    width = tf.shape(ids)[1]
    start_seed, order_seed = tf.unstack(_split(seed, 2))
    window = tf.minimum(_floor_ratio(lengths, beta), lengths)
    first = width - lengths + _random_start(lengths, window, start_seed)  # absolute column, [B]
    columns = tf.range(width)[tf.newaxis, :]
    inside = tf.logical_and(columns >= first[:, tf.newaxis], columns < (first + window)[:, tf.newaxis])
    # Sort keys: a column outside the window keeps its index; every column inside gets
    # first + U[0, 1), so the window's items are permuted uniformly among the window's columns.
    noise = tf.random.stateless_uniform(tf.shape(ids), order_seed, dtype=tf.float64)
    keys = tf.where(
        inside, tf.cast(first, tf.float64)[:, tf.newaxis] + noise, tf.cast(columns, tf.float64) + tf.zeros_like(noise)
    )
    order = tf.argsort(keys, axis=1, stable=True)
    return tf.gather(ids, order, batch_dims=1)


def random_augmentation(ids, config: AugmentationConfig, seed: SeedLike) -> tf.Tensor:
    """One of ``config.operations`` per row, drawn uniformly and independently for each row.

    All enabled operations run on the whole batch (cheap element-wise / sort ops) and each row takes the
    result of its own draw. Returns ``[B, L]`` like ``ids``.
    """
    if not isinstance(config, AugmentationConfig):
        raise TypeError(f"config must be an AugmentationConfig, got {type(config).__name__}")
    ids = _check_ids(ids)
    seeds = _split(seed, 1 + len(OPERATIONS))
    candidates = []
    for op in config.operations:
        op_seed = seeds[1 + OPERATIONS.index(op)]
        if op == "crop":
            candidates.append(item_crop(ids, config.crop_eta, op_seed))
        elif op == "mask":
            candidates.append(item_mask(ids, config.mask_gamma, config.mask_token_id, op_seed))
        else:
            candidates.append(item_reorder(ids, config.reorder_beta, op_seed))
    if len(candidates) == 1:
        return candidates[0]
    choice = tf.random.stateless_uniform(tf.shape(ids)[:1], seeds[0], minval=0, maxval=len(candidates), dtype=tf.int32)
    return tf.gather(tf.stack(candidates, axis=1), choice, batch_dims=1)  # [B, K, L] -> [B, L]


__all__ = [
    "OPERATIONS",
    "AugmentationConfig",
    "check_ratios",
    "as_seed",
    "sequence_lengths",
    "item_crop",
    "item_mask",
    "item_reorder",
    "random_augmentation",
]
