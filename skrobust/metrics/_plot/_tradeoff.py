"""Clean against robust score of grid-search candidates."""

from collections.abc import Mapping

import numpy as np

from ...utils import store_params
from ._base import _validate_style_kwargs, axes_and_figure, display_docs, format_value


def pareto_front(clean, robust):
    """Boolean mask of the candidates no other candidate beats on both scores.

    A candidate is dominated when another one scores at least as well on
    both axes and strictly better on one. NaN scores (failed fits) are never
    on the front.
    """
    clean, robust = np.asarray(clean, dtype=float), np.asarray(robust, dtype=float)
    valid = ~(np.isnan(clean) | np.isnan(robust))
    front = valid.copy()
    for i in np.flatnonzero(valid):
        at_least = valid & (clean >= clean[i]) & (robust >= robust[i])
        front[i] = not np.any(at_least & ((clean > clean[i]) | (robust > robust[i])))
    return front


def _short_names(names):
    """Parameter names without their ``step__`` prefixes, where unambiguous."""
    short = [n.rsplit("__", 1)[-1] for n in names]
    return short if len(set(short)) == len(short) else list(names)


def _candidate_labels(params, param):
    """One text per candidate: its parameter values (``name=value, ...``)."""
    if param is None:
        names = list(dict.fromkeys(k for p in params for k in p))
        # parameters fixed across the grid say nothing about a candidate
        varying = [
            k for k in names if len({format_value(p.get(k, "")) for p in params}) > 1
        ]
        names = varying or names
    else:
        names = [param] if isinstance(param, str) else list(param)
        missing = [k for k in names if not any(k in p for p in params)]
        if missing:
            available = sorted({k for p in params for k in p})
            raise ValueError(
                f"param {missing} not found in cv_results['params']; available "
                f"parameters: {available}."
            )
    if len(names) == 1:
        return [format_value(p[names[0]]) if names[0] in p else "" for p in params]
    short = _short_names(names)
    return [
        ", ".join(f"{s}={format_value(p[k])}" for k, s in zip(names, short) if k in p)
        for p in params
    ]


# what ``**kwargs`` of its methods go to, and what ``plot`` sets
_PLOT_KWARGS = "Passed to matplotlib's ``scatter``."
_PLOT_SETS = "``ax_``, ``figure_``, ``scatter_`` and\n    ``pareto_front_``"


