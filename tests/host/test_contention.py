"""tfseqrec.host.contention: CPU used by other processes during a measurement."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tfseqrec.host import contention

TICK = os.sysconf("SC_CLK_TCK")
# Burns about 1.5 CPU seconds in a separate process.
BURNER = [sys.executable, "-c", "import time\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass"]


def _stat(path: Path, busy_ticks: int, idle_ticks: int = 10_000) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice:
    # busy = user + nice + system + irq + softirq + steal
    user = busy_ticks - 6
    path.write_text(f"cpu  {user} 1 2 {idle_ticks} 7 1 1 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")


def test_busy_seconds_sum_the_busy_fields(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 1000 5 1 2 3 0 0\n")
    assert contention.machine_busy_seconds(stat) == pytest.approx((100 + 20 + 30 + 1 + 2 + 3) / TICK)


def test_missing_or_foreign_stat_file_gives_none(tmp_path):
    assert contention.machine_busy_seconds(tmp_path / "absent") is None
    odd = tmp_path / "stat"
    odd.write_text("intr 1 2 3\n")
    assert contention.machine_busy_seconds(odd) is None
    with contention.CpuContention(tmp_path / "absent") as measured:
        pass
    assert measured.other_cores is None and measured.busy is None


def test_other_cores_is_machine_minus_own_cpu_over_wall_time(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    clock = iter([10.0, 14.0])  # 4 wall seconds
    own = iter([3.0, 5.0])  # 2 own CPU seconds
    monkeypatch.setattr(contention.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(contention, "own_cpu_seconds", lambda: next(own))
    _stat(stat, busy_ticks=1_000)
    with contention.CpuContention(stat) as measured:
        _stat(stat, busy_ticks=1_000 + 5 * TICK)  # the machine was busy 5 CPU seconds, 2 of them ours
    assert measured.wall_seconds == pytest.approx(4.0)
    assert measured.other_cores == pytest.approx((5.0 - 2.0) / 4.0)
    assert measured.busy is True
    assert measured.as_dict() == {"other_cores": pytest.approx(0.75), "wall_seconds": pytest.approx(4.0), "busy": True}


def test_rounding_below_zero_is_floored_and_idle_is_not_busy(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    clock = iter([0.0, 2.0])
    own = iter([0.0, 0.05])
    monkeypatch.setattr(contention.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(contention, "own_cpu_seconds", lambda: next(own))
    _stat(stat, busy_ticks=500)
    with contention.CpuContention(stat) as measured:
        pass  # no tick counted, 0.05 s of own CPU
    assert measured.other_cores == 0.0
    assert measured.busy is False
    assert contention.is_busy(None) is None
    assert contention.is_busy(contention.BUSY_OTHER_CORES + 0.01) is True


def _running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.skipif(not contention.PROC_STAT.exists(), reason="needs Linux /proc/stat")
def test_waited_children_are_own_and_foreign_processes_are_others():
    with contention.CpuContention() as waited:  # subprocess.run reaps its child: its CPU is ours
        subprocess.run(BURNER, check=True)
    # The shell exits at once and leaves the burner orphaned: never our child, so its CPU is someone else's.
    launched = subprocess.run(
        ["sh", "-c", " ".join(f"'{a}'" for a in BURNER) + " >/dev/null 2>&1 & echo $!"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(launched.stdout.strip())
    with contention.CpuContention() as foreign:
        for _ in range(600):
            if not _running(pid):
                break
            contention.time.sleep(0.02)
    assert not _running(pid)
    assert waited.wall_seconds >= 1.0 and foreign.wall_seconds >= 1.0
    # ~1 core for the whole interval in the second case, ~0 in the first (compared, so steady background load cancels)
    assert foreign.other_cores - waited.other_cores > 0.5
