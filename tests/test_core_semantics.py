"""The differentiation semantics of SPEC section 2 and the pure-core
examples of section 8, with exact numbers, on the core alone.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gradcli.core import autodiff, creation, ops
from gradcli.core.tensor import Tensor, check_size, grad_mode
from gradcli.errors import GradError, LimitError, NumericError, ShapeError, Span

pytestmark = pytest.mark.usefixtures("core_mode")

X22 = [[1.0, 2.0], [3.0, 4.0]]


def leaf(values, grad_req="write"):
    return Tensor(np.array(values, dtype=np.float64)).attach_grad(grad_req)


def t(values):
    return Tensor(np.array(values, dtype=np.float64))


def eq(tensor, expected):
    np.testing.assert_array_equal(tensor.data, np.array(expected, dtype=np.float64))


# --------------------------------------------------- SPEC 8, the examples

def test_example_1_cube():
    x = leaf(X22)
    z = x * x * x * 2.0
    autodiff.backward(z)
    eq(x.grad, [[6, 24], [54, 96]])


def test_example_2_square():
    x = leaf(X22)
    autodiff.backward(2.0 * x ** 2.0)
    eq(x.grad, [[4, 8], [12, 16]])


def test_example_3_head_gradient():
    x = leaf(X22)
    y = 2.0 * x * x
    autodiff.backward(y, t([[10, 1], [0.1, 0.01]]))
    np.testing.assert_allclose(x.grad.data, [[40, 8], [1.2, 0.16]], rtol=1e-15)


def test_example_4_chain_rule():
    x = leaf(X22)
    y = x ** 2.0
    z = y ** 2.0 + y
    autodiff.backward(z)
    eq(x.grad, [[6, 36], [114, 264]])


def _example_5(a):
    if ops.sum_(a) < 15.0:
        return a * 2.0
    return a


def test_example_5_control_flow():
    x = leaf(X22)
    autodiff.backward(_example_5(x))
    eq(x.grad, np.full((2, 2), 2.0))
    x = leaf(np.array(X22) * 2)
    autodiff.backward(_example_5(x))
    eq(x.grad, np.ones((2, 2)))


def _example_6(a):
    b = a
    while ops.norm(b) < 1000.0:
        b = b * 2.0
    return b if ops.sum_(b) > 0.0 else 100.0 * b


def test_example_6_while_loop():
    a = leaf([3.0, 4.0, 5.0])
    autodiff.backward(_example_6(a))
    eq(a.grad, [256, 256, 256])
    for value in (0.37, -1.9, 2e-3):    # PyTorch's variant: grad = c / a
        a = leaf(value)
        c = _example_6(a * 2.0)
        autodiff.backward(c)
        np.testing.assert_allclose(a.grad.data, c.data / value, rtol=1e-15)


def test_example_7_dot_of_transpose():
    x = creation.arange(10)
    x = ops.reshape(x, (2, 5)).attach_grad()
    y = 2.0 * ops.dot(ops.transpose(x), x)
    autodiff.backward(y)
    eq(x.grad, [[40] * 5, [140] * 5])


def test_example_8_is_training(core_mode):
    assert core_mode.training is False
    with grad_mode(True, training=True):
        assert core_mode.training is True
        with grad_mode(False):
            assert core_mode.grad_enabled is False
        assert core_mode.grad_enabled is True
    assert core_mode.training is False
    with grad_mode(True):
        assert core_mode.training is False


def test_example_9_detach():
    x = leaf(X22)
    x1 = x.detach()
    y = x + 1.0
    y = x1 + y
    autodiff.backward(y)
    eq(x.grad, np.ones((2, 2)))
    assert x1.grad is None and not x1.requires_grad and x1.node is None
    eq(x1, X22)


def test_example_10_mean_and_grad_fn_names():
    x = creation.ones((2, 2)).attach_grad()
    y = x + 2.0
    z = y * y * 3.0
    out = ops.mean(z)
    assert out.data == 27.0
    assert (y.grad_fn, z.grad_fn, out.grad_fn) == ("AddBackward", "MulBackward", "MeanBackward")
    assert x.grad_fn is None
    autodiff.backward(out)
    eq(x.grad, np.full((2, 2), 4.5))


def test_example_11_head_is_the_input():
    x = creation.ones((2, 2)).attach_grad()
    y = 2.0 * x + 2.0
    autodiff.backward(y, x)
    eq(x.grad, np.full((2, 2), 2.0))


def test_example_12_dot_add_and_detach():
    x = creation.arange(4).attach_grad()
    y = 2.0 * ops.dot(x, x)
    assert y.data == 28.0
    autodiff.backward(y)
    eq(x.grad, [0, 4, 8, 12])

    x.attach_grad(grad_req="add")
    x.zero_grad()
    autodiff.backward(ops.sum_(x))
    eq(x.grad, np.ones(4))
    autodiff.backward(ops.sum_(x))
    eq(x.grad, np.full(4, 2.0))         # "add" accumulates

    x.grad.zero_()
    u = (x * x).detach()
    z = u * x
    autodiff.backward(ops.sum_(z))
    eq(x.grad, u.data)
    eq(x.grad, [0, 1, 4, 9])


def test_example_13_linear_regression_sgd():
    rng = np.random.default_rng(7)
    true_w, true_b = np.array([2.0, -3.4]), 4.2
    features = rng.normal(0, 1, (1000, 2))
    labels = features @ true_w + true_b + rng.normal(0, 0.01, 1000)
    feats, labs = t(features), t(labels)
    w = Tensor(rng.normal(0, 0.01, 2)).attach_grad()
    b = Tensor(np.zeros(1)).attach_grad()
    w_id, b_id = id(w), id(b)
    lr, batch = 0.03, 10
    for _ in range(3):
        order = rng.permutation(1000)
        for i in range(0, 1000, batch):
            idx = order[i:i + batch]
            xb, yb = ops.getitem(feats, (idx,)), ops.getitem(labs, (idx,))
            loss = (ops.matmul(xb, w) + b - yb) ** 2.0 / 2.0
            autodiff.backward(loss)
            with grad_mode(False):
                for p in (w, b):
                    p.assign((p - lr * p.grad / batch).data)
    assert id(w) == w_id and id(b) == b_id and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.data, true_w, atol=0.01)
    np.testing.assert_allclose(b.data, [true_b], atol=0.01)
    with grad_mode(False):
        loss = ops.mean((ops.matmul(feats, w) + b - labs) ** 2.0 / 2.0)
    assert loss.data < 1e-4


def test_example_14_least_squares():
    x, w = t([1.0, 2.0, 3.0]), leaf([0.5, -1.0, 2.0])
    y = 1.5
    autodiff.backward((ops.dot(x, w) - y) ** 2.0)
    eq(w.grad, [6, 12, 18])                       # 2(<x,w> - y) x, <x,w> = 4.5

    X, w, y = t([[1, 2], [3, 4], [5, 6]]), leaf([1.0, -1.0]), t([0.0, 1.0, 2.0])
    z = ops.norm(ops.matmul(X, w) - y) ** 2.0
    np.testing.assert_allclose(z.data, 14.0, rtol=1e-15)
    autodiff.backward(z)
    np.testing.assert_allclose(w.grad.data, [-44.0, -56.0], rtol=1e-14)   # 2Xᵀ(Xw - y)


# --------------------------------------------------------- SPEC 2.1, 2.2

def test_backward_of_non_scalar_is_gradient_of_its_sum():
    x1, x2 = leaf(X22), leaf(X22)
    autodiff.backward(ops.sin(x1) * x1)
    autodiff.backward(ops.sum_(ops.sin(x2) * x2))
    eq(x1.grad, x2.grad.data)
    x = np.array(X22)
    np.testing.assert_allclose(x1.grad.data, np.cos(x) * x + np.sin(x), rtol=1e-15)


def test_head_shape_mismatch_is_an_error():
    x = leaf(X22)
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 2\)"):
        autodiff.backward(x * 2.0, t([1.0, 2.0, 3.0]))


def test_grad_req_write_overwrites_and_add_accumulates():
    w = leaf([1.0, 2.0])
    for k in (1.0, 5.0):
        autodiff.backward(w * k)
    eq(w.grad, [5, 5])
    a = leaf([1.0, 2.0], grad_req="add")
    for k in (1.0, 5.0):
        autodiff.backward(a * k)
    eq(a.grad, [6, 6])
    a.zero_grad()
    eq(a.grad, [0, 0])


def test_attach_grad_allocates_zeros_and_unreached_keeps_them():
    x, w = leaf(X22), leaf([7.0, 8.0, 9.0])
    eq(w.grad, [0, 0, 0])
    autodiff.backward(x * 3.0)
    eq(x.grad, np.full((2, 2), 3.0))
    eq(w.grad, [0, 0, 0])


def test_attach_grad_on_a_computed_value_cuts_history():
    x = leaf([1.0, 2.0])
    y = (x * 2.0).attach_grad()
    assert y.is_leaf and y.grad_fn is None
    autodiff.backward(y * 3.0)
    eq(y.grad, [3, 3])
    eq(x.grad, [0, 0])


def test_backward_on_an_untracked_value_says_how_to_track():
    with pytest.raises(GradError, match="attach_grad"):
        autodiff.backward(t([1.0, 2.0]) * 2.0)
    x = leaf([1.0])
    with grad_mode(False):
        y = x * 2.0
    with pytest.raises(GradError, match="attach_grad"):
        autodiff.backward(y)


def test_second_backward_needs_retain_graph():
    x = leaf([1.0, 2.0])
    y = x * x
    autodiff.backward(y)
    with pytest.raises(GradError, match="retain_graph"):
        autodiff.backward(y)

    x = leaf([1.0, 2.0])
    y = x * x
    autodiff.backward(y, retain_graph=True)
    autodiff.backward(y)
    eq(x.grad, [2, 4])
    with pytest.raises(GradError, match="retain_graph"):
        autodiff.backward(y)

    a = leaf([1.0, 2.0], grad_req="add")
    y = ops.exp(a) * a
    autodiff.backward(y, retain_graph=True)
    autodiff.backward(y)
    np.testing.assert_allclose(a.grad.data, 2 * np.exp([1, 2]) * [2, 3], rtol=1e-15)


def test_backward_of_a_leaf_itself():
    x = leaf([1.0, 2.0])
    autodiff.backward(x, t([3.0, 4.0]))
    eq(x.grad, [3, 4])


def test_shared_subexpression_accumulates():
    x = leaf(3.0)
    y = x * x           # micrograd's classic: both parents are x
    z = y + y * x
    autodiff.backward(z)
    eq(x.grad, 2 * 3 + 3 * 9)


def test_no_recording_under_grad_mode_false():
    x = leaf([1.0, 2.0])
    with grad_mode(False):
        y = ops.exp(x * 2.0)
    assert y.node is None and not y.requires_grad and y.grad_fn is None
    y = x * 2.0
    assert y.node is not None and y.grad_fn == "MulBackward"


def test_untracked_inputs_record_nothing():
    y = ops.exp(t([1.0]) * 2.0)
    assert y.node is None and not y.requires_grad


def test_gradients_keep_the_input_shape_through_broadcasting():
    a, b, c = leaf([[1.0], [2.0], [3.0]]), leaf([1.0, 2.0, 3.0, 4.0]), leaf(2.0)
    autodiff.backward(a * b * c)
    eq(a.grad, np.full((3, 1), 20.0))
    eq(b.grad, np.full(4, 12.0))
    eq(c.grad, 60.0)


# ------------------------------------------------------------- in place

def test_sgd_step_keeps_identity_and_gradient_attachment():
    w = leaf([1.0, -2.0])
    box = w.grad
    autodiff.backward(ops.sum_(w * w))
    with grad_mode(False):
        w.assign((w - 0.1 * w.grad).data)
    eq(w, [0.8, -1.6])
    assert w.is_leaf and w.requires_grad and w.grad is box
    autodiff.backward(ops.sum_(w * w))
    eq(w.grad, [1.6, -3.2])


def test_backward_through_a_value_changed_in_place_names_the_write_and_the_op(core_mode):
    x = leaf([1.0, 2.0])
    c = t([3.0, 4.0])
    core_mode.site = Span(7, 5, 7, 10)
    y = x * c
    core_mode.site = Span(8, 1, 8, 6)
    c.assign([0.0, 0.0], "c")                       # the graph may never be used: allowed
    core_mode.site = Span(9, 1, 9, 13)
    with pytest.raises(GradError) as info:
        autodiff.backward(y)
    assert info.value.message == (
        "'c' was changed in place after MulBackward at line 7 saved it for the gradient, "
        "so the backward at line 9 would be wrong; change it after backward, or compute "
        "a new value instead of writing in place")
    assert info.value.span == Span(8, 1, 8, 6)      # the error points at the write
    eq(x.grad, [0, 0])                              # nothing was written


def test_a_write_after_backward_is_fine_and_the_gradient_is_right(core_mode):
    x = leaf([1.0, 2.0])
    c = t([3.0, 4.0])
    y = x * c
    autodiff.backward(y)
    eq(x.grad, [3, 4])
    c.assign([0.0, 0.0])
    with grad_mode(False):
        x.assign([5.0, 6.0])
    eq(x, [5, 6])


def test_writing_a_value_only_its_own_node_saved_is_allowed():
    # exp keeps its output array itself, and sum keeps only a shape: nobody
    # saved the tensor y, so writing it is allowed and the gradient is that
    # of the graph as recorded.
    x = leaf([1.0, 2.0])
    y = ops.exp(x)
    s = ops.sum_(y)
    with grad_mode(False):
        y.assign([0.0, 0.0])
    autodiff.backward(s)
    np.testing.assert_allclose(x.grad.data, np.exp([1.0, 2.0]), rtol=1e-15)


def test_writing_a_tracked_leaf_while_recording_is_refused():
    w = leaf([1.0, 2.0])
    with pytest.raises(GradError, match="no_grad"):
        w.assign([0.0, 0.0])
    with pytest.raises(GradError, match="no_grad"):
        w.zero_()
    eq(w, [1, 2])


def test_assign_checks_the_shape():
    w = leaf([1.0, 2.0])
    with grad_mode(False), pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        w.assign([1.0, 2.0, 3.0])


def test_a_dropped_graph_does_not_block_writes():
    c = t([1.0, 2.0])
    x = leaf([1.0, 1.0])
    y = x * c
    del y                   # the node dies with the last tensor reaching it
    c.assign([5.0, 5.0])
    eq(c, [5, 5])


# ------------------------------------------------------------ deep graphs

def test_long_chain_backward_is_iterative():
    x = leaf(1.5)
    y = x
    for _ in range(100_000):
        y = ops.neg(y)
    autodiff.backward(y)
    eq(x.grad, 1.0)


def test_a_weight_shared_by_many_nodes_gets_every_contribution():
    # Its time against the loop's length is measured in bench/ (`--only
    # inputs`, the `shared` row): recording once rescanned its savers.
    x, c = leaf(1.0), t(1.00001)
    y = x
    for _ in range(3_000):
        y = y * c
    autodiff.backward(y)
    np.testing.assert_allclose(x.grad.data, 1.00001 ** 3_000, rtol=1e-12)


# ------------------------------------------------------------- float32

def _float32_program(x):
    terms = [
        ops.mean(ops.softmax(x, axis=1) * ops.exp(x)), ops.norm(x), ops.max_(x),
        ops.sum_(ops.relu(x - 2.5) * ops.sigmoid(x)), ops.sum_(ops.matmul(x, x)),
        ops.sum_(ops.where(ops.greater(x, 2.0), x ** 2.0, ops.sqrt(x))),
        ops.sum_(ops.clip(x, 1.5, 3.5)), ops.logsumexp(x), ops.det(x), ops.sum_(ops.inv(x)),
        ops.prod(x), ops.sum_(ops.getitem(x, (np.array([0, 0, 1]),))), ops.trace(x) / 3.0,
        ops.sum_(ops.log_softmax(x, axis=0)), ops.sum_(ops.tanh(x) * 0.5),
    ]
    return terms, ops.sum_(ops.stack(terms))


def test_float32_mode_keeps_float32_forward_and_backward(core_mode):
    core_mode.dtype = np.float32
    x = creation.array(X22).attach_grad()
    assert x.dtype == np.float32
    terms, y = _float32_program(x)
    assert all(term.dtype == np.float32 for term in terms), [term.dtype for term in terms]
    assert y.dtype == np.float32
    autodiff.backward(y)
    assert x.grad.dtype == np.float32
    core_mode.dtype = np.float64
    x64 = creation.array(X22).attach_grad()
    autodiff.backward(_float32_program(x64)[1])
    np.testing.assert_allclose(x.grad.data, x64.grad.data, rtol=1e-4)


def test_float32_transforms(core_mode):
    core_mode.dtype = np.float32
    x = creation.array([1.0, 2.0])
    h = autodiff.hessian(lambda x: ops.sum_(x ** 3.0))(x)
    assert h.dtype == np.float32
    eq(h, [[6, 0], [0, 12]])


# ------------------------------------------------------------ transforms

def test_grad_of_a_scalar_function():
    x = t([1.0, -2.0, 3.0])
    eq(autodiff.grad(lambda x: ops.sum_(x ** 3.0))(x), [3, 12, 27])
    a, b = t([1.0, 2.0]), t([3.0, -1.0])
    eq(autodiff.grad(lambda a, b: ops.sum_(a * b * b), 1)(a, b), [6, -4])    # 2ab
    eq(autodiff.grad(lambda a, b: ops.sum_(a * b * b), -1)(a, b), [6, -4])
    eq(autodiff.grad(lambda a, b: ops.sum_(a * b * b))(a, b), [9, 1])         # b²


def test_grad_of_a_function_that_ignores_its_input():
    eq(autodiff.grad(lambda x: ops.sum_(t([1.0, 2.0])))(t([5.0])), [0])


def test_grad_needs_a_scalar_output():
    with pytest.raises(ShapeError, match="jacobian"):
        autodiff.grad(lambda x: x * 2.0)(t([1.0, 2.0]))


def test_grad_works_with_recording_off():
    with grad_mode(False):
        g = autodiff.grad(lambda x: ops.sum_(ops.sin(x)))(t([0.0, 1.0]))
    np.testing.assert_allclose(g.data, np.cos([0.0, 1.0]), rtol=1e-15)
    assert g.node is None


def test_grad_of_grad_is_the_second_derivative():
    d2 = autodiff.grad(autodiff.grad(lambda x: x ** 3.0))
    eq(d2(t(2.0)), 12.0)                                         # 6x
    eq(d2(t(-0.5)), -3.0)


def test_sin_differentiated_three_and_four_times():
    x = np.array(0.7)
    d = [ops.sin]
    for _ in range(4):
        d.append(autodiff.grad(d[-1]))
    expected = [np.sin(x), np.cos(x), -np.sin(x), -np.cos(x), np.sin(x)]
    for k in range(5):
        np.testing.assert_allclose(d[k](t(x)).data, expected[k], rtol=1e-14)


def test_grad_of_a_gradient_through_backward_with_create_graph():
    x = leaf(3.0)
    y = x ** 3.0
    (g,) = [autodiff.grad(lambda x: x ** 3.0)(x)]
    assert g.requires_grad                   # tracked: x was tracked and recording is on
    autodiff.backward(g)
    eq(x.grad, 18.0)                         # d/dx 3x² = 6x
    autodiff.backward(y, create_graph=True)
    assert x.grad.requires_grad
    eq(x.grad, 27.0)


def test_jacobian_against_hand_formulas():
    x = t([1.0, 2.0, 3.0])
    eq(autodiff.jacobian(lambda x: x ** 2.0)(x), np.diag([2.0, 4.0, 6.0]))
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    eq(autodiff.jacobian(lambda x: ops.matmul(t(A), x))(x), A)
    J = autodiff.jacobian(lambda X: ops.sum_(X * X, axis=1))(t(X22))
    assert J.shape == (2, 2, 2)
    eq(J, [[[2, 4], [0, 0]], [[0, 0], [6, 8]]])


def test_hessian_against_hand_formulas():
    x = t([1.0, -2.0])
    eq(autodiff.hessian(lambda x: ops.sum_(x ** 3.0))(x), [[6, 0], [0, -12]])
    A = np.array([[1.0, 2.0], [-3.0, 4.0]])
    H = autodiff.hessian(lambda x: ops.dot(x, ops.matmul(t(A), x)))(x)
    eq(H, A + A.T)
    H = autodiff.hessian(lambda x: ops.prod(x))(t([2.0, 3.0, 5.0]))
    eq(H, [[0, 5, 3], [5, 0, 2], [3, 2, 0]])
    eq(autodiff.hessian(lambda x: ops.sum_(x * 3.0))(x), np.zeros((2, 2)))   # linear


def test_jvp_equals_jacobian_times_tangent():
    A = t([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])

    def f(x):
        return ops.sin(ops.matmul(A, x)) * ops.sum_(x * x)
    x, v = t([0.3, -0.2, 0.9]), t([1.0, 2.0, -1.0])
    value, tangent = autodiff.jvp(f, x, v)
    np.testing.assert_allclose(value.data, f(x).data, rtol=1e-15)
    J = autodiff.jacobian(f)(x)
    np.testing.assert_allclose(tangent.data, J.data @ v.data, rtol=1e-13)
    value, tangent = autodiff.jvp(lambda x: x ** 2.0, t([3.0]), t([1.0]))
    eq(value, [9]), eq(tangent, [6])


def test_forward_over_reverse_and_nested_jacobians():
    v = t([1.0, 2.0])
    # d/dx sum(J(x) v) for x³ elementwise: J v = 3x² v, so the gradient is 6 x v
    g = autodiff.grad(lambda x: ops.sum_(autodiff.jvp(lambda y: y ** 3.0, x, v)[1]))(
        t([1.0, -1.0]))
    eq(g, [6, -12])
    J2 = autodiff.jacobian(autodiff.jacobian(lambda x: x ** 3.0))(t([1.0, 2.0]))
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0], expected[1, 1, 1] = 6.0, 12.0
    eq(J2, expected)


def test_hessian_of_a_tracked_input_is_differentiable():
    x = leaf([1.0, 2.0])
    h = autodiff.hessian(lambda x: ops.sum_(x ** 3.0))(x)
    assert h.requires_grad
    autodiff.backward(ops.sum_(h))
    eq(x.grad, [6, 6])                       # d/dx sum(diag(6x)) = 6


def test_jvp_of_a_constant_and_of_the_identity():
    _, tangent = autodiff.jvp(lambda x: t([1.0, 2.0]), t([5.0]), t([1.0]))
    eq(tangent, [0, 0])
    _, tangent = autodiff.jvp(lambda x: x, t([5.0, 6.0]), t([1.0, -1.0]))
    eq(tangent, [1, -1])
    with pytest.raises(ShapeError, match="tangent"):
        autodiff.jvp(lambda x: x, t([5.0, 6.0]), t([1.0]))


# --------------------------------------------------------------- limits

def test_size_limit(core_mode):
    core_mode.max_elements = 10
    check_size(10)
    for make in (lambda: check_size(11), lambda: creation.zeros((4, 4)),
                 lambda: creation.ones(11), lambda: creation.full((2, 6), 1.0),
                 lambda: creation.eye(4), lambda: creation.arange(11),
                 lambda: ops.linspace(0.0, 1.0, 11), lambda: creation.array(list(range(11))),
                 lambda: creation.normal(0, 1, (3, 4)),
                 lambda: ops.outer(t([1.0] * 4), t([1.0] * 4)),
                 lambda: ops.add(t(np.ones((3, 1))), t(np.ones((1, 4)))),
                 lambda: ops.broadcast_to(t(1.0), (11,))):
        with pytest.raises(LimitError, match="max-elements"):
            make()
    assert creation.zeros((2, 5)).size == 10


# ------------------------------------------------------------ NaN watch

def test_nan_in_backward_is_reported_with_the_op(core_mode):
    x = leaf([0.0, 1.0])
    core_mode.site = Span(3, 1, 3, 8)
    y = ops.sqrt(x) * 0.0
    core_mode.site = None
    autodiff.backward(y)
    assert np.isnan(x.grad.data[0]) and x.grad.data[1] == 0.0
    assert len(core_mode.nan_reports) == 1
    assert "SqrtBackward" in core_mode.nan_reports[0]
    assert "line 3" in core_mode.nan_reports[0]


def test_detect_nan_makes_it_an_error(core_mode):
    core_mode.detect_nan = True
    x = leaf([0.0, 1.0])
    with pytest.raises(NumericError, match="SqrtBackward"):
        autodiff.backward(ops.sqrt(x) * 0.0)
    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"):      # log(0) = -inf in the forward is fine
        y = ops.log(x)
    with pytest.raises(NumericError, match="LogBackward"):
        autodiff.backward(y)


def test_clean_backward_reports_nothing(core_mode):
    core_mode.detect_nan = True
    x = leaf([1.0, 2.0])
    autodiff.backward(ops.sum_(ops.log(x) * ops.exp(x)))
    # underflow makes zeros, not NaN/Inf: no finding either
    autodiff.backward(x * 1e-200, t([1e-200, 1e-200]))
    eq(x.grad, [0, 0])
    assert core_mode.nan_reports == []


def test_numpy_error_handling_is_changed_only_during_a_run():
    # A process that imports gradcli (a notebook, a test suite) keeps numpy's
    # own setting; a run and a backward watch NaN/Inf only while they last.
    script = """
