"""Compressed item tables (``model_config.item_table``): sizes by hand, the whole table equals the rows looked up,
every architecture trains and round-trips with each kind, and bad configs are refused by name."""

import math

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.models.test_contract import _cyclic_batch
from tfseqrec.models import build_model
from tfseqrec.models.base import SequentialRecommender
from tfseqrec.models.item_tables import available_item_tables, build_item_table, item_table_config

NUM_ITEMS = 14
SMALL = {"embedding_dim": 16, "max_len": 8, "dropout": 0.0}
KINDS = [
    {"name": "low_rank", "rank": 4},
    {"name": "quotient_remainder"},
    {"name": "quotient_remainder", "combine": "sum"},
]


def _size(layer) -> int:
    return sum(int(np.prod(w.shape)) for w in layer.weights)


def test_builtin_kinds_are_registered():
    assert {"full", "low_rank", "quotient_remainder"} <= set(available_item_tables())


def test_parameter_counts_by_hand():
    full = build_item_table("full", 1000, 64)
    full.build((None,))
    assert _size(full) == 1000 * 64
    low = build_item_table({"name": "low_rank", "rank": 8}, 1000, 64)
    low.build()
    assert _size(low) == 1000 * 8 + 8 * 64  # 8,512: 7.5x smaller
    qr = build_item_table({"name": "quotient_remainder"}, 1000, 64)
    qr.build()
    assert qr.buckets == 32 and qr.quotients == 32  # ceil(sqrt(1000)) = 32, ceil(1000 / 32) = 32
    assert _size(qr) == (32 + 32) * 64
    qr7 = build_item_table({"name": "quotient_remainder", "buckets": 7}, 1000, 64)
    qr7.build()
    assert _size(qr7) == (math.ceil(1000 / 7) + 7) * 64


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: "-".join(map(str, k.values())))
def test_whole_table_equals_rows_looked_up(kind):
    tf.keras.utils.set_random_seed(0)
    table = build_item_table(kind, 50, 8)
    ids = tf.constant([[0, 1, 7], [49, 13, 7]], tf.int64)
    looked_up = table(ids).numpy()
    whole = tf.convert_to_tensor(table.embeddings).numpy()
    assert whole.shape == (50, 8)
    np.testing.assert_allclose(looked_up, whole[ids.numpy()], rtol=1e-6)


def test_quotient_remainder_gives_every_id_its_own_vector():
    tf.keras.utils.set_random_seed(0)
    table = build_item_table("quotient_remainder", 200, 8)
    whole = tf.convert_to_tensor(table.embeddings).numpy()
    assert len({tuple(np.round(row, 7)) for row in whole}) == 200
    low = build_item_table({"name": "low_rank", "rank": 4}, 200, 8)
    low_whole = tf.convert_to_tensor(low.embeddings).numpy()
    assert np.linalg.matrix_rank(low_whole) == 4


def test_initial_scale_is_near_the_full_tables():
    tf.keras.utils.set_random_seed(0)
    full = build_item_table("full", 4000, 64)
    full.build((None,))
    low = build_item_table({"name": "low_rank", "rank": 16}, 4000, 64)
    reference = np.std(full.embeddings.numpy())
    assert 0.5 < np.std(tf.convert_to_tensor(low.embeddings).numpy()) / reference < 2.0


def test_bad_configs_are_refused_by_name():
    with pytest.raises(ValueError, match=r"item_table.name='nope' is unknown; available: full, low_rank"):
        item_table_config("nope")
    with pytest.raises(ValueError, match=r"item table 'low_rank' has no field\(s\) buckets"):
        item_table_config({"name": "low_rank", "buckets": 3})
    with pytest.raises(ValueError, match=r"item_table.rank=0 \(low_rank\) must be an int >= 1"):
        item_table_config({"name": "low_rank", "rank": 0})
    with pytest.raises(ValueError, match=r"item_table.combine='max'"):
        item_table_config({"name": "quotient_remainder", "combine": "max"})
    with pytest.raises(ValueError, match=r"item_table.rank=16 must be below embedding_dim=16"):
        build_model("sasrec", {**SMALL, "item_table": {"name": "low_rank", "rank": 16}}, NUM_ITEMS)


@pytest.mark.parametrize("model_name", ["sasrec", "gru4rec", "bert4rec", "srgnn"])
@pytest.mark.parametrize("kind", KINDS[:2], ids=lambda k: k["name"])
def test_models_learn_a_cycle_and_round_trip(model_name, kind, tmp_path):
    tf.keras.utils.set_random_seed(0)
    model = build_model(model_name, {**SMALL, "item_table": kind}, NUM_ITEMS)
    ids = _cyclic_batch(batch_size=64)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    before = float(model.compute_loss({"item_ids": ids}))
    model.fit(tf.data.Dataset.from_tensors({"item_ids": ids}).repeat(300), epochs=1, verbose=0)
    assert float(model.compute_loss({"item_ids": ids})) < 0.5 * before
    scores = model.score_all(ids[:, :-1]).numpy()
    scores[:, :2] = -np.inf
    assert (scores.argmax(axis=1) == ids[:, -1].numpy()).mean() >= 0.9
    model.save_weights(str(tmp_path / "w"))
    clone = SequentialRecommender.from_config(model.get_config())
    assert clone.config.item_table == model.config.item_table
    clone.build_for_inputs()
    clone.load_weights(str(tmp_path / "w"))
    np.testing.assert_array_equal(clone.score_all(ids[:, 1:]).numpy(), model.score_all(ids[:, 1:]).numpy())


def test_a_compressed_table_counts_fewer_model_parameters():
    sizes = {}
    for kind in ["full", {"name": "low_rank", "rank": 4}]:
        model = build_model("sasrec", {**SMALL, "item_table": kind}, 1000).build_for_inputs()
        sizes[str(kind)] = _size(model)
    full, low = sizes["full"], sizes[str({"name": "low_rank", "rank": 4})]
    assert full - low == 1000 * 16 - (1000 * 4 + 4 * 16)
