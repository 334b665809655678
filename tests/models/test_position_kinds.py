"""Each position encoding against values computed by hand: the sinusoid table, rotations, T5 buckets, ALiBi
slopes, TiSASRec's interval matrix, and the attention each kind computes against a NumPy transcription of its
formula."""

import math

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.layers import ProjectionInitAttention, bidirectional_attention_mask, causal_attention_mask
from tfseqrec.models.positions import build_position_encoding
from tfseqrec.models.positions.alibi import alibi_slopes
from tfseqrec.models.positions.relative import relative_buckets
from tfseqrec.models.positions.rotary import rotate, rotation_angles
from tfseqrec.models.positions.sinusoidal import sinusoid_table
from tfseqrec.models.positions.time_interval import bucket_sums, interval_matrix


# -- sinusoidal --------------------------------------------------------------------------------------------
def test_sinusoid_table_by_hand():
    table = sinusoid_table(3, 4, base=10000.0)  # frequencies 1 and 10000 ** (-2 / 4) = 1 / 100
    expected = [
        [0.0, 1.0, 0.0, 1.0],
        [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
        [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)],
    ]
    np.testing.assert_allclose(table, expected, rtol=1e-6, atol=1e-7)
    assert sinusoid_table(2, 3).shape == (2, 3)  # odd width: the last cosine column is dropped
    np.testing.assert_allclose(sinusoid_table(2, 3)[1], [math.sin(1), math.cos(1), math.sin(10000 ** (-2 / 3))])


def test_sinusoidal_adds_the_scaled_table_at_each_position():
    layer = build_position_encoding({"name": "sinusoidal", "scale": 0.5}, 4, 4, 1, origin="last")
    padding = tf.constant([[False, True, True]])
    out = layer(tf.zeros([1, 3, 4]), padding_mask=padding).numpy()[0]  # origin "last": columns are 1, 2, 3
    np.testing.assert_allclose(out, 0.5 * sinusoid_table(4, 4)[1:], rtol=1e-6)
    assert not layer.weights


# -- rotary ------------------------------------------------------------------------------------------------
def test_rotation_by_hand():
    angles = rotation_angles(tf.constant([1.0]), head_dim=4)  # theta = 1 and 1 / 100
    np.testing.assert_allclose(angles.numpy(), [[1.0, 0.01]], rtol=1e-6)
    x = tf.constant([[1.0, 2.0, 0.0, 0.0]])  # pairs (x0, x2) = (1, 0) and (x1, x3) = (2, 0)
    out = rotate(x, tf.cos(angles), tf.sin(angles)).numpy()[0]
    np.testing.assert_allclose(out, [math.cos(1), 2 * math.cos(0.01), math.sin(1), 2 * math.sin(0.01)], rtol=1e-6)


def test_rotation_keeps_lengths_and_dot_products_of_equal_offsets():
    rng = np.random.default_rng(0)
    q, k = (tf.constant(rng.normal(size=[1, 8]), tf.float32) for _ in range(2))

    def rotated(x, position):
        angles = rotation_angles(tf.constant([float(position)]), head_dim=8)
        return rotate(x, tf.cos(angles), tf.sin(angles))

    np.testing.assert_allclose(tf.norm(rotated(q, 37)).numpy(), tf.norm(q).numpy(), rtol=1e-5)
    dots = [float(tf.reduce_sum(rotated(q, p) * rotated(k, p + 3))) for p in (0, 5, 40, 150)]
    np.testing.assert_allclose(dots, dots[0], rtol=1e-4)
    assert abs(float(tf.reduce_sum(rotated(q, 0) * rotated(k, 4))) - dots[0]) > 1e-3  # another offset differs


# -- relative (T5 buckets) ---------------------------------------------------------------------------------
def test_t5_buckets_by_hand_causal():
    # 32 buckets for past keys: distances 0..15 exact; then 16 + floor(log(d / 16) / log(128 / 16) * 16), at most
    # 31: d = 31 -> 16 + floor(5.09), 32 -> 16 + floor(5.33), 64 -> 16 + floor(10.67); later keys -> 0
    offsets = [0, -1, -15, -16, -31, -32, -64, -127, -128, -1000, 3]
    expected = [0, 1, 15, 16, 21, 21, 26, 31, 31, 31, 0]
    np.testing.assert_array_equal(relative_buckets(offsets, True, 32, 128), expected)


def test_t5_buckets_by_hand_bidirectional():
    # 16 buckets per direction, 8 exact; later keys (offset > 0) in buckets 16..31
    offsets = [0, -3, 3, -8, -16, -64, -128, 128, 7]
    # -16: 8 + floor(log(2) / log(16) * 8) = 8 + 2; -64: 8 + floor(0.75 * 8) = 14; -128: capped at 15
    expected = [0, 3, 19, 8, 10, 14, 15, 31, 23]
    np.testing.assert_array_equal(relative_buckets(offsets, False, 32, 128), expected)


