"""``benchmarks/grids/positions.yaml``: SASRec with every position encoding, compared with ``learnable``.

The fast test checks the committed grid; the slow one runs its runs and pairs end to end for one epoch on two
generated logs standing in for its data sets (leave-one-out, and a session split whose evaluator feeds every
prefix's timestamps), with a tiny model, and checks every cell finished and the report compares the pairs."""

import json
from pathlib import Path

import pytest
import yaml

from tfseqrec.benchmark.grid import expand_cells, load_grid
from tfseqrec.cli import main
from tfseqrec.models.positions import available_position_encodings

GRID = Path(__file__).resolve().parents[2] / "benchmarks" / "grids" / "positions.yaml"
BUILT_IN = ("learnable", "sinusoidal", "none", "rotary", "relative", "alibi", "time_interval")


def test_the_grid_runs_sasrec_with_every_encoding_against_learnable():
    grid = load_grid(GRID)
    assert set(BUILT_IN) <= set(available_position_encodings())
    assert [run.name for run in grid.runs] == list(BUILT_IN)
    for run in grid.runs:
        assert run.overrides == (f"model_config.position_encoding.name={run.name}",)
        assert run.config == grid.runs[0].config  # the same config files otherwise
    assert set(grid.pairs) == {(kind, "learnable") for kind in BUILT_IN[1:]}
    assert len(expand_cells(grid)) == len(grid.seeds) * 7 * 3
    for dataset in grid.datasets:  # one number of epochs per data set, the same for every run, no time budget
        assert (
            "timestamp" in json.dumps(dataset.preprocess)
            or "time-col" in dataset.preprocess
            or "yoochoose" in dataset.name
        )
        assert sum(o.startswith("epochs=") for o in dataset.overrides) == 1
        assert "time_budget_minutes=null" in dataset.overrides
    assert grid.time_budget_minutes is None and not any("epochs" in o for r in grid.runs for o in r.overrides)
    assert not any("time_budget" in o for r in grid.runs for o in r.overrides)


def _tiny_grid(tmp_path: Path) -> Path:
    raw = yaml.safe_load(GRID.read_text())
    raw["root"] = str(GRID.parents[2])
    raw["seeds"] = [1]
    raw["overrides"] = [
        "epochs=1",
        "batch_size=64",
        "eval_batch_size=512",
        "validate_every=1",
        "model_config.embedding_dim=8",
        "model_config.max_len=12",
        "model_config.num_blocks=1",
    ]
    synthetic = {"num_users": 120, "num_items": 60, "num_topics": 6, "seed": 1}
    in_process = [
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
    ]
    sessions = {"session-gap": 3600, "split": "session", "test-days": 5, "valid-days": 5, "max-len": 30}
    raw["datasets"] = [
        {"name": "ml100k", "synthetic": synthetic, "preprocess": {"max-len": 30}, "beam_args": in_process},
        {
            "name": "yoochoose",
            "synthetic": synthetic,
            "preprocess": sessions,
            "beam_args": in_process,
            "metric": "MRR@20",
            "filter_seen": False,
        },
    ]
    for run in raw["runs"]:
        run["config"] = {k: v for k, v in run["config"].items() if k in ("ml100k", "yoochoose")}
    path = tmp_path / "positions_tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_every_encoding_runs_end_to_end_in_a_tiny_copy_of_the_grid(tmp_path):
    out = tmp_path / "out"
    assert main(["benchmark", str(_tiny_grid(tmp_path)), "--output", str(out), "--no-progress"]) == 0
    cells = {
        p.parent.relative_to(out / "runs").as_posix(): json.loads(p.read_text())
        for p in out.glob("runs/*/*/*/cell.json")
    }
    assert sorted(cells) == sorted(f"{d}/{k}/seed1" for d in ("ml100k", "yoochoose") for k in BUILT_IN)
    assert all(c["status"] == "finished" for c in cells.values()), {k: c.get("error") for k, c in cells.items()}
    for key, cell in cells.items():
        kind = key.split("/")[1]
        assert cell["config"]["model_config"]["position_encoding"]["name"] == kind
    report = (out / "report" / "report.md").read_text()
    assert "the pairs the grid names" in report
    for dataset in ("ml100k", "yoochoose"):
        for kind in BUILT_IN[1:]:
            assert f"| {dataset} | {kind} | learnable | 1 |" in report
