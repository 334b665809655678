"""The best any TensorFlow trainer with full cross-entropy could do on this machine, against the issue's targets.

    python benchmarks/peers/limits.py --report benchmarks/reports/peers/throughput_beauty_l50 --items 12101
    python benchmarks/peers/limits.py --report benchmarks/reports/peers/throughput_ml1m_l200 --data-dir DATA

The throughput report (``throughput.py``) holds RecBole's training targets per second and peak memory per model.
This script measures two bounds on the same machine and sets them against those figures:

* **speed ceiling**: the output layer alone, forward and backward (logits ``h @ E^T`` over the whole catalogue,
  ``[targets, dim] x [dim, items]``, softmax cross-entropy, gradients for ``h`` and ``E``), in float32, at
  several numbers of targets per call, by TensorFlow's graph executor and by XLA, in two forms: the plain graph
  (``tf.nn.sparse_softmax_cross_entropy_with_logits`` and autodiff) and the package's fused layer
  (``tfseqrec.tasks.full_softmax``, hand-written gradient, what our models train with); the fastest is kept. No
  embedding lookup, no encoder, no optimizer update: every model trained with these output layers over this
  catalogue at this width is slower than this. Ceiling / RecBole's targets per second is the largest speed ratio
  such a TensorFlow trainer could show here.
* **memory floor**: the peak resident memory (VmHWM) of a fresh process that imports TensorFlow and tf-keras
  and runs one matmul: no data, no model. Floor / RecBole's peak is the smallest memory ratio any TensorFlow trainer
  could show. (For context the same is measured for ``import torch`` in RecBole's virtualenv when it exists.)

Writes ``limits.json`` and ``limits.md`` into the report folder and prints the table. The machine should be idle
(the CPU used by other processes during the timing is recorded, as in throughput.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import MEMORY_TARGET, RECBOLE_PYTHON, SPEED_TARGET  # noqa: E402 (the sibling script's targets)
from tfseqrec.host.contention import CpuContention  # noqa: E402 (no TensorFlow)
from tfseqrec.host.machine import describe  # noqa: E402
from output_layers import LAYERS, output_layer_targets_per_second  # noqa: E402 (benchmarks/output_layers.py)

# VmHWM, not ru_maxrss: a child's ru_maxrss keeps the parent's peak from before exec.
PEAK_CODE = """
def _peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
TF_FLOOR_CODE = (
    PEAK_CODE
    + """
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
import tf_keras  # noqa: F401 (the Keras 2 every TFRS model needs)
tf.matmul(tf.ones([8, 8]), tf.ones([8, 8])).numpy()
print(_peak_kib())
"""
)
TORCH_FLOOR_CODE = (
    PEAK_CODE
    + """
import torch
(torch.ones(8, 8) @ torch.ones(8, 8)).sum().item()
print(_peak_kib())
"""
)


def peak_memory_mib(python: str, code: str) -> float:
    """Peak resident memory (VmHWM, KiB) of a fresh ``python -c code`` that prints it, in MiB."""
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024.0


def catalogue_size(data_dir: Path) -> int:
    """Number of items in our preprocessed data (``feature_spec.json``'s vocabulary, padding and OOV excluded)."""
    path = data_dir / "feature_spec.json"
    if not path.exists():
        raise SystemExit(f"error: {path} not found: --data-dir must be a `tfseqrec preprocess` output")
    try:
        return int(json.loads(path.read_text())["vocabulary"]["num_items"])
    except (KeyError, TypeError, ValueError):
        raise SystemExit(f"error: {path} has no vocabulary.num_items; pass --items") from None


def _plain_best(measured: dict) -> str:
    """``"; the plain TensorFlow layer at best: N targets/s"`` when the report holds both layers' timings."""
    plain = [v for k, v in measured.items() if k.startswith("plain layer")]
    return f"; the plain TensorFlow layer at best: {max(plain):,.0f} targets/s" if plain else ""


