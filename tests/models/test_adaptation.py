"""Per-user adaptation and its meta-learning (``tfseqrec.models.adaptation``): episodes and one inner step by
hand, adaptation lowering the support loss, first against second order, Reptile's step, the meta loss falling on
a learnable toy, errors, and a save / load round trip."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model
from tfseqrec.models.adaptation import AdaptationConfig, meta_loss
from tfseqrec.models.adaptation.episodes import cut_episodes

NUM_ITEMS = 12


def _model(name="sasrec", **adaptation):
    config = {"embedding_dim": 8, "max_len": 6, "dropout": 0.0, "adaptation": {"adapter": "query_offset", **adaptation}}
    if name == "sasrec":
        config.update(num_blocks=1, num_heads=1)
    model = build_model(name, config, NUM_ITEMS)
    return model.build_for_inputs()


def test_first_episodes_take_each_rows_first_items_left_padded():
    rows = tf.constant([[0, 0, 3, 4, 5, 6], [0, 0, 0, 0, 7, 8], [0, 0, 0, 0, 0, 9]], tf.int64)
    times = rows * 10
    episode, features, valid = cut_episodes(rows, {"timestamps": times}, (2, 2), "first")
    # support of 2 then the query; a row of 2 items gives a support of 1; a row of 1 item no episode
    np.testing.assert_array_equal(episode.numpy(), [[3, 4, 5], [0, 7, 8], [0, 0, 0]])
    np.testing.assert_array_equal(features["timestamps"].numpy()[:2], [[30, 40, 50], [0, 70, 80]])
    np.testing.assert_array_equal(valid.numpy(), [True, True, False])


def test_random_episodes_are_consecutive_windows_of_the_row():
    tf.random.set_seed(0)
    row = tf.constant([[0, 2, 3, 4, 5, 6, 7, 8, 9, 10]], tf.int64)
    starts = set()
    for _ in range(40):
        episode, _, _ = cut_episodes(row, {}, (1, 3), "random")
        items = [int(i) for i in episode.numpy()[0] if i]
        assert 2 <= len(items) <= 4 and items == list(range(items[0], items[0] + len(items)))
        starts.add(items[0])
    assert len(starts) > 3


def test_one_inner_step_by_hand():
    model = _model(inner_steps=1, inner_lr=0.5)
    adaptation = model.adaptation
    states = tf.constant(np.random.default_rng(0).normal(size=(1, 3, 8)), tf.float32)
    ids = tf.constant([[0, 4, 7]], tf.int64)  # one pair: the state at column 1 should rank item 7
    adapted = adaptation.adapt(states, ids, model.scores_for).numpy()
    table = model.item_embeddings().numpy()
    logits = table @ states.numpy()[0, 1]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    p[7] -= 1.0
    np.testing.assert_allclose(adapted[0], -0.5 * table.T @ p, rtol=1e-4, atol=1e-6)


def test_each_row_steps_with_the_step_size_for_its_number_of_pairs():
    model = _model(inner_steps=1, inner_lr=[0.5, 2.0, 3.0], support_window=4)
    adaptation = model.adaptation
    assert adaptation.inner_lr.shape == (3, 8)
    rng = np.random.default_rng(1)
    states = tf.constant(rng.normal(size=(2, 4, 8)), tf.float32)
    ids = tf.constant([[0, 0, 4, 7], [0, 3, 5, 9]], tf.int64)  # one pair, two pairs
    adapted = adaptation.adapt(states, ids, model.scores_for).numpy()
    table = model.item_embeddings().numpy()

    def gradient(row, pairs):  # mean cross-entropy over the row's pairs, by hand
        total = np.zeros(8)
        for column, target in pairs:
            logits = table @ states.numpy()[row, column]
            p = np.exp(logits - logits.max())
            p /= p.sum()
            p[target] -= 1.0
            total += table.T @ p
        return total / len(pairs)

    np.testing.assert_allclose(adapted[0], -0.5 * gradient(0, [(2, 7)]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(adapted[1], -2.0 * gradient(1, [(1, 5), (2, 9)]), rtol=1e-4, atol=1e-6)


def test_adaptation_lowers_each_rows_support_loss_and_leaves_a_single_item_alone():
    model = _model(inner_steps=5, inner_lr=0.5)
    table = model.item_embedding.embeddings
    table.assign(np.random.default_rng(0).normal(size=table.shape).astype("float32"))  # trained-like scale
    ids = tf.constant([[0, 3, 4, 5, 6], [0, 9, 2, 9, 2], [0, 0, 0, 0, 5]], tf.int64)
    states = model.encode(ids)
    adaptation = model.adaptation
    before, pairs = adaptation.pair_losses(adaptation.adapter.initial(3), states, ids, model.scores_for)
    adapted = adaptation.adapt(states, ids, model.scores_for)
    after, _ = adaptation.pair_losses(adapted, states, ids, model.scores_for)
    np.testing.assert_array_equal(pairs.numpy(), [3, 3, 0])
    assert np.all(after.numpy()[:2] < before.numpy()[:2])
    assert after.numpy()[1] < before.numpy()[1] - 1.0  # one offset fits the repeated pairs 9 -> 2, 2 -> 9 well
    np.testing.assert_array_equal(adapted.numpy()[2], 0.0)
    # scoring adapts on the latest support_window items: the query differs from the plain last state
    plain = states[:, -1].numpy()
    query = model.query(ids).numpy()
    assert not np.allclose(query[:2], plain[:2]) and np.allclose(query[2], plain[2], atol=1e-6)


def _gradients(model, rows):
    with tf.GradientTape() as tape:
        loss = meta_loss(model, {"item_ids": rows})
    return tape.gradient(loss, model.trainable_variables)


def test_second_order_gradients_differ_from_first_order_ones():
    rows = tf.constant([[0, 3, 4, 5, 6, 7, 8], [0, 0, 9, 2, 9, 2, 9]], tf.int64)
    second = _model(algorithm="maml", episode_support=[3, 3], inner_lr=2.0)
    first = _model(algorithm="fomaml", episode_support=[3, 3], inner_lr=2.0)
    first.set_weights(second.get_weights())
    names = [v.name for v in first.trainable_variables]
    g2, g1 = _gradients(second, rows), _gradients(first, rows)
    assert len(g1) == len(g2) and all(g is not None for g in g1 + g2)
    table = next(i for i, name in enumerate(names) if "embeddings" in name)
    assert not np.allclose(g1[table].numpy(), g2[table].numpy(), atol=1e-7)
    lr = next(i for i, name in enumerate(names) if "inner_lr" in name)
    assert np.abs(tf.convert_to_tensor(g1[lr]).numpy()).sum() > 0  # the step sizes learn in first order too


def test_reptile_moves_the_initial_value_toward_the_mean_adapted_value():
    model = _model(algorithm="reptile", episode_support=[2, 2], inner_steps=2)
    adaptation = model.adaptation
    adaptation.adapter.initial_value.assign(tf.fill([8], 0.3))
    rows = tf.constant([[0, 0, 0, 3, 4, 5, 6], [0, 0, 0, 0, 9, 2, 9], [0, 0, 0, 0, 0, 0, 5]], tf.int64)
    index = [v is adaptation.adapter.initial_value for v in model.trainable_variables].index(True)
    gradient = _gradients(model, rows)[index].numpy()
    episode, _, valid = cut_episodes(rows, {}, (2, 2), "first")
    adapted = adaptation.adapt(model.encode(episode), episode, model.scores_for).numpy()[valid.numpy()]
    np.testing.assert_allclose(gradient, 0.3 - adapted.mean(axis=0), rtol=1e-4, atol=1e-6)


def test_meta_training_lowers_the_query_loss_on_a_learnable_toy():
    """Two kinds of users walk the items 2..7 in opposite directions; a user's first pair tells the kind."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(64):
        step, start = (1 if rng.random() < 0.5 else -1), int(rng.integers(6))
        rows.append([2 + (start + step * i) % 6 for i in range(7)])
    rows = np.asarray(rows, np.int64)
    data = tf.data.Dataset.from_tensor_slices({"item_ids": rows}).repeat().batch(16)
    tf.keras.utils.set_random_seed(1)
    model = _model(algorithm="maml", episode_support=[3, 3])
    before = float(meta_loss(model, {"item_ids": rows}))
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02))
    model.fit(data, epochs=4, steps_per_epoch=20, verbose=0)
    after = float(meta_loss(model, {"item_ids": rows}))
    assert after < 0.5 * before and after < 0.5


