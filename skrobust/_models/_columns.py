"""``ColumnTransformer`` (and bare encoders) as differentiable views.

Inside a pipeline, an all-numeric ``ColumnTransformer`` is one more torch
module. As the pipeline's *first* step it also defines the view's input
space, through a :class:`~skrobust._models._codec.TabularCodec`: numeric
columns as numbers, categorical columns (fed to a ``OneHotEncoder`` or
``OrdinalEncoder``, possibly after a ``SimpleImputer``) as one-hot vectors
of their categories.
"""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from .._torch import torch
from ._base import NotDifferentiableError, check_converted_fitted, to_torch
from ._codec import ColumnSpec, TabularCodec
from ._encoders import ENCODERS, category_maps, encoding_layer


class ColumnStack(torch.nn.Module):
    """Concatenate ``module(x[:, index])`` over parts, like ``ColumnTransformer``.

    Parameters
    ----------
    parts : list of (Tensor of int, torch.nn.Module)

    Examples
    --------
    >>> import torch
    >>> stack = ColumnStack([(torch.tensor([1]), torch.nn.Identity()),
    ...                      (torch.tensor([0, 1]), torch.nn.Identity())])
    >>> stack(torch.tensor([[1.0, 2.0]]))
    tensor([[2., 1., 2.]])
    """

    def __init__(self, parts):
        super().__init__()
        self.parts = torch.nn.ModuleList(m for _, m in parts)
        for k, (index, _) in enumerate(parts):
            self.register_buffer(f"index_{k}", index)

    def forward(self, x):
        outs = [m(x[:, getattr(self, f"index_{k}")]) for k, m in enumerate(self.parts)]
        return torch.cat(outs, dim=1)


def _steps(transformer):
    """A transformer as a flat list of steps (``passthrough`` -> [])."""
    if isinstance(transformer, str):
        return []
    if isinstance(transformer, Pipeline):
        return [s for _, t in transformer.steps for s in _steps(t)]
    if isinstance(transformer, FunctionTransformer) and transformer.func is None:
        return []
    return [transformer]


def _parts(ct):
    """``(name, steps, raw column indices)`` of each fitted transformer that
    outputs something, in output order."""
    check_converted_fitted(ct, "transformers_")
    where = ct._transformer_to_input_indices
    parts = []
    for name, transformer, _ in ct.transformers_:
        index = np.asarray(where.get(name, []), dtype=int)
        if isinstance(transformer, str) and transformer == "drop" or not len(index):
            continue
        out = ct.output_indices_[name]
        if out.stop == out.start:
            continue
        parts.append((out.start, name, _steps(transformer), index))
    return [p[1:] for p in sorted(parts, key=lambda p: p[0])]


def _split_encoder(steps):
    """``(pre, encoder, post)`` around the first encoder, or None."""
    for k, step in enumerate(steps):
        if isinstance(step, ENCODERS):
            return steps[:k], step, steps[k + 1 :]
    return None


def _sequential(steps, *, dtype, device):
    modules = [to_torch(s, dtype=dtype, device=device) for s in steps]
    if not modules:
        return torch.nn.Identity()
    return modules[0] if len(modules) == 1 else torch.nn.Sequential(*modules)


def _check_pre(pre, name):
    for step in pre:
        if not isinstance(step, SimpleImputer) or step.add_indicator:
            raise NotDifferentiableError(
                f"transformer {name!r} applies {type(step).__name__} to categories "
                "before encoding them; only SimpleImputer (without indicators) "
                "is supported there"
            )


def _fill(pre_steps, position):
    """The statistic a leading ``SimpleImputer`` fills a numeric column with."""
    if not pre_steps or not isinstance(pre_steps[0], SimpleImputer):
        return 0.0
    imputer = pre_steps[0]
    indicator = getattr(imputer, "indicator_", None)
    if indicator is not None and len(indicator.features_):
        raise NotDifferentiableError(
            "SimpleImputer(add_indicator=True) reads whether a raw value is "
            "missing, which the view's numeric input cannot show; attack this "
            "pipeline with a black-box attack, or drop the indicator"
        )
    value = np.asarray(imputer.statistics_, dtype=object)[position]
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if np.isnan(value) else value


def _input_parts(parts, n_features, *, dtype, device):
    """Column specs, pre-encoding blocks and working-space modules of ``parts``."""
    specs = [ColumnSpec("unused") for _ in range(n_features)]
    blocks, plan = [], []
    for name, steps, index in parts:
        split = _split_encoder(steps)
        if split is None:  # numeric
            for k, j in enumerate(index):
                _claim(specs, j, ColumnSpec("numeric", fill=_fill(steps, k)), name)
            plan.append(("numeric", index, steps, None))
            continue
        pre, encoder, post = split
        _check_pre(pre, name)
        maps = category_maps(encoder)
        for j, (categories, _, _) in zip(index, maps):
            _claim(specs, j, ColumnSpec("categorical", categories), name)
        if pre:
            blocks.append(
                (list(index), Pipeline([(str(i), s) for i, s in enumerate(pre)]))
            )
        plan.append(("categorical", index, post, (maps, name)))
    codec_index = TabularCodec(specs).index
    modules = []
    for kind, index, steps, extra in plan:
        working = np.concatenate([codec_index[j] for j in index])
        module = _sequential(steps, dtype=dtype, device=device)
        if kind == "categorical":
            maps, name = extra
            layer = encoding_layer(maps, dtype=dtype, device=device, name=name)
            module = torch.nn.Sequential(layer, module)
        modules.append((torch.as_tensor(working, device=device), module))
    return specs, blocks, modules


def _claim(specs, j, spec, name):
    old = specs[j]
    if old.kind == "unused":
        specs[j] = spec
    elif old.kind != spec.kind or (
        spec.kind == "categorical"
        and not np.array_equal(old.categories, spec.categories)
    ):
        raise NotDifferentiableError(
            f"raw column {j} is read both as a number and as a category (or with "
            f"two different category lists; transformer {name!r}); give each "
            "column one role"
        )


def input_view(step, *, dtype, device):
    """``(module, codec)`` when ``step`` reads raw tabular data, else ``None``.

    ``step`` is the first step of a pipeline: a ``ColumnTransformer`` or a
    ``OneHotEncoder`` / ``OrdinalEncoder``.
    """
    if isinstance(step, ColumnTransformer):
        parts = _parts(step)
    elif isinstance(step, ENCODERS):
        check_converted_fitted(step, "categories_")
        parts = [("encoder", [step], np.arange(len(step.categories_)))]
    else:
        return None
    n = int(step.n_features_in_)
    specs, blocks, modules = _input_parts(parts, n, dtype=dtype, device=device)
    names = getattr(step, "feature_names_in_", None)
    return ColumnStack(modules), TabularCodec(specs, names, blocks)


@to_torch.register(ColumnTransformer)
def _column_transformer(estimator, *, dtype, device):
    """A ``ColumnTransformer`` after other steps: numeric transformers only."""
    parts = _parts(estimator)
    modules = []
    for name, steps, index in parts:
        if _split_encoder(steps) is not None:
            raise NotDifferentiableError(
                f"its transformer {name!r} encodes categories of a numeric input; "
                "skrobust attacks categories only when the ColumnTransformer is "
                "the pipeline's first step"
            )
        module = _sequential(steps, dtype=dtype, device=device)
        modules.append((torch.as_tensor(index, device=device), module))
    return ColumnStack(modules)
