"""`tfseqrec benchmark` end to end on the committed smoke grid (generated data, real training processes)."""

import json
from pathlib import Path

from tfseqrec.cli import build_parser, main

SMOKE = Path(__file__).resolve().parents[2] / "benchmarks" / "grids" / "smoke.yaml"


def test_help_explains_the_command(capsys):
    try:
        build_parser().parse_args(["benchmark", "--help"])
    except SystemExit:
        pass
    text = capsys.readouterr().out
    for flag in ("--output", "--report-dir", "--report-only", "--only-datasets", "--only-runs", "resum"):
        assert flag in text


def test_smoke_grid_end_to_end_then_resume(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["benchmark", str(SMOKE), "--output", str(out), "--no-progress"]) == 0
    cells = {
        p.parent.relative_to(out / "runs").as_posix(): json.loads(p.read_text())
        for p in out.glob("runs/*/*/*/cell.json")
    }
    assert sorted(cells) == [
        "synthetic/sasrec_tiny/seed1",
        "synthetic/sasrec_tiny/seed2",
        "synthetic/transitions/seed1",
    ]
    assert all(c["status"] == "finished" for c in cells.values()), {k: c.get("error") for k, c in cells.items()}
    sasrec = cells["synthetic/sasrec_tiny/seed1"]
    assert sasrec["config"]["seed"] == 1 and sasrec["config"]["epochs"] == 1
    assert sasrec["protocol"]["split"] == "test" and 0.0 <= sasrec["metrics"]["NDCG@10"] <= 1.0
    timings = sasrec["timings"]
    assert timings["targets_per_second"] > 0 and timings["time_to_best_seconds"] > 0
    assert timings["inference_users_per_second"] > 0 and sasrec["model_size_bytes"] > 0
    assert sasrec["peak_memory_mib"] > 0 and sasrec["machine"]["cpus"] >= 1
    assert sasrec["analysis"]["status"] == "done", sasrec["analysis"]
    assert {s["dimension"] for s in sasrec["analysis"]["segments"]} >= {"history_length", "target_popularity"}
    assert (out / "runs/synthetic/sasrec_tiny/seed1" / sasrec["per_user_file"]).exists()
    assert cells["synthetic/transitions/seed1"]["kind"] == "baseline"
    report = out / "report" / "report.md"
    text = report.read_text()
    assert "| sasrec_tiny | sasrec | 1, 2 |" in text and "| transitions | transitions | 1 |" in text
    assert "| synthetic | sasrec_tiny | transitions | 1 | 120 |" in text  # a paired comparison over 120 users
    for name in ("accuracy.png", "curves.png", "accuracy_vs_time.png", "segments_synthetic.png", "report.html"):
        assert (out / "report" / name).stat().st_size > 0
    capsys.readouterr()

    # Resume: every cell is finished, so nothing trains and no cell.json changes.
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/*/cell.json")}
    assert main(["benchmark", str(SMOKE), "--output", str(out), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/*/cell.json")} == before
    assert "3 cells: 0 run, 3 already finished (skipped), 0 failed" in capsys.readouterr().err
