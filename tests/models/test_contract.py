"""The contract every registered architecture keeps: shapes, causality, learning, serialisation.

The registry's models are the built-ins plus a plugin's (``tests/plugins/toy_plugin.py``, imported as a
training config's ``plugins:`` list is), so a model registered from outside ``tfseqrec`` keeps it too.
"""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import available_models, build_model, get_model_class, import_plugins
from tfseqrec.models.base import SequentialRecommender

PLUGIN = "tests.plugins.toy_plugin"
import_plugins([PLUGIN])

NUM_ITEMS = 14  # ids 0 (PAD), 1 (OOV), real items 2..13
SMALL = {"embedding_dim": 16, "max_len": 8, "dropout": 0.0}


def _model(name, **overrides):
    tf.keras.utils.set_random_seed(0)
    return build_model(name, {**SMALL, **overrides}, NUM_ITEMS)


def _cyclic_batch(batch_size=16, length=9):
    """Left-padded rows of the cycle 2 -> 3 -> ... -> 13 -> 2 with random starts and lengths."""
    rng = np.random.default_rng(0)
    rows = np.zeros([batch_size, length], np.int64)
    for r in range(batch_size):
        n = rng.integers(3, length + 1)
        start = rng.integers(0, 12)
        rows[r, length - n :] = [(start + i) % 12 + 2 for i in range(n)]
    return tf.constant(rows)


@pytest.mark.parametrize("name", available_models())
def test_shapes_and_scores(name):
    model = _model(name)
    ids = _cyclic_batch()
    states = model.encode(ids[:, 1:], training=False)
    assert states.shape == (16, 8, 16)
    scores = model.score_all(ids[:, 1:])
    assert scores.shape == (16, NUM_ITEMS)
    assert np.isfinite(model.compute_loss({"item_ids": ids}).numpy())


@pytest.mark.parametrize("name", available_models())
def test_no_position_sees_the_future(name):
    if not get_model_class(name)[0].causal:
        pytest.skip(f"{name} is bidirectional (causal = False): every state sees the whole input")
    model = _model(name)
    ids = _cyclic_batch()[:, 1:].numpy()
    before = model.encode(tf.constant(ids), training=False).numpy()
    changed = ids.copy()
    changed[:, 5:] = np.where(changed[:, 5:] > 0, (changed[:, 5:] + 3) % 12 + 2, 0)
    after = model.encode(tf.constant(changed), training=False).numpy()
    np.testing.assert_allclose(before[:, :5], after[:, :5], atol=1e-5)
    assert not np.allclose(before[:, 5:], after[:, 5:])


@pytest.mark.parametrize("name", available_models())
def test_learns_a_deterministic_sequence_to_hr_at_1(name):
    model = _model(name)
    ids = _cyclic_batch(batch_size=64)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    data = tf.data.Dataset.from_tensors({"item_ids": ids}).repeat(300)
    model.fit(data, epochs=1, verbose=0)
    scores = model.score_all(ids[:, :-1]).numpy()
    scores[:, :2] = -np.inf
    assert (scores.argmax(axis=1) == ids[:, -1].numpy()).mean() == 1.0


@pytest.mark.parametrize("name", available_models())
def test_config_and_weights_round_trip(name, tmp_path):
    model = _model(name)
    ids = _cyclic_batch()
    model.build_for_inputs()
    expected = model.score_all(ids[:, 1:]).numpy()
    model.save_weights(str(tmp_path / "w"))
    clone = SequentialRecommender.from_config(model.get_config())
    assert type(clone) is type(model) and clone.config == model.config
    clone.build_for_inputs()
    clone.load_weights(str(tmp_path / "w"))
    np.testing.assert_array_equal(clone.score_all(ids[:, 1:]).numpy(), expected)


def test_registry_holds_every_builtin_module_and_the_plugin():
    assert {"sasrec", "gru4rec", "bert4rec", "cl4srec", "srgnn", "hrnn", "toy_last_item"} <= set(available_models())
    assert get_model_class("toy_last_item")[0].__module__ == PLUGIN


def test_registry_names_and_unknown_fields():
    with pytest.raises(
        ValueError,
        match=r"unknown model 'nope'; available: .*sasrec.*register\('nope'.*plugins:.*"
        r"'tfseqrec.models'",
    ):
        get_model_class("nope")
    with pytest.raises(ValueError, match="has no field"):
        build_model("sasrec", {"embedding_size": 3}, NUM_ITEMS)


@pytest.mark.parametrize("name", available_models())
def test_padding_width_does_not_change_loss_or_scores(name):
    """Length-bucketed batches pad only to the longest history: extra left padding must change nothing."""
    # CL4SRec's contrastive term draws random augmentations at every call; its next-item part is compared.
    model = _model(name, **({"contrastive_weight": 0.0} if name == "cl4srec" else {}))
    ids = _cyclic_batch(length=9)
    narrow = ids[:, 3:]
    fits = tf.reduce_all(tf.equal(ids[:, :3], 0), axis=1)  # the rows whose real items fit in 6 columns
    ids, narrow = tf.boolean_mask(ids, fits), tf.boolean_mask(narrow, fits)
    assert ids.shape[0] >= 4
    np.testing.assert_allclose(
        model.compute_loss({"item_ids": narrow}).numpy(), model.compute_loss({"item_ids": ids}).numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(model.score_all(narrow).numpy(), model.score_all(ids).numpy(), rtol=1e-4, atol=1e-5)


def test_sasrec_untied_output_embeddings_are_a_separate_trained_table(tmp_path):
    model = _model("sasrec", tie_embeddings=False)
    ids = _cyclic_batch()
    model.build_for_inputs()
    assert model.item_embeddings() is model.output_item_embedding.embeddings
    assert model.item_embeddings().shape == model.item_embedding.embeddings.shape
    with tf.GradientTape() as tape:
        loss = model.compute_loss({"item_ids": ids}, training=True)
    output_table = model.output_item_embedding.embeddings
    assert any(v is output_table for v in model.trainable_variables)
    grad = tape.gradient(loss, output_table)
    assert grad is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(grad)))) > 0
    expected = model.score_all(ids[:, 1:]).numpy()
    model.save_weights(str(tmp_path / "w"))
    clone = SequentialRecommender.from_config(model.get_config())
    clone.build_for_inputs()
    clone.load_weights(str(tmp_path / "w"))
    np.testing.assert_array_equal(clone.score_all(ids[:, 1:]).numpy(), expected)
