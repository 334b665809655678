"""Grid files: loading, the errors that name the bad key and file, and the expansion into cells."""

from pathlib import Path

import pytest

from tfseqrec.benchmark.grid import GridError, expand_cells, load_grid

REPO = Path(__file__).resolve().parents[2]
GRIDS = REPO / "benchmarks" / "grids"


def write(tmp_path, text: str, name: str = "grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = """
seeds: [1, 2]
datasets:
  - {name: toy, synthetic: {num_users: 50, num_items: 40, num_topics: 4}}
  - {name: ready, data_dir: prepared/toy}
runs:
  - {name: sasrec, model: sasrec, overrides: [epochs=1]}
  - {name: pop, baseline: most_popular}
"""


def test_committed_grids_load_and_expand():
    smoke = load_grid(GRIDS / "smoke.yaml")
    assert smoke.metric == "NDCG@10" and smoke.seeds == (1, 2)
    assert [c.key for c in expand_cells(smoke)] == [
        "synthetic/sasrec_tiny/seed1",
        "synthetic/sasrec_tiny/seed2",
        "synthetic/transitions/seed1",
    ]
    ml100k = load_grid(GRIDS / "ml100k.yaml")
    assert ml100k.seeds == (1, 2, 3) and ml100k.time_budget_minutes == 15
    # Shared data are referenced relative to the repository root, never copied into it.
    assert ml100k.datasets[0].preprocess["input"] == [
        str((REPO.parent / "shared" / "data" / "ml-100k" / "recbole" / "ml-100k.inter").resolve())
    ]
    assert {r.name for r in ml100k.runs} >= {"sasrec_ce", "gru4rec_ce", "bert4rec", "most_popular", "transitions"}
    assert len(expand_cells(ml100k)) == 3 * 3 + 2  # baselines are deterministic: one cell each
    both = load_grid(GRIDS / "ml1m_beauty.yaml")
    keys = [c.key for c in expand_cells(both)]
    assert "beauty/cl4srec/seed3" in keys and "ml1m/cl4srec/seed1" not in keys and "beauty/bert4rec/seed1" not in keys
    sasrec = both.run("sasrec_ce")
    assert sasrec.config_for("ml1m") == str(REPO / "configs" / "sasrec_ml1m.yaml")
    assert sasrec.config_for("beauty") == str(REPO / "configs" / "sasrec_beauty.yaml")
    for cell in expand_cells(both):
        assert cell.run.baseline or Path(cell.config_path).is_file()


def test_expansion_filters_losses_and_paths(tmp_path):
    grid = load_grid(
        write(
            tmp_path,
            BASE
            + """
  - name: gru
    model: gru4rec
    losses: [full_ce, bce]
    overrides: {optimizer.learning_rate: 0.002}
    datasets: [toy]
""",
        )
    )
    assert grid.datasets[1].data_dir == str((tmp_path / "prepared" / "toy").resolve())
    assert [r.name for r in grid.runs] == ["sasrec", "pop", "gru_full_ce", "gru_bce"]
    assert grid.run("gru_bce").overrides == (
        "model=gru4rec",
        "model_config.loss.name=bce",
        "optimizer.learning_rate=0.002",
    )
    keys = [c.key for c in expand_cells(grid)]
    assert keys == [
        "toy/sasrec/seed1",
        "toy/sasrec/seed2",
        "toy/pop/seed1",
        "toy/gru_full_ce/seed1",
        "toy/gru_full_ce/seed2",
        "toy/gru_bce/seed1",
        "toy/gru_bce/seed2",
        "ready/sasrec/seed1",
        "ready/sasrec/seed2",
        "ready/pop/seed1",
    ]
    assert [c.key for c in expand_cells(grid, only_datasets=["ready"], only_runs=["pop"])] == ["ready/pop/seed1"]
    cell = expand_cells(grid)[0]
    assert cell.directory(tmp_path / "out") == tmp_path / "out" / "runs" / "toy" / "sasrec" / "seed1"
    with pytest.raises(GridError, match=r"unknown run\(s\) \['nope'\]"):
        expand_cells(grid, only_runs=["nope"])


@pytest.mark.parametrize(
    "text, message",
    [
        (BASE + "seedz: [1]\n", r"unknown key seedz"),
        (
            BASE.replace("overrides: [epochs=1]", "overrides: [epochs=1], confg: x.yaml"),
            r"unknown key runs\[0\] \(sasrec\)\.confg",
        ),
        (
            BASE.replace("data_dir: prepared/toy", "data_dir: prepared/toy, synthetic: {num_users: 5}"),
            r"datasets\[1\] \(ready\): give exactly one of data_dir, preprocess or synthetic",
        ),
        (
            BASE.replace("model: sasrec,", "config: configs/missing.yaml,"),
            r"runs\[0\] \(sasrec\)\.config: config file .*missing.yaml does not exist",
        ),
        (BASE + "metric: NDCG@50\n", r"metric: NDCG@50 needs k=50 in ks"),
        (BASE.replace("name: pop", "name: sasrec"), r"runs: the name 'sasrec' is used twice"),
        (
            BASE.replace(
                "{name: ready, data_dir: prepared/toy}", "{name: raw, preprocess: {input: a.csv, min-count: 3}}"
            ),
            r"datasets\[1\] \(raw\)\.preprocess\.min-count: not a `tfseqrec preprocess` flag",
        ),
        (BASE.replace("baseline: most_popular", "baseline: random"), r"runs\[1\] \(pop\)\.baseline: 'random'"),
        (BASE.replace("num_topics: 4", "num_topicz: 4"), r"datasets\[0\] \(toy\)\.synthetic: unknown key"),
        (
            BASE.replace("overrides: [epochs=1]", "overrides: [epochs=1], datasets: [other]"),
            r"runs \(sasrec\): dataset 'other' is not in datasets",
        ),
        (BASE.replace("seeds: [1, 2]", "seeds: [1, 1]"), r"seeds: has duplicates"),
        (BASE.replace("name: toy", "name: 'a b'"), r"datasets\[0\]\.name: 'a b' is not a valid name"),
        ("datasets: []\nruns: []\n", r"'datasets' is missing or empty"),
        ("- just\n- a list\n", r"a grid must be a mapping"),
        ("datasets: [\n", r"not valid YAML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = write(tmp_path, text, "bad_grid.yaml")
    with pytest.raises(GridError, match=message) as info:
        load_grid(path)
    assert str(path) in str(info.value)


CHAIN = (
    BASE
    + """
  - {name: sasrec_more, model: sasrec, init_from: sasrec, published: {HR@10: 0.3}, target: {NDCG@10: 0.1},
     above: sasrec}
  - {name: sasrec_last, model: sasrec, init_from: sasrec_more}
pairs: [[sasrec_more, sasrec], [sasrec_last, pop]]
"""
)


def test_continuations_targets_and_pairs(tmp_path):
    grid = load_grid(write(tmp_path, CHAIN.replace("num_topics: 4}", "num_topics: 4}, metric: MRR")))
    more = grid.run("sasrec_more")
    assert more.init_from == "sasrec" and more.above == "sasrec"
    assert more.published == {"HR@10": 0.3} and more.target == {"NDCG@10": 0.1}
    assert grid.pairs == (("sasrec_more", "sasrec"), ("sasrec_last", "pop"))
    assert grid.metric_for(grid.dataset("toy")) == "MRR" and grid.metric_for(grid.dataset("ready")) == "NDCG@10"
    # Choosing a continuation brings in its parents, transitively; parents' cells come first.
    keys = [c.key for c in expand_cells(grid, only_datasets=["toy"], only_runs=["sasrec_last"])]
    assert keys == [
        "toy/sasrec/seed1",
        "toy/sasrec/seed2",
        "toy/sasrec_more/seed1",
        "toy/sasrec_more/seed2",
        "toy/sasrec_last/seed1",
        "toy/sasrec_last/seed2",
    ]
    assert grid.to_dict()["runs"][2]["target"] == {"NDCG@10": 0.1}  # what the report reads from grid.json


@pytest.mark.parametrize(
    "text, message",
    [
        (
            CHAIN.replace("init_from: sasrec,", "init_from: sasrec_last,"),
            r"runs \(sasrec_more\)\.init_from: 'sasrec_last' is not an earlier run: a continuation's parent must come "
            r"before it",
        ),
        (CHAIN.replace("init_from: sasrec,", "init_from: nope,"), r"init_from: 'nope' is not a run of this grid"),
        (CHAIN.replace("init_from: sasrec,", "init_from: pop,"), r"init_from: 'pop' is a baseline"),
        (
            CHAIN.replace(
                "{name: sasrec, model: sasrec, overrides: [epochs=1]}", "{name: sasrec, model: sasrec, datasets: [toy]}"
            ),
            r"runs \(sasrec_more\)\.init_from: 'sasrec' does not run on ready, where this run does",
        ),
        (
            CHAIN.replace("name: pop, baseline: most_popular", "name: pop, baseline: most_popular, init_from: sasrec"),
            r"a baseline takes no init_from",
        ),
        (
            CHAIN.replace("target: {NDCG@10: 0.1}", "target: {NDCG@50: 0.1}"),
            r"runs\[2\] \(sasrec_more\)\.target: NDCG@50 needs k=50 in ks",
        ),
        (
            CHAIN.replace("target: {NDCG@10: 0.1}", "target: {NDCG@10: high}"),
            r"runs\[2\] \(sasrec_more\)\.target\.NDCG@10: must be a number, got 'high'",
        ),
        (CHAIN.replace("published: {HR@10: 0.3}", "published: 0.3"), r"published: must be a mapping of metric"),
        (CHAIN.replace("above: sasrec}", "above: sasrec_more}"), r"above: 'sasrec_more' is not another run"),
        (CHAIN.replace("[sasrec_last, pop]", "[sasrec_last, popular]"), r"pairs\[1\]: 'popular' is not a run"),
        (CHAIN.replace("[sasrec_last, pop]", "[sasrec_last]"), r"pairs\[1\]: must be \[A, B\]"),
        (
            CHAIN.replace("[sasrec_last, pop]", "[sasrec_more, sasrec]"),
            r"pairs: the name 'sasrec_more - sasrec' is used",
        ),
        (
            CHAIN.replace(
                "{name: pop, baseline: most_popular}", "{name: pop, baseline: most_popular, datasets: [ready]}"
            ).replace("init_from: sasrec_more}", "init_from: sasrec_more, datasets: [toy]}"),
            r"pairs\[1\]: 'sasrec_last' and 'pop' share no dataset",
        ),
        (
            CHAIN.replace("num_topics: 4}", "num_topics: 4}, metric: MRR@50"),
            r"datasets\[0\] \(toy\)\.metric: MRR@50 needs",
        ),
    ],
)
def test_bad_continuations_targets_and_pairs(tmp_path, text, message):
    path = write(tmp_path, text, "bad_grid.yaml")
    with pytest.raises(GridError, match=message) as info:
        load_grid(path)
    assert str(path) in str(info.value)


def test_missing_grid_file(tmp_path):
    with pytest.raises(GridError, match="no such grid file"):
        load_grid(tmp_path / "absent.yaml")
