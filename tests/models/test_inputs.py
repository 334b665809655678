"""The shared input layer (``tfseqrec.models.inputs``): id-only by default, attributes mean-pooled, time gaps
bucketed, every fusion trains, the output side scores never-seen items through their attributes, and a config
naming what the model was not given fails with a message that says what to do."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model, config_from_dict, get_model_class
from tfseqrec.models.inputs import InputConfig, ItemInputs, SideInputs, time_gap_buckets

# items 2..21: 2..11 of category "a" (value id 2), 12..21 of category "b" (value id 3); item 5 also "c" (4)
NUM_ITEMS = 22
CATEGORY = np.zeros((NUM_ITEMS, 2), np.int64)
CATEGORY[1] = [1, 0]  # OOV row
CATEGORY[2:12, 0] = 2
CATEGORY[12:22, 0] = 3
CATEGORY[5] = [2, 4]


def _side(num_event_types=3):
    return SideInputs(tables={"category": CATEGORY}, vocabulary_sizes={"category": 5}, num_event_types=num_event_types)


def _model(name: str, inputs: dict, side=None, **config):
    """A small ``name`` model with ``inputs`` and the category table (``side``: other side inputs)."""
    model_class, config_class = get_model_class(name)
    config = {"embedding_dim": 8, "max_len": 6, "dropout": 0.0, "inputs": inputs, **config}
    if name in ("sasrec", "bert4rec", "cl4srec"):
        config.update(num_blocks=1, num_heads=1)
    side = side if side is not None else _side()
    return model_class(config_from_dict(config_class, config), NUM_ITEMS, side_inputs=side)


def _sasrec(inputs: dict, side=None, **config):
    return _model("sasrec", inputs, side, **config)


def test_id_only_inputs_are_the_id_embeddings_and_add_no_weights():
    model = build_model("sasrec", {"embedding_dim": 8, "max_len": 6}, NUM_ITEMS)
    ids = tf.constant([[0, 0, 3, 4, 5, 6]], tf.int64)
    np.testing.assert_array_equal(model.embed_items(ids).numpy(), model.item_embedding(ids).numpy())
    model.build_for_inputs()
    assert model.item_inputs.weights == []
    assert model.input_features == ("item_ids",)


def test_attributes_are_mean_pooled_over_an_items_values():
    layer = ItemInputs(InputConfig(item_features=("category",)), 2, NUM_ITEMS, _side())
    ids = tf.constant([[0, 3, 5, 12]], tf.int64)
    ids_embedded = tf.zeros([1, 4, 2])
    out = layer(ids_embedded, ids).numpy()
    table = layer.attribute_embeddings["category"].embeddings.numpy()  # [5, 2]
    np.testing.assert_allclose(out[0, 0], 0.0)  # padding: no values
    np.testing.assert_allclose(out[0, 1], table[2], rtol=1e-6)
    np.testing.assert_allclose(out[0, 2], (table[2] + table[4]) / 2, rtol=1e-6)  # two values: their mean
    np.testing.assert_allclose(out[0, 3], table[3], rtol=1e-6)


def test_time_gaps_fall_in_log2_buckets():
    ms = tf.constant([[0, 0, 1_000, 4_000], [5_000, 5_000, 65_000, 65_000 + 10**9]], tf.int64)
    # row 0: padding, padding, first event, gap 3 s -> floor(log2 4) + 1 = 3
    # row 1: first, gap 0 -> 1, gap 60 s -> floor(log2 61) + 1 = 6, gap 1e6 s -> floor(log2(1e6 + 1)) + 1 = 20
    assert time_gap_buckets(ms, 32).numpy().tolist() == [[0, 0, 0, 3], [0, 1, 6, 20]]
    assert time_gap_buckets(ms, 8).numpy().tolist()[1] == [0, 1, 6, 7]  # the last bucket takes longer gaps


def test_every_fusion_reads_each_part_and_absent_record_features_default():
    ids = tf.constant([[0, 2, 5, 13]], tf.int64)
    events = tf.constant([[0, 1, 3, 2]], tf.int64)
    times = tf.constant([[0, 1_000, 9_000, 90_000]], tf.int64)
    for fusion in ("sum", "concat", "gating"):
        config = InputConfig(item_features=("category",), event_types=True, time_gaps=True, fusion=fusion)
        layer = ItemInputs(config, 4, NUM_ITEMS, _side())
        base = tf.random.normal([1, 4, 4], seed=1)
        full = layer(base, ids, {"event_types": events, "timestamps": times}).numpy()
        other_events = layer(base, ids, {"event_types": tf.ones_like(events), "timestamps": times}).numpy()
        defaults = layer(base, ids, {}).numpy()
        assert full.shape == (1, 4, 4)
        assert not np.allclose(full[0, 2], other_events[0, 2]), fusion  # event type 3 vs 1
        np.testing.assert_allclose(full[0, 1], other_events[0, 1], rtol=1e-6)  # already event type 1
        assert np.isfinite(defaults).all()
        unknown = layer(base, ids, {"event_types": tf.zeros_like(events), "timestamps": times}).numpy()
        absent = layer(base, ids, {"timestamps": times}).numpy()
        np.testing.assert_allclose(unknown, absent, rtol=1e-6)  # event type 0 reads as the default


def test_output_features_add_each_items_pooled_attributes():
    model = _sasrec({"item_features": ("category",), "output_features": True})
    model.build_for_inputs()
    ids = model.item_embedding.embeddings.numpy()
    attributes = model.item_inputs.attribute_embeddings["category"].embeddings.numpy()
    table = model.item_embeddings().numpy()
    np.testing.assert_allclose(table[3], ids[3] + attributes[2], rtol=1e-5)
    np.testing.assert_allclose(table[5], ids[5] + (attributes[2] + attributes[4]) / 2, rtol=1e-5)


def _category_batches(seed=0, batch=32):
    """Histories of one category each, over the items 2..9 and 12..19 only (10, 11, 20, 21 never appear)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(batch):
        pool = np.arange(2, 10) if rng.random() < 0.5 else np.arange(12, 20)
        rows.append(rng.choice(pool, 7))
    return {"item_ids": tf.constant(np.array(rows), tf.int64)}


