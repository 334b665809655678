"""Paired significance tests, bootstrap intervals and Holm: agreement with scipy (to 1e-9) on fixed seeded
inputs, including the method that ``"auto"`` resolves to, and cases computed independently of scipy -- tiny
ones by hand (the arithmetic is in the comments), sign flips by brute-force enumeration, resamples drawn
directly."""

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

from tfseqrec.evaluation import stats

ALTERNATIVES = ["two-sided", "less", "greater"]
TOL = dict(rtol=1e-9, atol=1e-12)


def _rng(seed):
    return np.random.default_rng(seed)


def _metric_like(rng, n, shift):
    """Per-user values like NDCG: many exact zeros and ones (ties, zero differences) plus fractions."""

    def one(p_hit):
        hit = rng.random(n) < p_hit
        frac = np.round(1.0 / np.log2(rng.integers(2, 12, size=n)), 3)  # few distinct values -> ties
        return np.where(hit, frac, 0.0)

    return one(0.3 + shift), one(0.3)


def _datasets():
    """name -> (a, b): fixed seeded paired inputs covering every branch of scipy's method="auto"."""
    out = {}
    r = _rng(0)
    out["small_distinct_9"] = (r.normal(size=9), r.normal(0.5, 1, size=9))  # auto: exact
    r = _rng(1)
    out["small_ties_zeros_8"] = (
        r.integers(0, 4, 8).astype(float),  # auto: permutation
        r.integers(0, 4, 8).astype(float),
    )
    r = _rng(2)
    out["ties_only_7"] = (r.integers(1, 5, 7) * 0.5, np.zeros(7))  # auto: permutation
    r = _rng(3)
    out["ties_zeros_14"] = (
        r.integers(0, 5, 14).astype(float),  # auto: asymptotic
        r.integers(0, 5, 14).astype(float),
    )
    r = _rng(17)
    out["ties_zeros_30"] = (
        r.integers(0, 5, 30).astype(float),  # auto: asymptotic
        r.integers(0, 5, 30).astype(float),
    )
    r = _rng(4)
    out["distinct_50"] = (r.normal(size=50), r.normal(0.3, 1, size=50))  # auto: exact (<= 50)
    r = _rng(5)
    out["distinct_51"] = (r.normal(size=51), r.normal(0.3, 1, size=51))  # auto: asymptotic
    r = _rng(6)
    a = r.normal(size=52)
    b = a + r.normal(0.2, 1, size=52)
    b[:5] = a[:5]  # 47 nonzero differences, but scipy's threshold counts all 52 pairs -> asymptotic
    out["distinct_zeros_52"] = (a, b)
    out["metric_like_400"] = _metric_like(_rng(7), 400, 0.05)  # auto: asymptotic
    return out


DATA = _datasets()
AUTO_CHOICE = {
    "small_distinct_9": "exact",
    "small_ties_zeros_8": "permutation",
    "ties_only_7": "permutation",
    "ties_zeros_14": "asymptotic",
    "ties_zeros_30": "asymptotic",
    "distinct_50": "exact",
    "distinct_51": "asymptotic",
    "distinct_zeros_52": "asymptotic",
    "metric_like_400": "asymptotic",
}


def _assert_matches(mine, ref):
    np.testing.assert_allclose(mine.statistic, float(ref.statistic), **TOL)
    np.testing.assert_allclose(mine.pvalue, float(ref.pvalue), **TOL)


# ----------------------------------------------------------------------------- scipy agreement
def test_datasets_have_the_intended_ties_and_zeros():
    for name in ("small_ties_zeros_8", "ties_zeros_14"):
        d = DATA[name][0] - DATA[name][1]
        assert (d == 0).any() and len(np.unique(np.abs(d[d != 0]))) < (d != 0).sum()
    d = DATA["ties_only_7"][0] - DATA["ties_only_7"][1]
    assert (d != 0).all() and len(np.unique(np.abs(d))) < len(d)
    d = DATA["metric_like_400"][0] - DATA["metric_like_400"][1]
    assert (d == 0).sum() > 100 and len(np.unique(np.abs(d[d != 0]))) < (d != 0).sum() / 2
    for name in ("small_distinct_9", "distinct_50", "distinct_51"):
        d = DATA[name][0] - DATA[name][1]
        assert (d != 0).all() and len(np.unique(np.abs(d))) == len(d)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("name", [*DATA, "n2", "n6040"])
