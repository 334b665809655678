"""Auxiliary heads (``tfseqrec.models.heads``): registry and config errors, labels by hand, a head that learns
what the next event will be (well above the best constant), and the trainer scoring heads on the test split."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tfseqrec.models import build_model, config_from_dict, get_model_class
from tfseqrec.models.heads import available_heads, head_config
from tfseqrec.models.inputs import SideInputs

NUM_ITEMS = 12
CATEGORY = np.zeros((NUM_ITEMS, 1), np.int64)
CATEGORY[1] = 1
CATEGORY[2:] = np.arange(2, 12)[:, None] % 3 + 2  # value ids 2, 3, 4


def _model(heads, name="sasrec", **config):
    model_class, config_class = get_model_class(name)
    values = {"embedding_dim": 16, "max_len": 6, "dropout": 0.0, "heads": heads, **config}
    if name in ("sasrec", "bert4rec"):
        values.update(num_blocks=1, num_heads=1)
    side = SideInputs(tables={"category": CATEGORY}, vocabulary_sizes={"category": 5}, num_event_types=3)
    return model_class(config_from_dict(config_class, values), NUM_ITEMS, side_inputs=side)


def test_registry_and_config_errors_name_the_bad_input():
    assert {"next_event_type", "next_item_feature", "time_to_next"} <= set(available_heads())
    with pytest.raises(ValueError, match="heads.name='next_price' is unknown"):
        head_config({"name": "next_price"})
    with pytest.raises(ValueError, match="has no field"):
        head_config({"name": "time_to_next", "feature": "x"})
    with pytest.raises(ValueError, match="must be a number > 0"):
        head_config({"name": "next_event_type", "weight": 0})
    with pytest.raises(ValueError, match="needs feature"):
        head_config({"name": "next_item_feature"})
    with pytest.raises(ValueError, match="does not take auxiliary heads"):
        _model([{"name": "next_event_type"}], name="bert4rec")
    with pytest.raises(ValueError, match="no event types"):
        build_model("sasrec", {"heads": [{"name": "next_event_type"}]}, NUM_ITEMS)


def test_labels_by_hand():
    model = _model(
        [{"name": "time_to_next"}, {"name": "next_item_feature", "feature": "category"}, {"name": "next_event_type"}],
        inputs={"item_features": ["category"]},
    )
    assert model.input_features == ("item_ids", "timestamps", "event_types")
    time_head, feature_head, event_head = model.aux_heads
    next_events = {"item_ids": tf.constant([4, 9]), "timestamps": tf.constant([61_000, 5_000]), "event_types": [2, 3]}
    current = {"timestamps": tf.constant([1_000, 5_000])}
    np.testing.assert_allclose(time_head.labels(next_events, current).numpy(), [np.log1p(60.0), 0.0], rtol=1e-6)
    assert feature_head.labels(next_events, current).numpy().tolist() == [4 % 3 + 2, 9 % 3 + 2]
    assert list(event_head.labels(next_events, current)) == [2, 3]
    # the best constant: the most frequent label / the median
    assert event_head.constant_score(tf.constant([2, 2, 3])).numpy().tolist() == [1, 1, 0]
    assert time_head.constant_score(tf.constant([1.0, 2.0, 5.0])).numpy().tolist() == [1, 0, 3]


def _batch(step, batch=32):
    """Random items; the next event's type is ``1 + item % 3`` of the current item (learnable from the state)."""
    rng = np.random.default_rng(step)
    items = rng.integers(2, NUM_ITEMS, (batch, 7))
    events = np.ones_like(items)
    events[:, 1:] = 1 + items[:, :-1] % 3
    times = np.cumsum(rng.integers(1_000, 100_000, (batch, 7)), axis=1)
    return {"item_ids": tf.constant(items), "event_types": tf.constant(events), "timestamps": tf.constant(times)}


def test_a_head_learns_the_next_event_type_well_above_the_best_constant():
    tf.keras.utils.set_random_seed(4)
    model = _model([{"name": "next_event_type", "weight": 1.0}])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    logs = [model.train_step(_batch(step)) for step in range(120)]
    assert float(logs[-1]["next_event_type_loss"]) < 0.5 * float(logs[0]["next_event_type_loss"])
    batch = _batch(999)
    states = model.encode(batch["item_ids"][:, :-1])
    head = model.aux_heads[0]
    labels = batch["event_types"][:, 1:]
    accuracy = head.score(head.predict(states), labels).numpy().mean()
    constant = head.constant_score(tf.reshape(labels, [-1])).numpy().mean()
    assert accuracy > 0.9 and accuracy > constant + 0.4


def test_the_trainer_scores_the_heads_on_the_test_split(tmp_path):
    from tfseqrec.cli import main

    items = {f"i{n:04d}": {"topic": f"t{n % 5}"} for n in range(100)}
    (tmp_path / "items.json").write_text(json.dumps(items))
    data = generated_dataset(tmp_path, 120, 100, 5, "--item-features", str(tmp_path / "items.json"))
    heads = [
        {"name": "next_event_type", "weight": 0.2},
        {"name": "next_item_feature", "feature": "topic"},
        {"name": "time_to_next", "weight": 0.05},
    ]
    run = tmp_path / "run"
    args = ["train", "--data-dir", str(data), "--model", "sasrec", "--output-dir", str(run), "--epochs", "2"]
    overrides = ["steps_per_epoch=4", "batch_size=32", "verbose=0", "model_config.max_len=8"]
    overrides += [f"model_config.heads={json.dumps(heads)}", 'model_config.inputs={"item_features": ["topic"]}']
    assert main(args + overrides) == 0
    scored = json.loads((run / "test" / "heads.json").read_text())
    assert scored["next_event_type"]["rows"] == 120
    assert 0 <= scored["next_event_type"]["accuracy"] <= 1
    assert scored["time_to_next"]["higher_is_better"] is False
    history = (run / "history.csv").read_text().splitlines()[0]
    assert "next_event_type_loss" in history and "time_to_next_loss" in history
    assert json.loads((run / "run.json").read_text())["test_heads"] == scored
