"""Robust accuracy against the perturbation budget: ``RobustnessCurveDisplay``."""

from collections.abc import Mapping

import numpy as np

from ...utils import store_params
from .._curve import robustness_curve
from .._robust import _as_attacks
from ._base import (
    _validate_style_kwargs,
    axes_and_figure,
    check_curve,
    curve_label,
    describe_attack,
    display_docs,
)

WORST_CASE = "worst case"


def _units(attack):
    """The unit of ``attack``'s budget on the axis, ``None`` for raw units."""
    eps = getattr(attack, "eps", None)
    if isinstance(eps, dict) or (eps is not None and np.ndim(eps) > 0):
        return "x per-feature budget"  # robustness_curve scales it
    if getattr(attack, "eps_units", "raw") == "std":
        return "std units"
    return None


def _norm_of(attacks):
    """The norm(s) and units of ``attacks``' budgets, for the axis label."""
    norms = dict.fromkeys(getattr(a, "norm", None) for a in attacks)
    units = dict.fromkeys(_units(a) for a in attacks if hasattr(a, "norm"))
    parts = [n for n in norms if n is not None] + [u for u in units if u]
    return ", ".join(parts) or None


# what ``**kwargs`` of its methods go to, and what ``plot`` sets
_PLOT_KWARGS = "Passed to matplotlib's ``plot`` for every line."
_PLOT_SETS = "``ax_``, ``figure_`` and ``lines_``"