def test_ttest_matches_scipy(name, alternative):
    if name == "n2":
        a, b = np.array([0.3, 0.9]), np.array([0.1, 0.2])
    elif name == "n6040":
        a, b = _metric_like(_rng(8), 6040, 0.02)
    else:
        a, b = DATA[name]
    mine = stats.paired_ttest(a, b, alternative=alternative)
    _assert_matches(mine, scipy.stats.ttest_rel(a, b, alternative=alternative))
    assert (mine.n, mine.method) == (len(a), "paired t-test")


@pytest.mark.parametrize("method", ["auto", "exact", "asymptotic"])
@pytest.mark.parametrize("correction", [False, True])
@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
@pytest.mark.parametrize("name", list(DATA))
def test_wilcoxon_matches_scipy(name, zero_method, correction, method):
    a, b = DATA[name]
    for alternative in ALTERNATIVES:
        mine = stats.wilcoxon_signed_rank(
            a, b, alternative=alternative, zero_method=zero_method, correction=correction, method=method
        )
        ref = scipy.stats.wilcoxon(
            a, b, zero_method=zero_method, correction=correction, alternative=alternative, method=method
        )
        _assert_matches(mine, ref)


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
@pytest.mark.parametrize("name", ["distinct_7", "small_ties_zeros_8", "ties_only_7"])
def test_wilcoxon_permutation_matches_scipy_exhaustive_permutation(name, zero_method):
    # "permutation" is scipy's exhaustive permutation test (method=PermutationMethod(n_resamples=inf)).
    a, b = (DATA["small_distinct_9"][0][:7], DATA["small_distinct_9"][1][:7]) if name == "distinct_7" else DATA[name]
    for alternative in ALTERNATIVES:
        mine = stats.wilcoxon_signed_rank(a, b, alternative, zero_method, method="permutation")
        ref = scipy.stats.wilcoxon(
            a,
            b,
            zero_method=zero_method,
            alternative=alternative,
            method=scipy.stats.PermutationMethod(n_resamples=np.inf),
        )
        _assert_matches(mine, ref)
        assert mine.method == "Wilcoxon signed-rank (exact permutation)"


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_wilcoxon_permutation_matches_brute_force_sign_flips(zero_method):
    # 10 pairs with ties and zeros: enumerate the 2**7 sign patterns of the nonzero differences directly.
    r = _rng(9)
    d = r.integers(1, 4, 10) * r.choice([-1.0, 1.0], 10)
    d[[2, 5, 8]] = 0.0  # three zeros (a tie group of their own)
    kept = d if zero_method != "wilcox" else d[d != 0]
    ranks = scipy.stats.rankdata(np.abs(kept))
    nonzero = kept != 0
    constant = ranks[~nonzero].sum() / 2 if zero_method == "zsplit" else 0.0
    observed = ranks[kept > 0].sum() + constant
    signs = (np.arange(2 ** nonzero.sum())[:, None] >> np.arange(nonzero.sum())) & 1  # [patterns, nonzero]
    null = signs @ ranks[nonzero] + constant  # R+ of every pattern
    less, greater = np.mean(null <= observed), np.mean(null >= observed)
    expected = {"less": less, "greater": greater, "two-sided": min(1.0, 2 * min(less, greater))}
    for alternative in ALTERNATIVES:
        res = stats.wilcoxon_signed_rank(d, np.zeros(10), alternative, zero_method, method="permutation")
        assert res.pvalue == pytest.approx(expected[alternative], rel=1e-12)


@pytest.mark.parametrize("n", [13, 14])
def test_auto_permutation_boundary_matches_scipy(n):
    # With ties, scipy's "auto" enumerates sign flips up to 13 pairs and switches to the normal approximation
    # at 14 (at 13 each call enumerates 2**13 sign flips: ~1 s).
    r = _rng(18)
    a, b = r.integers(0, 4, n).astype(float), r.integers(0, 4, n).astype(float)
    mine = stats.wilcoxon_signed_rank(a, b)
    _assert_matches(mine, scipy.stats.wilcoxon(a, b))
    assert mine.method.endswith("(exact permutation)" if n == 13 else "(normal approximation)")


