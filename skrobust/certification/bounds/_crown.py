"""CROWN (Zhang et al. 2018): linear bounds carried backwards through the layers.

A bound ``A . h_j + b`` on a linear function of some layer's input is moved
one layer back at a time: through an affine layer exactly (``A W``), through
an activation with one of its two relaxation lines, chosen by the sign of
each coefficient. At the input it is minimised over the perturbation set in
closed form. A layer with no relaxation (max pooling, ...) stops the pass: the
bound is then minimised over that layer's output interval.
"""

from ..._torch import torch
from ._region import box_extreme


class Spec:
    """A specification matrix ``C = rows[index]`` with few distinct rows.

    Margins use the ``n_classes ** 2`` rows ``e_i - e_k``; each sample picks
    the ``n_classes`` of its label. Carrying the rows (not every sample's
    matrix) through the affine layers that end a network costs one small
    product per layer instead of one per sample.

    Parameters
    ----------
    rows : torch.Tensor of shape (n_rows, n_outputs)
    index : torch.Tensor of int of shape (n_samples, n_spec)
    """

    def __init__(self, rows, index):
        self.rows, self.index = rows, index

    def dense(self):
        """``C`` as a ``(n_samples, n_spec, n_outputs)`` tensor."""
        return self.rows[self.index]


def backward(rules, boxes, region, A, *, end, upper=True, relax=True):
    """Lower (and upper) bounds of ``A . h`` over the region, ``h`` the input of
    layer ``end`` (the output when ``end == len(rules)``).

    Parameters
    ----------
    rules : list of LayerBound
    boxes : list of (lower, upper)
        Interval bounds of each layer's input, from :func:`propagate`.
    region : Region
    A : torch.Tensor of shape (n, n_spec, *shape of h), or Spec
    end : int
    upper : bool, default=True
        Also compute the upper bounds (else ``None``).
    relax : bool, default=True
        Cross activations with their relaxations. ``False`` stops at the last
        non-affine layer: the specification folded into the affine layers
        that end the network, the tightening IBP gets for free.

    Returns
    -------
    lower, upper : torch.Tensor of shape (n, n_spec), or None
    """
    if isinstance(A, Spec):
        A, end, lb = _fold_rows(rules, boxes, region, A, end=end, relax=relax)
        if not torch.is_tensor(A):  # done: A holds the bounds
            return A if upper else (A[0], None)
        ub = lb.clone() if upper else None
    else:
        lb = A.new_zeros(A.shape[:2])
        ub = A.new_zeros(A.shape[:2]) if upper else None
    lA, uA = A, A if upper else None
    for i in range(end - 1, -1, -1):
        rule, (low, high) = rules[i], boxes[i]
        in_shape = low.shape[1:]
        if rule.affine:
            lb = lb + rule.bias(lA, in_shape)
            lA = rule.transpose(lA, in_shape).to(low.dtype)
            if upper:
                ub = ub + rule.bias(uA, in_shape)
                uA = rule.transpose(uA, in_shape).to(low.dtype)
            continue
        lines = rule.relaxation(low, high) if relax else None
        if lines is None:  # minimise over this layer's output interval
            out_low, out_high = boxes[i + 1]
            lb = lb + box_extreme(lA, out_low, out_high)
            if upper:
                ub = ub + box_extreme(uA, out_low, out_high, maximize=True)
            return lb, ub
        a_l, b_l, a_u, b_u = (t.unsqueeze(1) for t in lines)
        lb, lA = _through(lA, lb, a_l, b_l, a_u, b_u)
        if upper:  # the upper line where A > 0, the lower where not
            ub, uA = _through(uA, ub, a_u, b_u, a_l, b_l)
    lb = lb + region.concretize(lA, upper=False)
    if upper:
        ub = ub + region.concretize(uA, upper=True)
    return lb, ub


