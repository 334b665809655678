"""``SampledLoss``: the base of losses over each position's positive and drawn negatives.

It draws the negatives the config asks for (``num_negatives`` from ``sampler``, shared per batch, per
position or per group of positions, or the batch's other targets plus shared samples), scores them, applies
``score_activation`` and hands the :class:`Candidates` to the subclass's ``from_candidates``, which is the
loss's math (``bce``: ``softplus(-s+) + sum softplus(s-)``). A new sampled loss is one subclass with
``from_candidates`` and ``@register_loss``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import numpy as np
import tensorflow as tf

from tfseqrec.tasks import losses
from tfseqrec.tasks.loss_config import LossConfig
from tfseqrec.tasks.negatives import PopularitySampler, UniformSampler, target_probabilities
from tfseqrec.tasks.next_item_loss import NextItemLoss


class Candidates(NamedTuple):
    """One batch's scored candidates: the positive and the negatives of each of the ``N`` kept positions."""

    pos_logits: tf.Tensor  # [N] float32
    neg_logits: tf.Tensor  # [N, C] float32
    negative_mask: Optional[tf.Tensor]  # [N, C] bool (True = counts) or None (all count)
    pos_log_q: Optional[tf.Tensor]  # [N] log sampling probabilities (only with the logQ correction)
    neg_log_q: Optional[tf.Tensor]  # broadcastable to [N, C] (only with the logQ correction)
    num_drawn: Union[int, tf.Tensor]  # negatives drawn per example (gBCE's alpha)
    targets: tf.Tensor  # [N] int64 target ids of the kept positions


def make_sampler(config: LossConfig, num_items: int, item_counts: Optional[np.ndarray], seed: Optional[int]):
    """The negative sampler ``config.sampler`` names."""
    if config.sampler == "uniform":
        return UniformSampler(num_items, seed=seed)
    if item_counts is None:
        raise ValueError("LossConfig.sampler='popularity' needs item_counts (length num_items).")
    return PopularitySampler(item_counts, alpha=config.sampling_alpha, seed=seed)