@pytest.mark.parametrize("name", list(DATA))
def test_auto_picks_scipys_method(name):
    # scipy 1.17 docs: exact when len(d) <= 50 without ties/zeros; with ties or zeros, an exhaustive
    # permutation test when len(d) <= 13, else asymptotic; len(d) counts the zero differences too.
    a, b = DATA[name]
    expected = {
        "exact": "Wilcoxon signed-rank (exact)",
        "permutation": "Wilcoxon signed-rank (exact permutation)",
        "asymptotic": "Wilcoxon signed-rank (normal approximation)",
    }[AUTO_CHOICE[name]]
    assert stats.wilcoxon_signed_rank(a, b).method == expected


def test_wilcoxon_n_counts_the_pairs_used():
    a, b = DATA["distinct_zeros_52"]
    assert stats.wilcoxon_signed_rank(a, b).n == 47  # wilcox drops the 5 zeros
    assert stats.wilcoxon_signed_rank(a, b, zero_method="pratt").n == 52
    assert stats.wilcoxon_signed_rank(a, b, zero_method="zsplit").n == 52


# ----------------------------------------------------------------------------- hand-computed cases
def test_ttest_by_hand_four_pairs():
    # d = [5-3, 7-4, 6-6, 9-5] = [2, 3, 0, 4]; mean 2.25; squared deviations 0.0625 + 0.5625 + 5.0625 + 3.0625
    # = 8.75; var = 8.75 / 3; se = sqrt(var / 4) = sqrt(0.729167) = 0.853913; t = 2.25 / se = 2.634930
    # df = 3: F(t) = 1/2 + (u / (1 + u^2) + atan(u)) / pi with u = t / sqrt(3) = 1.521278, so the two-sided
    # p = 1 - 2 (u / (1 + u^2) + atan(u)) / pi = 1 - 2 (0.459006 + 0.989277) / pi = 0.077994
    t = 2.25 / math.sqrt(8.75 / 3 / 4)
    u = t / math.sqrt(3)
    upper = 0.5 - (u / (1 + u * u) + math.atan(u)) / math.pi
    res = stats.paired_ttest([5, 7, 6, 9], [3, 4, 6, 5])
    assert res.statistic == pytest.approx(2.634930, abs=1e-6)
    assert res.statistic == pytest.approx(t, rel=1e-12)
    assert res.pvalue == pytest.approx(2 * upper, rel=1e-12)
    assert res.pvalue == pytest.approx(0.077994, abs=1e-6)
    assert stats.paired_ttest([5, 7, 6, 9], [3, 4, 6, 5], "greater").pvalue == pytest.approx(upper, rel=1e-12)
    assert stats.paired_ttest([5, 7, 6, 9], [3, 4, 6, 5], "less").pvalue == pytest.approx(1 - upper, rel=1e-12)
    # Swapping the models flips the sign of t and swaps the one-sided p-values.
    swapped = stats.paired_ttest([3, 4, 6, 5], [5, 7, 6, 9], "less")
    assert swapped.statistic == pytest.approx(-t) and swapped.pvalue == pytest.approx(upper, rel=1e-12)


def test_ttest_by_hand_two_pairs_is_cauchy():
    # d = [1, 3]: mean 2, var (1 + 1) / 1 = 2, se = sqrt(2 / 2) = 1 -> t = 2; df = 1 is the Cauchy law:
    # two-sided p = 1 - 2 atan(2) / pi = 0.295167...
    res = stats.paired_ttest([1, 3], [0, 0])
    assert (res.statistic, res.n) == (pytest.approx(2.0), 2)
    assert res.pvalue == pytest.approx(1 - 2 * math.atan(2) / math.pi, rel=1e-12)


