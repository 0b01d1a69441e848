"""Certified accuracy against the radius: ``CertifiedAccuracyDisplay``."""

import numpy as np
from sklearn.utils import check_consistent_length

from ...utils import store_params
from .._certified import certified_radii
from ._base import _validate_style_kwargs, axes_and_figure, check_curve, display_docs


def _check_radii(radii):
    radii = np.asarray(radii, dtype=float)
    if radii.ndim != 1 or not np.all(np.isfinite(radii)) or np.any(radii < 0):
        raise ValueError(
            f"radii must be a 1-D array of non-negative finite radii; got {radii!r}."
        )
    return radii


def _certified_curve(y_true, y_pred, radius, radii=None):
    """Certified accuracy at each of ``radii`` (``None``: every breakpoint)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    radius = np.asarray(radius, dtype=float)
    if y_true.ndim != 1 or y_pred.ndim != 1 or radius.ndim != 1:
        raise ValueError("y_true, y_pred and radius must be 1-D arrays.")
    check_consistent_length(y_true, y_pred, radius)
    # a point counts at radius r when it is correct and radius_i >= r;
    # abstentions (negative or NaN radius) never count
    counted = (y_pred == y_true) & (np.nan_to_num(radius, nan=-1.0) >= 0)
    certified = np.sort(radius[counted])
    if radii is None:
        radii = np.unique(np.concatenate([[0.0], certified]))
        if radii[-1] > 0:  # where the curve reaches 0, just past the largest
            radii = np.append(radii, radii[-1] * 1.05)
    else:
        radii = _check_radii(radii)
    n = max(len(y_true), 1)
    # number of certified radii >= r, for every r
    n_above = len(certified) - np.searchsorted(certified, radii, side="left")
    return radii, n_above / n


# what ``**kwargs`` of its methods go to, and what ``plot`` sets
_PLOT_KWARGS = (
    'Passed to matplotlib\'s ``plot`` (``drawstyle="default"`` draws\n'
    "    straight segments instead of steps)."
)
_PLOT_SETS = "``ax_``, ``figure_`` and ``line_``"


@display_docs(_PLOT_KWARGS, _PLOT_SETS)
class CertifiedAccuracyDisplay:
    """Certified accuracy against the certification radius.

    The fraction of points whose prediction is correct *and* provably
    unchanged within the ball of each radius. Build it with
    :meth:`from_estimator` (a certifier: ``certified_radius(X, y)``) or
    :meth:`from_predictions` (certificates computed beforehand). The curve
    is drawn as a step function, conservative between radii: on the
    interval up to each radius it shows the value *at* that radius, the
    smallest one the interval can have, as certified accuracy never
    increases with the radius.

    Parameters
    ----------
    radii : array-like of shape (n_radii,)
        Certification radii (non-negative).
    certified_accuracy : array-like of shape (n_radii,)
        Certified accuracy at each radius.
    name : str, default=None
        Name of the model, for the legend.
    norm : str, default=None
        Norm of the radii (``"l2"`` for randomized smoothing, ``"linf"`` for
        interval bounds), shown in the x axis label.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The curve.
    ax_ : matplotlib Axes
        Axes with the curve.
    figure_ : matplotlib Figure
        Figure containing the curve.

    See Also
    --------
    skrobust.metrics.certified_accuracy_score : Certified accuracy at one
        radius.
    RobustnessCurveDisplay : Empirical robust accuracy against the budget.

    Examples
    --------
    >>> from skrobust.metrics import CertifiedAccuracyDisplay
    >>> display = CertifiedAccuracyDisplay(
    ...     radii=[0.0, 0.25, 0.5], certified_accuracy=[0.8, 0.5, 0.1], norm="l2")
    >>> display.plot()
    <...CertifiedAccuracyDisplay object at ...>
    >>> display.ax_.get_xlabel()
    'radius (l2)'
    """

    def __init__(self, *, radii, certified_accuracy, name=None, norm=None):
        store_params(self, locals())

    def plot(self, ax=None, *, name=None, **kwargs):
        """Plot certified accuracy against the radius.

        {curve_plot_parameters}

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from skrobust.metrics import CertifiedAccuracyDisplay
        >>> fig, ax = plt.subplots()
        >>> display = CertifiedAccuracyDisplay(
        ...     radii=[0.0, 0.5], certified_accuracy=[0.7, 0.2]).plot(ax=ax)
        >>> display.figure_ is fig
        True
        """
        radii, accuracy = check_curve(
            self.radii,
            self.certified_accuracy,
            "radii",
            "certified_accuracy",
            type(self).__name__,
        )
        name = self.name if name is None else name
        self.ax_, self.figure_ = axes_and_figure(ax, f"{type(self).__name__}.plot")
        order = np.argsort(radii, kind="stable")
        defaults = {"drawstyle": "steps-pre"}
        if name is not None:
            defaults["label"] = name
        (self.line_,) = self.ax_.plot(
            radii[order], accuracy[order], **_validate_style_kwargs(defaults, kwargs)
        )
        if self.norm or not self.ax_.get_xlabel():  # keep a norm already shown
            self.ax_.set_xlabel(f"radius ({self.norm})" if self.norm else "radius")
        self.ax_.set(ylabel="certified accuracy", ylim=(-0.02, 1.02))
        if name is not None:
            self.ax_.legend(loc="best")
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        radii=None,
        name=None,
        norm=None,
        method="crown",
        bounds=None,
        ax=None,
        **kwargs,
    ):
        """Certify a fitted model and plot certified accuracy against the radius.

        One call gives every point's certified radius, hence the whole curve:

        * a certifier (``RandomizedSmoothingClassifier``, ``IBPClassifier``,
          anything with ``certified_radius(X, y=None)``, the certificate
          protocol: NaN where it abstains or is wrong) answers itself;
        * any other model with a differentiable view (a network, a linear
          model, a pipeline) is certified by
          :func:`skrobust.certification.certified_radius` with ``method``
          and ``bounds``, in ``norm`` (``"linf"`` by default).

        Parameters
        ----------
        estimator : fitted classifier
            E.g. a fitted ``RandomizedSmoothingClassifier`` or
            ``IBPClassifier``, or any estimator with a differentiable view
            (a skorch net, ``MLPClassifier``, ``LogisticRegression``, ...).
        X : array-like of shape (n_samples, ...)
            Inputs.
        y : array-like of shape (n_samples,)
            True labels.
        radii : array-like of shape (n_radii,), default=None
            Radii at which to evaluate certified accuracy. ``None``: every
            certified radius (an exact step curve up to the largest, then 0).
        name : str, default=None
            Model name for the legend. ``None``: the estimator's class name.
        norm : str, default=None
            Norm of the certificates, for the x axis label. ``None``: the
            estimator's ``norm`` attribute, if any. For estimators that are
            not certifiers, the norm certified (``None``: ``"linf"``).
        method : str, default="crown"
            Certification method for estimators that are not certifiers (see
            :func:`skrobust.certification.certified_radius`).
        bounds : (low, high) or None, default=None
            Valid input domain, for estimators that are not certifiers.
        {ax}
        {kwargs_returns}

        Examples
        --------
        >>> import numpy as np
        >>> from skrobust.metrics import CertifiedAccuracyDisplay
        >>> class Certifier:  # radii of its predictions [0, 1, 1, 0]; NaN: abstains
        ...     def certified_radius(self, X, y=None):
        ...         radius = np.array([0.5, 0.2, np.nan, 0.9])
        ...         return np.where(np.array([0, 1, 1, 0]) == y, radius, np.nan)
        >>> display = CertifiedAccuracyDisplay.from_estimator(
        ...     Certifier(), None, [0, 1, 1, 1], radii=[0.0, 0.3, 0.6])
        >>> display.certified_accuracy
        array([0.5 , 0.25, 0.  ])
        """
        y = np.asarray(y)
        name = type(estimator).__name__ if name is None else name
        if hasattr(estimator, "certified_radius") or hasattr(estimator, "certify"):
            radius = certified_radii(estimator, X, y)  # says what a certifier needs
            norm = getattr(estimator, "norm", None) if norm is None else norm
        else:  # a model: bound propagation certifies it
            from ...certification import certified_radius

            norm = "linf" if norm is None else norm
            radius = certified_radius(
                estimator, X, y, norm=norm, bounds=bounds, method=method
            )
        return cls.from_predictions(
            y,
            y,  # NaN marks the points not certified correct
            radius,
            radii=radii,
            name=name,
            norm=norm,
            ax=ax,
            **kwargs,
        )

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_pred,
        radius,
        *,
        radii=None,
        name=None,
        norm=None,
        ax=None,
        **kwargs,
    ):
        """Plot certified accuracy from certificates computed beforehand.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.
        y_pred : array-like of shape (n_samples,)
            Certified predictions, e.g. the first output of
            ``RandomizedSmoothingClassifier.certify(X)``.
        radius : array-like of shape (n_samples,)
            Certified radius of each prediction. A negative or NaN radius is
            an abstention, which never counts; a point counts at radius ``r``
            when it is correct and its radius is at least ``r``.
        radii : array-like of shape (n_radii,), default=None
            Radii at which to evaluate certified accuracy. ``None``: every
            radius in ``radius`` (an exact step curve) and 0.
        name : str, default=None
            Model name for the legend.
        norm : str, default=None
            Norm of the certificates, for the x axis label.
        {ax}
        {kwargs_returns}

        Examples
        --------
        >>> from skrobust.metrics import CertifiedAccuracyDisplay
        >>> display = CertifiedAccuracyDisplay.from_predictions(
        ...     [0, 1, 1], [0, 1, 0], [0.4, 0.2, 0.7], norm="l2")
        >>> display.radii
        array([0.  , 0.2 , 0.4 , 0.42])
        >>> display.certified_accuracy
        array([0.66666667, 0.66666667, 0.33333333, 0.        ])
        """
        radii, accuracy = _certified_curve(y_true, y_pred, radius, radii)
        display = cls(radii=radii, certified_accuracy=accuracy, name=name, norm=norm)
        return display.plot(ax=ax, **kwargs)
