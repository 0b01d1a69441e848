"""Operator norms of the affine parts of a network.

Consecutive affine layers form one :class:`AffineRun`, the linear map
``x -> L x`` seen as an operator: applied with the layers' own functions and
transposed with their bound rules' ``transpose`` (``conv_transpose`` for a
convolution), so a convolution is never reduced to its reshaped kernel.

Upper bounds of ``||L||`` are certified: the spectral norm is the largest
singular value of ``L`` materialized (small operators) or of a dense layer's
weight, the exact norm of a circular convolution that contains a
zero-padded one (larger convolutions), or the Schur bound
``sqrt(||L||_1 ||L||_inf)`` otherwise; the l-inf and l1 operator norms are
the largest absolute row and column sums. Power iteration on ``L^T L``
(:meth:`AffineRun.power_norm`) converges to the spectral norm *from below*:
it is a check of the upper bound, not a certificate.
"""

import math

from ..._torch import torch
from ..bounds import AffineBound

F = torch.nn.functional

MAX_ELEMENTS = 2**22  # materialize operators up to this many entries


def _rounding(dtype):
    """Relative allowance for the rounding of ``dtype`` arithmetic."""
    return 1.0 + 64 * torch.finfo(dtype).eps


def _dtype_of(rules):
    for rule in rules:
        layer = getattr(rule, "layer", None)
        if isinstance(layer, torch.nn.Module):
            for tensor in (*layer.parameters(), *layer.buffers()):
                if tensor.is_floating_point():
                    return tensor.dtype, tensor.device
    return None, None


class AffineRun:
    """Consecutive affine rules ``rules`` with input shape ``in_shape``.

    Parameters
    ----------
    rules : list of AffineBound
    in_shape : tuple of int
        One sample's input shape.
    dtype, device : torch.dtype, torch.device
        Used when no rule holds parameters.
    """

    def __init__(self, rules, in_shape, *, dtype, device):
        self.rules = list(rules)
        run_dtype, run_device = _dtype_of(self.rules)
        self.dtype = run_dtype or dtype
        self.device = run_device or device
        self.in_shapes = []
        probe = torch.zeros((1, *in_shape), dtype=self.dtype, device=self.device)
        with torch.no_grad():
            for rule in self.rules:
                self.in_shapes.append(tuple(probe.shape[1:]))
                probe = rule.func(probe.to(self.dtype))
        self.offset = probe.to(self.dtype)  # f(0)
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(probe.shape[1:])
        self.n_in = math.prod(self.in_shape)
        self.n_out = math.prod(self.out_shape)

    def __call__(self, x):
        """``L x + c`` for a batch ``x`` of shape ``(n, *in_shape)``."""
        for rule in self.rules:
            x = rule.func(x.to(self.dtype))
        return x

    def linear(self, v):
        """``L v`` (no offset)."""
        return self(v) - self.offset

    def transpose(self, A):
        """``A L``: ``A`` ``(n, n_spec, *out_shape)`` -> ``(n, n_spec, *in_shape)``."""
        A = A.to(self.dtype)
        for rule, shape in zip(reversed(self.rules), reversed(self.in_shapes)):
            A = rule.transpose(A, shape).to(self.dtype)
        return A

    def rows(self, C):
        """``C L`` as a ``(n_spec, n_in)`` matrix for ``C`` ``(n_spec, n_out)``."""
        A = C.to(self.dtype).reshape(1, len(C), *self.out_shape)
        with torch.no_grad():
            return self.transpose(A).reshape(len(C), self.n_in)

    def materialize(self, max_elements=MAX_ELEMENTS):
        """``L`` as a float64 ``(n_out, n_in)`` matrix, or None when too large."""
        if self.n_in * self.n_out > max_elements:
            return None
        if getattr(self, "_matrix", None) is None:
            eye = torch.eye(self.n_in, dtype=self.dtype, device=self.device)
            with torch.no_grad():
                columns = self.linear(eye.reshape(self.n_in, *self.in_shape))
            self._matrix = columns.reshape(self.n_in, self.n_out).T.double()
        return self._matrix

    # -- norms -------------------------------------------------------------------

    def norm(self, p, *, max_elements=MAX_ELEMENTS):
        """A certified upper bound of the ``p -> p`` operator norm of ``L``."""
        matrix = self.materialize(max_elements)
        if matrix is not None:
            value = _matrix_norm(matrix, p)
        else:
            value = math.prod(
                _rule_norm(rule, shape, p, self.dtype, self.device, max_elements)
                for rule, shape in zip(self.rules, self.in_shapes)
            )
        return value * _rounding(self.dtype)

    def power_norm(self, *, n_iter=100, tol=1e-7, n_vectors=4, generator=None):
        """Spectral norm estimate by power iteration on ``L^T L`` (a lower bound).

        ``n_vectors`` random starts run together; the largest ``||L v||``
        over unit ``v`` is returned.
        """
        shape = (n_vectors, *self.in_shape)
        v = torch.randn(shape, generator=generator, dtype=torch.float64)
        v = v.to(device=self.device, dtype=self.dtype)
        v = v / v.flatten(1).norm(dim=1).reshape(-1, *[1] * len(self.in_shape))
        previous = 0.0
        with torch.no_grad():
            for _ in range(n_iter):
                out = self.linear(v)
                sigma = float(out.flatten(1).norm(dim=1).max())
                back = self.transpose(out.unsqueeze(0))[0]
                norms = back.flatten(1).norm(dim=1).clamp_min(1e-30)
                v = back / norms.reshape(-1, *[1] * len(self.in_shape))
                if abs(sigma - previous) <= tol * max(sigma, 1e-30):
                    break
                previous = sigma
        return sigma


