"""Masked-item (cloze) inputs for bidirectional encoders such as BERT4Rec (Sun et al., CIKM 2019).

Two ways to turn a sequence into training examples, on the same ``TransformerBlock`` stack
(``tfseqrec.models.layers``):

* **causal LM** (SASRec, Transformers4Rec ``masking="clm"``): ``causal_attention_mask`` and shifted
  targets (input ``item_ids[:, :-1]``, target ``item_ids[:, 1:]``, ``SequentialRecommender.compute_loss``);
  the state at column ``t`` predicts item ``t + 1``.
* **masked LM** (BERT4Rec, Transformers4Rec ``masking="mlm"``): ``bidirectional_attention_mask`` and
  :class:`ClozeMasking`: some items are replaced by a ``[MASK]`` token and the state at a masked column
  predicts the item that was there, from both sides. At inference :class:`LastPositionMasking` appends
  ``[MASK]`` after the history, so the state at that column predicts the next item.

Swapping one setup for the other means swapping both the attention-mask function and the
input/target construction; an encoder trained one way is not meant to be scored the other way.

Ids: 0 = PAD, 1 = OOV, real items ``2 .. V - 1``; the mask token is a separate id (BERT4Rec uses
``V``, one row past the catalogue). Inputs are ``[B, L]`` int ids, left-padded (right padding works too:
only the real positions are ever masked).

Masking applies to training sequences only, i.e. to whatever the loader's training split holds (the
split is made before, so held-out validation / test items are never masked targets).
"""

from __future__ import annotations

from typing import Optional

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID


def _check_probability(name: str, value: float, low_open: bool = False) -> float:
    value = float(value)
    if not (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0):
        bounds = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name}={value} must be in {bounds}")
    return value


def last_item_positions(item_ids: tf.Tensor) -> tf.Tensor:
    """``[B, L]`` bool: True at each row's most recent real item (>= 2); all False for a row without one."""
    item_ids = tf.convert_to_tensor(item_ids)
    is_item = item_ids >= FIRST_ITEM_ID
    columns = tf.range(tf.shape(item_ids)[1])[tf.newaxis, :]
    last = tf.reduce_max(tf.where(is_item, columns, -1), axis=1)  # -1: no real item
    return tf.logical_and(tf.equal(columns, last[:, tf.newaxis]), is_item)


def mask_last_item(item_ids: tf.Tensor, mask_token_id: int):
    """Deterministic cloze example: the most recent real item of each row becomes the mask token.

    Returns ``(masked_ids, target_ids)``, both ``[B, L]`` int64; ``target_ids`` is 0 except at the
    masked column, where it holds the original item. This is the inference setting (predict the item
    after the history) and BERT4Rec's evaluation loss.
    """
    item_ids = tf.cast(item_ids, tf.int64)
    chosen = last_item_positions(item_ids)
    masked = tf.where(chosen, tf.constant(mask_token_id, tf.int64), item_ids)
    return masked, tf.where(chosen, item_ids, tf.zeros_like(item_ids))


