"""The committed grids and configs: the models and sessions grids expand to the experiments they stand for, every
config a grid names loads, every experiment config is in a grid, and configs/ holds presets only."""

import re
from pathlib import Path

import pytest

from tfseqrec.benchmark.grid import expand_cells, load_grid
from tfseqrec.models.registry import config_from_dict, get_model_class
from tfseqrec.training.config import load_train_config

REPO = Path(__file__).resolve().parents[2]
GRIDS = sorted((REPO / "benchmarks" / "grids").glob("*.yaml"))
PRESETS = sorted((REPO / "configs").glob("*.yaml"))
EXPERIMENT_CONFIGS = sorted((REPO / "benchmarks" / "configs").glob("*.yaml"))


def named_configs() -> set[Path]:
    return {Path(path) for grid in GRIDS for run in load_grid(grid).runs for path in run.config.values()}


def test_models_grid_has_one_seeded_run_per_experiment_with_its_figures():
    grid = load_grid(REPO / "benchmarks" / "grids" / "models.yaml")
    assert grid.seeds == (42,) and grid.metric == "NDCG@10" and grid.filter_seen is True  # the configs' own seed
    cells = expand_cells(grid)
    assert len(cells) == 23 + 2 * 2  # 20 runs on ML-1M, 3 on Beauty, two baselines on each
    assert {c.key for c in cells} >= {
        "ml1m/sasrec_ml1m_ce/seed42",
        "beauty/sasrec_beauty_ce/seed42",
        "beauty/cl4srec_beauty_cosine/seed42",
        "ml1m/gsasrec_ml1m_d128_decay/seed42",
        "ml1m/bert4rec_ml1m_d128_decay/seed42",
        "beauty/transitions/seed42",
    }
    sasrec = grid.run("sasrec_ml1m_ce")
    assert sasrec.config_for("ml1m") == str(REPO / "configs" / "sasrec_ml1m.yaml")
    assert sasrec.published == {"HR@10": 0.3152, "NDCG@10": 0.1821} and sasrec.target == {
        "HR@10": 0.315,
        "NDCG@10": 0.182,
    }
    assert grid.run("sasrec_ml1m_bce").target == {} and grid.run("sasrec_ml1m_bce").published["NDCG@10"] == 0.1341
    assert grid.run("cl4srec_beauty").above == "sasrec_beauty_ce"
    assert grid.run("gsasrec_ml1m_group_continued").target == {"NDCG@10": 0.17}
    assert "model_config.loss.negatives_per=batch" in grid.run("gsasrec_ml1m_continued").overrides
    continuations = {r.name: r.init_from for r in grid.runs if r.init_from}
    assert continuations == {
        "gsasrec_ml1m_continued": "gsasrec_ml1m",
        "bert4rec_ml1m_bucketed_continued": "bert4rec_ml1m_bucketed",
        "gsasrec_ml1m_group_continued": "gsasrec_ml1m_continued",
        "bert4rec_ml1m_random_decay_continued": "bert4rec_ml1m_random",
        "bert4rec_ml1m_random_decay_long_continued": "bert4rec_ml1m_random",
    }
    assert (
        grid.run("gsasrec_ml1m_group_continued")
        .config_for("ml1m")
        .endswith("benchmarks/configs/gsasrec_ml1m_group.yaml")
    )
    keys = [c.key for c in expand_cells(grid, only_runs=["gsasrec_ml1m_group_continued"])]
    assert keys == [
        "ml1m/gsasrec_ml1m/seed42",
        "ml1m/gsasrec_ml1m_continued/seed42",
        "ml1m/gsasrec_ml1m_group_continued/seed42",
    ]
    # the comparisons the experiments were judged by, each A - B over the same users
    assert {
        ("cl4srec_beauty", "sasrec_beauty_ce"),
        ("sasrec_ml1m_ce", "sasrec_ml1m_bce"),
        ("bert4rec_ml1m_random_decay_continued", "bert4rec_ml1m_random"),
        ("gsasrec_ml1m_d128_decay", "gsasrec_ml1m_group_decay"),
    } <= set(grid.pairs)


def test_sessions_grid_three_seeds_and_a_metric_per_dataset():
    grid = load_grid(REPO / "benchmarks" / "grids" / "sessions.yaml")
    assert grid.seeds == (1, 2, 3)
    metrics = {d.name: (grid.metric_for(d), d.filter_seen) for d in grid.datasets}
    assert metrics == {"yoochoose": ("MRR@20", False), "diginetica": ("MRR@20", False), "ml1m_ts": ("NDCG@10", True)}
    cells = expand_cells(grid)
    assert len(cells) == 9 * 3 + 2 * 3  # baselines: one cell per dataset
    assert [c.key for c in cells if c.dataset.name == "ml1m_ts" and c.seed == 2] == [
        "ml1m_ts/hrnn_ml1m/seed2",
        "ml1m_ts/hrnn_none_ml1m/seed2",
        "ml1m_ts/gru4rec_ml1m_sessions/seed2",
    ]
    assert grid.dataset("diginetica").overrides[:2] == ("batch_size=32", "epochs=100")
    assert grid.run("hrnn_none_ml1m").overrides == ("model_config.user_input=none",)
    assert grid.dataset("yoochoose").preprocess["test-vocabulary"] == "train_valid"


def training_runs() -> list[tuple]:
    """(grid file, run, dataset) of every training run of the committed grids, one seed."""
    found = []
    for path in GRIDS:
        grid = load_grid(path)
        found += [
            (path, cell.run, cell.dataset)
            for cell in expand_cells(grid)
            if not cell.run.baseline and cell.seed == grid.seeds[0]
        ]
    return found


@pytest.mark.parametrize(
    "grid_path, run, dataset", training_runs(), ids=lambda v: v.stem if isinstance(v, Path) else v.name
)
def test_every_training_run_of_a_grid_loads_with_its_overrides(grid_path, run, dataset):
    grid = load_grid(grid_path)
    path = run.config_for(dataset.name)
    assert path is None or Path(path).is_file()
    config = load_train_config(path, [*grid.overrides, *dataset.overrides, *run.overrides], data_dir="unused")
    config_from_dict(get_model_class(config.model)[1], config.model_config)  # typed and checked, no model built


def test_every_experiment_config_is_in_a_grid():
    assert set(EXPERIMENT_CONFIGS) <= named_configs(), "benchmarks/configs/ files no grid runs"


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_a_preset_says_what_it_is_and_how_to_preprocess_and_train(path):
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    assert "tfseqrec preprocess --input" in header or "tfseqrec preprocess \\" in header
    assert f"tfseqrec train --config configs/{path.name} --data-dir" in header
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|Measured|train_models|train_sessions", header)
    assert not (REPO / "benchmarks" / "configs" / path.name).exists() or path.stem in {
        "bert4rec_ml1m",
        "cl4srec_beauty",
        "gsasrec_ml1m",
    }  # a preset whose experiment twin differs


def test_experiment_configs_keep_no_run_history():
    for path in EXPERIMENT_CONFIGS:
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b|Measured|train_models|Run: ", path.read_text()), path.name
