"""The smallest step into a half-space inside a box, for every norm.

The one solver behind the exact linear attack (a class's half-space) and
FAB's step (the linearised boundary, :func:`hyperplane_projection`). Solves
``min ||u||_p`` subject to ``c . u >= m`` and ``low <= u <= high`` (with
``low <= 0 <= high``), batched over leading dimensions. The optimum
moves each coordinate toward ``sign(c_j)``, by at most its room ``r_j``
(``high_j`` or ``-low_j``):

* l-infinity: ``u_j = sign(c_j) min(t, r_j)``, the smallest ``t`` with
  ``sum_j |c_j| min(t, r_j) >= m``;
* l2 (KKT): ``u_j = sign(c_j) min(lambda |c_j|, r_j)``, the smallest
  ``lambda`` with ``sum_j |c_j| min(lambda |c_j|, r_j) >= m``;
* l1: a fractional knapsack, coordinates by decreasing ``|c_j|``.

Without bounds (infinite rooms) these are the closed forms ``m / ||c||_q``
(``q`` the dual norm). Both piecewise-linear searches are exact: l2 sorts
the breakpoints, finds the segment and solves it; l-infinity takes Newton
steps, each fixing the coordinates it passed at their room (no sort).
"""

from ..._torch import torch


def _before(values):
    """Exclusive cumulative sum along the last dimension (inf-safe)."""
    total = torch.cumsum(values, dim=-1)
    return torch.nn.functional.pad(total[..., :-1], (1, 0))


def _piecewise(gain, rate, room, m):
    """Smallest ``lam`` with ``sum gain * min(lam * rate, room) >= m``."""
    beta = torch.where(rate > 0, room / torch.where(rate > 0, rate, 1.0), torch.inf)
    beta, order = beta.sort(dim=-1)
    gain, rate, room = (t.gather(-1, order) for t in (gain, rate, room))
    used = torch.where(gain > 0, gain * room, 0.0)  # nan-free: room may be inf
    full = _before(used)  # F_i: the items before i saturated
    slope = torch.flip(torch.cumsum(torch.flip(gain * rate, [-1]), -1), [-1])
    at_break = torch.where(slope > 0, full + beta * slope, full)
    at_break = torch.nan_to_num(at_break, nan=torch.inf)
    seg = (at_break < m[..., None]).sum(dim=-1, keepdim=True)
    last = seg == gain.shape[-1]
    seg = seg.clamp_max(gain.shape[-1] - 1)
    f, s = full.gather(-1, seg), slope.gather(-1, seg)
    lam = (m[..., None] - f) / torch.where(s > 0, s, 1.0)
    return torch.where(last | (s <= 0), torch.inf, lam)[..., 0]


def _linf(gain, room, m):
    """l-infinity: ``min(t, room_j)`` at the smallest ``t`` with
    ``sum_j gain_j min(t, room_j) >= m``, without a sort.

    Newton's method on this concave piecewise-linear function, from ``t =
    0``: each step solves the equation with the coordinates already
    saturated (``room_j < t``) fixed at their room. It never passes the
    root, and each step that does not land on it saturates at least one
    more coordinate: exact after at most ``d + 1`` steps (3 or 4 in FAB's
    use, against the sort that a search over all breakpoints needs).
    Returns the amounts and whether ``m`` is reachable.
    """
    pos = gain > 0
    full = torch.where(pos, gain * room, 0.0)  # nan-free: room may be inf
    reached = full.sum(dim=-1) >= m
    free, used, rest = pos, torch.zeros_like(m), gain.sum(dim=-1)
    while True:
        t = (m - used) / torch.where(rest > 0, rest, 1.0)
        saturated = free & (room < t[..., None])
        if not bool(saturated.any()):
            break
        free = free ^ saturated  # (saturated within free)
        used = torch.where(free, 0.0, full).sum(dim=-1)
        rest = torch.where(free, gain, 0.0).sum(dim=-1)
    # where m is out of reach: the corner, every coordinate at its room
    corner = torch.where(pos, room, 0.0)
    return torch.where(free & reached[..., None], t[..., None], corner), reached


def _knapsack(gain, room, m):
    """l1: fill coordinates by decreasing gain until ``m`` is reached."""
    gain_s, order = gain.sort(dim=-1, descending=True)
    room_s = room.gather(-1, order)
    value = torch.where(gain_s > 0, gain_s * room_s, 0.0)
    before = _before(value)
    need = (m[..., None] - before).clamp_min(0)
    take = torch.where(gain_s > 0, need / torch.where(gain_s > 0, gain_s, 1.0), 0.0)
    take = torch.minimum(take, room_s)
    reached = torch.cumsum(value, dim=-1)[..., -1] >= m
    amount = torch.zeros_like(take).scatter(-1, order, take)
    return amount, reached


def smallest_step(c, m, low, high, norm):
    """The minimal-norm ``u`` with ``c . u >= m`` in ``[low, high]``.

    Parameters
    ----------
    c : Tensor of shape (..., d)
    m : Tensor of shape (...)
        Required gain; ``m <= 0`` gives ``u = 0``.
    low, high : Tensor broadcastable to ``c``
        The box, with ``low <= 0 <= high`` (``inf`` allowed).
    norm : {"linf", "l2", "l1"}

    Returns
    -------
    u : Tensor shaped like ``c``
        Where the half-space misses the box, the box corner that gains most
        (every coordinate at its room), or 0 for an infinite ``m``.
    size : Tensor of shape (...)
        ``||u||_p``; ``inf`` where the half-space misses the box.
    """
    low, high = low.expand_as(c), high.expand_as(c)
    sign = torch.sign(c)
    gain = c.abs()
    # (a coordinate with c = 0 gains nothing: every solver leaves it at 0)
    room = torch.where(c > 0, high, -low).clamp_min(0)
    m_pos = m.clamp_min(0)
    if norm == "l1":
        amount, reached = _knapsack(gain, room, m_pos)
    elif norm == "linf":
        amount, reached = _linf(gain, room, m_pos)
    else:
        lam = _piecewise(gain, gain, room, m_pos)
        reached = torch.isfinite(lam)
        step = torch.where(reached, lam, 0.0)[..., None] * gain
        amount = torch.where(reached[..., None], torch.minimum(step, room), room)
        amount = torch.where(gain > 0, amount, 0.0)
    zero = m <= 0
    moved = torch.isfinite(m) & ~zero
    u = torch.where(moved[..., None], sign * amount, 0.0)
    size = {"linf": lambda a: a.amax(dim=-1), "l2": lambda a: a.norm(dim=-1)}.get(
        norm, lambda a: a.sum(dim=-1)
    )(amount)
    size = torch.where(reached, size, torch.inf)
    return u, torch.where(zero, 0.0, size)


def hyperplane_projection(norm, w, g, low, high):
    """Smallest ``d`` with ``w . d = g`` and ``low <= d <= high`` (per row).

    :func:`smallest_step` on the side of the hyperplane away from 0 (FAB's
    projection). Where the hyperplane misses the box, ``d`` is the box
    corner that gets closest to it.

    Parameters
    ----------
    norm : {"linf", "l2", "l1"}
    w : Tensor of shape (n, d)
    g : Tensor of shape (n,)
    low, high : Tensor of shape (n, d)
        ``low <= 0 <= high``; infinite sides allowed.

    Returns
    -------
    d : Tensor of shape (n, d)
    """
    flip = torch.where(g < 0, -1.0, 1.0).to(w.dtype)
    d, _ = smallest_step(w * flip[:, None], g * flip, low, high, norm)
    return d