def _fit(model, steps=150):
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    losses = []
    for step in range(steps):
        losses.append(float(model.train_step(_category_batches(step))["loss"]))
    return losses


def test_output_attributes_rank_never_seen_items_of_the_historys_category_first():
    tf.keras.utils.set_random_seed(0)
    model = _sasrec({"item_features": ("category",), "output_features": True})
    losses = _fit(model)
    assert losses[0] > np.log(16) and np.mean(losses[-10:]) < np.log(8) + 0.1  # down to a uniform pick of 8
    history = tf.constant([[2, 3, 4, 6, 7, 8]], tf.int64)  # category a
    scores = model.score_all(history).numpy()[0]
    assert min(scores[10], scores[11]) > max(scores[20], scores[21])  # unseen a items above unseen b items
    history_b = tf.constant([[12, 13, 14, 16, 17, 18]], tf.int64)
    scores_b = model.score_all(history_b).numpy()[0]
    assert min(scores_b[20], scores_b[21]) > max(scores_b[10], scores_b[11])


@pytest.mark.parametrize("fusion", ["sum", "concat", "gating"])
def test_loss_falls_with_every_side_input_on(fusion):
    tf.keras.utils.set_random_seed(1)
    inputs = {"item_features": ("category",), "event_types": True, "time_gaps": True, "fusion": fusion}
    model = _sasrec(inputs)
    assert model.input_features == ("item_ids", "event_types", "timestamps")
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    losses = []
    for step in range(60):
        batch = _category_batches(step)
        shape = batch["item_ids"].shape
        batch["event_types"] = tf.constant(np.random.default_rng(step).integers(1, 4, shape), tf.int64)
        batch["timestamps"] = tf.constant(np.cumsum(np.full(shape, 60_000), axis=1), tf.int64)
        losses.append(float(model.train_step(batch)["loss"]))
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3


def test_weights_round_trip_into_a_model_built_with_the_same_tables(tmp_path):
    inputs = {"item_features": ("category",), "event_types": True, "output_features": True, "fusion": "gating"}
    model = _sasrec(inputs).build_for_inputs()
    model.save_weights(str(tmp_path / "w"))
    again = _sasrec(inputs).build_for_inputs()
    again.load_weights(str(tmp_path / "w")).expect_partial()
    ids = tf.constant([[0, 2, 5, 13, 4, 3]], tf.int64)
    events = tf.constant([[0, 1, 3, 2, 2, 1]], tf.int64)
    np.testing.assert_allclose(
        again.score_all(ids, event_types=events).numpy(), model.score_all(ids, event_types=events).numpy(), rtol=1e-5
    )


@pytest.mark.parametrize("name", ["gru4rec", "bert4rec", "cl4srec", "srgnn", "hrnn"])
def test_every_architecture_reads_the_item_attributes(name):
    model = _model(name, {"item_features": ["category"], "output_features": True}).build_for_inputs()
    history = tf.constant([[0, 2, 5, 13, 4, 3]], tf.int64)
    before = model.score_all(history).numpy()
    table = model.item_inputs.attribute_embeddings["category"]
    table.embeddings.assign(table.embeddings + tf.random.normal(table.embeddings.shape, seed=3))
    assert not np.allclose(model.score_all(history).numpy(), before)


def test_a_config_naming_features_without_their_tables_says_how_to_build_it():
    with pytest.raises(ValueError, match=r"build it with the dataset's spec"):
        build_model("sasrec", {"inputs": {"item_features": ["category"]}}, NUM_ITEMS)
    with pytest.raises(ValueError, match="the data have no event types"):
        _sasrec({"event_types": True}, side=SideInputs())
    with pytest.raises(ValueError, match="output_features needs"):
        InputConfig(output_features=True)
    with pytest.raises(ValueError, match="fusion"):
        InputConfig(fusion="product")
    with pytest.raises(ValueError, match="item-level side inputs only"):
        build_model("srgnn", {"inputs": {"time_gaps": True}}, NUM_ITEMS)


def test_feature_names_that_are_not_scope_names_still_build_train_and_round_trip(tmp_path):
    """RecBole's atomic files name fields ``class:token_seq``: the layer takes a valid scope name, the config and
    the tables keep the feature's own."""
    side = SideInputs(tables={"class:token_seq": CATEGORY}, vocabulary_sizes={"class:token_seq": 5})
    inputs = {"item_features": ["class:token_seq"], "output_features": True}
    model = _sasrec(inputs, side=side)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    model.train_step({"item_ids": tf.constant([[0, 2, 5, 13, 4, 3, 7]], tf.int64)})
    assert model.item_inputs.attribute_embeddings["class:token_seq"].name == "class_token_seq_embedding"
    model.save_weights(str(tmp_path / "w"))
    again = _sasrec(inputs, side=side).build_for_inputs()
    again.load_weights(str(tmp_path / "w"))
    ids = tf.constant([[0, 2, 5, 13, 4, 3]], tf.int64)
    np.testing.assert_allclose(again.score_all(ids).numpy(), model.score_all(ids).numpy(), rtol=1e-5)
