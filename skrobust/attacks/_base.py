"""Attacks as scikit-learn transformers: the shared base class."""

import math
import numbers

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import validate_data

from .._discrete import coordinate_names, warn_frozen_discrete
from .._models import check_columns
from .._threat import NORMS, check_eps, needs_data_statistics, resolve_constraints
from .._torch import torch
from ..utils import check_samples, resolve_batch_size
from ._batch_run import JOB_BATCH, BatchRun, batch_seeds
from ._call_cache import (
    FLOATS,
    cached_constraints,
    cached_view,
    check_input,
    encode_cached,
    param_names,
    validate_params,
)
from ._model import CastView, as_output, is_fitted, preprocess_of, working_space

_FLOATS = FLOATS
#: parameter constraints the attacks share
POSITIVE_INT = [Interval(numbers.Integral, 1, None, closed="left")]
POSITIVE = [Interval(numbers.Real, 0, None, closed="neither")]
FRACTION = [Interval(numbers.Real, 0, 1, closed="both")]
_TORCH_DTYPE = {np.dtype(t): getattr(torch, np.dtype(t).name) for t in _FLOATS}


class BaseAttack(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Base class of skrobust's attacks (not to be used directly).

    Subclasses implement :meth:`_attack_batch`; this class owns the
    transformer contract, input validation, the threat model, batching,
    random state and output types. Every batch goes through
    :meth:`_attack_batch`, which returns the adversarial batch and its
    extras (per-sample norms, per-stage results, ...); :meth:`_run`
    concatenates both over the batches, :meth:`generate` keeps the
    examples, and methods such as ``minimal_norms`` read the extras.

    One name per notion across the attacks: ``n_iter`` is a fixed number
    of steps (PGD, APGD, FAB, AutoAttack); ``max_iter`` an upper bound on
    an optimisation that stops early (Carlini-Wagner, HopSkipJump), as in
    scikit-learn; ``n_queries`` a per-point budget of model queries
    (Square). ``n_target_classes`` sets targeted runs towards the model's
    next most likely classes (``None``: untargeted); explicit targets go
    through ``generate(..., target=)``. ``batch_size="auto"`` is every
    attack's default.
    """

    #: warn when a discrete feature's budget is below one step (attacks
    #: measuring minimal norms have no budget to warn about)
    _budgeted = True
    #: whether ``_attack_batch`` takes ``box=(low, high)`` for l-infinity
    #: and returns examples inside it (then nothing is clamped after)
    _keeps_box = False

    _parameter_constraints = {
        "estimator": [None, HasMethods(["fit"])],
        "eps": ["array-like", dict, Interval(numbers.Real, 0, None, closed="left")],
        "norm": [StrOptions(set(NORMS))],
        "bounds": [None, tuple, list, StrOptions({"data"})],
        "feature_mask": [None, "array-like"],
        "direction": [None, "array-like", dict],
        "integer_features": [None, "array-like"],
        "one_hot_groups": [None, list],
        "max_changes": [None, Interval(numbers.Integral, 0, None, closed="left")],
        "allowed_categories": [None, dict],
        "eps_units": [StrOptions({"raw", "std"})],
        "batch_size": [*POSITIVE_INT, StrOptions({"auto"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- the transformer contract ------------------------------------------

    def fit(self, X, y=None):
        """Learn data statistics; train a clone of an *unfitted* estimator.

        A fitted ``estimator`` is used as is and never refitted (so ``fit`` is
        only needed for ``bounds="data"`` and ``eps_units="std"``, which use
        the per-feature min / max / standard deviation of ``X``). An unfitted
        one is cloned and fitted on ``(X, y)`` into ``estimator_``: an attack
        step in a ``Pipeline`` thus trains its own surrogate model.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,), default=None
            Needed only to fit an unfitted estimator.

        Returns
        -------
        self : object
        """
        self._validate_params()
        if self.estimator is not None and not is_fitted(self.estimator):
            if y is None:
                raise ValueError(
                    f"{type(self).__name__}.fit needs y to fit its unfitted "
                    f"estimator {type(self.estimator).__name__}; pass y, or give "
                    "the attack an already fitted estimator."
                )
            self.estimator_ = clone(self.estimator).fit(X, y)
        elif hasattr(self, "estimator_"):
            del self.estimator_
        estimator = self._estimator_or_none()
        Xw = working_space(X, self._preprocess_of(estimator))
        try:
            Xw = validate_data(self, Xw, allow_nd=True, dtype=_FLOATS)
        except ValueError as exc:
            if estimator is not None or "convert" not in str(exc):
                raise
            raise ValueError(
                f"{exc}. To learn statistics of raw tabular data with categorical "
                f"columns, fit the attack with the model that encodes them: "
                f"{type(self).__name__}(model, ...).fit(X)."
            ) from exc
        flat = Xw.reshape(len(Xw), -1)
        self.data_min_ = flat.min(axis=0).reshape(Xw.shape[1:])
        self.data_max_ = flat.max(axis=0).reshape(Xw.shape[1:])
        self.data_std_ = flat.std(axis=0).reshape(Xw.shape[1:])
        return self

    def transform(self, X):
        """Attack the model's own predictions on ``X`` (label-free).

        Untargeted against ``predict(X)`` (which avoids label leaking); keeps
        the number and order of samples, the input type (numpy / pandas) and
        its float dtype.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)

        Returns
        -------
        X_adv : same type as X
        """
        return self.generate(X)

    def generate(self, X, y=None, *, target=None):
        """Adversarial examples for ``X`` against the true labels or targets.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
            Clean inputs. Never modified.
        y : array-like of shape (n_samples,), default=None
            True labels (values of the model's ``classes_``). ``None`` attacks
            the model's own predictions, as :meth:`transform` does.
        target : label or array-like of shape (n_samples,), default=None
            Target classes for a targeted attack.

        Returns
        -------
        X_adv : same type as X
            Inside the budget, the bounds and every feature constraint.
        """
        return self._run(X, y, target=target)[0]

    def _run(self, X, y=None, *, target=None, **threat):
        """``(X_adv, extras)``: the examples and the batches' extras.

        ``threat`` overrides parts of the threat model (see
        :meth:`_constraints`). In ``extras``, a tensor of each batch's
        extras is per sample: concatenated over the batches, as numpy;
        anything else is listed per batch. ``extras`` is empty when no batch
        ran (nothing may move). ``X`` without samples is refused, as
        scikit-learn's ``check_array`` refuses it.
        """
        params = self.get_params(deep=False)
        validate_params(self, params)
        self._check_budget()
        view = self._view()
        check_samples(X, type(self).__name__)
        codec = getattr(view, "codec", None)
        if codec is None:  # scikit-learn's error for renamed / reordered columns
            check_columns(self._estimator_or_none(), X)
            Xw, pinned, layout = working_space(X, view.preprocess), None, None
        else:  # raw tabular data: numbers and one-hot categories, by name
            (Xw, pinned), layout = codec.encode(X), codec.layout(X)
        Xa = check_input(self, Xw, finite=False)  # values: on each batch
        if view.input_shape is not None and Xa.shape[1:] != view.input_shape:
            raise ValueError(
                f"X has samples of shape {Xa.shape[1:]}, but the model expects "
                f"{view.input_shape}: reshape X to "
                f"{(len(Xa), *view.input_shape)}, as it was fitted."
            )
        columns = getattr(Xw, "columns", None)
        if columns is None and getattr(self, "feature_names_in_", None) is not None:
            columns = self.feature_names_in_
        constraints = cached_constraints(
            self, Xa.shape[1:], columns, layout, threat, params
        )
        if self._budgeted:
            warn_frozen_discrete(
                constraints, self.norm, coordinate_names(columns, layout)
            )
        n = len(Xa)
        targeted = target is not None
        labels = self._encode(view, target, n, "target") if targeted else None
        true = None if y is None else self._encode(view, y, n, "y")
        # the attack runs in the input's precision (at least the model's), so
        # the budget and the bounds hold exactly in the returned dtype
        out_dtype = Xa.dtype if Xa.dtype in _FLOATS else np.float64
        work = torch.promote_types(view.dtype, _TORCH_DTYPE[np.dtype(out_dtype)])
        model = view if work == view.dtype else CastView(view, work)
        extras = {}
        if not constraints.any_mobile:
            Xa = check_input(self, Xa)  # its values too
            return as_output(np.array(Xa, dtype=out_dtype), X, Xw, codec), extras
        n_features = math.prod(Xa.shape[1:])
        size = resolve_batch_size(
            self.batch_size, n, self._values_per_sample(view, n_features)
        )
        n_jobs = getattr(self, "n_jobs", None)
        if n_jobs is not None and self.batch_size == "auto":
            size = min(size, JOB_BATCH)
        run = BatchRun(self, model, Xa, true, labels, constraints, pinned)
        run.work, run.out_dtype = work, _TORCH_DTYPE[np.dtype(out_dtype)]
        slices = [(start, min(start + size, n)) for start in range(0, n, size)]
        if n_jobs is None:  # one generator through the batches
            generator = torch.Generator(device=view.device)
            generator.manual_seed(self._seed())
            with view.evaluating():
                results = [run(a, b, generator) for a, b in self._batches(n, size)]
        else:  # a seed per batch: the same examples for any n_jobs
            seeds = batch_seeds(self._seed(), len(slices))
            results = Parallel(n_jobs=n_jobs, verbose=self.verbose)(
                delayed(run)(start, stop, seed)
                for (start, stop), seed in zip(slices, seeds)
            )
        if len(results) == 1:  # one batch: its array (a new one) is the output
            out = results[0][0]
        else:
            out = np.empty(Xa.shape, dtype=out_dtype)
        for (start, stop), (x_adv, more) in zip(slices, results):
            if x_adv is not out:
                out[start:stop] = x_adv
            for key, value in more.items():
                extras.setdefault(key, []).append(value)
        for key, values in extras.items():
            if isinstance(values[0], np.ndarray):
                extras[key] = np.concatenate(values)
        return as_output(out, X, Xw, codec), extras

    # -- pieces subclasses and meta-estimators use -------------------------

    def _attack_batch(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        """``(x_adv, extras)`` for one batch: tensors in, tensors out.

        ``extras`` is a dict (empty for most attacks): per-sample tensors
        (first dimension: the batch) or any per-batch value.
        """
        raise NotImplementedError

    @classmethod
    def _get_param_names(cls):
        return param_names(cls, super()._get_param_names)

    def _set_params(self, params):
        """Store each ``__init__`` parameter as is (``__init__`` passes its
        ``locals()``; scikit-learn's rule: no logic in ``__init__``)."""
        for name in self._get_param_names():
            setattr(self, name, params[name])

    def _clean_correct(self, X, y=None):
        """Per sample, whether the model classifies clean ``X`` right (all
        True for ``y=None``: its own predictions)."""
        view = self._view()
        Xw = working_space(X, view.preprocess)
        pred = np.asarray(view.logits(Xw, in_space=True)).argmax(axis=1)
        if y is None:
            return np.ones(len(pred), dtype=bool)
        return pred == self._encode(view, y, len(pred), "y").numpy()

    def _check_budget(self):
        """Validate the budget before an attack (minimal-norm attacks relax it)."""
        check_eps(self.eps)

    def _estimator_or_none(self):
        return getattr(self, "estimator_", None) or self.estimator

    def _fitted_estimator(self):
        estimator = self._estimator_or_none()
        if estimator is None:
            raise ValueError(
                f"{type(self).__name__} has no estimator to attack: pass one "
                f"({type(self).__name__}(clf, eps=...)), or let a scorer or "
                "meta-estimator supply it."
            )
        if not is_fitted(estimator):
            raise NotFittedError(
                f"{type(self).__name__}'s estimator {type(estimator).__name__} is "
                "not fitted: fit it first, or call the attack's fit(X, y) to train "
                "a clone of it."
            )
        return estimator

    def _view(self):
        return cached_view(
            self, self._estimator_or_none(), lambda _: self._fitted_estimator()
        )

    @staticmethod
    def _preprocess_of(estimator):
        """The front of ``estimator`` the attack does not differentiate
        (black-box and tree attacks override it)."""
        return preprocess_of(estimator)

    def _values_per_sample(self, view, n_features):
        """What one sample costs, for ``batch_size="auto"`` (about 4 million
        values per batch): its input values; attacks keeping more state per
        sample count more."""
        return n_features

    def _batches(self, n, size):
        """``(start, stop)`` of each batch of ``size`` samples."""
        starts = range(0, n, size)
        if self.verbose:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=type(self).__name__, unit="batch")
        for start in starts:
            yield start, min(start + size, n)

    def _seed(self):
        """A torch seed from ``random_state`` (an int is used as is)."""
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        rng = check_random_state(self.random_state)
        return int(rng.randint(np.iinfo(np.int32).max))

    @staticmethod
    def _encode(view, labels, n, name):
        """Labels (values of ``classes_``) -> class indices as a tensor."""
        return encode_cached(view, labels, n, name)

    def threat_model(self, sample_shape, columns=None, layout=None):
        """The resolved threat model for samples of ``sample_shape``.

        What the attack may change, by how much, within which bounds: the
        budget, bounds, mask, direction and integer / one-hot constraints,
        resolved once (defenses and scorers reuse it on tensors).

        Parameters
        ----------
        sample_shape : tuple of int
            Shape of one sample (``X.shape[1:]``).
        columns : array-like of str, default=None
            Column names, to resolve constraints given by name.
        layout : FeatureLayout, default=None
            The raw columns behind a tabular view's working matrix
            (``view.codec.layout(X)``).

        Returns
        -------
        constraints : Constraints
        """
        return self._constraints(tuple(sample_shape), columns, layout=layout)

    def _constraints(self, sample_shape, columns, eps=None, layout=None):
        """Resolve the threat model; ``eps`` overrides ``self.eps`` (e.g. a
        minimal-norm attack's unit of measure). Subclasses may take more
        overrides, which :meth:`_run` passes through."""
        params = self.get_params(deep=False)
        if needs_data_statistics(params) and not hasattr(self, "data_std_"):
            raise NotFittedError(
                f"{type(self).__name__} with eps_units='std' or bounds='data' uses "
                "per-feature statistics of the training data: call fit(X_train) "
                "first."
            )
        if eps is not None:
            params["eps"] = eps
        return resolve_constraints(
            params, sample_shape, columns, stats=self, layout=layout
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.three_d_array = True
        # a fitted estimator is attacked as is, without fit; an unfitted one
        # (or none) needs fit
        tags.requires_fit = self.estimator is None or not is_fitted(self.estimator)
        return tags
