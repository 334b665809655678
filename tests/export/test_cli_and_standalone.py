"""`tfseqrec export --help` and errors; exports load and serve in a fresh process without tfseqrec."""

import json
import os
import subprocess
import sys

import pytest

from tfseqrec.cli import main

STANDALONE = r"""
import json, sys
import tensorflow as tf
brute, scann_dir, item = sys.argv[1:4]
history = tf.constant([[item, ""], ["", ""]])
out = tf.saved_model.load(brute).signatures["serving_default"](history=history)
assert "scann" not in sys.modules and "tfseqrec" not in sys.modules
result = {"brute": [[x.decode() for x in row] for row in out["item_ids"].numpy().tolist()]}
import scann  # noqa: F401  (the ScaNN ops)
out = tf.saved_model.load(scann_dir).signatures["recommend"](
    history=history, k=tf.constant([5, 5]), exclude_seen=tf.constant([True, True]))
result["scann"] = [[x.decode() for x in row] for row in out["item_ids"].numpy().tolist()]
assert "tfseqrec" not in sys.modules
print("RESULT" + json.dumps(result))
"""


def test_export_serves_in_a_fresh_process_without_its_inputs(exported):
    assert not any(p.exists() for p in exported.deleted)  # dataset and run (checkpoints) are gone
    item = exported.vocabulary[5]
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}  # no tf-keras needed either
    proc = subprocess.run(
        [sys.executable, "-c", STANDALONE, str(exported.paths["brute_force"]), str(exported.paths["scann"]), item],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(exported.base),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    popular = exported.vocabulary[2:12]
    assert result["brute"][1] == popular and item not in result["brute"][0] and "" not in result["brute"][0]
    assert result["scann"][1] == popular[:5] and item not in result["scann"][0]


def test_help_and_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "RUN_DIR",
        "--output",
        "--name",
        "--version",
        "--variants",
        "--k",
        "--max-k",
        "--no-exclude-seen",
        "--num-leaves",
        "--leaves-to-search",
        "--reorder",
        "models.brute_force.config",
    ):
        assert flag in text
    assert main(["export", str(tmp_path / "missing"), "--output", str(tmp_path / "out")]) == 2
    assert "run.json not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path), "--k", "0"])
