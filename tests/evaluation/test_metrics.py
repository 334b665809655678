"""Metrics pinned to values computed by hand on tiny arrays (the arithmetic is in the comments)."""

import math

import numpy as np
import pytest

from tfseqrec.evaluation import metrics as m

L3 = 1.0 / math.log2(3)  # 0.6309...: DCG gain at position 2
L4 = 1.0 / math.log2(4)  # 0.5: gain at position 3


# ----------------------------------------------------------------------------- conservative ranks
def test_ties_count_against_the_model():
    # ids 0..5; items 2, 3, 4 share the top score 5. Target 3: the 2 other tied items count -> rank 3.
    scores = np.array([[0, 0, 5, 5, 5, 1]], dtype=float)
    assert m.conservative_ranks(scores, np.array([3])).tolist() == [3]
    # Target 5 (score 1): 2, 3, 4 are above -> rank 4.
    assert m.conservative_ranks(scores, np.array([5])).tolist() == [4]


def test_pad_and_oov_never_compete():
    # PAD and OOV score 9 but are not candidates; only item 3 (2 >= 1) beats target 2 -> rank 2.
    scores = np.array([[9, 9, 1, 2, 0, 0]], dtype=float)
    assert m.conservative_ranks(scores, np.array([2])).tolist() == [2]


def test_excluded_items_do_not_count():
    # Target 4 scores 1; items 2 (3) and 3 (2) are above -> rank 3; excluding item 2 -> rank 2.
    scores = np.array([[0, 0, 3, 2, 1, 0]], dtype=float)
    assert m.conservative_ranks(scores, np.array([4])).tolist() == [3]
    excl = np.zeros((1, 6), bool)
    excl[0, 2] = True
    assert m.conservative_ranks(scores, np.array([4]), excl).tolist() == [2]
    # num_candidates: real items 2..5 = 4, minus item 2 -> 3.
    assert m.num_candidates(np.array([4]), 6, excl).tolist() == [3]


def test_target_in_history_is_not_excluded():
    # The mask excludes items 2 and 4 (the history) but 4 is the target: it still ranks, behind item 3 only
    # (item 2 is excluded) -> rank 2; num_candidates = {3, 4, 5} = 3.
    scores = np.array([[0, 0, 3, 2, 1, 0]], dtype=float)
    excl = np.zeros((1, 6), bool)
    excl[0, [2, 4]] = True
    assert m.conservative_ranks(scores, np.array([4]), excl).tolist() == [2]
    assert m.num_candidates(np.array([4]), 6, excl).tolist() == [3]


def test_minus_inf_target_ties_with_every_minus_inf_candidate():
    # Target 2 is -inf like items 4 and 5; item 3 is finite. All 4 candidates are >= -inf -> rank 4.
    scores = np.array([[0, 0, -np.inf, 1, -np.inf, -np.inf]])
    assert m.conservative_ranks(scores, np.array([2])).tolist() == [4]


def test_rank_input_errors():
    scores = np.zeros((1, 6))
    with pytest.raises(ValueError, match="real item"):
        m.conservative_ranks(scores, np.array([1]))  # OOV target
    with pytest.raises(ValueError, match="real item"):
        m.conservative_ranks(scores, np.array([6]))  # out of the vocabulary
    with pytest.raises(ValueError, match="NaN"):
        m.conservative_ranks(np.array([[0, 0, np.nan, 1, 1, 1]]), np.array([3]))


# ---------------------------------------------------------------------------- single target
RANKS = np.array([1, 2, 3, 11])
CANDIDATES = np.array([10, 10, 5, 20])


