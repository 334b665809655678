"""``LossConfig``: which next-item loss to train with, and the negatives the task draws for it.

The fields here are the ones every loss shares (the name and the task's candidates); a loss with fields of
its own registers a frozen dataclass subclass (``tfseqrec.tasks.registry``), and ``LossConfig(name=...)``
builds the registered class of that name, so a config stays one flat mapping::

    LossConfig(name="gbce", num_negatives=256, gbce_t=0.75)   # a GBCEConfig
    LossConfig.from_dict({"name": "bpr_max", "bpr_reg": 1.95})  # a BPRMaxConfig
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional

from tfseqrec.tasks import losses
from tfseqrec.tasks.registry import get_loss_class, registered_config_classes

SAMPLERS = ("uniform", "popularity")
NEGATIVES_PER = ("batch", "position", "group")
DEFAULT_NUM_NEGATIVES = 256


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Which next-item loss to train with, and its negatives.

    ``LossConfig(name=..., **fields)`` returns an instance of the config class registered for ``name``
    (``LossConfig`` itself, or a subclass holding the loss's own fields); a field that loss does not have is
    a ``ValueError`` naming it. Whether a field applies (``num_negatives`` only for losses that sample
    negatives, ``logq_correction=True`` only for the logQ-corrected ones, ...) is declared by the loss class
    (:class:`tfseqrec.tasks.next_item_loss.NextItemLoss`), not by lists of names.

    Attributes:
      name: a registered loss (:func:`tfseqrec.tasks.available_losses`). Built in: ``"full_ce"`` (softmax
        over the whole catalogue), ``"sampled_softmax"`` (softmax over the positive and sampled negatives),
        ``"bce"`` (SASRec), ``"gbce"`` (gSASRec; field ``gbce_t``), ``"bpr_max"`` (field ``bpr_reg``) /
        ``"top1_max"`` (GRU4Rec), ``"in_batch"`` (softmax over the batch's other targets, through
        ``tfrs.tasks.Retrieval``); ``bce`` and ``gbce`` also have ``logit_offset``
        (:class:`tfseqrec.tasks.sigmoid_losses.SigmoidLossConfig`).
      num_negatives: negatives per position for the losses that sample them; ``None`` means the loss's
        default: 1 for ``"bce"`` (as in SASRec), ``DEFAULT_NUM_NEGATIVES`` (256) for the other built-ins.
        Must stay ``None`` for ``"full_ce"`` and ``"in_batch"``, which sample nothing.
      sampler: ``"uniform"`` over the real items or ``"popularity"`` (``count ** sampling_alpha``;
        the task then needs ``item_counts``). gBCE's calibration assumes uniform sampling.
      sampling_alpha: exponent of the popularity sampler; 0 = uniform, 1 = unigram. Default 0.75
        (word2vec; the default ``sample_alpha`` of GRU4Rec's original code).
      logq_correction: subtract the log sampling probability from candidate logits
        (``logits - log_q``, Yi et al. RecSys 2019), positives included. ``None`` = the loss's default
        (True for ``"sampled_softmax"`` and ``"in_batch"``, the losses that apply it); True is only allowed
        for those.
      remove_accidental_hits: ignore a sampled (or in-batch) negative equal to the position's own
        target: its logit becomes ``losses.MASKED_LOGIT`` (softmax losses) or it is masked out of
        the sum (pointwise / pairwise losses).
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
        ``N - 1 + S`` negatives. Only for the losses that sample negatives, with ``negatives_per="batch"``;
        then ``num_negatives`` (``S``, the official ``n_sample``) may be 0 (pure in-batch negatives).
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
    """

    name: str = "full_ce"
    num_negatives: Optional[int] = None
    sampler: str = "uniform"
    sampling_alpha: float = 0.75
    logq_correction: Optional[bool] = None
    remove_accidental_hits: bool = True
    negatives_per: str = "batch"
    negative_group_size: int = 200
    batch_targets_as_negatives: bool = False
    score_activation: str = "linear"

    def __new__(cls, *args, **kwargs):
        if cls is not LossConfig:  # a registered subclass built directly (or copied, unpickled)
            return super().__new__(cls)
        name = args[0] if args else kwargs.get("name", LossConfig.name)
        config_class = get_loss_class(name).config_class
        fields = {field.name for field in dataclasses.fields(config_class)}
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise ValueError(
                f"LossConfig: loss {name!r} has no field(s) {', '.join(unknown)}; its fields are: "
                f"{', '.join(sorted(fields))}."
            )
        return super().__new__(config_class)

    def __post_init__(self):
        loss = get_loss_class(self.name)
        if type(self) is not loss.config_class:
            raise ValueError(
                f"loss {self.name!r} is configured by {loss.config_class.__name__}, not "
                f"{type(self).__name__}: build it with LossConfig(name={self.name!r}, ...) or "
                f"LossConfig.from_dict"
            )
        self._check_negatives(loss)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"LossConfig.sampler must be one of {SAMPLERS}, got {self.sampler!r}.")
        check_number("sampling_alpha", self.sampling_alpha, low=0.0)
        if self.logq_correction is not None:
            if not isinstance(self.logq_correction, bool):
                raise ValueError(f"LossConfig.logq_correction must be a bool or None, got {self.logq_correction!r}.")
            if self.logq_correction and not loss.uses_logq_correction:
                raise ValueError(
                    f"LossConfig.logq_correction=True only applies to the losses that correct "
                    f"their logits (sampled_softmax, in_batch), not {self.name!r}."
                )
        if not isinstance(self.remove_accidental_hits, bool):
            raise ValueError(f"LossConfig.remove_accidental_hits must be a bool, got {self.remove_accidental_hits!r}.")
        if self.negatives_per not in NEGATIVES_PER:
            raise ValueError(f"LossConfig.negatives_per must be one of {NEGATIVES_PER}, got {self.negatives_per!r}.")
        if (
            isinstance(self.negative_group_size, bool)
            or not isinstance(self.negative_group_size, int)
            or self.negative_group_size < 1
        ):
            raise ValueError(
                f"LossConfig.negative_group_size must be a positive int, got {self.negative_group_size!r}."
            )
        try:
            losses.parse_score_activation(self.score_activation)
        except ValueError as error:
            raise ValueError(f"LossConfig.score_activation: {error}") from None
        if self.score_activation != "linear" and not loss.supports_score_activation:
            raise ValueError(f"LossConfig.score_activation is not supported for {self.name!r}; use 'linear'.")

    def _check_negatives(self, loss: type) -> None:
        """``batch_targets_as_negatives`` and ``num_negatives`` against what ``loss`` samples."""
        if not isinstance(self.batch_targets_as_negatives, bool):
            raise ValueError(
                f"LossConfig.batch_targets_as_negatives must be a bool, got {self.batch_targets_as_negatives!r}."
            )
        if self.batch_targets_as_negatives and (not loss.samples_negatives or self.negatives_per != "batch"):
            raise ValueError(
                f"LossConfig.batch_targets_as_negatives=True needs a loss that samples negatives "
                f"with negatives_per='batch', got name={self.name!r}, "
                f"negatives_per={self.negatives_per!r}."
            )
        if self.num_negatives is None:
            return
        if not loss.samples_negatives:
            raise ValueError(
                f"LossConfig.num_negatives applies to the losses that sample negatives; "
                f"{self.name!r} samples none: leave it None."
            )
        smallest = 0 if self.batch_targets_as_negatives else 1
        if (
            isinstance(self.num_negatives, bool)
            or not isinstance(self.num_negatives, int)
            or self.num_negatives < smallest
        ):
            kind = (
                "a non-negative int (0: only the batch's targets)"
                if self.batch_targets_as_negatives
                else "a positive int"
            )
            raise ValueError(f"LossConfig.num_negatives must be {kind} or None, got {self.num_negatives!r}.")

    @property
    def loss_class(self) -> type:
        """The registered loss class of ``name``."""
        return get_loss_class(self.name)

    @property
    def effective_num_negatives(self) -> int:
        """Negatives per position actually drawn by the sampler (0 for losses that sample none, such as
        ``full_ce`` and ``in_batch``); with ``batch_targets_as_negatives`` the ``N - 1`` other targets come
        on top."""
        loss = self.loss_class
        if not loss.samples_negatives:
            return 0
        return loss.default_num_negatives if self.num_negatives is None else self.num_negatives

    @property
    def effective_logq_correction(self) -> bool:
        """Whether the logQ correction is applied."""
        if self.logq_correction is None:
            return self.loss_class.uses_logq_correction
        return self.logq_correction

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-friendly flat dict of the fields, the loss's own included (``None`` kept as ``None``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "LossConfig":
        """The config of ``config["name"]`` from a flat dict (inverse of :meth:`to_dict`), whichever class it
        is called on; lists become tuples.

        A key the loss does not have raises ``ValueError``, unless it is a field of another registered loss
        at that field's default value: a dict listing every built-in loss's fields (``gbce_t``, ``bpr_reg``,
        ``logit_offset`` beside a ``full_ce``) loads, while a value meant for another loss is refused.
        """
        name = config.get("name", LossConfig.name)
        config_class = get_loss_class(name).config_class
        known = {field.name for field in dataclasses.fields(config_class)}
        unknown = sorted(
            key for key, value in config.items() if key not in known and not _default_of_another_loss(key, value)
        )
        if unknown:
            raise ValueError(f"Unknown LossConfig keys {unknown} for loss {name!r}; its keys are: {sorted(known)}.")
        return config_class(
            **{key: tuple(value) if isinstance(value, list) else value for key, value in config.items() if key in known}
        )


def _default_of_another_loss(key: str, value: Any) -> bool:
    for config_class in registered_config_classes():
        for field in dataclasses.fields(config_class):
            if (
                field.name == key
                and field.default is not dataclasses.MISSING
                and field.default == value
                and type(field.default) is type(value)
            ):
                return True
    return False


def check_number(field: str, value, low: float, high: float = math.inf) -> None:
    """Raises ``ValueError`` naming ``LossConfig.<field>`` unless ``value`` is a finite number in
    ``[low, high]`` (bools refused)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        bounds = f"in [{low}, {high}]" if math.isfinite(high) else f">= {low}"
        raise ValueError(f"LossConfig.{field} must be a finite number {bounds}, got {value!r}.")
