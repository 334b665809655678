"""Softmax cross-entropy losses: over the whole catalogue, over sampled candidates, over the batch's targets."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfseqrec.ids import FIRST_ITEM_ID
from tfseqrec.tasks import losses
from tfseqrec.tasks.full_softmax import full_softmax_cross_entropy
from tfseqrec.tasks.negatives import target_probabilities
from tfseqrec.tasks.next_item_loss import NextItemLoss
from tfseqrec.tasks.registry import register_loss
from tfseqrec.tasks.sampled import Candidates, SampledLoss


@register_loss("full_ce")
class FullCE(NextItemLoss):
    """Softmax over every real item (PAD and OOV get no probability); Klenitskiy & Vasilev, RecSys 2023.

    Float32 without a score activation takes :func:`full_softmax_cross_entropy` (hand-written gradient);
    mixed precision and score activations take the textbook graph.
    """

    def per_example(self, queries, targets, item_embeddings, item_bias=None):
        activation = self.config.score_activation
        if (
            queries.dtype == tf.float32
            and losses.parse_score_activation(activation) is None
            and (item_bias is None or tf.as_dtype(item_bias.dtype) == tf.float32)
        ):
            return full_softmax_cross_entropy(queries, item_embeddings, targets, item_bias)
        logits = tf.cast(tf.matmul(queries, item_embeddings, transpose_b=True), tf.float32)  # [N, V]
        if item_bias is not None:
            logits += tf.cast(item_bias, tf.float32)[None, :]
        logits = losses.apply_score_activation(logits, activation)
        is_item = tf.range(tf.shape(logits)[1]) >= FIRST_ITEM_ID  # PAD and OOV get no probability
        logits = tf.where(is_item[None, :], logits, losses.MASKED_LOGIT)
        return losses.softmax_cross_entropy(logits, targets)


@register_loss("sampled_softmax")
class SampledSoftmax(SampledLoss):
    """Softmax over ``[positive, negatives]`` with label 0 (Jean et al., ACL 2015), logQ-corrected by default."""

    uses_logq_correction = True

    def from_candidates(self, candidates: Candidates) -> tf.Tensor:
        pos_logits, neg_logits = candidates.pos_logits, candidates.neg_logits
        if self.config.effective_logq_correction:
            pos_logits = losses.logq_correction(pos_logits, candidates.pos_log_q)
            neg_logits = losses.logq_correction(neg_logits, candidates.neg_log_q)
        if candidates.negative_mask is not None:
            neg_logits = tf.where(candidates.negative_mask, neg_logits, losses.MASKED_LOGIT)
        logits = tf.concat([pos_logits[:, None], neg_logits], axis=1)  # [N, 1 + C], label 0
        return losses.softmax_cross_entropy(logits, tf.zeros_like(candidates.targets))


@register_loss("in_batch")
class InBatch(NextItemLoss):
    """Softmax over the batch's targets (row ``n``'s positive is position ``n``'s target), through
    ``tfrs.tasks.Retrieval``; the logQ correction uses :meth:`in_batch_sampling_probability`."""

    uses_logq_correction = True
    supports_score_activation = False

    def __init__(self, config, num_items, item_counts=None, seed=None):
        super().__init__(config, num_items, item_counts=item_counts, seed=seed)
        self.retrieval = tfrs.tasks.Retrieval(
            loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
            metrics=None,
            batch_metrics=None,
            remove_accidental_hits=config.remove_accidental_hits,
        )
        self._target_probs = None if item_counts is None else target_probabilities(item_counts)  # [V] float64

    def in_batch_sampling_probability(self, targets):
        """Probability that each target's item appears among the batch's ``N`` candidates, ``[N]``.

        With ``item_counts``: ``p = count / total`` (real items only) and
        ``P(in batch) = 1 - (1 - p) ** N``; without them ``p`` is the item's share of the batch's
        targets. Any constant factor cancels in the softmax.
        """
        targets = tf.cast(targets, tf.int64)
        count = tf.cast(tf.size(targets), tf.float64)
        if self._target_probs is not None:
            probs = tf.gather(self._target_probs, targets)
        else:
            _, index, counts = tf.unique_with_counts(targets)
            probs = tf.cast(tf.gather(counts, index), tf.float64) / tf.maximum(count, 1.0)
        probs = tf.minimum(probs, 1.0 - 1e-12)
        return tf.cast(-tf.math.expm1(count * tf.math.log1p(-probs)), tf.float32)

    def per_example(self, queries, targets, item_embeddings, item_bias=None):
        candidates = tf.gather(item_embeddings, targets)  # [N, D]: row n is position n's positive
        if item_bias is not None:  # q.c + b as [q, 1].[c, b]
            bias = tf.cast(tf.gather(item_bias, targets), candidates.dtype)
            queries = tf.concat([queries, tf.ones_like(queries[:, :1])], axis=1)
            candidates = tf.concat([candidates, bias[:, None]], axis=1)
        probability = None
        if self.config.effective_logq_correction:
            probability = self.in_batch_sampling_probability(targets)
        per_example = self.retrieval(
            queries,
            candidates,
            candidate_sampling_probability=probability,
            candidate_ids=targets,
            compute_metrics=False,
            compute_batch_metrics=False,
        )
        return tf.cast(per_example, tf.float32)
