"""Chunking of left-padded histories (``tfseqrec.models.chunking``): both alignments by hand and their inverses."""

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.chunking import (
    from_end_aligned_chunks,
    from_start_aligned_chunks,
    num_chunks,
    to_end_aligned_chunks,
    to_start_aligned_chunks,
)

IDS = tf.constant([[0, 0, 0, 5, 6, 7, 8], [0, 0, 0, 0, 0, 0, 9], [1, 2, 3, 4, 5, 6, 7]])


def test_num_chunks_rounds_up():
    assert [num_chunks(n, 3) for n in (1, 3, 4, 7)] == [1, 1, 2, 3]


def test_end_alignment_pads_on_the_left_and_round_trips():
    chunks = to_end_aligned_chunks(IDS, 3).numpy()
    assert chunks.shape == (3, 3, 3)
    np.testing.assert_array_equal(chunks[0], [[0, 0, 0], [0, 0, 5], [6, 7, 8]])
    np.testing.assert_array_equal(chunks[1], [[0, 0, 0], [0, 0, 0], [0, 0, 9]])
    np.testing.assert_array_equal(from_end_aligned_chunks(chunks, 7).numpy(), IDS.numpy())


def test_start_alignment_opens_each_row_at_its_oldest_item_and_round_trips():
    mask = tf.not_equal(IDS, 0)
    chunks = to_start_aligned_chunks(IDS, mask, 3).numpy()
    np.testing.assert_array_equal(chunks[0], [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(chunks[1], [[9, 0, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(chunks[2], [[1, 2, 3], [4, 5, 6], [7, 0, 0]])
    vectors = tf.random.uniform([3, 7, 2])  # trailing dimensions travel along
    back = from_start_aligned_chunks(to_start_aligned_chunks(vectors, mask, 3), mask).numpy()
    np.testing.assert_allclose(back * mask.numpy()[..., None], vectors.numpy() * mask.numpy()[..., None])
