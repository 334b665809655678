"""benchmarks/peers/limits.py: the best speed and memory ratios any TensorFlow full-cross-entropy trainer could show
against RecBole, and results.py's column for them (measurements replaced by fixed figures, except one tiny timing)."""

import json
from pathlib import Path

import pytest

from tests.peer_scripts import load_peer_script

_script = load_peer_script


def _throughput_report(folder: Path) -> Path:
    folder.mkdir()
    rows = [
        {
            "model": "SASRec",
            "ours": {"targets_per_second": 4000.0, "peak_memory_mib": 1400.0, "configuration": "x", "other_cores": 0.0},
            "recbole": {"targets_per_second": 100.0, "peak_memory_mib": 4000.0, "other_cores": 0.0},
        },
        {
            "model": "GRU4Rec",
            "ours": {"targets_per_second": 6000.0, "peak_memory_mib": 1300.0, "configuration": "x", "other_cores": 0.0},
            "recbole": {"targets_per_second": 2000.0, "peak_memory_mib": 700.0, "other_cores": 0.0},
        },
    ]
    (folder / "throughput.json").write_text(json.dumps({"rows": rows, "args": {}}))
    return folder


def test_limits_divide_the_measured_bounds_by_recboles_figures(tmp_path, monkeypatch, capsys):
    limits = _script("limits")
    report = _throughput_report(tmp_path / "tp")
    speeds = {
        ("plain", 1024, False): 12000.0,
        ("plain", 1024, True): 15000.0,
        ("plain", 4096, False): 11000.0,
        ("plain", 4096, True): 14000.0,
        ("tfseqrec", 1024, False): 13000.0,
        ("tfseqrec", 1024, True): 9000.0,
        ("tfseqrec", 4096, False): 14500.0,
        ("tfseqrec", 4096, True): 8000.0,
    }
    monkeypatch.setattr(
        limits,
        "output_layer_targets_per_second",
        lambda items, dim, targets, jit_compile=False, layer="plain": speeds[(layer, targets, jit_compile)],
    )
    monkeypatch.setattr(limits, "peak_memory_mib", lambda python, code: 800.0 if "tensorflow" in code else 300.0)
    monkeypatch.setattr(
        "sys.argv",
        [
            "limits.py",
            "--report",
            str(report),
            "--items",
            "500",
            "--targets",
            "1024",
            "4096",
            "--recbole-python",
            "/bin/sh",
        ],
    )
    assert limits.main() == 0
    written = json.loads((report / "limits.json").read_text())
    assert written["ceiling"]["targets_per_second"] == 15000.0
    assert written["ceiling"]["best"] == "plain layer, 1024 targets per call, XLA"
    assert len(written["ceiling"]["measured"]) == 8
    assert written["tf_floor_mib"] == 800.0 and written["torch_floor_mib"] == 300.0
    sasrec, gru = written["rows"]
    # 15,000 / 100 = 150x: a TF trainer could meet 100x there; 15,000 / 2,000 = 7.5x: none could
    assert sasrec["best_speed_ratio"] == pytest.approx(150.0) and sasrec["ours_speed_ratio"] == pytest.approx(40.0)
    assert gru["best_speed_ratio"] == pytest.approx(7.5)
    # memory: 800 / 4,000 = 0.2 reachable, 800 / 700 = 1.14 not
    assert sasrec["best_memory_ratio"] == pytest.approx(0.2) and gru["best_memory_ratio"] == pytest.approx(800 / 700)
    text = (report / "limits.md").read_text()
    assert "| SASRec | 100 | 4,000 (40.0x) | 150.0x (reachable) | 4,000 | 1,400 (0.35) | 0.20 (reachable) |" in text
    assert "| GRU4Rec | 2,000 | 6,000 (3.0x) | 7.5x (unreachable) | 700 | 1,300 (1.86) | 1.14 (unreachable) |" in text
    assert "import torch alone: 300 MiB" in text and text in capsys.readouterr().out
    assert "the plain TensorFlow layer at best: 15,000 targets/s" in text

    results = _script("results")
    lines = results.section(
        results._titled([f"Toy={report}"], "--throughput", "throughput.json", companion="limits.json"), [], "cmd"
    ).splitlines()
    assert any(line.startswith("| Toy | SASRec |") and line.endswith("| 150.0x / 0.20 |") for line in lines)
    assert any(line.startswith("| Toy | GRU4Rec |") and line.endswith("| 7.5x / 1.14 |") for line in lines)


def test_limits_name_a_missing_report_and_a_data_dir_without_an_item_count(tmp_path, monkeypatch):
    limits = _script("limits")
    monkeypatch.setattr("sys.argv", ["limits.py", "--report", str(tmp_path), "--items", "5"])
    with pytest.raises(SystemExit, match="throughput.json not found"):
        limits.main()
    with pytest.raises(SystemExit, match="feature_spec.json not found"):
        limits.catalogue_size(tmp_path)
    (tmp_path / "feature_spec.json").write_text(json.dumps({"vocabulary": {"size": 7}}))
    with pytest.raises(SystemExit, match="no vocabulary.num_items"):
        limits.catalogue_size(tmp_path)
    (tmp_path / "feature_spec.json").write_text(json.dumps({"vocabulary": {"size": 7, "num_items": 5}}))
    assert limits.catalogue_size(tmp_path) == 5


def test_output_layer_timing_runs_both_executors_on_a_tiny_catalogue():
    limits = _script("limits")
    for layer in limits.LAYERS:
        for jit in (False, True):
            speed = limits.output_layer_targets_per_second(
                items=40, dim=8, targets=16, jit_compile=jit, min_seconds=0.05, layer=layer
            )
            assert speed > 0
    with pytest.raises(ValueError, match="layer='fast'"):
        limits.output_layer_targets_per_second(items=40, dim=8, targets=16, layer="fast")


def test_memory_floor_is_the_child_process_own_peak(tmp_path):
    """A child's ru_maxrss would carry this (TensorFlow-sized) process's peak; VmHWM is the child's own."""
    limits = _script("limits")
    code = limits.PEAK_CODE + '\nblock = b"x" * (64 * 1024 * 1024)\nprint(_peak_kib())\n'
    small = limits.peak_memory_mib("python3", limits.PEAK_CODE + "\nprint(_peak_kib())\n")
    large = limits.peak_memory_mib("python3", code)
    assert 0 < small < 200 and large - small == pytest.approx(64, abs=8)
