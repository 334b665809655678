"""Optimizers built from ``OptimizerConfig``: the warm-up + cosine learning-rate schedule and AdamW with decoupled
weight decay and global gradient clipping, against values computed by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfseqrec.training.config import OptimizerConfig, load_train_config
from tfseqrec.training.schedules import WarmupDecay, build_optimizer

# learning_rate 0.01, 2 warm-up steps, 10 steps in all: step s < 2 gets (s + 1) / 2 of the rate; later steps
# 0.5 (1 + cos(pi p)) of it, p = (s - 2) / 8 clipped to [0, 1]. cos(pi/8) = 0.9238795, cos(pi/4) = 0.7071068,
# cos(3 pi/8) = 0.3826834.
COSINE = {
    0: 0.005,
    1: 0.01,
    2: 0.01,
    3: 0.01 * 0.5 * (1 + 0.9238795),  # 0.0096194
    4: 0.01 * 0.5 * (1 + 0.7071068),  # 0.0085355
    5: 0.01 * 0.5 * (1 + 0.3826834),  # 0.0069134
    6: 0.005,
    7: 0.01 * 0.5 * (1 - 0.3826834),  # 0.0030866
    8: 0.01 * 0.5 * (1 - 0.7071068),  # 0.0014645
    9: 0.01 * 0.5 * (1 - 0.9238795),  # 0.0003806
    10: 0.0,
    25: 0.0,  # zero at the end and after it
}


def test_cosine_schedule_values_by_hand():
    schedule = WarmupDecay(0.01, warmup_steps=2, total_steps=10, decay="cosine")
    for step, expected in COSINE.items():
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-8), step
    assert COSINE[4] == pytest.approx(0.005 * (1 + math.cos(math.pi / 4)))  # the table's arithmetic


def test_adam_built_from_config_takes_each_step_at_the_scheduled_rate():
    cfg = OptimizerConfig(learning_rate=0.01, warmup_steps=2, decay="cosine")
    optimizer = build_optimizer(cfg, total_steps=10)
    assert type(optimizer) is tf.keras.optimizers.Adam
    # With a constant gradient Adam's bias-corrected m / sqrt(v) is exactly 1: step s moves the variable by the
    # learning rate of step s (less a ~1e-6 relative epsilon term).
    var = tf.Variable([1.0])
    values = [1.0]
    for _ in range(10):
        optimizer.apply_gradients([(tf.constant([1.0]), var)])
        values.append(float(var.numpy()[0]))
    np.testing.assert_allclose(-np.diff(values), [COSINE[s] for s in range(10)], atol=2e-7)


def test_adamw_from_config_applies_weight_decay_and_global_clipnorm():
    cfg = load_train_config(
        overrides=[
            "data_dir=unused",
            "optimizer.name=adamw",
            "optimizer.learning_rate=0.1",
            "optimizer.weight_decay=0.5",
            "optimizer.clipnorm=1.0",
        ]
    ).optimizer
    optimizer = build_optimizer(cfg, total_steps=100)
    assert type(optimizer) is tf.keras.optimizers.AdamW
    assert (optimizer.weight_decay, optimizer.global_clipnorm, optimizer.clipnorm) == (0.5, 1.0, None)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.9, 0.98, 1e-7)

    var = tf.Variable([1.0, -2.0])
    optimizer.apply_gradients([(tf.constant([3.0, 4.0]), var)])
    # The gradient's global norm is 5 > clipnorm 1: it becomes g = [0.6, 0.8] before Adam sees it.
    # Adam's first moments (1 - beta_1) g = [0.06, 0.08] and second moments (1 - beta_2) g^2 = [0.0072, 0.0128].
    slots = {v.name.split("/")[1]: v.numpy() for v in optimizer.variables if "/" in v.name}
    np.testing.assert_allclose(slots["m"], [0.06, 0.08], rtol=1e-6)
    np.testing.assert_allclose(slots["v"], [0.0072, 0.0128], rtol=1e-6)
    # Decoupled weight decay first: x (1 - lr wd) = x * 0.95 = [0.95, -1.9]; then the first Adam step,
    # lr * sqrt(1 - beta_2) / (1 - beta_1) * m / (sqrt(v) + eps) = lr * sign(g) = [0.1, 0.1]: [0.85, -2.0].
    np.testing.assert_allclose(var.numpy(), [0.85, -2.0], rtol=1e-6)


def test_adam_without_decay_or_clipping_for_contrast():
    optimizer = build_optimizer(OptimizerConfig(learning_rate=0.1), total_steps=100)
    assert type(optimizer) is tf.keras.optimizers.Adam and optimizer.global_clipnorm is None
    var = tf.Variable([1.0, -2.0])
    optimizer.apply_gradients([(tf.constant([3.0, 4.0]), var)])
    slots = {v.name.split("/")[1]: v.numpy() for v in optimizer.variables if "/" in v.name}
    np.testing.assert_allclose(slots["m"], [0.3, 0.4], rtol=1e-6)  # the unclipped gradient
    np.testing.assert_allclose(var.numpy(), [0.9, -2.1], rtol=1e-6)  # no decay: x - lr * sign(g)
