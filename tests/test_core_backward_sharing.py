"""The first-order backward writes products and sums of gradients into
arrays it made itself (core/buffers.py: `is_new` says a VJP's or a
partial's result is new, `chained` and `accumulate` write into them, and
engine._propagate lets the last VJP of a node write into its gradient).
These tests try to catch it writing into an array somebody else holds.

Random graphs share values heavily (one value used by many ops, an op
using one value twice, `+` handing one gradient to two inputs, negations
and scalar factors in chains); every gradient is compared with the
recorded (create_graph) backward, which runs the same VJPs on tensors and
never writes in place, and with central finite differences. Every value
the graph holds must be unchanged afterwards.
"""

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st

from gradcli.core import autodiff, buffers, engine, ops
from gradcli.core.tensor import Tensor

SETTINGS = settings(max_examples=120, derandomize=True, deadline=None)

UNARY = {
    "neg": ops.neg, "sin": ops.sin, "cos": ops.cos, "tanh": ops.tanh,
    "sigmoid": ops.sigmoid, "abs": ops.absolute, "square": lambda a: ops.power(a, 2.0),
    "times 3": lambda a: ops.mul(a, 3.0), "times -0.5": lambda a: ops.mul(0.5 * -1, a),
    "sum, spread": lambda a: ops.add(a, ops.sum_(a)),
    "mean of rows": lambda a: ops.mean(a, axis=0, keepdims=True) if a.ndim else a,
    # exp's VJP hands back its ans (times a gradient of ones), to a value
    # that another gradient reaches too
    "exp(t) + t, t = tanh": lambda a: (lambda t: ops.add(ops.exp(t), t))(ops.tanh(a)),
}
BINARY = {"+": ops.add, "-": ops.sub, "*": ops.mul}


def build(program, x, w):
    """Run a random program of steps on leaves x (rows, n) and w (n,): each
    step applies an op to earlier values (possibly the same one twice).
    Returns the scalar result and every value made on the way."""
    values = [x, w]
    for kind, name, i, j in program:
        a, b = values[i % len(values)], values[j % len(values)]
        values.append(UNARY[name](a) if kind == "unary" else BINARY[name](a, b))
    # The result uses several values, so gradients meet from many paths.
    total = ops.sum_(values[-1])
    for k in range(2, len(values), 3):
        total = ops.add(total, ops.sum_(ops.tanh(values[k])))
    return total, values


STEP = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), st.integers(0, 30),
              st.integers(0, 30)))
VALUES = st.floats(-1.5, 1.5, allow_nan=False, width=64).filter(lambda v: abs(v) > 1e-3)