import numpy as np
before = np.geterr(), np.geterrcall()
from gradcli import api
from gradcli.core import autodiff, ops
from gradcli.core.tensor import Tensor
assert (np.geterr(), np.geterrcall()) == before, "import"
program = api.load("x = [0.0, 1.0]\\nattach_grad(x)\\nwith record:\\n    y = sum(sqrt(x))\\ny.backward()")
assert "SqrtBackward" in api.run(program).warnings[0]
x = Tensor(np.array([0.0, 1.0])).attach_grad()
autodiff.backward(ops.sqrt(x))
assert np.isinf(x.grad.data[0])
assert (np.geterr(), np.geterrcall()) == before, "after"
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning" not in done.stderr     # the backward's inf was watched, not warned


def test_gradient_sums_added_in_place_never_touch_a_shared_gradient():
    # `add` hands one gradient array to both its inputs; the engine may add
    # later contributions in place only into sums it allocated itself.
    x = leaf(np.arange(1.0, 7.0))
    a = x * 2.0
    b = x * 3.0
    y = a + b                       # the same gradient flows to a and b
    z = ops.sum_(y * 5.0 + a * a + b + a)
    autodiff.backward(z)
    xs = np.arange(1.0, 7.0)
    # dz/da = 5 + 2a + 1, dz/db = 5 + 1; dz/dx = 2 dz/da + 3 dz/db
    eq(x.grad, 2 * (5 + 2 * (2 * xs) + 1) + 3 * (5 + 1))


def test_an_in_place_update_is_a_core_operation_keeping_identity():
    """`y += 1` while recording: the tensor takes the new numbers and the
    history that made them (Tensor.current / Tensor.become), so every name
    bound to it sees the update and gradients flow through both ops."""
    from gradcli.core import engine, ops
    from gradcli.core.tensor import Tensor, grad_mode

    x = Tensor(np.array([1.0, 2.0])).attach_grad()
    with grad_mode(True, True):
        y = ops.mul(x, Tensor(np.array(3.0)))
        alias = y
        y.become(ops.add(ops.mul(y.current(), y.current()), Tensor(np.array(1.0))), "y")
    assert alias is y and y.grad_fn == "AddBackward"
    np.testing.assert_array_equal(y.data, [10.0, 37.0])
    engine.run_backward([ops.sum_(y)], [None])
    np.testing.assert_array_equal(x.grad.data, [18.0, 36.0])     # d(9x²+1)/dx = 18x
    with pytest.raises(ShapeError, match="does not fit the target of shape"):
        y.become(Tensor(np.ones(3)))