def test_relative_bias_is_the_table_at_each_bucket():
    layer = build_position_encoding({"name": "relative", "num_buckets": 4, "max_distance": 4}, 3, 4, 2)
    layer(tf.zeros([1, 3, 4]), padding_mask=tf.ones([1, 3], tf.bool))  # builds the table
    table = np.arange(8, dtype=np.float32).reshape(4, 2)  # [bucket, head]
    layer.bias.assign(table)
    padding = tf.ones([1, 3], tf.bool)
    bias = layer.attention_positions(padding, causal_attention_mask(padding)).logit_bias(tf.zeros([1, 3, 2, 2]))
    # causal, 4 buckets, 2 exact: distances 0, 1 exact, 2 -> 2 + floor(log(1) ...) = 2; keys after -> bucket 0
    buckets = [[0, 0, 0], [1, 0, 0], [2, 1, 0]]
    np.testing.assert_array_equal(bias.numpy()[0], np.transpose(table[buckets], [2, 0, 1]))


# -- ALiBi -------------------------------------------------------------------------------------------------
def test_alibi_slopes_by_hand():
    np.testing.assert_allclose(alibi_slopes(8), [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256])
    np.testing.assert_allclose(alibi_slopes(1), [1 / 256])
    # 6 heads: the 4 slopes of 4 heads (2^-2 .. 2^-8), then 2^-1 and 2^-3 (every other slope of 8 heads)
    np.testing.assert_allclose(alibi_slopes(6), [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3])


def test_alibi_bias_by_hand():
    layer = build_position_encoding("alibi", 4, 4, 2, causal=False)  # slopes 1/16, 1/256
    padding = tf.ones([1, 3], tf.bool)
    bias = layer.attention_positions(padding, bidirectional_attention_mask(padding)).logit_bias(tf.zeros([1, 3, 2, 2]))
    distance = np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]], np.float32)
    np.testing.assert_allclose(bias.numpy()[0], [-distance / 16, -distance / 256])


# -- time intervals ------------------------------------------------------------------------------------------
def test_interval_matrix_by_hand():
    # column 0 is padding; neighbouring gaps 2000, 0, 6000 ms
    times = tf.constant([[0, 1000, 3000, 3000, 9000]], tf.int64)
    padding = tf.constant([[False, True, True, True, True]])
    causal = interval_matrix(times, causal_attention_mask(padding), max_interval=3).numpy()[0]
    # query 1 sees no gap (scale 1: every span clipped at 3); queries 2..4 see the gap 2000 (the 0 is skipped)
    assert causal[1, 1] == 0 and causal[1, 2] == 3
    np.testing.assert_array_equal(causal[2, 1:3], [1, 0])
    np.testing.assert_array_equal(causal[3, 1:4], [1, 0, 0])
    np.testing.assert_array_equal(causal[4, 1:5], [3, 3, 3, 0])  # 8000 / 2000 = 4 clipped at 3; 6000 / 2000 = 3
    both = interval_matrix(times, bidirectional_attention_mask(padding), max_interval=10).numpy()[0]
    np.testing.assert_array_equal(both[1, 1:5], [0, 1, 1, 4])  # every query sees the gap 2000
    wide = interval_matrix(times * 7, causal_attention_mask(padding), max_interval=3).numpy()[0]
    np.testing.assert_array_equal(wide[1:, 1:], causal[1:, 1:])  # personal scale: the unit does not matter


def test_bucket_sums_add_the_probability_of_each_interval():
    probabilities = tf.constant([[[[0.5, 0.25, 0.25]]]])  # [B=1, H=1, T=1, S=3]
    buckets = tf.constant([[[2, 0, 2]]])
    np.testing.assert_allclose(bucket_sums(probabilities, buckets, 4).numpy()[0, 0, 0], [0.25, 0, 0.75, 0])


# -- the attention of each kind against NumPy ----------------------------------------------------------------
def _softmax(logits, mask):
    logits = np.where(mask, logits, -1e9)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _attention_inputs(kind, causal, **config):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=[2, 4, 8]), tf.float32)
    padding = tf.constant([[False, True, True, True], [True] * 4])
    mask = (causal_attention_mask if causal else bidirectional_attention_mask)(padding)
    times = tf.constant([[0, 10, 30, 90], [5, 5, 20, 50]], tf.int64)
    encoding = build_position_encoding({"name": kind, **config}, 4, 8, 2, causal=causal, origin="first")
    encoding(x, padding_mask=padding)  # builds any weights
    for w in encoding.weights:  # make every table matter
        w.assign(rng.normal(size=w.shape))
    attention = ProjectionInitAttention(2, key_dim=4)
    attention(x, x, attention_mask=mask)  # builds the projections
    positions = encoding.attention_positions(padding, mask, times)
    out = attention(x, x, attention_mask=mask, positions=positions).numpy()
    project = lambda dense: dense(x).numpy()  # noqa: E731  [B, L, H, Dh]
    q, k, v = project(attention._query_dense), project(attention._key_dense), project(attention._value_dense)
    return dict(out=out, q=q, k=k, v=v, mask=mask.numpy(), attention=attention, encoding=encoding, times=times)


