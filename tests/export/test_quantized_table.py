"""Post-training quantisation of the exported item table (``--table-precision``): the rounding by hand, a twin that
ranks with the rounded table, an export that stores it smaller and whose brute-force top-K is the twin's."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.export import contract
from tfseqrec.export.exporter import ExportConfig, export_model
from tfseqrec.export.quantization import quantized_twin
from tfseqrec.models import build_model
from tfseqrec.models.item_tables.quantized import quantize_rows

VOCAB = ["[PAD]", "[OOV]"] + [f"item{i}" for i in range(3000)]
COUNTS = [0, 0] + list(range(3000, 0, -1))


def test_int8_rows_by_hand():
    values, scales = quantize_rows(np.array([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0]]), "int8")
    np.testing.assert_allclose(scales, [1.0 / 127.0, 1.0])
    np.testing.assert_array_equal(values, [[127, -64, 32], [0, 0, 0]])  # -63.5 and 31.75 round to even / nearest
    half, ones = quantize_rows(np.array([[0.1, 3.0]]), "float16")
    assert half.dtype == np.float16 and ones.tolist() == [1.0]
    with pytest.raises(ValueError, match="precision='int4'"):
        quantize_rows(np.zeros([1, 2]), "int4")


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    model = build_model("sasrec", {"embedding_dim": 32, "max_len": 10}, len(VOCAB)).build_for_inputs()
    table = model.item_embedding.embeddings
    table.assign(tf.random.normal(table.shape, stddev=0.5, seed=1))  # trained-looking spread of scores
    return model


@pytest.mark.parametrize("precision", ["int8", "float16"])
def test_the_twin_scores_with_the_rounded_table(model, precision):
    twin = quantized_twin(model, precision)
    assert twin.config.item_table.name == "quantized" and model.config.item_table.name == "full"
    values, scales = quantize_rows(model.item_embedding.embeddings.numpy(), precision)
    np.testing.assert_allclose(twin.item_embeddings().numpy(), values.astype(np.float32) * scales[:, None], rtol=1e-6)
    histories = tf.constant(np.random.default_rng(0).integers(2, len(VOCAB), size=(16, 10)))
    exact, rounded = model.score_all(histories).numpy(), twin.score_all(histories).numpy()
    overlap = np.mean([len(set(np.argsort(-a)[:10]) & set(np.argsort(-b)[:10])) / 10 for a, b in zip(exact, rounded)])
    assert overlap >= (0.9 if precision == "int8" else 0.99)
    assert not any(w.trainable for w in twin.item_embedding.weights)


def test_an_int8_export_is_smaller_and_ranks_like_the_twin(model, tmp_path):
    sizes, loaded = {}, {}
    for precision in ("float32", "int8"):
        config = ExportConfig(variants=("brute_force",), table_precision=precision, warmup_requests=False)
        path = export_model(model, VOCAB, COUNTS, str(tmp_path / precision), "m", config=config)["brute_force"]
        sizes[precision] = sum(f.stat().st_size for f in (tmp_path / precision).rglob("variables/*"))
        loaded[precision] = tf.saved_model.load(path)
    table_bytes = len(VOCAB) * 32 * 4
    assert sizes["float32"] - sizes["int8"] > 1.4 * table_bytes  # two float32 copies became two int8 ones
    twin = quantized_twin(model, "int8")
    history = [[f"item{i}" for i in (5, 17, 99, 2000)]]
    out = loaded["int8"].signatures[contract.RECOMMEND_SIGNATURE](
        history=tf.constant(history), k=tf.constant([10]), exclude_seen=tf.constant([True])
    )
    scores = twin.score_all(tf.constant([[7, 19, 101, 2002]])).numpy()[0]  # ids = item index + 2
    scores[[0, 1, 7, 19, 101, 2002]] = -np.inf
    want = [VOCAB[i] for i in np.argsort(-scores, kind="stable")[:10]]
    assert [v.decode() for v in out[contract.ITEM_IDS].numpy()[0]] == want


def test_a_bad_precision_is_refused():
    with pytest.raises(ValueError, match=r"table_precision='int4': use one of float32, float16, int8"):
        ExportConfig(table_precision="int4")
