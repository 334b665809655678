"""The tables of benchmarks/peers/throughput.py and compare.py: busy-machine flags and other processes' CPU
(no RecBole, no training: the scripts' table builders on fixed rows)."""

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from tests.peer_scripts import load_peer_script

_script = load_peer_script


def test_throughput_table_marks_ratios_taken_on_a_busy_machine():
    throughput = _script("throughput")
    args = type(
        "Args",
        (),
        {
            "ours_data": "data/beauty",
            "max_len": 50,
            "batch_size": 128,
            "recbole_batches": 20,
            "steps": 32,
            "bucket_pool_batches": 0,
        },
    )()

    def row(model, ours_other, recbole_other):
        return {
            "model": model,
            "ours": {
                "targets_per_second": 9000.0,
                "peak_memory_mib": 1000.0,
                "configuration": "x",
                "other_cores": ours_other,
            },
            "recbole": {"targets_per_second": 60.0, "peak_memory_mib": 5000.0, "other_cores": recbole_other},
        }

    lines = throughput.table(
        [row("Idle", 0.02, 0.01), row("Busy", 0.0, 1.7), row("Unknown", None, None)], args
    ).splitlines()
    idle, busy, unknown = (
        next(line for line in lines if line.startswith(f"| {m} ")) for m in ("Idle", "Busy", "Unknown")
    )
    assert "150.0x (met)" in idle and idle.endswith("| 0.02 / 0.01 |")
    assert "150.0x (busy machine: not comparable)" in busy and busy.endswith("| 0.00 / 1.70 |")
    assert "150.0x (met)" in unknown and unknown.endswith("| ? / ? |")
    assert "0.20 (met)" in idle


def test_peer_comparison_prints_the_cpu_other_processes_used_during_our_training():
    compare = _script("compare")
    system = {
        "system": "tfseqrec",
        "model": "sasrec",
        "dir": "d",
        "NDCG@10": 0.1,
        "NDCG@10_ci": None,
        "HR@10": 0.2,
        "HR@10_ci": None,
        "MRR": 0.1,
        "num_users": 10,
        "filter_seen": False,
        "num_items": 5,
    }
    table = {
        "systems": [dict(system, name="idle", costs={"other_cores": 0.04}), dict(system, name="unknown", costs={})],
        "comparisons": [],
        "warnings": [],
        "protocol": "p",
        "num_resamples": 10,
    }
    text = compare.markdown(table)
    assert "CPU used by other processes during our training (cores, `other_cores_during_training`): idle 0.04." in text
    assert "unknown 0" not in text


def _write_json(path: Path, obj) -> Path:
    path.mkdir(parents=True)
    name = "throughput.json" if "rows" in obj else "comparison.json"
    (path / name).write_text(json.dumps(obj))
    return path


