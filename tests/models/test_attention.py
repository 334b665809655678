"""Attention kinds (``tfseqrec.models.attention``): each against a reference computed the slow way, causality,
padding, the registry and config errors, and models that train with each kind."""

import math

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model
from tfseqrec.models.attention import attention_config, available_attentions, build_attention
from tfseqrec.models.layers import bidirectional_attention_mask, causal_attention_mask

B, L, H, DH = 2, 11, 2, 4


def _inputs(seed=0, padding=3):
    rng = np.random.default_rng(seed)
    q, k, v = (tf.constant(rng.standard_normal((B, L, H, DH)), tf.float32) for _ in range(3))
    real = np.ones((B, L), bool)
    real[1, :padding] = False  # row 1 is left-padded
    return q, k, v, tf.constant(real)


def _reference(q, k, v, allowed):
    """Softmax attention with an explicit ``[B, T, S]`` mask, in numpy."""
    logits = np.einsum("bthd,bshd->bhts", q.numpy(), k.numpy()) / math.sqrt(DH)
    logits = np.where(allowed[:, None], logits, -1e9)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhts,bshd->bthd", p, v.numpy())


def _run(name, q, k, v, real, causal, **fields):
    tf.keras.utils.set_random_seed(0)  # kinds with weights start the same in every call
    kernel = build_attention({"name": name, **fields}, L, H, DH, causal)
    mask = (causal_attention_mask if causal else bidirectional_attention_mask)(real)
    out, _ = kernel(q, k, v, padding_mask=real, attention_mask=mask if kernel.needs_mask else None)
    return out.numpy()


def test_the_registry_lists_every_kind_and_configs_name_bad_fields():
    assert {"full", "local", "linear", "performer", "linformer"} <= set(available_attentions())
    assert attention_config("local").window == 64
    assert attention_config({"name": "linear", "feature_map": "l2"}).feature_map == "l2"
    with pytest.raises(ValueError, match="attention.name='flash' is unknown"):
        attention_config("flash")
    with pytest.raises(ValueError, match="has no field"):
        attention_config({"name": "local", "chunk_size": 4})
    with pytest.raises(ValueError, match="window=0"):
        attention_config({"name": "local", "window": 0})
    with pytest.raises(ValueError, match="feature_map"):
        attention_config({"name": "linear", "feature_map": "relu"})


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("window", [1, 3, 4, 20])
def test_local_attention_equals_softmax_over_the_band(causal, window):
    q, k, v, real = _inputs()
    i, j = np.arange(L)[:, None], np.arange(L)[None, :]
    band = ((i - j >= 0) & (i - j < window)) if causal else (np.abs(i - j) < window)
    allowed = band[None] & real.numpy()[:, None, :]
    got = _run("local", q, k, v, real, causal, window=window)
    want = _reference(q, k, v, allowed)
    rows = real.numpy()  # padding rows are anything (zeroed by the block)
    np.testing.assert_allclose(got[rows], want[rows], atol=1e-5)
    if window >= L:  # a window over everything is full attention
        np.testing.assert_allclose(got[rows], _run("full", q, k, v, real, causal)[rows], atol=1e-5)


@pytest.mark.parametrize("feature_map", ["elu", "l2"])
@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_causal_linear_attention_equals_the_quadratic_form(feature_map, chunk_size):
    q, k, v, real = _inputs(1)

    def phi(x):
        x = x / np.linalg.norm(x, axis=-1, keepdims=True) if feature_map == "l2" else x
        return np.where(x > 0, x, np.expm1(x)) + 1.0

    weights = np.einsum("bthd,bshd->bhts", phi(q.numpy()), phi(k.numpy()))
    allowed = np.tril(np.ones((L, L), bool))[None] & real.numpy()[:, None, :]
    weights = weights * allowed[:, None]
    with np.errstate(invalid="ignore"):  # padding rows see no key: 0 / 0, left out below
        want = np.einsum("bhts,bshd->bthd", weights, v.numpy()) / weights.sum(-1).transpose(0, 2, 1)[..., None]
    got = _run("linear", q, k, v, real, True, feature_map=feature_map, chunk_size=chunk_size)
    rows = real.numpy()
    np.testing.assert_allclose(got[rows], want[rows], rtol=1e-4, atol=1e-5)


def test_performer_approaches_softmax_attention_with_many_features():
    q, k, v, real = _inputs(2)
    q, k = q * 0.3, k * 0.3  # FAVOR+ is accurate for moderate logits
    want = _run("full", q, k, v, real, False)
    rows = real.numpy()
    errors = [
        np.abs(_run("performer", q, k, v, real, False, num_features=m)[rows] - want[rows]).mean() for m in (4, 512)
    ]
    assert errors[1] < 0.05 and errors[1] < errors[0] / 2


