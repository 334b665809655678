"""The brute-force export ranks exactly like the in-memory model's full ranking (``score_all``)."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.export import contract
from tests.export.conftest import MAX_K
from tests.export.reference import decode, dense, reference_top_k


def _histories(vocab):
    v = vocab
    return [
        [v[5], v[9], v[17]],
        [v[3], "no-such-item", v[3], v[40]],  # OOV inside, a repeated item
        ["", "", v[7], "", v[8], ""],  # padding on both sides and inside
        [v[i] for i in range(2, 27)],  # 25 items > max_len 10: the latest 10 are used
        ["unknown-1", "unknown-2"],  # only OOV
    ]


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_top_k_equals_in_memory_full_ranking(exported, brute, exclude_seen):
    histories = _histories(exported.vocabulary)
    out = brute.signatures[contract.RECOMMEND_SIGNATURE](
        history=dense(histories, left_pad=2),
        k=tf.constant([10] * len(histories)),
        exclude_seen=tf.constant([exclude_seen] * len(histories)),
    )
    want_ids, want_scores = reference_top_k(exported.model, exported.vocabulary, histories, 10, exclude_seen)
    assert decode(out[contract.ITEM_IDS]) == want_ids
    np.testing.assert_allclose(out[contract.SCORES].numpy(), want_scores, rtol=1e-5, atol=1e-6)
    if exclude_seen:  # the whole history, also the items cut off by max_len (like the evaluator's filter_seen)
        assert not any(set(row) & set(history) for row, history in zip(decode(out[contract.ITEM_IDS]), histories))


def test_serving_default_is_recommend_with_export_defaults(exported, brute):
    histories = _histories(exported.vocabulary)
    default = brute.signatures[contract.SERVING_SIGNATURE](history=dense(histories))
    want_ids, _ = reference_top_k(exported.model, exported.vocabulary, histories, 10, exclude_seen=True)
    assert decode(default[contract.ITEM_IDS]) == want_ids
    assert default[contract.SCORES].shape == (len(histories), 10)


def test_empty_history_gets_most_popular_items(exported, brute):
    vocab, counts = exported.vocabulary, exported.counts
    out = brute.signatures[contract.RECOMMEND_SIGNATURE](
        history=tf.constant([["", "", ""], [vocab[2], vocab[3], ""]]),
        k=tf.constant([5, 3]),
        exclude_seen=tf.constant([True, True]),
    )
    ids = decode(out[contract.ITEM_IDS])
    order = sorted(range(2, len(vocab)), key=lambda i: (-counts[i], i))[:5]
    assert ids[0] == [vocab[i] for i in order]  # vocabulary order = training frequency
    np.testing.assert_array_equal(out[contract.SCORES].numpy()[0], [counts[i] for i in order])
    assert ids[1][3:] == ["", ""] and not set(ids[1]) & {vocab[2], vocab[3]}
    # A batch of only empty rows, and a history with no columns at all.
    for history in (tf.constant([[""]]), tf.zeros([2, 0], tf.string)):
        ids = decode(brute.signatures[contract.SERVING_SIGNATURE](history=history)[contract.ITEM_IDS])
        assert all(
            row == [vocab[i] for i in sorted(range(2, len(vocab)), key=lambda i: (-counts[i], i))[:10]] for row in ids
        )


def test_per_row_k_padding_and_max_k(exported, brute):
    vocab = exported.vocabulary
    histories = [[vocab[5]], [vocab[6]], [vocab[7]]]
    out = brute.signatures[contract.RECOMMEND_SIGNATURE](
        history=dense(histories), k=tf.constant([1, 4, 2]), exclude_seen=tf.constant([True, False, True])
    )
    ids, scores = decode(out[contract.ITEM_IDS]), out[contract.SCORES].numpy()
    assert scores.shape == (3, 4)
    for row, k, excl, history in zip(range(3), (1, 4, 2), (True, False, True), histories):
        want, want_scores = reference_top_k(exported.model, vocab, [history], k, excl)
        assert ids[row][:k] == want[0] and all(x == "" for x in ids[row][k:])
        np.testing.assert_allclose(scores[row, :k], want_scores[0], rtol=1e-5, atol=1e-6)
        assert np.all(np.isneginf(scores[row, k:]))
    # k above max_k is capped; k above the catalogue leaves "" / -inf at the end.
    big = brute.signatures[contract.RECOMMEND_SIGNATURE](
        history=tf.constant([[vocab[5]]]), k=tf.constant([100000]), exclude_seen=tf.constant([True])
    )
    assert big[contract.ITEM_IDS].shape == (1, MAX_K) and "" not in decode(big[contract.ITEM_IDS])[0]


def test_k_below_one_is_rejected(brute):
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be >= 1 in every row"):
        brute.signatures[contract.RECOMMEND_SIGNATURE](
            history=tf.constant([["x"], ["y"]]), k=tf.constant([3, 0]), exclude_seen=tf.constant([True, True])
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must have one entry per row of history"):
        brute.signatures[contract.RECOMMEND_SIGNATURE](
            history=tf.constant([["x"], ["y"]]), k=tf.constant([3]), exclude_seen=tf.constant([True, True])
        )
