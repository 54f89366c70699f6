"""Forward mode (core/forward.py) against reverse mode, op by op and in
whole programs.

For every row of the op table's gradient check, the tangent that forward
mode carries along a random direction v must satisfy u · (J v) = (uᵀ J) · v
for a random cotangent u, where uᵀ J comes from reverse mode. Both sides
are exact linear algebra on the same numbers, so they agree to rounding:
a JVP rule that is wrong anywhere (a factor, a transpose, a broadcast)
breaks the identity. The rows come from the table, so a new op cannot skip it.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import test_core_gradcheck
from gradcli.core import autodiff, ops
from gradcli.core.forward import TANGENT_ONLY
from gradcli.core.tensor import Tensor, grad_mode
from test_interpreter import values

pytestmark = pytest.mark.usefixtures("core_mode")

CASES = test_core_gradcheck.CASES


def _differentiable(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def test_every_differentiable_op_has_a_jvp_rule():
    missing = [name for name, op in ops.TABLE.items() if op.vjps and op.jvp is None]
    assert missing == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_forward_mode_agrees_with_reverse_mode(case, seed):
    rng = np.random.default_rng(seed)
    args = [np.array(a, dtype=np.float64) if _differentiable(a) else a for a in case.args]
    for i, x in enumerate(args):
        if not _differentiable(x):
            continue
        v = rng.standard_normal(x.shape)

        def along(t, i=i):
            return case.f(*args[:i], t, *args[i + 1:])
        value, tangent = autodiff.jvp(along, Tensor(x.copy()), Tensor(v))
        plain = np.asarray(case.f(*[Tensor(a) if _differentiable(a) else a for a in args]).data)
        np.testing.assert_array_equal(value.data, plain)
        assert tangent.shape == plain.shape and tangent.dtype == plain.dtype
        u = rng.standard_normal(plain.shape)
        leaf = Tensor(x.copy()).attach_grad()
        with grad_mode(True):
            out = case.f(*args[:i], leaf, *args[i + 1:])
        autodiff.backward(out, Tensor(u))
        reverse = float(np.sum(leaf.grad.data * v))
        forward = float(np.sum(u * tangent.data))
        assert forward == pytest.approx(reverse, rel=1e-9, abs=1e-11), \
            f"{case.id}: arg {i}: u·(Jv) = {forward!r}, (uᵀJ)·v = {reverse!r}"


def _peak_bytes(steps: int) -> int:
    def loop(x):
        for _ in range(steps):
            x = ops.sin(x) * 0.5 + x
        return ops.sum_(x)
    x, v = Tensor(np.linspace(-1, 1, 1000)), Tensor(np.ones(1000))
    tracemalloc.start()
    try:
        autodiff.jvp(loop, x, v)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_forward_mode_memory_does_not_grow_with_the_number_of_ops():
    # A taped pass would keep each step's sin input (8 kB): 2000 steps, 16 MB.
    short, long = _peak_bytes(20), _peak_bytes(2000)
    assert long < short + 200_000, (short, long)


def test_a_value_carrying_only_a_tangent_records_nothing():
    seen = []

    def f(x):
        y = ops.exp(x) * x
        seen.append(y.node)
        return ops.sum_(y)
    value, tangent = autodiff.jvp(f, Tensor(np.array([0.5, 1.0])), Tensor(np.array([1.0, 0.0])))
    assert seen == [TANGENT_ONLY] and TANGENT_ONLY.parents == ()
    assert value.node is None and not value.requires_grad
    assert float(tangent.data) == pytest.approx(np.exp(0.5) * 1.5, rel=1e-15)


def test_forward_over_reverse_gives_the_hessian_times_v():
    f = lambda x: ops.sum_(ops.sin(x) * x * x)      # noqa: E731
    x = np.array([0.3, -1.2, 2.0])
    v = np.array([1.0, -2.0, 0.5])
    _, hv = autodiff.jvp(autodiff.grad(f), Tensor(x), Tensor(v))
    # d²/dx² of sin(x) x² = (2 - x²) sin x + 4x cos x, elementwise (diagonal Hessian)
    exact = ((2 - x * x) * np.sin(x) + 4 * x * np.cos(x)) * v
    np.testing.assert_allclose(hv.data, exact, rtol=1e-13)


def test_reverse_over_forward_differentiates_the_tangent():
    x = np.array([0.3, -1.2])
    v = np.array([2.0, 1.0])
    g = autodiff.grad(lambda t: autodiff.jvp(lambda s: ops.sum_(s ** 3.0), t, Tensor(v))[1])
    # d/dx of 3 x² · v = 6 x v
    np.testing.assert_allclose(g(Tensor(x)).data, 6 * x * v, rtol=1e-14)


def test_a_jvp_inside_a_jvp_is_exact():
    # d/dx [d/dx x³ · 1] · 1 = 6x, the inner jvp going by reverse mode
    def inner(t):
        return autodiff.jvp(lambda s: s ** 3.0, t, Tensor(np.ones(2)))[1]
    _, t = autodiff.jvp(inner, Tensor(np.array([0.5, 2.0])), Tensor(np.ones(2)))
    np.testing.assert_allclose(t.data, [3.0, 12.0], rtol=1e-14)


# Programs: forward mode through the interpreter's tracked paths (indexed
# writes, `+=`, copies, control flow, functions) equals reverse mode.
PROGRAMS = {
    "indexed write and +=": """
def f(x):
    y = zeros(3)
    y[0] = x[1] * x[2]
    y[1:] = sin(x[:2])
    y += x * 2
    return sum(y * y)
""",
    "control flow and a while loop": """
def f(x):
    b = x
    while norm(b) < 50:
        b = b * 2
    if sum(b) > 0:
        return sum(b * x)
    return sum(100 * b)
""",
    "copy, where and max": """
def f(x):
    c = copy(x)
    return max(where(x > 0, c * x, -x)) + mean(exp(c))
""",
    "matrix calculus": """
def f(x):
    A = reshape(x[:4], (2, 2)) + eye(2) * 3
    return log(det(A)) + sum(solve(A, x[4:])) + trace(inv(A) @ A.T)
""",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_forward_mode_equals_reverse_mode_in_programs(name):
    source = PROGRAMS[name] + """
x = array([0.7, -0.4, 1.3, 0.2, -0.9, 0.6])[:SIZE]
v = array([1.0, 0.5, -2.0, 0.25, 1.5, -1.0])[:SIZE]
value, tangent = jvp(f, x, v)
print(value, tangent, sum(grad(f)(x) * v))
"""
    size = 6 if name == "matrix calculus" else 3
    (printed,) = values(source.replace("SIZE", str(size)))
    value, tangent, reverse = printed
    assert float(tangent) == pytest.approx(float(reverse), rel=1e-12, abs=1e-12)


def test_a_write_under_no_grad_keeps_the_tangent_as_it_keeps_the_history():
    # Found by the program fuzzer: `v3 += [0, 0]` under no_grad dropped
    # v3's tangent, where reverse mode keeps v3's node.
    source = """
def f(x):
    v = sin(x * x)
    with no_grad:
        v += 1
    return sum(v) + sum(x)
x = array([0.3, -0.7])
print(jvp(f, x, ones(2))[1], sum(grad(f)(x)))
"""
    (printed,) = values(source)
    assert float(printed[0]) == pytest.approx(float(printed[1]), rel=1e-14)
    assert float(printed[0]) == pytest.approx(2 + np.sum(2 * np.array([0.3, -0.7])
                                                         * np.cos([0.09, 0.49])), rel=1e-14)
