"""The grid runner with a fake executor: cell records, resumability, failures, and the timing helpers."""

import json

import pytest

from tests.benchmark.fakes import FakeRunner
from tfseqrec.benchmark.grid import expand_cells, load_grid
from tfseqrec.benchmark.runner import read_cell, train_targets_per_epoch, validation_curve

GRID = """
name: fake
seeds: [1, 2]
ks: [1, 5, 10]
time_budget_minutes: 3
filter_seen: false
overrides: [epochs=2]
datasets:
  - {name: toy, data_dir: prepared, overrides: [batch_size=8]}
runs:
  - {name: good_model, model: sasrec, overrides: [model_config.max_len=20]}
  - {name: broken_model, model: sasrec}
  - {name: weak_model, model: gru4rec}
  - {name: pop, baseline: most_popular}
"""


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(GRID)
    return load_grid(path)


def mtimes(out):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.glob("runs/*/*/*/cell.json"))}


def test_cells_are_recorded_with_metrics_timings_and_arguments(grid, tmp_path):
    out = tmp_path / "out"
    records = FakeRunner(grid, out).run(expand_cells(grid, only_runs=["good_model", "pop"]), progress=False)
    assert [r["key"] for r in records] == ["toy/good_model/seed1", "toy/good_model/seed2", "toy/pop/seed1"]
    cell = read_cell(out / "runs" / "toy" / "good_model" / "seed1")
    assert cell["status"] == "finished" and cell["seed"] == 1 and cell["kind"] == "train"
    args = cell["arguments"]
    assert args[:2] == ["train", "--data-dir"] and args[-1] == "seed=1"
    # grid, dataset, run overrides in that order, then the grid's own settings, then the seed.
    order = [
        args.index(a)
        for a in (
            "epochs=2",
            "batch_size=8",
            "model=sasrec",
            "model_config.max_len=20",
            "ks=[1, 5, 10]",
            "validation_metric=NDCG@10",
            "time_budget_minutes=3",
            "filter_seen=false",
        )
    ]
    assert order == sorted(order)
    assert cell["metrics"]["NDCG@10"] == pytest.approx(
        json.loads((out / "runs/toy/good_model/seed1/test/metrics.json").read_text())["summary"]["NDCG@10"]
    )
    assert (out / "runs/toy/good_model/seed1" / cell["per_user_file"]).exists()
    timings = cell["timings"]
    assert timings["seconds_per_epoch"] == 2.5 and timings["train_targets_per_epoch"] == 9 * 30 + 20 * 10
    assert timings["targets_per_second"] == pytest.approx(470 / 2.5)
    assert timings["time_to_best_seconds"] == pytest.approx(2.0 + 3.0 + 0.5 + 0.5)
    assert timings["inference_users_per_second"] == 1000.0
    assert cell["model_size_bytes"] == 1100 and cell["peak_memory_mib"] == 500.0
    assert [p["elapsed_seconds"] for p in cell["validation_curve"]] == pytest.approx([2.5, 6.0])
    assert cell["analysis"]["segments"][0]["dimension"] == "history_length"
    pop = read_cell(out / "runs" / "toy" / "pop" / "seed1")
    assert pop["kind"] == "baseline" and pop["arguments"][:5] == [
        "evaluate",
        "--data-dir",
        pop["data_dir"],
        "--baseline",
        "most_popular",
    ]
    assert "--keep-seen" in pop["arguments"]  # the grid's filter_seen: false reaches the baselines
    assert json.loads((out / "grid.json").read_text())["grid"]["name"] == "fake"


def test_second_run_skips_finished_cells_and_reruns_the_rest(grid, tmp_path):
    out = tmp_path / "out"
    cells = expand_cells(grid, only_runs=["good_model", "weak_model"])
    first = FakeRunner(grid, out)
    first.run(cells, progress=False)
    assert len(first.calls) == 4
    before = mtimes(out)
    again = FakeRunner(grid, out)
    records = again.run(cells, progress=False)
    assert again.calls == [] and mtimes(out) == before  # nothing ran, no cell.json was rewritten
    assert [r["status"] for r in records] == ["finished"] * 4
    # An interrupted cell (status running) and its stale files are redone; the others stay untouched.
    redo = out / "runs" / "toy" / "weak_model" / "seed2"
    (redo / "cell.json").write_text(json.dumps({"status": "running"}))
    (redo / "stale.txt").write_text("left by an interrupted run")
    third = FakeRunner(grid, out)
    third.run(cells, progress=False)
    assert len(third.calls) == 1 and third.calls[0][-2:] == ["seed=2", "resume=true"] and str(redo) in third.calls[0]
    assert not (redo / "stale.txt").exists() and read_cell(redo)["status"] == "finished"
    after = mtimes(out)
    assert {p: v for p, v in after.items() if redo not in p.parents} == {
        p: v for p, v in before.items() if redo not in p.parents
    }


