"""The language at run time: semantics, and every runtime error's text and place."""

import numpy as np
import pytest

from gradcli import api
from gradcli.errors import EvalError, GradError, LimitError, ShapeError


def run(source, inputs=None, **options):
    return api.run(api.load(source), inputs, api.Options(**options))


def values(source, **kw):
    return [[v.value for v in line] for line in run(source, **kw).printed]


def error(source, **options):
    with pytest.raises(Exception) as info:
        run(source, **options)
    exc = info.value
    span = exc.span
    return type(exc), (span.line, span.column, span.end_line, span.end_column) if span else None, exc.message


def error_at(source, **options):
    """The error's class, (line, column) and message."""
    kind, span, message = error(source, **options)
    return kind, span[:2] if span else None, message


# ------------------------------------------------------------- semantics

def test_precedence_and_arithmetic():
    assert values("print(-2**2, 2**-1, 2**3**2, 7 // 2, 7 % 3, 1 + 2 * 3)") == \
        [[-4.0, 0.5, 512.0, 3.0, 1.0, 7.0]]


def test_comparisons_are_zero_one_numbers_and_bools_short_circuit():
    assert values("print(1 < 2, 2 < 1, 1 == 1, 1 != 1)") == [[1.0, 0.0, 1.0, 0.0]]
    # `or` never evaluates its right side when the left is true
    assert values("print(1 or undefined_name, 0 and undefined_name, not 0)") == [[1.0, 0.0, True]]


def test_control_flow():
    source = """
total = 0
for i in range(10):
    if i == 2:
        continue
    elif i >= 5:
        break
    else:
        pass
    total += i
n = 0
while True:
    n = n + 1
    if n > 3: break
print(total, n)
"""
    assert values(source) == [[8.0, 4.0]]


def test_functions_defaults_recursion_and_closures():
    source = """
def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)
def scale(x, k=3):
    return x * k
def outer(a):
    def inner(b):
        return a + b
    return inner
print(fact(10), scale(2), scale(2, k=5), outer(1)(2))
"""
    assert values(source) == [[3628800.0, 6.0, 10.0, 3.0]]


def test_recursion_up_to_the_limit_works():
    source = "def depth(n):\n    if n == 0:\n        return 0\n    return 1 + depth(n - 1)\nprint(depth(199))"
    assert values(source) == [[199.0]]


def test_indexing_and_slicing_follow_numpy():
    source = """
x = arange(12).reshape(3, 4)
print(x[0], x[:, 1], x[1:3, ::2], x[-1, -1], x[[2, 0, 2]])
"""
    (row, col, block, last, gather), = values(source)
    np.testing.assert_array_equal(row, [0, 1, 2, 3])
    np.testing.assert_array_equal(col, [1, 5, 9])
    np.testing.assert_array_equal(block, [[4, 6], [8, 10]])
    assert last == 11.0
    np.testing.assert_array_equal(gather, [[8, 9, 10, 11], [0, 1, 2, 3], [8, 9, 10, 11]])


def test_gather_gradient_sums_repeated_indices():
    source = """
x = arange(4)
x.attach_grad()
y = sum(x[[0, 2, 2, 3]] * 2)
y.backward()
print(x.grad)
"""
    np.testing.assert_array_equal(values(source)[0][0], [2, 0, 4, 2])


def test_shapes_as_tuples_or_arguments_and_whole_floats():
    source = "print(zeros(2, 3).shape, ones((2, 3)).shape, reshape(arange(6), 3.0, 2).shape, range(2.0, 4)[1])"
    assert values(source) == [[(2, 3), (2, 3), (3, 2), 3]]


def test_tuple_unpacking_of_jvp_and_of_arrays():
    source = """
value, tangent = jvp(lambda t: t ** 3, array([1, 2]), array([1, 1]))
a, b = [10, 20]
print(value, tangent, a, b)
"""
    (value, tangent, a, b), = values(source)
    np.testing.assert_array_equal(value, [1, 8])
    np.testing.assert_array_equal(tangent, [3, 12])
    assert (a, b) == (10.0, 20.0)


def test_aliases_share_in_place_updates_but_slices_and_detach_do_not():
    source = """
x = ones(3)
y = x
z = x[0:2]
u = detach(x)
x += 1
x[0] = 10
print(y, z, u)
"""
    (y, z, u), = values(source)
    np.testing.assert_array_equal(y, [10, 2, 2])
    np.testing.assert_array_equal(z, [1, 1])
    np.testing.assert_array_equal(u, [1, 1, 1])


