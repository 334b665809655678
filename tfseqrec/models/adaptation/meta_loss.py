"""The outer (meta) loss over a batch of per-user episodes (``episodes.py``).

Each training row gives an episode: support items, then a query item. The encoder reads the episode once
(``[B, S + 1]``, causal, so the support's states never see the query); the inner loop adapts each row's
parameters on the support's own pairs, and the loss is the cross-entropy of the query item from the adapted
state after the support, averaged over the rows with an episode:

* ``maml``: gradients flow through the inner steps (second order: the inner gradients stay differentiable);
* ``fomaml``: the inner gradients are constants (first order), the adapted parameters still depend on the
  initial value and the step sizes;
* ``reptile``: the inner loop reads the whole episode (support and query); the shared weights take the
  query's loss at the adapted parameters (held constant), and the adapter's initial value the Reptile step
  toward the mean adapted parameters (the gradient of ``0.5 |init - mean adapted|^2``).
"""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID
from tfseqrec.models.adaptation.episodes import cut_episodes
from tfseqrec.tasks.replicas import global_mean, replica_share


def meta_loss(model, inputs, training: bool = True) -> tf.Tensor:
    """Scalar meta loss of ``model`` (a ``SequentialRecommender`` with ``adaptation``) on training rows
    ``inputs["item_ids"] [B, max_len + 1]`` (module doc)."""
    adaptation = model.adaptation
    config = adaptation.config
    keep = model.config.max_len + 1
    item_ids = tf.cast(inputs["item_ids"], tf.int64)[:, -keep:]
    episode, features, valid = cut_episodes(
        item_ids, model.record_features(inputs, keep), config.episode_support, config.episodes
    )
    states = tf.cast(model.encode_inputs(episode, training, features), tf.float32)  # [B, S + 1, D]
    support = int(config.episode_support[1])
    if config.algorithm == "reptile":
        adapted = adaptation.adapt(states, episode, model.scores_for)
        outer = tf.stop_gradient(adapted)
    else:
        adapted = adaptation.adapt(
            states[:, :support], episode[:, :support], model.scores_for, second_order=config.algorithm == "maml"
        )
        outer = adapted
    query_state = adaptation.adapter.apply(states[:, support - 1 : support], outer)[:, 0]
    targets = episode[:, support]
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=model.scores_for(query_state))
    weights = tf.cast(tf.logical_and(valid, targets >= FIRST_ITEM_ID), tf.float32)
    loss = global_mean(tf.reduce_sum(ce * weights), tf.reduce_sum(weights))
    if config.algorithm == "reptile":
        mean_adapted = global_mean(tf.reduce_sum(outer * weights[:, tf.newaxis], axis=0), tf.reduce_sum(weights))
        step = adaptation.adapter.initial_value - mean_adapted
        loss += replica_share(0.5 * tf.reduce_sum(tf.square(step)))
    return loss
