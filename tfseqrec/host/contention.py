"""How much CPU other processes used while a measurement ran: a speed figure is only comparable with
another when neither shared the cores.

Why it matters here: on the 2-core benchmark machine, RecBole (PyTorch, OpenMP threads that spin at every
barrier) slowed from 1,857 to 59 training targets/s on Amazon Beauty when other trainings were running (load
average ~7), while our TensorFlow step slowed about 2.4x, so a ratio measured on a busy machine says more about
the load than about either library. The load average cannot tell this apart (it counts the measured process
itself and lags by a minute); this module counts the CPU seconds the whole machine spent busy (``/proc/stat``)
minus those of this process and its waited-for children (``getrusage``), over the measured interval.

    with CpuContention() as contention:
        subprocess.run([...], check=True)
    contention.other_cores  # mean cores used by everything else; None where /proc/stat is missing
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Optional

PROC_STAT = Path("/proc/stat")
# Mean cores of other processes above which a measurement is reported as taken on a busy machine.
BUSY_OTHER_CORES = 0.25


def machine_busy_seconds(stat_path: Path = PROC_STAT) -> Optional[float]:
    """CPU seconds all cores have spent busy since boot (``user + nice + system + irq + softirq + steal``
    from the ``cpu`` line of ``/proc/stat``), or None when the file is not there (not Linux)."""
    try:
        first = stat_path.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu" or len(first) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process plus its terminated, waited-for children (user + system)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class CpuContention:
    """Context manager: ``other_cores`` = (machine busy CPU seconds - own CPU seconds) / wall seconds over the
    ``with`` block, floored at 0 (clock-tick rounding can make it slightly negative). Children must have been
    waited for (``subprocess.run`` does) to count as own."""

    def __init__(self, stat_path: Path = PROC_STAT):
        self.stat_path = stat_path
        self.other_cores: Optional[float] = None
        self.wall_seconds: Optional[float] = None
        self._start = None

    def __enter__(self) -> "CpuContention":
        self._start = (time.perf_counter(), machine_busy_seconds(self.stat_path), own_cpu_seconds())
        return self

    def __exit__(self, *exc) -> None:
        self.wall_seconds, self.other_cores = self.so_far()

    def so_far(self) -> tuple:
        """``(wall seconds, other cores)`` since the block began, while it is still running."""
        wall0, busy0, own0 = self._start
        wall = time.perf_counter() - wall0
        busy1 = machine_busy_seconds(self.stat_path)
        if busy0 is None or busy1 is None or wall <= 0:
            return wall, None
        other = (busy1 - busy0) - (own_cpu_seconds() - own0)
        return wall, max(0.0, other / wall)

    @property
    def busy(self) -> Optional[bool]:
        """Whether other processes used more than ``BUSY_OTHER_CORES`` cores on average (None: unknown)."""
        return is_busy(self.other_cores)

    def as_dict(self) -> dict:
        return {"other_cores": self.other_cores, "wall_seconds": self.wall_seconds, "busy": self.busy}


def is_busy(other_cores: Optional[float], threshold: float = BUSY_OTHER_CORES) -> Optional[bool]:
    """True when other processes used more than ``threshold`` cores on average; None when unknown."""
    return None if other_cores is None else other_cores > threshold
