"""The values of the built-ins SPEC 3 added, against numpy's (the meaning the
language follows; PyTorch's where the two differ and SPEC says so), and
their gradients at kinks, against PyTorch's documented conventions.
Gradients elsewhere are checked by test_builtins_gradcheck.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcli import api
from gradcli.core import autodiff
from gradcli.core.tensor import Tensor
from gradcli.lang.builtins import BUILTINS

pytestmark = pytest.mark.usefixtures("core_mode")
R = np.random.default_rng(7)
X = R.uniform(-2, 2, (3, 4))
X3 = R.uniform(-2, 2, (2, 3, 4))
U = R.uniform(-0.9, 0.9, (3, 4))


def call(name, *args, **kwargs):
    out = BUILTINS[name](*[Tensor(a) if isinstance(a, np.ndarray) else a for a in args],
                         **kwargs)
    return out.data if isinstance(out, Tensor) else out


def grad(name, values, *args, **kwargs):
    x = Tensor(np.array(values, dtype=np.float64)).attach_grad()
    autodiff.backward(BUILTINS[name](x, *args, **kwargs))
    return x.grad.data


@pytest.mark.parametrize("name, expected", [
    ("erf", np.vectorize(math.erf)(X)), ("expm1", np.expm1(X)), ("log2", np.log2(abs(X))),
    ("log10", np.log10(abs(X))), ("square", X * X), ("arcsin", np.arcsin(U)),
    ("asin", np.arcsin(U)), ("arccos", np.arccos(U)), ("acos", np.arccos(U)),
    ("arctan", np.arctan(X)), ("atan", np.arctan(X)), ("sinh", np.sinh(X)),
    ("cosh", np.cosh(X)),
])
def test_elementwise_values(name, expected):
    x = U if name in ("arcsin", "asin", "arccos", "acos") else X
    x = abs(x) if name in ("log2", "log10") else x
    np.testing.assert_allclose(call(name, x), expected, rtol=1e-15, atol=0)


def test_logaddexp_value_even_far_apart():
    a, b = np.array([-1000.0, 0.0, 1000.0]), np.array([-1000.0, 2.0, 0.0])
    np.testing.assert_array_equal(call("logaddexp", a, b), np.logaddexp(a, b))


@pytest.mark.parametrize("kwargs, numpy_kwargs", [
    ({}, {}), ({"axis": 0}, {"axis": 0}),
    ({"dim": 1, "keepdim": True}, {"axis": 1, "keepdims": True}),
    ({"ddof": 1}, {"ddof": 1}), ({"correction": 1, "axis": (0, 1)}, {"ddof": 1, "axis": (0, 1)}),
    ({"unbiased": True}, {"ddof": 1}), ({"unbiased": False}, {"ddof": 0}),
])
def test_std_var_divide_by_n_minus_ddof_default_zero_as_numpy(kwargs, numpy_kwargs):
    np.testing.assert_allclose(call("var", X, **kwargs), np.var(X, **numpy_kwargs), rtol=1e-14)
    np.testing.assert_allclose(call("std", X, **kwargs), np.std(X, **numpy_kwargs), rtol=1e-14)


def test_std_of_equal_elements_has_gradient_zero_as_pytorch():
    # PyTorch's std_backward masks the 0 / 0 where the result is 0.
    np.testing.assert_array_equal(grad("std", [1.5]), [0.0])
    g = grad("std", [[2.0, 2.0], [1.0, 3.0]], axis=1)
    np.testing.assert_array_equal(g[0], [0.0, 0.0])
    np.testing.assert_allclose(g[1], [-0.5, 0.5], rtol=1e-15)
    np.testing.assert_array_equal(grad("var", [1.5]), [0.0])


def test_std_with_too_few_elements_for_ddof_is_nan_as_numpy():
    assert np.isnan(call("std", np.array([1.5]), ddof=1))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumsum(axis):
    np.testing.assert_allclose(call("cumsum", X, axis), np.cumsum(X, axis), rtol=1e-15)


@pytest.mark.parametrize("ord", [1, 2, 3, 0.5, -1.5, np.inf, -np.inf, 0])
def test_norm_any_ord_is_the_vector_norm(ord):
    x = X.ravel()
    np.testing.assert_allclose(call("norm", X, ord), np.linalg.norm(x, ord), rtol=1e-14)
    np.testing.assert_allclose(call("norm", X, ord, axis=1),
                               np.linalg.norm(X, ord, axis=1), rtol=1e-14)


@pytest.mark.parametrize("p", [3, 0.5, 1.5, -2])
def test_norm_at_zero_has_gradient_zero(p, core_mode):
    np.testing.assert_array_equal(grad("norm", [0.0, 0.0], p), [0.0, 0.0])
    assert core_mode.nan_reports == []


def test_norm_below_one_is_zero_at_zero_elements_and_inf_norms_split_ties():
    g = grad("norm", [0.0, 2.0, -1.0], 0.5)
    assert g[0] == 0 and np.all(np.isfinite(g))
    np.testing.assert_array_equal(grad("norm", [2.0, -2.0, 1.0], np.inf), [0.5, -0.5, 0.0])
    np.testing.assert_array_equal(grad("norm", [2.0, -1.0, 1.0], -np.inf), [0.0, -0.5, 0.5])
    np.testing.assert_array_equal(grad("norm", [2.0, 0.0, 1.0], 0), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("call_args, expected", [
    ((0, 1), X.T), ((1, 0), X.T), ((-1, -2), X.T), (((0, 1),), X), (((1, 0),), X.T), ((), X.T),
])
def test_transpose_two_axes_swap_as_pytorch_a_tuple_permutes_as_numpy(call_args, expected):
    np.testing.assert_array_equal(call("transpose", X, *call_args), expected)


def test_transpose_swap_and_permute_on_3d():
    np.testing.assert_array_equal(call("transpose", X3, 0, 2), np.swapaxes(X3, 0, 2))
    np.testing.assert_array_equal(call("permute", X3, 2, 0, 1), np.transpose(X3, (2, 0, 1)))
    np.testing.assert_array_equal(call("permute", X, 0, 1), X)   # permute never swaps


@pytest.mark.parametrize("sa, sb", [((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 3)),
                                    ((2, 3), (4, 3, 2)), ((2, 1, 3), (2, 3, 2))])
def test_dot_of_stacked_values_is_numpys(sa, sb):
    a, b = R.uniform(-1, 1, sa), R.uniform(-1, 1, sb)
    np.testing.assert_allclose(call("dot", a, b), np.dot(a, b), rtol=1e-13)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (3, 3, 2, 2)])
def test_trace_of_stacked_values_is_numpys(shape):
    a = R.uniform(-1, 1, shape)
    np.testing.assert_allclose(call("trace", a), np.trace(a), rtol=1e-14)


def test_flatten_start_and_end_dims_as_pytorch():
    assert call("flatten", X3, start_dim=1).shape == (2, 12)
    assert call("flatten", X3, 0, 1).shape == (6, 4)
    assert call("ravel", X3).shape == (24,)


@pytest.mark.parametrize("name, args, kwargs, expected", [
    ("flip", (X,), {}, np.flip(X)), ("flip", (X3,), {"axis": 1}, np.flip(X3, 1)),
    ("flip", (X3,), {"dims": (0, 2)}, np.flip(X3, (0, 2))),
    ("take", (X, [0, 5, 11]), {"axis": None}, np.take(X, [0, 5, 11])),
    ("take", (X, [2, 0]), {}, np.take(X, [2, 0], axis=0)),
    ("take", (X, [[1, 0]]), {"axis": 1}, np.take(X, [[1, 0]], axis=1)),
    ("take", (X, [-1]), {"axis": 0}, np.take(X, [-1], axis=0)),
    ("diag", (X[0],), {}, np.diag(X[0])), ("diag", (X[0], -2), {}, np.diag(X[0], -2)),
    ("diag", (X,), {}, np.diag(X)), ("diag", (X, 1), {}, np.diag(X, 1)),
    ("diag", (X, -5), {}, np.diag(X, -5)),
    ("triu", (X,), {}, np.triu(X)), ("triu", (X3, -1), {}, np.triu(X3, -1)),
    ("tril", (X,), {"k": 1}, np.tril(X, 1)), ("tril", (X3,), {"diagonal": -1}, np.tril(X3, -1)),
    ("repeat", (X, 2), {}, np.repeat(X, 2)), ("repeat", (X, 2), {"axis": 1}, np.repeat(X, 2, 1)),
    ("repeat", (X, [1, 0, 2]), {"axis": 0}, np.repeat(X, [1, 0, 2], 0)),
    ("tile", (X, 2), {}, np.tile(X, 2)), ("tile", (X, 2, 1, 3), {}, np.tile(X, (2, 1, 3))),
    ("tile", (X3, (2, 1)), {}, np.tile(X3, (2, 1))),
    ("unsqueeze", (X, 1), {}, np.expand_dims(X, 1)), ("view", (X, 4, 3), {}, X.reshape(4, 3)),
])
def test_shape_builtins_as_numpy(name, args, kwargs, expected):
    np.testing.assert_array_equal(call(name, *args, **kwargs), expected)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3)])
def test_slogdet_is_sign_and_log_abs_det_differentiable_in_the_log(shape):
    a = R.uniform(-1, 1, shape) + 2 * np.eye(3)
    a[..., [0, 1], :] = a[..., [1, 0], :]      # a negative determinant
    sign, logabsdet = BUILTINS["slogdet"](Tensor(a).attach_grad())
    np.testing.assert_array_equal(sign.data, np.linalg.slogdet(a)[0])
    np.testing.assert_allclose(logabsdet.data, np.linalg.slogdet(a)[1], rtol=1e-14)
    assert not sign.requires_grad and logabsdet.requires_grad
    x = Tensor(a).attach_grad()
    autodiff.backward(BUILTINS["slogdet"](x)[1])
    np.testing.assert_allclose(x.grad.data, np.swapaxes(np.linalg.inv(a), -1, -2), rtol=1e-12)


def test_repeated_indices_add_up_in_the_gradient():
    np.testing.assert_array_equal(grad("take", [1.0, 2.0, 3.0], [0, 0, 2]), [2.0, 0.0, 1.0])
    np.testing.assert_array_equal(grad("repeat", [1.0, 2.0], [3, 1]), [3.0, 1.0])
    np.testing.assert_array_equal(grad("tile", [1.0, 2.0], 3), [3.0, 3.0])


@pytest.mark.parametrize("name, grad_fn", [
    ("erf", "ErfBackward"), ("expm1", "Expm1Backward"), ("log2", "Log2Backward"),
    ("log10", "Log10Backward"), ("asin", "AsinBackward"), ("arccos", "AcosBackward"),
    ("atan", "AtanBackward"), ("sinh", "SinhBackward"), ("cosh", "CoshBackward"),
    ("square", "PowBackward"), ("cumsum", "CumsumBackward"),
])
def test_grad_fn_names_as_pytorch(name, grad_fn):
    x = Tensor(np.array([0.5, 0.25])).attach_grad()
    assert BUILTINS[name](x).grad_fn == grad_fn


def test_pasted_pytorch_spellings_run():
    program = """
x = torch.tensor([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]], requires_grad=True)
y = torch.std(x, dim=1, unbiased=True).sum() + x.transpose(0, 1)[2, 1] + torch.cumsum(x, dim=0).sum()
y.backward()
print(y, x.grad)
"""
    printed = api.run(api.load(program), None, api.Options()).printed
    value, g = (v.value for v in printed[0])
    rows = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    expected = np.std(rows, axis=1, ddof=1).sum() + rows[1, 2] + np.cumsum(rows, 0).sum()
    assert np.isclose(value, expected)
    d = rows - rows.mean(axis=1, keepdims=True)
    std_grad = d / (np.std(rows, axis=1, ddof=1)[:, None] * 2)
    np.testing.assert_allclose(g, std_grad + [[2, 2, 2], [1, 1, 2]], rtol=1e-12)
