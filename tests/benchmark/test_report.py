"""The report from fabricated cells: tables hold the numbers, the plots and the HTML exist."""

import json

import numpy as np
import pytest

from tests.benchmark.fakes import FakeRunner, per_user_values
from tests.benchmark.test_runner import GRID
from tfseqrec.benchmark.grid import expand_cells, load_grid
from tfseqrec.benchmark.report import write_report
from tfseqrec.evaluation import stats

RESAMPLES = 2000


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    (root / "grid.yaml").write_text(GRID)
    grid = load_grid(root / "grid.yaml")
    FakeRunner(grid, root / "out").run(expand_cells(grid), progress=False)
    serving = root / "serving.json"
    serving.write_text(
        json.dumps(
            {
                "machine": {"cores": 2},
                "e2e": {
                    "single": {"bench_scann": {"n": 500, "p50_ms": 2.7029, "p99_ms": 4.8504}},
                    "concurrency": [
                        {"model": "bench_scann", "clients": 4, "p50_ms": 5.25, "p99_ms": 8.45, "rps": 743.6}
                    ],
                },
            }
        )
    )
    path = write_report(root / "out", root / "report", serving_results=serving, num_resamples=RESAMPLES)
    return root, path


def test_accuracy_table_has_means_stds_and_bootstrap_intervals(benchmark):
    root, path = benchmark
    text = path.read_text()
    good = [per_user_values("good_model", seed) for seed in (1, 2)]
    means = [v.mean() for v in good]
    assert f"| good_model | sasrec | 1, 2 | {np.mean(means):.4f} ± {np.std(means, ddof=1):.4f} |" in text
    low, high = stats.bootstrap_ci(np.mean(good, axis=0), num_resamples=RESAMPLES, seed=0)
    assert f"[{low:.4f}, {high:.4f}]" in text
    assert f"{means[0]:.4f}, {means[1]:.4f}" in text  # per-seed values
    pop = per_user_values("pop", 1).mean()
    assert f"| pop | most_popular | 1 | {pop:.4f} |" in text
    assert "broken_model" not in text.split("## Pairwise comparisons")[0]  # failed cells are not averaged


def test_pairwise_comparisons_are_paired_and_holm_corrected(benchmark):
    _, path = benchmark
    text = path.read_text()
    section = text.split("## Pairwise comparisons")[1].split("## Training curves")[0]
    rows = [line for line in section.splitlines() if line.startswith("| toy |")]
    assert len(rows) == 3  # good/weak, good/pop, weak/pop on seed 1
    a, b = per_user_values("good_model", 1), per_user_values("weak_model", 1)
    expected = stats.compare_all(
        [
            stats.compare(a, b, "good_model", "weak_model", "NDCG@10", num_resamples=RESAMPLES),
            stats.compare(a, per_user_values("pop", 1), "good_model", "pop", "NDCG@10", num_resamples=RESAMPLES),
            stats.compare(b, per_user_values("pop", 1), "weak_model", "pop", "NDCG@10", num_resamples=RESAMPLES),
        ]
    )[0]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:5] == ["toy", "good_model", "weak_model", "1", "40"]
    assert cells[7] == f"{expected.mean_diff:+.4f}"
    assert cells[8] == f"[{expected.diff_ci[0]:+.4f}, {expected.diff_ci[1]:+.4f}]"
    assert float(cells[9]) == pytest.approx(expected.ttest.pvalue, rel=0.05)
    assert float(cells[11]) == pytest.approx(expected.pvalue_holm, rel=0.05)
    assert float(cells[11]) >= float(cells[10])  # Holm never lowers a p-value


