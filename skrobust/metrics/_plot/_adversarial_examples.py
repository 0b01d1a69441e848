"""A gallery of clean images, perturbations and adversarial images."""

import numbers

import numpy as np
from sklearn.utils import check_consistent_length
from sklearn.utils._optional_dependencies import check_matplotlib_support

from ..._models import as_differentiable
from ...utils import Substitution, store_params
from .._robust import attack_for
from ._base import describe_attack, display_docs
from ._images import ROWS, _as_images, _grid_axes, check_n_examples

# the parameters both constructors share
_GALLERY = {
    "gallery": """\
n_examples : int, default=8
    Number of images (columns) to show: the first ones.
image_shape : tuple of int, default=None
    Shape of one image, for flat inputs, e.g. ``(8, 8)``.""",
    "ax_and_kwargs": """\
ax : matplotlib Axes or array of Axes, default=None
    See :meth:`plot`.
**kwargs : dict
    Passed to :meth:`plot` (``cmap``, ``perturbation_cmap``) and
    matplotlib's ``imshow``.

Returns
-------
display : AdversarialExamplesDisplay""",
}


# what ``**kwargs`` of its methods go to, and what ``plot`` sets
_PLOT_KWARGS = "Passed to matplotlib's ``imshow`` for every image."
_PLOT_SETS = "``axes_``, ``images_`` and ``figure_``"


