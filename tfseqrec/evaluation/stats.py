"""Significance tests and confidence intervals for comparing two models on the same users.

Every input is a per-user metric array of shape ``[num_users]`` (e.g. the NDCG@10 of each user). Two
arrays ``a`` and ``b`` are *paired*: ``a[i]`` and ``b[i]`` are the same user scored by two models, so the
tests work on the differences ``d = a - b`` and never on the two samples separately.

* :func:`paired_ttest` -- Student's paired t-test (``scipy.stats.ttest_rel``).
* :func:`wilcoxon_signed_rank` -- the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, including its
  ``method="auto"`` choice, which is resolved here so that the result names the method used). Per-user
  ranking metrics are bounded, skewed and full of ties and zeros, so this is the test the reports correct
  for multiple comparisons (see :func:`compare_all`).
* :func:`bootstrap_ci`, :func:`paired_bootstrap_ci` -- percentile bootstrap intervals
  (``scipy.stats.bootstrap``), seeded.
* :func:`holm_correction` -- Holm-Bonferroni adjusted p-values.
* :func:`compare`, :func:`compare_all` -- one row of a report's comparison table, and the Holm column.

The distributions come from SciPy; this module adds input validation, defined results for degenerate
inputs (identical arrays give p-value 1 rather than NaN) and the report rows. It does not import TensorFlow.

``alternative`` follows scipy: ``"greater"`` means the differences ``a - b`` tend to be positive
(model ``a`` is better on a higher-is-better metric), ``"less"`` the opposite.

Inputs are validated: 1-D, the same length, at least 2 pairs, no NaN or infinite values
(``ValueError`` naming the problem). Drop or fill users with undefined metrics before testing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import numpy as np
import scipy.stats

__all__ = [
    "TestResult",
    "paired_ttest",
    "wilcoxon_signed_rank",
    "bootstrap_ci",
    "paired_bootstrap_ci",
    "holm_correction",
    "Comparison",
    "compare",
    "compare_all",
]

ALTERNATIVES = ("two-sided", "less", "greater")
ZERO_METHODS = ("wilcox", "pratt", "zsplit")
WILCOXON_METHODS = ("auto", "exact", "asymptotic", "permutation")

# scipy's method="auto" rule (scipy >= 1.13): more than 50 pairs (zeros included) -> normal approximation;
# otherwise exact when there are no ties and no zeros; with ties or zeros an exhaustive sign-flip
# permutation test up to 13 pairs (2**13 flips, fewer than scipy's 9999 resamples), else normal.
_AUTO_EXACT_MAX_PAIRS = 50
_AUTO_PERMUTATION_MAX_PAIRS = 13
# scipy's exact null distribution costs O(n**3) work: past this it is refused.
_MAX_EXACT_PAIRS = 1000
# scipy's exhaustive permutation test enumerates 2**n sign flips (~10 s for 16 pairs): past this it is refused.
_MAX_PERMUTATION_PAIRS = 16
# Bootstrap resamples are drawn as [rows, n] index blocks of about this many elements (~16 MB).
_BOOTSTRAP_CHUNK_ELEMENTS = 1 << 21

_METHOD_NAMES = {
    "exact": "Wilcoxon signed-rank (exact)",
    "asymptotic": "Wilcoxon signed-rank (normal approximation)",
    "permutation": "Wilcoxon signed-rank (exact permutation)",
}


@dataclasses.dataclass(frozen=True)
class TestResult:
    """The outcome of one paired test.

    ``statistic``: the t statistic, or the Wilcoxon statistic (``min(R+, R-)`` for two-sided tests,
    ``R+`` otherwise, as scipy reports it). ``n``: the pairs used (the Wilcoxon ``"wilcox"`` zero
    method drops the users whose difference is zero). ``method``: a readable name for reports.
    """

    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    pvalue: float
    n: int
    method: str


# ----------------------------------------------------------------------------- validation
def _as_1d(values, name: str) -> np.ndarray:
    """``values`` as a float64 array ``[num_users]``; ValueError if it is not 1-D or not finite."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional ([num_users]), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        nan = np.isnan(arr)
        kind, bad = ("NaN", nan) if nan.any() else ("infinite", ~np.isfinite(arr))
        raise ValueError(
            f"`{name}` contains {int(bad.sum())} {kind} value(s) (first at index "
            f"{int(np.flatnonzero(bad)[0])}); drop or fill those users before testing"
        )
    return arr


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Validated paired arrays ``[num_users]``: equal lengths, at least 2 pairs."""
    a, b = _as_1d(a, "a"), _as_1d(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"`a` and `b` must have the same length (one value per user for both models), "
            f"got {a.shape[0]} and {b.shape[0]}"
        )
    if a.shape[0] < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {a.shape[0]}")
    return a, b


def _check_choice(value, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def _check_bootstrap_args(confidence, num_resamples) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be strictly between 0 and 1, got {confidence!r}")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, (int, np.integer)) or num_resamples < 1:
        raise ValueError(f"`num_resamples` must be a positive integer, got {num_resamples!r}")


# ----------------------------------------------------------------------------- paired t-test
def paired_ttest(a, b, alternative: str = "two-sided") -> TestResult:
    """Student's paired t-test of ``mean(a - b) = 0``, with ``a``, ``b`` of shape ``[num_users]``.

    ``t = mean(d) / (std(d, ddof=1) / sqrt(n))`` with ``n - 1`` degrees of freedom, from
    ``scipy.stats.ttest_rel``.

    Deliberate difference from scipy: when every difference is zero (identical arrays) scipy returns NaN
    (0 / 0); we return ``statistic=0.0, pvalue=1.0`` -- the data show no difference at all, and a NaN
    would poison the report table and the Holm correction. Constant nonzero differences give
    ``t = +-inf`` and p-value 0 (or 1 for the opposite one-sided alternative), like scipy, without its
    precision warning.
    """
    _check_choice(alternative, "alternative", ALTERNATIVES)
    a, b = _paired(a, b)
    d = a - b
    n = d.shape[0]
    if not d.any():
        return TestResult(0.0, 1.0, n, "paired t-test")
    if (d == d[0]).all():  # zero variance, nonzero mean
        t = math.copysign(math.inf, d[0])
        greater = 0.0 if t > 0 else 1.0  # P(T >= t)
        pvalue = {"greater": greater, "less": 1.0 - greater, "two-sided": 0.0}[alternative]
        return TestResult(t, pvalue, n, "paired t-test")
    res = scipy.stats.ttest_rel(a, b, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue), n, "paired t-test")


# ----------------------------------------------------------------------------- Wilcoxon signed-rank
def _auto_method(d: np.ndarray) -> str:
    """The concrete method scipy's ``method="auto"`` uses for the differences ``d`` ``[num_pairs]``."""
    if d.shape[0] > _AUTO_EXACT_MAX_PAIRS:
        return "asymptotic"
    nonzero = np.abs(d[d != 0])
    has_ties = np.unique(nonzero).shape[0] < nonzero.shape[0]
    if not has_ties and nonzero.shape[0] == d.shape[0]:
        return "exact"
    return "permutation" if d.shape[0] <= _AUTO_PERMUTATION_MAX_PAIRS else "asymptotic"


