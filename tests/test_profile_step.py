"""benchmarks/profile_step.py: the op table from a real profile, and the summary arithmetic on fixed rows."""

import sys

import pytest

from tests.conftest import generated_dataset
from tests.peer_scripts import load_benchmark_script


@pytest.fixture()
def profile_step():
    return load_benchmark_script("profile_step")


def test_summary_per_step_by_type_and_op(profile_step):
    rows = [
        {"type": "MatMul", "operation": "task/MatMul", "total_self_time": 6000.0},
        {"type": "MatMul", "operation": "MatMul_1", "total_self_time": 2000.0},
        {"type": "Softmax", "operation": "task/Softmax", "total_self_time": 2000.0},
    ]
    text = profile_step.summarise(rows, steps=2, top=5)
    # 8,000 us over 2 steps = 4.0 ms/step, 80% of 10,000 us
    lines = [line.split() for line in text.splitlines()]
    assert ["MatMul", "4.0", "80.0%"] in lines and ["Softmax", "1.0", "20.0%"] in lines
    assert ["task/MatMul", "3.0"] in lines and ["MatMul_1", "1.0"] in lines
    assert text.index("task/MatMul") < text.index("task/Softmax")


def test_profiles_a_tiny_sasrec(profile_step, tmp_path, monkeypatch, capsys):
    data = generated_dataset(tmp_path, num_users=150, num_items=80, seed=1)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "profile_step.py",
            "--data-dir",
            str(data),
            "--max-len",
            "12",
            "--batch-size",
            "8",
            "--steps",
            "2",
            "--logdir",
            str(tmp_path / "trace"),
        ],
    )
    profile_step.main()
    out = capsys.readouterr().out
    assert "sasrec, loss full_ce, batch 8, length 12" in out
    rows = [line.split() for line in out.splitlines()]
    type_rows = [r for r in rows if len(r) == 3 and r[2].endswith("%")]
    assert type_rows and any("MatMul" in r[0] for r in type_rows)  # the output layer's matmuls are profiled
    assert all(float(r[1]) >= 0 for r in type_rows)
    assert abs(sum(float(r[2][:-1]) for r in type_rows) - 100.0) < 1.0 or len(type_rows) == 25
    with pytest.raises(SystemExit, match="no profile"):
        profile_step.op_stats(str(tmp_path / "empty"))
