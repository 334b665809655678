"""Dropout that draws 16 random bits per element instead of a float32 uniform.

Keras' ``Dropout`` draws one float32 uniform per element (TensorFlow's Philox kernel, 32 bits each), then
compares, selects and scales. In a transformer step on 2 CPU cores that random generation was the largest single
op type after the matmuls (``benchmarks/profile_step.py`` profiles a step).
:class:`FastDropout` asks Philox for half as many 32-bit words, splits each into two 16-bit draws and keeps an
element when its draw is at least ``round(rate * 65536)``; kept elements are scaled by ``1 / (1 - t / 65536)`` so
the expectation stays exact. The drop rate is ``rate`` up to 1/131072 (``0.1`` -> ``0.1000061``), far below what
matters for regularisation. ``benchmarks/dropout.py`` times it against Keras' layer in one process.

Same contract as ``tf.keras.layers.Dropout`` (``rate``, ``seed``, ``training``); ``noise_shape`` falls back to
Keras' implementation. Randomness: a stateful op draws each call's stateless seed, so
``tf.keras.utils.set_random_seed`` makes runs repeatable, as with Keras' layer (under XLA that op ignores seeds,
as Keras' own dropout does).
"""

from __future__ import annotations

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf

_LEVELS = 65536  # 16-bit draws


def threshold(rate: float) -> int:
    """Draws below this (of 0 .. 65535) are dropped."""
    return int(round(float(rate) * _LEVELS))


def dropout_16bit(inputs: tf.Tensor, rate: float, seed=None) -> tf.Tensor:
    """Inverted dropout of ``inputs`` (any shape, floating) with 16-bit draws; ``rate`` in ``[0, 1)``.

    ``seed``: the op-level seed of the stateful draw of each call's stateless seed (``None``: global seed only).
    """
    cut = threshold(rate)
    if cut == 0:
        return tf.identity(inputs)
    if cut >= _LEVELS:
        raise ValueError(f"dropout rate {rate} drops everything (must be < 1)")
    size = tf.size(inputs)
    call_seed = tf.random.uniform([2], 0, 2**31 - 1, dtype=tf.int64, seed=seed)
    words = tf.random.stateless_uniform([(size + 1) // 2], call_seed, minval=None, maxval=None, dtype=tf.uint32)
    draws = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:size]  # [size]: two draws per 32-bit word
    scale = 1.0 / (1.0 - cut / _LEVELS)
    keep = tf.cast(draws >= cut, inputs.dtype) * tf.cast(scale, inputs.dtype)
    return inputs * tf.reshape(keep, tf.shape(inputs))


@tf.keras.utils.register_keras_serializable(package="tfseqrec")
class FastDropout(tf.keras.layers.Dropout):
    """``tf.keras.layers.Dropout`` with :func:`dropout_16bit`'s cheaper random draws (module docstring)."""

    def call(self, inputs, training=None):
        if self.noise_shape is not None:
            return super().call(inputs, training=training)
        if threshold(self.rate) == 0:
            return tf.identity(inputs)
        if training is None:
            training = tf.keras.backend.learning_phase()
        return tf.__internal__.smart_cond.smart_cond(
            training, lambda: dropout_16bit(inputs, self.rate, self.seed), lambda: tf.identity(inputs)
        )
