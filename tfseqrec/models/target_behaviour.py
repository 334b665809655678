"""Behaviour-conditioned prediction: "which item will this user *order* next" rather than "which item next".

With ``model_config.target_behaviour.enabled`` the query depends on the behaviour asked about (MB-STR's
behaviour-specific prediction, in its smallest forms): for a target behaviour ``t`` (event-type ids ``1..n``;
0 = any behaviour), ``form``

* ``shift`` (default): ``query = state + b[t]``, ``b [n + 1, D]`` from zeros: a per-behaviour preference over
  items (``b[t] . item``), ``D`` weights per behaviour;
* ``affine``: ``query = state @ W[t] + b[t]``, ``W [n + 1, D, D]`` from the identity: ``D^2 + D`` weights per
  behaviour (on the Taobao sample it fell below the model without conditioning, where ``shift`` rose above it:
  ``benchmarks/grids/behaviours.yaml``),

so an untrained map leaves the unconditioned model unchanged. Training asks, at every position, for the behaviour of the
next event (``event_types`` shifted by one), and hides it (asks for ``0``, any behaviour) with probability
``dropout``, so the same model also answers the unconditioned question. A caller names the behaviour with
``target_event_type`` (int ``[B]``); absent or 0 asks for any behaviour, which is what old clients send.

The evaluator ranks once per behaviour with that behaviour asked for and scores each behaviour's targets on its
own list (``EvaluationConfig.condition_on_behaviour``); the overall metrics use the unconditioned list.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tfseqrec  # noqa: F401
import tensorflow as tf

TARGET_EVENT_TYPE = "target_event_type"
FORMS = ("affine", "shift")


@dataclasses.dataclass(frozen=True)
class TargetBehaviourConfig:
    """``enabled``: condition the query on the target behaviour. ``form``: ``shift`` (``state + b[t]``) or
    ``affine`` (``state @ W[t] + b[t]``). ``dropout``: probability that a training position asks for any behaviour
    (0) instead of the next event's."""

    enabled: bool = False
    form: str = "shift"
    dropout: float = 0.25

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"target_behaviour.form={self.form!r}: use one of {', '.join(FORMS)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"target_behaviour.dropout={self.dropout} must be in [0, 1)")


class TargetBehaviour(tf.keras.layers.Layer):
    """``(states [..., D], target types [...]) -> queries [..., D]``: one affine map per behaviour (module doc)."""

    def __init__(self, config: TargetBehaviourConfig, dim: int, num_event_types: int, **kwargs):
        super().__init__(**kwargs)
        if num_event_types < 1:
            raise ValueError("model_config.target_behaviour needs data with event types (preprocess with --event-col)")
        self.config = config
        self.dim = int(dim)
        self.num_event_types = int(num_event_types)
        self.kernel = None
        if config.form == "affine":
            eye = tf.eye(self.dim, batch_shape=[self.num_event_types + 1])
            self.kernel = self.add_weight(
                name="kernel", shape=[self.num_event_types + 1, self.dim, self.dim], initializer=lambda *a, **k: eye
            )
        self.bias = self.add_weight(name="bias", shape=[self.num_event_types + 1, self.dim], initializer="zeros")

    def training_targets(self, next_event_types: tf.Tensor, training) -> tf.Tensor:
        """The behaviour each training position asks for ``[B, L]``: the next event's, 0 with prob ``dropout``
        (only when training), and 0 where the type is out of range."""
        types = self.valid(next_event_types)
        if not training or self.config.dropout == 0.0:
            return types
        keep = tf.random.uniform(tf.shape(types)) >= self.config.dropout
        return tf.where(keep, types, tf.zeros_like(types))

    def valid(self, types: tf.Tensor) -> tf.Tensor:
        types = tf.cast(types, tf.int64)
        in_range = tf.logical_and(types >= 0, types <= self.num_event_types)
        return tf.where(in_range, types, tf.zeros_like(types))

    def call(self, states: tf.Tensor, types: Optional[tf.Tensor]) -> tf.Tensor:
        if types is None:
            types = tf.zeros(tf.shape(states)[:-1], tf.int64)
        types = self.valid(types)
        bias = tf.cast(self.bias, states.dtype)
        if self.kernel is None:
            return states + tf.gather(bias, types)
        # Every behaviour's map, then the one asked for: [..., T, D] is small, a gathered [..., D, D] is not.
        mapped = tf.einsum("...d,tde->...te", states, tf.cast(self.kernel, states.dtype)) + bias  # [..., T, D]
        return tf.gather(mapped, types, batch_dims=types.shape.rank)