def leaves(xs, ws, rows=3, tile=1):
    """x (rows, 4 * tile) and w (4 * tile,) from drawn numbers; tiling makes
    arrays large enough (>= 4096 numbers) for the in-place VJP paths."""
    x = np.tile(np.array(xs, dtype=np.float64).reshape(3, 4), (rows // 3 + 1, tile))[:rows]
    w = np.tile(np.array(ws, dtype=np.float64), tile)
    return Tensor(x).attach_grad(), Tensor(w).attach_grad()


PROGRAMS = (st.lists(STEP, min_size=1, max_size=14), st.lists(VALUES, min_size=12, max_size=12),
            st.lists(VALUES, min_size=4, max_size=4), st.sampled_from([None, 1.0, 3.0, -2.0]))


@SETTINGS
@given(*PROGRAMS)
def test_first_order_backward_matches_the_recorded_one_and_writes_nothing_shared(
        program, xs, ws, head_value):
    check_against_recorded(program, leaves(xs, ws), head_value)


def test_the_property_test_catches_ownership_granted_too_freely(monkeypatch):
    # The engine believing every writeable array to be a VJP's own, as a
    # refcount read one frame off would: the large-array test must see it
    # (buffers are chosen on large arrays only: buffers.LARGE).
    def too_freely(g, *given):
        return type(g) is np.ndarray and g.flags.writeable
    monkeypatch.setattr(buffers, "is_new", too_freely)
    monkeypatch.setattr(engine, "is_new", too_freely)
    inner = test_the_same_on_arrays_large_enough_for_in_place_vjps
    mutant = settings(SETTINGS, phases=[Phase.generate], database=None,
                      report_multiple_bugs=False)(given(*PROGRAMS)(inner.hypothesis.inner_test))
    with pytest.raises(AssertionError):
        mutant()


def test_the_property_test_catches_a_gradient_overwritten_before_its_last_reader(monkeypatch):
    # The engine letting the first VJP of a node write into the gradient
    # that the node's later VJPs still read.
    monkeypatch.setattr(engine, "_last_reader", lambda node, useful: 0)
    inner = test_the_same_on_arrays_large_enough_for_in_place_vjps
    mutant = settings(SETTINGS, phases=[Phase.generate], database=None,
                      report_multiple_bugs=False)(given(*PROGRAMS)(inner.hypothesis.inner_test))
    with pytest.raises(AssertionError):
        mutant()


@settings(max_examples=25, derandomize=True, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=14), st.lists(VALUES, min_size=12, max_size=12),
       st.lists(VALUES, min_size=4, max_size=4), st.sampled_from([None, 3.0]))
def test_the_same_on_arrays_large_enough_for_in_place_vjps(program, xs, ws, head_value):
    check_against_recorded(program, leaves(xs, ws, rows=64, tile=20), head_value)


def check_against_recorded(program, leaves, head_value):
    x, w = leaves
    y, values = build(program, x, w)
    if not y.requires_grad:
        return
    before = [v.data.copy() for v in values]
    head = None if head_value is None else Tensor(np.broadcast_to(np.float64(head_value), ()))

    # The first-order path, twice over one retained graph: the second pass
    # sees saved values the first one could have spoiled.
    fast = engine.run_backward([y], [head], inputs=[x, w], retain_graph=True)
    again = engine.run_backward([y], [head], inputs=[x, w], retain_graph=True)
    recorded = engine.run_backward([y], [head], inputs=[x, w], retain_graph=True,
                                   create_graph=True)
    for g_fast, g_again, g_rec, leaf in zip(fast, again, recorded, (x, w)):
        want = np.zeros(leaf.shape) if g_rec is None else g_rec.data
        got = np.zeros(leaf.shape) if g_fast is None else g_fast.data
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(got, np.zeros(leaf.shape) if g_again is None
                                      else g_again.data)
    for value, copy in zip(values, before):
        np.testing.assert_array_equal(value.data, copy)

    # The user's path (attach_grad + backward) writes the same into .grad.
    autodiff.backward(y, head, retain_graph=True)
    for g_fast, leaf in zip(fast, (x, w)):
        want = np.zeros(leaf.shape) if g_fast is None else g_fast.data
        np.testing.assert_allclose(leaf.grad.data, want, rtol=1e-12, atol=1e-12)
    for value, copy in zip(values, before):
        np.testing.assert_array_equal(value.data, copy)


@settings(max_examples=30, derandomize=True, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=10), st.lists(VALUES, min_size=12, max_size=12),
       st.lists(VALUES, min_size=4, max_size=4))
def test_first_order_backward_matches_finite_differences(program, xs, ws):
    x, w = leaves(xs, ws)
    y, _ = build(program, x, w)
    if not y.requires_grad:
        return
    gx, gw = engine.run_backward([y], [None], inputs=[x, w])
    rng = np.random.default_rng(len(program))
    for leaf, g, i in ((x, gx, 0), (w, gw, 1)):
        v = rng.standard_normal(leaf.shape)
        eps = 1e-6

        def at(shift, leaf=leaf, i=i):
            args = [x.data, w.data]
            args[i] = args[i] + shift
            return float(build(program, Tensor(args[0]), Tensor(args[1]))[0].data)
        fd = (at(eps * v) - at(-eps * v)) / (2 * eps)
        ad = 0.0 if g is None else float(np.sum(g.data * v))
        assert ad == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_a_head_of_one_repeated_number():
    x = Tensor(np.array([1.0, 2.0, 3.0])).attach_grad()
    y = ops.mul(ops.sin(x), x)
    autodiff.backward(y, Tensor(np.broadcast_to(np.float64(3.0), (3,))))
    expected = 3.0 * (np.cos(x.data) * x.data + np.sin(x.data))
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-14)


def test_gradients_that_cancel_give_zero_and_ones_that_add_give_two():
    x = Tensor(np.array([1.0, -2.0])).attach_grad()
    autodiff.backward(ops.sum_(ops.sub(x, x)))
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    autodiff.backward(ops.sum_(ops.add(x, x)))
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
    autodiff.backward(ops.sum_(ops.neg(ops.mul(ops.neg(x), -4.0))))
    np.testing.assert_array_equal(x.grad.data, [-4.0, -4.0])


def test_a_gradient_that_is_another_value_is_not_written_later():
    # d sum(x * w) / dx is w's own array; a second contribution to x must
    # not be added into it.
    x = Tensor(np.array([1.0, 2.0])).attach_grad()
    w = Tensor(np.array([10.0, 20.0]))
    autodiff.backward(ops.sum_(ops.add(ops.mul(x, w), ops.mul(x, x))))
    np.testing.assert_array_equal(w.data, [10.0, 20.0])
    np.testing.assert_array_equal(x.grad.data, [12.0, 24.0])


def test_float32_gradients_stay_float32_through_scalar_factors():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32)).attach_grad()
    autodiff.backward(ops.sum_(ops.mul(ops.neg(ops.mul(x, 3.0)), x)))
    assert x.grad.data.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, np.array([-6.0, -12.0], dtype=np.float32))
