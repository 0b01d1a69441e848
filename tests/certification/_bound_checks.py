"""Soundness checks shared by the bound and certificate tests."""

import numpy as np
import torch

from skrobust import DifferentiableModel


def torch_view(module, n_classes, dtype=torch.float64):
    """A differentiable view of a bare torch module (no skorch needed)."""
    return DifferentiableModel(
        module.to(dtype).eval(), np.arange(n_classes), device="cpu", dtype=dtype
    )


def sample_region(X, eps, norm="linf", bounds=None, n=200, seed=0):
    """``n`` points per sample in the region: uniform, corners, sphere points."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    shape = (len(X), n, *X.shape[1:])
    if norm == "linf":
        u = rng.uniform(-1, 1, size=shape)
        u[:, : n // 2] = np.sign(u[:, : n // 2])  # corners are the extremes
    else:
        u = rng.normal(size=shape)
        flat = u.reshape(len(X), n, -1)
        ord_ = 2 if norm == "l2" else 1
        flat /= np.linalg.norm(flat, ord=ord_, axis=2, keepdims=True)
        if norm == "l1":  # sparse directions reach the l1 ball's vertices
            keep = rng.random(flat.shape) < 0.05
            flat *= keep
            flat /= np.maximum(np.abs(flat).sum(2, keepdims=True), 1e-12)
        u = flat.reshape(shape) * rng.uniform(
            0.5, 1, size=(len(X), n) + (1,) * (X.ndim - 1)
        )
    points = X[:, None] + np.asarray(eps) * u
    if bounds is not None:
        points = np.clip(points, *bounds)
    return points.reshape(-1, *X.shape[1:])


def assert_contains(lower, upper, logits, atol=1e-5):
    """Every row of ``logits`` (n * k, C) lies in its sample's bounds."""
    n = len(lower)
    logits = logits.reshape(n, -1, logits.shape[-1])
    assert np.all(logits >= lower[:, None] - atol), (lower[:, None] - logits).max()
    assert np.all(logits <= upper[:, None] + atol), (logits - upper[:, None]).max()


def assert_margins_hold(margins, logits, y_index, atol=1e-5):
    """``z_y - z_k >= margins[k]`` at every point (``logits`` (n, k, C))."""
    n = len(margins)
    logits = logits.reshape(n, -1, logits.shape[-1])
    true = np.take_along_axis(logits, y_index[:, None, None], axis=2)
    assert np.all(true - logits >= margins[:, None] - atol)


def raw_bounds(model, X, y=None, *, eps, norm="linf", bounds=None, method="crown"):
    """CROWN's own bounds, not intersected with IBP's (a stricter test).

    Logit bounds ``(lower, upper)`` without ``y``, margin lower bounds with it.
    """
    from skrobust.certification.bounds import bound_tensors, margin_spec
    from skrobust.certification.bounds._bounds import Problem

    problem = Problem(
        model, X, eps=eps, norm=norm, bounds=bounds, method=method, batch_size=1
    )
    region = problem.region(slice(None))
    spec = None
    if y is not None:
        labels = problem.labels(y)
        spec = margin_spec(labels, problem.view.n_classes, problem.view.dtype)
    with problem.view.evaluating(), torch.no_grad():
        lower, upper = bound_tensors(
            problem.graph, region, method=method, spec=spec, beta=1.0
        )
    if y is not None:
        return lower.numpy()
    return lower.numpy(), upper.numpy()


def pgd_points(module, X, eps, bounds=None, n_iter=20, seed=0):
    """Points of the l-inf ball (cut by ``bounds``) pushing each logit and each
    logit difference to its extremes: signed-gradient ascent from random starts.

    Returns an array of shape (n_samples, 3 * n_classes ** 2, ...), float64.
    """
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    low, high = x0 - eps, x0 + eps
    if bounds is not None:
        low, high = low.clamp(*bounds), high.clamp(*bounds)
    with torch.no_grad():
        n_classes = module(x0[:1]).shape[1]
    eye = torch.eye(n_classes, dtype=torch.float64)
    # objectives c . z: +e_k, -e_k and e_k - e_j for every pair
    rows = [eye, -eye, (eye[:, None] - eye[None]).reshape(-1, n_classes)]
    C = torch.cat(rows)
    points = []
    for c in C:
        x = low + (high - low) * torch.rand(x0.shape, generator=gen, dtype=x0.dtype)
        for _ in range(n_iter):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad((module(x) @ c).sum(), x)
            size = 2.5 * eps / n_iter
            x = torch.minimum(torch.maximum(x.detach() + size * grad.sign(), low), high)
        points.append(x.detach())
    return torch.stack(points, 1).numpy()
