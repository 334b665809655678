"""Transformer encoders (SASRec, BERT4Rec): where positions start counting."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model

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
