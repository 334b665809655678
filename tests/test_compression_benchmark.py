"""benchmarks/compression.py on a tiny dataset: every variant is trained and measured, the distilled student has
the student's size, the compressed and pruned tables are smaller, int8 LiteRT is smaller than float32, and the
report states each goal."""

import argparse
import json

import pytest

from tests.conftest import generated_dataset
from tests.peer_scripts import load_benchmark_script


def test_every_variant_is_trained_measured_and_reported(tmp_path):
    data = generated_dataset(tmp_path, 200, 80, 3)
    out, runs = tmp_path / "report", tmp_path / "runs"
    bench = load_benchmark_script("compression")
    code = bench.main(["--data-dir", str(data), "--runs", str(runs), "--output", str(out),
                       "--overrides", "epochs=1", "validate_every=1", "batch_size=64", "model_config.max_len=20",
                       "--teacher", "model_config.embedding_dim=32", "model_config.num_blocks=2",
                       "--student", "model_config.embedding_dim=8", "model_config.num_blocks=1",
                       "--pruning-sparsity", "0.8", "--pruning-end-epoch", "1", "--requests", "5"])  # fmt: skip
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert code == 0
    assert set(rows) == {
        "teacher", "student", "student_distilled", "low_rank", "quotient_remainder", "pruned",
        "teacher_table_int8", "teacher_litert_float32", "teacher_litert_int8", "student_distilled_litert_int8",
    }  # fmt: skip
    assert rows["student_distilled"]["parameters"] == rows["student"]["parameters"] < rows["teacher"]["parameters"]
    table = rows["teacher"]["item_table_parameters"]
    assert rows["low_rank"]["item_table_parameters"] < table / 2  # [V, 8] + [8, 32] for 82 ids
    assert rows["quotient_remainder"]["item_table_parameters"] < table / 3
    pruned = rows["pruned"]
    assert pruned["item_table_parameters"] == table and abs(pruned["item_table_nonzero"] - 0.2 * table) <= 1
    assert rows["teacher"]["item_table_nonzero"] == table
    assert pruned["item_table_gzip_bytes"] < rows["teacher"]["item_table_gzip_bytes"] / 2
    assert rows["teacher_litert_int8"]["litert_bytes"] < rows["teacher_litert_float32"]["litert_bytes"]
    assert rows["teacher_table_int8"]["kind"] == "SavedModel, int8 table"  # smaller at scale: test_quantized_table
    for row in rows.values():
        assert 0.0 <= row["NDCG@10"] <= row["HR@10"] <= 1.0 and 0 < row["p50_ms"] <= row["p99_ms"]
    distilled = json.loads((runs / "student_distilled" / "run.json").read_text())
    assert distilled["config"]["distillation"]["teacher"] == str(runs / "teacher")
    text = (out / "report.md").read_text()
    assert "| teacher | SavedModel |" in text and "Goal >= 95% with >= 4x fewer" in text
    assert "Goal <= 1% loss" in text and "- pruned: 80.0% of the item table is zero" in text

    # a finished run is reused only for the config it was trained with
    with pytest.raises(SystemExit, match=r"pruned was trained with other values of pruning.sparsity than"):
        bench.main(["--data-dir", str(data), "--runs", str(runs),
                    "--overrides", "epochs=1", "validate_every=1", "batch_size=64", "model_config.max_len=20",
                    "--teacher", "model_config.embedding_dim=32", "model_config.num_blocks=2",
                    "--student", "model_config.embedding_dim=8", "model_config.num_blocks=1",
                    "--pruning-sparsity", "0.5", "--pruning-end-epoch", "1"])  # fmt: skip
    teacher = json.loads((runs / "teacher" / "run.json").read_text())
    overrides = ["epochs=1", "validate_every=1", "batch_size=64", "model_config.max_len=20", "time_budget_minutes=60"]
    config = str(bench.REPO / "configs" / "sasrec_ml1m.yaml")
    args = argparse.Namespace(config=config, data_dir=str(data), overrides=overrides)
    same = ["model_config.embedding_dim=32", "model_config.num_blocks=2"]
    assert bench.stale_keys(teacher, args, same) == []  # a budget it never reached
    assert bench.stale_keys({**teacher, "stopped_by": "time_budget"}, args, same) == ["time_budget_minutes"]
    assert bench.stale_keys(teacher, args, ["model_config.embedding_dim=16"]) == ["model_config.embedding_dim"]
