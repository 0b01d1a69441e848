"""The projected-gradient loop's two ways through a run give the same steps:
the plain run (the last iterate, no bookkeeping) and the run that evaluates
its iterates and keeps the best."""

import pytest
import torch

from skrobust.attacks._functional import (
    cross_entropy,
    dlr,
    get_norm,
    projected_gradient,
)


@pytest.mark.parametrize("loss,targeted", [("ce", False), ("dlr", True)])
@pytest.mark.parametrize("random_init", [True, False])
def test_plain_linf_steps_equal_the_general_loop(loss, targeted, random_init):
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)
    ).double()
    model.eval().requires_grad_(False)
    x0 = torch.rand(30, 6, generator=gen, dtype=torch.float64)
    true = model(x0).argmax(dim=1)
    labels = (true + 1) % 4 if targeted else true
    low, high = torch.zeros_like(x0), torch.ones_like(x0)
    runs = []
    for evaluate in (False, True):  # plain, then the general loop's path
        x_adv, _ = projected_gradient(
            model,
            x0,
            labels,
            norm=get_norm("linf"),
            scale=torch.full((6,), 0.2, dtype=torch.float64),
            low=low,
            high=high,
            loss_fn=cross_entropy if loss == "ce" else dlr,
            targeted=targeted,
            true_labels=true if targeted else None,
            n_iter=7,
            rel_step=0.3,
            random_init=random_init,
            evaluate=evaluate,
            generator=torch.Generator().manual_seed(1),
        )
        runs.append(x_adv)
    assert not torch.equal(runs[0], x0)  # it moved
    assert torch.equal(runs[0], runs[1])
    assert ((runs[0] - x0).abs() <= 0.2 + 1e-12).all()
    assert runs[0].min() >= 0 and runs[0].max() <= 1


def test_exact_linf_box_skips_the_ball_only_where_it_lies_inside():
    """exact_box's l-inf box (a BallBox) lies inside the ball: clamping into
    it alone takes the same steps as intersecting it with the ball; with a
    smaller budget (eps_factor) the ball is intersected again."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler

    from skrobust.attacks import PGD
    from skrobust.attacks._functional import BallBox, exact_box

    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)[:60]
    clf = LogisticRegression(max_iter=1000).fit(X, y[:60])
    attack = PGD(clf, eps=0.05, bounds=(0.0, 1.0), n_iter=5)
    view = attack._view()
    c = attack.threat_model(X.shape[1:])
    x0 = torch.as_tensor(X)
    labels = torch.as_tensor(y[:60])
    box = exact_box(x0, c, "linf")
    assert type(box) is BallBox
    assert type(exact_box(x0, c, "l2")) is tuple

    def run(box, factor=1.0):
        with view.evaluating():
            return attack.perturb(
                view,
                x0,
                labels,
                c,
                box=box,
                eps_factor=factor,
                generator=torch.Generator().manual_seed(0),
            )

    kept = run(box)
    assert torch.equal(kept, run(tuple(box)))  # the intersection changes nothing
    assert ((kept - x0).abs() <= 0.05).all() and not torch.equal(kept, x0)
    half = run(box, factor=0.5)
    assert ((half - x0).abs() <= 0.025 + 1e-15).all()
    assert ((half - x0).abs() > 0.02).any()