@pytest.mark.parametrize(
    "values, message",
    [
        ({"adapter": "bogus"}, "adaptation.adapter"),
        ({"adapter": "film", "algorithm": "sgd"}, "adaptation.algorithm"),
        ({"adapter": "film", "support_window": 1}, "support_window"),
        ({"adapter": "film", "episode_support": (3, 2)}, "episode_support"),
        ({"adapter": "film", "episodes": "last"}, "adaptation.episodes"),
        ({"adapter": "film", "inner_lr": 0.0}, "step sizes must be numbers > 0"),
        ({"adapter": "film", "inner_lr": (0.5, 1.0)}, "give one step size, or 4"),
    ],
)
def test_bad_settings_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        AdaptationConfig(**values)


def test_models_without_next_item_states_refuse_adaptation():
    with pytest.raises(ValueError, match="does not take model_config.adaptation"):
        build_model("bert4rec", {"embedding_dim": 8, "max_len": 6, "adaptation": {"adapter": "film"}}, NUM_ITEMS)


def test_plain_training_leaves_the_adapter_frozen_and_weights_round_trip(tmp_path):
    model = _model(adapter="film", algorithm="none")
    assert not any("adaptation" in v.name or "initial" in v.name for v in model.trainable_variables)
    model.adaptation.adapter.initial_value.assign(tf.fill([16], 0.1))
    ids = tf.constant([[0, 3, 4, 5, 6, 7]], tf.int64)
    model.save_weights(str(tmp_path / "w"))
    twin = _model(adapter="film", algorithm="none")
    twin.load_weights(str(tmp_path / "w"))
    np.testing.assert_allclose(twin.score_all(ids).numpy(), model.score_all(ids).numpy(), rtol=1e-5)


def test_outer_adapter_meta_trains_the_adapter_alone():
    model = _model(algorithm="fomaml", outer="adapter", episode_support=[2, 3])
    before = [v.numpy().copy() for v in model.trainable_variables]
    rows = np.asarray([[0, 3, 4, 5, 6, 7, 8], [0, 0, 9, 2, 9, 2, 9]], np.int64)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
    model.fit(tf.data.Dataset.from_tensors({"item_ids": rows}).repeat(5), epochs=1, verbose=0)
    changed = {v.name for v, old in zip(model.trainable_variables, before) if not np.allclose(v.numpy(), old)}
    adaptation = {v.name for v in model.adaptation.trainable_variables}
    assert changed == adaptation and len(adaptation) == 2