def test_single_target_metrics_by_hand():
    np.testing.assert_allclose(m.hit_rate(RANKS, 10), [1, 1, 1, 0])
    np.testing.assert_allclose(m.hit_rate(RANKS, 2), [1, 1, 0, 0])
    np.testing.assert_allclose(m.recall(RANKS, 2), [1, 1, 0, 0])
    # 1/log2(rank + 1): 1/log2(2) = 1, 1/log2(3) = 0.6309, 1/log2(4) = 0.5; rank 11 > 10 -> 0.
    np.testing.assert_allclose(m.ndcg(RANKS, 10), [1, L3, 0.5, 0])
    np.testing.assert_allclose(m.ndcg(RANKS, 2), [1, L3, 0, 0])
    np.testing.assert_allclose(m.mrr(RANKS), [1, 0.5, 1 / 3, 1 / 11])
    np.testing.assert_allclose(m.mrr(RANKS, 10), [1, 0.5, 1 / 3, 0])
    # hit / k: 1/10 for the three hits.
    np.testing.assert_allclose(m.precision(RANKS, 10), [0.1, 0.1, 0.1, 0])
    np.testing.assert_allclose(m.precision(RANKS, 2), [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(m.average_precision(RANKS, 2), [1, 0.5, 0, 0])
    # 1 - (rank - 1) / (n - 1): 1 - 0/9, 1 - 1/9, 1 - 2/4, 1 - 10/19.
    np.testing.assert_allclose(m.auc(RANKS, CANDIDATES), [1, 8 / 9, 0.5, 9 / 19])
    assert m.auc(np.array([1]), np.array([1])).tolist() == [1.0]  # Only the target is a candidate.


def test_single_target_metrics_dict():
    d = m.single_target_metrics(RANKS, CANDIDATES, [1, 10])
    assert set(d) == {f"{n}@{k}" for n in ("HR", "Recall", "NDCG", "MRR", "Precision", "MAP") for k in (1, 10)} | {
        "MRR",
        "AUC",
    }
    np.testing.assert_allclose(d["HR@1"], [1, 0, 0, 0])
    np.testing.assert_allclose(d["MAP@10"], [1, 0.5, 1 / 3, 0])


def test_bad_k_and_ranks():
    with pytest.raises(ValueError, match="k must"):
        m.hit_rate(RANKS, 0)
    with pytest.raises(ValueError, match="1-based"):
        m.ndcg(np.array([0, 1]), 5)


# ----------------------------------------------------------------------------- multi target
# u0: targets at positions 1 and 3 (|T| = 2); u1: positions 2, 5, 4 (|T| = 3) and one padding slot.
POSITIONS = np.array([[1, 3, 0, 0], [2, 5, 4, 0]])
MULTI_CANDIDATES = np.array([10, 20])


def test_multi_target_metrics_by_hand():
    k = 3
    # hits@3: u0 {1, 3} -> 2, u1 {2} -> 1.
    np.testing.assert_allclose(m.multi_hit_rate(POSITIONS, k), [1, 1])
    np.testing.assert_allclose(m.multi_hit_rate(POSITIONS, 1), [1, 0])
    # Recall = hits / |T|: 2/2, 1/3.
    np.testing.assert_allclose(m.multi_recall(POSITIONS, k), [1, 1 / 3])
    # Precision = hits / k: 2/3, 1/3.
    np.testing.assert_allclose(m.multi_precision(POSITIONS, k), [2 / 3, 1 / 3])
    # NDCG: u0 DCG = 1 + 1/log2(4) = 1.5, IDCG (min(3, 2) = 2 hits) = 1 + 1/log2(3) -> 1.5 / 1.6309;
    #       u1 DCG = 1/log2(3), IDCG (3 hits) = 1 + 1/log2(3) + 1/log2(4).
    np.testing.assert_allclose(m.multi_ndcg(POSITIONS, k), [1.5 / (1 + L3), L3 / (1 + L3 + L4)])
    # AP: u0 (1/1 + 2/3) / min(3, 2) = 0.8333; u1 (1/2) / min(3, 3) = 0.1667.
    np.testing.assert_allclose(m.multi_average_precision(POSITIONS, k), [(1 + 2 / 3) / 2, 0.5 / 3])
    # MRR: best position 1 and 2; @1: u1's best (2) is below 1.
    np.testing.assert_allclose(m.multi_mrr(POSITIONS), [1, 0.5])
    np.testing.assert_allclose(m.multi_mrr(POSITIONS, 1), [1, 0])
    # AUC: u0 negatives 10 - 2 = 8; sorted targets (i, p) = (1, 1): 0 non-targets above, (2, 3): 1 above
    #   -> mean(1, 1 - 1/8) = 0.9375. u1 negatives 20 - 3 = 17; (1, 2): 1, (2, 4): 2, (3, 5): 2
    #   -> mean(1 - 1/17, 1 - 2/17, 1 - 2/17) = 1 - 5/51.
    np.testing.assert_allclose(m.multi_auc(POSITIONS, MULTI_CANDIDATES), [0.9375, 1 - 5 / 51])


def test_multi_target_with_one_target_equals_single_target():
    ks = [1, 2, 5, 10]
    single = m.single_target_metrics(RANKS, CANDIDATES, ks)
    multi = m.multi_target_metrics(RANKS[:, None], CANDIDATES, ks)
    assert set(single) == set(multi)
    for name in single:
        np.testing.assert_allclose(multi[name], single[name], err_msg=name)


def test_multi_target_needs_a_target():
    with pytest.raises(ValueError, match="no targets"):
        m.multi_recall(np.array([[0, 0]]), 5)


def test_positions_from_topk():
    # List [5, 3, 2]; targets 3 (position 2), 9 (absent -> K + 1 = 4), a repeated 3 and padding -> 0.
    pos = m.positions_from_topk(np.array([[5, 3, 2]]), np.array([[3, 9, 3, 0]]))
    assert pos.tolist() == [[2, 4, 0, 0]]
    # Ragged lists are accepted too.
    pos = m.positions_from_topk(np.array([[5, 3, 2], [2, 4, 6]]), [[2], [6, 4]])
    assert pos.tolist() == [[3, 0], [3, 2]]
    np.testing.assert_allclose(m.multi_recall(pos, 2), [0, 0.5])


# -------------------------------------------------------------------------------- catalogue
def test_coverage():
    # Real items 2..5 (num_items = 4); lists recommend {2, 3} (0 is an empty slot) -> 2/4.
    assert m.coverage(np.array([[2, 3], [3, 0]]), 4) == 0.5
    assert m.coverage(np.array([[2, 3], [4, 5]]), 4) == 1.0


def test_popularity_percentiles_and_bias():
    counts = [0, 0, 10, 5, 5, 1]
    # n = 4 real items with counts 10, 5, 5, 1: item 2: 3 below -> 3/3 = 1; items 3, 4: 1 below, 2 equal
    # -> (1 + 1/2) / 3 = 0.5; item 5: 0.
    pct = m.popularity_percentiles(counts)
    assert np.isnan(pct[:2]).all()
    np.testing.assert_allclose(pct[2:], [1, 0.5, 0.5, 0])
    bias = m.popularity_bias(np.array([[2, 3], [2, 5]]), counts)
    # Mean percentile of 2, 3, 2, 5 = (1 + 0.5 + 1 + 0) / 4 = 0.625.
    assert bias.mean_percentile == pytest.approx(0.625)
    # Frequencies of items 2..5 = [2, 1, 0, 1] -> ascending [0, 1, 1, 2], n = 4, sum 4:
    # sum (2i - 5) x_i = -3*0 - 1*1 + 1*1 + 3*2 = 6 -> 6 / (4 * 4) = 0.375.
    assert bias.gini == pytest.approx(0.375)
    assert m.popularity_percentiles([0, 0, 7, 7, 7])[2:].tolist() == [0.5, 0.5, 0.5]  # All tied.


def test_gini():
    assert m.gini([3, 3, 3]) == 0.0
    # One of 4 holds everything: 3 * 5 / (4 * 5) = 0.75 = (n - 1) / n.
    assert m.gini([0, 0, 0, 5]) == pytest.approx(0.75)
    assert m.gini([0, 0]) == 0.0
