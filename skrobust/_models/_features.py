"""Exact torch views of scikit-learn's nonlinear feature transformers.

``PolynomialFeatures``, ``SplineTransformer``, ``QuantileTransformer``,
``PowerTransformer`` and ``SimpleImputer`` (numeric) compute their
``transform`` in torch with frozen constants; ``KBinsDiscretizer`` is
piecewise constant and has no useful gradient.
"""

import numpy as np
from scipy import stats
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import (
    KBinsDiscretizer,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    SplineTransformer,
)

from .._torch import torch
from ._base import NotDifferentiableError, check_converted_fitted, constant, to_torch
from ._preprocessing import Standardize


class Monomials(torch.nn.Module):
    """``prod_j x_j ** powers[k, j]`` for every output ``k`` (polynomial features).

    Examples
    --------
    >>> import torch
    >>> Monomials(torch.tensor([[0, 0], [1, 1], [2, 0]]))(torch.tensor([[2.0, 3.0]]))
    tensor([[1., 6., 4.]])
    """

    def __init__(self, powers):
        super().__init__()
        self.register_buffer("powers", powers)

    def forward(self, x):
        p = self.powers.to(x.dtype)
        # x ** 0 has a NaN gradient at 0: raise 1 instead where the power is 0
        base = torch.where(self.powers > 0, x[:, None, :], torch.ones_like(p))
        return (base**p).prod(dim=2)


@to_torch.register(PolynomialFeatures)
def _polynomial(estimator, *, dtype, device):
    check_converted_fitted(estimator, "powers_")
    powers = torch.as_tensor(np.asarray(estimator.powers_), device=device)
    return Monomials(powers.to(torch.int64))


class BSplines(torch.nn.Module):
    """The B-spline design matrix of ``SplineTransformer``, feature by feature.

    Parameters
    ----------
    knots : Tensor of shape (n_features, n_knots)
        Each feature's full knot vector (``bsplines_[i].t``).
    degree : int
    n_splines : int
        Output columns per feature (before ``include_bias`` drops one).
    extrapolation : str
        As the estimator's; ``"error"`` computes the in-range formula.
    edges : tuple of Tensor or None
        ``(xmin, xmax, f_min, f_max, fp_min, fp_max)`` for "constant" and
        "linear" extrapolation: values and slopes of the basis at the ends.
    keep : Tensor of int
        Output columns kept (``include_bias=False`` drops the last spline of
        each feature).
    """

    def __init__(self, knots, degree, n_splines, extrapolation, edges, keep):
        super().__init__()
        self.register_buffer("knots", knots)
        self.register_buffer("keep", keep)
        self.edges = torch.nn.ParameterList(
            [torch.nn.Parameter(e, requires_grad=False) for e in edges or ()]
        )
        self.degree, self.n_splines = int(degree), int(n_splines)
        self.extrapolation = extrapolation

    def _basis(self, x):
        """All ``n_knots - degree - 1`` basis values at ``x`` (n, F, n_basis)."""
        t, k = self.knots, self.degree
        n_basis = t.shape[1] - k - 1
        # the polynomial piece of x (first / last piece outside: extrapolate)
        piece = torch.searchsorted(t, x.T.contiguous(), right=True).T - 1
        piece = piece.clamp(k, n_basis - 1)
        tt = t.T[None].expand(len(x), -1, -1)  # (n, n_knots, F)

        def knot(offset):
            return torch.gather(tt, 1, (piece + offset)[:, None, :])[:, 0, :]

        values = [torch.ones_like(x)]
        for j in range(1, k + 1):  # de Boor's triangular recursion
            left = [x - knot(1 - r) for r in range(1, j + 1)]
            right = [knot(r) - x for r in range(1, j + 1)]
            saved = torch.zeros_like(x)
            new = []
            for r in range(j):
                temp = values[r] / (right[r] + left[j - r - 1])
                new.append(saved + right[r] * temp)
                saved = left[j - r - 1] * temp
            values = [*new, saved]
        out = x.new_zeros(*x.shape, n_basis)
        index = (piece - k)[..., None] + torch.arange(k + 1, device=x.device)
        return out.scatter_add(2, index, torch.stack(values, dim=2))

    def forward(self, x):
        t, k = self.knots, self.degree
        missing = torch.isnan(x)
        x = torch.where(missing, t[:, k], x)  # handle_missing="zeros"
        if self.extrapolation == "periodic":
            start, stop = t[:, k], t[:, t.shape[1] - k - 1]
            period = stop - start
            wrapped = start + torch.remainder(
                x - start, torch.where(period > 0, period, 1)
            )
            x = torch.where(period > 0, wrapped, torch.zeros_like(x))
        if self.extrapolation in ("constant", "linear"):
            xmin, xmax, f_min, f_max, fp_min, fp_max = self.edges
            inside = self._basis(x.clamp(xmin, xmax))
            below = f_min + (x - xmin)[..., None] * fp_min
            above = f_max + (x - xmax)[..., None] * fp_max
            out = torch.where((x < xmin)[..., None], below, inside)
            out = torch.where((x > xmax)[..., None], above, out)
        else:
            out = self._basis(x)
        if self.extrapolation == "periodic":  # wrap the last `degree` bases
            head = out[..., : self.degree] + out[..., self.n_splines :]
            out = torch.cat([head, out[..., self.degree : self.n_splines]], dim=2)
        out = torch.where(missing[..., None], torch.zeros_like(out), out)
        return out.reshape(len(x), -1)[:, self.keep]