@tf.keras.utils.register_keras_serializable(package="tfseqrec")
class ClozeMasking(tf.keras.__internal__.layers.BaseRandomLayer):
    """Random cloze masking of training sequences (no weights).

    In training, each row with ``n`` real items (ids >= 2; padding and OOV are never chosen) gets
    ``k = min(n, max(1, round(n * mask_prob)))`` positions chosen uniformly without replacement (at
    least one per row), capped by ``max_predictions`` when set. This fixed count per row is what the
    BERT4Rec code does (``create_masked_lm_predictions``, as in BERT) and aprec's ``ItemsMasking``;
    a Bernoulli draw per position (as in some re-implementations) has the same mean.

    A chosen position becomes the mask token with probability ``mask_token_prob``, a uniformly drawn
    real item (``2 .. num_items - 1``) with probability ``random_token_prob``, and keeps its item
    otherwise; its target is always the original item. The default ``mask_token_prob=1.0`` (always the
    mask token) is the setting of the BERT4Rec paper's scripts (``mask_prob=1.0``); BERT's 80/10/10
    scheme is ``mask_token_prob=0.8, random_token_prob=0.1``.

    With probability ``mask_last_prob`` a row instead has only its most recent real item masked (always
    with the mask token): extra examples of the inference task. BERT4Rec's data generator
    (``mask_last``) adds one such row per training window next to ``dupe_factor=10`` randomly masked
    copies (1/11); aprec calls it ``tuning_samples_prob``. The layer's default 0 masks every row at
    random (``BERT4RecConfig`` defaults to 0.1).

    Call: ``layer(item_ids [B, L], training)`` -> ``(masked_ids, target_ids)``, both ``[B, L]`` int64;
    ``target_ids`` is 0 (PAD, ignored by the loss) at every unchosen position. Outside training the
    layer is the identity and every target is 0 (like ``Dropout``); for a deterministic evaluation
    example use :func:`mask_last_item`.

    Args:
      mask_prob: fraction of a row's real items to mask, in (0, 1].
      mask_token_id: id of the mask token (BERT4Rec: ``V``).
      seed: seed of the layer's ``tf.random.Generator``; ``None`` draws one from Python's ``random``
        (so ``tf.keras.utils.set_random_seed`` makes runs repeatable). The generator state is not
        part of the weights.
      mask_token_prob, random_token_prob: the replacement scheme above (sum <= 1).
      num_items: vocabulary size ``V`` for random replacements; defaults to ``mask_token_id``.
      mask_last_prob: probability of a last-item-only row.
      max_predictions: optional cap on masked positions per row (BERT4Rec's
        ``max_predictions_per_seq``; 40 on ML-1M with 200 items and 0.2, i.e. no cap).
    """

    def __init__(
        self,
        mask_prob: float,
        mask_token_id: int,
        seed: Optional[int] = None,
        mask_token_prob: float = 1.0,
        random_token_prob: float = 0.0,
        num_items: Optional[int] = None,
        mask_last_prob: float = 0.0,
        max_predictions: Optional[int] = None,
        **kwargs,
    ):
        super().__init__(seed=seed, rng_type="stateful", **kwargs)
        if int(mask_token_id) < FIRST_ITEM_ID:
            raise ValueError(f"mask_token_id={mask_token_id} must be an id >= {FIRST_ITEM_ID}")
        self.mask_prob = _check_probability("mask_prob", mask_prob, low_open=True)
        self.mask_token_id = int(mask_token_id)
        self.seed = None if seed is None else int(seed)
        self.mask_token_prob = _check_probability("mask_token_prob", mask_token_prob)
        self.random_token_prob = _check_probability("random_token_prob", random_token_prob)
        if self.mask_token_prob + self.random_token_prob > 1.0 + 1e-9:
            raise ValueError(
                f"mask_token_prob + random_token_prob = {self.mask_token_prob + self.random_token_prob} must be <= 1"
            )
        self.num_items = int(num_items) if num_items is not None else self.mask_token_id
        if self.random_token_prob > 0 and self.num_items <= FIRST_ITEM_ID:
            raise ValueError(f"num_items={self.num_items}: random replacements need real items")
        self.mask_last_prob = _check_probability("mask_last_prob", mask_last_prob)
        if max_predictions is not None and int(max_predictions) < 1:
            raise ValueError(f"max_predictions={max_predictions} must be >= 1 or None")
        self.max_predictions = None if max_predictions is None else int(max_predictions)

    def _uniform(self, shape, dtype=tf.float32, minval=0, maxval=None):
        return self._random_generator.random_uniform(shape, minval=minval, maxval=maxval, dtype=dtype)

    def call(self, item_ids, training=None):
        item_ids = tf.cast(item_ids, tf.int64)
        if not training:
            return item_ids, tf.zeros_like(item_ids)
        shape = tf.shape(item_ids)
        is_item = item_ids >= FIRST_ITEM_ID
        count = tf.reduce_sum(tf.cast(is_item, tf.int32), axis=1)  # [B] real items per row
        num_masks = tf.cast(tf.round(tf.cast(count, tf.float32) * self.mask_prob), tf.int32)
        num_masks = tf.minimum(tf.maximum(num_masks, 1), count)
        if self.max_predictions is not None:
            num_masks = tf.minimum(num_masks, self.max_predictions)
        # A uniformly random subset of size num_masks: the num_masks highest random keys among real items.
        keys = tf.where(is_item, self._uniform(shape), -1.0)
        order = tf.argsort(keys, axis=1, direction="DESCENDING")
        rank = tf.argsort(order, axis=1)  # rank of each column's key within its row
        chosen = tf.logical_and(rank < num_masks[:, tf.newaxis], is_item)
        mask_token = tf.constant(self.mask_token_id, tf.int64)

        replacement = tf.fill(shape, mask_token)
        if self.mask_token_prob < 1.0:
            draw = self._uniform(shape)
            kept = draw >= self.mask_token_prob + self.random_token_prob
            replacement = tf.where(kept, item_ids, replacement)
            if self.random_token_prob > 0:
                random_items = self._uniform(shape, tf.int64, FIRST_ITEM_ID, self.num_items)
                use_random = tf.logical_and(draw >= self.mask_token_prob, tf.logical_not(kept))
                replacement = tf.where(use_random, random_items, replacement)
        if self.mask_last_prob > 0:
            last_only = self._uniform(shape[:1]) < self.mask_last_prob  # [B]
            last = last_item_positions(item_ids)
            chosen = tf.where(last_only[:, tf.newaxis], last, chosen)
            replacement = tf.where(last_only[:, tf.newaxis], mask_token, replacement)
        masked = tf.where(chosen, replacement, item_ids)
        targets = tf.where(chosen, item_ids, tf.zeros_like(item_ids))
        return masked, targets

    def get_config(self):
        config = super().get_config()
        config.pop("rng_type", None)
        config.update(
            {
                "mask_prob": self.mask_prob,
                "mask_token_id": self.mask_token_id,
                "seed": self.seed,
                "mask_token_prob": self.mask_token_prob,
                "random_token_prob": self.random_token_prob,
                "num_items": self.num_items,
                "mask_last_prob": self.mask_last_prob,
                "max_predictions": self.max_predictions,
            }
        )
        return config


