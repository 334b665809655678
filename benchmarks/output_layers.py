"""Speed of the full-softmax output layer alone (forward + backward), plain TensorFlow against the package's.

Used by ``benchmarks/output_layer.py`` (the two layers side by side, same process) and by
``benchmarks/peers/limits.py`` (the fastest of them is the speed ceiling of a full cross-entropy trainer).
Imports TensorFlow when called, not at import time.
"""

from __future__ import annotations

import time

LAYERS = ("plain", "tfseqrec")


def output_layer_step(
    items: int, dim: int, targets: int, jit_compile: bool = False, seed: int = 0, layer: str = "plain"
):
    """A compiled ``step()`` returning ``(loss, grad_h [targets, dim], grad_table [rows, dim])`` for random float32
    queries ``h`` and an item table over ``items`` items.

    ``layer``: ``"plain"`` is ``h @ E^T`` with ``tf.nn.sparse_softmax_cross_entropy_with_logits`` and autodiff;
    ``"tfseqrec"`` is :func:`tfseqrec.tasks.full_softmax.full_softmax_cross_entropy` (hand-written gradient, what
    our full-CE models train with), whose table has two more rows (PAD, OOV) that are never scored.
    """
    import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
    import tensorflow as tf

    from tfseqrec.tasks.full_softmax import full_softmax_cross_entropy

    if layer not in LAYERS:
        raise ValueError(f"layer={layer!r}: use one of {LAYERS}")
    rng = tf.random.Generator.from_seed(seed)
    hidden = rng.normal([targets, dim])
    labels = rng.uniform([targets], 0, items, dtype=tf.int64)
    real_items = rng.normal([items, dim]) * 0.05
    extra = 2 if layer == "tfseqrec" else 0
    table = tf.Variable(tf.concat([tf.zeros([extra, dim]), real_items], axis=0))

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            tape.watch(hidden)
            if layer == "tfseqrec":
                loss = tf.reduce_sum(full_softmax_cross_entropy(hidden, table, labels + extra))
            else:
                logits = tf.matmul(hidden, table, transpose_b=True)  # [targets, items]
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        grad_h, grad_table = tape.gradient(loss, [hidden, table])
        return loss, grad_h, tf.convert_to_tensor(grad_table)[extra:]

    return step


def output_layer_targets_per_second(
    items: int,
    dim: int,
    targets: int,
    jit_compile: bool = False,
    min_seconds: float = 2.0,
    seed: int = 0,
    layer: str = "plain",
) -> float:
    """Targets per second of :func:`output_layer_step` (after 3 warm-up calls, at least ``min_seconds`` timed)."""
    step = output_layer_step(items, dim, targets, jit_compile=jit_compile, seed=seed, layer=layer)
    for _ in range(3):
        step()[0].numpy()
    calls, start = 0, time.perf_counter()
    while True:
        step()[0].numpy()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 3:
            return calls * targets / elapsed
