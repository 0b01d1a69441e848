"""The linear relaxations of activations: sound on the whole interval, and tight."""

import numpy as np
import pytest
import torch

from skrobust.certification import bound_layer
from skrobust.certification.bounds import _relaxations

ACTIVATIONS = {
    "relu": torch.nn.ReLU(),
    "leaky_relu": torch.nn.LeakyReLU(0.1),
    "leaky_relu_concave": torch.nn.LeakyReLU(1.5),
    "tanh": torch.nn.Tanh(),
    "sigmoid": torch.nn.Sigmoid(),
}


def _intervals(seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=3, size=300)
    b = a + np.concatenate(
        [rng.exponential(2, size=250), [0.0] * 10, rng.uniform(0, 1e-7, size=40)]
    )
    lower = np.concatenate([a, [-5.0, 0.0, -1e-3, 2.0]])  # ends at 0, symmetric
    upper = np.concatenate([b, [5.0, 3.0, 0.0, 2.0]])
    return torch.tensor(lower), torch.tensor(upper)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_relaxation_lines_enclose_the_function_and_touch_it(name):
    layer = ACTIVATIONS[name]
    lower, upper = _intervals()
    a_l, b_l, a_u, b_u = bound_layer(layer).relaxation(lower, upper)
    t = torch.linspace(0, 1, 401, dtype=torch.float64)[:, None]
    x = lower + t * (upper - lower)  # (401, n): a grid of each interval
    f = layer(x)
    below = f - (a_l * x + b_l)
    above = (a_u * x + b_u) - f
    assert below.min() >= -1e-12 and above.min() >= -1e-12
    # neither line can be moved towards f: each touches it on the interval
    assert below.amin(0).max() <= 1e-6 and above.amin(0).max() <= 1e-6
    # and the interval rule is the function's range on the interval
    low, high = bound_layer(layer).interval(lower, upper)
    assert torch.all(low <= f.amin(0) + 1e-12) and torch.all(high >= f.amax(0) - 1e-12)


def test_relu_relaxation_is_crowns():
    lower, upper = (
        torch.tensor([-1.0, -3.0, 1.0, -2.0]),
        torch.tensor([3.0, 1.0, 2.0, -1]),
    )
    a_l, b_l, a_u, b_u = bound_layer(torch.nn.ReLU()).relaxation(lower, upper)
    assert a_l.tolist() == [1.0, 0.0, 1.0, 0.0]  # adaptive: 1 iff u > -l
    torch.testing.assert_close(a_u, torch.tensor([0.75, 0.25, 1.0, 0.0]))
    torch.testing.assert_close(b_u, torch.tensor([0.75, 0.75, 0.0, 0.0]))
    assert b_l.abs().max() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_relu_lines_equal_the_general_formula_bit_for_bit(dtype):
    """The ReLU's lines, from arithmetic alone, are the leaky formula's at
    slope 0 exactly: stable units on either side, ends at 0, a point
    interval at 0, widths below the smallest normal number."""
    lower, upper = _intervals(seed=1)
    tiny = torch.finfo(dtype).tiny
    edge = torch.tensor([[0.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [-tiny, tiny]])
    lower = torch.cat([lower, edge[:, 0]]).to(dtype)
    upper = torch.cat([upper, edge[:, 1]]).to(dtype)
    fast = _relaxations._relu_lines(lower, upper)
    general = _relaxations._piecewise_lines(lower, upper, 0.0)
    for a, b in zip(fast, general):
        assert torch.equal(a, b)