def test_a_training_cell_cut_short_resumes_unless_its_arguments_changed(grid, tmp_path):
    out = tmp_path / "out"
    cells = expand_cells(grid, only_runs=["good_model"])
    FakeRunner(grid, out).run(cells, progress=False)
    killed = out / "runs" / "toy" / "good_model" / "seed1"
    record = read_cell(killed)
    # as a grid killed mid-training leaves it: cell.json running, the trainer's resume state, the log so far
    (killed / "cell.json").write_text(json.dumps({**record, "status": "running"}))
    (killed / "resume").mkdir()
    (killed / "resume" / "state.json").write_text("{}")
    (killed / "train.log").write_text("epochs 1-3\n")
    again = FakeRunner(grid, out)
    again.run(cells, progress=False)
    assert len(again.calls) == 1 and again.calls[0][-1] == "resume=true"
    assert (killed / "resume" / "state.json").exists()  # the folder was kept for `tfseqrec train --resume`
    assert (killed / "train.log").read_text() == "epochs 1-3\nfake\n"  # the log goes on
    assert read_cell(killed)["status"] == "finished"
    # started with other arguments (the grid changed since): run again from scratch
    (killed / "cell.json").write_text(json.dumps({**record, "status": "running", "arguments": ["train", "old"]}))
    FakeRunner(grid, out).run(cells, progress=False)
    assert not (killed / "resume").exists() and (killed / "train.log").read_text() == "fake\n"


def test_a_failed_cell_is_recorded_and_the_grid_goes_on(grid, tmp_path):
    out = tmp_path / "out"
    runner = FakeRunner(grid, out)
    records = runner.run(expand_cells(grid), progress=False)
    status = {r["key"]: r["status"] for r in records}
    assert status == {
        "toy/good_model/seed1": "finished",
        "toy/good_model/seed2": "finished",
        "toy/broken_model/seed1": "failed",
        "toy/broken_model/seed2": "failed",
        "toy/weak_model/seed1": "finished",
        "toy/weak_model/seed2": "finished",
        "toy/pop/seed1": "finished",
    }
    failed = read_cell(out / "runs" / "toy" / "broken_model" / "seed1")
    assert failed["status"] == "failed" and "ValueError: boom" in failed["error"] and failed["finished"]
    # A failed cell is tried again next time; finished ones are not.
    retry = FakeRunner(grid, out)
    retry.run(expand_cells(grid), progress=False)
    assert [c[-2] for c in retry.calls] == ["seed=1", "seed=2"]
    assert all("broken_model" in " ".join(c) for c in retry.calls)


def test_a_dataset_that_cannot_be_prepared_fails_its_cells_only(grid, tmp_path):
    class NoData(FakeRunner):
        def prepare_dataset(self, dataset):
            self.prepared = getattr(self, "prepared", 0) + 1
            raise FileNotFoundError("input x.csv does not exist")

    runner = NoData(grid, tmp_path / "out")
    records = runner.run(expand_cells(grid, only_runs=["good_model"]), progress=False)
    assert [r["status"] for r in records] == ["failed", "failed"] and runner.prepared == 1
    assert "dataset 'toy' could not be prepared" in records[0]["error"] and "x.csv" in records[0]["error"]


CHAINED = """
seeds: [1, 2]
ks: [1, 5, 10]
datasets:
  - {name: toy, data_dir: prepared}
  - {name: sessions, data_dir: other, metric: MRR}
runs:
  - {name: good_model, model: sasrec}
  - {name: good_more, model: sasrec, init_from: good_model, overrides: [epochs=3]}
  - {name: broken_model, model: sasrec, datasets: [toy]}
  - {name: good_after_broken, model: sasrec, init_from: broken_model, datasets: [toy]}
"""


@pytest.fixture
def chained(tmp_path):
    path = tmp_path / "chained.yaml"
    path.write_text(CHAINED)
    return load_grid(path)


