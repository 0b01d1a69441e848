"""Square's l-infinity steps: windows and signs drawn in blocks, and the loop.

A step moves one window, shared by the batch, to the vertex its signs pick
(see :class:`._square._Windows`). The same step function serves the unit
coordinates ``u`` (with discrete repairs) and the inputs ``x`` themselves
(:func:`search_linf`, the loop without repairs: no conversion per query).
That loop also remembers, per point, the square steps tried since the point
last moved (:class:`_Tried`), and answers their repeats without the model.
"""

from ..._torch import torch
from ._losses import success

BLOCK = 256  # steps whose windows and signs are drawn at once
MAX_KEYS = 1 << 12  # the most square steps per point tracked by _Tried


class LinfPlan:
    """The windows and signs of the l-inf steps, drawn ``BLOCK`` steps at a time.

    ``plan(i)`` is step ``i``'s ``(window, sign)``: for images ``window`` is
    the square's ``(top, left, side)`` and ``sign`` one boolean per channel,
    shape ``(1, c, 1, 1)`` (a Python bool with one channel); for vectors
    ``window`` is a boolean mask of the mutable features, shape ``(1, 1, 1,
    w)``, and ``sign`` one boolean per feature (True: the upper vertex).
    """

    def __init__(self, windows, p_init, n_queries, schedule):
        self.windows, self.generator = windows, windows.generator
        self.sides = [
            windows.side(schedule(p_init, i, n_queries)) for i in range(n_queries)
        ]
        self.start, self.stop = 0, 0

    def __call__(self, i):
        if not self.start <= i < self.stop:
            self._draw(i)
        j = i - self.start
        if self.windows.image:
            return self.corners[j], self.signs[j]
        return self.masks[j : j + 1].reshape(1, 1, 1, -1), self.signs[j].reshape(
            1, 1, 1, -1
        )

    def _rand(self, *shape, dtype=torch.float32):
        g = self.generator
        return torch.rand(shape, generator=g, device=g.device, dtype=dtype)

    def _draw(self, i):
        win = self.windows
        sides = self.sides[i : i + max(BLOCK if win.image else BLOCK * 64 // win.w, 1)]
        self.start, self.stop, n = i, i + len(sides), len(sides)
        if win.image:
            at = self._rand(n, 2, dtype=torch.float64).tolist()
            self.corners = [
                (int(a * (win.h - s + 1)), int(b * (win.w - s + 1)), s)
                for (a, b), s in zip(at, sides)
            ]
            signs = self._rand(n, win.c) < 0.5
            self.signs = (
                signs[:, 0].tolist() if win.c == 1 else signs.reshape(n, 1, win.c, 1, 1)
            )
            self.block = (torch.tensor(self.corners, device=signs.device), signs)
            return
        keys = self._rand(n, win.w, dtype=torch.float64)
        keys = keys.masked_fill(~win.mobile.reshape(1, -1), 2.0)
        ranks = keys.argsort(dim=1).argsort(dim=1)
        self.masks = ranks < torch.tensor(sides, device=keys.device)[:, None]
        self.signs = self._rand(n, win.w) < 0.5
        # the same steps as spins (see _spin_step): +-1 in the window, else 0
        self.spins = torch.where(self.masks, torch.where(self.signs, 1.0, -1.0), 0.0)
        self.counts = self.masks.sum(dim=1).to(self.spins.dtype)
        first = self.masks.to(torch.uint8).argmax(dim=1)
        self.singles = torch.where(self.counts == 1, first, -1).tolist()

    def ahead(self, i):
        """Steps ``i`` to the end of its block, as long as the side stays:
        images ``(corners (m, 3), signs (m, c))``; vectors the list of their
        single features (-1: a wider window)."""
        if not self.start <= i < self.stop:
            self._draw(i)
        side = self.sides[i]
        end = next((k for k in range(i, self.stop) if self.sides[k] != side), self.stop)
        j, m = i - self.start, end - self.start
        if not self.windows.image:
            return self.singles[j:m]
        corners, signs = self.block
        return corners[j:m], signs[j:m]

    def single(self, i):
        """The feature step ``i`` of a vector plan moves alone, or -1."""
        if not self.start <= i < self.stop:
            self._draw(i)
        return self.singles[i - self.start]

    def spin(self, i):
        """Step ``i`` of a vector plan as ``(spins, count, window)``: the
        signs as +-1 inside the window and 0 outside (shape ``(w,)``), the
        window's size, and the window as a boolean mask ``(1, w)``."""
        if not self.start <= i < self.stop:
            self._draw(i)
        j = i - self.start
        return self.spins[j], self.counts[j], self.masks[j : j + 1]


def step_linf(step, best, low, high):
    """The step's window in every point jumps to the vertex its signs pick.

    ``best``, ``low`` and ``high``: the current points and the two vertices
    of each coordinate, shaped ``(n, c, h, w)``, in ``u`` or in ``x``. A point
    whose window the signs would leave unchanged (already at that vertex)
    takes the opposite signs, so that no query is wasted (the reference
    queries the unchanged point).
    """
    window, sign = step
    if isinstance(window, tuple):  # a square: a slice of the batch
        flips = _square_flips(window, sign, best, low, high)
        return _square_move(window, sign, flips, best, low, high)
    new = torch.where(window, torch.where(sign, high, low), best)
    same = (new == best).flatten(1).all(dim=1).reshape(-1, 1, 1, 1)
    return torch.where(window, torch.where(sign ^ same, high, low), best)


def _square_flips(window, sign, best, low, high):
    """Whether each point's square already sits at the vertex the signs pick
    (then it takes the opposite signs), shape ``(n,)``."""
    top, left, s = window
    at = (..., slice(top, top + s), slice(left, left + s))
    if isinstance(sign, bool):
        new = high[at] if sign else low[at]
    else:
        new = torch.where(sign, high[at], low[at])
    return (new == best[at]).flatten(1).all(dim=1)


def _square_move(window, sign, flips, best, low, high):
    """The points after the step, the square of those in ``flips`` at the
    opposite vertex."""
    top, left, s = window
    at = (..., slice(top, top + s), slice(left, left + s))
    out = best.clone()
    out[at] = torch.where(sign ^ flips.reshape(-1, 1, 1, 1), high[at], low[at])
    return out


class _Tried:
    """The steps each point has tried since it last moved.

    A point's candidate is a function of the point and of the step's window
    and signs (after the flip of :func:`step_linf`). While the point stays
    where it is, a step it already tried gives the same loss, which did not
    beat its best: the step is rejected without querying the model again.
    Late in the schedule the windows are single pixels or features, and
    every point soon has tried each of its flips (the reference queries them
    again). Tracked: squares of up to ``MAX_KEYS`` squares and signs (per
    side), and vectors' one-feature windows (then the step flips that
    feature whatever its sign).
    """

    def __init__(self, n, shape, device, on=True):
        self.n, self.device, self.on = n, device, on
        self.c, self.h, self.w = shape[-3:]
        self.side, self.table = None, None

    def _table(self, side, size):
        if side != self.side:  # new candidates
            self.side = side
            self.table = torch.zeros(self.n, size, dtype=torch.bool, device=self.device)

    def square(self, window, sign, flips):
        """Each point's key of a square step, or ``None`` (too many)."""
        top, left, s = window
        across = self.w - s + 1
        size = ((self.h - s + 1) * across) << self.c
        if size > MAX_KEYS or not self.on:
            return None
        self._table(s, size)
        if isinstance(sign, bool):
            bits = flips.long() ^ int(sign)
        else:
            powers = 2 ** torch.arange(self.c, device=flips.device)
            signs = sign.reshape(1, self.c) ^ flips[:, None]
            bits = (signs.long() * powers).sum(dim=1)
        return bits + ((top * across + left) << self.c)

    def feature(self, j):
        """The key of a vector step that moves feature ``j`` alone."""
        if not self.on:
            return None
        self._table("feature", self.w)
        return j

    def seen(self, keys):
        if isinstance(keys, int):
            return self.table[:, keys]
        return self.table.gather(1, keys[:, None])[:, 0]

    def update(self, keys, moved):
        """Mark ``keys`` tried; forget all the steps of the points that moved."""
        if keys is None:
            if self.table is not None:
                self.table.masked_fill_(moved[:, None], False)
            return
        if isinstance(keys, int):
            self.table[:, keys] = True
        else:
            self.table.scatter_(1, keys[:, None], True)
        self.table.masked_fill_(moved[:, None], False)

    def quiet(self, ahead, best, low, high):
        """How many of the steps ``ahead`` (:meth:`LinfPlan.ahead`), from the
        first, every point has tried, the points staying at ``best``."""
        if self.table is None:
            return 0
        if isinstance(ahead, list):  # vectors: one-feature windows
            done = self.table.all(dim=0).tolist() if self.side == "feature" else []
            return next(
                (k for k, j in enumerate(ahead) if j < 0 or not done[j]), len(ahead)
            )
        corners, signs = ahead
        s = int(corners[0, 2])
        if s != self.side:
            return 0
        # whether each square lies at its upper (lower) vertex: a min pool
        at = [(best == v).to(best.dtype) for v in (high, low)]
        if s > 1:
            at = [-torch.nn.functional.max_pool2d(-a, s, stride=1) for a in at]
        hi, lo = (a[:, :, corners[:, 0], corners[:, 1]] > 0 for a in at)
        signs = signs.T[None]  # (1, c, m)
        flips = torch.where(signs, hi, lo).all(dim=1)  # (n, m)
        powers = 2 ** torch.arange(self.c, device=flips.device)[:, None]
        bits = ((signs ^ flips[:, None]).long() * powers).sum(dim=1)
        keys = bits + ((corners[:, 0] * (self.w - s + 1) + corners[:, 1]) << self.c)
        fresh = (~self.table.gather(1, keys)).any(dim=0)
        return int(fresh.long().argmax()) if bool(fresh.any()) else len(fresh)

    def keep(self, rows):
        self.n = int(rows.sum())
        if self.table is not None:
            self.table = self.table[rows]


def _spin_step(step, sigma):
    """:func:`step_linf` on vectors whose points all sit at vertices.

    ``sigma``, shape ``(n, w)``, is +1 where a point sits at its upper vertex
    and -1 at the lower one. A window's signs agree with a point's everywhere
    exactly when ``sigma @ spins`` reaches the window's size (sums of +-1:
    exact in floating point), so that the test for an unchanged point is one
    matrix-vector product. Returns the new spins (their points: the upper
    vertex where positive).
    """
    spins, count, window = step
    flip = torch.where(sigma @ spins == count, -1.0, 1.0)
    return torch.where(window, flip[:, None] * spins, sigma)


def search_linf(
    model, shape, plan, n_queries, rows, loss_fn, targeted, *, remember=True
):
    """The l-inf random search after the first query, in the inputs ``x``.

    ``rows``: the points still robust, as ``(index, x_best, best_loss, x_low,
    x_high, labels)`` (``x_low`` / ``x_high``: the vertices inside the box).
    ``remember``: answer the repeats of steps from memory (:class:`_Tried`;
    for a deterministic model only). Returns, for those points, ``x_best``,
    its loss, whether it is adversarial and the queries spent, written back
    at each compaction.
    """
    idx, x_best, best, low, high, labels = rows
    x_out, best_out = x_best.clone(), best.clone()
    hit_out = torch.zeros(len(idx), dtype=torch.bool, device=idx.device)
    spent_out = torch.zeros(len(idx), dtype=torch.long, device=idx.device)
    pos = torch.arange(len(idx), device=idx.device)  # rows of the outputs
    # vectors whose mobile features all sit at one of two distinct vertices
    # (as the start does) step as spins: no comparison of the points
    spin = getattr(plan, "spin", None)
    if spin is not None and plan.windows.image:
        spin = None
    if spin is not None:
        mobile = plan.windows.mobile.reshape(1, 1, 1, -1)
        at = (x_best == low) | (x_best == high)
        if not bool((at & ((low < high) | ~mobile)).all()):
            spin = None
    if spin is not None:
        point = x_best.shape[1:]
        low, high = low.flatten(1), high.flatten(1)
        sigma = torch.where(x_best.flatten(1) == high, 1.0, -1.0)
    tried = _Tried(len(pos), x_best.shape, pos.device, on=remember)
    single = getattr(plan, "single", None) if spin is not None else None
    ahead = getattr(plan, "ahead", None)
    spent, skip_to = 0, 0
    for i in range(n_queries - 1):
        if not len(pos):
            break
        if i < skip_to:  # every point tried this step already
            spent += 1
            continue
        keys = None
        if spin is not None:
            j = -1 if single is None else single(i)
            keys = None if j < 0 else tried.feature(j)
        else:
            window, sign = plan(i)
            if isinstance(window, tuple):
                flips = _square_flips(window, sign, x_best, low, high)
                keys = tried.square(window, sign, flips)
        ask = None if keys is None else ~tried.seen(keys)
        if ask is not None and not bool(ask.any()):
            spent += 1  # every point tried it: none moves; and the next?
            if ahead is not None and i + 1 < n_queries - 1:
                skip_to = i + 1 + tried.quiet(ahead(i + 1), x_best, low, high)
            continue
        if spin is not None:
            cand = _spin_step(spin(i), sigma)
            x = torch.where(cand > 0, high, low)
        elif isinstance(window, tuple):
            x = _square_move(window, sign, flips, x_best, low, high)
        else:
            x = step_linf((window, sign), x_best, low, high)
        if ask is None or bool(ask.all()):
            with torch.inference_mode():  # queries only
                scores = model(x.reshape(-1, *shape))
            loss = loss_fn(scores, labels, targeted)
            hit = success(scores, labels, targeted)
        else:  # only the points that have not tried this step yet
            ask = torch.nonzero(ask)[:, 0]
            loss, hit = best.clone(), torch.zeros_like(best, dtype=torch.bool)
            with torch.inference_mode():
                scores = model(x[ask].reshape(-1, *shape))
            loss[ask] = loss_fn(scores, labels[ask], targeted)
            hit[ask] = success(scores, labels[ask], targeted)
        better = (loss > best) | hit
        tried.update(keys, better)
        if spin is not None:
            sigma = torch.where(better[:, None], cand, sigma)
        else:
            x_best = torch.where(better.reshape(-1, 1, 1, 1), x, x_best)
        best = torch.where(better, loss, best)
        spent += 1
        if bool(hit.any()):  # write back, and drop the broken points
            if spin is not None:
                x_best = torch.where(sigma > 0, high, low).reshape(-1, *point)
                sigma = sigma[~hit]
            x_out[pos], best_out[pos], hit_out[pos] = x_best, best, hit
            spent_out[pos] += spent
            spent, keep = 0, ~hit
            pos, x_best, best = pos[keep], x_best[keep], best[keep]
            low, high, labels = low[keep], high[keep], labels[keep]
            tried.keep(keep)
    if spin is not None:
        x_best = torch.where(sigma > 0, high, low).reshape(-1, *point)
    x_out[pos], best_out[pos] = x_best, best
    spent_out[pos] += spent
    return x_out, best_out, hit_out, spent_out
