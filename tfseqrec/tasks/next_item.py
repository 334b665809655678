"""The next-item prediction task: one Keras layer owning the training loss, chosen by config.

Models compute query states and call the task; which loss is used (full softmax, sampled softmax,
BCE, gBCE, BPR-max, TOP1-max, in-batch softmax) is a :class:`LossConfig` value, not model code.

Item ids: 0 = PAD, 1 = OOV, real items ``2 .. V-1``. Every position whose target is a real item is
a training example; positions with target PAD (padding) or OOV (no item to predict), or masked out
by ``mask``, are dropped before any logits are computed.
"""
import dataclasses
import math
from typing import Any, Dict, NamedTuple, Optional, Sequence, Union

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfseqrec.tasks import losses
from tfseqrec.tasks.full_softmax import full_softmax_cross_entropy
from tfseqrec.tasks.negatives import PopularitySampler, UniformSampler
from tfseqrec.ids import FIRST_ITEM_ID

LOSS_NAMES = ("full_ce", "sampled_softmax", "bce", "gbce", "bpr_max", "top1_max", "in_batch")
SAMPLED_LOSSES = ("sampled_softmax", "bce", "gbce", "bpr_max", "top1_max")
LOGQ_LOSSES = ("sampled_softmax", "in_batch")
SAMPLERS = ("uniform", "popularity")
NEGATIVES_PER = ("batch", "position", "group")
DEFAULT_NUM_NEGATIVES = 256
SIGMOID_LOSSES = ("bce", "gbce")  # pointwise: a probability per candidate, so the logits' level matters
PER_LOSS_NUM_NEGATIVES = {"bce": 1}  # every other sampled loss: DEFAULT_NUM_NEGATIVES


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Which next-item loss to train with, and its negatives.

    Attributes:
      name: ``"full_ce"`` (softmax over the whole catalogue), ``"sampled_softmax"`` (softmax over
        the positive and sampled negatives), ``"bce"`` (SASRec), ``"gbce"`` (gSASRec),
        ``"bpr_max"`` / ``"top1_max"`` (GRU4Rec), ``"in_batch"`` (softmax over the batch's other
        targets, through ``tfrs.tasks.Retrieval``).
      num_negatives: negatives per position for the sampled losses; ``None`` means the per-loss
        default: 1 for ``"bce"`` (as in SASRec), ``DEFAULT_NUM_NEGATIVES`` (256) for the others.
        Must stay ``None`` for ``"full_ce"`` and ``"in_batch"``, which sample nothing.
      sampler: ``"uniform"`` over the real items or ``"popularity"`` (``count ** sampling_alpha``;
        the task then needs ``item_counts``). gBCE's calibration assumes uniform sampling.
      sampling_alpha: exponent of the popularity sampler; 0 = uniform, 1 = unigram. Default 0.75
        (word2vec; the default ``sample_alpha`` of GRU4Rec's original code).
      logq_correction: subtract the log sampling probability from candidate logits
        (``logits - log_q``, Yi et al. RecSys 2019), positives included. ``None`` = True for
        ``"sampled_softmax"`` and ``"in_batch"``, False otherwise; True is only allowed for those two.
      remove_accidental_hits: ignore a sampled (or in-batch) negative equal to the position's own
        target: its logit becomes ``losses.MASKED_LOGIT`` (softmax losses) or it is masked out of
        the sum (pointwise / pairwise losses).
      gbce_t: gSASRec calibration parameter ``t`` in ``[0, 1]`` (paper default 0.75).
      bpr_reg: score regularisation ``lambda`` of BPR-max. Default 1.0, the default ``bpreg`` of
        GRU4Rec's official code (its tuned parameter files use 0.9 - 1.95).
      negatives_per: ``"batch"``: one set of ``num_negatives`` ids shared by every position of the
        batch (GRU4Rec-style; one ``[N, D] x [D, S]`` matmul); ``"position"``: independent
        negatives for every position (SASRec-style; ``N * S`` gathered embeddings); ``"group"``: the kept
        positions, in row-major order, are cut into runs of ``negative_group_size`` and each run shares
        its own ``S`` negatives (``ceil(N / size) * S`` gathered embeddings, the matmul cost of
        ``"batch"``). With the size of a padded row (``max_len``) a run is about one sequence: ``N / size``
        times the distinct negatives of ``"batch"`` per step, without ``"position"``'s ``[N, S, D]``
        gather (1.7 GB at batch 128, length 200, S 256, d 64). Size 1 is ``"position"``, size >= N is
        ``"batch"``.
      negative_group_size: positions per run of shared negatives with ``negatives_per="group"``.
      batch_targets_as_negatives: GRU4Rec's official scheme (Hidasi & Karatzoglou, CIKM 2018): the
        candidates of the batch are ``[targets of the N kept positions] + [S shared samples]``
        (``N + S`` columns, one ``[N, D] x [D, N + S]`` matmul); row ``n``'s positive is column ``n``
        (its own target), every other column is one of its negatives, so each example has
        ``N - 1 + S`` negatives. Only for the sampled losses with ``negatives_per="batch"``; then
        ``num_negatives`` (``S``, the official ``n_sample``) may be 0 (pure in-batch negatives).
        With ``remove_accidental_hits`` a column whose id equals row ``n``'s target (another position
        with the same target, or a sample) is ignored like any accidental hit; the own column is
        always excluded from the negatives. (The official code masks only the own column.) Per loss:
        ``bpr_max`` / ``top1_max``: softmax weights over the ``N - 1 + S`` negatives, exactly the
        official loss; ``sampled_softmax``: softmax over all ``N + S`` columns with label ``n`` (the
        official cross-entropy); ``bce``: one ``softplus`` term per negative, so the loss grows with
        ``N``; ``gbce``: ``alpha = (N - 1 + S) / (num_items - 1)`` (capped at 1), i.e. the candidates
        drawn, hits included, although the batch's targets are popularity-, not uniformly, distributed.
        LogQ correction (``sampled_softmax`` only, on by default): the candidate multiset mixes two
        proposals, so every column of item ``i`` (and the positive) gets
        ``log_q_i = log(N * p_i + S * q_i)``, the expected number of copies of ``i`` among the
        candidates (the ``log(expected count)`` of ``tf.nn.sampled_softmax_loss``; mixed negative
        sampling, Yang et al., WWW 2020): ``q_i`` is the sampler's probability and ``p_i`` the
        probability that a target is ``i``: ``item_counts[i] / sum`` over the real items when the
        task has ``item_counts`` (floored at the smallest non-zero one), else the item's share of the
        batch's targets (``N * p_i`` = its count among them). The same item gets the same correction
        whichever part it came from. (The official ``logq`` option instead subtracts
        ``log(count_i)`` for the batch part and ``log(count_i ** sample_alpha)`` for the sampled part,
        two unnormalised scales.)
      score_activation: applied to every candidate logit (positives and negatives, after the item
        bias and before the logQ correction and masking) inside the loss: ``"linear"`` (none) or
        ``"elu-<alpha>"`` (``"elu"`` = ``alpha`` 1), ``alpha * (exp(x) - 1)`` for ``x <= 0``;
        GRU4Rec's tuned BPR-max files use ``elu_param`` 0.5 or 1 (``final_act='elu-0.5'``). It only
        shapes the training objective (the task's loss, in training and evaluation alike): the
        model's ranking scores are the raw logits, and as ELU with ``alpha > 0`` is strictly
        increasing, rankings (and so every ranking metric) are the same either way. Meant for
        ``bpr_max`` / ``top1_max`` (the official code applies it with BPR-max only): ELU bounds every
        logit below by ``-alpha``, so with ``bce`` / ``gbce`` each negative term stays at least
        ``softplus(-alpha)`` and those losses learn poorly. Not for ``"in_batch"``, whose logits are
        computed inside ``tfrs.tasks.Retrieval``.
      logit_offset: ``bce`` / ``gbce`` only: a constant added to every candidate logit inside the loss,
        ``sigmoid(score + offset)`` being the modelled probability. ``None`` (default) =
        ``log(beta / S)`` (``beta`` = 1 for ``bce``, gBCE's ``beta`` otherwise; ``S`` negatives per
        example), the offset at which an untrained model's (all scores ~0) positive and negative
        gradients balance; 0 for SASRec's single negative. Why: with many negatives and near-zero
        initial scores the negatives' pull dominates, and the cheapest way to lower every score is one
        shared direction added to all item embeddings; with the small (std 0.02) initialisation that
        shared part swamps the item-specific parts and training stalls near popularity ranking
        (``benchmarks/logit_offset.sh``, SASRec on ML-100K: without the offset BCE with 32 or 256
        negatives and gBCE with 256 stayed at best validation NDCG@10 0.016 - 0.039, with it they reached
        0.088 - 0.109). A constant changes no ranking: scores, metrics and exports are unaffected.
    """

    name: str = "full_ce"
    num_negatives: Optional[int] = None
    sampler: str = "uniform"
    sampling_alpha: float = 0.75
    logq_correction: Optional[bool] = None
    remove_accidental_hits: bool = True
    gbce_t: float = 0.75
    bpr_reg: float = 1.0
    negatives_per: str = "batch"
    negative_group_size: int = 200
    batch_targets_as_negatives: bool = False
    score_activation: str = "linear"
    logit_offset: Optional[float] = None

    def __post_init__(self):
        if self.name not in LOSS_NAMES:
            raise ValueError(f"LossConfig.name must be one of {LOSS_NAMES}, got {self.name!r}.")
        if not isinstance(self.batch_targets_as_negatives, bool):
            raise ValueError(f"LossConfig.batch_targets_as_negatives must be a bool, got "
                             f"{self.batch_targets_as_negatives!r}.")
        if self.batch_targets_as_negatives and (self.name not in SAMPLED_LOSSES
                                                or self.negatives_per != "batch"):
            raise ValueError(f"LossConfig.batch_targets_as_negatives=True needs a sampled loss "
                             f"{SAMPLED_LOSSES} with negatives_per='batch', got name={self.name!r}, "
                             f"negatives_per={self.negatives_per!r}.")
        if self.num_negatives is not None:
            if self.name not in SAMPLED_LOSSES:
                raise ValueError(f"LossConfig.num_negatives applies to the sampled losses "
                                 f"{SAMPLED_LOSSES}; leave it None for {self.name!r}.")
            smallest = 0 if self.batch_targets_as_negatives else 1
            if (isinstance(self.num_negatives, bool) or not isinstance(self.num_negatives, int)
                    or self.num_negatives < smallest):
                kind = ("a non-negative int (0: only the batch's targets)"
                        if self.batch_targets_as_negatives else "a positive int")
                raise ValueError(f"LossConfig.num_negatives must be {kind} or None, got "
                                 f"{self.num_negatives!r}.")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"LossConfig.sampler must be one of {SAMPLERS}, got {self.sampler!r}.")
        _check_number("sampling_alpha", self.sampling_alpha, low=0.0)
        if self.logq_correction is not None:
            if not isinstance(self.logq_correction, bool):
                raise ValueError(f"LossConfig.logq_correction must be a bool or None, got "
                                 f"{self.logq_correction!r}.")
            if self.logq_correction and self.name not in LOGQ_LOSSES:
                raise ValueError(f"LossConfig.logq_correction=True only applies to {LOGQ_LOSSES}, "
                                 f"not {self.name!r}.")
        if not isinstance(self.remove_accidental_hits, bool):
            raise ValueError(f"LossConfig.remove_accidental_hits must be a bool, got "
                             f"{self.remove_accidental_hits!r}.")
        _check_number("gbce_t", self.gbce_t, low=0.0, high=1.0)
        _check_number("bpr_reg", self.bpr_reg, low=0.0)
        if self.negatives_per not in NEGATIVES_PER:
            raise ValueError(f"LossConfig.negatives_per must be one of {NEGATIVES_PER}, got "
                             f"{self.negatives_per!r}.")
        if isinstance(self.negative_group_size, bool) or not isinstance(self.negative_group_size, int) \
                or self.negative_group_size < 1:
            raise ValueError(f"LossConfig.negative_group_size must be a positive int, got "
                             f"{self.negative_group_size!r}.")
        try:
            losses.parse_score_activation(self.score_activation)
        except ValueError as error:
            raise ValueError(f"LossConfig.score_activation: {error}") from None
        if self.logit_offset is not None:
            if self.name not in SIGMOID_LOSSES:
                raise ValueError(f"LossConfig.logit_offset applies to {SIGMOID_LOSSES}; leave it None for "
                                 f"{self.name!r}.")
            if isinstance(self.logit_offset, bool) or not isinstance(self.logit_offset, (int, float)) \
                    or not math.isfinite(self.logit_offset):
                raise ValueError(f"LossConfig.logit_offset must be a finite number or None, got "
                                 f"{self.logit_offset!r}.")
        if self.score_activation != "linear" and self.name == "in_batch":
            raise ValueError("LossConfig.score_activation is not supported for 'in_batch' (its logits "
                             "are computed inside tfrs.tasks.Retrieval); use 'linear'.")

    @property
    def effective_num_negatives(self) -> int:
        """Negatives per position actually drawn by the sampler (0 for ``full_ce`` and ``in_batch``);
        with ``batch_targets_as_negatives`` the ``N - 1`` other targets come on top."""
        if self.name not in SAMPLED_LOSSES:
            return 0
        if self.num_negatives is not None:
            return self.num_negatives
        return PER_LOSS_NUM_NEGATIVES.get(self.name, DEFAULT_NUM_NEGATIVES)

    @property
    def effective_logq_correction(self) -> bool:
        """Whether the logQ correction is applied."""
        if self.logq_correction is None:
            return self.name in LOGQ_LOSSES
        return self.logq_correction

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-friendly dict of the fields (``None`` kept as ``None``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: Dict[str, Any]) -> "LossConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Unknown LossConfig keys {unknown}; known keys: {sorted(known)}.")
        return cls(**config)


def _check_number(field: str, value, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        bounds = f"in [{low}, {high}]" if math.isfinite(high) else f">= {low}"
        raise ValueError(f"LossConfig.{field} must be a finite number {bounds}, got {value!r}.")


class _Candidates(NamedTuple):
    """Logits of one batch's sampled candidates (before the score activation)."""
    pos_logits: tf.Tensor  # [N]
    neg_logits: tf.Tensor  # [N, C]
    negative_mask: Optional[tf.Tensor]  # [N, C] bool (True = counts) or None (all count)
    pos_log_q: Optional[tf.Tensor]  # [N] log sampling probabilities (only with the logQ correction)
    neg_log_q: Optional[tf.Tensor]  # broadcastable to [N, C]
    num_drawn: Union[int, tf.Tensor]  # negatives drawn per example (gBCE's alpha)


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

    def __init__(self, loss_config: Union[LossConfig, Dict[str, Any]], num_items: int,
                 item_counts: Optional[Union[Sequence[float], np.ndarray]] = None,
                 seed: Optional[int] = None, **kwargs):
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
                raise ValueError(f"item_counts must have length num_items={self.num_items}, got "
                                 f"{counts.size}.")
            self.item_counts = counts
        self.sampler = self._make_sampler()
        self._in_batch_probs = None  # [V] target probabilities p_i from item_counts (float64)
        self._retrieval = None
        if loss_config.name == "gbce" and loss_config.effective_num_negatives > 0:
            # validates S against the catalogue size now, not mid-training
            losses.gbce_beta(loss_config.effective_num_negatives, self.num_items - FIRST_ITEM_ID,
                             loss_config.gbce_t)
        needs_target_probs = loss_config.name == "in_batch" or (
            loss_config.batch_targets_as_negatives and loss_config.effective_logq_correction)
        if loss_config.name == "in_batch":
            self._retrieval = tfrs.tasks.Retrieval(
                loss=tf.keras.losses.CategoricalCrossentropy(
                    from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
                metrics=None, batch_metrics=None,
                remove_accidental_hits=loss_config.remove_accidental_hits)
        if needs_target_probs and self.item_counts is not None:
            probs = self.item_counts.copy()
            probs[:FIRST_ITEM_ID] = 0.0
            if not probs.sum() > 0:
                raise ValueError("item_counts has no positive count for a real item.")
            probs /= probs.sum()
            probs = np.maximum(probs, probs[probs > 0].min())
            self._in_batch_probs = tf.constant(probs, tf.float64)

    def _make_sampler(self):
        config = self.loss_config
        if config.name not in SAMPLED_LOSSES:
            return None
        if config.sampler == "uniform":
            return UniformSampler(self.num_items, seed=self.seed)
        if self.item_counts is None:
            raise ValueError("LossConfig.sampler='popularity' needs item_counts (length num_items).")
        return PopularitySampler(self.item_counts, alpha=config.sampling_alpha, seed=self.seed)

    def call(self, queries, targets, item_embeddings, item_bias=None, mask=None, training=None):
        per_example = self.per_example_loss(queries, targets, item_embeddings, item_bias, mask)
        count = tf.cast(tf.size(per_example), tf.float32)
        return tf.math.divide_no_nan(tf.reduce_sum(per_example), count)

    def per_example_loss(self, queries, targets, item_embeddings, item_bias=None, mask=None):
        """Losses of the kept positions, ``[N]`` float32, in row-major order of ``targets``."""
        queries, targets = self._flatten(queries, targets, mask)
        item_embeddings = tf.cast(item_embeddings, queries.dtype)
        name = self.loss_config.name
        if name == "full_ce":
            return self._full_ce(queries, targets, item_embeddings, item_bias)
        if name == "in_batch":
            return self._in_batch(queries, targets, item_embeddings, item_bias)
        return self._sampled(queries, targets, item_embeddings, item_bias)

    @staticmethod
    def _flatten(queries, targets, mask):
        """Keeps positions with a real-item target (and ``mask`` True): ``[N, D]``, ``[N]`` int64."""
        queries = tf.convert_to_tensor(queries)
        targets = tf.cast(targets, tf.int64)
        if queries.shape.rank is not None and targets.shape.rank is not None \
                and queries.shape.rank != targets.shape.rank + 1:
            raise ValueError(f"queries must have one more axis than targets: got queries "
                             f"{queries.shape} and targets {targets.shape}.")
        keep = targets >= FIRST_ITEM_ID
        if mask is not None:
            keep = tf.logical_and(keep, tf.cast(mask, tf.bool))
        return tf.boolean_mask(queries, keep), tf.boolean_mask(targets, keep)

    def _full_ce(self, queries, targets, item_embeddings, item_bias):
        if (queries.dtype == tf.float32 and losses.parse_score_activation(self.loss_config.score_activation) is None
                and (item_bias is None or tf.as_dtype(item_bias.dtype) == tf.float32)):
            # the fast path (hand-written gradient); mixed precision and score activations take the graph below
            return full_softmax_cross_entropy(queries, item_embeddings, targets, item_bias)
        logits = tf.cast(tf.matmul(queries, item_embeddings, transpose_b=True), tf.float32)  # [N, V]
        if item_bias is not None:
            logits += tf.cast(item_bias, tf.float32)[None, :]
        logits = losses.apply_score_activation(logits, self.loss_config.score_activation)
        is_item = tf.range(tf.shape(logits)[1]) >= FIRST_ITEM_ID  # PAD and OOV get no probability
        logits = tf.where(is_item[None, :], logits, losses.MASKED_LOGIT)
        return losses.softmax_cross_entropy(logits, targets)

    def _sampled(self, queries, targets, item_embeddings, item_bias):
        config = self.loss_config
        if config.batch_targets_as_negatives:
            cand = self._batch_target_candidates(queries, targets, item_embeddings, item_bias)
        else:
            cand = self._sampled_candidates(queries, targets, item_embeddings, item_bias)
        pos_logits = losses.apply_score_activation(cand.pos_logits, config.score_activation)
        neg_logits = losses.apply_score_activation(cand.neg_logits, config.score_activation)
        negative_mask = cand.negative_mask
        if config.name in SIGMOID_LOSSES:
            offset = self.logit_offset(cand.num_drawn)
            pos_logits, neg_logits = pos_logits + offset, neg_logits + offset

        if config.name == "sampled_softmax":
            if config.effective_logq_correction:
                pos_logits = losses.logq_correction(pos_logits, cand.pos_log_q)
                neg_logits = losses.logq_correction(neg_logits, cand.neg_log_q)
            if negative_mask is not None:
                neg_logits = tf.where(negative_mask, neg_logits, losses.MASKED_LOGIT)
            logits = tf.concat([pos_logits[:, None], neg_logits], axis=1)  # [N, 1 + C], label 0
            return losses.softmax_cross_entropy(logits, tf.zeros_like(targets))
        if config.name == "bce":
            return losses.binary_cross_entropy(pos_logits, neg_logits, negative_mask)
        if config.name == "gbce":
            num_drawn = cand.num_drawn if config.batch_targets_as_negatives else None
            return losses.gbce(pos_logits, neg_logits, self.num_items - FIRST_ITEM_ID,
                               config.gbce_t, negative_mask, num_negatives=num_drawn)
        if config.name == "bpr_max":
            return losses.bpr_max(pos_logits, neg_logits, config.bpr_reg, negative_mask)
        return losses.top1_max(pos_logits, neg_logits, negative_mask)

    def logit_offset(self, num_negatives: Union[int, tf.Tensor]) -> tf.Tensor:
        """``LossConfig.logit_offset``, or its default ``log(beta / S)`` for ``S`` negatives (float32 scalar)."""
        config = self.loss_config
        if config.logit_offset is not None:
            return tf.constant(float(config.logit_offset), tf.float32)
        count = tf.maximum(tf.cast(num_negatives, tf.float32), 1.0)
        beta = 1.0
        if config.name == "gbce":
            beta = losses.gbce_beta_tensor(num_negatives, self.num_items - FIRST_ITEM_ID, config.gbce_t)
        return tf.math.log(beta / count)

    def _sampled_candidates(self, queries, targets, item_embeddings, item_bias) -> _Candidates:
        """Positive ``[N]`` and ``S`` sampled negatives per position (shared or per position)."""
        config = self.loss_config
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
        return _Candidates(pos_logits, neg_logits, negative_mask, pos_log_q, neg_log_q,
                           num_negatives)

    def _grouped_negatives(self, queries, item_embeddings, num_negatives: int):
        """Ids, log q and logits ``[N, S]`` of negatives shared by runs of ``negative_group_size`` positions."""
        size = self.loss_config.negative_group_size
        count = tf.shape(queries)[0]
        groups = (count + size - 1) // size
        ids, log_q = self.sampler.sample(groups * num_negatives)
        ids, log_q = tf.reshape(ids, [groups, num_negatives]), tf.reshape(log_q, [groups, num_negatives])
        padded = tf.pad(queries, [[0, groups * size - count], [0, 0]])
        runs = tf.reshape(padded, [groups, size, tf.shape(queries)[1]])  # [G, size, D]
        logits = tf.einsum("gcd,gsd->gcs", runs, tf.gather(item_embeddings, ids))
        logits = tf.reshape(logits, [groups * size, num_negatives])[:count]  # [N, S]
        return tf.repeat(ids, size, axis=0)[:count], tf.repeat(log_q, size, axis=0)[:count], logits

    def _batch_target_candidates(self, queries, targets, item_embeddings, item_bias) -> _Candidates:
        """GRU4Rec's candidates ``[targets (N)] + [S shared samples]``: ``[N, N + S]`` logits.

        Row ``n``'s positive is the diagonal entry (column ``n``); the negative mask is False there
        always, and, with ``remove_accidental_hits``, wherever the column's id equals row ``n``'s
        target. See ``LossConfig.batch_targets_as_negatives`` for the logQ correction.
        """
        config = self.loss_config
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
            if self._in_batch_probs is not None:
                in_batch = tf.cast(count, tf.float64) * tf.gather(self._in_batch_probs, candidate_ids)
                in_batch = tf.cast(in_batch, tf.float32)
            else:  # the observed number of batch targets equal to the id
                in_batch = tf.reduce_sum(tf.cast(same_item, tf.float32), axis=0)
            sampled = float(num_samples) * tf.exp(self.sampler.log_q(candidate_ids))
            neg_log_q = tf.math.log(in_batch + sampled)[None, :]  # [1, N + S]
            pos_log_q = neg_log_q[0, :count]  # the own column's value
        num_drawn = count - 1 + num_samples
        return _Candidates(pos_logits, logits, negative_mask, pos_log_q, neg_log_q, num_drawn)

    def in_batch_sampling_probability(self, targets):
        """Probability that each target's item appears among the batch's ``N`` candidates, ``[N]``.

        With ``item_counts``: ``p = count / total`` (real items only) and
        ``P(in batch) = 1 - (1 - p) ** N``; without them ``p`` is the item's share of the batch's
        targets. Any constant factor cancels in the softmax.
        """
        targets = tf.cast(targets, tf.int64)
        count = tf.cast(tf.size(targets), tf.float64)
        if self._in_batch_probs is not None:
            probs = tf.gather(self._in_batch_probs, targets)
        else:
            _, index, counts = tf.unique_with_counts(targets)
            probs = tf.cast(tf.gather(counts, index), tf.float64) / tf.maximum(count, 1.0)
        probs = tf.minimum(probs, 1.0 - 1e-12)
        return tf.cast(-tf.math.expm1(count * tf.math.log1p(-probs)), tf.float32)

    def _in_batch(self, queries, targets, item_embeddings, item_bias):
        candidates = tf.gather(item_embeddings, targets)  # [N, D]: row n is position n's positive
        if item_bias is not None:  # q.c + b as [q, 1].[c, b]
            bias = tf.cast(tf.gather(item_bias, targets), candidates.dtype)
            queries = tf.concat([queries, tf.ones_like(queries[:, :1])], axis=1)
            candidates = tf.concat([candidates, bias[:, None]], axis=1)
        probability = None
        if self.loss_config.effective_logq_correction:
            probability = self.in_batch_sampling_probability(targets)
        per_example = self._retrieval(
            queries, candidates, candidate_sampling_probability=probability,
            candidate_ids=targets, compute_metrics=False, compute_batch_metrics=False)
        return tf.cast(per_example, tf.float32)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update({
            "loss_config": self.loss_config.to_dict(),
            "num_items": self.num_items,
            "item_counts": None if self.item_counts is None else self.item_counts.tolist(),
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "NextItemTask":
        config = dict(config)
        config["loss_config"] = LossConfig.from_dict(config["loss_config"])
        return cls(**config)
