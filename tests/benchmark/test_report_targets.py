"""The report's published figures and targets (met / not met), continuations, chosen pairs, a metric per dataset
and the best run per dataset, from fabricated cells."""

import numpy as np
import pytest

from tests.benchmark.fakes import FakeRunner, per_user_values
from tfseqrec.benchmark.grid import expand_cells, load_grid
from tfseqrec.benchmark.report import write_report
from tfseqrec.evaluation import stats

RESAMPLES = 500
GRID = """
name: targets
seeds: [1, 2]
ks: [1, 5, 10]
datasets:
  - {name: toy, data_dir: prepared}
  - {name: sessions, data_dir: other, metric: MRR}
runs:
  - {name: good_model, model: sasrec, published: {HR@10: 0.9, NDCG@10: 0.5}, target: {NDCG@10: 0.3}}
  - {name: good_more, model: sasrec, init_from: good_model, target: {NDCG@10: 0.3}, above: weak_model}
  - {name: weak_model, model: gru4rec, published: {NDCG@10: 0.25}, target: {NDCG@10: 0.3}}
  - {name: weak_twin, model: gru4rec, above: weak_model}
  - {name: broken_model, model: sasrec}
  - {name: good_vs_broken, model: sasrec, target: {NDCG@10: 0.3}, above: broken_model}
  - {name: pop, baseline: most_popular, published: {NDCG@10: 0.05}}
pairs: [[good_more, good_model], [weak_model, pop]]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("targets")
    (root / "grid.yaml").write_text(GRID)
    grid = load_grid(root / "grid.yaml")
    FakeRunner(grid, root / "out").run(expand_cells(grid), progress=False)
    return write_report(root / "out", num_resamples=RESAMPLES).read_text()


def mean_over_seeds(run: str, transform=lambda v: v) -> float:
    return float(np.mean([transform(per_user_values(run, seed)).mean() for seed in (1, 2)]))


def row(text: str, section: str, dataset: str, run: str) -> list[str]:
    part = text.split(f"## {section}")[1].split("\n## ")[0].split(f"### {dataset}\n")[1].split("\n### ")[0]
    line = next(line for line in part.splitlines() if line.startswith(f"| {run} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def paired(a: str, b: str, seed: int = 1, transform=lambda v: v):
    return stats.compare(
        transform(per_user_values(a, seed)),
        transform(per_user_values(b, seed)),
        a,
        b,
        "m",
        seed=0,
        num_resamples=RESAMPLES,
    )


def test_published_figures_and_whether_targets_are_met(report):
    header = report.split("## Published figures and targets")[1].split("### toy\n")[1].splitlines()[1]
    assert header == "| run | seeds | NDCG@10 mean | HR@10 mean | published | target | met |"
    good = row(report, "Published figures and targets", "toy", "good_model")
    hits = mean_over_seeds("good_model", lambda v: (v > 0).astype(float))  # the fake's HR@10
    assert good == [
        "good_model",
        "2",
        f"{mean_over_seeds('good_model'):.4f}",
        f"{hits:.4f}",
        "HR@10 0.9, NDCG@10 0.5",
        "NDCG@10 ≥ 0.3",
        "yes",
    ]
    weak = row(report, "Published figures and targets", "toy", "weak_model")
    assert weak[-1] == f"no: NDCG@10 {mean_over_seeds('weak_model'):.4f} < 0.3"
    assert row(report, "Published figures and targets", "toy", "pop")[-3:] == ["NDCG@10 0.05", "", "n/a"]
    # above: the bars, then a higher mean than the other run with a paired Wilcoxon p < 0.05 (seed 1)
    more = row(report, "Published figures and targets", "toy", "good_more")
    assert more[-2:] == ["NDCG@10 ≥ 0.3, above weak_model", "yes"]
    twin = paired("weak_twin", "weak_model")
    expected = (
        f"no: NDCG@10 {twin.mean_diff:+.4f} against weak_model"
        if twin.mean_diff <= 0
        else "yes"
        if twin.wilcoxon.pvalue < 0.05
        else "by the mean only (Wilcoxon p"
    )
    assert row(report, "Published figures and targets", "toy", "weak_twin")[-1].startswith(expected)
    assert row(report, "Published figures and targets", "toy", "good_vs_broken")[-1] == "bars met; broken_model not run"
    # a dataset with its own headline metric: its column first, the bars still on their own metric
    sessions = report.split("## Published figures and targets")[1].split("### sessions\n")[1].splitlines()[1]
    assert sessions == "| run | seeds | MRR mean | HR@10 mean | NDCG@10 mean | published | target | met |"
    assert (
        row(report, "Published figures and targets", "sessions", "good_model")[2]
        == f"{mean_over_seeds('good_model', lambda v: v / 2):.4f}"
    )


def test_the_grids_pairs_are_the_comparisons_each_on_its_datasets_metric(report):
    section = report.split("## Pairwise comparisons")[1].split("### Best run per dataset")[0]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith(("| toy |", "| sessions |"))
    ]
    assert [r[:3] for r in rows] == [
        ["toy", "good_more", "good_model"],
        ["toy", "weak_model", "pop"],
        ["sessions", "good_more", "good_model"],
        ["sessions", "weak_model", "pop"],
    ]
    assert rows[0][7] == f"{paired('good_more', 'good_model').mean_diff:+.4f}"
    assert rows[2][7] == f"{paired('good_more', 'good_model', transform=lambda v: v / 2).mean_diff:+.4f}"
    assert "Headline metric: **NDCG@10** (toy), **MRR** (sessions)" in report


def test_best_run_per_dataset_is_paired_over_rows_averaged_over_seeds(report):
    trained = ["good_model", "good_more", "weak_model", "weak_twin", "good_vs_broken"]
    best, second = sorted(trained, key=mean_over_seeds, reverse=True)[:2]
    b, r = mean_over_seeds(best), mean_over_seeds(second)
    c = stats.compare(
        np.mean([per_user_values(best, s) for s in (1, 2)], axis=0),
        np.mean([per_user_values(second, s) for s in (1, 2)], axis=0),
        best,
        second,
        "NDCG@10",
        seed=0,
        num_resamples=RESAMPLES,
    )
    line = next(
        line for line in report.split("### Best run per dataset")[1].splitlines() if line.startswith("- **toy**")
    )
    assert line.startswith(
        f"- **toy**: `{best}` NDCG@10 {b:.4f} against {r:.4f} for the runner-up `{second}` "
        f"({b - r:+.4f}, {(b / r - 1) * 100:+.1f}%); NDCG@10 paired over 40 rows: "
        f"{c.mean_diff:+.4f} [{c.diff_ci[0]:+.4f}, {c.diff_ci[1]:+.4f}]"
    )
    assert "; HR@10 paired over 40 rows" in line
    assert "- **sessions**: " in report and "; MRR paired over 40 rows" in report  # its own metric, then HR@10


def test_a_continuation_reports_its_whole_chain(report):
    efficiency = report.split("## Efficiency")[1]
    line = next(line for line in efficiency.splitlines() if line.startswith("| toy | good_more |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[4] == "4/4 (from 2), 4/4 (from 2)" and cells[6] == "6.0 s; chain 12.0 s (6.0 s + 6.0 s)"
    plain = next(line for line in efficiency.splitlines() if line.startswith("| toy | good_model |"))
    assert "| 2/2, 2/2 | 6.0 s | 6.0 s |" in plain
    assert (
        "**toy** continuations (best weights of the same seed's cell, fresh optimizer): `good_more` from "
        "`good_model`." in report.split("## Protocol")[1]
    )
