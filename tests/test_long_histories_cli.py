"""Histories of thousands of events through the whole command chain: preprocess keeps them whole, a memory-
augmented transformer trains on them at ``max_len`` 4,096 with length-bucketed batches, evaluation ranks with them,
and the export answers a request of 3,000 items like the trained model in memory."""

import json

import numpy as np
import pytest

from tests.conftest import FAST_BEAM

USERS, EVENTS, ITEMS, MAX_LEN = 12, 2_600, 150, 4_096


@pytest.mark.slow
def test_thousands_of_events_preprocess_train_evaluate_export_and_serve(tmp_path):
    import tfseqrec  # noqa: F401
    import tensorflow as tf

    from tfseqrec.cli import main
    from tfseqrec.export import contract
    from tfseqrec.data.spec import load_vocabulary
    from tfseqrec.training.trainer import load_trained_model

    rng = np.random.default_rng(0)
    rows = ["user,item,timestamp"]
    for user in range(USERS):
        start = int(rng.integers(ITEMS))
        for t in range(EVENTS):  # a walk through the catalogue: the next item follows the last
            rows.append(f"u{user},i{(start + t) % ITEMS},{1_600_000_000 + 60 * t}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    data, run, exports = tmp_path / "data", tmp_path / "run", tmp_path / "exports"
    assert main(["preprocess", "--input", str(tmp_path / "log.csv"), "--output-dir", str(data), *FAST_BEAM]) == 0
    stats = json.loads((data / "stats.json").read_text())["sequence_length"]
    assert stats["max"] == EVENTS  # nothing cut
    train = ["train", "--data-dir", str(data), "--model", "memory_transformer", "--output-dir", str(run)]
    overrides = [f"model_config.max_len={MAX_LEN}", "model_config.segment_size=256", "model_config.embedding_dim=16"]
    overrides += ["batch_size=4", "bucket_pool_batches=2", "steps_per_epoch=3", "verbose=0", "eval_batch_size=4"]
    assert main(train + ["--epochs", "1"] + overrides) == 0
    result = json.loads((run / "run.json").read_text())
    assert result["test_metrics"]["HR@10"] >= 0.0
    assert main(["export", str(run), "--output", str(exports), "--name", "long", "--no-warmup"]) == 0

    model, _, spec = load_trained_model(str(run))
    vocabulary = load_vocabulary(spec)
    history = [f"i{t % ITEMS}" for t in range(3_000)]
    index = {item: i for i, item in enumerate(vocabulary)}
    scores = model.score_all(tf.constant([[index[item] for item in history[-MAX_LEN:]]])).numpy()[0]
    scores[:2] = -np.inf  # a 3,000-item walk has seen every item: nothing excluded but PAD / OOV
    want = [vocabulary[i] for i in np.argsort(-scores, kind="stable")[:5]]
    for variant in ("brute_force", "scann"):
        versions = sorted((exports / f"long_{variant}").iterdir())
        served = tf.saved_model.load(str(versions[-1])).signatures[contract.RECOMMEND_SIGNATURE](
            history=tf.constant([history]), k=tf.constant([5]), exclude_seen=tf.constant([False])
        )
        got = [x.decode() for x in served[contract.ITEM_IDS].numpy()[0]]
        assert got == want, variant
