"""benchmarks/long_attention.py: one (kind, length) measurement in process, its ratios against full attention timed
in the same process, and the report's table."""

import pytest

from tests.peer_scripts import load_benchmark_script


@pytest.fixture()
def long_attention():
    return load_benchmark_script("long_attention")


@pytest.mark.parametrize("variant", ["hierarchical", "memory"])
def test_child_times_the_kind_against_full_attention(long_attention, variant):
    row = long_attention.child(variant, 16, 2, 2)
    assert row["variant"] == variant and row["length"] == 16 and row["device"] in ("cpu", "gpu")
    assert row["step_seconds"] > 0 and row["full_step_seconds_same_process"] > 0
    assert row["speedup_vs_full"] == pytest.approx(row["full_step_seconds_same_process"] / row["step_seconds"])
    assert row["memory_mib"] >= 0


def test_the_report_lists_every_row(long_attention, tmp_path):
    rows = [
        {"variant": "full", "length": 16, "batch": 2, "step_seconds": 0.2, "encode_seconds": 0.05, "memory_mib": 40.0},
        {
            "variant": "local",
            "length": 16,
            "batch": 2,
            "step_seconds": 0.1,
            "encode_seconds": 0.02,
            "memory_mib": 10.0,
            "full_step_seconds_same_process": 0.3,
            "full_encode_seconds_same_process": 0.06,
            "speedup_vs_full": 3.0,
        },
        {"variant": "hstu", "length": 16, "batch": 2, "error": "ResourceExhaustedError: does not fit"},
    ]
    long_attention._memory_ratios(rows)
    table = long_attention.markdown(rows, "a test machine")
    assert "| local | 16 | 2 | 100.0 | 300.0 | 20.0 | 60.0 | 3.00x | 10 | 0.25 |" in table
    assert "| hstu | 16 | 2 | ResourceExhaustedError: does not fit |" in table
    long_attention.plot(rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0
