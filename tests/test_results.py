"""benchmarks/results.py: RESULTS.md is generated from the committed reports, and reads every one of them."""

from tests.peer_scripts import load_benchmark_script


def _results():
    return load_benchmark_script("results")


def test_results_md_is_current_and_every_report_is_read():
    results = _results()
    assert results.unread_reports() == []
    assert results.main(["--check"]) == 0, "run: python benchmarks/results.py"


def test_every_section_names_its_command_and_protocol():
    text = _results().build()
    for section in _results().SECTIONS:
        part = text.split(f"## {section.title}\n", 1)[1].split("\n## ", 1)[0]
        assert part.startswith("\n**Command**: ") and "**Protocol**: " in part


def test_report_markdown_is_nested_and_its_links_rebased(tmp_path, monkeypatch):
    results = _results()
    folder = tmp_path / "reports" / "grid"
    folder.mkdir(parents=True)
    report = folder / "report.md"
    report.write_text(
        "# Benchmark\n\nintro\n\n## Accuracy\n\n| a |\n|---|\n| 1 |\n\n![plot](accuracy.png)\n\n"
        "## Failure cases\n\nlong\n"
    )
    monkeypatch.setattr(results, "BENCHMARKS", tmp_path)
    assert results.whole_markdown((report,)) == (
        "intro\n\n### Accuracy\n\n| a |\n|---|\n| 1 |\n\n"
        "![plot](reports/grid/accuracy.png)\n\n### Failure cases\n\nlong"
    )
    assert results.markdown_parts("Accuracy")((report,)) == (
        "### Accuracy\n\n| a |\n|---|\n| 1 |\n\n![plot](reports/grid/accuracy.png)"
    )
