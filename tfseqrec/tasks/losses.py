"""Next-item losses as pure TensorFlow functions.

Every function returns one loss per example, shape ``[N]`` (float32); weighting, masking of padding
and the reduction to a scalar are left to the caller (:class:`tfseqrec.tasks.NextItemTask`).

Conventions: ``N`` is the number of examples (non-padding positions), ``C`` the number of classes
for a softmax, ``S`` the number of negatives per example. ``negative_mask`` (optional, bool
``[N, S]``) is True for a negative that counts and False for one to ignore (e.g. an accidental hit,
a sampled negative equal to the example's own target); leaving it out counts every negative.

Score activations (:func:`parse_score_activation`, :func:`apply_score_activation`) map raw candidate
scores to the logits the losses see, e.g. GRU4Rec's ``final_act='elu-0.5'``.
"""

import math
from typing import Optional, Union

import tensorflow as tf

# A logit low enough that exp(logit - max) is exactly 0 in float32, yet whose square (1e18) stays
# finite, so masked entries cannot produce inf or NaN anywhere.
MASKED_LOGIT = -1e9

# Added inside logarithms of sums of probabilities (BPR-max), as in GRU4Rec.
EPSILON = 1e-24


def _as_float32(x) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(x), tf.float32)


def _negative_weights(neg_logits: tf.Tensor, negative_mask: Optional[tf.Tensor]) -> tf.Tensor:
    """1.0 for negatives that count, 0.0 for masked ones; ``[N, S]`` float32."""
    if negative_mask is None:
        return tf.ones_like(neg_logits)
    return tf.cast(negative_mask, neg_logits.dtype)


def logq_correction(logits: tf.Tensor, log_q: tf.Tensor) -> tf.Tensor:
    """Sampling-bias (logQ) correction of candidate logits: ``logits - log_q``.

    Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations",
    RecSys 2019 (Eq. 3): ``s_c(x, y) = s(x, y) - log(p_y)``, where ``p_y`` is the probability that
    candidate ``y`` was sampled. The correction is *subtracted*: a popular candidate (large ``p_y``,
    ``log p_y`` close to 0) has its logit lowered less than a rare one, i.e. popular items are
    penalised relative to rare ones, which undoes the over-representation of popular items among the
    negatives. (Adding ``log q`` instead is the sign error discussed in TFRS issue #219.)

    Args:
      logits: any shape, e.g. ``[N, 1 + S]``.
      log_q: log sampling probabilities, broadcastable to ``logits`` (e.g. ``[N, 1 + S]`` or ``[S]``).

    Returns:
      Corrected logits, the shape of ``logits``.
    """
    return _as_float32(logits) - _as_float32(log_q)


def elu(x: tf.Tensor, alpha: float = 1.0) -> tf.Tensor:
    """Exponential linear unit with scale ``alpha``: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` else.

    ``torch.nn.functional.elu(x, alpha)``, which GRU4Rec's official code applies to the scores before
    BPR-max (``elu_param``; ``final_act='elu-<alpha>'`` in the Theano version). For ``alpha > 0`` it is
    strictly increasing, so it never changes a ranking. The negative branch uses ``expm1(min(x, 0))``
    so the branch not taken cannot overflow (no ``0 * inf = NaN`` gradient through ``tf.where``).

    Args:
      x: any shape.
      alpha: the value approached for ``x -> -inf`` is ``-alpha``.

    Returns:
      float32, the shape of ``x``.
    """
    x = _as_float32(x)
    return tf.where(x > 0, x, alpha * tf.math.expm1(tf.minimum(x, 0.0)))


