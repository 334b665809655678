"""Scaling of the attention kinds with history length: seconds per training step and peak memory, as ratios
against full softmax attention at the same length.

    python benchmarks/long_attention.py                                  # L = 200 .. 4096, every kind
    python benchmarks/long_attention.py --lengths 512 2048 --variants full local linear --steps 5
    python benchmarks/long_attention.py --output benchmarks/reports/long_attention   # + results.json, .md, .png

The model is SASRec with each attention kind, HSTU (its own pointwise attention, ``O(L^2)``), the hierarchical
transformer (2 item-level blocks within chunks of 64, 1 block over the chunks) and the memory-augmented transformer
(2 blocks over segments of 64 with 8 memory slots), d 64, 2 blocks, 1 head, full cross-entropy over a 2,000-item
catalogue, on synthetic histories of exactly ``L`` items; ``--tokens`` fixes batch x length (default 8,192
positions per step, so ``B = tokens / L``: every length trains on the same number of positions). For each
``(variant, L)`` a fresh subprocess builds the model and measures its memory over ``--steps`` training steps, then
builds full attention too and times both in alternating rounds: the training step (compiled ``train_step``,
median of ``--steps`` after a warm-up step) and the encoder's forward pass alone (``encode``: where the
attention's time goes, the rest being the output layer, loss and optimizer); the speed ratio compares the two
medians of one process. Memory: on a GPU, TensorFlow's peak allocation of the timed steps; on a CPU, the growth of
the process's peak resident memory from the built model to the end of the steps (tracing and allocator slack
included, a roughly constant part), each variant measured before full attention is built. Full attention at the
longest lengths may not fit: its row then says so and the ratios are left empty.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# name -> (model, its config beyond the shared one); "full" is the baseline of every ratio
VARIANTS = {
    "full": ("sasrec", {"attention": {"name": "full"}}),
    "local": ("sasrec", {"attention": {"name": "local", "window": 64}}),
    "linear": ("sasrec", {"attention": {"name": "linear", "feature_map": "elu", "chunk_size": 64}}),
    "linear_l2": ("sasrec", {"attention": {"name": "linear", "feature_map": "l2", "chunk_size": 64}}),
    "performer": ("sasrec", {"attention": {"name": "performer", "num_features": 64, "chunk_size": 64}}),
    "hstu": ("hstu", {}),
    "hierarchical": ("hierarchical", {"chunk_size": 64, "chunk_blocks": 1}),
    "memory": ("memory_transformer", {"segment_size": 64, "memory_slots": 8}),
}
NUM_ITEMS = 2000


def _model(variant: str, length: int):
    from tfseqrec.models import build_model

    name, extra = VARIANTS[variant]
    config = {"embedding_dim": 64, "num_blocks": 2, "num_heads": 1, "dropout": 0.1, "max_len": length}
    return build_model(name, {**config, "loss": {"name": "full_ce"}, **extra}, NUM_ITEMS)


def _peak_memory_mib(gpu: bool) -> float:
    import tensorflow as tf

    if gpu:
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Runner:
    """One model's compiled train step and encoder forward on fixed synthetic histories."""

    def __init__(self, variant: str, length: int, batch: int):
        import tensorflow as tf

        tf.keras.utils.set_random_seed(0)
        self.model = _model(variant, length)
        self.model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
        self.items = tf.random.uniform([batch, length + 1], 2, NUM_ITEMS, dtype=tf.int64, seed=1)
        self.train = tf.function(self.model.train_step)
        self.encode = tf.function(lambda ids: self.model.encode(ids, training=False))
        self.model.build_for_inputs()

    def warm_up(self) -> None:
        """Trace both functions and create the optimizer's slots."""
        self.step()
        self.forward()

    def step(self) -> float:
        start = time.perf_counter()
        float(self.train({"item_ids": self.items})["loss"])
        return time.perf_counter() - start

    def forward(self) -> float:
        start = time.perf_counter()
        self.encode(self.items[:, 1:]).numpy()
        return time.perf_counter() - start


def _memory(variant: str, length: int, batch: int, steps: int, gpu: bool) -> tuple:
    """The variant built alone in this process: its runner and the peak memory of ``steps`` training steps."""
    import tensorflow as tf

    runner = _Runner(variant, length, batch)
    before = _peak_memory_mib(gpu)  # CPU: the weights are there, no step has run
    runner.warm_up()
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    for _ in range(steps):
        runner.step()
    peak = _peak_memory_mib(gpu)
    return runner, (peak if gpu else peak - before)


def _timings(runners: list, steps: int) -> list:
    """Median (step, forward) seconds of each runner, timed in alternating rounds so that drift in the machine's
    speed (other processes, frequency) falls on all of them alike."""
    step_seconds = [[] for _ in runners]
    forward_seconds = [[] for _ in runners]
    for _ in range(steps):
        for index, runner in enumerate(runners):
            step_seconds[index].append(runner.step())
            forward_seconds[index].append(runner.forward())
    return [(statistics.median(s), statistics.median(f)) for s, f in zip(step_seconds, forward_seconds)]


def child(variant: str, length: int, batch: int, steps: int) -> dict:
    """One subprocess: the variant's memory (built alone), then its step time and full attention's, timed in
    alternating rounds in this process."""
    import tfseqrec  # noqa: F401
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    row = {"variant": variant, "length": length, "batch": batch, "device": "gpu" if gpu else "cpu"}
    try:
        runner, row["memory_mib"] = _memory(variant, length, batch, steps, gpu)
    except (tf.errors.ResourceExhaustedError, MemoryError) as error:
        row["error"] = f"{type(error).__name__}: does not fit"
        return row
    runners = [runner]
    if variant != "full":
        try:
            full = _Runner("full", length, batch)
            full.warm_up()
            runners.append(full)
        except (tf.errors.ResourceExhaustedError, MemoryError):
            row["full_step_seconds_same_process"] = None
    timings = _timings(runners, steps)
    row["step_seconds"], row["encode_seconds"] = timings[0]
    if len(timings) > 1:
        row["full_step_seconds_same_process"], row["full_encode_seconds_same_process"] = timings[1]
        row["speedup_vs_full"] = timings[1][0] / timings[0][0]
    return row