def _reference(q, k, v, mask, attention, logit_bias=0.0, extra_values=None):
    logits = np.einsum("bthd,bshd->bhts", q / 2.0, k) + logit_bias  # 1 / sqrt(Dh = 4)
    probs = _softmax(logits, mask[:, np.newaxis])
    z = np.einsum("bhts,bshd->bthd", probs, v)
    if extra_values is not None:
        z = z + extra_values(probs)
    return attention._output_dense(tf.constant(z, tf.float32)).numpy()


@pytest.mark.parametrize("causal", [True, False])
def test_rotary_attention_against_numpy(causal):
    a = _attention_inputs("rotary", causal)
    positions = np.array([[0, 0, 1, 2], [0, 1, 2, 3]])  # origin "first"
    angles = positions[..., np.newaxis] * np.array([1.0, 0.01])  # [B, L, Dh / 2]
    cos, sin = np.cos(angles)[:, :, np.newaxis], np.sin(angles)[:, :, np.newaxis]

    def rot(x):
        first, second = x[..., :2], x[..., 2:]
        return np.concatenate([first * cos - second * sin, first * sin + second * cos], axis=-1)

    expected = _reference(rot(a["q"]), rot(a["k"]), a["v"], a["mask"], a["attention"])
    np.testing.assert_allclose(a["out"], expected, atol=1e-5)


def test_relative_and_alibi_attention_against_numpy():
    a = _attention_inputs("relative", True, num_buckets=4, max_distance=4)
    table = a["encoding"].bias.numpy()  # [4, H]
    buckets = np.array(
        [[0, 0, 0, 0], [1, 0, 0, 0], [2, 1, 0, 0], [3, 2, 1, 0]]
    )  # distance 3: 2 + floor(log(1.5) / log(2) * 2)
    bias = np.transpose(table[buckets], [2, 0, 1])[np.newaxis]
    np.testing.assert_allclose(a["out"], _reference(a["q"], a["k"], a["v"], a["mask"], a["attention"], bias), atol=1e-5)
    a = _attention_inputs("alibi", False)
    distance = np.abs(np.arange(4)[:, None] - np.arange(4)[None])
    bias = -np.array([1 / 16, 1 / 256])[:, None, None] * distance
    np.testing.assert_allclose(a["out"], _reference(a["q"], a["k"], a["v"], a["mask"], a["attention"], bias), atol=1e-5)


@pytest.mark.parametrize("absolute", [True, False])
def test_time_interval_attention_against_numpy(absolute):
    a = _attention_inputs("time_interval", True, max_interval=3, absolute_positions=absolute)
    encoding = a["encoding"]
    per_head = lambda w: w.numpy().reshape(-1, 2, 4)  # noqa: E731  [rows, H, Dh]
    r_k, r_v = per_head(encoding.interval_keys), per_head(encoding.interval_values)
    # row 0: column 0 padding, gaps 20, 60 -> scale 20; row 1: gaps 0, 15, 30 -> scale 15 once seen
    intervals = interval_matrix(a["times"], tf.constant(a["mask"]), 3).numpy()
    np.testing.assert_array_equal(intervals[0, 3, 1:], [3, 3, 0])  # 80 / 20 = 4 -> 3; 60 / 20 = 3
    np.testing.assert_array_equal(intervals[1, 1], [0, 0, 3, 3])  # query 1 sees only the gap 0: scale 1
    np.testing.assert_array_equal(intervals[1, 3], [3, 3, 2, 0])  # 45 / 15 = 3, 30 / 15 = 2
    k, v = a["k"], a["v"]
    if absolute:
        positions = np.array([[0, 0, 1, 2], [0, 1, 2, 3]])
        k = k + per_head(encoding.position_keys)[positions]
        v = v + per_head(encoding.position_values)[positions]
    rk = r_k[intervals]  # [B, T, S, H, Dh]
    bias = np.einsum("bthd,btshd->bhts", a["q"] / 2.0, rk)
    extra = lambda probs: np.einsum("bhts,btshd->bthd", probs, r_v[intervals])  # noqa: E731
    expected = _reference(a["q"], k, v, a["mask"], a["attention"], bias, extra)
    np.testing.assert_allclose(a["out"], expected, atol=1e-5)