def test_readme_peer_results_are_generated_from_the_reports(tmp_path, capsys):
    results = _script("results")
    speed = _write_json(
        tmp_path / "tp",
        {
            "rows": [
                {
                    "model": "SASRec",
                    "ours": {
                        "targets_per_second": 20000.0,
                        "peak_memory_mib": 1500.0,
                        "configuration": "x",
                        "other_cores": 0.02,
                    },
                    "recbole": {"targets_per_second": 400.0, "peak_memory_mib": 12000.0, "other_cores": 0.01},
                }
            ]
        },
    )
    system = {"model": "m", "dir": "d", "MRR": 0.1, "num_users": 3, "filter_seen": False, "num_items": 9}
    accuracy = _write_json(
        tmp_path / "acc",
        {
            "systems": [
                dict(
                    system,
                    name="ours_a",
                    system="tfseqrec",
                    **{"NDCG@10": 0.0561, "NDCG@10_ci": [0.045, 0.068], "HR@10": 0.1082, "HR@10_ci": [0.089, 0.128]},
                    costs={
                        "epochs_run": 142,
                        "best_epoch": 122,
                        "stopped_by": "early_stopping",
                        "train_minutes": 4.04,
                        "targets_per_second": 54410.2,
                        "other_cores": 0.283,
                    },
                ),
                dict(
                    system,
                    name="theirs",
                    system="recbole",
                    **{"NDCG@10": 0.0433, "NDCG@10_ci": None, "HR@10": 0.0986, "HR@10_ci": None},
                    costs={"load_average": [2.04, 1.9, 1.8]},
                ),
                dict(system, name="theirs_tp", system="recbole", **{"NDCG@10": None, "HR@10": None}, costs={}),
            ],
            "comparisons": [
                {
                    "a": "ours_a",
                    "b": "theirs",
                    "metric": "NDCG@10",
                    "diff": 0.0128,
                    "diff_ci": [0.0018, 0.0237],
                    "wilcoxon_p": 0.0059,
                    "holm_p": 0.012,
                },
                {
                    "a": "ours_a",
                    "b": "theirs",
                    "metric": "HR@10",
                    "diff": 0.0095,
                    "diff_ci": [-0.01, 0.03],
                    "wilcoxon_p": 0.37,
                    "holm_p": 0.37,
                },
            ],
            "protocol": "test split, seen items kept",
        },
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n{results.PEERS_START}\nstale figures\n{results.PEERS_END}\nafter\n")
    assert (
        results.main(
            [
                "--throughput",
                f"ML-1M=L200={speed}",
                "--comparison",
                f"Beauty, converged={accuracy}",
                "--readme",
                str(readme),
            ]
        )
        == 0
    )
    text = readme.read_text()
    assert "stale figures" not in text and text.endswith(f"{results.PEERS_END}\nafter\n")
    lines = text.splitlines()
    # TITLE=DIR splits at the last "=", so titles may hold one
    assert (
        "| ML-1M=L200 | SASRec | 20,000 | 400 | 50.0x (NOT met) | 1,500 | 12,000 | 0.12 (met) | 0.02 / 0.01 |  |"
    ) in lines  # no limits.json beside the report: no best-possible ratios
    assert (
        "| ours_a | tfseqrec | 0.0561 [0.0450, 0.0680] | 0.1082 [0.0890, 0.1280] | 142 (122) | early_stopping | "
        "4.0 | 54,410 | others 0.28 cores | vs theirs: +0.0128 [+0.0018, +0.0237], p 0.0059 (Holm 0.012) |"
    ) in lines
    assert "| theirs | recbole | 0.0433 | 0.0986 |  |  |  |  | load 2.0 |  |" in lines
    assert not any(line.startswith("| theirs_tp ") for line in lines)  # throughput-only run: no accuracy row
    assert "Accuracy protocol: test split, seen items kept." in text
    assert f"`python benchmarks/peers/results.py --throughput {shlex.quote(f'ML-1M=L200={speed}')} " in text
    assert "| ML-1M=L200 | SASRec |" in capsys.readouterr().out


def test_peer_results_refuse_a_readme_without_the_block_and_a_missing_report(tmp_path):
    results = _script("results")
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    speed = _write_json(tmp_path / "tp", {"rows": []})
    with pytest.raises(SystemExit, match="tfseqrec-peers-results:start"):
        results.main(["--throughput", f"x={speed}", "--readme", str(readme)])
    assert readme.read_text() == "# no block\n"
    with pytest.raises(SystemExit, match="comparison.json not found"):
        results.main(["--comparison", f"x={tmp_path / 'nowhere'}"])
    with pytest.raises(SystemExit, match="give TITLE=DIR"):
        results.main(["--comparison", str(speed)])


def test_peer_comparison_pairs_runs_of_the_same_architecture_unless_asked(tmp_path):
    compare = _script("compare")
    rng = np.random.default_rng(0)

    def row(name, system, model):
        return {
            "name": name,
            "system": system,
            "model": model,
            "dir": "d",
            "ids": np.arange(20).astype(str),
            "per_user": {"NDCG@10": rng.random(20), "HR@10": rng.integers(0, 2, 20).astype(float)},
            "protocol": {"num_items": 50},
            "summary": {},
            "costs": {},
        }

    rows = [
        row("ours_sasrec", "tfseqrec", "sasrec"),
        row("ours_gru", "tfseqrec", "gru4rec"),
        row("their_sasrec", "recbole", "SASRec"),
        row("their_gru", "recbole", "GRU4Rec"),
    ]
    same = {(c["a"], c["b"]) for c in compare.build(rows, 50)["comparisons"]}
    assert same == {("ours_sasrec", "their_sasrec"), ("ours_gru", "their_gru")}
    every = {(c["a"], c["b"]) for c in compare.build(rows, 50, cross_model=True)["comparisons"]}
    assert len(every) == 4 and same < every