def _matrix_norm(matrix, p):
    if p == "l2":
        return float(torch.linalg.matrix_norm(matrix, ord=2))
    if p == "linf":
        return float(matrix.abs().sum(dim=1).max()) if matrix.numel() else 0.0
    return float(matrix.abs().sum(dim=0).max()) if matrix.numel() else 0.0


def _rule_norm(rule, in_shape, p, dtype, device, max_elements):
    """Upper bound of one affine rule's operator norm."""
    run = AffineRun([rule], in_shape, dtype=dtype, device=device)
    layer = getattr(rule, "layer", None)
    if isinstance(layer, torch.nn.Linear) and p == "l2":
        return float(torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2))
    matrix = run.materialize(max_elements)
    if matrix is not None:
        return _matrix_norm(matrix, p)
    row, column = _abs_sums(rule, in_shape, run.dtype, run.device)
    if p == "linf":
        return row
    if p == "l1":
        return column
    bound = math.sqrt(row * column)  # Schur's test
    if isinstance(layer, (torch.nn.Conv1d, torch.nn.Conv2d)):
        bound = min(bound, circular_conv_norm(layer, in_shape))
    return bound


def _abs_sums(rule, in_shape, dtype, device):
    """Largest row and column sums of ``|L|`` (``|L| 1`` and ``1^T |L|``)."""
    ones = torch.ones((1, *in_shape), dtype=dtype, device=device)
    with torch.no_grad():
        row = float(rule.abs_linear(ones).max())
    r = torch.zeros_like(ones).requires_grad_(True)
    with torch.enable_grad():
        out = rule.abs_linear(r)
        (column,) = torch.autograd.grad(out.sum(), r)
    return row, float(column.max())


def circular_conv_norm(conv, in_shape):
    """Exact spectral norm of a circular convolution containing ``conv``.

    A stride-1 zero-padded convolution of an ``n``-sample input is a
    restriction of the circular convolution on a torus of ``n + k - 1``
    samples (no wrap-around reaches the kept outputs), whose norm is the
    largest singular value of the kernel's discrete Fourier transform over
    the frequencies; a stride only drops outputs. Groups become a
    block-diagonal kernel and dilation a sparse one.
    """
    weight = conv.weight.detach().double()
    dims = weight.dim() - 2
    c_out, c_in_group = weight.shape[:2]
    groups = conv.groups
    if groups > 1:  # block-diagonal full kernel
        full = weight.new_zeros((c_out, c_in_group * groups, *weight.shape[2:]))
        per = c_out // groups
        for g in range(groups):
            rows = slice(g * per, (g + 1) * per)
            full[rows, g * c_in_group : (g + 1) * c_in_group] = weight[rows]
        weight = full
    dilation = conv.dilation
    if any(d > 1 for d in dilation):
        size = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
        sparse = weight.new_zeros((*weight.shape[:2], *size))
        index = tuple(slice(None, None, d) for d in dilation)
        sparse[(slice(None), slice(None), *index)] = weight
        weight = sparse
    kernel = weight.shape[2:]
    grid = [n + k - 1 for n, k in zip(in_shape[1:], kernel)]
    spectrum = torch.fft.fftn(weight, s=grid, dim=tuple(range(2, 2 + dims)))
    blocks = spectrum.permute(*range(2, 2 + dims), 0, 1).reshape(
        -1, *spectrum.shape[:2]
    )
    return float(torch.linalg.matrix_norm(blocks, ord=2).max())


def is_affine(piece):
    """Whether a piece is an affine bound rule."""
    return isinstance(piece, AffineBound) or getattr(piece, "affine", False) is True
