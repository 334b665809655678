"""The inner loop: a few gradient steps on one user's own next-item pairs adapt that user's query.

For a history ``item_ids [B, T]`` (left padded) and its states ``[B, T, D]`` (the state at column ``t``
summarises items ``0..t``), every pair of consecutive real items ``(t, t + 1)`` is a support example: the
adapted state at ``t`` should rank item ``t + 1`` first (full-softmax cross-entropy over the catalogue). The
per-user parameters ``[B, P]`` start from the adapter's meta-learned initial value and take ``inner_steps``
steps ``params -= inner_lr * grad``, each row on its own pairs (the loss is a sum over rows, so a row's gradient
is its own). The step sizes ``[support_window - 1, P]`` hold one row per number of pairs (a row with ``n``
pairs steps with row ``n - 1``) and are meta-learned too with ``learn_inner_lr`` (Meta-SGD). A history with one
item has no pair and keeps the initial value.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID, PAD_ID
from tfseqrec.models.adaptation.adapters import ADAPTERS
from tfseqrec.models.adaptation.config import AdaptationConfig

ScoresFor = Callable[[tf.Tensor], tf.Tensor]  # queries [N, D] -> float32 scores [N, num_items]


class Adaptation(tf.keras.layers.Layer):
    """The adapter, its step sizes, and the inner loop (module doc); trainable only when meta-trained."""

    def __init__(self, config: AdaptationConfig, dim: int, **kwargs):
        super().__init__(trainable=config.meta_trains, **kwargs)
        self.config = config
        self.adapter = ADAPTERS[config.adapter](dim, name="adapter")
        steps = np.repeat(np.asarray(config.step_sizes, np.float32)[:, np.newaxis], self.adapter.num_params, 1)
        self.inner_lr = self.add_weight(
            name="inner_lr",
            shape=steps.shape,
            initializer=tf.keras.initializers.Constant(steps),
            trainable=config.learn_inner_lr,
            dtype=tf.float32,
        )

    def pair_losses(self, params: tf.Tensor, states: tf.Tensor, item_ids: tf.Tensor, scores_for: ScoresFor):
        """``([B] mean cross-entropy over each row's pairs, [B] number of pairs)`` at ``params [B, P]``."""
        states = tf.cast(states, tf.float32)
        item_ids = tf.cast(item_ids, tf.int64)
        history, targets = item_ids[:, :-1], item_ids[:, 1:]
        mask = tf.cast(tf.logical_and(tf.not_equal(history, PAD_ID), targets >= FIRST_ITEM_ID), tf.float32)
        queries = self.adapter.apply(states[:, :-1], params)  # [B, T - 1, D]
        shape = tf.shape(queries)
        logits = scores_for(tf.reshape(queries, [-1, shape[-1]]))  # [B (T - 1), V]
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.reshape(targets, [-1]), logits=logits)
        ce = tf.reshape(ce, shape[:2]) * mask
        pairs = tf.reduce_sum(mask, axis=1)
        return tf.math.divide_no_nan(tf.reduce_sum(ce, axis=1), pairs), pairs

    def adapt(
        self, states: tf.Tensor, item_ids: tf.Tensor, scores_for: ScoresFor, second_order: bool = False
    ) -> tf.Tensor:
        """Adapted parameters ``[B, P]`` after ``inner_steps`` steps on the pairs of ``item_ids [B, T]``.

        ``second_order``: keep the inner gradients differentiable (MAML); otherwise they are constants for an
        outer gradient (first-order MAML, Reptile, inference).
        """
        params = self.adapter.initial(tf.shape(states)[0])
        for _ in range(self.config.inner_steps):
            with tf.GradientTape() as tape:
                tape.watch(params)
                losses, pairs = self.pair_losses(params, states, item_ids, scores_for)
                loss = tf.reduce_sum(losses)
            gradient = tape.gradient(loss, params)
            if not second_order:
                gradient = tf.stop_gradient(gradient)
            row = tf.clip_by_value(tf.cast(pairs, tf.int32) - 1, 0, tf.shape(self.inner_lr)[0] - 1)
            params = params - tf.gather(self.inner_lr, row) * gradient  # [B, P]: each row's step for its pairs
        return params

    def adapted_query(self, states: tf.Tensor, item_ids: tf.Tensor, scores_for: ScoresFor) -> tf.Tensor:
        """The query ``[B, D]`` after adapting on the pairs among the latest ``support_window`` items of
        ``item_ids [B, L]`` (states ``[B, L, D]``)."""
        window = self.config.support_window
        states = tf.cast(states[:, -window:], tf.float32)
        params = self.adapt(states, item_ids[:, -window:], scores_for)
        return self.adapter.apply(states[:, -1:], params)[:, 0]