def table(report: dict) -> str:
    c = report["ceiling"]
    lines = [
        f"Limits of any TensorFlow full-cross-entropy trainer on this machine ({report['machine']['cpus']} CPUs, "
        f"{report['machine']['cpu_model']}), catalogue of "
        f"{report['items']:,} items, width {report['dim']}, measured {report['date']} (benchmarks/peers/limits.py).",
        "",
        f"Speed ceiling (output layer alone, float32, forward + backward): {c['targets_per_second']:,.0f} targets/s "
        f"(best: {c['best']}{_plain_best(c['measured'])}; other processes used "
        f"{'?' if c['other_cores'] is None else format(c['other_cores'], '.2f')} cores meanwhile). "
        "Memory floor (fresh process: import tensorflow + tf_keras, one matmul): "
        f"{report['tf_floor_mib']:,.0f} MiB"
        + (f"; import torch alone: {report['torch_floor_mib']:,.0f} MiB" if report.get("torch_floor_mib") else "")
        + ".",
        "",
        "| model | RecBole targets/s | ours targets/s (ratio) | ceiling / RecBole (best possible ratio; target "
        f">= {SPEED_TARGET:.0f}x) | RecBole peak MiB | ours peak MiB (ratio) | TF floor / RecBole (best possible "
        f"ratio; target <= {MEMORY_TARGET}) |",
        "|" + "---|" * 7,
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['model']} | {r['recbole_targets_per_second']:,.0f} | {r['ours_targets_per_second']:,.0f} "
            f"({r['ours_speed_ratio']:.1f}x) | {r['best_speed_ratio']:.1f}x "
            f"({'reachable' if r['best_speed_ratio'] >= SPEED_TARGET else 'unreachable'}) | "
            f"{r['recbole_peak_mib']:,.0f} | {r['ours_peak_mib']:,.0f} ({r['ours_memory_ratio']:.2f}) | "
            f"{r['best_memory_ratio']:.2f} ({'reachable' if r['best_memory_ratio'] <= MEMORY_TARGET else 'unreachable'}"
            ") |"
        )
    measured_on = (report.get("throughput_machine") or {}).get("cpu_model")
    lines += [
        "",
        "RecBole's and our figures are the throughput report's (same folder"
        + (f", measured on {measured_on}" if measured_on else "")
        + "). BERT4Rec: RecBole counts its "
        "masked positions, ours every non-padding position, so its ceiling ratio compares unlike targets.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", required=True, help="a throughput.py output folder (throughput.json)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--items", type=int, help="catalogue size of the report's dataset")
    source.add_argument("--data-dir", help="our preprocessed data of the report's dataset (reads its item count)")
    parser.add_argument("--dim", type=int, default=64, help="embedding width of the report's models")
    parser.add_argument(
        "--targets",
        type=int,
        nargs="+",
        default=[1024, 4096, 16384],
        help="targets per timed call; the fastest is kept",
    )
    parser.add_argument("--recbole-python", default=str(RECBOLE_PYTHON))
    args = parser.parse_args()
    folder = Path(args.report)
    source_file = folder / "throughput.json"
    if not source_file.exists():
        sys.exit(f"error: {source_file} not found: run benchmarks/peers/throughput.py first")
    source = json.loads(source_file.read_text())
    measured = source["rows"]
    items = args.items if args.items else catalogue_size(Path(args.data_dir))
    if items <= 0:
        sys.exit(f"error: --items {items}: the catalogue size must be positive")
    machine = describe()
    report_cpu = (source.get("machine") or {}).get("cpu_model")
    if report_cpu is None or report_cpu != machine["cpu_model"]:
        print(
            f"warning: {source_file} was measured on {report_cpu or 'an unrecorded CPU'}, this is "
            f"{machine['cpu_model']}: the bounds are only comparable with figures taken on the same machine",
            file=sys.stderr,
        )

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # tfseqrec's import already chose Keras 2
    tf_floor = peak_memory_mib(sys.executable, TF_FLOOR_CODE)
    torch_floor = peak_memory_mib(args.recbole_python, TORCH_FLOOR_CODE) if Path(args.recbole_python).exists() else None
    speeds = {}
    with CpuContention() as contention:
        for layer in LAYERS:
            for targets in args.targets:
                for jit in (False, True):
                    name = f"{layer} layer, {targets} targets per call, {'XLA' if jit else 'graph'}"
                    speeds[name] = output_layer_targets_per_second(
                        items, args.dim, targets, jit_compile=jit, layer=layer
                    )
                    print(f"output layer, {name}: {speeds[name]:,.0f} targets/s", flush=True)
    best = max(speeds, key=speeds.get)
    rows = []
    for r in measured:
        theirs, ours = r["recbole"], r["ours"]
        rows.append(
            {
                "model": r["model"],
                "recbole_targets_per_second": theirs["targets_per_second"],
                "ours_targets_per_second": ours["targets_per_second"],
                "ours_speed_ratio": ours["targets_per_second"] / theirs["targets_per_second"],
                "best_speed_ratio": speeds[best] / theirs["targets_per_second"],
                "recbole_peak_mib": theirs["peak_memory_mib"],
                "ours_peak_mib": ours["peak_memory_mib"],
                "ours_memory_ratio": ours["peak_memory_mib"] / theirs["peak_memory_mib"],
                "best_memory_ratio": tf_floor / theirs["peak_memory_mib"],
            }
        )
    report = {
        "items": items,
        "dim": args.dim,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine,
        "ceiling": {
            "targets_per_second": speeds[best],
            "best": best,
            "measured": speeds,
            "other_cores": contention.other_cores,
        },
        "throughput_machine": source.get("machine"),
        "tf_floor_mib": tf_floor,
        "torch_floor_mib": torch_floor,
        "rows": rows,
    }
    text = table(report)
    (folder / "limits.json").write_text(json.dumps(report, indent=1))
    (folder / "limits.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
