"""Cold start with meta-learning through the CLI: a warm model, meta-trained from it with early stopping on
held-out new users, evaluated on the tested new users, fine-tuned at evaluation, and exported with
``adapt_and_recommend``."""

import json

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import FAST_BEAM
from tfseqrec.cli import main
from tfseqrec.export import contract

TINY = ["model_config.embedding_dim=16", "model_config.max_len=10", "model_config.num_blocks=1", "verbose=0"]


def test_warm_model_meta_trained_evaluated_fine_tuned_and_exported(tmp_path, capsys):
    log, data = tmp_path / "log.csv", tmp_path / "data"
    assert main(["generate", "--output", str(log), "--num-users", "300", "--num-items", "100", "--seed", "5"]) == 0
    split = ["--split", "cold_start", "--support-sizes", "1,3", "--cold-user-fraction", "0.3"]
    assert main(["preprocess", "--input", str(log), "--output-dir", str(data), *split,
                 "--cold-valid-fraction", "0.4", *FAST_BEAM]) == 0  # fmt: skip
    warm, meta = tmp_path / "warm", tmp_path / "meta"
    common = ["--data-dir", str(data), "--model", "sasrec", "--epochs", "2"]
    assert main(["train", *common, "--output-dir", str(warm), *TINY]) == 0
    adaptation = ["model_config.adaptation.adapter=query_offset", "model_config.adaptation.algorithm=fomaml"]
    meta_flags = [f"init_from={warm}", "validation_split=[cold_valid_k1, cold_valid_k3]",
                  "model_config.adaptation.inner_steps=2"]  # fmt: skip
    assert main(["train", *common, "--output-dir", str(meta), *TINY, *adaptation, *meta_flags]) == 0
    run = json.loads((meta / "run.json").read_text())
    assert run["status"] == "finished" and run["config"]["validation_split"] == ["cold_valid_k1", "cold_valid_k3"]
    assert run["initialised_from"]["run_dir"] == str(warm)
    capsys.readouterr()
    assert main(["train", *common, "--output-dir", str(tmp_path / "bad"), *TINY, *adaptation, f"init_from={warm}",
                 "validation_split=[cold_valid_k3, cold_valid_k9]"]) != 0  # fmt: skip
    assert "cold_valid_k9" in capsys.readouterr().err
    bar = run["validation_history"][0]
    assert bar["epoch"] == 0  # the warm weights, adapted: the bar

    def evaluate(run_dir, name, *extra, split="cold_k3"):
        target = tmp_path / name
        assert main(["evaluate", str(run_dir), "--split", split, "--output-dir", str(target), *extra]) == 0
        return json.loads((target / "metrics.json").read_text())

    # the two validation splits are pooled: their users, each metric weighted by them
    initial = ("--model-config", "adaptation.adapter=query_offset", "adaptation.algorithm=none",
               "adaptation.inner_steps=2")  # fmt: skip
    parts = [evaluate(warm, f"bar_{s}", *initial, split=s)["summary"] for s in ("cold_valid_k1", "cold_valid_k3")]
    assert bar["num_users"] == sum(part["num_users"] for part in parts)
    pooled = sum(part["NDCG@10"] * part["num_users"] for part in parts) / bar["num_users"]
    np.testing.assert_allclose(bar["NDCG@10"], pooled, rtol=1e-5)

    zero_shot, meta_learned = evaluate(warm, "zero"), evaluate(meta, "meta")
    fine_tuned = evaluate(warm, "tuned", "--model-config", "adaptation.adapter=query_offset",
                          "adaptation.algorithm=none", "adaptation.inner_lr=5.0")  # fmt: skip
    users = zero_shot["summary"]["num_users"]
    assert users > 10 and meta_learned["summary"]["num_users"] == fine_tuned["summary"]["num_users"] == users
    per_user = {name: np.load(tmp_path / name / "per_user.npz")["NDCG@10"] for name in ("zero", "tuned")}
    assert not np.allclose(per_user["zero"], per_user["tuned"])  # the adapter changed the rankings

    base = tmp_path / "exports"
    assert main(["export", str(meta), "--output", str(base), "--name", "cold", "--max-k", "20"]) == 0
    loaded = tf.saved_model.load(str(base / "cold_brute_force" / "1"))
    assert contract.ADAPT_SIGNATURE in loaded.signatures
    vocabulary = (data / "vocab.tsv").read_text().split("\n")
    support = tf.constant([[vocabulary[5].split("\t")[0], vocabulary[9].split("\t")[0], ""]])
    adapted = loaded.signatures[contract.ADAPT_SIGNATURE](support=support, k=tf.constant([5]))
    recommended = loaded.signatures[contract.RECOMMEND_SIGNATURE](
        history=support, k=tf.constant([5]), exclude_seen=tf.constant([True])
    )
    np.testing.assert_array_equal(adapted[contract.ITEM_IDS].numpy(), recommended[contract.ITEM_IDS].numpy())
    assert not set(adapted[contract.ITEM_IDS].numpy()[0]) & set(support.numpy()[0])
    from tfseqrec.training.trainer import load_trained_model

    model, _, _ = load_trained_model(str(meta))
    scores = model.score_all(tf.constant([[5, 9]], tf.int64)).numpy()[0]
    scores[[0, 1, 5, 9]] = -np.inf
    expected = [vocabulary[i].split("\t")[0] for i in np.argsort(-scores)[:5]]
    assert [item.decode() for item in adapted[contract.ITEM_IDS].numpy()[0]] == expected
