"""What machine a figure was measured on: platform, Python, CPU count and CPU model (no TensorFlow).

Speeds taken on different CPUs are not comparable (the same code trains at clearly different speeds on a 2-core AMD
EPYC VM and a 2-core Intel Xeon one: compare benchmarks/reports/peers/throughput_*_l200 with their ``_xeon``
twins), so every benchmark record carries :func:`describe`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Optional

CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = CPUINFO) -> Optional[str]:
    """The first ``model name`` of ``/proc/cpuinfo`` (Linux), or ``platform.processor()``, or None."""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "model name":
                return value.strip() or None
    except OSError:
        pass
    return platform.processor() or None


def describe() -> dict:
    """``{"platform", "python", "cpus", "cpu_model"}`` of this machine."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
    }
