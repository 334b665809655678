"""benchmarks/cold_start.py on a generated cold-start dataset: zero-shot, fine-tuned, meta-learned and the
baselines per K, compared."""

import json

from tests.peer_scripts import load_benchmark_script
from tests.conftest import FAST_BEAM, REPO
from tfseqrec.cli import main


def test_zero_shot_and_baselines_per_support_size(tmp_path):
    log, data = tmp_path / "log.csv", tmp_path / "data"
    assert main(["generate", "--output", str(log), "--num-users", "300", "--num-items", "100", "--seed", "7"]) == 0
    flags = ["--split", "cold_start", "--support-sizes", "1,3", "--cold-valid-fraction", "0.4", *FAST_BEAM]
    assert main(["preprocess", "--input", str(log), "--output-dir", str(data), *flags]) == 0
    code = load_benchmark_script("cold_start").main(
        ["--data-dir", str(data), "--seeds", "1", "--runs", str(tmp_path / "runs"), "--output", str(tmp_path / "out"),
         "--config", str(REPO / "configs" / "sasrec_ml1m.yaml"), "--meta", "fomaml", "--fine-tune-lrs", "0.5", "2",
         "--meta-overrides", "epochs=2", "--", "time_budget_minutes=null", "epochs=2",
         "model_config.max_len=10", "model_config.embedding_dim=16"]
    )  # fmt: skip
    assert code == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    table = results["table"]
    assert list(table) == ["cold_k1", "cold_k3"]
    chosen = results["selection"]["seed1"]
    lr = chosen["fine_tune_lr_by_k"]["3"]
    assert lr in (0.5, 2.0) and set(chosen["validation_NDCG@10"]["cold_valid_k3"]) == {"0.5", "2.0"}
    assert chosen["step_sizes_by_pairs"] == [lr] * 4  # K = 3 is the only validated K with pairs
    assert chosen["meta_fomaml"]["epochs_run"] >= 1
    meta_run = json.loads((tmp_path / "runs" / "meta_fomaml_seed1" / "run.json").read_text())
    assert meta_run["config"]["validation_split"] == ["cold_valid_k1", "cold_valid_k3"]
    assert meta_run["model_config"]["adaptation"]["inner_lr"] == [lr] * 4
    assert results["adaptation_cost"]["adapted"] > 0 and results["adaptation_cost"]["split"] == "cold_k3"
    for split, methods in table.items():
        assert set(methods) == {"most_popular", "transitions", "zero_shot", "fine_tune", "meta_fomaml"}
        assert -1 <= methods["meta_fomaml"]["vs_fine_tune"]["mean_diff"] <= 1
        assert "vs_zero_shot" in methods["fine_tune"] and "vs_fine_tune" not in methods["fine_tune"]
        assert methods["most_popular"]["vs_most_popular"] is None
        assert methods["zero_shot"]["users"] == methods["most_popular"]["users"] > 0
        assert 0 <= methods["zero_shot"]["NDCG@10"] <= 1
        assert -1 <= methods["transitions"]["vs_most_popular"]["mean_diff"] <= 1
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| cold_k3 | zero_shot |" in text and "| cold_k3 | meta_fomaml | " in text and "ms per user" in text


def test_step_sizes_per_number_of_pairs_come_from_the_nearest_validated_k():
    steps = load_benchmark_script("cold_start").step_sizes_by_pairs
    assert steps({1: 0.3, 3: 0.3, 5: 10.0}, 5) == [0.3, 0.3, 0.3, 10.0]  # 3 pairs: a tie, the fewer pairs win
    assert steps({2: 1.0, 5: 5.0}, 5) == [1.0, 1.0, 5.0, 5.0]
    assert steps({9: 3.0}, 5) == [3.0] * 4  # K - 1 beyond the window counts as the window's pairs
