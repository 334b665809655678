"""The full-softmax output layer alone, forward + backward: plain TensorFlow against tfseqrec's fused layer.

    python benchmarks/output_layer.py                          # ML-1M's catalogue (3,416 items), width 64
    python benchmarks/output_layer.py --items 12101 --targets 4096 16384 --jit

Both layers get the same queries, table and labels (same seed), in this process. For each number of targets per
call it prints targets per second of each and the ratio, and checks that both give the same loss and gradients
(largest absolute difference). The plain layer is ``h @ E^T`` + ``tf.nn.sparse_softmax_cross_entropy_with_logits``
with TensorFlow's gradients; tfseqrec's is ``tfseqrec.tasks.full_softmax.full_softmax_cross_entropy``.
"""

from __future__ import annotations

import argparse

import tfseqrec  # noqa: F401
import numpy as np

from tfseqrec.host.machine import describe
from output_layers import output_layer_step, output_layer_targets_per_second  # the sibling module


def largest_difference(items: int, dim: int, targets: int) -> float:
    plain = output_layer_step(items, dim, targets, layer="plain")()
    fused = output_layer_step(items, dim, targets, layer="tfseqrec")()
    return max(
        float(np.max(np.abs(a.numpy() - b.numpy()) / max(1.0, float(np.max(np.abs(a.numpy()))))))
        for a, b in zip(plain, fused)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=3416, help="catalogue size (ML-1M item 5-core: 3,416)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--targets", type=int, nargs="+", default=[1024, 4096, 16384], help="targets per call")
    parser.add_argument("--jit", action="store_true", help="also time both layers compiled by XLA")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per measurement (at least)")
    args = parser.parse_args()
    machine = describe()
    print(
        f"output layer alone, forward + backward, float32: {args.items:,} items, width {args.dim}, "
        f"{machine['cpus']} CPUs ({machine['cpu_model']})"
    )
    print(
        f"{'targets/call':>12} {'executor':>8} {'plain targets/s':>16} {'tfseqrec targets/s':>19} {'ratio':>6}"
        f" {'largest rel. difference':>24}"
    )
    for targets in args.targets:
        difference = largest_difference(args.items, args.dim, targets)
        for jit in [False, True] if args.jit else [False]:
            speeds = [
                output_layer_targets_per_second(
                    args.items, args.dim, targets, jit_compile=jit, min_seconds=args.seconds, layer=layer
                )
                for layer in ("plain", "tfseqrec")
            ]
            print(
                f"{targets:>12,} {'XLA' if jit else 'graph':>8} {speeds[0]:>16,.0f} {speeds[1]:>19,.0f} "
                f"{speeds[1] / speeds[0]:>5.2f}x {difference:>24.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
