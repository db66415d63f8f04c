"""The evidence statistics against published and hand-computed values, closed forms and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnlab.experiments.evidence.stats import (
    betainc,
    bootstrap_class_means,
    cohens_d,
    holm,
    mcnemar_exact,
    newcombe_paired_interval,
    percentile_interval,
    selectivity_index,
    student_t_sf,
    welch_greater,
    wilson_interval,
    z_value,
)
from cnnlab.formatting import p_value


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, Wilson score method.
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_the_published_intervals(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-5) and hi == pytest.approx(high, abs=5e-5)


def test_wilson_closed_forms_at_the_ends_and_bad_counts():
    z2 = z_value(0.95) ** 2
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))  # k = 0: upper = z²/(n + z²)
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    with pytest.raises(ValueError):
        z_value(1.0)


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_contains_the_estimate(k, n):
    k = min(k, n)
    lo, hi = wilson_interval(k, n)
    assert 0 <= lo <= k / n <= hi <= 1


def test_betainc_closed_forms():
    assert betainc(2.5, 1, 0.3) == pytest.approx(0.3 ** 2.5, rel=1e-12)  # I_x(a, 1) = x^a
    assert betainc(1, 3.5, 0.3) == pytest.approx(1 - 0.7 ** 3.5, rel=1e-12)  # I_x(1, b) = 1 - (1-x)^b
    assert betainc(7, 7, 0.5) == pytest.approx(0.5, abs=1e-12)
    assert betainc(3, 4, 0.0) == 0.0 and betainc(3, 4, 1.0) == 1.0
    with pytest.raises(ValueError):
        betainc(0, 1, 0.5)


@pytest.mark.parametrize("t", [-3.0, -0.5, 0.0, 0.7, 2.0, 12.7062])
def test_student_t_against_its_closed_forms(t):
    assert student_t_sf(t, 1) == pytest.approx(0.5 - math.atan(t) / math.pi, abs=1e-12)  # Cauchy
    assert student_t_sf(t, 2) == pytest.approx(0.5 - t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_student_t_table_values():
    assert student_t_sf(2.228139, 10) == pytest.approx(0.025, abs=1e-6)
    assert student_t_sf(1.812461, 10) == pytest.approx(0.05, abs=1e-6)
    assert student_t_sf(1.959964, 1e7) == pytest.approx(0.025, abs=1e-6)  # -> the normal distribution
    assert student_t_sf(math.inf, 3) == 0.0


def test_welch_hand_computed():
    a, b = np.array([5.0, 6.0, 7.0, 8.0]), np.array([1.0, 2.0, 3.0])
    # means 6.5 and 2; variances 5/3 and 1; se² = 5/12 + 1/3 = 0.75.
    t, df, p = welch_greater(a, b)
    assert t == pytest.approx(4.5 / math.sqrt(0.75))
    assert df == pytest.approx(0.75 ** 2 / ((5 / 12) ** 2 / 3 + (1 / 3) ** 2 / 2))
    assert p == pytest.approx(student_t_sf(t, df))
    assert welch_greater(b, a)[2] == pytest.approx(1 - p)
    assert welch_greater(np.ones(3), np.zeros(3))[2] == 0.0 and welch_greater(np.zeros(3), np.ones(3))[2] == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        welch_greater(np.ones(1), np.ones(3))


def test_cohens_d_hand_computed():
    a, b = np.array([5.0, 6.0, 7.0, 8.0]), np.array([1.0, 2.0, 3.0])
    pooled = (3 * 5 / 3 + 2 * 1) / 5
    assert cohens_d(a, b) == pytest.approx(4.5 / math.sqrt(pooled))
    assert cohens_d(np.ones(3), np.ones(2)) == 0.0 and cohens_d(np.ones(3), np.zeros(2)) == math.inf


@pytest.mark.parametrize(("b", "c"), [(0, 5), (1, 7), (6, 16), (20, 21), (0, 0), (3, 3), (40, 2)])
def test_mcnemar_is_the_exact_binomial_test(b, c):
    n = b + c
    expected = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n)
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-10)
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_mcnemar_known_values():
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)  # 2 / 2^5
    assert mcnemar_exact(1, 7) == pytest.approx(0.0703125)  # 2 * 9 / 2^8
    assert mcnemar_exact(198, 1) == pytest.approx(400 / 2 ** 199, rel=1e-9)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_newcombe_matches_the_published_example():
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8 (Cavo et al. 2012):
    # Newcombe square-and-add estimate -0.0621, 95% CI -0.1186 to -0.0046.
    d, low, high = newcombe_paired_interval(59, 6, 16, 80)
    assert d == pytest.approx(-10 / 161)
    assert low == pytest.approx(-0.1186, abs=5e-5) and high == pytest.approx(-0.0046, abs=5e-5)


def test_newcombe_edge_cases():
    # Everything right in both: no change; phi is 0 (empty margins), so the ends are the Wilson ends of 10/10.
    z2 = z_value(0.95) ** 2
    d, low, high = newcombe_paired_interval(10, 0, 0, 0)
    assert d == 0 and low == pytest.approx(-z2 / (10 + z2)) and high == pytest.approx(z2 / (10 + z2))
    assert newcombe_paired_interval(0, 0, 0, 0) == (0.0, -1.0, 1.0)
    d, low, high = newcombe_paired_interval(0, 0, 30, 0)  # all lost
    assert d == -1 and low == -1 and high < -0.8


def test_holm_hand_computed():
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm(np.array([[0.5, 0.9]])), [[1.0, 1.0]])
    assert holm(np.array([])).size == 0


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_is_monotone_and_never_below_the_raw_p(ps):
    p = np.array(ps)
    adjusted = holm(p)
    assert (adjusted >= p - 1e-15).all() and (adjusted <= 1).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(adjusted[order]) >= -1e-15).all()


def test_bootstrap_class_means_is_seeded_stratified_and_has_the_right_spread():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 400), np.full(50, 3.0)])[:, None]
    labels = np.array([0] * 400 + [1] * 50)
    reps = bootstrap_class_means(values, labels, 3, 2000, np.random.default_rng(1))
    assert reps.shape == (2000, 3, 1)
    np.testing.assert_array_equal(reps, bootstrap_class_means(values, labels, 3, 2000, np.random.default_rng(1)))
    # The standard error of a mean: the bootstrap spread matches s / sqrt(n).
    assert reps[:, 0, 0].std() == pytest.approx(values[:400, 0].std() / math.sqrt(400), rel=0.1)
    assert reps[:, 0, 0].mean() == pytest.approx(values[:400, 0].mean(), abs=0.01)
    assert (reps[:, 1, 0] == 3.0).all()  # a constant class stays constant
    assert np.isnan(reps[:, 2]).all()  # a class without images
    low, high = percentile_interval(reps[:, 0, 0])
    assert low < values[:400, 0].mean() < high


def test_selectivity_index_known_values():
    means = np.array([[4.0, 1.0, 0.0], [0.0, 1.0, 0.0], [2.0, 1.0, 0.0]])  # K=3 classes x 3 channels
    np.testing.assert_allclose(selectivity_index(means), [(4 - 1) / (4 + 1), 0.0, 0.0])


def test_p_value_format():
    assert [p_value(v) for v in (0.5, 0.032, 1.0, 4.1e-7, 0.0, float("nan"))] == [
        "0.5", "0.032", "1", "4.1e-07", "< 1e-300", "n/a"]