@to_torch.register(SplineTransformer)
def _spline(estimator, *, dtype, device):
    check_converted_fitted(estimator, "bsplines_")
    splines = estimator.bsplines_
    degree = estimator.degree
    n_splines = splines[0].c.shape[1]
    knots = constant(np.stack([s.t for s in splines]), dtype=dtype, device=device)
    edges = None
    mode = estimator.extrapolation
    if mode in ("constant", "linear"):
        xmin = np.array([s.t[degree] for s in splines])
        xmax = np.array([s.t[-degree - 1] for s in splines])
        f_min = np.stack([s(a) for s, a in zip(splines, xmin)])
        f_max = np.stack([s(b) for s, b in zip(splines, xmax)])
        slope_min = np.zeros_like(f_min)
        slope_max = np.zeros_like(f_max)
        n_set = degree  # sklearn sets the first / last `n_set` columns outside
        if mode == "linear":
            slope_min = np.stack([s(a, nu=1) for s, a in zip(splines, xmin)])
            slope_max = np.stack([s(b, nu=1) for s, b in zip(splines, xmax)])
            n_set = degree + 1 if degree <= 1 else degree
        first = np.arange(n_splines) < n_set
        last = np.arange(n_splines)[::-1] < n_set
        edges = [
            xmin,
            xmax,
            np.where(first, f_min, 0.0),
            np.where(last, f_max, 0.0),
            np.where(first, slope_min, 0.0),
            np.where(last, slope_max, 0.0),
        ]
        edges = [constant(e, dtype=dtype, device=device) for e in edges]
    n_out = len(splines) * n_splines
    keep = np.arange(n_out)
    if not estimator.include_bias:
        keep = keep[(keep + 1) % n_splines != 0]
    keep = torch.as_tensor(keep, device=device)
    return BSplines(knots, degree, n_splines, mode, edges, keep)


def _interp(x, xp, fp):
    """``np.interp`` per feature: ``x`` (n, F), sorted ``xp`` and ``fp`` (F, m)."""
    m = xp.shape[1]
    j = torch.searchsorted(xp, x.T.contiguous(), right=True).T - 1
    j = j.clamp(0, m - 2)
    xpT, fpT = xp.T, fp.T
    x_lo, x_hi = torch.gather(xpT, 0, j), torch.gather(xpT, 0, j + 1)
    f_lo, f_hi = torch.gather(fpT, 0, j), torch.gather(fpT, 0, j + 1)
    width = x_hi - x_lo
    frac = (x - x_lo) / torch.where(width > 0, width, torch.ones_like(width))
    out = torch.where(width > 0, f_lo + frac * (f_hi - f_lo), f_hi)
    out = torch.where(x < xp[:, 0], fp[:, 0], out)
    return torch.where(x >= xp[:, -1], fp[:, -1], out)


class QuantileMap(torch.nn.Module):
    """``QuantileTransformer.transform``: interpolated ranks, then the ppf."""

    def __init__(self, quantiles, references, normal):
        super().__init__()
        self.register_buffer("quantiles", quantiles)  # (F, m)
        self.register_buffer("references", references)  # (m,)
        self.normal = bool(normal)

    def forward(self, x):
        q = self.quantiles
        ref = self.references.expand_as(q)
        # both directions, averaged, as sklearn does for repeated quantiles
        y = 0.5 * (_interp(x, q, ref) - _interp(-x, -q.flip(1), -ref.flip(1)))
        if self.normal:
            low = x - 1e-7 < q[:, 0]
            high = x + 1e-7 > q[:, -1]
        else:
            low, high = x == q[:, 0], x == q[:, -1]
        y = torch.where(high, torch.ones_like(y), y)
        y = torch.where(low, torch.zeros_like(y), y)
        if not self.normal:
            return y
        tiny = 1e-7 - np.spacing(1)
        clip = float(stats.norm.ppf(tiny)), float(stats.norm.ppf(1 - tiny))
        # clamp before ndtri so the gradient is finite where y is 0 or 1
        z = torch.special.ndtri(y.clamp(tiny / 2, 1 - tiny / 2))
        return z.clamp(*clip)


@to_torch.register(QuantileTransformer)
def _quantile(estimator, *, dtype, device):
    check_converted_fitted(estimator, "quantiles_")
    return QuantileMap(
        constant(np.asarray(estimator.quantiles_).T, dtype=dtype, device=device),
        constant(estimator.references_, dtype=dtype, device=device),
        estimator.output_distribution == "normal",
    )