@display_docs(_PLOT_KWARGS, _PLOT_SETS)
class RobustnessCurveDisplay:
    """Robustness curve: robust accuracy against the perturbation budget eps.

    Build it with :meth:`from_estimator` (attacks a fitted model at every
    budget through :func:`~skrobust.metrics.robustness_curve`) or
    :meth:`from_curve` (a curve computed beforehand). All parameters are
    stored as attributes. One display holds one model's curves: one line per
    attack, sharing the budgets. To compare models, draw each one's display
    on the same axes (``ax=display.ax_``).

    Parameters
    ----------
    epsilons : array-like of shape (n_epsilons,)
        Perturbation budgets (non-negative).
    robust_accuracy : array-like of shape (n_epsilons,) or list of them
        Robust accuracy at each budget; a list holds one curve per attack.
    name : str, default=None
        Name of the model, for the legend. ``None``: no model name.
    attack_name : str or list of str, default=None
        Name of the attack (one per curve), for the legend.
    norm : str or list of str, default=None
        Norm of the budgets (``"linf"``, ``"l2"``, ``"l1"``), shown in the x
        axis label.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One line per curve.
    line_ : matplotlib Line2D or None
        The line, when the display holds a single curve.
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the curves.

    See Also
    --------
    skrobust.metrics.robustness_curve : Compute the curve.
    CertifiedAccuracyDisplay : Certified accuracy against the radius.

    Examples
    --------
    >>> from skrobust.metrics import RobustnessCurveDisplay
    >>> display = RobustnessCurveDisplay(
    ...     epsilons=[0.0, 0.1, 0.2], robust_accuracy=[0.95, 0.6, 0.2],
    ...     name="MLP", attack_name="PGD", norm="linf")
    >>> display.plot()
    <...RobustnessCurveDisplay object at ...>
    >>> display.ax_.get_xlabel()
    'eps (linf)'
    """

    def __init__(
        self, *, epsilons, robust_accuracy, name=None, attack_name=None, norm=None
    ):
        store_params(self, locals())

    def _curves(self):
        accuracy = self.robust_accuracy
        several = isinstance(accuracy, (list, tuple)) and np.ndim(accuracy[0]) == 1
        curves = list(accuracy) if several else [accuracy]
        names = self.attack_name
        if names is None or isinstance(names, str):
            names = [names] * len(curves)
        if len(names) != len(curves):
            raise ValueError(
                f"attack_name has {len(names)} entries for {len(curves)} curves."
            )
        checked = [
            check_curve(
                self.epsilons, acc, "epsilons", "robust_accuracy", type(self).__name__
            )
            for acc in curves
        ]
        return checked, list(names)

    def plot(self, ax=None, *, name=None, **kwargs):
        """Plot the robustness curves.

        {curve_plot_parameters}

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from skrobust.metrics import RobustnessCurveDisplay
        >>> fig, ax = plt.subplots()
        >>> display = RobustnessCurveDisplay(
        ...     epsilons=[0.0, 0.1], robust_accuracy=[0.9, 0.4]).plot(ax=ax)
        >>> display.ax_ is ax
        True
        """
        curves, attack_names = self._curves()
        name = self.name if name is None else name
        self.ax_, self.figure_ = axes_and_figure(ax, f"{type(self).__name__}.plot")
        self.lines_ = []
        for (epsilons, accuracy), attack_name in zip(curves, attack_names):
            order = np.argsort(epsilons, kind="stable")
            label = curve_label(name, attack_name)
            defaults = {"marker": "o", "markersize": 3}
            if label is not None:
                defaults["label"] = label
            if attack_name == WORST_CASE:
                defaults.update(linestyle="--", linewidth=2)
            (line,) = self.ax_.plot(
                epsilons[order],
                accuracy[order],
                **_validate_style_kwargs(defaults, kwargs),
            )
            self.lines_.append(line)
        self.line_ = self.lines_[0] if len(self.lines_) == 1 else None
        norms = self.norm
        if isinstance(norms, (list, tuple)):
            parts = (part for n in norms if n for part in n.split(", "))
            norms = ", ".join(dict.fromkeys(parts))
        if norms or not self.ax_.get_xlabel():  # keep a norm already shown
            self.ax_.set_xlabel(f"eps ({norms})" if norms else "eps")
        self.ax_.set(ylabel="robust accuracy", ylim=(-0.02, 1.02))
        if any(line.get_label() and line.get_label()[0] != "_" for line in self.lines_):
            self.ax_.legend(loc="best")
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        attack,
        epsilons,
        worst_case=False,
        name=None,
        ax=None,
        **kwargs,
    ):
        """Attack a fitted model at every budget and plot its robust accuracy.

        Each curve comes from
        :func:`~skrobust.metrics.robustness_curve`: the budgets are swept in
        increasing order and a point broken at a smaller budget counts as
        broken at every larger one, so each curve never increases.

        Parameters
        ----------
        estimator : fitted classifier
            Any estimator with a differentiable view (see
            :func:`skrobust.as_differentiable`).
        X : array-like or DataFrame of shape (n_samples, ...)
            Clean inputs.
        y : array-like of shape (n_samples,)
            True labels.
        attack : attack, list of attacks, or dict of {str: attack or list}
            Whose ``eps`` is replaced by each budget (and ``estimator`` by
            ``estimator``). One attack: one line. A list: one line, their
            pointwise worst case (as in
            :func:`~skrobust.metrics.robustness_curve` and
            :func:`~skrobust.metrics.make_robust_scorer`). A dict: one line
            per entry, labelled by its key.
        epsilons : array-like of shape (n_epsilons,)
            Budgets, in the attacks' units and norm.
        worst_case : bool, default=False
            With a dict of attacks, also plot the pointwise worst case over
            all of them (a point is robust at a budget only if no attack
            breaks it at that budget or a smaller one). Runs every attack
            once more; needs attacks of one norm.
        name : str, default=None
            Model name for the legend. ``None``: the estimator's class name.
        {ax}
        {kwargs_returns}

        {examples_iris}
        >>> from skrobust.attacks import FGSM, PGD
        >>> from skrobust.metrics import RobustnessCurveDisplay
        >>> display = RobustnessCurveDisplay.from_estimator(
        ...     clf, X, y, epsilons=[0.0, 0.2, 0.4],
        ...     attack={"FGSM": FGSM(eps=0), "PGD": PGD(eps=0, random_state=0)})
        >>> len(display.lines_)
        2
        """
        if isinstance(attack, Mapping):
            if not attack:
                raise ValueError("attack must not be an empty dict.")
            entries = [(str(k), _as_attacks(a, named=True)) for k, a in attack.items()]
        else:
            attacks = _as_attacks(attack, named=True)
            entries = [(" + ".join(describe_attack(a) for a in attacks), attacks)]
        every = [a for _, attacks in entries for a in attacks]
        norms = [_norm_of(attacks) for _, attacks in entries]
        if worst_case and len({getattr(a, "norm", None) for a in every}) > 1:
            raise ValueError(
                "worst_case=True needs attacks of one norm (budgets of "
                f"different norms are not comparable); got norms {norms}."
            )
        labels, curves = [], []
        for label, attacks in entries:
            eps, accuracy = robustness_curve(
                estimator,
                X,
                y,
                attack=attacks if len(attacks) > 1 else attacks[0],
                epsilons=epsilons,
            )
            labels.append(label)
            curves.append(accuracy)
        if worst_case and len(entries) > 1:
            _, worst = robustness_curve(estimator, X, y, attack=every, epsilons=eps)
            curves.append(worst)
            labels.append(WORST_CASE)
            norms.append(norms[0])
        several = len(curves) > 1
        display = cls(
            epsilons=eps,
            robust_accuracy=curves if several else curves[0],
            name=type(estimator).__name__ if name is None else name,
            attack_name=labels if several else labels[0],
            norm=norms if several else norms[0],
        )
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_curve(
        cls,
        epsilons,
        robust_accuracy,
        *,
        name=None,
        attack_name=None,
        norm=None,
        ax=None,
        **kwargs,
    ):
        """Plot a robustness curve computed beforehand.

        Parameters
        ----------
        epsilons : array-like of shape (n_epsilons,)
            Budgets, e.g. the first output of
            :func:`~skrobust.metrics.robustness_curve`.
        robust_accuracy : array-like of shape (n_epsilons,) or list of them
            Robust accuracy at each budget (a list: one curve per attack).
        name : str, default=None
            Model name for the legend.
        attack_name : str or list of str, default=None
            Attack name(s) for the legend, one per curve.
        norm : str or list of str, default=None
            Norm of the budgets, shown in the x axis label.
        {ax}
        {kwargs_returns}

        {examples_iris}
        >>> from skrobust.attacks import PGD
        >>> from skrobust.metrics import RobustnessCurveDisplay, robustness_curve
        >>> eps, acc = robustness_curve(clf, X, y, attack=PGD(eps=0, random_state=0),
        ...                             epsilons=[0.0, 0.2, 0.4])
        >>> display = RobustnessCurveDisplay.from_curve(
        ...     eps, acc, name="LogisticRegression", attack_name="PGD", norm="linf")
        >>> display.line_.get_label()
        'LogisticRegression, PGD'
        """
        display = cls(
            epsilons=epsilons,
            robust_accuracy=robust_accuracy,
            name=name,
            attack_name=attack_name,
            norm=norm,
        )
        return display.plot(ax=ax, **kwargs)
