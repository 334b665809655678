"""HSTU (``tfseqrec.models.hstu``): pointwise attention by hand, causality, time buckets by hand, a toy it learns,
save / load, and training through the CLI."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.models.long_history_checks import assert_the_cli_trains_and_tests
from tfseqrec.models import build_model
from tfseqrec.models.hstu import HSTUConfig, HSTULayer, time_difference_buckets

NUM_ITEMS = 30


def _model(**config):
    base = {"embedding_dim": 16, "max_len": 12, "num_blocks": 1, "dropout": 0.0}
    return build_model("hstu", {**base, **config}, NUM_ITEMS)


def test_one_layer_by_hand():
    config = HSTUConfig(embedding_dim=4, max_len=3, dropout=0.0, num_heads=1, attention_dim=2, linear_dim=2)
    layer = HSTULayer(config)
    x = tf.constant(np.random.default_rng(0).standard_normal((1, 3, 4)), tf.float32)
    allowed = tf.constant([[[True, False, False], [True, True, False], [False, True, True]]])
    layer(x, allowed)  # builds
    layer.position_bias.assign([[0.5, -0.25, 1.0]])
    got = layer(x, allowed).numpy()

    def norm(a, eps=1e-6):
        return (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + eps)

    silu = lambda a: a / (1.0 + np.exp(-a))  # noqa: E731
    kernel, bias = layer.f1.kernel.numpy(), layer.f1.bias.numpy()
    h = silu(norm(x.numpy()[0]) @ kernel + bias)
    u, v, q, k = h[:, 0:2], h[:, 2:4], h[:, 4:6], h[:, 6:8]
    offsets = np.maximum(np.arange(3)[:, None] - np.arange(3)[None, :], 0)
    weights = silu(q @ k.T + np.array([0.5, -0.25, 1.0])[offsets]) * allowed.numpy()[0] / 3.0
    gated = norm(weights @ v) * u
    want = x.numpy()[0] + gated @ layer.f2.kernel.numpy() + layer.f2.bias.numpy()
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)


def test_time_difference_buckets_by_hand():
    ms = tf.constant([[0, 1_000, 4_000, 1_000_000]])
    got = time_difference_buckets(ms, 8).numpy()[0]
    # |dt| seconds 1 -> floor(log2 2) = 1, 4 -> floor(log2 5) = 2, 1000 -> 9 -> clipped to 7
    assert got[1, 0] == 1 and got[2, 0] == 2 and got[3, 0] == 7 and got[2, 2] == 0 and got[0, 1] == 1


def test_states_never_depend_on_later_items():
    model = _model(num_blocks=2)
    base = tf.constant([[0, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]])
    changed = tf.concat([base[:, :7], tf.constant([[20, 21, 22, 23, 24]])], axis=1)
    np.testing.assert_allclose(model.encode(changed).numpy()[:, :7], model.encode(base).numpy()[:, :7], atol=1e-5)


def test_hstu_learns_a_toy_and_round_trips(tmp_path):
    tf.keras.utils.set_random_seed(0)
    model = _model(time_bias=True)
    assert model.input_features == ("item_ids", "timestamps")
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(60):  # item i + 1 follows item i
        start = rng.integers(2, 30, (16, 1))
        items = (start + np.arange(13)[None]) % 28 + 2
        times = np.cumsum(rng.integers(1_000, 100_000, (16, 13)), axis=1)
        losses.append(
            float(model.train_step({"item_ids": tf.constant(items), "timestamps": tf.constant(times)})["loss"])
        )
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    model.save_weights(str(tmp_path / "w"))
    twin = build_model("hstu", model.get_config()["config"], NUM_ITEMS).build_for_inputs()
    twin.load_weights(str(tmp_path / "w"))
    ids, ts = tf.constant([[0, 0, 5, 6, 7, 8]]), tf.constant([[0, 0, 1_000, 9_000, 50_000, 90_000]])
    np.testing.assert_allclose(
        twin.score_all(ids, timestamps=ts).numpy(), model.score_all(ids, timestamps=ts).numpy(), atol=1e-5
    )


def test_errors_name_the_bad_input():
    with pytest.raises(ValueError, match="acts inside a softmax attention"):
        _model(position_encoding="rotary")
    with pytest.raises(ValueError, match="time_buckets"):
        _model(time_buckets=1)


def test_the_cli_trains_and_tests_hstu(tmp_path):
    assert_the_cli_trains_and_tests("hstu", tmp_path)