def test_efficiency_segments_failures_protocol_and_serving(benchmark):
    _, path = benchmark
    text = path.read_text()
    assert "| toy | good_model | 2.50 | 188 | 2/2, 2/2 | 6.0 s | 6.0 s | 1,000 | 500 | 0.00 |" in text
    assert "| toy | pop |  |  | baseline |" in text
    assert "| history_length | 1-5 | 10 | 0.1000 |" in text
    assert "| toy | good_model | 1 | u007 | i9 | 40 | i1, i2 | i3, i4 |" in text
    failed = text.split("## Failed or unfinished cells")[1]
    assert "toy/broken_model/seed1" in failed and "ValueError: boom" in failed
    protocol = text.split("## Protocol")[1]
    assert "filter_seen: True" in protocol and "ties: conservative" in protocol and "leave_one_out" in protocol
    serving = text.split("## Serving latency")[1]
    assert "e2e / single / bench_scann | 2.70 | 4.85 |" in serving
    assert "(bench_scann, 4 clients) | 5.25 | 8.45 | 744 |" in serving


def test_plots_and_html(benchmark):
    root, path = benchmark
    report = root / "report"
    for name in ("accuracy.png", "curves.png", "accuracy_vs_time.png", "segments_toy.png"):
        data = (report / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name
        assert f"]({name})" in path.read_text()
    page = (report / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<table>") >= 6
    assert 'src="accuracy.png"' in page and 'src="segments_toy.png"' in page
    good = [per_user_values("good_model", seed).mean() for seed in (1, 2)]
    assert f"{np.mean(good):.4f} ± {np.std(good, ddof=1):.4f}" in page


def test_report_only_from_the_command_line(benchmark, tmp_path, capsys):
    from tfseqrec.cli import main

    root, _ = benchmark
    code = main(
        [
            "benchmark",
            str(root / "grid.yaml"),
            "--output",
            str(root / "out"),
            "--report-only",
            "--report-dir",
            str(tmp_path / "again"),
            "--num-resamples",
            "200",
        ]
    )
    assert code == 0
    assert (tmp_path / "again" / "report.md").exists() and (tmp_path / "again" / "report.html").exists()
    assert "report: " in capsys.readouterr().out


def test_empty_output_still_gives_a_report(tmp_path):
    path = write_report(tmp_path / "nothing", num_resamples=100)
    assert "No comparisons" in path.read_text() and (path.parent / "report.html").exists()


def test_readme_results_block_is_generated_from_the_report(benchmark, tmp_path, capsys):
    from tfseqrec.benchmark.report import RESULTS_END, RESULTS_START
    from tfseqrec.cli import main

    root, _ = benchmark
    readme = tmp_path / "README.md"
    quoted = f"Prose quoting `{RESULTS_START}` and `{RESULTS_END}` is not the block.\n"
    readme.write_text(f"# Title\n{quoted}\n## Results\n{RESULTS_START}\nold text\n{RESULTS_END}\n\n## After\nkept\n")
    code = main(
        [
            "benchmark",
            str(root / "grid.yaml"),
            "--output",
            str(root / "out"),
            "--report-only",
            "--report-dir",
            str(tmp_path / "report"),
            "--num-resamples",
            "200",
            "--readme",
            str(readme),
        ]
    )
    assert code == 0
    text = readme.read_text()
    block = text.split(f"\n{RESULTS_START}\n")[1].split(f"\n{RESULTS_END}\n")[0]
    assert "old text" not in text and text.endswith("## After\nkept\n") and text.startswith(f"# Title\n{quoted}")
    good = [per_user_values("good_model", seed).mean() for seed in (1, 2)]
    assert f"| good_model | sasrec | {np.mean(good):.4f} ± {np.std(good, ddof=1):.4f} |" in block
    assert "Protocol:" in block and "report/report.md" in block
    # Without the markers: a clear error naming the file, and the file is left alone.
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# nothing here\n")
    code = main(
        [
            "benchmark",
            str(root / "grid.yaml"),
            "--output",
            str(root / "out"),
            "--report-only",
            "--report-dir",
            str(tmp_path / "report2"),
            "--num-resamples",
            "200",
            "--readme",
            str(plain),
        ]
    )
    assert code == 2 and "PLAIN.md: no results block" in capsys.readouterr().err
    assert plain.read_text() == "# nothing here\n"
