"""Behaviour-conditioned prediction (``tfseqrec.models.target_behaviour``): the per-behaviour map by hand, an
untrained map that changes nothing, a toy where only the asked behaviour tells the next item, errors, and a
save / load round trip."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model, config_from_dict, get_model_class
from tfseqrec.models.inputs import SideInputs
from tfseqrec.models.target_behaviour import TargetBehaviour, TargetBehaviourConfig

NUM_ITEMS = 12


def _model(name="sasrec", **config):
    model_class, config_class = get_model_class(name)
    values = {"embedding_dim": 16, "max_len": 6, "dropout": 0.0, "target_behaviour": {"enabled": True}, **config}
    if name in ("sasrec", "bert4rec"):
        values.update(num_blocks=1, num_heads=1)
    return model_class(config_from_dict(config_class, values), NUM_ITEMS, side_inputs=SideInputs(num_event_types=2))


def test_the_map_by_hand():
    layer = TargetBehaviour(TargetBehaviourConfig(enabled=True, form="affine"), dim=2, num_event_types=2)
    layer.kernel.assign([np.eye(2), [[0.0, 1.0], [1.0, 0.0]], 2 * np.eye(2)])
    layer.bias.assign([[0.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
    states = tf.constant([[[1.0, 2.0], [3.0, 4.0]]])  # [1, 2, 2]
    got = layer(states, tf.constant([[1, 2]]))
    np.testing.assert_allclose(got.numpy(), [[[2.0 + 1.0, 1.0], [6.0, 8.0 - 1.0]]])
    # 0, absent and out-of-range types ask for any behaviour (row 0)
    np.testing.assert_allclose(layer(states, tf.constant([[0, 7]])).numpy(), states.numpy())
    np.testing.assert_allclose(layer(states, None).numpy(), states.numpy())
    shift = TargetBehaviour(TargetBehaviourConfig(enabled=True, form="shift"), dim=2, num_event_types=2)
    shift.bias.assign([[0.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
    assert shift.kernel is None and len(shift.trainable_weights) == 1
    np.testing.assert_allclose(shift(states, tf.constant([[1, 2]])).numpy(), [[[2.0, 2.0], [3.0, 3.0]]])


def test_training_targets_hide_the_next_behaviour_with_the_dropout_rate():
    layer = TargetBehaviour(TargetBehaviourConfig(enabled=True, dropout=0.25), dim=2, num_event_types=3)
    types = tf.fill([200, 50], tf.constant(3, tf.int64))
    assert layer.training_targets(types, training=False).numpy().min() == 3
    hidden = float(tf.reduce_mean(tf.cast(tf.equal(layer.training_targets(types, training=True), 0), tf.float32)))
    assert 0.22 < hidden < 0.28


@pytest.mark.parametrize("form", ["affine", "shift"])
def test_an_untrained_map_leaves_every_behaviour_with_the_same_query(form):
    model = _model(target_behaviour={"enabled": True, "form": form})
    items = tf.constant([[0, 0, 3, 5, 7, 2]])
    events = tf.constant([[0, 0, 1, 1, 2, 1]])
    queries = [model.query(items, event_types=events, target_event_type=tf.constant([t])) for t in (0, 1, 2)]
    for q in queries[1:]:
        np.testing.assert_allclose(q.numpy(), queries[0].numpy(), atol=1e-6)
    assert model.input_features == ("item_ids", "event_types")


def _batch(step, batch=64):
    """Random histories; the next event is item 2 when its behaviour is 1 and item 3 when it is 2: only the
    behaviour asked tells which."""
    rng = np.random.default_rng(step)
    events = rng.integers(1, 3, (batch, 7))
    items = rng.integers(4, NUM_ITEMS, (batch, 7))
    items[:, 1:] = np.where(events[:, 1:] == 1, 2, 3)
    items[:, 0] = rng.integers(4, NUM_ITEMS, batch)
    return {"item_ids": tf.constant(items), "event_types": tf.constant(events)}


@pytest.mark.parametrize("form", ["affine", "shift"])
def test_the_asked_behaviour_decides_the_next_item_on_a_toy(form):
    tf.keras.utils.set_random_seed(3)
    model = _model(target_behaviour={"enabled": True, "form": form})
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    for step in range(150):
        model.train_step(_batch(step))
    history = _batch(999, batch=16)
    inputs = {"item_ids": history["item_ids"][:, :-1], "event_types": history["event_types"][:, :-1]}
    top = {t: tf.argmax(model({**inputs, "target_event_type": tf.fill([16], t)}), axis=1).numpy() for t in (1, 2)}
    assert (top[1] == 2).all() and (top[2] == 3).all()
    # nothing asked: one of the two, never another item
    assert set(tf.argmax(model(inputs), axis=1).numpy().tolist()) <= {2, 3}


def test_save_and_load_keep_the_maps(tmp_path):
    model = _model()
    model.build_for_inputs()
    model.target_behaviour.bias.assign(tf.random.normal(model.target_behaviour.bias.shape))
    model.save_weights(str(tmp_path / "w"))
    twin = _model().build_for_inputs()
    twin.load_weights(str(tmp_path / "w"))
    inputs = {"item_ids": tf.constant([[0, 3, 4, 5, 6, 7]]), "event_types": tf.constant([[0, 1, 2, 1, 2, 1]])}
    for t in (0, 1, 2):
        asked = {**inputs, "target_event_type": tf.constant([t])}
        np.testing.assert_allclose(twin(asked).numpy(), model(asked).numpy(), atol=1e-6)


def test_errors_name_the_bad_input():
    with pytest.raises(ValueError, match="needs data with event types"):
        build_model("sasrec", {"target_behaviour": {"enabled": True}}, NUM_ITEMS)
    with pytest.raises(ValueError, match="does not take model_config.target_behaviour"):
        _model(name="bert4rec")
    with pytest.raises(ValueError, match="form='scale'"):
        TargetBehaviourConfig(enabled=True, form="scale")
    with pytest.raises(ValueError, match="dropout"):
        TargetBehaviourConfig(enabled=True, dropout=1.0)