@pytest.mark.parametrize(
    "name, fields", [("full", {}), ("local", {"window": 4}), ("linear", {"chunk_size": 3}), ("performer", {})]
)
def test_causal_kinds_never_see_later_positions(name, fields):
    q, k, v, real = _inputs(3)
    before = _run(name, q, k, v, real, True, **fields)
    changed = tf.concat([k[:, :7], k[:, 7:] + 5.0], axis=1), tf.concat([v[:, :7], v[:, 7:] - 3.0], axis=1)
    after = _run(name, q, changed[0], changed[1], real, True, **fields)
    rows = real.numpy()[:, :7]  # padding rows are anything
    np.testing.assert_allclose(after[:, :7][rows], before[:, :7][rows], atol=1e-5)


@pytest.mark.parametrize("name", ["local", "linear", "performer", "linformer"])
def test_padding_keys_change_nothing(name):
    q, k, v, real = _inputs(4)
    noisy_k = tf.where(real[:, :, None, None], k, 100.0)
    noisy_v = tf.where(real[:, :, None, None], v, -100.0)
    causal = name != "linformer"
    clean = _run(name, q, k, v, real, causal)
    noisy = _run(name, q, noisy_k, noisy_v, real, causal)
    np.testing.assert_allclose(noisy[real.numpy()], clean[real.numpy()], atol=1e-5)


def test_linformer_by_hand():
    q, k, v, real = _inputs(5)
    tf.keras.utils.set_random_seed(0)
    kernel = build_attention({"name": "linformer", "projected_length": 3}, L + 4, H, DH, causal=False)
    got, _ = kernel(q, k, v, padding_mask=real)
    e, f = kernel.key_projection.numpy()[:, -L:], kernel.value_projection.numpy()[:, -L:]  # the last L columns
    mask = real.numpy()[:, :, None, None]
    keys = np.einsum("kl,blhd->bkhd", e, k.numpy() * mask)
    values = np.einsum("kl,blhd->bkhd", f, v.numpy() * mask)
    logits = np.einsum("bthd,bkhd->bhtk", q.numpy(), keys) / math.sqrt(DH)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    want = np.einsum("bhtk,bkhd->bthd", p / p.sum(-1, keepdims=True), values)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_models_refuse_what_a_kind_cannot_do():
    with pytest.raises(ValueError, match="cannot be causal"):
        build_model("sasrec", {"attention": "linformer", "max_len": 8}, 20)
    with pytest.raises(ValueError, match="acts on the attention logits"):
        build_model("sasrec", {"attention": "local", "position_encoding": "alibi", "max_len": 8}, 20)
    model = build_model("sasrec", {"attention": {"name": "local", "window": 4}, "max_len": 8}, 20)
    assert model.config.to_dict()["attention"] == {"name": "local", "window": 4}


def _train(name, config, steps=60):
    tf.keras.utils.set_random_seed(0)
    base = {"embedding_dim": 16, "max_len": 12, "num_blocks": 1, "num_heads": 2, "dropout": 0.0}
    model = build_model(name, {**base, **config}, 30)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):  # item i + 1 follows item i (mod the catalogue): learnable from the last item
        start = rng.integers(2, 30, (16, 1))
        batch = {"item_ids": tf.constant((start + np.arange(13)[None]) % 28 + 2)}
        losses.append(float(model.train_step(batch)["loss"]))
    return model, losses


@pytest.mark.parametrize(
    "name, attention",
    [
        ("sasrec", {"name": "local", "window": 4}),
        ("sasrec", {"name": "linear"}),
        ("sasrec", {"name": "linear", "feature_map": "l2"}),
        ("sasrec", {"name": "performer", "num_features": 16}),
        ("bert4rec", {"name": "linformer", "projected_length": 4}),
    ],
)
def test_models_learn_with_each_kind(name, attention, tmp_path):
    model, losses = _train(name, {"attention": attention})
    if name == "sasrec":
        assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    else:  # BERT4Rec's cloze learns this toy too slowly to test in a few steps (with full attention too)
        assert np.isfinite(losses).all()
    items = tf.constant([[0, 0, 5, 6, 7, 8]])
    model.save_weights(str(tmp_path / "w"))
    twin = build_model(name, model.get_config()["config"], 30).build_for_inputs()
    twin.load_weights(str(tmp_path / "w"))
    np.testing.assert_allclose(twin.score_all(items).numpy(), model.score_all(items).numpy(), atol=1e-5)
