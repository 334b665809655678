"""The exported signatures follow contract.py: names, dtypes, shapes; the export's JSON and warmup file."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.export import contract
from tests.export.conftest import MAX_K
from tests.export.reference import decode, dense

HISTORY_SPEC = ((None, None), tf.string)


def _specs(structure):
    return {
        name: (tuple(spec.shape.as_list()) if spec.shape.rank is not None else None, spec.dtype)
        for name, spec in structure.items()
    }


@pytest.mark.parametrize("variant", ["brute_force", "scann"])
def test_signatures_match_the_contract(request, variant):
    loaded = request.getfixturevalue("brute" if variant == "brute_force" else "scann_export")
    sigs = loaded.signatures
    assert set(sigs) == {
        contract.SERVING_SIGNATURE,
        contract.RECOMMEND_SIGNATURE,
        contract.ENCODE_SIGNATURE,
        contract.ITEM_EMBEDDINGS_SIGNATURE,
        contract.STREAM_START_SIGNATURE,  # the tiny SASRec streams with a key-value cache
        contract.STREAM_APPEND_SIGNATURE,
    }
    serving = sigs[contract.SERVING_SIGNATURE]
    assert _specs(serving.structured_input_signature[1]) == {contract.HISTORY: HISTORY_SPEC}
    assert _specs(serving.structured_outputs) == {
        contract.ITEM_IDS: ((None, 10), tf.string),
        contract.SCORES: ((None, 10), tf.float32),
    }
    recommend = sigs[contract.RECOMMEND_SIGNATURE]
    assert _specs(recommend.structured_input_signature[1]) == {
        contract.HISTORY: HISTORY_SPEC,
        contract.K: ((None,), tf.int32),
        contract.EXCLUDE_SEEN: ((None,), tf.bool),
    }
    assert _specs(recommend.structured_outputs) == {
        contract.ITEM_IDS: ((None, None), tf.string),
        contract.SCORES: ((None, None), tf.float32),
    }
    encode = sigs[contract.ENCODE_SIGNATURE]
    assert _specs(encode.structured_input_signature[1]) == {contract.HISTORY: HISTORY_SPEC}
    assert _specs(encode.structured_outputs) == {contract.QUERY: ((None, 16), tf.float32)}
    items = sigs[contract.ITEM_EMBEDDINGS_SIGNATURE]
    assert items.structured_input_signature[1] == {}
    assert {k: v[1] for k, v in _specs(items.structured_outputs).items()} == {
        contract.ITEM_IDS: tf.string,
        contract.EMBEDDINGS: tf.float32,
        contract.BIASES: tf.float32,
    }


def test_encode_query_and_item_embeddings_equal_the_model(exported, brute):
    model, vocab = exported.model, exported.vocabulary
    query = brute.signatures[contract.ENCODE_SIGNATURE](history=dense([[vocab[5], vocab[9]], [vocab[3]]], 1))
    ids = np.zeros((2, model.config.max_len), np.int64)
    ids[0, -2:], ids[1, -1] = [5, 9], 3
    np.testing.assert_allclose(
        query[contract.QUERY].numpy(), model.query(tf.constant(ids)).numpy(), rtol=1e-5, atol=1e-6
    )
    items = brute.signatures[contract.ITEM_EMBEDDINGS_SIGNATURE]()
    assert [x.decode() for x in items[contract.ITEM_IDS].numpy()] == vocab[2:]
    np.testing.assert_array_equal(items[contract.EMBEDDINGS].numpy(), model.item_embeddings().numpy()[2:])
    np.testing.assert_array_equal(items[contract.BIASES].numpy(), np.zeros(len(vocab) - 2, np.float32))


@pytest.mark.parametrize("variant", ["brute_force", "scann"])
def test_export_info_and_warmup_requests(exported, variant):
    from tensorflow_serving.apis import prediction_log_pb2

    path = exported.paths[variant]
    info = json.loads((path / contract.EXPORT_INFO_FILE).read_text())
    assert info["served_name"] == f"tiny_{variant}" and info["variant"] == variant and info["version"] == 1
    assert info["model"] == "sasrec" and info["model_config"]["max_len"] == 10
    assert (info["default_k"], info["max_k"], info["exclude_seen"]) == (10, MAX_K, True)
    assert info["vocabulary_size"] == len(exported.vocabulary) and info["index"]["variant"] == variant
    assert info["source"]["run_dir"] == str(exported.deleted[1])
    assert info["tensorflow_version"] == tf.__version__ and info["created"]
    logs = [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(str(path / "assets.extra" / "tf_serving_warmup_requests"))
    ]
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        contract.SERVING_SIGNATURE,
        contract.RECOMMEND_SIGNATURE,
    ]
    assert all(log.predict_log.request.model_spec.name == f"tiny_{variant}" for log in logs)
    request = logs[1].predict_log.request
    assert set(request.inputs) == {contract.HISTORY, contract.K, contract.EXCLUDE_SEEN}
    history = tf.make_ndarray(request.inputs[contract.HISTORY])
    assert history.shape[0] == 2 and history[0, 0].decode() == exported.vocabulary[2]


def test_warmup_request_runs(exported, brute):
    from tensorflow_serving.apis import prediction_log_pb2

    record = next(
        iter(
            tf.data.TFRecordDataset(str(exported.paths["brute_force"] / "assets.extra" / "tf_serving_warmup_requests"))
        )
    )
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    out = brute.signatures[contract.SERVING_SIGNATURE](
        history=tf.constant(tf.make_ndarray(request.inputs[contract.HISTORY]))
    )
    assert decode(out[contract.ITEM_IDS])[1] == exported.vocabulary[2:12]  # the empty row: most popular
