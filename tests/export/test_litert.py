"""LiteRT exports (``tfseqrec export --litert``): the flatbuffer ranks like the model, int8 is about 4x smaller,
float16 is refused where it breaks the attention mask, and the CLI writes model, vocabulary and check."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tfseqrec.cli import main
from tfseqrec.export.litert import LiteRTRecommender, check_conversion, convert
from tfseqrec.models import build_model

NUM_ITEMS = 600
PROBES = [[5], [7, 9, 11, 13], list(range(2, 40)), [3, 3, 4, 4, 500, 599]]


def _model(name, **overrides):
    tf.keras.utils.set_random_seed(0)
    config = {"embedding_dim": 32, "max_len": 20, "dropout": 0.1, **overrides}
    return build_model(name, config, NUM_ITEMS).build_for_inputs()


def _reference_top_k(model, history, k=10):
    row = np.zeros([1, model.config.max_len], np.int64)
    latest = history[-model.config.max_len :]
    row[0, -len(latest) :] = latest
    scores = model.score_all(tf.constant(row)).numpy()[0]
    scores[:2] = -np.inf
    scores[history] = -np.inf  # the whole history, also items older than max_len
    return np.argsort(-scores, kind="stable")[:k], np.sort(scores)[::-1][:k]


@pytest.fixture(scope="module")
def sasrec():
    return _model("sasrec", num_blocks=2)


def test_float32_flatbuffer_returns_the_models_top_k(sasrec):
    recommender = LiteRTRecommender(convert(sasrec, "float32"))
    for history in PROBES[:3]:  # the fourth repeats items and has ties at the 1e-6 level
        ids, scores = recommender.recommend(history)
        want_ids, want_scores = _reference_top_k(sasrec, history)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)


def test_int8_is_about_four_times_smaller_and_ranks_alike(sasrec):
    full, int8 = convert(sasrec, "float32"), convert(sasrec, "int8")
    assert len(int8) < 0.45 * len(full)  # the graph itself (~35 KB) is not quantised
    check = check_conversion(sasrec, LiteRTRecommender(int8), PROBES)
    assert check.finite and check.overlap >= 0.8 and check.max_score_error < 0.05
    item_table_bytes = NUM_ITEMS * 32
    assert len(int8) < 2 * item_table_bytes + 200_000  # one int8 copy of the tied table, not two float ones


def test_float16_is_refused_for_attention_and_kept_for_a_gru(sasrec):
    with pytest.raises(ValueError, match=r"does not rank like the model: .*finite: False .*use int8 or float32"):
        check_conversion(sasrec, LiteRTRecommender(convert(sasrec, "float16")), PROBES)
    gru = _model("gru4rec")
    check = check_conversion(gru, LiteRTRecommender(convert(gru, "float16")), PROBES)
    assert check.finite and check.overlap == 1.0


def test_bad_arguments_are_refused(sasrec):
    with pytest.raises(ValueError, match=r"precision='int4': use one of float32, int8, float16"):
        convert(sasrec, "int4")
    with pytest.raises(ValueError, match=r"k=0 must be in 1\.\.598"):
        convert(sasrec, "int8", k=0)


def test_cli_writes_model_vocabulary_and_check(tmp_path, capsys):
    data = generated_dataset(tmp_path / "data", 200, 80, 3)
    run = tmp_path / "run"
    overrides = ["model_config.embedding_dim=16", "model_config.max_len=10", "batch_size=64", "verbose=0"]
    assert main(["train", "--data-dir", str(data), "--output-dir", str(run), "--epochs", "1", *overrides]) == 0
    out = tmp_path / "models"
    args = ["export", str(run), "--output", str(out), "--variants", "brute_force", "--litert", "int8", "float32"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "litert int8: " in printed and "overlap with the model" in printed
    for precision in ("int8", "float32"):
        folder = out / f"run_litert_{precision}" / "1"
        record = json.loads((folder / "litert.json").read_text())
        assert record["precision"] == precision and record["size_bytes"] == (folder / "model.tflite").stat().st_size
        vocabulary = (folder / "vocab.txt").read_text().splitlines()
        assert vocabulary[0] == "[PAD]" and len(vocabulary) > 50
    int8 = LiteRTRecommender((out / "run_litert_int8" / "1" / "model.tflite").read_bytes())
    ids, scores = int8.recommend([2, 3, 4])
    assert len(ids) == 10 and np.all(np.isfinite(scores)) and not {0, 1, 2, 3, 4} & set(ids.tolist())
