"""Property tests (hypothesis): broadcasting and its un-broadcasting, over
shapes a hand-written table would not think of. Derandomized, so CI runs
the same examples every time."""

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays, mutually_broadcastable_shapes

from gradcli.core import autodiff, ops
from gradcli.core.tensor import Tensor

from gradcheck import check_grads

SETTINGS = settings(max_examples=60, derandomize=True, deadline=None)
FINITE = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)
BINARY = [ops.add, ops.sub, ops.mul, ops.maximum, ops.minimum]


def summed_to(g, shape):
    """The reference un-broadcast: sum leading axes, then axes of length 1."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


@SETTINGS
@given(st.data(), mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       st.sampled_from(BINARY))
def test_binary_gradients_come_back_in_each_operands_shape(data, shapes, op):
    (sx, sy), out_shape = shapes.input_shapes, shapes.result_shape
    x = data.draw(arrays(np.float64, sx, elements=FINITE))
    y = data.draw(arrays(np.float64, sy, elements=FINITE))
    head = data.draw(arrays(np.float64, out_shape, elements=FINITE))
    tx, ty = Tensor(x), Tensor(y)
    tx.attach_grad()
    ty.attach_grad()
    autodiff.backward(op(tx, ty), Tensor(head))
    assert tx.grad.shape == sx and ty.grad.shape == sy
    if op is ops.add:      # the un-broadcast sum itself
        np.testing.assert_allclose(tx.grad.data, summed_to(head, sx), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ty.grad.data, summed_to(head, sy), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(st.data(), mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
def test_division_and_power_match_finite_differences_under_broadcasting(data, shapes):
    sx, sy = shapes.input_shapes
    positive = st.floats(0.5, 2.0, allow_nan=False, width=64)
    x = data.draw(arrays(np.float64, sx, elements=positive))
    y = data.draw(arrays(np.float64, sy, elements=positive))
    check_grads(ops.div, x, y, order=1)
    check_grads(ops.power, x, y, order=1)


@SETTINGS
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)), elements=FINITE),
       st.sampled_from([None, 0, 1, (0, 1)]), st.booleans())
def test_reductions_spread_the_gradient_back_over_reduced_axes(x, axis, keepdims):
    for reduce in (ops.sum_, ops.mean, ops.logsumexp):
        check_grads(lambda t: reduce(t, axis=axis, keepdims=keepdims), x, order=1)
