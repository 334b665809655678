"""Batched full-ranking in TensorFlow: exclusion masks, conservative ranks and positions, top-K lists.

The same rules as :mod:`tfseqrec.evaluation.metrics` (``B`` = batch, ``V`` = vocabulary size):
PAD (0) and OOV (1) are never candidates, excluded items don't compete, the targets are never
excluded, and ties count against the model. Exclusions are applied by masking the comparison
counts, not by setting scores to ``-inf``, so a model that scores some items ``-inf`` is still
ranked correctly (a ``-inf`` target ties with every ``-inf`` candidate). NaN scores fail an assertion.
"""

from __future__ import annotations

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID

__all__ = ["exclusion_mask", "conservative_ranks", "target_positions", "masked_top_k"]


def _special_columns(vocab_size) -> tf.Tensor:
    """bool ``[1, V]``: True at PAD and OOV."""
    return (tf.range(vocab_size) < FIRST_ITEM_ID)[None, :]


def _check_scores(scores: tf.Tensor) -> tf.Tensor:
    scores = tf.convert_to_tensor(scores)
    if scores.dtype not in (tf.float32, tf.float64):
        scores = tf.cast(scores, tf.float32)
    tf.debugging.assert_rank(scores, 2, message="scores must be [B, V]")
    tf.debugging.Assert(tf.logical_not(tf.reduce_any(tf.math.is_nan(scores))), ["scores contain NaN"])
    return scores


def exclusion_mask(history: tf.Tensor, vocab_size: int, filter_seen: bool) -> tf.Tensor:
    """bool ``[B, V]``: PAD and OOV, plus every id in ``history`` (int ``[B, L]``, padded with 0) when
    ``filter_seen``. Ids ``>= V`` in the history are ignored."""
    history = tf.convert_to_tensor(history)
    batch = tf.shape(history)[0]
    special = tf.tile(_special_columns(vocab_size), [batch, 1])
    if not filter_seen:
        return special
    seen = (
        tf.math.bincount(
            tf.cast(history, tf.int32), minlength=vocab_size, maxlength=vocab_size, axis=-1, dtype=tf.int32
        )
        > 0
    )
    return seen | special


def _check_targets(targets: tf.Tensor, vocab_size, allow_padding: bool) -> tf.Tensor:
    targets = tf.cast(targets, tf.int64)
    real = (targets >= FIRST_ITEM_ID) & (targets < tf.cast(vocab_size, tf.int64))
    if allow_padding:
        real = real | tf.equal(targets, 0)
    tf.debugging.Assert(
        tf.reduce_all(real),
        ["targets must be real item ids in [2, V) (0 = padding in target lists); got", targets],
        summarize=20,
    )
    return targets


