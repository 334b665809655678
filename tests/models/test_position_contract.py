"""Every position encoding keeps the model contract (``tests/models/test_contract.py``) in every transformer:
scores independent of the padding width, causal states blind to later items (and their timestamps), learning
on a toy sequence, save / load round trips, and mixed precision. ``time_interval`` reads timestamps, passed
as the trainer, the evaluator and exports pass them (``input_features``)."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.models.test_contract import NUM_ITEMS, SMALL, _cyclic_batch
from tfseqrec.models import build_model
from tfseqrec.models.base import SequentialRecommender
from tfseqrec.training.precision import float32_twin, keras_policy
from tfseqrec.training.trainer import model_score_fn

KINDS = ("learnable", "sinusoidal", "none", "rotary", "relative", "alibi", "time_interval")
MODELS = ("sasrec", "bert4rec", "cl4srec")
CASES = [(m, k) for m in MODELS for k in KINDS if not (m == "cl4srec" and k == "time_interval")]


def _model(name, kind, **overrides):
    tf.keras.utils.set_random_seed(0)
    extra = {"contrastive_weight": 0.0} if name == "cl4srec" else {}
    config = {**SMALL, "num_heads": 2, "position_encoding": {"name": kind}, **extra, **overrides}
    return build_model(name, config, NUM_ITEMS)


def _timestamps(ids):
    """ms timestamps ``[B, L]``: increasing per row with gaps of 1 s to 3 h (some repeated), 0 at padding."""
    rng = np.random.default_rng(1)
    gaps = rng.choice([0, 1_000, 60_000, 3_600_000, 10_800_000], size=ids.shape)
    times = 1_700_000_000_000 + np.cumsum(gaps, axis=1)
    return tf.constant(np.where(ids.numpy() > 0, times, 0), tf.int64)


def _inputs(ids):
    return {"item_ids": ids, "timestamps": _timestamps(ids)}


def _scores(model, inputs):
    return model.score_all(inputs["item_ids"], timestamps=inputs["timestamps"])


@pytest.mark.parametrize("name, kind", CASES)
def test_padding_width_changes_nothing(name, kind):
    model = _model(name, kind)
    inputs = _inputs(_cyclic_batch(length=9))
    narrow = {key: value[:, 3:] for key, value in inputs.items()}
    fits = tf.reduce_all(tf.equal(inputs["item_ids"][:, :3], 0), axis=1)
    inputs = {key: tf.boolean_mask(value, fits) for key, value in inputs.items()}
    narrow = {key: tf.boolean_mask(value, fits) for key, value in narrow.items()}
    assert inputs["item_ids"].shape[0] >= 4
    np.testing.assert_allclose(model.compute_loss(narrow).numpy(), model.compute_loss(inputs).numpy(), rtol=1e-5)
    np.testing.assert_allclose(_scores(model, narrow).numpy(), _scores(model, inputs).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_no_position_sees_later_items_or_times(kind):
    model = _model("sasrec", kind)
    ids = _cyclic_batch()[:, 1:]
    times = _timestamps(ids).numpy()
    before = model.encode(ids, features={"timestamps": times}).numpy()
    changed, later = ids.numpy().copy(), times.copy()
    changed[:, 5:] = np.where(changed[:, 5:] > 0, (changed[:, 5:] + 3) % 12 + 2, 0)
    later[:, 5:] = np.where(later[:, 5:] > 0, later[:, 5:] + 12_345_678, 0)  # also changes the minimal gap
    after = model.encode(tf.constant(changed), features={"timestamps": later}).numpy()
    np.testing.assert_allclose(before[:, :5], after[:, :5], atol=1e-5)
    assert not np.allclose(before[:, 5:], after[:, 5:])


def test_time_interval_scores_depend_on_the_times_and_reach_the_evaluator():
    model = _model("sasrec", "time_interval")
    assert model.input_features == ("item_ids", "timestamps")
    assert _model("sasrec", "rotary").input_features == ("item_ids",)
    inputs = _inputs(_cyclic_batch())
    history = {key: value[:, 1:] for key, value in inputs.items()}
    scores = _scores(model, history).numpy()
    evenly = {**history, "timestamps": tf.cumsum(tf.ones_like(history["item_ids"]), axis=1)}
    assert not np.allclose(_scores(model, evenly).numpy(), scores, atol=1e-4)
    np.testing.assert_allclose(model(history).numpy(), scores, atol=1e-6)  # call() reads the dict's timestamps
    np.testing.assert_allclose(model_score_fn(model)(history).numpy(), scores, atol=1e-5)


# BERT4Rec's cloze training sees fewer targets per step: more steps, a smaller required fall
LEARNING = {"sasrec": (40, 0.75), "bert4rec": (80, 0.95)}


@pytest.mark.parametrize("name, kind", [(m, k) for m, k in CASES if m != "cl4srec"])
def test_learns_a_toy_sequence(name, kind):
    steps, fall = LEARNING[name]
    model = _model(name, kind)
    inputs = _inputs(_cyclic_batch(batch_size=64))
    first = float(model.compute_loss(inputs))  # deterministic (BERT4Rec: the last item masked)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    model.fit(tf.data.Dataset.from_tensors(inputs).repeat(steps), epochs=1, verbose=0)
    assert float(model.compute_loss(inputs)) < fall * first


@pytest.mark.parametrize("name, kind", CASES)
def test_config_and_weights_round_trip(name, kind, tmp_path):
    model = _model(name, kind).build_for_inputs()
    history = {key: value[:, 1:] for key, value in _inputs(_cyclic_batch()).items()}
    for w in model.position_embedding.weights:  # away from the initial values, so loading must restore them
        w.assign(w + 0.5)
    expected = _scores(model, history).numpy()
    model.save_weights(str(tmp_path / "w"))
    clone = SequentialRecommender.from_config(model.get_config())
    assert clone.config == model.config and clone.position_embedding.kind == kind
    clone.build_for_inputs()
    clone.load_weights(str(tmp_path / "w")).assert_existing_objects_matched()
    np.testing.assert_array_equal(_scores(clone, history).numpy(), expected)


@pytest.mark.parametrize("name, kind", [("sasrec", k) for k in KINDS] + [("bert4rec", "time_interval")])
def test_trains_in_bfloat16_and_scores_in_float32(name, kind):
    inputs = _inputs(_cyclic_batch(batch_size=32))
    history = {key: value[:, 1:] for key, value in inputs.items()}
    with keras_policy("mixed_bfloat16"):
        model = _model(name, kind)
        assert model.encode(history["item_ids"], features={"timestamps": history["timestamps"]}).dtype == tf.bfloat16
        first = float(model.compute_loss(inputs))
        model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
        model.fit(tf.data.Dataset.from_tensors(inputs).repeat(30), epochs=1, verbose=0)
    assert float(model.compute_loss(inputs)) < first
    assert all(w.dtype == tf.float32 for w in model.position_embedding.weights)
    mixed = _scores(model, history)
    assert mixed.dtype == tf.float32
    twin = _scores(float32_twin(model), history).numpy()
    np.testing.assert_allclose(mixed.numpy(), twin, rtol=0.05, atol=0.05 * np.abs(twin).max())