def run(lengths, variants, tokens: int, steps: int, timeout: float) -> list:
    rows = []
    for length in lengths:
        batch = max(1, tokens // length)
        for variant in variants:
            command = [sys.executable, __file__, "--child", variant, str(length), str(batch), str(steps)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
                lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                row = json.loads(lines[-1]) if lines else {"error": (done.stderr or "no output")[-500:]}
            except subprocess.TimeoutExpired:
                row = {"error": f"over {timeout:.0f} s"}
            row.update(variant=variant, length=length, batch=batch)
            rows.append(row)
            print(_line(row), flush=True)
    _memory_ratios(rows)
    return rows


def _memory_ratios(rows: list) -> None:
    full = {r["length"]: r.get("memory_mib") for r in rows if r["variant"] == "full"}
    for row in rows:
        base = full.get(row["length"])
        if row.get("memory_mib") is not None and base:
            row["memory_vs_full"] = row["memory_mib"] / base


def _line(row: dict) -> str:
    if "error" in row:
        return f"{row['variant']:>10} L={row['length']:<5} B={row['batch']:<4} {row['error']}"
    ratio = f" speedup vs full {row['speedup_vs_full']:.2f}x" if row.get("speedup_vs_full") else ""
    return (
        f"{row['variant']:>10} L={row['length']:<5} B={row['batch']:<4} step {row['step_seconds'] * 1e3:8.1f} ms "
        f"(encoder forward {row['encode_seconds'] * 1e3:7.1f} ms) memory {row['memory_mib']:8.1f} MiB{ratio}"
    )


def markdown(rows: list, machine: str) -> str:
    lines = [
        "# Attention kinds against history length",
        "",
        "![step time and memory against L](long_attention.png)",
        "",
        f"d 64, 2 blocks, 1 head, full CE over {NUM_ITEMS:,} items (SASRec with each attention kind; HSTU; the "
        "hierarchical transformer with chunks of 64 and one chunk-level block; the memory transformer with "
        f"segments of 64 and 8 slots); batch x length fixed; {machine}. `step ms` = the kind's median step; "
        "`full ms` = full attention's, timed in alternating rounds in the same process; `speedup` = their "
        "ratio; `memory` = "
        "peak memory of the timed steps (GPU: TensorFlow's peak allocation; CPU: growth of the peak resident "
        "set from the built model on), as a fraction of full attention's at the same length. `encoder` = the "
        "encoder's forward pass alone (the attention's share of the step; the rest is the output layer, the loss "
        "and the optimizer).",
        "",
        "| kind | L | batch | step ms | full ms | encoder fwd ms | full encoder ms | speedup vs full | memory MiB "
        "| memory / full |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | {r['length']} | {r['batch']} | {r['error']} | | | | | | |")
            continue
        speed = f"{r['speedup_vs_full']:.2f}x" if r.get("speedup_vs_full") else "-"
        memory = f"{r['memory_vs_full']:.2f}" if r.get("memory_vs_full") else "-"
        full_step, full_encode = r.get("full_step_seconds_same_process"), r.get("full_encode_seconds_same_process")
        lines.append(
            f"| {r['variant']} | {r['length']} | {r['batch']} | {r['step_seconds'] * 1e3:.1f} | "
            f"{'-' if not full_step else f'{full_step * 1e3:.1f}'} | {r['encode_seconds'] * 1e3:.1f} | "
            f"{'-' if not full_encode else f'{full_encode * 1e3:.1f}'} | {speed} | {r['memory_mib']:.0f} | {memory} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        ok = [r for r in rows if r["variant"] == variant and "error" not in r]
        if not ok:
            continue
        lengths = [r["length"] for r in ok]
        axes[0].plot(lengths, [r["step_seconds"] * 1e3 for r in ok], marker="o", label=variant)
        axes[1].plot(lengths, [max(r["memory_mib"], 1e-3) for r in ok], marker="o", label=variant)
    for axis, title in zip(axes, ["ms per training step (same positions per step)", "peak memory of the steps, MiB"]):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("history length L")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[200, 512, 1024, 2048, 4096])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--tokens", type=int, default=8192, help="positions per training step (batch x length)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (median)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per (kind, length) subprocess")
    parser.add_argument("--output", help="folder for results.json, long_attention.md and long_attention.png")
    parser.add_argument("--child", nargs=4, metavar=("VARIANT", "L", "B", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.child:
        variant, length, batch, steps = args.child
        print(json.dumps(child(variant, int(length), int(batch), int(steps))))
        return 0
    rows = run(args.lengths, args.variants, args.tokens, args.steps, args.timeout)
    if args.output:
        from tfseqrec.host.machine import describe

        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        machine = describe()
        devices = sorted({r.get("device", "?") for r in rows})
        (out / "results.json").write_text(json.dumps({"machine": machine, "devices": devices, "rows": rows}, indent=2))
        label = f"{machine['cpu_model']} ({machine['cpus']} cores), device {'/'.join(devices)}"
        (out / "long_attention.md").write_text(markdown(rows, str(label)))
        plot(rows, out / "long_attention.png")
        print(f"wrote {out}/results.json, long_attention.md, long_attention.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