class SampledLoss(NextItemLoss):
    """A loss over ``Candidates``; subclasses implement :meth:`from_candidates`.

    ``sampler`` is the negative sampler (``sample(num) -> (ids, log_q)``), made once here.
    """

    samples_negatives = True

    def __init__(
        self, config: LossConfig, num_items: int, item_counts: Optional[np.ndarray] = None, seed: Optional[int] = None
    ):
        super().__init__(config, num_items, item_counts=item_counts, seed=seed)
        self.sampler = make_sampler(config, self.num_items, item_counts, seed)
        self._target_probs = None  # [V] float64 p_i for the logQ correction of the batch's targets
        if config.batch_targets_as_negatives and config.effective_logq_correction and item_counts is not None:
            self._target_probs = target_probabilities(item_counts)

    def from_candidates(self, candidates: Candidates) -> tf.Tensor:
        """Losses ``[N]`` float32 from the candidates' logits (after ``score_activation``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement from_candidates")

    def per_example(self, queries, targets, item_embeddings, item_bias=None):
        config = self.config
        if config.batch_targets_as_negatives:
            candidates = self._batch_target_candidates(queries, targets, item_embeddings, item_bias)
        else:
            candidates = self._sampled_candidates(queries, targets, item_embeddings, item_bias)
        pos_logits = losses.apply_score_activation(candidates.pos_logits, config.score_activation)
        neg_logits = losses.apply_score_activation(candidates.neg_logits, config.score_activation)
        return self.from_candidates(candidates._replace(pos_logits=pos_logits, neg_logits=neg_logits))

    def _sampled_candidates(self, queries, targets, item_embeddings, item_bias) -> Candidates:
        """Positive ``[N]`` and ``S`` sampled negatives per position (shared or per position)."""
        config = self.config
        num_negatives = config.effective_num_negatives
        pos_logits = tf.reduce_sum(queries * tf.gather(item_embeddings, targets), axis=-1)  # [N]
        if config.negatives_per == "batch":
            neg_ids, neg_log_q = self.sampler.sample(num_negatives)  # [S]
            neg_logits = tf.matmul(queries, tf.gather(item_embeddings, neg_ids), transpose_b=True)
            neg_ids, neg_log_q = neg_ids[None, :], neg_log_q[None, :]  # broadcast over N
        elif config.negatives_per == "group":
            neg_ids, neg_log_q, neg_logits = self._grouped_negatives(queries, item_embeddings, num_negatives)
        else:
            count = tf.shape(queries)[0]
            neg_ids, neg_log_q = self.sampler.sample(count * num_negatives)
            neg_ids = tf.reshape(neg_ids, [count, num_negatives])  # [N, S]
            neg_log_q = tf.reshape(neg_log_q, [count, num_negatives])
            neg_logits = tf.einsum("nd,nsd->ns", queries, tf.gather(item_embeddings, neg_ids))
        pos_logits, neg_logits = tf.cast(pos_logits, tf.float32), tf.cast(neg_logits, tf.float32)
        if item_bias is not None:
            item_bias = tf.cast(item_bias, tf.float32)
            pos_logits += tf.gather(item_bias, targets)
            neg_logits += tf.gather(item_bias, neg_ids)
        negative_mask = None
        if config.remove_accidental_hits:
            negative_mask = tf.not_equal(neg_ids, targets[:, None])  # [N, S]
            negative_mask = tf.broadcast_to(negative_mask, tf.shape(neg_logits))
        pos_log_q = self.sampler.log_q(targets) if config.effective_logq_correction else None
        return Candidates(pos_logits, neg_logits, negative_mask, pos_log_q, neg_log_q, num_negatives, targets)

    def _grouped_negatives(self, queries, item_embeddings, num_negatives: int):
        """Ids, log q and logits ``[N, S]`` of negatives shared by runs of ``negative_group_size`` positions."""
        size = self.config.negative_group_size
        count = tf.shape(queries)[0]
        groups = (count + size - 1) // size
        ids, log_q = self.sampler.sample(groups * num_negatives)
        ids, log_q = tf.reshape(ids, [groups, num_negatives]), tf.reshape(log_q, [groups, num_negatives])
        padded = tf.pad(queries, [[0, groups * size - count], [0, 0]])
        runs = tf.reshape(padded, [groups, size, tf.shape(queries)[1]])  # [G, size, D]
        logits = tf.einsum("gcd,gsd->gcs", runs, tf.gather(item_embeddings, ids))
        logits = tf.reshape(logits, [groups * size, num_negatives])[:count]  # [N, S]
        return tf.repeat(ids, size, axis=0)[:count], tf.repeat(log_q, size, axis=0)[:count], logits

    def _batch_target_candidates(self, queries, targets, item_embeddings, item_bias) -> Candidates:
        """GRU4Rec's candidates ``[targets (N)] + [S shared samples]``: ``[N, N + S]`` logits.

        Row ``n``'s positive is the diagonal entry (column ``n``); the negative mask is False there
        always, and, with ``remove_accidental_hits``, wherever the column's id equals row ``n``'s
        target. See ``LossConfig.batch_targets_as_negatives`` for the logQ correction.
        """
        config = self.config
        num_samples = config.effective_num_negatives
        sample_ids, _ = self.sampler.sample(num_samples)  # [S]
        candidate_ids = tf.concat([targets, sample_ids], axis=0)  # [N + S]
        logits = tf.matmul(queries, tf.gather(item_embeddings, candidate_ids), transpose_b=True)
        logits = tf.cast(logits, tf.float32)  # [N, N + S]
        if item_bias is not None:
            logits += tf.gather(tf.cast(item_bias, tf.float32), candidate_ids)[None, :]
        pos_logits = tf.linalg.diag_part(logits)  # [N]: entry (n, n)
        count = tf.shape(targets)[0]
        rows = tf.range(count)[:, None]
        columns = tf.range(count + tf.shape(sample_ids)[0])[None, :]
        negative_mask = tf.not_equal(rows, columns)  # [N, N + S]: the own column is never a negative
        same_item = tf.equal(candidate_ids[None, :], targets[:, None])  # [N, N + S]
        if config.remove_accidental_hits:
            negative_mask = tf.logical_and(negative_mask, tf.logical_not(same_item))
        pos_log_q = neg_log_q = None
        if config.effective_logq_correction:
            # log(expected copies of each candidate id among the N + S candidates)
            if self._target_probs is not None:
                in_batch = tf.cast(count, tf.float64) * tf.gather(self._target_probs, candidate_ids)
                in_batch = tf.cast(in_batch, tf.float32)
            else:  # the observed number of batch targets equal to the id
                in_batch = tf.reduce_sum(tf.cast(same_item, tf.float32), axis=0)
            sampled = float(num_samples) * tf.exp(self.sampler.log_q(candidate_ids))
            neg_log_q = tf.math.log(in_batch + sampled)[None, :]  # [1, N + S]
            pos_log_q = neg_log_q[0, :count]  # the own column's value
        num_drawn = count - 1 + num_samples
        return Candidates(pos_logits, logits, negative_mask, pos_log_q, neg_log_q, num_drawn, targets)
