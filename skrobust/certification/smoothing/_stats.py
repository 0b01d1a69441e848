"""The statistics of randomized smoothing (Cohen, Rosenfeld & Kolter 2019).

Pure functions of class counts: no model, no noise. Kept apart so that they
can be checked against scipy and the paper's numbers directly.
"""

import numpy as np
from scipy.stats import beta, binom, norm


def lower_confidence_bound(n_a, n, alpha):
    """One-sided ``(1 - alpha)`` Clopper-Pearson lower bound on a probability.

    ``beta.ppf(alpha, n_a, n - n_a + 1)``, and 0 when ``n_a = 0``: with
    probability at least ``1 - alpha`` over the ``n`` Bernoulli draws, the
    true probability is above it.

    Parameters
    ----------
    n_a : array-like of int
        Successes (counts of the selected class).
    n : int
        Draws.
    alpha : float
        Failure probability of the bound.

    Returns
    -------
    p_lower : ndarray of float

    Examples
    --------
    >>> from skrobust.certification.smoothing._stats import lower_confidence_bound
    >>> float(lower_confidence_bound(100, 100, 0.001))  # alpha ** (1 / n)
    0.933...
    """
    n_a = np.asarray(n_a, dtype=float)
    with np.errstate(invalid="ignore"):
        p = beta.ppf(alpha, n_a, n - n_a + 1)
    return np.where(n_a > 0, p, 0.0)


def certified_radius(p_lower, sigma):
    """L2 radius ``sigma * Phi^-1(p_lower)``; NaN (abstain) when ``p_lower < 0.5``.

    Examples
    --------
    >>> from skrobust.certification.smoothing._stats import certified_radius
    >>> certified_radius([0.4, 0.5, 0.8413447], 1.0).round(3).tolist()
    [nan, 0.0, 1.0]
    """
    p_lower = np.asarray(p_lower, dtype=float)
    radius = sigma * norm.ppf(np.clip(p_lower, 0.0, 1.0))
    return np.where(p_lower >= 0.5, radius, np.nan)


def max_certified_radius(sigma, n, alpha):
    """The largest radius CERTIFY can return: all ``n`` draws agree.

    ``sigma * Phi^-1(alpha ** (1 / n))``: 3.81 sigma at ``n = 100,000`` and
    ``alpha = 0.001``, 2.46 sigma at ``n = 1,000``.

    Examples
    --------
    >>> from skrobust.certification.smoothing._stats import max_certified_radius
    >>> round(float(max_certified_radius(1.0, 100_000, 0.001)), 2)
    3.81
    """
    return float(sigma * norm.ppf(alpha ** (1.0 / n)))


def binomial_pvalue(n_a, n_b):
    """Two-sided p-value of ``binomtest(n_a, n_a + n_b, 0.5)``, vectorised.

    The null distribution is symmetric, so the p-value is twice the lower
    tail at ``min(n_a, n_b)``, capped at 1 (scipy's ``binomtest`` gives the
    same numbers one point at a time).

    Examples
    --------
    >>> from skrobust.certification.smoothing._stats import binomial_pvalue
    >>> binomial_pvalue([10, 5], [0, 5])
    array([0.00195312, 1.        ])
    """
    n_a, n_b = np.asarray(n_a), np.asarray(n_b)
    low = np.minimum(n_a, n_b)
    return np.minimum(1.0, 2.0 * binom.cdf(low, n_a + n_b, 0.5))


def top_two(counts):
    """Indices and counts of the two largest entries of each row.

    Ties are broken towards the lower class index (as ``argmax``).

    Returns
    -------
    top : ndarray of int
    n_a, n_b : ndarray of int
        The largest and second largest counts.
    """
    counts = np.asarray(counts)
    top = counts.argmax(axis=1)
    rows = np.arange(len(counts))
    n_a = counts[rows, top]
    rest = counts.copy()
    rest[rows, top] = -1
    n_b = rest.max(axis=1) if counts.shape[1] > 1 else np.zeros_like(n_a)
    return top, n_a, np.maximum(n_b, 0)


def predict_from_counts(counts, alpha):
    """Cohen's PREDICT: the top class, and whether the test abstains.

    The top class is returned when ``binomtest(n_a, n_a + n_b, 0.5)`` rejects
    at level ``alpha`` (``n_a``, ``n_b`` the two largest counts); otherwise
    PREDICT abstains.

    Returns
    -------
    top : ndarray of int
    abstain : ndarray of bool
    """
    top, n_a, n_b = top_two(counts)
    return top, binomial_pvalue(n_a, n_b) > alpha


def certify_from_counts(select_counts, counts, alpha, sigma):
    """Cohen's CERTIFY from selection counts and fresh estimation counts.

    The class is guessed from ``select_counts`` (its argmax); its count in
    the independent ``counts`` gives the lower bound ``p_lower`` and the
    radius ``sigma * Phi^-1(p_lower)`` (NaN: abstain, when ``p_lower <
    0.5``).

    Returns
    -------
    top : ndarray of int
    radius : ndarray of float
    p_lower : ndarray of float
    """
    select_counts, counts = np.asarray(select_counts), np.asarray(counts)
    top = select_counts.argmax(axis=1)
    n = counts.sum(axis=1)
    n_a = counts[np.arange(len(counts)), top]
    p_lower = lower_confidence_bound(n_a, n, alpha)
    return top, certified_radius(p_lower, sigma), p_lower
