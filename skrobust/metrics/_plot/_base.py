"""Helpers shared by the Display objects (matplotlib is imported lazily)."""

import numbers

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils._plotting import _validate_style_kwargs

from ...utils import SHARED_DOCS, Substitution

__all__ = [
    "_validate_style_kwargs",
    "axes_and_figure",
    "curve_label",
    "display_docs",
]


def display_docs(kwargs, attributes):
    """Class decorator filling the texts a display's methods share: ``{ax}``,
    ``{kwargs_returns}`` (its constructors' ``**kwargs``, passed on as
    ``kwargs`` says, and what they return), ``{plot_kwargs_returns}``
    (the same for ``plot``, which sets ``attributes``) and
    ``{curve_plot_parameters}`` (all of a curve's ``plot(ax, *, name,
    **kwargs)``: Parameters and Returns); and ``SHARED_DOCS``."""

    def fill(display):
        kw = f"**kwargs : dict\n    {kwargs}"
        returns = f"Returns\n-------\ndisplay : {display.__name__}"
        ax = """\
ax : matplotlib Axes, default=None
    Axes to plot on (another display's ``ax_``, to compare models).
    ``None``: a new figure and axes."""
        plot_returns = f"{kw}\n\n{returns}\n    The display, with {attributes} set."
        name = """\
name : str, default=None
    Model name for the legend; ``None`` uses :attr:`name`."""
        texts = {
            "ax": ax,
            "kwargs_returns": f"{kw}\n\n{returns}",
            "plot_kwargs_returns": plot_returns,
            "curve_plot_parameters": (
                f"Parameters\n----------\n{ax}\n{name}\n{plot_returns}"
            ),
        }
        return Substitution(**SHARED_DOCS, **texts)(display)

    return fill


def axes_and_figure(ax, where):
    """``(ax, figure)``: ``ax`` itself, or new axes when it is ``None``."""
    check_matplotlib_support(where)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax, ax.figure


def curve_label(*parts):
    """The non-empty ``parts`` joined by ``", "``, or ``None``."""
    parts = [str(p) for p in parts if p is not None and str(p) != ""]
    return ", ".join(parts) if parts else None


def check_curve(x, y, x_name, y_name, owner):
    """1-D float arrays of equal length, ``x`` finite and non-negative."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError(
            f"{owner}: {x_name} must be a 1-D array of non-negative finite "
            f"numbers; got {x!r}."
        )
    if y.shape != x.shape:
        raise ValueError(
            f"{owner}: {y_name} must have one value per entry of {x_name} "
            f"({len(x)}); got shape {y.shape}."
        )
    return x, y


def format_value(value):
    """Short text for a parameter value (floats as ``%g``)."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{value:g}"
    if hasattr(value, "get_params"):  # an estimator: its class name
        return type(value).__name__
    return str(value)


def describe_attack(attack):
    """``"PGD"``, ``"FGSM"``: an attack's class name."""
    return type(attack).__name__