def wilcoxon_signed_rank(
    a, b, alternative: str = "two-sided", zero_method: str = "wilcox", correction: bool = False, method: str = "auto"
) -> TestResult:
    """Wilcoxon signed-rank test of whether ``d = a - b`` is symmetric about zero (``a``, ``b``: ``[num_users]``).

    The absolute differences are ranked (ties share their average rank); ``R+`` / ``R-`` are the rank sums
    of the positive / negative differences. Statistic and p-value are ``scipy.stats.wilcoxon``'s.

    ``zero_method`` (users whose two metrics are equal):
      * ``"wilcox"`` drops them before ranking (``n`` counts only the nonzero differences);
      * ``"pratt"`` ranks them with the others, then drops their ranks (Cureton's normal approximation);
      * ``"zsplit"`` ranks them and adds half of their ranks to ``R+`` and half to ``R-``.

    ``method``:
      * ``"exact"``: the null distribution of ``R+`` for distinct nonzero differences. With ties or zeros it
        is only approximate; a non-integer ``R+`` is rounded conservatively (as scipy does).
      * ``"asymptotic"``: normal approximation with the tie correction of the variance, and a 0.5
        continuity correction when ``correction`` is true (the only thing ``correction`` changes).
      * ``"permutation"``: the exact null distribution of ``R+`` given the observed ranks (ties and zeros
        included): scipy's permutation test over all ``2**n`` sign flips.
      * ``"auto"`` (scipy's rule): more than 50 pairs (zeros included) -> ``"asymptotic"``; else
        ``"exact"`` if there are no ties and no zeros; else ``"permutation"`` up to 13 pairs and
        ``"asymptotic"`` above. The result's ``method`` names the one used.
      ``"exact"`` is refused above 1000 pairs (its cost grows as n**3), ``"permutation"`` above 16 (2**n).

    Deliberate difference from scipy: when every difference is zero the p-value is 1.0 (scipy returns NaN
    for the normal approximation, whose variance is then zero).
    """
    _check_choice(alternative, "alternative", ALTERNATIVES)
    _check_choice(zero_method, "zero_method", ZERO_METHODS)
    _check_choice(method, "method", WILCOXON_METHODS)
    if correction not in (True, False):
        raise ValueError(f"`correction` must be True or False, got {correction!r}")
    a, b = _paired(a, b)
    d = a - b
    num_pairs = d.shape[0]
    num_zeros = int((d == 0).sum())
    count = num_pairs - num_zeros if zero_method == "wilcox" else num_pairs  # pairs taking part in the test
    if method == "auto":
        method = _auto_method(d)
    # The exact distribution is over the pairs taking part; scipy's permutation test flips every pair's sign.
    limit, size, cost = {
        "exact": (_MAX_EXACT_PAIRS, count, "grows as n**3"),
        "permutation": (_MAX_PERMUTATION_PAIRS, num_pairs, "doubles with each pair"),
    }.get(method, (None, 0, ""))
    if limit is not None and size > limit:
        raise ValueError(
            f"method={method!r} is limited to {limit} pairs (its cost {cost}); got {size}: "
            f"use method='asymptotic' (or 'auto')"
        )
    name = _METHOD_NAMES[method]

    if num_zeros == num_pairs:  # no difference at all: nothing to test
        statistic = num_pairs * (num_pairs + 1) / 4.0 if zero_method == "zsplit" else 0.0  # half of all ranks
        return TestResult(statistic, 1.0, count, name)

    scipy_method = scipy.stats.PermutationMethod(n_resamples=np.inf) if method == "permutation" else method
    res = scipy.stats.wilcoxon(
        a, b, zero_method=zero_method, correction=correction, alternative=alternative, method=scipy_method
    )
    return TestResult(float(res.statistic), float(res.pvalue), count, name)


