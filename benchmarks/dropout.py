"""Training steps with tfseqrec's FastDropout against the same model with Keras' Dropout, same process.

    python benchmarks/dropout.py --data-dir out/ml-100k --model bert4rec --max-len 50
    python benchmarks/dropout.py --data-dir out/ml-1m --model sasrec --max-len 200 --rounds 3

Builds the model twice from the same seed (width 64, dropout 0.2, batch 128, full cross-entropy, Adam), the second
with every ``FastDropout`` layer (``tfseqrec.models.dropout``: 16-bit random draws) switched back to Keras'
``Dropout`` (float32 draws), warms both up on the same real training batches, then times them in alternating rounds
(so that load from elsewhere hits both alike) and prints milliseconds per step, targets per second (non-padding
positions) and the ratio. ``--rounds`` rounds of ``--steps`` steps each; the best round of each is reported.
"""

from __future__ import annotations

import argparse
import time

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.host.machine import describe
from tfseqrec.data import load_feature_spec
from tfseqrec.data.spec import load_item_counts
from tfseqrec.models import build_model
from tfseqrec.models.dropout import FastDropout
from tfseqrec.training.config import TrainConfig
from tfseqrec.training.trainer import train_dataset

VARIANTS = ("keras", "tfseqrec")


def with_keras_dropout(model: tf.keras.Model) -> int:
    """Switches every FastDropout layer of a built ``model`` to Keras' ``Dropout.call``; returns how many."""
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, FastDropout)]
    for layer in layers:
        layer.__class__ = tf.keras.layers.Dropout
    return len(layers)


def compiled_step(model_name: str, max_len: int, spec, batch, variant: str, seed: int = 0):
    """A traced ``train_step`` of a fresh model (``variant`` keras or tfseqrec dropout) and its dropout count."""
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: use one of {VARIANTS}")
    tf.keras.utils.set_random_seed(seed)
    model = build_model(
        model_name,
        {"embedding_dim": 64, "max_len": max_len, "dropout": 0.2, "loss": {"name": "full_ce"}},
        spec.vocabulary.size,
        item_counts=load_item_counts(spec),
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    step = tf.function(model.train_step)
    step(batch)["loss"].numpy()  # builds the variables and layers
    switched = with_keras_dropout(model) if variant == "keras" else 0
    step = tf.function(model.train_step)  # retraced with the switched layers
    step(batch)["loss"].numpy()
    return step, switched


def time_steps(step, batches) -> float:
    """Seconds per step over ``batches``."""
    started = time.perf_counter()
    for batch in batches:
        loss = step(batch)["loss"]
    loss.numpy()
    return (time.perf_counter() - started) / len(batches)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="output of `tfseqrec preprocess`")
    parser.add_argument("--model", default="bert4rec", help="a registered model with dropout (sasrec, bert4rec...)")
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per variant (best one kept)")
    args = parser.parse_args(argv)
    spec = load_feature_spec(args.data_dir)
    batches = list(
        train_dataset(spec, TrainConfig(data_dir=spec.directory, batch_size=args.batch_size), args.max_len).take(
            args.steps
        )
    )
    targets = sum(int(tf.reduce_sum(tf.cast(b["item_ids"][:, 1:] > 0, tf.int64))) for b in batches) / len(batches)
    steps = {variant: compiled_step(args.model, args.max_len, spec, batches[0], variant) for variant in VARIANTS}
    if steps["keras"][1] == 0:
        raise SystemExit(f"error: {args.model} has no dropout layers to compare")
    best = {variant: float("inf") for variant in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            best[variant] = min(best[variant], time_steps(steps[variant][0], batches))
    machine = describe()
    print(
        f"{args.model}, length {args.max_len}, batch {args.batch_size}, {steps['keras'][1]} dropout layers, "
        f"{machine['cpus']} CPUs ({machine['cpu_model']}); best of {args.rounds} rounds of {len(batches)} steps"
    )
    for variant in VARIANTS:
        print(
            f"  {variant + ' dropout':<17} {best[variant] * 1e3:8.1f} ms/step {targets / best[variant]:>10,.0f} "
            "targets/s"
        )
    ratio = best["keras"] / best["tfseqrec"]
    print(f"  speed-up {ratio:.2f}x")
    return {"seconds_per_step": best, "speedup": ratio, "dropout_layers": steps["keras"][1]}


if __name__ == "__main__":
    main()