@display_docs(_PLOT_KWARGS, _PLOT_SETS)
class RobustnessTradeoffDisplay:
    """Clean against robust score of the candidates of a hyper-parameter search.

    Each point is one candidate (e.g. one training budget of an adversarially
    trained model), at its mean test clean score (x) and mean test robust
    score (y), annotated with its parameter values. The Pareto front, the
    candidates no other one beats on both scores, is highlighted. Build it
    with :meth:`from_cv_results`.

    Parameters
    ----------
    clean_score : array-like of shape (n_candidates,)
        Mean test clean score of each candidate.
    robust_score : array-like of shape (n_candidates,)
        Mean test robust score of each candidate.
    labels : list of str, default=None
        Annotation of each candidate (its parameter values).
    clean_std : array-like of shape (n_candidates,), default=None
        Standard deviation of the clean score across folds.
    robust_std : array-like of shape (n_candidates,), default=None
        Standard deviation of the robust score across folds.
    clean_name : str, default="clean"
        Name of the clean score, for the x axis label.
    robust_name : str, default="robust"
        Name of the robust score, for the y axis label.
    name : str, default=None
        Name of the search, for the legend.

    Attributes
    ----------
    scatter_ : matplotlib PathCollection
        The candidates.
    errorbar_ : matplotlib ErrorbarContainer or None
        Error bars (one standard deviation), when drawn.
    pareto_front_ : ndarray of bool of shape (n_candidates,)
        Which candidates are on the Pareto front.
    pareto_line_ : matplotlib Line2D
        The highlighted Pareto front.
    annotations_ : list of matplotlib Annotation
        The candidates' labels.
    ax_ : matplotlib Axes
        Axes with the plot.
    figure_ : matplotlib Figure
        Figure containing the plot.

    See Also
    --------
    skrobust.metrics.make_robust_scorer : The robust scorer to search with.

    Examples
    --------
    >>> from skrobust.metrics import RobustnessTradeoffDisplay
    >>> display = RobustnessTradeoffDisplay(
    ...     clean_score=[0.97, 0.95, 0.90, 0.93], robust_score=[0.1, 0.5, 0.6, 0.4],
    ...     labels=["0", "0.05", "0.1", "0.2"]).plot()
    >>> display.pareto_front_
    array([ True,  True,  True, False])
    """

    def __init__(
        self,
        *,
        clean_score,
        robust_score,
        labels=None,
        clean_std=None,
        robust_std=None,
        clean_name="clean",
        robust_name="robust",
        name=None,
    ):
        store_params(self, locals())

    def plot(
        self,
        ax=None,
        *,
        name=None,
        annotate=True,
        std_display_style="errorbar",
        **kwargs,
    ):
        """Plot the candidates, their labels and the Pareto front.

        Parameters
        ----------
        {ax}
        name : str, default=None
            Legend entry of the candidates; ``None`` uses :attr:`name`, else
            "candidates".
        annotate : bool, default=True
            Write each candidate's label next to it.
        std_display_style : {"errorbar", None}, default="errorbar"
            Draw one standard deviation of both scores as error bars (when
            the standard deviations are known), or not.
        {plot_kwargs_returns}

        Examples
        --------
        >>> from skrobust.metrics import RobustnessTradeoffDisplay
        >>> display = RobustnessTradeoffDisplay(
        ...     clean_score=[0.9, 0.8], robust_score=[0.3, 0.5]
        ... ).plot(annotate=False)
        >>> display.annotations_
        []
        """
        if std_display_style not in ("errorbar", None):
            raise ValueError(
                "std_display_style must be 'errorbar' or None; got "
                f"{std_display_style!r}."
            )
        clean = np.asarray(self.clean_score, dtype=float)
        robust = np.asarray(self.robust_score, dtype=float)
        if clean.ndim != 1 or clean.shape != robust.shape:
            raise ValueError(
                "clean_score and robust_score must be 1-D arrays of the same "
                f"length; got shapes {clean.shape} and {robust.shape}."
            )
        labels = self.labels
        if labels is not None and len(labels) != len(clean):
            raise ValueError(
                f"labels has {len(labels)} entries for {len(clean)} candidates."
            )
        name = self.name if name is None else name
        self.ax_, self.figure_ = axes_and_figure(ax, f"{type(self).__name__}.plot")
        ax = self.ax_

        self.errorbar_ = None
        has_std = self.clean_std is not None or self.robust_std is not None
        if std_display_style == "errorbar" and has_std:
            self.errorbar_ = ax.errorbar(
                clean,
                robust,
                xerr=None if self.clean_std is None else self.clean_std,
                yerr=None if self.robust_std is None else self.robust_std,
                fmt="none",
                ecolor="0.6",
                elinewidth=1,
                capsize=2,
                zorder=1,
            )
        defaults = {"label": "candidates" if name is None else name, "zorder": 2}
        self.scatter_ = ax.scatter(
            clean, robust, **_validate_style_kwargs(defaults, kwargs)
        )

        self.pareto_front_ = pareto_front(clean, robust)
        order = np.flatnonzero(self.pareto_front_)
        order = order[np.argsort(clean[order], kind="stable")]
        (self.pareto_line_,) = ax.plot(
            clean[order],
            robust[order],
            color=self.scatter_.get_facecolor()[0],
            marker="o",
            markersize=11,
            markerfacecolor="none",
            linestyle="-",
            linewidth=1,
            label="Pareto front" if name is None else f"{name}: Pareto front",
            zorder=3,
        )

        self.annotations_ = []
        if annotate and labels is not None:
            for x, y, text in zip(clean, robust, labels):
                if text and np.isfinite(x) and np.isfinite(y):
                    self.annotations_.append(
                        ax.annotate(
                            str(text),
                            (x, y),
                            xytext=(5, 5),
                            textcoords="offset points",
                            fontsize="small",
                        )
                    )
        ax.set(
            xlabel=f"{self.clean_name} score (mean test)",
            ylabel=f"{self.robust_name} score (mean test)",
        )
        ax.legend(loc="best")
        return self

    @classmethod
    def from_cv_results(
        cls,
        cv_results,
        *,
        clean="clean",
        robust="robust",
        param=None,
        name=None,
        ax=None,
        annotate=True,
        std_display_style="errorbar",
        **kwargs,
    ):
        """Plot the clean-robust trade-off of a search's candidates.

        Parameters
        ----------
        cv_results : dict or DataFrame
            The ``cv_results_`` of a ``GridSearchCV`` (or any scikit-learn
            search) run with
            ``scoring={"clean": ..., "robust": make_robust_scorer(...)}``.
        clean : str, default="clean"
            Key of the clean scorer in ``scoring`` (read from
            ``mean_test_<clean>`` and ``std_test_<clean>``).
        robust : str, default="robust"
            Key of the robust scorer in ``scoring``.
        param : str or list of str, default=None
            Parameter(s) to annotate each point with (e.g.
            ``"attack__eps"``). ``None``: every parameter that varies across
            the candidates.
        name : str, default=None
            Legend entry of the candidates.
        {ax}
        annotate : bool, default=True
            Write each candidate's parameter values next to it.
        std_display_style : {"errorbar", None}, default="errorbar"
            Draw one standard deviation across folds as error bars, or not.
        {kwargs_returns}

        {examples_iris}
        >>> from sklearn.model_selection import GridSearchCV
        >>> from skrobust.attacks import FGSM
        >>> from skrobust.metrics import RobustnessTradeoffDisplay, make_robust_scorer
        >>> search = GridSearchCV(
        ...     clf, {"C": [0.01, 0.1, 1.0]}, cv=3,
        ...     scoring={"clean": "accuracy",
        ...              "robust": make_robust_scorer(FGSM(eps=0.2))},
        ...     refit="robust").fit(X, y)
        >>> display = RobustnessTradeoffDisplay.from_cv_results(search.cv_results_)
        >>> display.labels
        ['0.01', '0.1', '1']
        """
        keys = list(cv_results.keys()) if isinstance(cv_results, Mapping) else None
        if keys is None:  # a DataFrame
            keys = list(cv_results.columns)
        scorers = sorted(
            k[len("mean_test_") :] for k in keys if k.startswith("mean_test_")
        )
        for which, key in (("clean", clean), ("robust", robust)):
            if f"mean_test_{key}" not in keys:
                raise ValueError(
                    f"cv_results has no 'mean_test_{key}' ({which}={key!r}). "
                    f"Scorers found: {scorers}. Run the search with "
                    "scoring={'clean': 'accuracy', 'robust': make_robust_scorer(...)} "
                    "or pass the names of your scorers as clean= and robust=."
                )
        if "params" not in keys:
            raise ValueError("cv_results has no 'params': pass a search's cv_results_.")
        params = list(cv_results["params"])

        def std(key):
            return np.asarray(cv_results[key], dtype=float) if key in keys else None

        display = cls(
            clean_score=np.asarray(cv_results[f"mean_test_{clean}"], dtype=float),
            robust_score=np.asarray(cv_results[f"mean_test_{robust}"], dtype=float),
            labels=_candidate_labels(params, param),
            clean_std=std(f"std_test_{clean}"),
            robust_std=std(f"std_test_{robust}"),
            clean_name=clean,
            robust_name=robust,
            name=name,
        )
        return display.plot(
            ax=ax, annotate=annotate, std_display_style=std_display_style, **kwargs
        )
