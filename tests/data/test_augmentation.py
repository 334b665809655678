"""CL4SRec's batched augmentations: shapes, left padding, lengths, mask counts, seeds, in-graph use."""

import math

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.data.augmentation import (
    AugmentationConfig,
    item_crop,
    item_mask,
    item_reorder,
    random_augmentation,
    sequence_lengths,
)

MASK = 99
WIDTH = 12


def _batch(seed=0, rows=64):
    """Left-padded rows with every length 0..WIDTH (several times), items in 2..50 (never MASK)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros([rows, WIDTH], np.int64)
    for r in range(rows):
        n = r % (WIDTH + 1)
        if n:
            ids[r, WIDTH - n :] = rng.integers(2, 51, size=n)
    return ids


def _lengths(ids):
    return (np.asarray(ids) != 0).sum(axis=1)


def _assert_left_padded(out):
    out = np.asarray(out)
    n = _lengths(out)
    for row, length in zip(out, n):
        assert (row[: WIDTH - length] == 0).all() and (row[WIDTH - length :] != 0).all(), row


def _is_contiguous_run(sub, seq):
    return any(list(seq[s : s + len(sub)]) == list(sub) for s in range(len(seq) - len(sub) + 1))


@pytest.mark.parametrize("eta", [0.2, 0.6, 1.0])
def test_crop_keeps_a_contiguous_run_of_floor_eta_n_items(eta):
    ids = _batch()
    out = item_crop(tf.constant(ids), eta, seed=7).numpy()
    assert out.shape == ids.shape and out.dtype == ids.dtype
    _assert_left_padded(out)
    n = _lengths(ids)
    expected = np.where(n > 0, np.maximum([math.floor(eta * k) for k in n], 1), 0)
    np.testing.assert_array_equal(_lengths(out), expected)
    for row_in, row_out, k in zip(ids, out, expected):
        assert _is_contiguous_run(row_out[WIDTH - k :], row_in[row_in != 0])
    if eta == 1.0:
        np.testing.assert_array_equal(out, ids)


def test_crop_start_covers_every_possible_offset():
    ids = np.tile(np.arange(2, 2 + WIDTH, dtype=np.int64), [400, 1])  # n = 12, k = floor(0.5 * 12) = 6
    out = item_crop(tf.constant(ids), 0.5, seed=3).numpy()
    starts = out[:, WIDTH - 6] - 2
    assert set(starts) == set(range(WIDTH - 6 + 1))


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.7, 1.0])
def test_mask_replaces_floor_gamma_n_real_items(gamma):
    ids = _batch()
    out = item_mask(tf.constant(ids), gamma, MASK, seed=11).numpy()
    assert out.shape == ids.shape
    np.testing.assert_array_equal(out == 0, ids == 0)  # padding untouched, nothing moves
    changed = out != ids
    assert (out[changed] == MASK).all()
    n = _lengths(ids)
    expected = [max(min(math.floor(gamma * k), k - 1), 0) for k in n]
    np.testing.assert_array_equal(changed.sum(axis=1), expected)
    assert ((out != 0) & (out != MASK)).sum(axis=1)[n > 0].min() >= 1  # one real item always survives


def test_mask_positions_are_spread_over_the_sequence():
    ids = np.tile(np.arange(2, 2 + WIDTH, dtype=np.int64), [300, 1])
    out = item_mask(tf.constant(ids), 0.25, MASK, seed=5).numpy()
    per_column = (out == MASK).mean(axis=0)  # 3 of 12 per row: 0.25 per column on average
    assert (out == MASK).sum(axis=1).tolist() == [3] * 300
    assert per_column.min() > 0.15 and per_column.max() < 0.35


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.6, 1.0])
def test_reorder_permutes_one_contiguous_window(beta):
    ids = np.zeros([64, WIDTH], np.int64)
    for r in range(64):  # distinct items so that positions are identifiable
        n = r % (WIDTH + 1)
        ids[r, WIDTH - n :] = np.arange(2, 2 + n)
    out = item_reorder(tf.constant(ids), beta, seed=13).numpy()
    np.testing.assert_array_equal(out == 0, ids == 0)
    for row_in, row_out in zip(ids, out):
        n = int((row_in != 0).sum())
        k = math.floor(beta * n)
        assert sorted(row_out) == sorted(row_in)
        moved = np.flatnonzero(row_out != row_in)
        if len(moved):
            assert moved.max() - moved.min() + 1 <= k  # only inside one window of k items
    if beta <= 0.1:
        np.testing.assert_array_equal(out, ids)
    else:
        assert (out != ids).any()


def test_reorder_window_is_shuffled_uniformly():
    ids = np.tile(np.arange(2, 5, dtype=np.int64), [3000, 1])  # n = 3, beta = 1: all 6 orders
    out = item_reorder(tf.constant(ids), 1.0, seed=17).numpy()
    _, counts = np.unique(out, axis=0, return_counts=True)
    assert len(counts) == 6 and counts.min() > 400


@pytest.mark.parametrize("op", ["crop", "mask", "reorder", "random"])
def test_seeds_reproduce_and_differ(op):
    ids = tf.constant(_batch())
    config = AugmentationConfig(mask_token_id=MASK)
    fn = {
        "crop": lambda s: item_crop(ids, 0.6, s),
        "mask": lambda s: item_mask(ids, 0.3, MASK, s),
        "reorder": lambda s: item_reorder(ids, 0.6, s),
        "random": lambda s: random_augmentation(ids, config, s),
    }[op]
    np.testing.assert_array_equal(fn(1).numpy(), fn(1).numpy())
    np.testing.assert_array_equal(fn(tf.constant([4, 5])).numpy(), fn((4, 5)).numpy())
    assert (fn(1).numpy() != fn(2).numpy()).any()
    graph = tf.function(fn, autograph=False)  # in-graph, the same numbers
    np.testing.assert_array_equal(graph(tf.constant([0, 1], tf.int64)).numpy(), fn(1).numpy())


def test_random_augmentation_draws_each_operation_per_row():
    ids = np.tile(np.arange(2, 2 + WIDTH, dtype=np.int64), [300, 1])
    config = AugmentationConfig(mask_token_id=MASK, crop_eta=0.5, mask_gamma=0.5, reorder_beta=0.5)
    out = random_augmentation(tf.constant(ids), config, seed=21).numpy()
    cropped = (out == 0).any(axis=1)
    masked = (out == MASK).any(axis=1)
    reordered = ~cropped & ~masked & (out != ids).any(axis=1)
    assert cropped.sum() > 70 and masked.sum() > 70 and reordered.sum() > 70
    assert not (cropped & masked).any()
    _assert_left_padded(out)
    only_mask = AugmentationConfig(mask_token_id=MASK, operations=["mask"])
    out = random_augmentation(tf.constant(ids), only_mask, seed=21).numpy()
    assert ((out == MASK).sum(axis=1) == 3).all()  # floor(0.3 * 12)


def test_int32_and_lengths_helper():
    ids = tf.constant(_batch()[:13], tf.int32)
    assert item_crop(ids, 0.6, 0).dtype == tf.int32
    np.testing.assert_array_equal(sequence_lengths(ids).numpy(), np.arange(13))


def test_invalid_arguments():
    ids = tf.constant(_batch())
    with pytest.raises(ValueError, match="crop_eta"):
        item_crop(ids, 0.0, 0)
    with pytest.raises(ValueError, match="mask_gamma"):
        item_mask(ids, 1.5, MASK, 0)
    with pytest.raises(ValueError, match="reorder_beta"):
        item_reorder(ids, -0.1, 0)
    with pytest.raises(ValueError, match="operations"):
        AugmentationConfig(mask_token_id=MASK, operations=("crop", "shuffle"))
    with pytest.raises(ValueError, match="mask_token_id"):
        AugmentationConfig(mask_token_id=0)
    with pytest.raises(ValueError, match="shape"):
        item_crop(tf.constant([1, 2, 3]), 0.5, 0)
