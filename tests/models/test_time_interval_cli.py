"""TiSASRec's time intervals end to end: ``tfseqrec train`` with ``model_config.position_encoding.name=
time_interval`` on a generated log with timestamps (the trainer and its test evaluation feed them), the run
reloaded with its encoding, and ``tfseqrec export``: the signatures take ``timestamps`` next to ``history`` and
serve the in-memory model's top-K computed with them."""

import contextlib
import io

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tests.export.reference import decode
from tests.export.test_input_features import MAX_LEN, dense_rows, model_inputs, reference_top_k, session_histories
from tfseqrec.cli import main
from tfseqrec.data.spec import load_vocabulary
from tfseqrec.export import contract
from tfseqrec.models.positions import PositionEncodingConfig
from tfseqrec.training.trainer import load_trained_model


def test_train_evaluate_and_export_with_time_intervals(tmp_path):
    data = generated_dataset(tmp_path, 150, 100, 4)
    run, base = tmp_path / "run", tmp_path / "saved_models"
    args = ["train", "--data-dir", str(data), "--model", "sasrec", "--output-dir", str(run), "--epochs", "1"]
    overrides = ["steps_per_epoch=6", "batch_size=32", "verbose=0", "model_config.embedding_dim=16"]
    overrides += [f"model_config.max_len={MAX_LEN}", "model_config.position_encoding.name=time_interval"]
    overrides += ["model_config.position_encoding.max_interval=64"]
    assert main(args + overrides) == 0
    model, run_info, spec = load_trained_model(str(run))
    assert model.input_features == ("item_ids", "timestamps")
    assert model.config.position_encoding == PositionEncodingConfig(name="time_interval", max_interval=64)
    assert run_info["status"] == "finished" and 0.0 <= run_info["test_metrics"]["NDCG@10"] <= 1.0
    assert run_info["model_config"]["position_encoding"] == {
        "name": "time_interval",
        "max_interval": 64,
        "absolute_positions": True,
    }

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", str(run), "--output", str(base), "--name", "tisas", "--variants", "brute_force"]) == 0
    module = tf.saved_model.load(str(base / "tisas_brute_force" / "1"))
    signature = module.signatures[contract.SERVING_SIGNATURE]
    assert set(signature.structured_input_signature[1]) == {contract.HISTORY, "timestamps"}

    vocab = load_vocabulary(spec)
    histories, times = session_histories(vocab)
    want_ids, want_scores = reference_top_k(model, vocab, histories, 10, times)
    evenly = [list(range(1, len(h) + 1)) for h in histories]
    assert reference_top_k(model, vocab, histories, 10, evenly)[0] != want_ids  # the times change the ranking
    out = signature(
        **{contract.HISTORY: tf.constant(dense_rows(histories, "")), "timestamps": tf.constant(dense_rows(times, 0))}
    )
    assert decode(out[contract.ITEM_IDS]) == want_ids
    np.testing.assert_allclose(out[contract.SCORES].numpy(), want_scores, rtol=1e-5, atol=1e-6)
    inputs = model_inputs(vocab, histories, times)
    np.testing.assert_allclose(
        model(inputs).numpy(), model.score_all(inputs["item_ids"], timestamps=inputs["timestamps"]).numpy()
    )