def parse_score_activation(spec: str) -> Optional[float]:
    """Validates a score activation name; returns ``None`` for ``"linear"``, else the ELU ``alpha``.

    Accepted: ``"linear"`` (identity), ``"elu"`` (``alpha = 1``) and ``"elu-<alpha>"`` with a finite
    ``alpha > 0`` (e.g. ``"elu-0.5"``, GRU4Rec's ``final_act`` naming). Anything else raises
    ``ValueError``.
    """
    if not isinstance(spec, str):
        raise ValueError(f"score activation must be a string, got {spec!r}.")
    if spec == "linear":
        return None
    if spec == "elu":
        return 1.0
    if spec.startswith("elu-"):
        try:
            alpha = float(spec[len("elu-") :])
        except ValueError:
            alpha = math.nan
        if math.isfinite(alpha) and alpha > 0:
            return alpha
    raise ValueError(
        f"score activation must be 'linear', 'elu' or 'elu-<alpha>' with a finite "
        f"alpha > 0 (e.g. 'elu-0.5'), got {spec!r}."
    )


def apply_score_activation(logits: tf.Tensor, spec: str) -> tf.Tensor:
    """``logits`` (float32) through the activation named by ``spec`` (see :func:`parse_score_activation`)."""
    alpha = parse_score_activation(spec)
    if alpha is None:
        return _as_float32(logits)
    return elu(logits, alpha)


