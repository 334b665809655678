"""Where a training step's time goes: TensorFlow's profiler over a few steps, summed by op type and by op.

    python benchmarks/profile_step.py --data-dir out/ml-1m                     # SASRec, full CE, length 200
    python benchmarks/profile_step.py --data-dir out/ml-1m --model gru4rec --steps 6 --top 20
    python benchmarks/profile_step.py --data-dir out/beauty --max-len 50 --loss sampled_softmax

Builds the model as ``train_throughput.py`` does (width 64, dropout 0.2, batch 128, padded batches), traces
``train_step`` on a few real batches, then profiles ``--steps`` steps and prints, per step, the self time of each op
type and of the slowest ops (CPU time summed over threads, so a busy step on 2 cores can show up to twice its wall
time; ``IDLE`` is time a thread of the pool waited). ``--logdir`` keeps the trace for TensorBoard's profile plugin.
"""

from __future__ import annotations

import argparse
import glob
import json
import tempfile
import time

import tfseqrec  # noqa: F401
import tensorflow as tf
from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as profiler_tools

from tfseqrec.data import load_feature_spec
from tfseqrec.data.spec import load_item_counts
from tfseqrec.models import build_model
from tfseqrec.training.config import TrainConfig
from tfseqrec.training.trainer import train_dataset


def op_stats(logdir: str) -> list:
    """Rows of the profiler's ``framework_op_stats`` tool: dicts with ``type``, ``operation``, ``total_self_time``
    (microseconds over the whole trace) and the other columns TensorFlow reports."""
    paths = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    if not paths:
        raise SystemExit(f"error: no profile (*.xplane.pb) under {logdir}")
    data, ok = profiler_tools.xspace_to_tools_data(paths, "framework_op_stats", {})
    if not ok:
        raise SystemExit(f"error: TensorFlow could not read the profile: {data[:200]!r}")
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    return [dict(zip(columns, [cell["v"] if cell else None for cell in row["c"]])) for row in table["rows"]]


def summarise(rows: list, steps: int, top: int) -> str:
    """Per-step milliseconds by op type and for the ``top`` slowest ops, with shares of the total."""
    total = sum(r["total_self_time"] for r in rows) or 1.0
    by_type: dict = {}
    for r in rows:
        by_type[r["type"]] = by_type.get(r["type"], 0.0) + r["total_self_time"]
    lines = [f"{'op type':<40} {'ms/step':>9} {'share':>6}"]
    lines += [
        f"{name:<40} {t / 1e3 / steps:9.1f} {100 * t / total:5.1f}%"
        for name, t in sorted(by_type.items(), key=lambda kv: -kv[1])[:top]
    ]
    lines += ["", f"{'op':<90} {'ms/step':>9}"]
    lines += [
        f"{r['operation'][:90]:<90} {r['total_self_time'] / 1e3 / steps:9.1f}"
        for r in sorted(rows, key=lambda r: -r["total_self_time"])[:top]
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="output of `tfseqrec preprocess`")
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--loss", default="full_ce", help="LossConfig name")
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6, help="profiled steps (after 2 untimed ones)")
    parser.add_argument("--top", type=int, default=25, help="op types and ops listed")
    parser.add_argument("--logdir", default=None, help="keep the trace here (default: a temporary folder)")
    args = parser.parse_args()
    spec = load_feature_spec(args.data_dir)
    model = build_model(
        args.model,
        {"embedding_dim": 64, "max_len": args.max_len, "dropout": 0.2, "loss": {"name": args.loss}},
        spec.vocabulary.size,
        item_counts=load_item_counts(spec),
    )
    batches = list(
        train_dataset(spec, TrainConfig(data_dir=spec.directory, batch_size=args.batch_size), args.max_len).take(
            args.steps + 2
        )
    )
    if len(batches) < args.steps + 2:
        raise SystemExit(f"error: {args.data_dir} has only {len(batches)} training batches of {args.batch_size}")
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    step = tf.function(model.train_step)
    for batch in batches[:2]:
        step(batch)["loss"].numpy()
    logdir = args.logdir or tempfile.mkdtemp(prefix="tfseqrec_profile_")
    tf.profiler.experimental.start(logdir)
    started = time.perf_counter()
    for batch in batches[2:]:
        loss = step(batch)["loss"]
    loss.numpy()
    seconds = (time.perf_counter() - started) / args.steps
    tf.profiler.experimental.stop()
    print(
        f"{args.model}, loss {args.loss}, batch {args.batch_size}, length {args.max_len}: {seconds * 1e3:.0f} ms "
        f"per step (wall, profiler on), trace in {logdir}\n"
    )
    print(summarise(op_stats(logdir), args.steps, args.top))


if __name__ == "__main__":
    main()
