"""One batch of an attack's run, picklable so that batches can go to joblib."""

import numpy as np

from .._torch import torch
from ._call_cache import refuse_nonfinite
from ._functional import cast_inside, exact_box, repair

#: samples per batch of ``batch_size="auto"`` when an attack runs with ``n_jobs``
JOB_BATCH = 256


def batch_seeds(seed, n_batches):
    """One torch seed per batch: ``seed`` for the first, derived ones after."""
    derived = np.random.SeedSequence(seed).generate_state(max(n_batches - 1, 0))
    return [int(seed), *(int(s) for s in derived)]


class BatchRun:
    """One batch of an attack's run: ``(start, stop, generator or seed)`` ->
    ``(x_adv, extras)`` in numpy; picklable, for joblib workers."""

    #: the torch dtypes the attack works in and returns
    work = out_dtype = None

    def __init__(self, attack, model, Xa, true, labels, constraints, pinned):
        self.attack, self.model, self.Xa = attack, model, Xa
        self.true, self.labels = true, labels
        self.constraints, self.pinned = constraints, pinned

    def __call__(self, start, stop, generator):
        model = self.model
        device = model.device
        if not isinstance(generator, torch.Generator):  # a seed, in a worker
            seed, generator = generator, torch.Generator(device=device)
            generator.manual_seed(seed)
            with model.evaluating():
                return self(start, stop, generator)
        batch = np.ascontiguousarray(self.Xa[start:stop])  # reversed views too
        if batch.flags.writeable:  # one copy, never the caller's array
            x0 = torch.from_numpy(batch)
            same = x0.dtype == self.work and x0.device == device
            x0 = x0.clone() if same else x0.to(device, self.work)
        else:  # torch reads no read-only array
            x0 = torch.tensor(batch, device=device, dtype=self.work)
        extremes = None  # read by the input checks and the output box
        if x0.numel():
            extremes = tuple(map(float, torch.aminmax(x0)))  # NaN if any is
            refuse_nonfinite(self.attack, self.Xa, extremes)
        self.constraints.check_inside(x0, start, extremes)
        pinned = None if self.pinned is None else self.pinned[start:stop]
        c = self.constraints.with_pinned(pinned)
        if self.true is None:
            with torch.no_grad():
                true = model(x0).argmax(dim=1)
        else:
            true = _rows(self.true, start, stop, device)
        labels = self.labels
        labels = true if labels is None else _rows(labels, start, stop, device)
        norm, box = self.attack.norm, {}
        if (
            norm == "linf"
            and self.attack._keeps_box
            and not c.needs_repair
            and x0.dtype == self.out_dtype
            and x0.numel()
        ):  # the box exact in the returned dtype: nothing to clamp after
            box["box"] = exact_box(x0, c, norm, extremes)
        x_adv, more = self.attack._attack_batch(
            model,
            x0,
            labels,
            c,
            targeted=self.labels is not None,
            true_labels=true,
            generator=generator,
            **box,
        )
        if not box:
            x_adv = repair(x_adv, x0, c, norm)
            # loops that move x0 + delta may miss a bound by a rounding, and
            # the cast to the caller's dtype by half a step of it: one clamp
            # into a box exact in that dtype (inside the input box)
            x_adv = cast_inside(x_adv.detach(), x0, c, norm, self.out_dtype, extremes)
        if "norms" in more:  # minimal-norm attacks: measured on what is returned
            more["norms"] = self.attack._returned_norms(x_adv, x0, c, more["norms"])
        x_adv = x_adv.cpu().numpy()
        more = {
            key: value.detach().cpu().numpy() if torch.is_tensor(value) else value
            for key, value in more.items()
        }
        return x_adv, more


def _rows(tensor, start, stop, device):
    """Rows ``start:stop`` of ``tensor`` on ``device`` (no slice when all)."""
    if start or stop != len(tensor):
        tensor = tensor[start:stop]
    return tensor.to(device)