class PowerMap(torch.nn.Module):
    """Yeo-Johnson or Box-Cox with fitted ``lambdas`` (as scipy computes them)."""

    def __init__(self, lambdas, method):
        super().__init__()
        self.register_buffer("lambdas", lambdas)
        self.method = method

    def forward(self, x):
        lam = self.lambdas
        tiny = float(np.spacing(1.0))
        if self.method == "box-cox":
            safe = torch.where(lam.abs() < 1e-19, torch.ones_like(lam), lam)
            power = torch.expm1(safe * torch.log(x)) / safe
            return torch.where(lam.abs() < 1e-19, torch.log(x), power)
        pos, neg = x.clamp(min=0), x.clamp(max=0)  # no NaN branch gradients
        lam_p = torch.where(lam.abs() < tiny, torch.ones_like(lam), lam)
        up = torch.where(
            lam.abs() < tiny,
            torch.log1p(pos),
            torch.expm1(lam_p * torch.log1p(pos)) / lam_p,
        )
        two = 2 - lam
        two_p = torch.where(two.abs() > tiny, two, torch.ones_like(two))
        down = torch.where(
            two.abs() > tiny,
            -torch.expm1(two_p * torch.log1p(-neg)) / two_p,
            -torch.log1p(-neg),
        )
        return torch.where(x >= 0, up, down)


@to_torch.register(PowerTransformer)
def _power(estimator, *, dtype, device):
    check_converted_fitted(estimator, "lambdas_")
    module = PowerMap(
        constant(estimator.lambdas_, dtype=dtype, device=device), estimator.method
    )
    if not estimator.standardize:
        return module
    scaler = estimator._scaler
    return torch.nn.Sequential(
        module,
        Standardize(
            constant(scaler.mean_, dtype=dtype, device=device),
            constant(scaler.scale_, dtype=dtype, device=device),
        ),
    )


class Impute(torch.nn.Module):
    """``SimpleImputer`` on numbers: the fitted statistic where a value is missing.

    Identity (and gradient one) where values are present; missing entries
    (NaN or ``missing_value``) take the statistic and have zero gradient.
    Optionally keeps only some columns and appends missing indicators.
    """

    def __init__(self, statistics, missing_value, keep, indicator):
        super().__init__()
        self.register_buffer("statistics", statistics)
        self.register_buffer("keep", keep)
        self.register_buffer("indicator", indicator)
        self.missing_value = missing_value

    def missing(self, x):
        if self.missing_value is None:
            return torch.isnan(x)
        return x == self.missing_value

    def forward(self, x):
        missing = self.missing(x)
        out = torch.where(missing, self.statistics.to(x.dtype), x)[:, self.keep]
        if self.indicator is None:
            return out
        return torch.cat([out, missing[:, self.indicator].to(x.dtype)], dim=1)


def _missing_value(value):
    """``None`` for NaN-like markers, else the numeric marker."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if getattr(value, "__class__", None).__name__ == "NAType":  # pandas.NA
        return None
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    raise NotDifferentiableError(
        f"SimpleImputer(missing_values={value!r}) marks missing values that are "
        "not numbers; it has no torch view."
    )


@to_torch.register(SimpleImputer)
def _simple_imputer(estimator, *, dtype, device):
    check_converted_fitted(estimator, "statistics_")
    try:
        stats_ = np.asarray(estimator.statistics_, dtype=np.float64)
    except (TypeError, ValueError):
        raise NotDifferentiableError(
            "SimpleImputer on non-numeric columns has no torch view; in a "
            "ColumnTransformer, put it in front of an encoder on categorical "
            "columns (make_pipeline(SimpleImputer(strategy='most_frequent'), "
            "OneHotEncoder())) so skrobust attacks the categories."
        ) from None
    if estimator.keep_empty_features:
        keep = np.arange(len(stats_))
    else:
        keep = np.flatnonzero(~np.isnan(stats_))
    missing = _missing_value(estimator.missing_values)
    indicator = getattr(estimator, "indicator_", None)
    indicator = None if indicator is None else torch.as_tensor(indicator.features_)
    return Impute(
        constant(np.nan_to_num(stats_), dtype=dtype, device=device),
        missing,
        torch.as_tensor(keep, device=device),
        None if indicator is None else indicator.to(device),
    )


@to_torch.register(KBinsDiscretizer)
def _kbins(estimator, *, dtype, device):
    raise NotDifferentiableError(
        "KBinsDiscretizer is piecewise constant: its gradient is zero almost "
        "everywhere, so gradient attacks and bounds learn nothing through it. "
        "Attack the whole pipeline with a black-box attack "
        "(skrobust.attacks.SquareAttack or HopSkipJump), or replace the "
        "discretizer by SplineTransformer, which is differentiable"
    )
