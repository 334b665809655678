"""GRU4Rec (Hidasi et al., ICLR 2016; Hidasi & Karatzoglou, CIKM 2018) as the official code trains it.

Architecture: item embedding -> dropout (``dropout_embedding``) -> stacked GRU layers, each followed by
dropout on its output (``dropout_hidden``; the recurrent state itself is never dropped) -> the last
layer's output is the query, scored by a dot product with the output item embeddings (+ optional bias).

* ``tie_embeddings=True`` (default): the output item embeddings are the input table, the official
  code's ``constrained_embedding`` (its default and the setting of its tuned parameter files). When the
  last GRU layer is not ``embedding_dim`` wide, a linear ``Dense`` maps it to ``embedding_dim``.
  ``tie_embeddings=False``: a separate output table ``[V, hidden_units[-1]]`` (the official
  ``embedding=k, constrained_embedding=False`` mode). The official one-hot input mode (no input
  embedding) is a special case of an input embedding followed by the GRU's input weights and is not a
  separate option.
* ``initializer="gru4rec"`` (default): the official code's uniform Glorot-style initialisation, with
  the range computed per gate for the GRU matrices (``sqrt(6 / (fan_in + units))``) and
  ``sqrt(6 / (V + D))`` for item tables. ``"keras"``: the library defaults instead (truncated normal
  0.02 for item tables, Glorot-uniform input kernels over all three gates, orthogonal recurrent kernels).

Two training modes, both with plain ``model.fit``:

1. **Padded sequence batches** ``{"item_ids": [B, L + 1]}`` from :func:`tfseqrec.data.make_dataset`
   (the base class's ``compute_loss``): every position predicts the next item; full back-propagation
   through time over the sequence. ``encode`` runs the GRU stack over whole sequences (cuDNN on GPU).
2. **Session-parallel mini-batches** ``{"inputs": [B], "targets": [B], "reset": [B]}`` from
   :mod:`tfseqrec.data.session_parallel` (the paper's scheme): the model keeps every slot's hidden
   state in non-trainable variables ``[B, H_l]`` per layer, zeroes the rows flagged by ``reset``, runs
   one GRU step (``step``), stores the new states and computes the loss for the ``B`` queries. The
   state is carried across batches without gradient (truncated BPTT of length 1, as in the paper).
   ``B`` must be the same for every batch of an epoch; the session-parallel dataset guarantees it
   (every batch is full). Training and evaluation (``model.evaluate`` on such batches) keep separate
   states. The state variables are not model weights: they are neither saved nor restored, and a
   change of ``B`` (or the first batch) starts from zero states. Single replica only (the states are
   plain variables, not per-replica).

The loss is the task's (``config.loss``): GRU4Rec's own setting is ``LossConfig(name="bpr_max",
sampler="popularity", sampling_alpha=..., bpr_reg=..., batch_targets_as_negatives=True,
score_activation="elu-0.5")``: the other sessions' targets in the mini-batch plus one set of
popularity-sampled extra negatives shared by the whole mini-batch, ELU on the scores, BPR-max with score
regularisation (see ``benchmarks/configs/gru4rec_ml1m_bprmax.yaml``); or ``"sampled_softmax"`` / ``"full_ce"``
(cross-entropy). The popularity sampler needs ``item_counts``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Sequence, Tuple

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf

from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.ids import PAD_ID
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.kv_cache import StreamStateLayout
from tfseqrec.models.registry import register

INITIALIZERS = ("gru4rec", "keras")
SESSION_PARALLEL_KEYS = ("inputs", "targets", "reset")


@dataclasses.dataclass(frozen=True)
class GRU4RecConfig(SequentialModelConfig):
    """GRU4Rec's own fields (the shared ones are in :class:`SequentialModelConfig`).

    Attributes:
      hidden_units: units of each GRU layer, bottom first; ``None`` = one layer of ``embedding_dim``
        units (the official default layout: one layer whose width equals the tied item embedding's).
      dropout_embedding: dropout on the input item embeddings (official ``dropout_p_embed``; default 0.0,
        the official default).
      dropout_hidden: dropout on each GRU layer's output (official ``dropout_p_hidden``); ``None`` =
        the shared ``dropout`` field (0.2 by default, inside the 0.0 - 0.5 range of the tuned files).
      tie_embeddings: output item embeddings = input item embeddings (official ``constrained_embedding``).
      initializer: ``"gru4rec"`` (official uniform ranges) or ``"keras"`` (library defaults).
    """

    hidden_units: Optional[Tuple[int, ...]] = None
    dropout_embedding: float = 0.0
    dropout_hidden: Optional[float] = None
    tie_embeddings: bool = True
    initializer: str = "gru4rec"

    def __post_init__(self):
        super().__post_init__()
        if self.hidden_units is not None:
            units = self.hidden_units
            if isinstance(units, int):
                units = (units,)
            units = tuple(units)
            if not units or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units):
                raise ValueError(f"hidden_units must be a non-empty tuple of positive ints, got {self.hidden_units!r}")
            object.__setattr__(self, "hidden_units", units)
        for name in ("dropout_embedding", "dropout_hidden"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value} must be in [0, 1)")
        if self.initializer not in INITIALIZERS:
            raise ValueError(f"initializer must be one of {INITIALIZERS}, got {self.initializer!r}")

    @property
    def layer_sizes(self) -> Tuple[int, ...]:
        """Units of each GRU layer after resolving the ``None`` default."""
        return self.hidden_units if self.hidden_units is not None else (self.embedding_dim,)

    @property
    def hidden_dropout_rate(self) -> float:
        return self.dropout if self.dropout_hidden is None else self.dropout_hidden


def _uniform(fan_in: int, fan_out: int) -> tf.keras.initializers.Initializer:
    """Uniform in ``+-sqrt(6 / (fan_in + fan_out))`` (a fresh instance: unseeded ones must not be reused)."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return tf.keras.initializers.RandomUniform(-limit, limit)


def _gru_layer(units: int, input_dim: int, initializer: str, name: str) -> tf.keras.layers.GRU:
    """One GRU layer returning its whole output sequence (cuDNN-compatible settings)."""
    kwargs = {}
    if initializer == "gru4rec":  # ranges per gate: the kernels hold the 3 gates side by side
        kwargs = {"kernel_initializer": _uniform(input_dim, units), "recurrent_initializer": _uniform(units, units)}
    return tf.keras.layers.GRU(units, return_sequences=True, name=name, **kwargs)


def _roll_rows(x: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
    """Row ``b`` of ``x [B, L, ...]`` rolled left by ``shift[b]``: ``out[b, j] = x[b, (j + shift[b]) % L]``."""
    length = tf.shape(x)[1]
    index = tf.math.floormod(tf.range(length)[tf.newaxis, :] + shift[:, tf.newaxis], length)  # [B, L]
    return tf.gather(x, index, batch_dims=1)


class _SessionStates:
    """Per-slot hidden states of the session-parallel mode: one variable ``[B, H_l]`` per GRU layer.

    A plain object on purpose: Keras does not track what it holds, so the states are not model weights
    (not trained, not checkpointed). The leading dimension is left undefined so any ``B`` can be stored;
    ``rows`` holds the stored ``B`` (a variable read, because inside a ``tf.function`` a shape taken
    from a variable is not ordered against the step's assign, while reads are).
    """

    def __init__(self, layer_sizes: Sequence[int], name: str):
        self.rows = tf.Variable(0, dtype=tf.int32, trainable=False, name=f"{name}_rows")
        self.variables = [
            tf.Variable(tf.zeros([0, units]), shape=tf.TensorShape([None, units]), trainable=False, name=f"{name}_{i}")
            for i, units in enumerate(layer_sizes)
        ]

    def read(self, reset: tf.Tensor) -> List[tf.Tensor]:
        """States ``[B, H_l]`` for ``reset [B]`` bool: zero rows where ``reset``; all zero if ``B`` changed."""
        batch_size = tf.shape(reset)[0]
        same_batch = tf.equal(self.rows.read_value(), batch_size)
        states = []
        for variable in self.variables:
            value = variable.read_value()
            zeros = tf.zeros([batch_size, variable.shape[1]], variable.dtype)
            stored = tf.cond(same_batch, lambda v=value: v, lambda z=zeros: z)
            states.append(tf.where(reset[:, tf.newaxis], zeros, stored))
        return states

    def write(self, states: Sequence[tf.Tensor]) -> List[tf.Operation]:
        """Stores ``states`` (without gradient); returns the assign ops."""
        assigns = [
            variable.assign(tf.cast(tf.stop_gradient(state), variable.dtype))
            for variable, state in zip(self.variables, states)
        ]
        return assigns + [self.rows.assign(tf.shape(states[0])[0])]

    def clear(self) -> None:
        self.rows.assign(0)
        for variable in self.variables:
            variable.assign(tf.zeros([0, variable.shape[1]], variable.dtype))


@register("gru4rec", GRU4RecConfig)
class GRU4Rec(SequentialRecommender):
    """GRU4Rec; ``encode``: ``[B, L] -> [B, L, D]``, ``step``: ``[B] -> [B, D]`` (see the module doc)."""

    def __init__(self, config: GRU4RecConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        sizes = config.layer_sizes
        gru4rec_init = config.initializer == "gru4rec"
        if gru4rec_init:  # the base class's table is not built yet: only its initializer changes
            self.item_embedding.embeddings_initializer = _uniform(self.num_items, config.embedding_dim)
        self.embedding_dropout = FastDropout(config.dropout_embedding, name="embedding_dropout")
        input_dims = (config.embedding_dim,) + sizes[:-1]
        self.grus = [
            _gru_layer(units, dim, config.initializer, f"gru_{i}")
            for i, (units, dim) in enumerate(zip(sizes, input_dims))
        ]
        self.hidden_dropouts = [
            FastDropout(config.hidden_dropout_rate, name=f"hidden_dropout_{i}") for i in range(len(sizes))
        ]
        self.projection = None
        self.output_item_embedding = None
        if config.tie_embeddings and sizes[-1] != config.embedding_dim:
            self.projection = tf.keras.layers.Dense(config.embedding_dim, use_bias=False, name="projection")
        if config.inputs.output_features and not config.tie_embeddings:
            raise ValueError(
                "inputs.output_features needs tie_embeddings=true for GRU4Rec (the output table is the input one)"
            )
        if not config.tie_embeddings:
            initializer = (
                _uniform(self.num_items, sizes[-1])
                if gru4rec_init
                else tf.keras.initializers.TruncatedNormal(stddev=0.02)
            )
            self.output_item_embedding = tf.keras.layers.Embedding(
                self.num_items, sizes[-1], embeddings_initializer=initializer, name="output_item_embedding"
            )
            self.output_item_embedding.build((None,))
        self._train_states = _SessionStates(sizes, "gru4rec_train_state")
        self._eval_states = _SessionStates(sizes, "gru4rec_eval_state")

    # -- output layer ----------------------------------------------------------------------------------
    def item_embeddings(self) -> tf.Tensor:
        """``[num_items, D]``: the input table when tied, else the separate output table."""
        if self.output_item_embedding is not None:
            return self.output_item_embedding.embeddings
        return super().item_embeddings()

    def _to_query(self, hidden: tf.Tensor) -> tf.Tensor:
        """Last layer output ``[..., H]`` -> query ``[..., D]`` (identity unless projected)."""
        return hidden if self.projection is None else self.projection(hidden)

    def _embed(self, item_ids: tf.Tensor, training: bool, features=None) -> tf.Tensor:
        """Input embeddings (with the side inputs) and dropout: ``[...] -> [..., embedding_dim]``."""
        return self.embedding_dropout(self.embed_items(item_ids, features), training=training)

    # -- padded sequence batches -------------------------------------------------------------------------
    def encode(self, item_ids, training=False, features=None):
        """States ``[B, L, D]`` for left-padded ``item_ids [B, L]`` (record ``features [B, L]`` by name);
        padding positions are 0.

        Each row is rotated so that its items come first (right padding), the GRU stack runs from a
        zero state (the items are causal, so trailing padding cannot change their outputs and no mask
        is needed, which keeps the cuDNN kernel usable), and the outputs are rotated back. The output at
        the last column is therefore the state after the real items only, whatever the padding.
        Assumes contiguous left padding, as the loader produces.
        """
        item_ids = tf.cast(item_ids, tf.int64)
        is_item = tf.not_equal(item_ids, PAD_ID)  # [B, L]
        lengths = tf.reduce_sum(tf.cast(is_item, tf.int32), axis=1)  # [B]
        padding = tf.shape(item_ids)[1] - lengths  # [B]
        x = _roll_rows(self._embed(item_ids, training, features), padding)  # [B, L, E], right padded
        for gru, dropout in zip(self.grus, self.hidden_dropouts):
            x = dropout(gru(x, training=training), training=training)  # [B, L, H_l]
        x = _roll_rows(x, lengths)  # back to left padding
        x = x * tf.cast(is_item, x.dtype)[..., tf.newaxis]
        return self._to_query(x)

    # -- session-parallel mode ---------------------------------------------------------------------------
    def initial_states(self, batch_size: int) -> List[tf.Tensor]:
        """Zero states, one ``[batch_size, H_l]`` per layer."""
        return [tf.zeros([batch_size, units]) for units in self.config.layer_sizes]

    def step(
        self, item_ids: tf.Tensor, states: Sequence[tf.Tensor], training: bool = False
    ) -> Tuple[tf.Tensor, List[tf.Tensor]]:
        """One GRU step for every slot.

        Args:
          item_ids: ``[B]`` int, the current item of each slot.
          states: one ``[B, H_l]`` hidden state per layer (zeros for a new session).
          training: enables dropout.

        Returns:
          ``(query [B, D], new_states)``: the query scores the next item; ``new_states`` (one
          ``[B, H_l]`` per layer, before dropout) are the states to pass to the next step.
        """
        x = self._embed(item_ids, training)  # [B, E]
        new_states = []
        for gru, dropout, state in zip(self.grus, self.hidden_dropouts, states):
            state = tf.cast(state, x.dtype)
            output, _ = gru.cell(x, [state], training=training)  # same weights as the sequence layer
            new_states.append(output)
            x = dropout(output, training=training)
        return self._to_query(x), new_states

    # -- streaming: the GRU states of every layer, concatenated -------------------------------------------------
    def stream_state_layout(self) -> Optional[StreamStateLayout]:
        """A fixed ``sum(hidden_units)`` values for item ids alone (side inputs, adaptation and target behaviour
        have no step)."""
        plain = self.input_features == ("item_ids",) and self.adaptation is None and self.target_behaviour is None
        return StreamStateLayout(fixed=sum(self.config.layer_sizes)) if plain else None

    def stream_start(self, item_ids: tf.Tensor) -> tuple:
        """``(query [B, D], state [B, sum H_l])`` after left-padded ``item_ids [B, L]`` (inference): each layer's
        hidden state after the last real item (zeros for an empty row), as ``encode`` computes them."""
        item_ids = tf.cast(item_ids, tf.int64)
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(item_ids, PAD_ID), tf.int32), axis=1)  # [B]
        x = _roll_rows(self._embed(item_ids, False), tf.shape(item_ids)[1] - lengths)  # right padded
        last = tf.maximum(lengths - 1, 0)
        states = []
        for gru in self.grus:
            x = gru(x, training=False)  # [B, L, H_l]
            state = tf.gather(x, last, batch_dims=1)  # [B, H_l]
            states.append(tf.where((lengths > 0)[:, tf.newaxis], state, tf.zeros_like(state)))
        return self._to_query(states[-1]), tf.concat(states, axis=-1)

    def stream_step(self, state: tf.Tensor, item_ids: tf.Tensor) -> tuple:
        """One GRU step of every layer from ``state [B, sum H_l]`` for ``item_ids [B]``."""
        query, states = self.step(item_ids, tf.split(state, list(self.config.layer_sizes), axis=-1))
        return query, tf.concat(states, axis=-1)

    def session_states(self, training: bool = True) -> List[tf.Tensor]:
        """The carried session-parallel states, one ``[B, H_l]`` per layer (``[0, H_l]`` before any batch)."""
        store = self._train_states if training else self._eval_states
        return [tf.convert_to_tensor(variable) for variable in store.variables]

    def reset_session_states(self) -> None:
        """Forgets the carried session-parallel states (training and evaluation)."""
        self._train_states.clear()
        self._eval_states.clear()

    def session_parallel_loss(self, inputs: dict, training: bool = False) -> tf.Tensor:
        """Loss of one session-parallel batch ``{"inputs": [B], "targets": [B], "reset": [B] bool}``.

        Reads the carried states (zeroing rows where ``reset``), runs :meth:`step`, stores the new
        states and returns the task's loss for queries ``[B, D]`` and targets ``[B]``.
        """
        store = self._train_states if training else self._eval_states
        reset = tf.cast(inputs["reset"], tf.bool)
        targets = tf.cast(inputs["targets"], tf.int64)
        query, new_states = self.step(inputs["inputs"], store.read(reset), training=training)
        with tf.control_dependencies(store.write(new_states)):
            return self.task(
                query,
                targets,
                self.item_embeddings(),
                item_bias=self.item_biases(),
                mask=tf.not_equal(targets, PAD_ID),
                training=training,
            )

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        """Session-parallel loss when the batch has ``"reset"``, else the padded-batch loss of the base."""
        if isinstance(inputs, dict) and "reset" in inputs:
            missing = [key for key in SESSION_PARALLEL_KEYS if key not in inputs]
            if missing:
                raise ValueError(f"a session-parallel batch needs {SESSION_PARALLEL_KEYS}; missing {missing}")
            return self.session_parallel_loss(inputs, training=bool(training))
        return super().compute_loss(inputs, training=training)
