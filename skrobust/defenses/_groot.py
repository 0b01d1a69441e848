"""GROOT's adversarial Gini impurity (Vos & Verwer 2021).

"Efficient training of robust decision trees against adversarial examples"
(ICML 2021): a split ``x_f <= t`` is scored against an attacker who moves
every sample within its reach. A sample whose reachable interval
``[lo, hi]`` of feature ``f`` straddles ``t`` can be put on either side;
the attacker places these uncertain samples to make the split as impure as
possible, and the tree picks the split whose worst case is purest.

With ``L``, ``R`` the per-class weights surely left and right and ``I``
those uncertain, the attacker maximises over ``0 <= m <= I`` (the weight
of each class sent left)::

    G(L + m) + G(R + I - m),    G(c) = sum(c) - sum(c ** 2) / sum(c)

(the weighted Gini impurity). ``G`` is concave, so this is a concave
maximisation over a box; coordinate ascent solves each coordinate in closed
form (the two sides' partial derivatives balance), vectorised over all
candidate thresholds at once. The continuous relaxation (fractions of a
sample may move) is what GROOT optimises too; it can only overstate the
attacker.
"""

import numpy as np

_SWEEPS = 8


def weighted_gini(counts):
    """``sum(c) - sum(c ** 2) / sum(c)`` along the last axis (0 when empty)."""
    total = counts.sum(axis=-1)
    squares = (counts**2).sum(axis=-1)
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, total - squares / safe, 0.0)


def adversarial_gini(left, right, uncertain, sweeps=_SWEEPS):
    """The attacker's largest weighted Gini impurity of a split.

    Parameters
    ----------
    left, right, uncertain : ndarray of shape (..., n_classes)
        Per-class weights surely left, surely right, and movable.

    Returns
    -------
    impurity : ndarray of shape (...)
        ``max_m G(left + m) + G(right + uncertain - m)`` (continuous ``m``).
    moved : ndarray of shape (..., n_classes)
        The maximiser ``m`` found.
    """
    left, right, uncertain = (
        np.asarray(a, dtype=np.float64) for a in (left, right, uncertain)
    )
    m = uncertain / 2
    total = left + right + uncertain
    if uncertain.any():
        for _ in range(sweeps):
            for k in range(left.shape[-1]):
                lc, rc = left + m, total - left - m
                a_others = lc.sum(axis=-1) - lc[..., k]
                q_others = (lc**2).sum(axis=-1) - lc[..., k] ** 2
                b_others = rc.sum(axis=-1) - rc[..., k]
                r_others = (rc**2).sum(axis=-1) - rc[..., k] ** 2
                p = np.sqrt(a_others**2 + q_others)
                q = np.sqrt(b_others**2 + r_others)
                c_k = total[..., k]
                denominator = p + q
                safe = np.where(denominator > 0, denominator, 1.0)
                a = (p * (b_others + c_k) - q * a_others) / safe
                a = np.clip(a, left[..., k], left[..., k] + uncertain[..., k])
                new = np.where(denominator > 0, a - left[..., k], m[..., k])
                m[..., k] = new
    impurity = weighted_gini(left + m) + weighted_gini(total - left - m)
    return impurity, m


def split_counts(lo, hi, y, w, n_classes):
    """Per-class weights surely left / uncertain / surely right of every
    candidate threshold of one feature.

    ``lo``, ``hi``: each sample's reachable interval. Counts change only at
    the values of ``lo`` and ``hi``; the candidates are the midpoints of
    consecutive distinct breakpoints.

    Returns
    -------
    thresholds : ndarray of shape (n_candidates,)
    left, uncertain, right : ndarray of shape (n_candidates, n_classes)
    """
    points = np.unique(np.concatenate([lo, hi]))
    if len(points) < 2:
        empty = np.zeros((0, n_classes))
        return np.zeros(0), empty, empty, empty
    thresholds = (points[:-1] + points[1:]) / 2
    inf = np.isinf(thresholds)
    thresholds[inf] = np.where(
        np.isinf(points[:-1][inf]), points[1:][inf], points[:-1][inf]
    )
    left = _cumulative(hi, y, w, n_classes, thresholds)  # hi <= t: surely left
    reach = _cumulative(lo, y, w, n_classes, thresholds)  # lo <= t: may go left
    total = np.bincount(y, weights=w, minlength=n_classes)
    # differences of cumulative sums: clip float dust below zero
    uncertain, right = np.maximum(reach - left, 0.0), np.maximum(total - reach, 0.0)
    return thresholds, left, uncertain, right


def _cumulative(values, y, w, n_classes, thresholds):
    """Per-class weight of samples with ``values <= t`` for each threshold."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    onehot = np.zeros((len(values), n_classes))
    onehot[np.arange(len(values)), y[order]] = w[order]
    cum = np.vstack([np.zeros((1, n_classes)), np.cumsum(onehot, axis=0)])
    return cum[np.searchsorted(sorted_values, thresholds, side="right")]
