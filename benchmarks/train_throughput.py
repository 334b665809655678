"""Training throughput (targets per second) of the models over a fixed number of batches.

    python benchmarks/train_throughput.py --data-dir out/ml-1m            # SASRec full CE / BCE, GRU4Rec, BERT4Rec
    python benchmarks/train_throughput.py --data-dir out/ml-1m --steps 30 --jit
    python benchmarks/train_throughput.py --data-dir out/beauty --max-len 50 --steps 32 --bucket-pool-batches 16
    python benchmarks/train_throughput.py --data-dir out/beauty --max-len 50 --only sasrec_full_ce \
        --precisions float32 mixed_bfloat16       # mixed precision against float32, same process
    python benchmarks/train_throughput.py --data-dir out/ml1m_ts --only sasrec_full_ce sasrec_positions_rotary
    python benchmarks/train_throughput.py --data-dir out/ml-1m-features --only sasrec_full_ce sasrec_side_inputs \
        sasrec_side_inputs_heads --rounds 3     # side inputs (genres in and out) and heads against ids only

The ``sasrec_positions_<kind>`` rows are ``sasrec_full_ce`` with another ``position_encoding`` (``sasrec_full_ce``
is the ``learnable`` one); when both are measured, the end of the output gives each one's throughput as a
multiple of ``sasrec_full_ce``'s (same precision and batching). ``time_interval`` needs data with timestamps.
``sasrec_side_inputs`` adds every side input the data have (``tfseqrec.models.inputs``: item features in and out,
event types, time gaps) and ``sasrec_side_inputs_heads`` an auxiliary head per kind too; their ratios to
``sasrec_full_ce`` are printed the same way.

With ``--bucket-pool-batches N`` every configuration is measured twice, padded to ``max_len`` and with
length-bucketed batches (``TrainConfig.bucket_pool_batches``), and the ratio is printed; use ``--steps`` a
multiple of ``N`` so that the timed batches are whole pools (each pool spans the length distribution).

Times ``model.fit`` over ``--steps`` cached batches after a warm-up pass over the same batches (which traces
every batch shape), from the call to the end of the last batch (``BatchClock``), for each configuration, in this
process, and prints seconds per step, training targets (non-padding positions) per second and the
implied seconds per epoch. All rows run in the same process so their ratios are comparable.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.host.contention import CpuContention
from tfseqrec.data import load_feature_spec
from tfseqrec.data.spec import load_item_counts
from tfseqrec.models import build_model
from tfseqrec.training.config import PRECISION_POLICIES, TrainConfig
from tfseqrec.training.precision import keras_policy
from tfseqrec.training.trainer import train_dataset

CONFIGS = {
    "sasrec_full_ce": ("sasrec", {"loss": {"name": "full_ce"}}),
    "sasrec_bce": ("sasrec", {"loss": {"name": "bce", "negatives_per": "position"}}),
    "sasrec_sampled_softmax_256": ("sasrec", {"loss": {"name": "sampled_softmax", "num_negatives": 256}}),
    # gSASRec's gBCE with 256 negatives: one set per batch, per run of 200 positions, per position
    "gsasrec_batch": ("sasrec", {"loss": {"name": "gbce", "negatives_per": "batch"}}),
    "gsasrec_group": ("sasrec", {"loss": {"name": "gbce", "negatives_per": "group", "negative_group_size": 200}}),
    "gsasrec_position": ("sasrec", {"loss": {"name": "gbce", "negatives_per": "position"}}),
    "gru4rec_full_ce": ("gru4rec", {"loss": {"name": "full_ce"}}),
    "bert4rec_full_ce": ("bert4rec", {"loss": {"name": "full_ce"}}),
}
POSITIONS_BASELINE = "sasrec_full_ce"  # the learnable position table, the default
POSITION_KINDS = ("sinusoidal", "none", "rotary", "relative", "alibi", "time_interval")
CONFIGS.update(
    {
        f"sasrec_positions_{kind}": ("sasrec", {**CONFIGS[POSITIONS_BASELINE][1], "position_encoding": {"name": kind}})
        for kind in POSITION_KINDS
    }
)


def side_inputs(spec) -> dict:
    """Every side input the data allow: all item features (in and out), event types, time gaps."""
    features = list(spec.item_features.features) if spec.item_features else []
    return {
        "item_features": features,
        "event_types": "event_types" in spec.features,
        "time_gaps": "timestamps" in spec.features,
        "output_features": bool(features),
    }


def side_heads(spec) -> list:
    """An auxiliary head per kind the data allow (the first item feature, event types, time to next)."""
    heads = [{"name": "next_item_feature", "feature": f} for f in side_inputs(spec)["item_features"][:1]]
    heads += [{"name": "next_event_type"}] if "event_types" in spec.features else []
    return heads + ([{"name": "time_to_next"}] if "timestamps" in spec.features else [])


# sasrec_full_ce with every side input of the data (``--data-dir`` with item features, ...), and with heads too
CONFIGS["sasrec_side_inputs"] = ("sasrec", lambda spec: {**CONFIGS[POSITIONS_BASELINE][1], "inputs": side_inputs(spec)})
CONFIGS["sasrec_side_inputs_heads"] = (
    "sasrec",
    lambda spec: {**CONFIGS[POSITIONS_BASELINE][1], "inputs": side_inputs(spec), "heads": side_heads(spec)},
)
COMPARED_TO_BASELINE = ("sasrec_positions_", "sasrec_side_")


def measure(
    spec,
    name: str,
    max_len: int,
    steps: int,
    batch_size: int,
    jit: bool,
    bucket_pool_batches: int = 0,
    precision: str = "float32",
) -> dict:
    with keras_policy(precision):  # the policy is read when layers are created
        return _measure(spec, name, max_len, steps, batch_size, jit, bucket_pool_batches, precision)


def _measure(spec, name, max_len, steps, batch_size, jit, bucket_pool_batches, precision) -> dict:
    model_name, extra = CONFIGS[name]
    extra = extra(spec) if callable(extra) else extra
    model = build_model(
        model_name,
        {"embedding_dim": 64, "max_len": max_len, "dropout": 0.2, **extra},
        spec.vocabulary.size,
        item_counts=load_item_counts(spec),
        spec=spec,
    )
    data = train_dataset(
        spec,
        TrainConfig(data_dir=spec.directory, batch_size=batch_size, bucket_pool_batches=bucket_pool_batches),
        max_len,
        model.input_features,  # with timestamps for encodings that read them
    )
    batches = data.take(steps).cache()
    targets = 0
    for batch in batches:  # fills the cache and counts the targets (positions with an input and a target)
        ids = batch["item_ids"]
        targets += int(tf.reduce_sum(tf.cast((ids[:, :-1] > 0) & (ids[:, 1:] > 0), tf.int64)))
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), jit_compile=jit)
    model.fit(batches, epochs=1, verbose=0)  # warm-up: tracing and compilation of every batch shape
    clock = BatchClock()
    with CpuContention() as contention:
        started = time.perf_counter()
        model.fit(batches, epochs=1, verbose=0, callbacks=[clock])
        fit_seconds = time.perf_counter() - started
        seconds = clock.ends[-1] - started
    epoch_steps = -(-spec.splits["train"].num_records // batch_size)
    tags = (["buckets"] if bucket_pool_batches else []) + ([precision] if precision != "float32" else [])
    return {
        "name": name + (f" ({', '.join(tags)})" if tags else ""),
        "configuration": name,
        "seconds_per_step": seconds / steps,
        "targets_per_second": targets / seconds,
        "seconds_per_epoch": seconds / steps * epoch_steps,
        "fit_seconds": fit_seconds,
        "precision": precision,
        "buckets": bool(bucket_pool_batches),
        "other_cores": contention.other_cores,
    }


class BatchClock(tf.keras.callbacks.Callback):
    """Records when each training batch ends, so the timed span stops at the last batch and not after
    ``fit()``'s teardown, which on a 2-core Intel Xeon VM sometimes took as long as the batches themselves
    (whole-``fit()`` totals fell on powers of two of 5.12 s). Both spans are reported (``seconds_per_step`` from
    this clock, ``fit_seconds`` the whole call)."""

    def __init__(self):
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def _find(rows: list, precision: str, buckets: bool):
    return next((r for r in rows if r["precision"] == precision and r["buckets"] == buckets), None)


def position_ratios(results: list) -> list[tuple[str, float]]:
    """``(row name, targets/s / the baseline's)`` for every ``sasrec_positions_*`` and ``sasrec_side_*`` row whose
    baseline (``POSITIONS_BASELINE``, same precision and batching) was measured too."""
    baselines = [r for r in results if r["configuration"] == POSITIONS_BASELINE]
    ratios = []
    for row in results:
        if not row["configuration"].startswith(COMPARED_TO_BASELINE):
            continue
        baseline = _find(baselines, row["precision"], row["buckets"])
        if baseline is not None:
            ratios.append((row["name"], row["targets_per_second"] / baseline["targets_per_second"]))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="output of `tfseqrec preprocess`")
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration")
    parser.add_argument("--jit", action="store_true", help="compile with XLA (jit_compile=True)")
    parser.add_argument(
        "--bucket-pool-batches",
        type=int,
        default=0,
        help="also measure length-bucketed batches with this pool size (0: padded only)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every configuration this many times, alternating (ratios: median)",
    )
    parser.add_argument("--json", default=None, help="also write the rows and the peak RSS to this JSON file")
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGS), default=sorted(CONFIGS))
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISION_POLICIES,
        default=["float32"],
        help="Keras dtype policies to time (e.g. float32 mixed_bfloat16: same process, ratio printed)",
    )
    args = parser.parse_args()
    spec = load_feature_spec(args.data_dir)
    print(
        f"{'configuration':<44} {'s/step':>8} {'targets/s':>10} {'s/epoch':>8}   "
        f"(batch {args.batch_size}, max_len {args.max_len}, jit {args.jit}, {tf.config.list_physical_devices()})"
    )
    results = []
    for name, round_ in [(name, r) for r in range(args.rounds) for name in args.only]:  # rounds alternate
        rows = [
            {
                **measure(spec, name, args.max_len, args.steps, args.batch_size, args.jit, pool, precision),
                "round": round_,
            }
            for precision in args.precisions
            for pool in ([0, args.bucket_pool_batches] if args.bucket_pool_batches else [0])
        ]
        for r in rows:
            other = "" if r["other_cores"] is None else f"   (other processes: {r['other_cores']:.2f} cores)"
            print(
                f"{r['name']:<44} {r['seconds_per_step']:8.3f} {r['targets_per_second']:10,.0f} "
                f"{r['seconds_per_epoch']:8.1f}{other}   (whole fit(): {r['fit_seconds']:.2f} s)",
                flush=True,
            )
        results += rows
        for row in rows:
            padded, float32 = _find(rows, row["precision"], False), _find(rows, "float32", row["buckets"])
            if row["buckets"] and padded is not None:
                print(
                    f"{'':<44} {row['precision']}: length buckets "
                    f"{row['targets_per_second'] / padded['targets_per_second']:.2f}x the targets/s of padded "
                    f"batches",
                    flush=True,
                )
            if row["precision"] != "float32" and float32 is not None:
                print(
                    f"{'':<44} {row['name']}: {row['targets_per_second'] / float32['targets_per_second']:.2f}x "
                    f"the targets/s of float32",
                    flush=True,
                )
    ratios: dict = {}
    for round_ in range(args.rounds):
        for name, ratio in position_ratios([r for r in results if r["round"] == round_]):
            ratios.setdefault(name, []).append(ratio)
    for name, values in ratios.items():
        spread = f" (rounds {min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
        print(
            f"{name:<44} {statistics.median(values):.2f}x the targets/s of {POSITIONS_BASELINE} (ids only, learnable "
            f"positions){', median of ' + str(len(values)) + ' rounds' + spread if len(values) > 1 else ''}",
            flush=True,
        )
    # Linux reports ru_maxrss in KiB; run one configuration per process (--only) for a per-model figure.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:,.0f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "rows": results,
                    "ratios_to_baseline": ratios,
                    "rounds": args.rounds,
                    "peak_memory_mib": peak,
                    "max_len": args.max_len,
                    "steps": args.steps,
                    "batch_size": args.batch_size,
                    "jit": args.jit,
                    "data_dir": args.data_dir,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