def _candidates(exclude_mask: tf.Tensor, targets_2d: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """bool ``[B, V]``: not excluded, PAD/OOV removed, valid targets put back."""
    vocab_size = tf.shape(exclude_mask)[1]
    excl = tf.convert_to_tensor(exclude_mask, tf.bool) | _special_columns(vocab_size)
    idx = tf.where(valid)  # [n, 2]: (row, column of targets_2d)
    cols = tf.gather_nd(targets_2d, idx)
    excl = tf.tensor_scatter_nd_update(excl, tf.stack([idx[:, 0], cols], axis=1), tf.zeros_like(cols, dtype=tf.bool))
    return tf.logical_not(excl)


def _count_at_least(scores: tf.Tensor, candidates: tf.Tensor, thresholds: tf.Tensor) -> tf.Tensor:
    """int32 ``[B]``: candidates whose score is ``>= thresholds`` (float ``[B]``)."""
    return tf.reduce_sum(tf.cast((scores >= thresholds[:, None]) & candidates, tf.int32), axis=1)


def conservative_ranks(scores: tf.Tensor, targets: tf.Tensor, exclude_mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Conservative ranks of single targets.

    Args:
      scores: float ``[B, V]``.
      targets: int ``[B]`` in ``[2, V)``.
      exclude_mask: bool ``[B, V]`` (True = not a candidate); PAD/OOV are added, the target removed.

    Returns:
      ``(ranks, num_candidates)``, int32 ``[B]`` each: ``1 + #{other candidates with score >= the
      target's}``, and the candidates per row including the target.
    """
    scores = _check_scores(scores)
    targets = _check_targets(targets, tf.shape(scores)[1], allow_padding=False)
    candidates = _candidates(exclude_mask, targets[:, None], tf.ones_like(targets[:, None], dtype=tf.bool))
    target_scores = tf.gather(scores, targets, batch_dims=1)
    ranks = _count_at_least(scores, candidates, target_scores)  # Counts the target itself.
    return ranks, tf.reduce_sum(tf.cast(candidates, tf.int32), axis=1)


def target_positions(scores: tf.Tensor, targets: tf.Tensor, exclude_mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Conservative positions of several targets per row.

    The ranked list orders candidates by score, and within a tie puts the non-targets first (ties
    count against the model); tied targets follow their order in ``targets``. So the position of
    target ``t`` is ``1 + #{non-target candidates with score >= s_t} + #{targets above t}``. With one
    target it equals :func:`conservative_ranks`.

    Args:
      scores: float ``[B, V]``.
      targets: int ``[B, T]`` in ``[2, V)``, padded with 0; a repeated id counts once (its later copies
        are treated as padding).
      exclude_mask: bool ``[B, V]``.

    Returns:
      ``(positions, num_candidates)``: int32 ``[B, T]`` (0 at padding and repeats) and int32 ``[B]``
      (candidates including the targets).
    """
    scores = _check_scores(scores)
    targets = _check_targets(targets, tf.shape(scores)[1], allow_padding=True)
    num_t = tf.shape(targets)[1]
    same = tf.equal(targets[:, :, None], targets[:, None, :])  # [B, T, T]
    earlier = tf.linalg.band_part(tf.ones([num_t, num_t], tf.bool), -1, 0) & ~tf.eye(num_t, dtype=tf.bool)
    repeated = tf.reduce_any(same & earlier[None], axis=2)  # [B, T]
    valid = (targets > 0) & ~repeated
    candidates = _candidates(exclude_mask, targets, valid)
    target_scores = tf.gather(scores, targets, batch_dims=1)  # [B, T]

    # Candidates (targets included) scoring >= each target, one target column at a time: [B, T].
    at_least = tf.transpose(
        tf.map_fn(
            lambda s: _count_at_least(scores, candidates, s), tf.transpose(target_scores), fn_output_signature=tf.int32
        )
    )
    s_t = target_scores[:, :, None]  # this target
    s_u = target_scores[:, None, :]  # the others
    valid_u = valid[:, None, :]
    targets_at_least = tf.reduce_sum(tf.cast((s_u >= s_t) & valid_u, tf.int32), axis=2)  # Includes t itself.
    before = (s_u > s_t) | ((s_u == s_t) & earlier[None])  # [B, t, u]: u ahead of t in the list
    targets_above = tf.reduce_sum(tf.cast(before & valid_u, tf.int32), axis=2)
    positions = 1 + (at_least - targets_at_least) + targets_above
    return tf.where(valid, positions, 0), tf.reduce_sum(tf.cast(candidates, tf.int32), axis=1)


def masked_top_k(scores: tf.Tensor, exclude_mask: tf.Tensor, k: int) -> tf.Tensor:
    """Top-k candidate ids: int64 ``[B, k]``, best first (``tf.math.top_k``; ties go to the lower id).

    Excluded ids (and PAD/OOV) are never returned; when a row has fewer than k candidates the empty
    slots hold 0 (PAD). The list does not depend on any target.
    """
    scores = _check_scores(scores)
    excl = tf.convert_to_tensor(exclude_mask, tf.bool) | _special_columns(tf.shape(scores)[1])
    masked = tf.where(excl, tf.constant(float("-inf"), scores.dtype), scores)
    _, ids = tf.math.top_k(masked, k=k, sorted=True)
    picked_excluded = tf.gather(excl, ids, batch_dims=1)
    return tf.where(picked_excluded, tf.zeros_like(ids), ids)