@tf.keras.utils.register_keras_serializable(package="tfseqrec")
class LastPositionMasking(tf.keras.layers.Layer):
    """Inference input of a masked-LM encoder: the history followed by the mask token (no weights).

    ``layer(item_ids [B, L])`` -> ``[B, min(L, max_len - 1) + 1]`` int64: the most recent
    ``max_len - 1`` columns of the (left-padded) history, the oldest dropped when the history is full,
    then a column of ``mask_token_id``. The encoder's state at the last column scores the next item.
    Rows are assumed left-padded (the mask then follows the most recent item).
    """

    def __init__(self, mask_token_id: int, max_len: int, **kwargs):
        super().__init__(**kwargs)
        if int(max_len) < 2:
            raise ValueError(f"max_len={max_len} must be >= 2 (at least one item before the mask)")
        self.mask_token_id, self.max_len = int(mask_token_id), int(max_len)

    def call(self, item_ids):
        item_ids = tf.cast(item_ids, tf.int64)
        start = tf.maximum(tf.shape(item_ids)[1] - (self.max_len - 1), 0)
        history = item_ids[:, start:]
        mask = tf.fill([tf.shape(item_ids)[0], 1], tf.constant(self.mask_token_id, tf.int64))
        return tf.concat([history, mask], axis=1)

    def get_config(self):
        return {**super().get_config(), "mask_token_id": self.mask_token_id, "max_len": self.max_len}