def test_sgd_step_keeps_the_leaf_and_its_gradient():
    source = """
w = array([1.0, 2.0])
w.attach_grad()
for step in range(2):
    loss = sum(w * w)
    loss.backward()
    with no_grad:
        w -= 0.25 * w.grad
print(w, w.grad, w.is_leaf)
"""
    (w, grad, leaf), = values(source)
    np.testing.assert_array_equal(w, [0.25, 0.5])
    np.testing.assert_array_equal(grad, [1.0, 2.0])
    assert leaf is True


def test_indexed_assignment_is_differentiable_while_recording():
    source = """
x = array([1.0, 2.0, 3.0])
x.attach_grad()
y = x * 1
y[1] = x[0] * 10
sum(y).backward()
print(x.grad, grad_fn(y))
"""
    (grad, fn), = values(source)
    np.testing.assert_array_equal(grad, [11, 0, 1])
    assert fn == "CopySlices"       # PyTorch's name


def test_grad_transforms_nest():
    source = """
def f(x):
    return x ** 3
d1 = grad(f)
d2 = grad(grad(f))
d3 = grad(grad(grad(f)))
print(d1(2), d2(2), d3(2), hessian(lambda v: sum(v ** 3))(array([1, 2])))
"""
    (a, b, c, h), = values(source)
    assert (a, b, c) == (12.0, 12.0, 6.0)
    np.testing.assert_array_equal(h, [[6, 0], [0, 12]])


def test_pasted_mxnet_and_pytorch_prefixes():
    source = """
x = nd.array([[1, 2], [3, 4]])
x.attach_grad()
with autograd.record():
    y = nd.sum(2 * x ** 2)
y.backward()
t = torch.ones(2, 2)
with torch.no_grad():
    q = t * 2
print(x.grad, q.requires_grad, nd.random.normal(0, 1, shape=(3,)).shape)
"""
    (grad, tracked, shape), = values(source)
    np.testing.assert_array_equal(grad, [[4, 8], [12, 16]])
    assert tracked is False and shape == (3,)


def test_inputs_given_win_over_defaults_and_track_nothing_by_default():
    result = run("input x = [1, 2]\ninput k = 3\nprint(x * k)", {"x": [5, 6]})
    np.testing.assert_array_equal(result.printed[0][0].value, [15, 18])