def test_a_continuation_starts_from_its_parents_cell_of_the_same_seed(chained, tmp_path):
    out = tmp_path / "out"
    runner = FakeRunner(chained, out)
    records = runner.run(expand_cells(chained, only_datasets=["toy"], only_runs=["good_more"]), progress=False)
    assert [r["key"] for r in records] == [
        "toy/good_model/seed1",
        "toy/good_model/seed2",
        "toy/good_more/seed1",
        "toy/good_more/seed2",
    ]  # the parent first, though not chosen
    parent = out / "runs" / "toy" / "good_model" / "seed2"
    more = read_cell(out / "runs" / "toy" / "good_more" / "seed2")
    args = more["arguments"]
    assert f"init_from={parent}" in args and args.index("epochs=3") < args.index(f"init_from={parent}")
    assert not any(a.startswith("init_from=") for a in read_cell(parent)["arguments"])
    assert more["initialised_from"] == {
        "cell": "toy/good_model/seed2",
        "run": "good_model",
        "run_dir": str(parent),
        "best_epoch": 2,
        "epochs_run": 2,
        "train_seconds": 6.0,
        "epochs_before": 2,
        "train_seconds_before": 6.0,
    }
    assert more["cumulative"] == {"best_epoch": 4, "epochs_run": 4, "train_seconds": 12.0}
    assert read_cell(parent)["initialised_from"] is None
    again = FakeRunner(chained, out)
    again.run(expand_cells(chained, only_datasets=["toy"], only_runs=["good_more"]), progress=False)
    assert again.calls == []  # finished cells, parents included, are not trained again


def test_a_continuation_whose_parent_failed_fails_with_the_reason(chained, tmp_path):
    out = tmp_path / "out"
    runner = FakeRunner(chained, out)
    records = runner.run(expand_cells(chained, only_runs=["good_after_broken"]), progress=False)
    status = {r["key"]: r["status"] for r in records}
    assert status == {
        "toy/broken_model/seed1": "failed",
        "toy/broken_model/seed2": "failed",
        "toy/good_after_broken/seed1": "failed",
        "toy/good_after_broken/seed2": "failed",
    }
    error = read_cell(out / "runs" / "toy" / "good_after_broken" / "seed1")["error"]
    assert "init_from toy/broken_model/seed1: that cell is failed, not finished" in error
    assert len(runner.calls) == 2  # the continuation never started `tfseqrec train`


def test_a_datasets_own_metric_is_its_validation_metric(chained, tmp_path):
    out = tmp_path / "out"
    FakeRunner(chained, out).run(expand_cells(chained, only_runs=["good_model"]), progress=False)
    toy = read_cell(out / "runs" / "toy" / "good_model" / "seed1")
    sessions = read_cell(out / "runs" / "sessions" / "good_model" / "seed1")
    assert "validation_metric=NDCG@10" in toy["arguments"] and toy["metric"] == "NDCG@10"
    assert "validation_metric=MRR" in sessions["arguments"] and sessions["metric"] == "MRR"


def test_train_targets_per_epoch():
    lengths = {3: 2, 10: 1, 50: 1}
    padded = {"batch_size": 4, "batching": "padded", "steps_per_epoch": None}
    assert train_targets_per_epoch(lengths, padded, {"max_len": 20}) == 2 * 2 + 9 + 20
    assert train_targets_per_epoch(lengths, padded, {}) == 2 * 2 + 9 + 49
    assert train_targets_per_epoch(lengths, {**padded, "steps_per_epoch": 2}, {"max_len": 20}) == round(2 * 4 * 33 / 4)
    parallel = {"batch_size": 4, "batching": "session_parallel", "steps_per_epoch": None}
    assert train_targets_per_epoch(lengths, parallel, {"max_len": 20}) == 2 * 2 + 9 + 49
    assert train_targets_per_epoch(lengths, {**parallel, "steps_per_epoch": 3}, {}) == 12
    assert train_targets_per_epoch(None, padded, {}) is None


def test_validation_curve_elapsed_seconds():
    history = [
        {"epoch": 1, "epoch_seconds": 1.0},
        {"epoch": 2, "epoch_seconds": 2.0},
        {"epoch": 3, "epoch_seconds": 4.0},
        {"epoch": 4, "epoch_seconds": 8.0},
    ]
    validations = [{"epoch": 2, "seconds": 0.5, "NDCG@10": 0.1}, {"epoch": 4, "seconds": 0.25, "NDCG@10": 0.3}]
    assert validation_curve(validations, history, "NDCG@10") == [
        {"epoch": 2, "value": 0.1, "elapsed_seconds": 3.5},
        {"epoch": 4, "value": 0.3, "elapsed_seconds": 15.75},
    ]
    assert validation_curve(validations, [], "NDCG@10")[0]["elapsed_seconds"] is None
