"""The statistics of the evidence experiment, written from their formulas (no SciPy needed):

- :func:`wilson_interval`: confidence interval of a proportion ``k / n`` (per-class accuracy);
- :func:`bootstrap_class_means`: the class-stratified bootstrap of per-class means, as one matrix product per class;
- :func:`percentile_interval`: a percentile interval from bootstrap replicates;
- :func:`welch_greater`: Welch's one-sided t-test ``mean(a) > mean(b)``, with Student's t distribution from the
  regularised incomplete beta function (:func:`betainc`);
- :func:`mcnemar_exact`: McNemar's exact test on paired right/wrong outcomes (a binomial test on the discordant pairs);
- :func:`newcombe_paired_interval`: Newcombe's square-and-add interval for the difference of paired proportions;
- :func:`holm`: Holm's step-down adjustment of p-values for multiple comparisons (controls the family-wise error).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def z_value(confidence: float) -> float:
    """The two-sided standard-normal quantile of ``confidence``: 1.96 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``k / n``:

    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` with ``p = k/n``; inside [0, 1] even for ``k = 0``
    or ``k = n`` (where the textbook ``p ± z·sqrt(p(1-p)/n)`` collapses to a point). ``n = 0`` gives ``(0, 1)``.
    """
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At k = 0 (k = n) the lower (upper) end is exactly 0 (1); set it so rounding cannot move it.
    return 0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half)


def bootstrap_class_means(values: np.ndarray, labels: np.ndarray, n_classes: int, n_boot: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the per-class means of ``values`` ``(N, C)``: an array ``(n_boot, n_classes, C)``.

    Each replicate resamples the ``n_k`` images of every class with replacement (stratified, so class sizes stay
    fixed). A replicate is held as counts ``w`` ``(n_boot, n_k)`` (how often each image was drawn), so the replicate
    means of every column at once are one matrix product ``w @ values_k / n_k``. A class without images gives NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    if values.ndim != 2 or len(values) != len(labels):
        raise ValueError(f"values must be (N, C) with one row per label, got {values.shape} for {len(labels)} labels")
    out = np.full((n_boot, n_classes, values.shape[1]), np.nan)
    for k in range(n_classes):
        rows = values[labels == k]
        n = len(rows)
        if n == 0:
            continue
        draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
        counts = np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n)
        out[:, k] = counts @ rows / n
    return out


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95, axis: int = 0) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
    """The percentile bootstrap interval: the ``(1-confidence)/2`` and ``(1+confidence)/2`` quantiles along
    ``axis``."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail], axis=axis)
    return low, high


def selectivity_index(class_means: np.ndarray) -> np.ndarray:
    """Class selectivity ``(mu_max - mu_rest) / (mu_max + mu_rest)`` along the last axis but one (classes).

    ``class_means`` ``(..., K, C)``: ``mu_max`` is the largest class mean of each column, ``mu_rest`` the mean of the
    other ``K - 1`` class means (Morcos et al. 2018). For non-negative responses it lies in [0, 1]: 0 = the same
    response to every class, 1 = responds to one class only. A column that never responds (``mu_max + mu_rest =
    0``) gets 0.
    """
    means = np.asarray(class_means, dtype=np.float64)
    k = means.shape[-2]
    top = means.max(axis=-2)
    rest = (means.sum(axis=-2) - top) / (k - 1)
    total = top + rest
    return np.where(total > 0, (top - rest) / np.where(total > 0, total, 1.0), 0.0)


# ------------------------------------------------------------------------------------------------------ t-test
def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``, by its continued fraction (modified Lentz method),
    evaluated on the side of ``x`` where it converges fast (``I_x(a, b) = 1 - I_{1-x}(b, a)``)."""
    if a <= 0 or b <= 0:
        raise ValueError(f"betainc needs a, b > 0, got a={a}, b={b}")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - betainc(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 1000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def student_t_sf(t: float, df: float) -> float:
    """``P(T > t)`` for Student's t with ``df`` degrees of freedom: ``I_{df/(df+t²)}(df/2, 1/2) / 2`` for t >= 0."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def welch_greater(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Welch's t-test of ``mean(a) > mean(b)`` (unequal variances): ``(t, df, one-sided p)``.

    ``t = (m_a - m_b) / sqrt(v_a/n_a + v_b/n_b)``, Welch-Satterthwaite ``df``. Both samples need 2 values; when both
    are constant, p is 0 if ``m_a > m_b`` and 1 otherwise.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs at least 2 values per sample, got {len(a)} and {len(b)}")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return (math.inf if diff > 0 else -math.inf if diff < 0 else 0.0), math.inf, 0.0 if diff > 0 else 1.0
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va * va / (len(a) - 1) if va else 0.0) + (vb * vb / (len(b) - 1) if vb else 0.0))
    return t, df, student_t_sf(t, df)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference ``(m_a - m_b) / s_pooled`` (``s_pooled`` from both samples' variances); 0 for
    two constant samples with equal means, ±inf when they differ."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    diff = float(a.mean() - b.mean())
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / math.sqrt(pooled)


# --------------------------------------------------------------------------------------------- paired outcomes
def binomial_cdf_half(k: int, n: int) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(n, 1/2)``: ``I_{1/2}(n - k, k + 1)``."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return betainc(n - k, k + 1, 0.5)


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact two-sided p-value for ``b`` pairs right-then-wrong and ``c`` wrong-then-right.

    Under no change, each of the ``b + c`` discordant pairs goes either way with probability 1/2:
    ``p = min(1, 2 · P(X <= min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)``; 1 without discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binomial_cdf_half(min(b, c), n))


def newcombe_paired_interval(both: int, only_first: int, only_second: int, neither: int,
                             confidence: float = 0.95) -> tuple[float, float, float]:
    """Newcombe's square-and-add interval for ``p1 - p2`` of paired proportions: ``(estimate, low, high)``.

    The 2x2 table of ``n`` pairs: ``both`` right in both, ``only_first`` right only in the first, ``only_second``
    right only in the second, ``neither``. ``p1 = (both + only_first) / n``, ``p2 = (both + only_second) / n``;
    ``(l_i, u_i)`` their Wilson intervals; with the correlation estimate ``phi`` (``A = both·neither -
    only_first·only_second``; ``phi = (A - n/2) / sqrt(product of the margins)`` if ``A > n/2``, 0 if
    ``0 <= A <= n/2``, ``A / sqrt(...)`` if ``A < 0``; 0 when a margin is empty):
    ``low = d - sqrt((p1-l1)² + (u2-p2)² - 2 phi (p1-l1)(u2-p2))``,
    ``high = d + sqrt((p2-l2)² + (u1-p1)² - 2 phi (p2-l2)(u1-p1))`` (Newcombe 1998, Statistics in Medicine 17).
    """
    counts = (both, only_first, only_second, neither)
    if min(counts) < 0:
        raise ValueError(f"counts must be non-negative, got {counts}")
    n = sum(counts)
    if n == 0:
        return 0.0, -1.0, 1.0
    first, second = both + only_first, both + only_second
    p1, p2 = first / n, second / n
    l1, u1 = wilson_interval(first, n, confidence)
    l2, u2 = wilson_interval(second, n, confidence)
    margins = [first, n - first, second, n - second]
    phi = 0.0
    if min(margins) > 0:
        a = both * neither - only_first * only_second
        scale = math.sqrt(math.prod(float(m) for m in margins))
        phi = (a - n / 2) / scale if a > n / 2 else (a / scale if a < 0 else 0.0)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)))
    high = d + math.sqrt(max(0.0, (p2 - l2) ** 2 + (u1 - p1) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1)))
    return d, max(-1.0, low), min(1.0, high)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order (any shape).

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where the adjusted
    value is at most alpha keeps the chance of any false rejection among all ``m`` tests at most alpha.
    """
    p = np.asarray(p_values, dtype=np.float64)
    flat = p.ravel()
    m = flat.size
    if m == 0:
        return p.copy()
    order = np.argsort(flat, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * flat[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.reshape(p.shape)