def softmax_cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy.

    ``loss_n = -log softmax(logits_n)[labels_n] = logsumexp_c(logits_nc) - logits_n,labels_n``.

    Used with the full catalogue (``C = V``, labels are item ids; Kang & McAuley's SASRec trained
    with full CE as in Klenitskiy & Vasilev, RecSys 2023) or with sampled candidates
    ``[positive, S negatives]`` (``C = 1 + S``, label 0: sampled softmax, Jean et al., ACL 2015).
    Candidates to ignore should carry a :data:`MASKED_LOGIT` logit.

    Args:
      logits: ``[N, C]`` float.
      labels: ``[N]`` int, the index of the correct class in ``[0, C)``.

    Returns:
      ``[N]`` float32 losses.
    """
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int64), logits=_as_float32(logits))


def binary_cross_entropy(
    pos_logits: tf.Tensor, neg_logits: tf.Tensor, negative_mask: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """Binary cross-entropy over one positive and ``S`` negatives (original SASRec: ``S = 1``).

    ``loss_n = -log sigmoid(s+_n) - sum_j log(1 - sigmoid(s-_nj))
             = softplus(-s+_n) + sum_j softplus(s-_nj)``.

    Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018 (Eq. 9, one uniformly
    sampled negative per position).

    Args:
      pos_logits: ``[N]`` logits of the positives.
      neg_logits: ``[N, S]`` logits of the negatives.
      negative_mask: optional ``[N, S]`` bool, False for negatives to ignore.

    Returns:
      ``[N]`` float32 losses.
    """
    pos_logits, neg_logits = _as_float32(pos_logits), _as_float32(neg_logits)
    weights = _negative_weights(neg_logits, negative_mask)
    return tf.nn.softplus(-pos_logits) + tf.reduce_sum(weights * tf.nn.softplus(neg_logits), axis=-1)


def gbce_beta(num_negatives: int, num_items: int, t: float) -> float:
    """gSASRec's positive-term exponent ``beta`` (a Python float).

    ``alpha = S / (num_items - 1)`` is the negative sampling rate (the share of the ``num_items - 1``
    non-target items drawn as negatives) and
    ``beta = alpha * (t * (1 - 1/alpha) + 1/alpha)``, so ``t = 0`` gives ``beta = 1`` (plain BCE) and
    ``t = 1`` gives ``beta = alpha`` (fully calibrated). Petrov & Macdonald, RecSys 2023, Eq. 12.
    """
    if num_items < 2:
        raise ValueError(f"gBCE needs num_items >= 2, got {num_items}.")
    if not 0 < num_negatives <= num_items - 1:
        raise ValueError(
            f"gBCE needs 0 < num_negatives <= num_items - 1 = {num_items - 1}, got num_negatives={num_negatives}."
        )
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"gBCE calibration parameter t must be in [0, 1], got {t}.")
    alpha = num_negatives / (num_items - 1)
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def gbce_beta_tensor(num_negatives: Union[int, tf.Tensor], num_items: int, t: float) -> tf.Tensor:
    """:func:`gbce_beta` for a number of negatives known only at run time (a scalar tensor).

    ``beta = alpha * (t * (1 - 1/alpha) + 1/alpha) = 1 - t * (1 - alpha)``, with ``alpha`` computed
    from ``num_negatives`` clipped to ``[0, num_items - 1]``: more negatives than non-target items
    (possible when the batch's other targets are negatives too, see
    ``LossConfig.batch_targets_as_negatives``) count as a sampling rate of 1, and 0 negatives give
    ``beta = 1 - t``. Returns a float32 scalar.
    """
    if num_items < 2:
        raise ValueError(f"gBCE needs num_items >= 2, got {num_items}.")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"gBCE calibration parameter t must be in [0, 1], got {t}.")
    count = tf.clip_by_value(tf.cast(num_negatives, tf.float32), 0.0, float(num_items - 1))
    alpha = count / float(num_items - 1)
    return 1.0 - float(t) * (1.0 - alpha)


def gbce(
    pos_logits: tf.Tensor,
    neg_logits: tf.Tensor,
    num_items: int,
    t: float,
    negative_mask: Optional[tf.Tensor] = None,
    num_negatives: Optional[Union[int, tf.Tensor]] = None,
) -> tf.Tensor:
    """Generalised binary cross-entropy (gBCE) of gSASRec.

    Petrov & Macdonald, "gSASRec: Reducing Overconfidence in Sequential Recommendation Trained with
    Negative Sampling", RecSys 2023:

    ``alpha = S / (num_items - 1)``, ``beta = alpha * (t * (1 - 1/alpha) + 1/alpha)``,
    ``loss_n = -(beta * log sigmoid(s+_n) + sum_j log(1 - sigmoid(s-_nj)))
             = beta * softplus(-s+_n) + sum_j softplus(s-_nj)``.

    Computed with softplus, so it is stable for any logits (``log sigmoid(x) = -softplus(-x)``).

    Args:
      pos_logits: ``[N]`` logits of the positives.
      neg_logits: ``[N, S]`` logits of the negatives; ``S`` must be static.
      num_items: catalogue size, the number of items that can be recommended (for tfseqrec's
        vocabularies ``V - 2``: PAD and OOV are not items).
      t: calibration parameter in ``[0, 1]`` (0: BCE; the paper recommends 0.75).
      negative_mask: optional ``[N, S]`` bool, False for negatives to ignore. ``alpha`` still uses
        the number of negatives drawn, ``S``.
      num_negatives: optional number of negatives drawn per example for ``alpha`` (int or scalar
        tensor) when it is not ``neg_logits.shape[-1]`` (e.g. columns that are always masked, such as
        an example's own column among in-batch candidates); computed with :func:`gbce_beta_tensor`.

    Returns:
      ``[N]`` float32 losses.
    """
    pos_logits, neg_logits = _as_float32(pos_logits), _as_float32(neg_logits)
    if num_negatives is not None:
        beta = gbce_beta_tensor(num_negatives, int(num_items), float(t))
    else:
        num_negatives = neg_logits.shape[-1]
        if num_negatives is None:
            raise ValueError("gbce needs a static number of negatives (neg_logits.shape[-1]) or num_negatives.")
        beta = gbce_beta(int(num_negatives), int(num_items), float(t))
    weights = _negative_weights(neg_logits, negative_mask)
    return beta * tf.nn.softplus(-pos_logits) + tf.reduce_sum(weights * tf.nn.softplus(neg_logits), axis=-1)


def _masked_softmax(neg_logits: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis restricted to entries with weight 1; all-masked rows give 0s."""
    masked = tf.where(weights > 0, neg_logits, MASKED_LOGIT)
    return tf.nn.softmax(masked, axis=-1) * weights


def bpr_max(
    pos_logits: tf.Tensor, neg_logits: tf.Tensor, reg: float = 1.0, negative_mask: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """BPR-max loss with score regularisation.

    Hidasi & Karatzoglou, "Recurrent Neural Networks with Top-k Gains for Session-based
    Recommendations", CIKM 2018 (Eq. 6 and the regularised form of Sec. 3.2):

    ``s_j = softmax_j(r-_n)`` (weights over the negatives),
    ``loss_n = -log(sum_j s_j * sigmoid(r+_n - r-_nj) + eps) + reg * sum_j s_j * (r-_nj)^2``.

    This is the official code's definition (``bpr_max_loss_with_elu`` of GRU4Rec_PyTorch_Official,
    the Theano ``bpr_max`` alike): the softmax weights ``s_j`` are taken over the negative scores only
    (the official ``softmax_neg`` zeroes the example's own column), the score regulariser is
    ``bpreg * sum_j s_j * r_j^2`` on the *negative* scores only (the positive's score is not
    regularised), ``eps = 1e-24`` inside the log, and gradients flow through ``s_j`` too. The
    official code averages over the mini-batch (sum / batch size), as the task does. Where the official
    code applies ``elu(scores, elu_param)`` first, pass the activated scores (the task does this with
    ``LossConfig.score_activation``). One difference: the official code never masks accidental hits
    (another example's target or a sample equal to the example's own target stays a negative);
    here ``negative_mask`` drops them when the caller asks.

    Examples whose negatives are all masked get loss 0.

    Args:
      pos_logits: ``[N]`` scores of the positives.
      neg_logits: ``[N, S]`` scores of the negatives.
      reg: ``lambda`` of the score regulariser (GRU4Rec's ``bpreg``; its default is 1.0).
      negative_mask: optional ``[N, S]`` bool, False for negatives to ignore.

    Returns:
      ``[N]`` float32 losses.
    """
    pos_logits, neg_logits = _as_float32(pos_logits), _as_float32(neg_logits)
    weights = _negative_weights(neg_logits, negative_mask)
    softmax = _masked_softmax(neg_logits, weights)
    safe_neg = neg_logits * weights  # masked scores become 0 so their squares stay small
    ranking = tf.reduce_sum(softmax * tf.sigmoid(pos_logits[:, None] - safe_neg), axis=-1)
    loss = -tf.math.log(ranking + EPSILON) + reg * tf.reduce_sum(softmax * tf.square(safe_neg), -1)
    return tf.where(tf.reduce_any(weights > 0, axis=-1), loss, tf.zeros_like(loss))


def top1_max(pos_logits: tf.Tensor, neg_logits: tf.Tensor, negative_mask: Optional[tf.Tensor] = None) -> tf.Tensor:
    """TOP1-max loss.

    Hidasi & Karatzoglou, CIKM 2018 (Eq. 5):

    ``s_j = softmax_j(r-_n)``,
    ``loss_n = sum_j s_j * (sigmoid(r-_nj - r+_n) + sigmoid((r-_nj)^2))``.

    Args:
      pos_logits: ``[N]`` scores of the positives.
      neg_logits: ``[N, S]`` scores of the negatives.
      negative_mask: optional ``[N, S]`` bool, False for negatives to ignore.

    Returns:
      ``[N]`` float32 losses (0 where every negative is masked).
    """
    pos_logits, neg_logits = _as_float32(pos_logits), _as_float32(neg_logits)
    weights = _negative_weights(neg_logits, negative_mask)
    softmax = _masked_softmax(neg_logits, weights)
    safe_neg = neg_logits * weights
    terms = tf.sigmoid(safe_neg - pos_logits[:, None]) + tf.sigmoid(tf.square(safe_neg))
    return tf.reduce_sum(softmax * terms, axis=-1)
