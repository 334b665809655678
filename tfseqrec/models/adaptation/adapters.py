"""Per-user adapters: the parameters an inner loop changes for one user, and how they change a query state.

An adapter is one class registered with ``@register_adapter(name)``. It holds the meta-learned initial value of
its ``num_params`` per-user parameters and applies a row's parameters ``[B, P]`` to that row's states
``[B, T, D]``. Adapters act on query states only, so an adapted query still scores items by a dot product and
exports keep their top-K index (brute force or ScaNN).
"""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf

ADAPTERS: dict = {}


def register_adapter(name: str):
    """Class decorator: makes an :class:`Adapter` subclass available as ``adaptation.adapter: <name>``."""

    def decorate(cls):
        if name in ADAPTERS:
            raise ValueError(f"adapter {name!r} is already registered")
        ADAPTERS[name] = cls
        cls.adapter_name = name
        return cls

    return decorate


class Adapter(tf.keras.layers.Layer):
    """``initial(batch) -> [B, P]`` per-user parameters; ``apply(states [B, T, D], params [B, P]) -> [B, T, D]``."""

    adapter_name = "base"

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.initial_value = self.add_weight(
            name="initial", shape=[self.num_params], initializer="zeros", dtype=tf.float32
        )

    @property
    def num_params(self) -> int:
        raise NotImplementedError

    def initial(self, batch_size: tf.Tensor) -> tf.Tensor:
        """The meta-learned initial parameters, one row per user: ``[B, P]``."""
        return tf.tile(self.initial_value[tf.newaxis, :], tf.stack([batch_size, 1]))

    def apply(self, states: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


@register_adapter("query_offset")
class QueryOffset(Adapter):
    """``q + delta_u``: one offset ``[D]`` per user (a context vector, as CAVIA adapts)."""

    @property
    def num_params(self) -> int:
        return self.dim

    def apply(self, states: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        return states + params[:, tf.newaxis, :]


@register_adapter("film")
class FiLM(Adapter):
    """``q * (1 + gamma_u) + beta_u``: a per-user scale and shift ``[2 D]`` (identity at zero)."""

    @property
    def num_params(self) -> int:
        return 2 * self.dim

    def apply(self, states: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        gamma, beta = tf.split(params, 2, axis=-1)
        return states * (1.0 + gamma[:, tf.newaxis, :]) + beta[:, tf.newaxis, :]
