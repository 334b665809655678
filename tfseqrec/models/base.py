"""The contract every sequential recommender follows.

A model is a ``tfrs.Model`` with

* an item embedding table ``[num_items, dim]`` (ids as in the vocabulary: 0 = padding, 1 = OOV), tied with
  the output layer: the score of item ``i`` for a query state ``q`` is ``q . E[i]`` (+ an optional bias); how
  ``E`` is stored (one row per id, or compressed) is ``config.item_table`` (``tfseqrec.models.item_tables``);
* a sequence encoder ``encode(item_ids [B, L], training, features) -> states [B, L, D]`` (left-padded input; the
  state at column ``t`` summarises items ``0..t``): this is the only method an architecture must write. It
  embeds positions with ``embed_items`` (``tfseqrec.models.inputs``: the item id plus the side inputs that
  ``config.inputs`` names), so every architecture gets attributes, behaviour types and time gaps the same way;
* a ``NextItemTask`` that owns the loss (full softmax, sampled softmax, BCE, gBCE, BPR-max, TOP1-max),
  chosen by ``LossConfig``, never by branches inside models.

Training uses plain ``model.fit`` on batches from ``tfseqrec.data.make_dataset`` with ``max_len + 1`` items:
every non-padding position is a target (the input is ``item_ids[:, :-1]``, the target ``item_ids[:, 1:]``).
Scoring for evaluation and serving is ``score_all(item_ids) -> [B, num_items]`` from the last position.

``input_features`` names the record features (``tfseqrec.data.spec``) a model reads; the trainer puts
exactly those into training batches (``compute_loss``) and into scoring batches (``call``), so a model
that needs more than ``item_ids`` (HRNN reads ``timestamps`` to find its sessions, ``inputs.event_types`` reads
``event_types``) says so here, and no caller branches on the model's name. They reach ``encode`` as
``features {name: [B, L]}`` aligned with ``item_ids``, and ``query`` / ``score_all`` by name.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfseqrec.ids import OOV_ID, PAD_ID
from tfseqrec.models.adaptation import Adaptation, AdaptationConfig, meta_loss
from tfseqrec.models.heads.registry import get_head_class, head_config
from tfseqrec.models.inputs import EVENT_TYPES, InputConfig, ItemInputs, SideInputs
from tfseqrec.models.item_tables import ItemTableConfig, build_item_table, item_table_config
from tfseqrec.models.kv_cache import StreamStateLayout
from tfseqrec.models.target_behaviour import TARGET_EVENT_TYPE, TargetBehaviour, TargetBehaviourConfig
from tfseqrec.tasks import LossConfig, NextItemTask
from tfseqrec.tasks.replicas import global_mean, num_replicas, replica_share


@dataclasses.dataclass(frozen=True)
class SequentialModelConfig:
    """Fields shared by every architecture; architectures subclass it with their own fields.

    ``max_len``: longest input history (older items are dropped). ``loss``: see ``LossConfig``. ``inputs``: what
    each position embeds besides the item id (``tfseqrec.models.inputs.InputConfig``; id only by default).
    ``heads``: auxiliary prediction heads trained beside the next item (``tfseqrec.models.heads``), each a mapping
    ``{name, weight, <its fields>}``. ``target_behaviour``: condition the query on the behaviour asked about
    (``tfseqrec.models.target_behaviour``; off by default). ``adaptation``: adapt the query to each history in a
    few gradient steps, meta-learned over per-user episodes (``tfseqrec.models.adaptation``; off by default).
    """

    embedding_dim: int = 64
    max_len: int = 200
    dropout: float = 0.2
    output_bias: bool = False
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    inputs: InputConfig = dataclasses.field(default_factory=InputConfig)
    heads: tuple = ()
    target_behaviour: TargetBehaviourConfig = dataclasses.field(default_factory=TargetBehaviourConfig)
    adaptation: AdaptationConfig = dataclasses.field(default_factory=AdaptationConfig)
    item_table: ItemTableConfig = dataclasses.field(default_factory=ItemTableConfig)

    def __post_init__(self):
        object.__setattr__(self, "heads", tuple(head_config(h) for h in self.heads))
        object.__setattr__(self, "item_table", item_table_config(self.item_table))
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
    # False for encoders whose positions are not a history's events (SR-GNN's graph nodes): they take the
    # item-level side inputs only, and refuse event types and time gaps.
    reads_record_inputs = True
    # False for models whose loss is not the base's next-item loss over states (BERT4Rec's cloze, HRNN's): they
    # take neither auxiliary heads nor a target behaviour.
    supports_heads = True

    def __init__(
        self,
        config: SequentialModelConfig,
        num_items: int,
        item_counts: Optional[Sequence[float]] = None,
        side_inputs: Optional[SideInputs] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if config.inputs.record_features and not self.reads_record_inputs:
            raise ValueError(
                f"model {self.registry_name!r} embeds item-level side inputs only; "
                f"inputs.event_types / inputs.time_gaps are not available for it"
            )
        if num_items < 3:
            raise ValueError(f"num_items={num_items}: the vocabulary needs padding, OOV and at least one item")
        self.config = config
        self.num_items = int(num_items)
        self._item_counts = None if item_counts is None else [float(c) for c in item_counts]
        self.item_embedding = build_item_table(
            config.item_table, self.num_items + self.num_extra_input_tokens, config.embedding_dim
        )
        self.item_bias = None
        if config.output_bias:
            self.item_bias = tf.keras.layers.Embedding(
                self.num_items, 1, name="item_bias", embeddings_initializer="zeros"
            )
            self.item_bias.build((None,))  # read as a table, never called on ids
        self._side_inputs = side_inputs
        self.item_inputs = ItemInputs(
            config.inputs, config.embedding_dim, self.num_items + self.num_extra_input_tokens, side_inputs
        )
        self.task = NextItemTask(config.loss, self.num_items, item_counts=self._item_counts)
        if config.heads and not self.supports_heads:
            raise ValueError(f"model {self.registry_name!r} does not take auxiliary heads (model_config.heads)")
        self.aux_heads = [
            get_head_class(c.name)(c, config.embedding_dim, self.num_items, side_inputs) for c in config.heads
        ]
        self.head_loss_trackers = [tf.keras.metrics.Mean(f"{c.name}_loss") for c in config.heads]
        self.target_behaviour = None
        if config.target_behaviour.enabled:
            if not (self.supports_heads and self.reads_record_inputs):
                raise ValueError(f"model {self.registry_name!r} does not take model_config.target_behaviour")
            num_event_types = 0 if side_inputs is None else side_inputs.num_event_types
            self.target_behaviour = TargetBehaviour(
                config.target_behaviour, config.embedding_dim, num_event_types, name="target_behaviour"
            )
        # Set by tfseqrec.training.distillation: blends a frozen teacher's soft targets into the training loss.
        self.distiller = None
        self.adaptation = None
        if config.adaptation.enabled:
            self._check_adaptable()
            self.adaptation = Adaptation(config.adaptation, config.embedding_dim, name="adaptation")

    def _check_adaptable(self) -> None:
        """Adaptation trains on the states of a history's prefixes (the base's next-item states)."""
        if not (self.causal and self.supports_heads and type(self).query is SequentialRecommender.query):
            raise ValueError(
                f"model {self.registry_name!r} does not take model_config.adaptation: it needs a causal encoder "
                f"whose state at each column predicts the next item (sasrec, gru4rec, hstu, ...)"
            )
        if self.aux_heads or self.target_behaviour is not None:
            raise ValueError("model_config.adaptation does not combine with heads or target_behaviour")

    # -- what architectures implement -------------------------------------------------------------
    def encode(self, item_ids: tf.Tensor, training: bool = False, features: Optional[dict] = None) -> tf.Tensor:
        """States ``[B, L, D]`` for left-padded ``item_ids [B, L]``; padding rows may hold anything.
        ``features``: the record features ``{name: [B, L]}`` of ``input_features`` (absent ones default)."""
        raise NotImplementedError

    def encoder_features(self) -> tuple:
        """Record features the encoder itself reads besides the input layer's (e.g. a position encoding's
        ``timestamps``)."""
        return ()

    # -- streaming (optional): the query after one more event, at the cost of one step --------------------------
    def stream_state_layout(self) -> Optional[StreamStateLayout]:
        """Shape of the per-user state rows ``stream_step`` carries (``tfseqrec.models.kv_cache``), or None when
        this model (or this configuration of it) has no incremental form; stateful serving then refuses it."""
        return None

    def stream_start(self, item_ids: tf.Tensor) -> tuple:
        """``(query [B, D], state [B, S])`` after the left-padded histories ``item_ids [B, L]``: the query is
        ``query(item_ids)``'s; the state lets ``stream_step`` go on from there."""
        raise NotImplementedError(f"model {self.registry_name!r} has no streaming form")

    def stream_step(self, state: tf.Tensor, item_ids: tf.Tensor) -> tuple:
        """``(query [B, D], state [B, S])`` after one more item ``item_ids [B]`` per row: the query equals
        ``query`` of the history so far (while it fits ``max_len``) at the cost of one step."""
        raise NotImplementedError(f"model {self.registry_name!r} has no streaming form")

    # -- shared behaviour ----------------------------------------------------------------------------
    @property
    def input_features(self) -> tuple:
        """Record features read by ``compute_loss`` and ``call`` (each ``[B, L]``, aligned with ``item_ids``)."""
        names = ["item_ids"]
        head_features = tuple(f for head in self.aux_heads for f in head.record_features)
        target_features = (EVENT_TYPES,) if self.target_behaviour is not None else ()
        read = tuple(self.config.inputs.record_features) + tuple(self.encoder_features()) + head_features
        for name in read + target_features:
            if name not in names:
                names.append(name)
        return tuple(names)

    def embed_items(self, item_ids: tf.Tensor, features: Optional[dict] = None) -> tf.Tensor:
        """Input embeddings ``[..., D]`` of ``item_ids [...]``: the id embedding fused with ``config.inputs``'s
        side inputs (``tfseqrec.models.inputs``)."""
        item_ids = tf.cast(item_ids, tf.int64)
        return self.item_inputs(self.item_embedding(item_ids), item_ids, features)

    def encode_inputs(self, item_ids: tf.Tensor, training, features: dict) -> tf.Tensor:
        """``encode`` with the features the encoder and its inputs read (``features=`` only when there are any:
        encoders of item ids alone may not take it; heads' features are labels, not inputs)."""
        read = set(self.config.inputs.record_features) | set(self.encoder_features())
        features = {name: value for name, value in (features or {}).items() if name in read}
        if features:
            return self.encode(item_ids, training=training, features=features)
        return self.encode(item_ids, training=training)

    def record_features(self, inputs, keep: Optional[int] = None) -> dict:
        """``{name: [B, keep]}``: the batch's record features besides ``item_ids`` (last ``keep`` columns)."""
        if not isinstance(inputs, dict):
            return {}
        found = {}
        for name in self.input_features[1:]:
            if inputs.get(name) is not None:
                value = tf.convert_to_tensor(inputs[name])
                found[name] = value if keep is None else value[:, -keep:]
        return found

    @property
    def mask_token_id(self) -> int:
        """The first input-only token id (``num_items``); only models with extra input tokens use it."""
        return self.num_items

    def item_embeddings(self) -> tf.Tensor:
        """``[num_items, D]``: the output layer (tied with the input embeddings, extra input tokens left out;
        with ``inputs.output_features`` each item's side inputs are added)."""
        table = self.item_embedding.embeddings
        table = table[: self.num_items] if self.num_extra_input_tokens else table
        return self.item_inputs.output_table(table)

    def item_biases(self) -> Optional[tf.Tensor]:
        return None if self.item_bias is None else self.item_bias.embeddings[:, 0]

    def _truncate(self, item_ids: tf.Tensor) -> tf.Tensor:
        return item_ids[:, -self.config.max_len :]

    def query(
        self, item_ids: tf.Tensor, training: bool = False, target_event_type: Optional[tf.Tensor] = None, **features
    ) -> tf.Tensor:
        """Query embedding ``[B, D]``: the state after the most recent item (last column, left padding);
        ``features``: record features ``[B, L]`` by name (``timestamps=``, ``event_types=``);
        ``target_event_type`` ``[B]``: the behaviour asked about, with ``target_behaviour`` (None or 0: any)."""
        features = {name: self._truncate(tf.convert_to_tensor(v)) for name, v in features.items() if v is not None}
        item_ids = self._truncate(tf.cast(item_ids, tf.int64))
        states = self.encode_inputs(item_ids, training, features)
        if self.adaptation is not None:
            return self.adaptation.adapted_query(states, item_ids, self.scores_for)
        state = states[:, -1, :]
        if self.target_behaviour is None:
            return state
        return self.target_behaviour(state, None if target_event_type is None else tf.reshape(target_event_type, [-1]))

    def score_all(self, item_ids: tf.Tensor, training: bool = False, **features) -> tf.Tensor:
        """Scores ``[B, num_items]`` for the next item after each (left-padded) history."""
        return self.scores_for(self.query(item_ids, training=training, **features))

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
        if not isinstance(inputs, dict):
            return self.score_all(inputs, training=training)
        features = self.record_features(inputs)
        if inputs.get(TARGET_EVENT_TYPE) is not None:
            features[TARGET_EVENT_TYPE] = inputs[TARGET_EVENT_TYPE]
        return self.score_all(inputs["item_ids"], training=training, **features)

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        """Next-item loss over every non-padding position of ``inputs["item_ids"] [B, L + 1]`` (record features
        aligned)."""
        keep = self.config.max_len + 1
        item_ids = tf.cast(inputs["item_ids"], tf.int64)[:, -keep:]
        history, targets = item_ids[:, :-1], item_ids[:, 1:]
        features = self.record_features(inputs, keep)
        current = {name: value[:, :-1] for name, value in features.items()}
        states = self.encode_inputs(history, training, current)
        mask = tf.logical_and(tf.not_equal(history, PAD_ID), tf.not_equal(targets, PAD_ID))
        queries = states
        if self.target_behaviour is not None:
            asked = self.target_behaviour.training_targets(features[EVENT_TYPES][:, 1:], training)
            queries = self.target_behaviour(states, asked)
        loss = self.task(
            queries, targets, self.item_embeddings(), item_bias=self.item_biases(), mask=mask, training=training
        )
        if training and self.distiller is not None:
            loss = self.distiller.blend(loss, self, history, current, queries, mask)
        if not self.aux_heads:
            return loss
        next_events = {"item_ids": targets, **{name: value[:, 1:] for name, value in features.items()}}
        return loss + self.heads_loss(states, next_events, {"item_ids": history, **current}, mask)

    def heads_loss(self, states: tf.Tensor, next_events: dict, current: dict, mask: tf.Tensor) -> tf.Tensor:
        """``sum_h weight_h * mean loss_h`` over the positions of ``mask [B, L]`` (states ``[B, L, D]``); each
        head's mean is logged as ``<name>_loss``."""
        weights = tf.cast(mask, tf.float32)
        total = tf.constant(0.0)
        for head, tracker in zip(self.aux_heads, self.head_loss_trackers):
            per_position = head.loss(head.predict(states), head.labels(next_events, current))  # [B, L]
            mean = global_mean(tf.reduce_sum(per_position * weights), tf.reduce_sum(weights))
            tracker.update_state(mean * num_replicas())  # the tracker averages the replicas' values
            total += head.config.weight * mean
        return total

    @property
    def metrics(self):
        return super().metrics + list(self.head_loss_trackers)

    def train_step(self, inputs):
        """``tfrs.Model.train_step`` plus loss scaling when Keras wrapped the optimizer in a
        ``LossScaleOptimizer`` (policy ``mixed_float16``): the loss is scaled before the gradients are taken and
        the gradients unscaled before they are applied, so small float16 gradients do not flush to zero."""
        optimizer = self.optimizer
        scaling = isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss = self.training_loss(inputs)
            regularization_loss = replica_share(tf.reduce_sum([tf.reduce_sum(extra) for extra in self.losses]))
            total_loss = loss + regularization_loss
            scaled_loss = optimizer.get_scaled_loss(total_loss) if scaling else total_loss
        variables = self.trained_variables
        gradients = tape.gradient(scaled_loss, variables)
        if scaling:
            gradients = optimizer.get_unscaled_gradients(gradients)
        optimizer.apply_gradients(zip(gradients, variables))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        metrics.update(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        return metrics

    @property
    def trained_variables(self) -> list:
        """The variables ``train_step`` updates: all trainable ones, or the adaptation's alone when it is
        meta-trained with ``outer: adapter``."""
        if (
            self.adaptation is not None
            and self.adaptation.config.meta_trains
            and self.adaptation.config.outer == "adapter"
        ):
            return self.adaptation.trainable_variables
        return self.trainable_variables

    def training_loss(self, inputs) -> tf.Tensor:
        """What ``train_step`` minimises: ``compute_loss``, or with a meta-trained ``adaptation`` the loss of its
        episodes (``tfseqrec.models.adaptation.meta_loss``) plus ``next_item_weight`` times ``compute_loss``."""
        if self.adaptation is None or not self.adaptation.config.meta_trains:
            return self.compute_loss(inputs, training=True)
        loss = meta_loss(self, inputs, training=True)
        weight = self.adaptation.config.next_item_weight
        return loss + weight * self.compute_loss(inputs, training=True) if weight else loss

    # -- serialisation -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {
            "model": self.registry_name,
            "config": self.config.to_dict(),
            "num_items": self.num_items,
            "item_counts": self._item_counts,
        }

    @property
    def side_inputs(self) -> Optional[SideInputs]:
        """The side-input tables the model was built with (not part of ``get_config``: pass them back to
        ``from_config``)."""
        return self._side_inputs

    @classmethod
    def from_config(cls, config: dict, custom_objects=None, side_inputs: Optional[SideInputs] = None):
        from tfseqrec.models.registry import config_from_dict, get_model_class

        model_class, config_class = get_model_class(config["model"])
        return model_class(
            config_from_dict(config_class, config["config"]),
            config["num_items"],
            item_counts=config.get("item_counts"),
            side_inputs=side_inputs,
        )

    def build_for_inputs(self, batch_size: int = 1) -> "SequentialRecommender":
        """Creates the weights by running one dummy batch (for loading weights into a fresh model); record
        features are 1 (the first event type; times 1 ms apart)."""
        dummy = tf.fill([batch_size, self.config.max_len + 1], tf.constant(OOV_ID + 1, tf.int64))
        batch = {name: dummy for name in self.input_features}
        self.compute_loss(batch, training=False)
        self.call({name: value[:, 1:] for name, value in batch.items()})
        return self