def test_ttest_identical_and_constant_differences():
    # All differences zero: scipy gives NaN (0 / 0); we document statistic 0 and p-value 1.
    a = [0.1, 0.5, 0.5, 1.0]
    for alternative in ALTERNATIVES:
        assert stats.paired_ttest(a, a, alternative) == stats.TestResult(0.0, 1.0, 4, "paired t-test")
    # Constant nonzero differences: zero variance, t = +inf, like scipy.
    res = stats.paired_ttest([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert res.statistic == math.inf and res.pvalue == 0.0
    assert stats.paired_ttest([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], "less").pvalue == 1.0


def test_wilcoxon_exact_by_hand():
    # d = [1, -2, 3, 4, 5]: ranks 1..5, R+ = 1 + 3 + 4 + 5 = 13, R- = 2. Of the 32 sign patterns, those with
    # R- <= 2 are {}, {1}, {2}: 3 -> greater p = 3/32, two-sided 6/32. less = P(R+ <= 13) = 1 - P(R- <= 1) = 30/32.
    a, b = [1, -2, 3, 4, 5], [0, 0, 0, 0, 0]
    res = stats.wilcoxon_signed_rank(a, b)
    assert res == stats.TestResult(2.0, 6 / 32, 5, "Wilcoxon signed-rank (exact)")
    assert stats.wilcoxon_signed_rank(a, b, "greater") == stats.TestResult(13.0, 3 / 32, 5, res.method)
    assert stats.wilcoxon_signed_rank(a, b, "less").pvalue == 30 / 32


def test_wilcoxon_normal_approximation_with_ties_by_hand():
    # d = [1, 1, -1, 2, 0], zeros dropped: |d| = [1, 1, 1, 2] -> ranks 2, 2, 2, 4; R+ = 8, R- = 2, n = 4.
    # mean = 4*5/4 = 5; var = (4*5*9 - (3^3 - 3)/2) / 24 = (180 - 12) / 24 = 7; z = 3 / sqrt(7).
    a, b = [1, 1, -1, 2, 0], [0, 0, 0, 0, 0]
    z = 3 / math.sqrt(7)
    res = stats.wilcoxon_signed_rank(a, b, method="asymptotic")
    assert (res.statistic, res.n) == (2.0, 4)
    assert res.pvalue == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    # Continuity correction: z moves 0.5 / sqrt(7) toward 0.
    corrected = stats.wilcoxon_signed_rank(a, b, method="asymptotic", correction=True)
    assert corrected.pvalue == pytest.approx(math.erfc(2.5 / math.sqrt(7) / math.sqrt(2)), rel=1e-12)


def test_wilcoxon_pratt_and_zsplit_by_hand():
    # d = [0, 1, -2, 3, 3]: |d| ranks 1, 2, 3, 4.5, 4.5.
    # pratt: R+ = 2 + 4.5 + 4.5 = 11, R- = 3; mean = 5*6/4 - 1*2/4 = 7; var = (330 - 1*2*3 - (8 - 2)/2) / 24
    #   = 321 / 24; z = 4 / sqrt(321 / 24).
    # zsplit: the zero's rank 1 is split -> R+ = 11.5, R- = 3.5; mean = 7.5; var = (330 - 3) / 24 = 327 / 24.
    a, b = [0, 1, -2, 3, 3], [0, 0, 0, 0, 0]
    pratt = stats.wilcoxon_signed_rank(a, b, zero_method="pratt", method="asymptotic")
    assert (pratt.statistic, pratt.n) == (3.0, 5)
    assert pratt.pvalue == pytest.approx(math.erfc(4 / math.sqrt(321 / 24) / math.sqrt(2)), rel=1e-12)
    zsplit = stats.wilcoxon_signed_rank(a, b, "greater", zero_method="zsplit", method="asymptotic")
    assert zsplit.statistic == 11.5
    assert zsplit.pvalue == pytest.approx(0.5 * math.erfc(4 / math.sqrt(327 / 24) / math.sqrt(2)), rel=1e-12)


def test_wilcoxon_permutation_by_hand():
    # d = [1, 1, 2]: ranks 1.5, 1.5, 3 (tie -> auto picks the permutation test). R+ = 6 is reached only by
    # the all-positive pattern: greater = 1/8, two-sided = 2/8, less = 1; statistic min(6, 0) = 0.
    res = stats.wilcoxon_signed_rank([1, 1, 2], [0, 0, 0])
    assert res == stats.TestResult(0.0, 0.25, 3, "Wilcoxon signed-rank (exact permutation)")
    assert stats.wilcoxon_signed_rank([1, 1, 2], [0, 0, 0], "greater").pvalue == 1 / 8
    # d = [1, 1, -2]: R+ = 3; the 8 R+ values are 0, 1.5, 1.5, 3, 3, 4.5, 4.5, 6 -> P(<= 3) = P(>= 3) = 5/8.
    assert stats.wilcoxon_signed_rank([1, 1, -2], [0, 0, 0], "greater").pvalue == 5 / 8
    assert stats.wilcoxon_signed_rank([1, 1, -2], [0, 0, 0]).pvalue == 1.0


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
@pytest.mark.parametrize("n", [5, 60])
def test_wilcoxon_identical_arrays_give_pvalue_one(zero_method, n):
    # scipy gives NaN with the normal approximation (zero variance) for wilcox/pratt; we document 1.0.
    a = np.linspace(0, 1, n)
    res = stats.wilcoxon_signed_rank(a, a, zero_method=zero_method)
    assert res.pvalue == 1.0
    assert res.n == (0 if zero_method == "wilcox" else n)


# ----------------------------------------------------------------------------- Holm
def test_holm_by_hand():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.02, 0.03, 0.06, 0.06;
    # back in input order [0.01, 0.04, 0.03, 0.005] -> [0.03, 0.06, 0.06, 0.02].
    np.testing.assert_allclose(stats.holm_correction([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # Capped at 1: 0.5*2 = 1.0, then max(1.0, 0.6) = 1.0.
    np.testing.assert_allclose(stats.holm_correction([0.6, 0.5]), [1.0, 1.0])
    assert stats.holm_correction([0.2]).tolist() == [0.2]
    assert stats.holm_correction([]).shape == (0,)


def test_holm_is_monotone_and_never_below_the_raw_pvalues():
    p = _rng(10).random(30) ** 3
    adjusted = stats.holm_correction(p)
    order = np.argsort(p)
    assert (np.diff(adjusted[order]) >= 0).all()
    assert (adjusted >= p).all() and (adjusted <= 1).all()


def test_holm_rejects_invalid_pvalues():
    with pytest.raises(ValueError, match="without NaN"):
        stats.holm_correction([0.1, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm_correction([0.1, 1.5])


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_is_reproducible_and_seeded():
    values = _rng(11).exponential(size=500)
    ci = stats.bootstrap_ci(values, seed=3, num_resamples=2000)
    assert stats.bootstrap_ci(values, seed=3, num_resamples=2000) == ci
    assert stats.bootstrap_ci(values, seed=4, num_resamples=2000) != ci


def test_bootstrap_is_the_percentile_method():
    # One chunk: the resamples are rng.integers(0, n, (num_resamples, n)) rows; the CI is their 2.5/97.5% quantiles.
    values = _rng(12).normal(size=40)
    rng = np.random.default_rng(5)
    means = values[rng.integers(0, 40, size=(999, 40))].mean(axis=1)
    expected = np.quantile(means, [0.05, 0.95])
    np.testing.assert_allclose(stats.bootstrap_ci(values, 0.9, 999, seed=5), expected, rtol=1e-12)


def test_bootstrap_contains_the_mean_and_matches_normal_theory():
    values = _rng(13).normal(0.3, 1.0, size=2000)
    low, high = stats.bootstrap_ci(values, num_resamples=4000)
    assert low < values.mean() < high
    half_width = 1.959964 * values.std(ddof=1) / math.sqrt(len(values))
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)
    narrow = stats.bootstrap_ci(values, confidence=0.5, num_resamples=4000)
    assert low < narrow[0] < narrow[1] < high
    med_low, med_high = stats.bootstrap_ci(values, statistic=np.median, num_resamples=1000)
    assert med_low < np.median(values) < med_high


def test_bootstrap_on_movielens_sized_inputs():
    # 10,000 resamples of 6,040 users (ML-1M), the size every report bootstraps
    values = _rng(14).random(6040)
    low, high = stats.bootstrap_ci(values)
    assert low < values.mean() < high
    assert high - low < 6 * values.std() / np.sqrt(values.size)  # about 2 x 1.96 standard errors


def test_paired_bootstrap_ci():
    r = _rng(15)
    b = r.random(800)
    a = np.clip(b + 0.05 + r.normal(0, 0.1, 800), 0, 1)  # clearly better, same users
    low, high = stats.paired_bootstrap_ci(a, b, num_resamples=3000)
    assert 0 < low < np.mean(a - b) < high
    assert stats.paired_bootstrap_ci(a, b, num_resamples=3000) == stats.bootstrap_ci(a - b, num_resamples=3000)
    # Same model twice: the interval is the single point 0.
    assert stats.paired_bootstrap_ci(b, b, num_resamples=100) == (0.0, 0.0)


def test_bootstrap_errors():
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match="num_resamples"):
        stats.bootstrap_ci([1.0, 2.0], num_resamples=0)
    with pytest.raises(ValueError, match="at least 2 values"):
        stats.bootstrap_ci([1.0])
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci([1.0, np.nan])
    with pytest.raises(ValueError, match="axis=1"):
        stats.bootstrap_ci([1.0, 2.0, 3.0], statistic=lambda x, axis: float(np.mean(x)))
    with pytest.raises(ValueError, match="same length"):
        stats.paired_bootstrap_ci([1.0, 2.0], [1.0, 2.0, 3.0])


# ----------------------------------------------------------------------------- report rows
def test_compare_and_compare_all():
    r = _rng(16)
    base = r.random(300)
    better = np.clip(base + 0.03 + r.normal(0, 0.05, 300), 0, 1)
    same = base.copy()
    row1 = stats.compare(better, base, "SASRec", "GRU4Rec", "ndcg@10", num_resamples=500)
    row2 = stats.compare(same, base, "GRU4Rec-copy", "GRU4Rec", "ndcg@10", num_resamples=500)
    assert (row1.mean_a, row1.mean_b) == (pytest.approx(better.mean()), pytest.approx(base.mean()))
    assert row1.mean_diff == pytest.approx(better.mean() - base.mean())
    assert row1.diff_ci == stats.paired_bootstrap_ci(better, base, num_resamples=500)
    assert row1.ttest == stats.paired_ttest(better, base)
    assert row1.wilcoxon == stats.wilcoxon_signed_rank(better, base)
    assert row1.pvalue_holm is None
    assert row2.wilcoxon.pvalue == 1.0 and row2.diff_ci == (0.0, 0.0)

    rows = stats.compare_all([row1, row2])
    # Holm over the Wilcoxon p-values: [p1, 1.0] -> [2 p1 (capped at 1), 1.0].
    assert [c.pvalue_holm for c in rows] == [min(1.0, 2 * row1.wilcoxon.pvalue), 1.0]
    assert [dataclasses.replace(c, pvalue_holm=None) for c in rows] == [row1, row2]
    assert row1.pvalue_holm is None  # the inputs are not modified
    assert stats.compare_all([]) == []


def test_compare_validates_its_inputs():
    with pytest.raises(ValueError, match="same length"):
        stats.compare(np.zeros(3), np.zeros(4), "a", "b", "hr@10")


# ----------------------------------------------------------------------------- input errors
@pytest.mark.parametrize("test", [stats.paired_ttest, stats.wilcoxon_signed_rank])
def test_input_errors(test):
    with pytest.raises(ValueError, match="same length"):
        test([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        test([1.0], [2.0])
    with pytest.raises(ValueError, match=r"`a` contains 1 NaN value\(s\) \(first at index 1\)"):
        test([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="`b` contains 1 infinite"):
        test([1.0, 2.0, 3.0], [1.0, np.inf, 3.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        test(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="`alternative` must be one of 'two-sided', 'less', 'greater'; got 'bigger'"):
        test([1.0, 2.0], [0.0, 0.0], alternative="bigger")


def test_wilcoxon_option_errors():
    a, b = [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="`zero_method`"):
        stats.wilcoxon_signed_rank(a, b, zero_method="drop")
    with pytest.raises(ValueError, match="`method`"):
        stats.wilcoxon_signed_rank(a, b, method="approx")
    with pytest.raises(ValueError, match="`correction`"):
        stats.wilcoxon_signed_rank(a, b, correction="yes")
    with pytest.raises(ValueError, match="limited to 1000 pairs"):
        stats.wilcoxon_signed_rank(np.arange(1.0, 1002.0), np.zeros(1001), method="exact")
    with pytest.raises(ValueError, match=r"method='permutation' is limited to 16 pairs .* got 17"):
        stats.wilcoxon_signed_rank(np.arange(1.0, 18.0), np.zeros(17), method="permutation")
    with pytest.raises(ValueError, match="got 17"):  # zeros count too: scipy flips the sign of every pair
        stats.wilcoxon_signed_rank(np.r_[np.arange(1.0, 11.0), np.zeros(7)], np.zeros(17), method="permutation")


def test_import_does_not_load_tensorflow():
    code = (
        "import sys; from tfseqrec.evaluation import stats; assert 'tensorflow' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
