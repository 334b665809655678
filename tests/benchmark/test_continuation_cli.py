"""`tfseqrec benchmark` end to end with a continuation, published figures and a target: real training processes
on a generated log (one epoch each), so `init_from` goes through `tfseqrec train` and its warm start."""

import json

import pytest

from tfseqrec.cli import main

GRID = """
name: chain
seeds: [3]
ks: [1, 5, 10]
overrides: [epochs=1, batch_size=64, eval_batch_size=512, model_config.embedding_dim=8, model_config.max_len=12,
            model_config.num_blocks=1, model_config.loss.name=full_ce]
datasets:
  - name: synthetic
    synthetic: {num_users: 120, num_items: 60, num_topics: 6, seed: 1}
    preprocess: {max-len: 30}
    beam_args: [--direct_running_mode=in_memory, --direct_num_workers=1]
runs:
  - {name: first, model: sasrec, published: {NDCG@10: 0.5}, target: {NDCG@10: 0.0}}
  - {name: again, model: sasrec, init_from: first, target: {NDCG@10: 1.01}}
pairs: [[again, first]]
"""


@pytest.mark.slow
def test_a_continuation_warm_starts_from_its_parents_cell_and_targets_are_reported(tmp_path):
    (tmp_path / "chain.yaml").write_text(GRID)
    out = tmp_path / "out"
    assert (
        main(
            ["benchmark", str(tmp_path / "chain.yaml"), "--output", str(out), "--no-progress", "--num-resamples", "200"]
        )
        == 0
    )
    first, again = out / "runs" / "synthetic" / "first" / "seed3", out / "runs" / "synthetic" / "again" / "seed3"
    run = json.loads((again / "run.json").read_text())
    assert run["initialised_from"]["run_dir"] == str(first) and run["config"]["init_from"] == str(first)
    assert run["cumulative"]["epochs_run"] == 2  # one epoch in each run of the chain
    cell = json.loads((again / "cell.json").read_text())
    assert cell["status"] == "finished" and cell["initialised_from"]["cell"] == "synthetic/first/seed3"
    report = (out / "report" / "report.md").read_text()
    targets = report.split("## Published figures and targets")[1].split("\n## ")[0]
    assert "| first | 1 |" in targets and "| NDCG@10 0.5 | NDCG@10 ≥ 0 | yes |" in targets
    assert "| NDCG@10 ≥ 1.01 | no: NDCG@10 " in targets
    assert "| synthetic | again | first | 3 | 120 |" in report  # the grid's one pair
    assert "2/2 (from 1)" in report.split("## Efficiency")[1]