@display_docs(_PLOT_KWARGS, _PLOT_SETS)
class AdversarialExamplesDisplay:
    """Gallery of adversarial images: clean, perturbation, adversarial.

    One column per example; the rows show the clean image (titled with the
    model's prediction and the true label), the perturbation (diverging
    colormap, limits symmetric around 0) and the adversarial image (titled
    with the model's prediction, in red when it is wrong). Build it with
    :meth:`from_estimator` or :meth:`from_predictions`.

    Parameters
    ----------
    X : ndarray of shape (n_examples, ...)
        Clean images: flat ``(n, H * W)`` (with ``image_shape``, or square),
        ``(n, H, W)``, ``(n, 1, H, W)``, ``(n, 3, H, W)`` or ``(n, H, W, 3)``.
    X_adv : ndarray of the shape of ``X``
        Adversarial images.
    y_true : array-like of shape (n_examples,)
        True labels.
    y_pred_clean : array-like of shape (n_examples,)
        Predictions on ``X``.
    y_pred_adv : array-like of shape (n_examples,)
        Predictions on ``X_adv``.
    image_shape : tuple of int, default=None
        Shape of one image, e.g. ``(8, 8)`` or ``(32, 32, 3)``, to reshape
        each sample to.
    name : str, default=None
        Title of the gallery (e.g. the model and attack).

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (3, n_examples)
        Rows: clean, perturbation, adversarial.
    images_ : ndarray of matplotlib AxesImage of shape (3, n_examples)
        The images drawn.
    figure_ : matplotlib Figure
        Figure containing the gallery.

    See Also
    --------
    RobustnessCurveDisplay : Robust accuracy against the budget.

    Examples
    --------
    >>> import numpy as np
    >>> from skrobust.metrics import AdversarialExamplesDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(3, 64))
    >>> X_adv = np.clip(X + rng.uniform(-0.1, 0.1, size=X.shape), 0, 1)
    >>> display = AdversarialExamplesDisplay(
    ...     X=X, X_adv=X_adv, y_true=[1, 2, 3], y_pred_clean=[1, 2, 3],
    ...     y_pred_adv=[7, 2, 8], image_shape=(8, 8)).plot()
    >>> display.axes_.shape
    (3, 3)
    """

    def __init__(
        self, *, X, X_adv, y_true, y_pred_clean, y_pred_adv, image_shape=None, name=None
    ):
        store_params(self, locals())

    def plot(
        self, ax=None, *, name=None, cmap="gray", perturbation_cmap="RdBu_r", **kwargs
    ):
        """Draw the gallery.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes of shape (3, n_examples), \
                default=None
            Where to draw: ``None``, a new figure; one Axes (made by
            ``subplots``), split into the grid; or the grid of axes itself.
        name : str, default=None
            Title of the gallery; ``None`` uses :attr:`name`.
        cmap : str or Colormap, default="gray"
            Colormap of grey-scale clean and adversarial images (``"gray_r"``
            draws dark digits on white).
        perturbation_cmap : str or Colormap, default="RdBu_r"
            Diverging colormap of grey-scale perturbations. Colour
            perturbations are drawn amplified around mid-grey instead.
        {plot_kwargs_returns}

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from skrobust.metrics import AdversarialExamplesDisplay
        >>> X = np.zeros((2, 1, 4, 4))
        >>> fig, ax = plt.subplots()
        >>> display = AdversarialExamplesDisplay(
        ...     X=X, X_adv=X + 0.1, y_true=[0, 1], y_pred_clean=[0, 1],
        ...     y_pred_adv=[1, 1]).plot(ax=ax)
        >>> display.figure_ is fig
        True
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        X = _as_images(self.X, self.image_shape, "X")
        X_adv = _as_images(self.X_adv, self.image_shape, "X_adv")
        if X_adv.shape != X.shape:
            raise ValueError(
                f"X_adv must have the shape of X; got {np.shape(self.X_adv)} and "
                f"{np.shape(self.X)}."
            )
        n = len(X)
        labels = {
            key: np.asarray(getattr(self, key))
            for key in ("y_true", "y_pred_clean", "y_pred_adv")
        }
        for key, values in labels.items():
            if values.shape != (n,):
                raise ValueError(
                    f"{key} must have one label per image ({n}); got shape "
                    f"{values.shape}."
                )
        if n == 0:
            raise ValueError("no images to show: X is empty.")
        name = self.name if name is None else name
        self.axes_, self.figure_ = _grid_axes(ax, n)

        delta = X_adv - X
        limit = float(np.abs(delta).max()) or 1.0
        low = float(min(X.min(), X_adv.min()))
        high = float(max(X.max(), X_adv.max()))
        high = high if high > low else low + 1.0
        colour = X.ndim == 4

        def scaled(image):  # colour images: imshow wants [0, 1]
            return np.clip((image - low) / (high - low), 0, 1)

        y_true, y_clean, y_adv = labels.values()
        self.images_ = np.empty((len(ROWS), n), dtype=object)
        for j in range(n):
            row_axes = self.axes_[:, j]
            if colour:
                shown = (
                    scaled(X[j]),
                    np.clip(0.5 + 0.5 * delta[j] / limit, 0, 1),
                    scaled(X_adv[j]),
                )
                options = ({}, {}, {})
            else:
                shown = (X[j], delta[j], X_adv[j])
                image = {"cmap": cmap, "vmin": low, "vmax": high}
                options = (
                    image,
                    {"cmap": perturbation_cmap, "vmin": -limit, "vmax": limit},
                    image,
                )
            for i, (ax_, img, opts) in enumerate(zip(row_axes, shown, options)):
                self.images_[i, j] = ax_.imshow(img, **{**opts, **kwargs})
                ax_.set_xticks([])
                ax_.set_yticks([])
            wrong_clean = y_clean[j] != y_true[j]
            row_axes[0].set_title(
                f"pred {y_clean[j]}\ntrue {y_true[j]}",
                fontsize="small",
                color="C3" if wrong_clean else "black",
            )
            row_axes[2].set_title(
                f"pred {y_adv[j]}",
                fontsize="small",
                color="C3" if y_adv[j] != y_true[j] else "black",
            )
        self.axes_[0, 0].set_ylabel(ROWS[0])
        self.axes_[1, 0].set_ylabel(f"{ROWS[1]}\n(±{limit:.3g})")
        self.axes_[2, 0].set_ylabel(ROWS[2])
        if name is not None and ax is None:
            self.figure_.suptitle(name)
        return self

    @classmethod
    @Substitution(**_GALLERY)
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        attack,
        n_examples=8,
        image_shape=None,
        name=None,
        ax=None,
        **kwargs,
    ):
        """Attack the first ``n_examples`` images and draw the gallery.

        Parameters
        ----------
        estimator : fitted classifier
            A model with a differentiable view taking the images as they
            are (e.g. a :class:`~skrobust.SkorchClassifier` CNN, or a model
            of flat pixels with ``image_shape``).
        X : array-like of shape (n_samples, ...)
            Images; only the first ``n_examples`` are attacked.
        y : array-like of shape (n_samples,)
            True labels.
        attack : attack
            The attack (its ``estimator`` is replaced by ``estimator``).
        {gallery}
        name : str, default=None
            Title of the gallery. ``None``: the estimator's class name and
            the attack with its budget.
        {ax_and_kwargs}

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.linear_model import LogisticRegression
        >>> from skrobust.attacks import PGD
        >>> from skrobust.metrics import AdversarialExamplesDisplay
        >>> X, y = load_digits(return_X_y=True)
        >>> X = X / 16.0
        >>> clf = LogisticRegression(max_iter=100).fit(X[:500], y[:500])
        >>> display = AdversarialExamplesDisplay.from_estimator(
        ...     clf, X, y, attack=PGD(eps=0.2, bounds=(0, 1), random_state=0),
        ...     n_examples=4, image_shape=(8, 8), cmap="gray_r")
        >>> display.axes_.shape
        (3, 4)
        """
        check_n_examples(n_examples)
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        view = as_differentiable(estimator)
        if view.preprocess is not None:
            raise ValueError(
                "the model is not differentiable in its raw inputs, so the "
                "adversarial examples are not images; use from_predictions with "
                "images you attacked yourself."
            )
        y = np.asarray(y)
        index = np.arange(min(n_examples, len(y)))
        X_shown = X.iloc[index] if hasattr(X, "iloc") else np.asarray(X)[index]
        X_adv = attack_for(attack, estimator, X).generate(X_shown, y[index])
        if name is None:
            eps = getattr(attack, "eps", None)
            budget = f", eps={eps:g}" if isinstance(eps, numbers.Real) else ""
            norm = getattr(attack, "norm", None)
            budget += f" ({norm})" if norm and budget else ""
            name = f"{type(estimator).__name__}: {describe_attack(attack)}{budget}"
        display = cls(
            X=np.asarray(X_shown),
            X_adv=np.asarray(X_adv),
            y_true=y[index],
            y_pred_clean=view.predict(X_shown),
            y_pred_adv=view.predict(X_adv),
            image_shape=image_shape,
            name=name,
        )
        return display.plot(ax=ax, **kwargs)

    @classmethod
    @Substitution(**_GALLERY)
    def from_predictions(
        cls,
        X,
        X_adv,
        y_true,
        y_pred_clean,
        y_pred_adv,
        *,
        n_examples=8,
        image_shape=None,
        name=None,
        ax=None,
        **kwargs,
    ):
        """Draw the gallery from adversarial examples computed beforehand.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Clean images.
        X_adv : array-like of the shape of ``X``
            Adversarial images.
        y_true : array-like of shape (n_samples,)
            True labels.
        y_pred_clean : array-like of shape (n_samples,)
            Predictions on ``X``.
        y_pred_adv : array-like of shape (n_samples,)
            Predictions on ``X_adv``.
        {gallery}
        name : str, default=None
            Title of the gallery.
        {ax_and_kwargs}

        Examples
        --------
        >>> import numpy as np
        >>> from skrobust.metrics import AdversarialExamplesDisplay
        >>> X = np.zeros((5, 8, 8))
        >>> display = AdversarialExamplesDisplay.from_predictions(
        ...     X, X + 0.05, [0] * 5, [0] * 5, [1] * 5, n_examples=2)
        >>> display.axes_.shape
        (3, 2)
        """
        check_n_examples(n_examples)
        check_consistent_length(X, X_adv, y_true, y_pred_clean, y_pred_adv)
        shown = slice(0, n_examples)
        display = cls(
            X=np.asarray(X)[shown],
            X_adv=np.asarray(X_adv)[shown],
            y_true=np.asarray(y_true)[shown],
            y_pred_clean=np.asarray(y_pred_clean)[shown],
            y_pred_adv=np.asarray(y_pred_adv)[shown],
            image_shape=image_shape,
            name=name,
        )
        return display.plot(ax=ax, **kwargs)
