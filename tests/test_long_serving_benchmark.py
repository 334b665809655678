"""benchmarks/long_serving.py: exports of a long-history kind and of full attention answer like their in-memory
models, and their latencies are reported side by side."""

import json

from tests.peer_scripts import load_benchmark_script


def test_times_the_exports_of_a_kind_and_of_full_attention(tmp_path, capsys):
    long_serving = load_benchmark_script("long_serving")
    code = long_serving.main(
        ["--length", "16", "--variants", "memory", "--items", "60", "--requests", "2", "--output", str(tmp_path)]
    )
    assert code == 0  # every export's top 10 equals its in-memory model's
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["failures"] == []
    rows = {(r["variant"], r["index"]): r for r in results["rows"]}
    assert set(rows) == {(v, i) for v in ("full", "memory") for i in ("brute_force", "scann")}
    memory = rows[("memory", "scann")]
    assert memory["speedup_vs_full"] == rows[("full", "scann")]["median_ms"] / memory["median_ms"]
    assert memory["p99_ms"] >= memory["median_ms"] > 0
    assert "| memory | scann |" in (tmp_path / "long_serving.md").read_text()
    assert "| memory | scann |" in capsys.readouterr().out