def _fold_rows(rules, boxes, region, spec, *, end, relax):
    """Carry a :class:`Spec`'s rows back through the affine layers before ``end``.

    Returns ``((lower, upper), None, None)`` when the bound can be finished on
    the rows (at an interval, or at an l-inf input box), else the per-sample
    matrix, the layer to continue from and the accumulated bias.
    """
    if len(boxes) <= end:  # the output boxes were not computed: probe shapes
        probe = boxes[-1][0][:1]
        boxes = list(boxes)
        for rule in rules[len(boxes) - 1 : end]:
            probe = rule.func(probe)
            boxes.append((probe, probe))
    R = spec.rows.unsqueeze(0)  # one "sample" holding every row
    bias = R.new_zeros(R.shape[:2])
    i = end
    while i > 0 and rules[i - 1].affine:
        in_shape = boxes[i - 1][0].shape[1:]
        bias = bias + rules[i - 1].bias(R, in_shape)
        R = rules[i - 1].transpose(R, in_shape).to(boxes[i - 1][0].dtype)
        i -= 1
    stop = i > 0 and (not relax or rules[i - 1].relaxation(*boxes[i - 1]) is None)
    if stop or (i == 0 and region.norm == "linf"):
        low, high = boxes[i]
        mid = torch.add(high, low).mul_(0.5)
        for rule in rules[i:end]:  # the centre goes forward, exactly
            mid = rule.func(mid)
        centre = mid.flatten(1) @ spec.rows.T.to(mid.dtype)
        centre = centre.gather(1, spec.index)
        rad = torch.sub(high, low).mul_(0.5).flatten(1)
        # every row against every sample: one matrix product beats gathering
        # each sample's rows (memory-bound) by far
        spread = (rad @ R[0].flatten(1).abs().T).gather(1, spec.index)
        return (centre - spread, centre + spread), None, None
    return R[0][spec.index], i, bias[0][spec.index]


def _through(A, bias, a_pos, b_pos, a_neg, b_neg):
    """``A . f(x)`` bounded with one line where ``A >= 0``, another where not."""
    pos = A >= 0
    bias = bias + (torch.where(pos, b_pos, b_neg) * A).flatten(2).sum(-1)
    return bias, torch.where(pos, a_pos, a_neg) * A


def _exact_by_ibp(rules, i, norm):
    """Whether IBP is already exact on the input of layer ``i``."""
    prefix = rules[:i]
    if not all(rule.affine for rule in prefix):
        return False
    mixing = sum(not getattr(rule, "elementwise", False) for rule in prefix)
    return norm != "linf" or mixing <= 1


def refine(rules, boxes, region, i, *, max_elements=2**24):
    """Tighten ``boxes[i]`` with CROWN, for the units whose relaxation is loose.

    Used by :func:`propagate` for full CROWN: every activation's input bounds
    come from a backward pass from that layer (an identity specification on
    its unstable units), intersected with the interval bounds. Samples go in
    chunks of at most ``max_elements`` coefficients per layer.
    """
    rule = rules[i]
    if not hasattr(rule, "unstable") or _exact_by_ibp(rules, i, region.norm):
        return
    low, high = boxes[i]
    n, shape = len(low), low.shape[1:]
    mask = rule.unstable(low, high).reshape(n, -1)
    counts = mask.sum(1)
    k = int(counts.max()) if n else 0
    if k == 0:
        return
    # per sample, the indices of its unstable units first (padded)
    index = torch.topk(mask.to(torch.int8), k, dim=1, sorted=True).indices
    valid = torch.arange(k, device=low.device) < counts.unsqueeze(1)
    widest = max(b[0][0].numel() for b in boxes[: i + 1])
    step = max(1, max_elements // (k * widest))
    new_low, new_high = low.reshape(n, -1).clone(), high.reshape(n, -1).clone()
    for start in range(0, n, step):
        rows = slice(start, start + step)
        sub = [(lo[rows], hi[rows]) for lo, hi in boxes[: i + 1]]
        idx = index[rows]
        A = torch.nn.functional.one_hot(idx, new_low.shape[1]).to(low.dtype)
        A = A.reshape(len(idx), k, *shape)
        lower, upper = backward(rules, sub, region[rows], A, end=i)
        ok = valid[rows]
        cur_low, cur_high = new_low[rows], new_high[rows]
        lower = torch.where(
            ok, torch.maximum(lower, cur_low.gather(1, idx)), -torch.inf
        )
        upper = torch.where(
            ok, torch.minimum(upper, cur_high.gather(1, idx)), torch.inf
        )
        new_low[rows] = cur_low.scatter_reduce(1, idx, lower, "amax")
        new_high[rows] = cur_high.scatter_reduce(1, idx, upper, "amin")
    boxes[i] = (new_low.reshape(low.shape), new_high.reshape(high.shape))