# ----------------------------------------------------------------------------- bootstrap
def bootstrap_ci(
    values,
    confidence: float = 0.95,
    num_resamples: int = 10_000,
    seed: Optional[int] = 0,
    statistic: Callable = np.mean,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic(values)``, ``values``: ``[num_users]``.

    ``scipy.stats.bootstrap`` (``method="percentile"``) draws ``num_resamples`` resamples of the users with
    replacement and returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the
    resampled statistic. ``statistic`` must reduce along an ``axis`` keyword, like ``np.mean`` or
    ``np.median``: resamples are evaluated in ``[rows, num_users]`` blocks of about 2M values, which keeps
    10,000 resamples of 6,040 users well under a second.

    Reproducible: the same ``seed`` (and inputs) gives the identical interval; ``seed=None`` draws fresh
    entropy.
    """
    _check_bootstrap_args(confidence, num_resamples)
    values = _as_1d(values, "values")
    n = values.shape[0]
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 values, got {n}")

    def block_statistic(block: np.ndarray, axis: int = -1) -> np.ndarray:
        """``statistic`` of each resample: ``[rows, num_users]`` -> ``[rows]``."""
        reduced = np.asarray(statistic(block, axis=1), dtype=np.float64)
        if reduced.shape != block.shape[:1]:
            raise ValueError(
                f"`statistic` must reduce a [rows, num_users] block along axis=1 to [rows]; "
                f"got shape {reduced.shape} for {block.shape}"
            )
        return reduced

    result = scipy.stats.bootstrap(
        (values,),
        block_statistic,
        n_resamples=num_resamples,
        batch=max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n),
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return float(low), float(high)


def paired_bootstrap_ci(
    a, b, confidence: float = 0.95, num_resamples: int = 10_000, seed: Optional[int] = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a - b)`` (``a``, ``b``: ``[num_users]``): users are resampled
    as pairs, so the correlation between the two models is kept. An interval excluding 0 agrees with a
    significant difference."""
    a, b = _paired(a, b)
    return bootstrap_ci(a - b, confidence=confidence, num_resamples=num_resamples, seed=seed)


# ----------------------------------------------------------------------------- multiple comparisons
def holm_correction(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values ``[m]``, in the order of ``pvalues`` ``[m]``.

    Sorted ascending, the i-th smallest (1-based) becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``:
    monotone in the original p-values, capped at 1. Rejecting where the adjusted value is ``<= alpha``
    controls the family-wise error rate at ``alpha`` without any independence assumption.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"`pvalues` must be one-dimensional, got shape {p.shape}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"`pvalues` must be in [0, 1] without NaN, got {p.tolist()}")
    m = p.shape[0]
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


# ----------------------------------------------------------------------------- report rows
@dataclasses.dataclass(frozen=True)
class Comparison:
    """One row of a report's comparison table: model ``a`` vs model ``b`` on one per-user metric.

    ``mean_diff = mean_a - mean_b``; ``diff_ci``: its paired bootstrap interval (95%); ``ttest``,
    ``wilcoxon``: two-sided paired tests; ``pvalue_holm``: the Wilcoxon p-value Holm-adjusted over all
    the rows of a table, filled by :func:`compare_all` (None until then).
    """

    name_a: str
    name_b: str
    metric: str
    mean_a: float
    mean_b: float
    mean_diff: float
    diff_ci: tuple[float, float]
    ttest: TestResult
    wilcoxon: TestResult
    pvalue_holm: Optional[float] = None


def compare(
    per_user_a: np.ndarray,
    per_user_b: np.ndarray,
    name_a: str,
    name_b: str,
    metric: str,
    seed: int = 0,
    num_resamples: int = 10_000,
) -> Comparison:
    """Compares two models on the same users: ``per_user_a``, ``per_user_b`` are ``[num_users]`` values of
    ``metric``, user ``i`` at index ``i`` in both. Two-sided t-test and Wilcoxon (``method="auto"``,
    zeros dropped), and a 95% paired bootstrap interval of the mean difference."""
    a, b = _paired(per_user_a, per_user_b)
    return Comparison(
        name_a=name_a,
        name_b=name_b,
        metric=metric,
        mean_a=float(np.mean(a)),
        mean_b=float(np.mean(b)),
        mean_diff=float(np.mean(a - b)),
        diff_ci=paired_bootstrap_ci(a, b, num_resamples=num_resamples, seed=seed),
        ttest=paired_ttest(a, b),
        wilcoxon=wilcoxon_signed_rank(a, b),
    )


def compare_all(comparisons: list[Comparison]) -> list[Comparison]:
    """The same rows, in the same order, with ``pvalue_holm`` filled: Holm over the **Wilcoxon** p-values
    of all the rows (one family). Wilcoxon rather than the t-test because per-user ranking metrics are
    bounded, skewed and zero-inflated, where the t-test's normality is least credible."""
    adjusted = holm_correction([c.wilcoxon.pvalue for c in comparisons])
    return [dataclasses.replace(c, pvalue_holm=float(p)) for c, p in zip(comparisons, adjusted)]
