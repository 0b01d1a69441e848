"""The repair operator maps relaxed iterates to valid discrete examples."""

import numpy as np
import pytest
import torch

from skrobust._discrete import CategoricalGroup, frozen_discrete, warn_frozen_discrete
from skrobust._repair import Repair
from skrobust._threat import Constraints

INF = np.inf


def constraints(scale, low=-INF, high=INF, **kwargs):
    scale = np.asarray(scale, dtype=float)
    return Constraints(
        scale, np.full(scale.shape, low), np.full(scale.shape, high), **kwargs
    )


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_integers_round_to_nearest_inside_the_box_else_toward_clean():
    c = constraints([1.5, 1.5, 3.0], high=2.2, integer=np.array([True, True, False]))
    x0 = t([[0.0, 1.0, 0.0]])
    repair = Repair(c, x0, "linf")
    out = repair(t([[1.4, 2.2, 0.7]]))
    # 1.4 -> 1; 1 + 1.2 rounds to 2 (inside 2.2); the float is untouched
    np.testing.assert_array_equal(out.numpy(), [[1.0, 2.0, 0.7]])
    out = repair(t([[-1.5, 2.2, 0.0]]))
    # -1.5 rounds to -2, outside the 1.5 ball: toward clean, -1
    np.testing.assert_array_equal(out.numpy(), [[-1.0, 2.0, 0.0]])


def test_integers_in_l2_ball_fall_back_to_truncation():
    c = constraints([1.0, 1.0], integer=np.array([True, True]))
    x0 = t([[0.0, 0.0]])
    x = t([[0.7, 0.7]])  # inside the unit l2 ball; rounding gives norm sqrt(2)
    out = Repair(c, x0, "l2")(x)
    np.testing.assert_array_equal(out.numpy(), [[0.0, 0.0]])
    out = Repair(c, x0, "l2")(t([[0.9, 0.2]]))
    np.testing.assert_array_equal(out.numpy(), [[1.0, 0.0]])


def group(index, allowed, mutable=True, column="c"):
    return CategoricalGroup(column, index, np.array(["a", "b", "c"]), allowed, mutable)


def test_categories_take_the_best_allowed_one():
    g = group([1, 2, 3], [True, False, True])
    c = constraints([0.0, 1.0, 1.0, 1.0], low=0.0, high=1.0, categorical=[g])
    x0 = t([[5.0, 0.0, 1.0, 0.0], [5.0, 1.0, 0.0, 0.0]])
    relaxed = t([[5.0, 0.3, 0.2, 0.9], [5.0, 0.1, 0.8, 0.4]])
    out = Repair(c, x0, "linf")(relaxed)
    # row 0: "c" wins; row 1: "b" is not allowed (and not clean): "c"
    np.testing.assert_array_equal(out.numpy(), [[5, 0, 0, 1], [5, 0, 0, 1]])
    relaxed = t([[5.0, 0.3, 0.95, 0.2]])  # the clean "b" is always allowed
    np.testing.assert_array_equal(
        Repair(c, x0[:1], "linf")(relaxed).numpy(), [[5, 0, 1, 0]]
    )


def test_unknown_clean_category_may_stay_unknown():
    g = group([0, 1, 2], [True, True, True])
    c = constraints([1.0] * 3, low=0.0, high=1.0, categorical=[g])
    x0 = t([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    out = Repair(c, x0, "linf")(t([[0.1, 0.2, 0.1], [0.1, 0.7, 0.1]]))
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 0], [0, 1, 0]])


def test_max_changes_keeps_the_features_that_moved_most():
    g = group([2, 3, 4], [True] * 3)
    ints = np.array([True, True, False, False, False, False])
    c = constraints(
        [3.0, 3.0, 1.0, 1.0, 1.0, 1.0],
        integer=ints,
        categorical=[g],
        max_changes=1,
    )
    x0 = t([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]] * 2)
    relaxed = t(
        [
            [2.0, 1.0, 0.6, 0.7, 0.0, 0.5],  # int 0 moved most (2/3 > 1.1/2)
            [0.0, 1.0, 0.0, 1.0, 0.0, 0.5],  # the category moved most (1 > 1/3)
        ]
    )
    out = Repair(c, x0, "linf")(relaxed).numpy()
    np.testing.assert_array_equal(out[0], [2, 0, 1, 0, 0, 0.5])
    np.testing.assert_array_equal(out[1], [0, 0, 0, 1, 0, 0.5])
    c.max_changes = 0
    out = Repair(c, x0, "linf")(relaxed).numpy()
    np.testing.assert_array_equal(out[:, :5], x0.numpy()[:, :5])


def test_one_hot_group_reverts_when_the_switch_leaves_the_budget():
    c = constraints([1.0, 1.0, 0.5], one_hot=[np.array([0, 1, 2])])
    x0 = t([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    out = Repair(c, x0, "linf")(t([[0.2, 0.8, 0.1], [0.4, 0.1, 0.45]]))
    # row 0 switches to 1 (both moves of 1 fit); row 1 would need 1 > 0.5
    np.testing.assert_array_equal(out.numpy(), [[0, 1, 0], [1, 0, 0]])


def test_immutable_category_is_not_repaired_away_from_clean():
    g = group([0, 1, 2], [True] * 3, mutable=False)
    c = constraints([0.0] * 3, low=0.0, high=1.0, categorical=[g])
    repair = Repair(c, t([[0.0, 1.0, 0.0]]), "linf")
    assert not repair.active


@pytest.mark.parametrize(
    "norm, scale, frozen",
    [("linf", 0.9, True), ("linf", 1.0, False), ("l2", 1.2, True)],
)
def test_budget_below_one_step_warns(norm, scale, frozen):
    c = constraints(
        [scale, scale, scale, 0.4, 2.0],
        integer=np.array([False, False, False, True, True]),
        one_hot=[np.array([0, 1, 2])],
    )
    expected = ([0, 1, 2] if frozen else []) + [3]
    assert sorted(frozen_discrete(c, norm)) == expected
    with pytest.warns(UserWarning, match="below one step"):
        warn_frozen_discrete(c, norm, names=list("abcde"))


def test_rows_subset_and_pinned_entries():
    c = constraints([2.0, 2.0], integer=np.array([True, False]))
    x0 = t([[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]])
    pinned = torch.tensor([[False, False], [False, True], [False, False]])
    repair = Repair(c.with_pinned(pinned.numpy()), x0, "linf")
    out = repair(t([[6.6, 6.5], [8.7, 8.2]]), rows=torch.tensor([1, 2]))
    # row 1: the integer rounds to 7 (inside 5 +- 2), the pinned entry stays 5
    np.testing.assert_array_equal(out.numpy(), [[7.0, 5.0], [9.0, 8.2]])
