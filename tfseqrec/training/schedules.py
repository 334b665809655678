"""Learning-rate schedules and optimizers from ``OptimizerConfig``."""

from __future__ import annotations

import math

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.training.config import OptimizerConfig


class WarmupDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over ``warmup_steps``, then constant, linear or cosine decay to 0 at ``total_steps``."""

    def __init__(self, learning_rate: float, warmup_steps: int, total_steps: int, decay: str):
        super().__init__()
        self.learning_rate, self.warmup_steps, self.total_steps, self.decay = (
            float(learning_rate),
            int(warmup_steps),
            max(int(total_steps), 1),
            decay,
        )

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        lr = tf.constant(self.learning_rate, tf.float32)
        warm = tf.constant(float(max(self.warmup_steps, 1)), tf.float32)
        warmup_factor = tf.minimum(1.0, (step + 1.0) / warm) if self.warmup_steps else tf.constant(1.0)
        span = float(max(self.total_steps - self.warmup_steps, 1))
        progress = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
        if self.decay == "linear":
            decay_factor = 1.0 - progress
        elif self.decay == "cosine":
            decay_factor = 0.5 * (1.0 + tf.cos(math.pi * progress))
        else:
            decay_factor = tf.constant(1.0)
        return lr * warmup_factor * decay_factor

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "decay": self.decay,
        }


def build_optimizer(cfg: OptimizerConfig, total_steps: int) -> tf.keras.optimizers.Optimizer:
    schedule = (
        WarmupDecay(cfg.learning_rate, cfg.warmup_steps, total_steps, cfg.decay)
        if cfg.warmup_steps or cfg.decay != "none"
        else cfg.learning_rate
    )
    kwargs = {"learning_rate": schedule, "beta_2": cfg.beta_2}
    if cfg.clipnorm:
        kwargs["global_clipnorm"] = cfg.clipnorm
    if cfg.name == "adamw":
        return tf.keras.optimizers.AdamW(weight_decay=cfg.weight_decay, **kwargs)
    return tf.keras.optimizers.Adam(**kwargs)
