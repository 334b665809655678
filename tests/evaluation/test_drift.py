"""Drift figures by hand: PSI, Jensen-Shannon and its noise floor, popularity buckets, length bins, and the
thresholds ``compare`` flags."""

import math

import numpy as np
import pytest

from tfseqrec.evaluation.drift import (
    Profile,
    Thresholds,
    compare,
    js_divergence,
    js_noise_floor,
    length_counts,
    length_edges,
    popularity_buckets,
    psi,
)


def test_psi_by_hand():
    # shares 0.5 / 0.5 against 0.8 / 0.2
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi([5, 5], [8, 2]) == pytest.approx(expected)
    assert psi([3, 7], [30, 70]) == pytest.approx(0.0)
    # an empty bin counts as a share of 1e-4, not infinity
    assert psi([1, 1], [2, 0]) == pytest.approx((1 - 0.5) * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5))
    assert math.isnan(psi([0, 0], [1, 1]))


def test_jensen_shannon_is_zero_for_equal_and_one_for_disjoint_distributions():
    assert js_divergence([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    # [0.5, 0.5] against [1, 0]: M = [0.75, 0.25]; KL(P||M) = 0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25)
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    assert js_divergence([1, 1], [1, 0]) == pytest.approx(0.5 * (kl_p + kl_q))


def test_the_noise_floor_shrinks_with_the_sample_and_sits_below_a_real_shift():
    reference = np.arange(1, 201, dtype=np.float64)[::-1]  # a long tail
    small, large = js_noise_floor(reference, 100), js_noise_floor(reference, 100_000)
    assert large < small
    shifted = np.zeros_like(reference)
    shifted[-20:] = 5  # 100 items, all from the tail
    assert js_divergence(reference, shifted) > 2 * small


def test_popularity_buckets_hold_tenths_of_the_interactions_head_first():
    counts = np.array([50, 0, 20, 10, 10, 5, 5])  # 100 interactions
    buckets = popularity_buckets(counts, buckets=4)
    # sorted, with the share before each: 50 (0) 20 (0.5) 10 (0.7) 10 (0.8) 5 (0.9) 5 (0.95); unseen last
    assert buckets.tolist() == [0, 3, 2, 2, 3, 3, 3]
    assert popularity_buckets(np.array([25, 25, 25, 25]), buckets=4).tolist() == [0, 1, 2, 3]


def test_length_bins_follow_the_training_deciles():
    edges = length_edges(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), bins=2)
    assert edges.tolist() == [-np.inf, 5.5, np.inf]
    assert length_counts(np.array([1, 5, 6, 100]), edges).tolist() == [2, 2]


def _profile(counts, lengths, types=None, oov=0):
    return Profile(np.asarray(counts, np.int64), np.asarray(lengths), types or {}, oov)


def test_compare_flags_only_what_is_over_its_threshold():
    reference = _profile([0, 0] + [40, 30, 20, 10] * 5, [5, 10, 20, 40] * 25, {1: 90, 2: 10})
    same = _profile([0, 0] + [40, 30, 20, 10] * 5, [5, 10, 20, 40] * 25, {1: 90, 2: 10})
    result = compare(reference, same)
    assert result["exceeded"] == {} and result["figures"]["oov_rate"] == 0.0
    assert result["figures"]["popularity_psi"] == pytest.approx(0.0, abs=1e-9)
    shifted = _profile([0, 0] + [0, 0, 0, 10] * 5, [200] * 50, {2: 100}, oov=50)
    result = compare(reference, shifted, Thresholds(max_psi=0.25, max_js=0.05, max_oov_rate=0.1))
    assert set(result["exceeded"]) == {"popularity_psi", "length_psi", "event_type_psi", "oov_rate", "item_js_excess"}
    assert result["figures"]["oov_rate"] == pytest.approx(50 / 100)
    assert result["counts"]["served_items"] == 100 and result["counts"]["served_oov"] == 50
    loose = compare(reference, shifted, Thresholds(max_psi=None, max_js=None, max_oov_rate=0.6))
    assert loose["exceeded"] == {}
