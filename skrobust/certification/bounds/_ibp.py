"""Interval bound propagation (Gowal et al. 2018) along a chain of layer rules.

``boxes[i]`` holds elementwise bounds on the input of layer ``i``
(``boxes[0]``: the input region's box, ``boxes[-1]``: the output). Affine
layers go through in centre-radius form, ``W mu + b`` and ``|W| r``, which is
the exact interval of one layer; monotone layers through their two ends.
"""

from ..._torch import torch


def affine_prefix(rules):
    """Number of leading affine rules."""
    k = 0
    while k < len(rules) and rules[k].affine:
        k += 1
    return k


def forward(rules, x):
    """Apply affine rules to a tensor."""
    for rule in rules:
        x = rule.func(x)
    return x


def ball_image(rules, region, k, *, chunk=256):
    """Exact bounds of the affine map ``rules[:k]`` over the region's l2 / l1 ball.

    Each output ``A_i x + c_i`` ranges over ``A_i x0 + c_i +- ||A_i * eps||_q``
    (``q`` the dual norm: 2 for l2, inf for l1); the columns of ``A`` are the
    images of the scaled basis vectors, pushed through in chunks.
    """
    x0 = region.x0
    prefix = rules[:k]
    centre = forward(prefix, x0)
    shape = x0.shape[1:]
    eps = region.eps_feature.expand(shape).reshape(-1)
    moving = torch.nonzero(eps).flatten()
    zero = forward(prefix, x0.new_zeros((1, *shape)))
    acc = torch.zeros_like(zero[0])
    for start in range(0, len(moving), chunk):
        index = moving[start : start + chunk]
        basis = x0.new_zeros((len(index), eps.numel()))
        basis[torch.arange(len(index), device=index.device), index] = eps[index]
        columns = forward(prefix, basis.reshape(-1, *shape)) - zero
        if region.norm == "l2":
            acc = acc + (columns * columns).sum(0)
        else:
            acc = torch.maximum(acc, columns.abs().amax(0))
    radius = acc.sqrt() if region.norm == "l2" else acc
    radius = radius * region.eps_sample.reshape((-1,) + (1,) * radius.dim())
    return centre - radius, centre + radius


def propagate(rules, region, refine=None, *, stop=None):
    """Bounds on the input of every layer, and on the output (``boxes[-1]``).

    Parameters
    ----------
    rules : list of LayerBound
    region : Region
    refine : callable, default=None
        ``refine(rules, boxes, region, i)`` may tighten ``boxes[i]`` before
        layer ``i`` is crossed (full CROWN's intermediate bounds).
    stop : int, default=None
        Compute ``boxes[:stop + 1]`` only (all when ``None``).
    """
    stop = len(rules) if stop is None else stop
    boxes = [region.box()]
    start = 0
    if region.norm != "linf":
        # the first affine layers map the ball exactly: keep the tighter of
        # the ball's image and the box's
        start = min(affine_prefix(rules), stop)
        if start:
            for rule in rules[:start]:
                boxes.append(rule.interval(*boxes[-1]))
            lower, upper = ball_image(rules, region, start)
            boxes[start] = (
                torch.maximum(boxes[start][0], lower),
                torch.minimum(boxes[start][1], upper),
            )
    for i in range(start, stop):
        if refine is not None:
            refine(rules, boxes, region, i)
        boxes.append(rules[i].interval(*boxes[i]))
    return boxes
