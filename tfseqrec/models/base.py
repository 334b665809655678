"""The contract every sequential recommender follows.

A model is a ``tfrs.Model`` with

* an item embedding table ``[num_items, dim]`` (ids as in the vocabulary: 0 = padding, 1 = OOV), tied with
  the output layer: the score of item ``i`` for a query state ``q`` is ``q . E[i]`` (+ an optional bias);
* a sequence encoder ``encode(item_ids [B, L], training) -> states [B, L, D]`` (left-padded input; the state at
  column ``t`` summarises items ``0..t``): this is the only method an architecture must write;
* a ``NextItemTask`` that owns the loss (full softmax, sampled softmax, BCE, gBCE, BPR-max, TOP1-max),
  chosen by ``LossConfig``, never by branches inside models.

Training uses plain ``model.fit`` on batches from ``tfseqrec.data.make_dataset`` with ``max_len + 1`` items:
every non-padding position is a target (the input is ``item_ids[:, :-1]``, the target ``item_ids[:, 1:]``).
Scoring for evaluation and serving is ``score_all(item_ids) -> [B, num_items]`` from the last position.

``input_features`` names the record features (``tfseqrec.data.spec``) a model reads; the trainer puts
exactly those into training batches (``compute_loss``) and into scoring batches (``call``), so a model
that needs more than ``item_ids`` (HRNN reads ``timestamps`` to find its sessions) says so here, and no
caller branches on the model's name.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfseqrec.ids import OOV_ID, PAD_ID
from tfseqrec.tasks import LossConfig, NextItemTask


@dataclasses.dataclass(frozen=True)
class SequentialModelConfig:
    """Fields shared by every architecture; architectures subclass it with their own fields.

    ``max_len``: longest input history (older items are dropped). ``loss``: see ``LossConfig``.
    """

    embedding_dim: int = 64
    max_len: int = 200
    dropout: float = 0.2
    output_bias: bool = False
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)

    def __post_init__(self):
        if self.embedding_dim < 1 or self.max_len < 1:
            raise ValueError(f"embedding_dim ({self.embedding_dim}) and max_len ({self.max_len}) must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class SequentialRecommender(tfrs.Model):
    """Base class: item embeddings, a next-item task, training targets at every position, full scoring."""

    registry_name = "base"
    # False for bidirectional encoders (BERT4Rec): a state may depend on later items.
    causal = True
    # Input-only token ids after the catalogue (e.g. [MASK] = num_items): embedded, never scored or sampled.
    num_extra_input_tokens = 0
    # Record features read by compute_loss and call (each [B, L], aligned with item_ids); see the module doc.
    input_features: tuple = ("item_ids",)

    def __init__(
        self, config: SequentialModelConfig, num_items: int, item_counts: Optional[Sequence[float]] = None, **kwargs
    ):
        super().__init__(**kwargs)
        if num_items < 3:
            raise ValueError(f"num_items={num_items}: the vocabulary needs padding, OOV and at least one item")
        self.config = config
        self.num_items = int(num_items)
        self._item_counts = None if item_counts is None else [float(c) for c in item_counts]
        self.item_embedding = tf.keras.layers.Embedding(
            self.num_items + self.num_extra_input_tokens,
            config.embedding_dim,
            name="item_embedding",
            embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02),
        )
        self.item_bias = None
        if config.output_bias:
            self.item_bias = tf.keras.layers.Embedding(
                self.num_items, 1, name="item_bias", embeddings_initializer="zeros"
            )
            self.item_bias.build((None,))  # read as a table, never called on ids
        self.task = NextItemTask(config.loss, self.num_items, item_counts=self._item_counts)

    # -- what architectures implement -------------------------------------------------------------
    def encode(self, item_ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        """States ``[B, L, D]`` for left-padded ``item_ids [B, L]``; padding rows may hold anything."""
        raise NotImplementedError

    # -- shared behaviour ----------------------------------------------------------------------------
    @property
    def mask_token_id(self) -> int:
        """The first input-only token id (``num_items``); only models with extra input tokens use it."""
        return self.num_items

    def item_embeddings(self) -> tf.Tensor:
        """``[num_items, D]``: the output layer (tied with the input embeddings, extra input tokens left out)."""
        table = self.item_embedding.embeddings
        return table[: self.num_items] if self.num_extra_input_tokens else table

    def item_biases(self) -> Optional[tf.Tensor]:
        return None if self.item_bias is None else self.item_bias.embeddings[:, 0]

    def _truncate(self, item_ids: tf.Tensor) -> tf.Tensor:
        return item_ids[:, -self.config.max_len :]

    def query(self, item_ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Query embedding ``[B, D]``: the state after the most recent item (last column, left padding)."""
        states = self.encode(self._truncate(tf.cast(item_ids, tf.int64)), training=training)
        return states[:, -1, :]

    def score_all(self, item_ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Scores ``[B, num_items]`` for the next item after each (left-padded) history."""
        return self.scores_for(self.query(item_ids, training=training))

    def scores_for(self, queries: tf.Tensor) -> tf.Tensor:
        """float32 scores ``[B, num_items]`` of queries ``[B, D]`` against every item (+ biases).

        Computed in float32 whatever the layers' compute dtype (mixed precision), so rankings are not
        rounded to bfloat16's or float16's few significant bits.
        """
        scores = tf.matmul(tf.cast(queries, tf.float32), tf.cast(self.item_embeddings(), tf.float32), transpose_b=True)
        bias = self.item_biases()
        return scores if bias is None else scores + tf.cast(bias, tf.float32)

    def call(self, inputs, training: bool = False) -> tf.Tensor:
        """Scores ``[B, num_items]`` for ``item_ids [B, L]``, or a dict holding ``input_features``."""
        item_ids = inputs["item_ids"] if isinstance(inputs, dict) else inputs
        return self.score_all(item_ids, training=training)

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        """Next-item loss over every non-padding position of ``inputs["item_ids"] [B, L + 1]``."""
        item_ids = tf.cast(inputs["item_ids"], tf.int64)
        item_ids = item_ids[:, -(self.config.max_len + 1) :]
        history, targets = item_ids[:, :-1], item_ids[:, 1:]
        states = self.encode(history, training=training)
        mask = tf.logical_and(tf.not_equal(history, PAD_ID), tf.not_equal(targets, PAD_ID))
        return self.task(
            states, targets, self.item_embeddings(), item_bias=self.item_biases(), mask=mask, training=training
        )

    def train_step(self, inputs):
        """``tfrs.Model.train_step`` plus loss scaling when Keras wrapped the optimizer in a
        ``LossScaleOptimizer`` (policy ``mixed_float16``): the loss is scaled before the gradients are taken and
        the gradients unscaled before they are applied, so small float16 gradients do not flush to zero."""
        optimizer = self.optimizer
        scaling = isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.reduce_sum([tf.reduce_sum(extra) for extra in self.losses])
            total_loss = loss + regularization_loss
            scaled_loss = optimizer.get_scaled_loss(total_loss) if scaling else total_loss
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        if scaling:
            gradients = optimizer.get_unscaled_gradients(gradients)
        optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        metrics.update(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        return metrics

    # -- serialisation -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {
            "model": self.registry_name,
            "config": self.config.to_dict(),
            "num_items": self.num_items,
            "item_counts": self._item_counts,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from tfseqrec.models.registry import config_from_dict, get_model_class

        model_class, config_class = get_model_class(config["model"])
        return model_class(
            config_from_dict(config_class, config["config"]), config["num_items"], item_counts=config.get("item_counts")
        )

    def build_for_inputs(self, batch_size: int = 1) -> "SequentialRecommender":
        """Creates the weights by running one dummy batch (for loading weights into a fresh model)."""
        dummy = tf.fill([batch_size, self.config.max_len + 1], tf.constant(OOV_ID + 1, tf.int64))
        self.compute_loss({"item_ids": dummy}, training=False)
        self.score_all(dummy[:, 1:])
        return self
