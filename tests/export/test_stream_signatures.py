"""Exports of streamable models (GRU4Rec's hidden state, SASRec's and HSTU's key-value caches) get ``stream_start`` /
``stream_append``: stepping through a history one event at a time gives the top-K that ``recommend`` computes
from the whole history, in both variants."""

import json
import os

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.export import contract
from tfseqrec.export.exporter import ExportConfig, export_model
from tfseqrec.models import build_model

VOCAB = ["[PAD]", "[OOV]"] + [f"item{i}" for i in range(40)]
COUNTS = [0, 0] + list(range(40, 0, -1))


MODELS = {  # config, (values before the positions, values per cached position)
    "gru4rec": ({"embedding_dim": 8, "max_len": 30, "hidden_units": [6, 10]}, (16, 0)),
    "sasrec": ({"embedding_dim": 8, "max_len": 30, "num_blocks": 2, "num_heads": 2}, (1, 2 * 2 * 8)),
    "hstu": ({"embedding_dim": 8, "max_len": 30, "num_blocks": 1}, (1, 1 * 1 * (8 + 8))),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(tmp_path_factory, request):
    config, (fixed, per_item) = MODELS[request.param]
    model = build_model(request.param, config, len(VOCAB)).build_for_inputs()
    weights = [
        np.random.default_rng(i).normal(0, 0.5, w.shape).astype("float32") for i, w in enumerate(model.get_weights())
    ]
    model.set_weights(weights)
    paths = export_model(model, VOCAB, COUNTS, str(tmp_path_factory.mktemp("exports")), "m", config=ExportConfig())
    with open(os.path.join(paths["brute_force"], contract.EXPORT_INFO_FILE)) as f:
        info = json.load(f)
    assert info["stream_state"] == {"fixed": fixed, "per_item": per_item, "max_items": 30 if per_item else 0}
    loaded = {variant: tf.saved_model.load(path) for variant, path in paths.items()}
    return {"fixed": fixed, "per_item": per_item, **loaded}


@pytest.mark.parametrize("variant", ["brute_force", "scann"])
def test_stepping_event_by_event_matches_recommending_from_the_whole_history(exported, variant):
    loaded = exported[variant]
    start = loaded.signatures[contract.STREAM_START_SIGNATURE]
    append = loaded.signatures[contract.STREAM_APPEND_SIGNATURE]
    recommend = loaded.signatures[contract.RECOMMEND_SIGNATURE]
    rng = np.random.default_rng(3)
    users = [[f"item{i}" for i in rng.choice(40, size=12, replace=False)] for _ in range(4)]
    users[2][5] = "never_seen"  # an unknown item is the OOV id, in both paths
    k = tf.constant([5] * 4)
    out = start(history=tf.constant([[u[0]] for u in users]), k=k)
    state = out[contract.STATE]
    assert state.shape == (4, exported["fixed"] + exported["per_item"])  # a cache holds one position
    for t in range(1, 12):
        seen = tf.constant([u[: t + 1] for u in users])
        out = append(state=state, item=tf.constant([u[t] for u in users]), seen=seen, k=k)
        state = out[contract.STATE]
        assert state.shape[1] == exported["fixed"] + exported["per_item"] * (t + 1)  # a cache grows with the history
        full = recommend(history=seen, k=k, exclude_seen=tf.constant([True] * 4))
        np.testing.assert_array_equal(out[contract.ITEM_IDS].numpy(), full[contract.ITEM_IDS].numpy())
        np.testing.assert_allclose(out[contract.SCORES].numpy(), full[contract.SCORES].numpy(), rtol=1e-4, atol=1e-5)
    # starting from a whole history equals recommending from it
    seeded = start(history=tf.constant(users), k=k)
    full = recommend(history=tf.constant(users), k=k, exclude_seen=tf.constant([True] * 4))
    np.testing.assert_array_equal(seeded[contract.ITEM_IDS].numpy(), full[contract.ITEM_IDS].numpy())
    np.testing.assert_allclose(seeded[contract.STATE].numpy(), state.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("positions", [0.5, 31], ids=["between_positions", "past_max_len"])
def test_a_state_of_the_wrong_width_is_refused(exported, positions):
    append = exported["brute_force"].signatures[contract.STREAM_APPEND_SIGNATURE]
    width = exported["fixed"] + int(max(exported["per_item"], 2) * positions)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be a state stream_start or stream_append returned"):
        append(
            state=tf.zeros([1, width]), item=tf.constant(["item1"]), seen=tf.constant([["item1"]]), k=tf.constant([3])
        )


def test_models_without_a_streaming_form_export_no_stream_signatures(tmp_path):
    config = {"embedding_dim": 8, "max_len": 10, "num_blocks": 1, "position_origin": "last"}
    model = build_model("sasrec", config, len(VOCAB)).build_for_inputs()
    paths = export_model(model, VOCAB, COUNTS, str(tmp_path), "sas", config=ExportConfig(variants=("brute_force",)))
    signatures = tf.saved_model.load(paths["brute_force"]).signatures
    assert contract.STREAM_APPEND_SIGNATURE not in signatures and contract.RECOMMEND_SIGNATURE in signatures
