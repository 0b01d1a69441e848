"""Monte-Carlo class counts of a base classifier under Gaussian noise.

Every point gets ``sum(sizes)`` noisy copies, split into independent count
tables (CERTIFY's selection and estimation draws). Batches are filled with
the copies of *many* points in order, so the last, partial batch of one point
never wastes a forward pass: the work is ``ceil(n_points * sum(sizes) /
batch_size)`` full batches.

* torch-backed models (skorch networks, anything with a registered
  :func:`skrobust.to_torch` converter that is not a scikit-learn estimator):
  the differentiable view runs on its device in ``torch.inference_mode``; the
  noise is drawn there, counts stay there until the end.
* every other model (forests, boosting, SVC, pipelines, ...): ``predict`` on
  large chunks of noisy copies drawn with numpy.

Count tables have one column per class plus a last *no-vote* column: a noisy
copy whose scores are NaN (or all ``-inf``) votes for no class. It still
counts among the draws, so it lowers every class's frequency: the bounds of
CERTIFY and PREDICT stay sound, where an ``argmax`` would have read a NaN
row as a vote for class 0.
"""

import numpy as np

from ..._models import NotDifferentiableError, as_differentiable, pipeline_steps
from ..._torch import torch
from ...utils import encode_labels


def torch_view(estimator):
    """The view used to count on the device, or None to count with ``predict``.

    scikit-learn's own estimators are counted through ``predict`` (their
    exact decision rule); a view with a non-differentiable prefix acts after
    that prefix, where the noise must not be added, so it is not used either.
    """
    final = pipeline_steps(estimator)[-1][1]
    if type(final).__module__.startswith("sklearn."):
        return None
    try:
        view = as_differentiable(estimator)
    except NotDifferentiableError:
        return None
    return view if view.preprocess is None else None


_CHUNK_ROWS = 1 << 18  # draws whose count keys are computed together


def _layout(n_points, sizes, start, stop):
    """Point index and count table of the global draws ``start .. stop - 1``."""
    per_point = int(sum(sizes))
    index = np.arange(start, stop)
    point, within = np.divmod(index, per_point)
    table = np.searchsorted(np.cumsum(sizes), within, side="right")
    return point, table


def _progress(n_batches, verbose, desc):
    batches = range(n_batches)
    if verbose:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=desc, unit="batch")
    return batches


def count_torch(view, X, *, sigma, sizes, batch_size, seed, verbose=0, desc="counting"):
    """Class counts of ``view``'s argmax under noise, on the view's device.

    Parameters
    ----------
    view : DifferentiableModel
    X : ndarray of shape (n_points, ...)
    sigma : float
    sizes : tuple of int
        Draws per point of each count table.
    batch_size : int
        Noisy samples per forward pass (bounds memory).
    seed : int
        Seeds the device generator the noise is drawn from.

    Returns
    -------
    counts : ndarray of int64, shape (len(sizes), n_points, n_classes + 1)
        The last column counts the draws without a vote (NaN scores).
    """
    x = view.to_samples(X)  # finite in the model's dtype too
    n_points, n_tables = len(x), len(sizes)
    n_classes = view.n_classes + 1  # the last column: no vote
    per_point = int(sum(sizes))
    total = n_points * per_point
    device, shape = view.device, tuple(x.shape[1:])
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    ends = torch.as_tensor(np.cumsum(sizes), device=device)
    counts = torch.zeros(n_tables * n_points * n_classes, dtype=torch.long)
    counts = counts.to(device)
    # buffers reused by every batch; keys and labels of a chunk of batches
    noise = torch.empty((batch_size, *shape), device=device, dtype=x.dtype)
    noisy = torch.empty_like(noise)
    per_chunk = max(1, _CHUNK_ROWS // batch_size)
    n_batches = -(-total // batch_size)
    keys = labels = torch.zeros(0, dtype=torch.long, device=device)
    with view.evaluating(), torch.inference_mode():
        for b in _progress(n_batches, verbose, desc):
            offset = (b % per_chunk) * batch_size
            if offset == 0:  # count the last chunk; lay out the next one
                counts.index_add_(0, keys + labels, torch.ones_like(labels))
                start = b * batch_size
                index = torch.arange(
                    start, min(start + per_chunk * batch_size, total), device=device
                )
                point = torch.div(index, per_point, rounding_mode="floor")
                table = torch.bucketize(index - point * per_point, ends, right=True)
                keys = (table * n_points + point) * n_classes
                labels = torch.empty_like(keys)
            stop = min(offset + batch_size, len(keys))
            m = stop - offset
            torch.randn((m, *shape), generator=generator, out=noise[:m])
            torch.index_select(x, 0, point[offset:stop], out=noisy[:m])
            noisy[:m].add_(noise[:m], alpha=sigma)
            vote(view(noisy[:m]), labels[offset:stop])
        counts.index_add_(0, keys + labels, torch.ones_like(labels))
    return counts.view(n_tables, n_points, n_classes).cpu().numpy()


def vote(scores, out):
    """Write each row's argmax into ``out``; rows without one (NaN, all
    ``-inf``) vote for the no-vote column ``scores.shape[1]``."""
    torch.argmax(scores, dim=1, out=out)
    invalid = torch.isnan(scores).any(dim=1) | ~(scores.amax(dim=1) > -torch.inf)
    out.masked_fill_(invalid, scores.shape[1])


def count_predict(
    estimator,
    X,
    classes,
    *,
    sigma,
    sizes,
    batch_size,
    seed,
    columns=None,
    verbose=0,
    desc="counting",
):
    """Class counts of ``estimator.predict`` under noise, in numpy chunks.

    ``columns``: feature names to rebuild a DataFrame for each chunk (for
    pipelines that select columns by name). See :func:`count_torch` for the
    other parameters.
    """
    X = np.asarray(X)
    n_points, n_tables = len(X), len(sizes)
    n_classes = len(classes) + 1  # the last column (no vote) stays empty here
    total = n_points * int(sum(sizes))
    rng = np.random.default_rng(seed)
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    counts = np.zeros((n_tables, n_points, n_classes), dtype=np.int64)
    n_batches = -(-total // batch_size)
    for b in _progress(n_batches, verbose, desc):
        start, stop = b * batch_size, min((b + 1) * batch_size, total)
        point, table = _layout(n_points, sizes, start, stop)
        noisy = rng.standard_normal((stop - start, *X.shape[1:]), dtype=dtype)
        noisy *= sigma
        noisy += X[point]
        if columns is not None:
            import pandas as pd

            noisy = pd.DataFrame(noisy, columns=columns)
        pred = np.asarray(estimator.predict(noisy))
        try:
            label = encode_labels(pred, classes, name="predictions")
        except ValueError:
            raise ValueError(
                f"the base estimator predicted labels outside its classes_ "
                f"{classes.tolist()}."
            ) from None
        # the chunk covers consecutive points: count them with one bincount
        first = point[0]
        span = point[-1] - first + 1
        key = (table * span + (point - first)) * n_classes + label
        local = np.bincount(key, minlength=n_tables * span * n_classes)
        counts[:, first : first + span] += local.reshape(n_tables, span, n_classes)
    return counts
