"""Transformer encoders (SASRec, BERT4Rec): where positions start counting, and the position encoding as a
typed config (``model_config.position_encoding``): registry, round trips, errors naming the bad key."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model, config_from_dict
from tfseqrec.models.bert4rec import BERT4RecConfig
from tfseqrec.models.positions import PositionEncodingConfig, available_position_encodings, build_position_encoding
from tfseqrec.models.sasrec import SASRecConfig
from tfseqrec.training.config import load_train_config

NUM_ITEMS = 14
SMALL = {"embedding_dim": 16, "max_len": 8, "dropout": 0.0}


def _sasrec(name="sasrec", **overrides):
    tf.keras.utils.set_random_seed(0)
    return build_model(name, {**SMALL, **overrides}, NUM_ITEMS)


@pytest.mark.parametrize("name", ["sasrec", "bert4rec"])
@pytest.mark.parametrize("origin", ["first", "last"])
def test_query_does_not_depend_on_the_padding_width(name, origin):
    model = _sasrec(name, position_origin=origin)
    narrow = tf.constant([[0, 5, 6, 7]], tf.int64)
    wide = tf.constant([[0, 0, 0, 0, 0, 5, 6, 7]], tf.int64)
    np.testing.assert_allclose(model.query(narrow).numpy(), model.query(wide).numpy(), atol=1e-5)


def test_first_origin_numbers_positions_from_the_oldest_item():
    model = _sasrec(position_origin="first")
    table = model.position_embedding  # built on first use
    model.query(tf.constant([[0, 0, 5, 6, 7]], tf.int64))
    # Moving the first position's embedding changes a history's query, the last position's does not
    # (with 3 items and origin "first", positions 0, 1, 2 are used, never max_len - 1).
    before = model.query(tf.constant([[0, 0, 5, 6, 7]], tf.int64)).numpy()
    weights = table.get_weights()[0].copy()
    weights[SMALL["max_len"] - 1] += 1.0
    table.set_weights([weights])
    np.testing.assert_allclose(model.query(tf.constant([[0, 0, 5, 6, 7]], tf.int64)).numpy(), before, atol=1e-6)
    weights[0] += 1.0
    table.set_weights([weights])
    assert not np.allclose(model.query(tf.constant([[0, 0, 5, 6, 7]], tf.int64)).numpy(), before, atol=1e-4)


def test_last_origin_anchors_the_newest_item_at_the_last_position():
    model = _sasrec(position_origin="last")
    model.query(tf.constant([[0, 0, 5, 6, 7]], tf.int64))
    before = model.query(tf.constant([[0, 0, 5, 6, 7]], tf.int64)).numpy()
    weights = model.position_embedding.get_weights()[0].copy()
    weights[0] += 1.0
    model.position_embedding.set_weights([weights])
    np.testing.assert_allclose(model.query(tf.constant([[0, 0, 5, 6, 7]], tf.int64)).numpy(), before, atol=1e-6)


@pytest.mark.parametrize("name", ["sasrec", "bert4rec"])
def test_unknown_position_origin_is_rejected(name):
    with pytest.raises(ValueError, match="position_origin"):
        _sasrec(name, position_origin="middle")


# -- the position encoding as a typed config ---------------------------------------------------------------
KINDS = ("learnable", "sinusoidal", "none", "rotary", "relative", "alibi", "time_interval")


def test_every_kind_is_registered_and_learnable_is_the_default():
    assert set(KINDS) <= set(available_position_encodings())
    assert SASRecConfig().position_encoding == PositionEncodingConfig(name="learnable")
    assert type(BERT4RecConfig().position_encoding) is PositionEncodingConfig


@pytest.mark.parametrize(
    "values",
    [
        {"name": "learnable"},
        {"name": "none"},
        {"name": "alibi"},
        {"name": "sinusoidal", "base": 500.0, "scale": 0.5},
        {"name": "rotary", "base": 100.0},
        {"name": "relative", "num_buckets": 16, "max_distance": 64},
        {"name": "time_interval", "max_interval": 64, "absolute_positions": False},
    ],
)
def test_config_round_trips_through_dicts_and_model_configs(values):
    config = PositionEncodingConfig.from_dict(values)
    assert config.to_dict() == {**type(config)().to_dict(), **values}
    assert PositionEncodingConfig.from_dict(config.to_dict()) == config
    assert PositionEncodingConfig(**values) == config  # the kind's class, built by name
    model_config = config_from_dict(SASRecConfig, {"max_len": 8, "position_encoding": values})
    assert model_config.position_encoding == config
    assert config_from_dict(SASRecConfig, model_config.to_dict()) == model_config  # as run.json stores it


def test_a_bare_name_and_yaml_overrides_select_the_kind(tmp_path):
    assert SASRecConfig(position_encoding="rotary").position_encoding == PositionEncodingConfig(name="rotary")
    path = tmp_path / "train.yaml"
    path.write_text("model: sasrec\nmodel_config:\n  position_encoding: {name: relative, num_buckets: 8}\n")
    cfg = load_train_config(str(path), ["model_config.position_encoding.max_distance=20"], data_dir=str(tmp_path))
    model = build_model(cfg.model, cfg.model_config, NUM_ITEMS)
    assert model.config.position_encoding == PositionEncodingConfig(name="relative", num_buckets=8, max_distance=20)
    assert model.position_embedding.kind == "relative"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"name": "spiral"}, r"position_encoding.name='spiral' is unknown; available: alibi, "),
        ({"name": "rotary", "num_buckets": 8}, r"position_encoding: 'rotary' has no field\(s\) num_buckets"),
        ({"name": "relative", "num_buckets": 2}, r"position_encoding.num_buckets=2 \(relative\) must be an int >= 4"),
        ({"name": "relative", "max_distance": 10}, r"position_encoding.max_distance=10 \(relative\)"),
        ({"name": "sinusoidal", "base": -1}, r"position_encoding.base=-1 \(sinusoidal\) must be a finite number > 0"),
        ({"name": "time_interval", "max_interval": 0}, r"position_encoding.max_interval=0"),
        ({"name": "time_interval", "absolute_positions": "yes"}, r"position_encoding.absolute_positions='yes'"),
    ],
)
def test_bad_configs_name_the_bad_key(values, message):
    with pytest.raises(ValueError, match=message):
        PositionEncodingConfig.from_dict(values)
    with pytest.raises(ValueError, match=message):
        build_model("sasrec", {**SMALL, "position_encoding": values}, NUM_ITEMS)


def test_model_level_errors_name_the_kind():
    with pytest.raises(ValueError, match="per-head size embedding_dim / num_heads = 18 / 2 = 9 must be even"):
        build_model("sasrec", {**SMALL, "embedding_dim": 18, "num_heads": 2, "position_encoding": "rotary"}, NUM_ITEMS)
    with pytest.raises(ValueError, match="'time_interval' reads timestamps, which CL4SRec's augmented views"):
        build_model("cl4srec", {**SMALL, "position_encoding": "time_interval"}, NUM_ITEMS)
    model = build_model("sasrec", {**SMALL, "position_encoding": "time_interval"}, NUM_ITEMS)
    with pytest.raises(ValueError, match="'time_interval' reads the timestamps of the history: pass timestamps"):
        model.score_all(tf.constant([[0, 5, 6, 7]], tf.int64))


@pytest.mark.parametrize("kind", KINDS)
def test_layer_config_round_trip(kind):
    layer = build_position_encoding(kind, 8, 16, 2, origin="last", causal=False, dropout=0.1, name="position_embedding")
    clone = type(layer).from_config(layer.get_config())
    assert (clone.config, clone.max_len, clone.dim, clone.num_heads) == (layer.config, 8, 16, 2)
    assert (clone.origin, clone.causal, clone.dropout_rate, clone.name) == ("last", False, 0.1, "position_embedding")
    assert clone.get_config() == layer.get_config()


def test_learnable_keeps_the_checkpoint_path_of_a_keras_embedding(tmp_path):
    """Checkpoints of earlier runs (a tf.keras.layers.Embedding at model.position_embedding) load unchanged."""
    model = _sasrec()
    model.build_for_inputs()
    assert model.position_embedding.embeddings.name == "position_embedding/embeddings:0"
    model.save_weights(str(tmp_path / "w"))
    names = [name for name, _ in tf.train.list_variables(str(tmp_path / "w"))]
    assert "position_embedding/embeddings/.ATTRIBUTES/VARIABLE_VALUE" in names
    ids = tf.constant([[0, 0, 5, 6, 7]], tf.int64)  # origin "first": positions 0, 0, 0, 1, 2
    table = model.position_embedding.embeddings.numpy()
    x = tf.ones([1, 5, 16])
    padding = tf.not_equal(ids, 0)
    np.testing.assert_array_equal(
        model.position_embedding(x, padding_mask=padding).numpy()[0], 1.0 + table[[0, 0, 0, 1, 2]]
    )
