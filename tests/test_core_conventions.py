"""Derivatives at kinks and ties: the conventions of SPEC 2.3 (PyTorch's).

abs'(0) = 0, relu'(0) = 0, sqrt'(0) = inf, max/min reductions and
elementwise maximum/minimum split the gradient evenly among ties, where
sends exactly zero into the branch not taken, norm'(0) = 0, clip passes
the gradient at its bounds (torch.clamp), prod with zeros multiplies the
other factors.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcli.core import autodiff, ops
from gradcli.core.tensor import Tensor

pytestmark = pytest.mark.usefixtures("core_mode")


def leaf(values):
    return Tensor(np.array(values, dtype=np.float64)).attach_grad()


def grad_of(f, values, head=None):
    x = leaf(values)
    autodiff.backward(f(x), head)
    return x.grad.data


def test_abs_at_zero():
    np.testing.assert_array_equal(grad_of(ops.absolute, [-2.0, 0.0, 3.0]), [-1.0, 0.0, 1.0])
    assert autodiff.grad(ops.absolute)(Tensor(np.array(0.0))).data == 0.0


def test_relu_at_zero():
    np.testing.assert_array_equal(grad_of(ops.relu, [-1.0, 0.0, 2.0]), [0.0, 0.0, 1.0])


def test_sqrt_at_zero_is_inf(core_mode):
    np.testing.assert_array_equal(grad_of(ops.sqrt, [0.0, 4.0]), [np.inf, 0.25])
    assert any("SqrtBackward" in r for r in core_mode.nan_reports)


@pytest.mark.parametrize("reduce, values, axis, keepdims, expected", [
    (ops.max_, [1.0, 3.0, 3.0], None, False, [0.0, 0.5, 0.5]),
    (ops.min_, [2.0, 1.0, 1.0, 1.0], None, False, [0.0, 1 / 3, 1 / 3, 1 / 3]),
    (ops.max_, [2.0, 2.0, 2.0, 2.0], None, False, [0.25] * 4),
    (ops.max_, [[1.0, 3.0, 3.0], [5.0, 2.0, 5.0]], 1, False, [[0, 0.5, 0.5], [0.5, 0, 0.5]]),
    (ops.max_, [[1.0, 3.0, 3.0], [5.0, 2.0, 5.0]], -1, True, [[0, 0.5, 0.5], [0.5, 0, 0.5]]),
    (ops.min_, [[1.0, 3.0], [1.0, 2.0], [4.0, 2.0]], 0, False, [[0.5, 0], [0.5, 0.5], [0, 0.5]]),
    (ops.max_, [[1.0, 3.0], [3.0, 0.0]], (0, 1), False, [[0, 0.5], [0.5, 0]]),
])
def test_max_min_reductions_split_ties(reduce, values, axis, keepdims, expected):
    got = grad_of(lambda x: reduce(x, axis=axis, keepdims=keepdims), values)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


def test_max_ties_split_the_head_gradient():
    x = leaf([[1.0, 3.0, 3.0], [5.0, 2.0, 5.0]])
    autodiff.backward(ops.max_(x, axis=1), Tensor(np.array([10.0, -4.0])))
    np.testing.assert_array_equal(x.grad.data, [[0, 5, 5], [-2, 0, -2]])


@pytest.mark.parametrize("op, dx, dy", [
    (ops.maximum, [0.0, 0.5, 1.0], [1.0, 0.5, 0.0]),
    (ops.minimum, [1.0, 0.5, 0.0], [0.0, 0.5, 1.0]),
])
def test_maximum_minimum_ties_half_each(op, dx, dy):
    x, y = leaf([1.0, 2.0, 3.0]), leaf([3.0, 2.0, 1.0])
    autodiff.backward(op(x, y))
    np.testing.assert_array_equal(x.grad.data, dx)
    np.testing.assert_array_equal(y.grad.data, dy)


def test_maximum_tie_with_broadcast_scalar():
    x, y = leaf([1.0, 2.0, 2.0]), leaf(2.0)
    autodiff.backward(ops.maximum(x, y))
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5])
    assert y.grad.data == 1.0 + 0.5 + 0.5


def test_maximum_of_a_value_with_itself_has_gradient_one():
    np.testing.assert_array_equal(grad_of(lambda x: ops.maximum(x, x), [1.0, -2.0]), [1.0, 1.0])
    np.testing.assert_array_equal(grad_of(lambda x: ops.minimum(x, x), [1.0, -2.0]), [1.0, 1.0])


def test_relu_as_maximum_at_zero_is_half():
    # maximum(x, 0) is not relu: at 0 it is a tie, so it gets half (PyTorch too).
    np.testing.assert_array_equal(grad_of(lambda x: ops.maximum(x, 0.0), [-1.0, 0.0, 2.0]),
                                  [0.0, 0.5, 1.0])


# ----------------------------------------------------------------- where

def test_where_sends_exact_zero_even_against_an_infinite_head():
    # where's VJP selects, it does not multiply by a 0/1 mask: an infinite
    # incoming gradient must not turn into 0 * inf = nan in the other branch.
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    cond = np.array([True, False, True])
    autodiff.backward(ops.where(cond, a, b), Tensor(np.array([np.inf, 1.0, -np.inf])))
    np.testing.assert_array_equal(a.grad.data, [np.inf, 0.0, -np.inf])
    np.testing.assert_array_equal(b.grad.data, [0.0, 1.0, 0.0])


def test_where_with_non_finite_values_in_the_branch_not_taken():
    cond = np.array([True, True, False, False])
    a = leaf([1.0, 2.0, np.nan, np.inf])
    b = leaf([np.inf, np.nan, 5.0, 6.0])
    y = ops.where(cond, a, b)
    np.testing.assert_array_equal(y.data, [1.0, 2.0, 5.0, 6.0])
    autodiff.backward(y)
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.0, 0.0, 1.0, 1.0])


def test_where_x_or_log_x_for_positive_x(core_mode):
    g = grad_of(lambda x: ops.where(ops.greater(x, 0.0), x, ops.log(x)), [0.5, 1.0, 2.0])
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0])
    assert core_mode.nan_reports == []


def test_where_guarded_sqrt_at_zero(core_mode):
    x = np.array([0.0, 4.0])
    cond = x > 0
    # The gradient where sends into the sqrt branch is exactly zero at x = 0 ...
    s = Tensor(np.sqrt(x))
    ds = autodiff.grad(lambda s: ops.sum_(ops.where(cond, s, 0.0)))(s)
    np.testing.assert_array_equal(ds.data, [0.0, 1.0])
    # ... but sqrt's own VJP then makes 0 * sqrt'(0) = 0 * inf = nan, exactly
    # as in PyTorch and JAX; the NaN watch names the op that made it.
    g = grad_of(lambda x: ops.where(cond, ops.sqrt(x), 0.0), x)
    assert np.isnan(g[0]) and g[1] == 0.25
    assert any("SqrtBackward" in r for r in core_mode.nan_reports)
    # The usual fix, a second where inside, gives exactly 0.
    g = grad_of(lambda x: ops.where(cond, ops.sqrt(ops.where(cond, x, 1.0)), 0.0), x)
    np.testing.assert_array_equal(g, [0.0, 0.25])


# --------------------------------------------------------- norm, prod, clip

def test_norm_at_zero_is_zero(core_mode):
    np.testing.assert_array_equal(grad_of(ops.norm, [0.0, 0.0, 0.0]), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad_of(lambda x: ops.norm(x, 1), [0.0, 2.0, -1.0]),
                                  [0.0, 1.0, -1.0])
    assert core_mode.nan_reports == []


def test_norm_along_axis_with_a_zero_row():
    g = grad_of(lambda x: ops.norm(x, axis=1), [[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]], rtol=0, atol=1e-15)
    g = grad_of(lambda x: ops.norm(x, axis=0, keepdims=True), [[0.0, 3.0], [0.0, 4.0]])
    np.testing.assert_allclose(g, [[0.0, 0.6], [0.0, 0.8]], rtol=0, atol=1e-15)


@pytest.mark.parametrize("values, axis, expected", [
    ([2.0, 0.0, 3.0], None, [0.0, 6.0, 0.0]),
    ([0.0, 2.0, 0.0], None, [0.0, 0.0, 0.0]),
    ([0.0, 0.0], None, [0.0, 0.0]),
    ([0.0], None, [1.0]),
    ([[2.0, 0.0, 3.0], [1.0, 2.0, 3.0]], 1, [[0.0, 6.0, 0.0], [6.0, 3.0, 2.0]]),
    ([[2.0, 0.0], [0.0, 5.0], [4.0, 0.0]], 0, [[0.0, 0.0], [8.0, 0.0], [0.0, 0.0]]),
    ([[2.0, 0.0], [3.0, 5.0], [4.0, 7.0]], 0, [[12.0, 35.0], [8.0, 0.0], [6.0, 0.0]]),
    ([[-2.0, 0.0], [3.0, 5.0]], None, [[0.0, -30.0], [0.0, 0.0]]),
])
def test_prod_with_zeros(core_mode, values, axis, expected):
    g = grad_of(lambda x: ops.prod(x, axis=axis), values)
    np.testing.assert_array_equal(g, expected)
    assert core_mode.nan_reports == []


def test_prod_with_zero_and_head_keepdims():
    x = leaf([[2.0, 0.0, 3.0], [1.0, 2.0, 3.0]])
    autodiff.backward(ops.prod(x, axis=1, keepdims=True), Tensor(np.array([[2.0], [-1.0]])))
    np.testing.assert_array_equal(x.grad.data, [[0.0, 12.0, 0.0], [-6.0, -3.0, -2.0]])


def test_prod_hessian_with_zero_factors():
    # d²(x0 x1 x2)/dx_i dx_j = the remaining factor.
    h = autodiff.hessian(ops.prod)(Tensor(np.array([2.0, 0.0, 3.0])))
    np.testing.assert_array_equal(h.data, [[0, 3, 0], [3, 0, 2], [0, 2, 0]])
    h = autodiff.hessian(ops.prod)(Tensor(np.array([0.0, 5.0, 0.0])))
    np.testing.assert_array_equal(h.data, [[0, 0, 5], [0, 0, 0], [5, 0, 0]])


def test_clip_passes_the_gradient_at_its_bounds():
    # torch.clamp: gradient 1 where low <= x <= high, bounds included.
    g = grad_of(lambda x: ops.clip(x, -1.0, 1.0), [-3.0, -1.0, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(grad_of(lambda x: ops.clip(x, low=0.0), [-1.0, 0.0, 1.0]),
                                  [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(grad_of(lambda x: ops.clip(x, high=0.0), [-1.0, 0.0, 1.0]),
                                  [1.0, 1.0, 0.0])


def test_pow_exponent_gradient_at_zero_base():
    # d/dy 0**y = 0 * log 0: taken as its limit 0 for y > 0, not nan.
    y = leaf([2.0, 0.5])
    autodiff.backward(ops.power(Tensor(np.array([0.0, 0.0])), y))
    np.testing.assert_array_equal(y.grad.data, [0.0, 0.0])


def test_sign_and_comparisons_have_zero_gradient_paths():
    # sign is not recorded: y = x * sign(x) = |x| gets only the x factor's path.
    g = grad_of(lambda x: x * ops.sign(x), [-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])