def test_seed_makes_runs_reproducible_and_changeable():
    a = values("print(normal(0, 1, (3,)))")[0][0]
    b = values("print(normal(0, 1, (3,)))")[0][0]
    c = values("print(normal(0, 1, (3,)))", seed=7)[0][0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_float32_run():
    (x, g), = values("x = ones(2)\nx.attach_grad()\nsum(x * 3).backward()\nprint(x, x.grad)",
                     dtype="float32")
    assert x.dtype == np.float32 and g.dtype == np.float32


# ---------------------------------------------------------------- errors

ERRORS = [
    ("x = ones(3)\nx[array([0, 1.5])]", EvalError, (2, 1, 2, 19),
     "an index array must hold whole numbers"),
    ("x = ones(3)\nx[array([0, 1e30])]", EvalError, (2, 1, 2, 20),
     "index array holds 1e+30, which is out of range"),
    ("x = ones(3)\nx[array([0, 3])]", EvalError, (2, 1, 2, 17),
     "index array holds 3, out of range for axis 0 of length 3"),
    ("print = 3\nprint(1)", EvalError, (2, 1, 2, 9), "print is a scalar, not a function"),
    ("x = [1, 2, 3]\ny = [1, 2]\nz = x + y", ShapeError, (3, 5, 3, 10),
     "'+': shapes (3,) and (2,) do not broadcast together"),
    ("x = ones(2, 3)\ny = ones(2, 3)\nz = x @ y", ShapeError, (3, 5, 3, 10),
     "'@': shapes (2, 3) and (2, 3) are not aligned (inner dimensions differ)"),
    ("y = sum(zz)", EvalError, (1, 9, 1, 11), "name 'zz' is not defined"),
    ("y = summ([1, 2])", EvalError, (1, 5, 1, 9), "name 'summ' is not defined; did you mean 'sum'?"),
    ("x = [1, 2]\nif x > 0:\n    pass", EvalError, (2, 4, 2, 9),
     "if condition must hold exactly one element, but it has shape (2,); use sum(), any() or an index"),
    ("while True:\n    pass", LimitError, (2, 5, 2, 9),
     "program stopped after 1,000 statements (a runaway loop?); raise the budget with --max-steps"),
    ("def f(n):\n    return f(n + 1)\nf(1)", LimitError, (2, 12, 2, 20),
     "recursion too deep: more than 200 nested function calls (in f)"),
    ("x = zeros(100000, 100000)", LimitError, (1, 5, 1, 26),
     "array of 10,000,000,000 elements exceeds the limit of 100,000,000 (raise it with --max-elements)"),
    ("x = ones(20000)\ny = x.reshape(20000, 1) + x", LimitError, (2, 5, 2, 28),
     "the result of '+' of 400,000,000 elements exceeds the limit of 100,000,000 "
     "(raise it with --max-elements)"),
    ("x = ones(2)\nx.grad", GradError, (2, 1, 2, 7),
     "'x' is not tracked, so it has no gradient; call attach_grad(x) (or x.attach_grad()) before computing with it"),
    ("x = ones(2)\nx.attach_grad()\ny = x * 2\nprint(y.grad)", GradError, (4, 7, 4, 13),
     "'y' is computed, not a leaf, so it keeps no gradient; call y.retain_grad() before "
     "backward to keep it, attach_grad(y) to make it a leaf, or use grad(f)"),
    ("x = ones(2)\nx.attach_grad()\ny = x * x\ny.backward()\ny.backward()", GradError, (5, 1, 5, 13),
     "backward through a graph a second time: its saved values were freed by the first backward; "
     "pass retain_graph=True to the first backward to keep them"),
    ("x = ones(2)\ny = x * 2\ny.backward()", GradError, (3, 1, 3, 13),
     "backward: 'y' is not tracked, so it has no gradient; call attach_grad(x) on an input "
     "before computing from it (and not inside `with no_grad:`)"),
    ("x = ones(3)\nx.reshape(2, 2)", ShapeError, (2, 1, 2, 16),
     "reshape: cannot reshape a value of shape (3,) (3 elements) into shape (2, 2)"),
    ("x = ones(2)\nx[5]", EvalError, (2, 1, 2, 5), "index 5 is out of range for axis 0 of length 2"),
    ("for i in range(1.5):\n    pass", EvalError, (1, 10, 1, 20), "range bound must be a whole number, got 1.5"),
    ("x = ones(2)\nx.foo()", EvalError, (2, 1, 2, 6), "an array of shape (2,) has no method 'foo'"),
    ("input w\nprint(w)", EvalError, (1, 1, 1, 8),
     "input 'w' has no default and no value was given (pass --set w=JSON or pipe JSON on stdin)"),
    ("x = 1\nbreak", EvalError, (2, 1, 2, 6), "'break' outside a loop"),
    ("return 1", EvalError, (1, 1, 1, 9), "'return' outside a function"),
    ("x = ones(2)\nx.attach_grad()\ny = x * x\nx += 1", GradError, (4, 1, 4, 7),
     "cannot update 'x', a leaf that has a gradient attached while recording; do it inside `with no_grad:`"),
    ("w = ones(2)\nw.attach_grad()\nc = ones(2)\ny = w * c\nc += 1\ny.backward()", GradError, (5, 1, 5, 7),
     "'c' was changed in place after MulBackward at line 4 saved it for the gradient, so the "
     "backward at line 6 would be wrong; change it after backward, or compute a new value "
     "instead of writing in place"),
    ("x = [[1, 2], [3]]", EvalError, (1, 5, 1, 18), "array literal is ragged: every row must have the same length"),
    ("f = 3\nf(2)", EvalError, (2, 1, 2, 5), "f is a scalar, not a function"),
    ("def f(a):\n    return a\nf(1, 2)", EvalError, (3, 1, 3, 8), "f() takes 1 argument(s) but 2 were given"),
    ("x = ones(2, 2)\nsum(x, axis=2)", ShapeError, (2, 1, 2, 15), "axis 2 is out of range for a value with 2 dimensions"),
    ("with 3:\n    pass", EvalError, (1, 6, 1, 7), "with: expected record, no_grad or pause, got a scalar"),
    ("g = grad(lambda t: t * 2)\ng(ones(2))", ShapeError, (2, 1, 2, 11),
     "grad(f): f must return a single number, but it returned shape (2,); use jacobian(f) for vector outputs"),
    ("reshape(ones(4))", EvalError, (1, 1, 1, 17),
     "reshape needs a shape, e.g. reshape(x, 2, 5) or x.reshape((2, 5))"),
    ("exp(1, 2)", EvalError, (1, 1, 1, 10), "exp(): takes 1 positional argument but 2 were given"),
    ("inv(array([[1, 2], [2, 4]]))", EvalError, (1, 1, 1, 29), "inv: the matrix is singular"),
    # Messages that used to be Python's or numpy's own text:
    ("f = lambda t: t * t\nhessian(f)(1.0, v=2)", EvalError, (2, 1, 2, 21),
     "hessian(<lambda>)(): got an unexpected keyword argument 'v'"),
    ("grad(sin)(1.0, 2.0)", EvalError, (1, 1, 1, 20),
     "sin(): takes 1 positional argument but 2 were given"),
    ("normal(0, -1, (2,))", EvalError, (1, 1, 1, 20),
     "normal: the standard deviation must be 0 or more, not -1"),
    ("uniform(2, 1)", EvalError, (1, 1, 1, 14), "uniform: high (1) must not be less than low (2)"),
    ("uniform(0, 1e308 * 10)", EvalError, (1, 1, 1, 23),
     "uniform: the bounds must be finite numbers, not 0 and inf"),
    ("f = None\nf(1)", EvalError, (2, 1, 2, 5), "f is None, not a function"),
    # A call that does not fit a built-in is described from its signature,
    # not from CPython's TypeError text.
    ("sum()", EvalError, (1, 1, 1, 6), "sum(): missing required argument 'x'"),
    ("exp(1, foo=2)", EvalError, (1, 1, 1, 14), "exp(): got an unexpected keyword argument 'foo'"),
    ("maximum(1, 2, 3)", EvalError, (1, 1, 1, 17),
     "maximum(): takes 2 positional arguments but 3 were given"),
    ("x = ones(2)\nx.attach_grad()\nwith record:\n    x[0] = 3", GradError, (4, 5, 4, 13),
     "cannot update 'x', a leaf that has a gradient attached while recording; do it inside "
     "`with no_grad:`"),
    # Shape errors decided from the shapes, not from numpy's message text:
    ("dot(ones(3), ones(4))", ShapeError, (1, 1, 1, 22),
     "dot: shapes (3,) and (4,) are not aligned (inner dimensions differ)"),
    ("ones((2, 2, 3)) @ ones((3, 3, 2))", ShapeError, (1, 1, 1, 34),
     "'@': shapes (2, 2, 3) and (3, 3, 2) do not broadcast together"),
    ("where(ones(2) > 0, ones(3), 1)", ShapeError, (1, 1, 1, 31),
     "where: shapes (2,) and (3,) and () do not broadcast together"),
    # found by the input fuzzer's count of messages made from Python exceptions
    ("array()", EvalError, (1, 1, 1, 8), "array(): missing required argument 'value'"),
    ("eye(2, keepdims=1)", EvalError, (1, 1, 1, 19),
     "eye(): got an unexpected keyword argument 'keepdims'"),
    ("x = ones(2)\nx(1)", EvalError, (2, 1, 2, 5), "x is an array of shape (2,), not a function"),
]


@pytest.mark.parametrize("source, kind, span, message", ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_runtime_error_text_and_place(source, kind, span, message):
    assert error(source, max_steps=1000) == (kind, span, message)


def test_temporaries_reused_in_place_leave_values_and_gradients_right():
    # Large enough for the interpreter to write `a + b` into the buffer of a
    # temporary `a`; values a graph still needs must not be overwritten.
    source = """
x = arange(5000) / 5000
x.attach_grad()
y = x * 2
z = (x * x) + y
w = (x ** 2) + 1
v = (-x) + 1
sum(z * 1 + w + v).backward()
print(z[0:3], w[0:3], v[0:3], y[0:3], x.grad[0:3])
"""
    (z, w, v, y, g), = values(source)
    x = np.arange(3) / 5000
    np.testing.assert_allclose(z, x * x + 2 * x, rtol=1e-15)
    np.testing.assert_allclose(w, x ** 2 + 1, rtol=1e-15)
    np.testing.assert_allclose(v, 1 - x, rtol=1e-15)
    np.testing.assert_allclose(y, 2 * x, rtol=1e-15)
    np.testing.assert_allclose(g, 2 * x + 2 + 2 * x - 1, rtol=1e-12)


def test_elementwise_calls_on_temporaries_leave_values_and_gradients_right():
    # `exp(-x * x)` may write exp's result into the buffer of `-x * x`;
    # a named argument, an op's saved output (`2 ** x` keeps its result for
    # backward) or unary '+' must not be.
    source = """
x = arange(5000) / 5000
x.attach_grad()
with record:
    m = x * 3
    e = exp(-x * x)
    t = tanh(m)
    u = tanh(exp(x + 1))
    p = sqrt(+m)
    v = tanh(2 ** x)
    q = sum(e + t + u + p + v)
q.backward()
print(e[0:2], m[0:2], t[0:2], u[0:2], p[0:2], x.grad[0:2])
"""
    (e, m, t, u, p, g), = values(source)
    x = np.arange(2) / 5000
    np.testing.assert_array_equal(e, np.exp(-x * x))
    np.testing.assert_array_equal(m, x * 3)
    np.testing.assert_array_equal(t, np.tanh(3 * x))
    np.testing.assert_array_equal(u, np.tanh(np.exp(x + 1)))
    np.testing.assert_array_equal(p, np.sqrt(3 * x))
    with np.errstate(divide="ignore"):
        expected = (-2 * x * np.exp(-x * x) + np.exp(x + 1) * (1 - np.tanh(np.exp(x + 1)) ** 2))
    # d/dx sqrt(3x) is infinite at 0, so look at x[1].
    want = (expected[1] + 3 * (1 - np.tanh(3 * x[1]) ** 2) + 3 / (2 * np.sqrt(3 * x[1]))
            + (1 - np.tanh(2 ** x[1]) ** 2) * 2 ** x[1] * np.log(2))
    assert g[1] == pytest.approx(want, rel=1e-12)


def test_transform_results_keep_a_graph_only_when_something_outside_needs_it():
    source = """
w = array([1.0, 2.0])
w.attach_grad()
x = array([3.0, 4.0])
local = grad(lambda t: sum(t ** 3))(x)
closed = grad(lambda t: sum(w * t ** 2))(x)
h = hessian(lambda t: sum(t ** 3))(x)
value, tangent = jvp(lambda t: t ** 2, x, ones(2))
print(grad_fn(local), grad_fn(h), grad_fn(value), grad_fn(tangent), grad_fn(closed))
sum(closed).backward()
print(w.grad)
"""
    (a, b, c, d, e), (wgrad,) = values(source)
    assert (a, b, c, d) == (None, None, None, None)
    assert e == "MulBackward"
    np.testing.assert_array_equal(wgrad, [6, 8])     # d/dw sum(2 w x) = 2x


def test_every_builtin_is_also_a_method():
    source = """
a = ones(2)
b = zeros(2)
f = lambda t: sum(t * t)
print(a.concat(b), a.stack(b).shape, f.grad()(a), (a > 0).where(a, b), a.maximum(b))
"""
    (cat, shape, g, w, m), = values(source)
    np.testing.assert_array_equal(cat, [1, 1, 0, 0])
    assert shape == (2, 2)
    np.testing.assert_array_equal(g, [2, 2])
    np.testing.assert_array_equal(w, [1, 1])
    np.testing.assert_array_equal(m, [1, 1])


def test_pytorch_creation_keywords():
    source = """
a = torch.randn(size=(), requires_grad=True)
b = torch.rand(2, 3)
c = torch.zeros(2, dtype=torch.float64, requires_grad=True)
print(a.requires_grad, b.shape, c.requires_grad, float(b.max() <= 1))
"""
    assert values(source) == [[True, (2, 3), True, 1.0]]
    assert error("x = torch.ones(2, dtype=torch.float32)")[2] == (
        "dtype=float32: this run computes in float64 throughout (choose with --dtype)")


def test_print_as_a_value():
    # found by fuzzing: `print` used as a value, not called
    assert values("show = print\nshow(1, 2)") == [[1.0, 2.0]]
    assert error("print * 2") == (
        EvalError, (1, 1, 1, 10), "left operand of '*' must be a number or an array, not a function")
