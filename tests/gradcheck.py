"""Check autodiff against central finite differences in float64.

The idea of HIPS autograd's `check_grads`: differentiate the scalar
S(x) = sum(f(x) * c) for a random cotangent c, and compare the directional
derivative grad S · v, for a random direction v, with the central
difference (S(x + eps v) - S(x - eps v)) / 2 eps. That checks the
vector–Jacobian product of every differentiable argument in one number.
Forward mode (`jvp`) is compared the same way, elementwise, at first
order. With order=2 the gradient function itself (built with
`autodiff.grad`, so nested differentiation is exercised too) is checked
again, for every argument, which covers all second derivatives including
mixed ones.

Gradients come from the user's path (`attach_grad` + `backward` with the
cotangent as head) and must agree with `autodiff.grad`.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcli.core import autodiff, ops
from gradcli.core.tensor import MODE, Tensor, grad_mode, lift


@pytest.fixture
def core_mode():
    """Run a test from the default MODE and put back whatever it changed."""
    saved = dict(vars(MODE))
    MODE.grad_enabled, MODE.training, MODE.dtype = True, False, np.float64
    MODE.detect_nan, MODE.site, MODE.nan_reports = False, None, []
    try:
        yield MODE
    finally:
        vars(MODE).clear()
        vars(MODE).update(saved)


def _differentiable(a) -> bool:
    if isinstance(a, (float, np.floating)):
        return True
    return isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)


def _evaluate(f, args, diff):
    """f's value as a float64 array, with recording off."""
    with grad_mode(False):
        out = f(*[Tensor(np.array(a, dtype=np.float64)) if i in diff else a
                  for i, a in enumerate(args)])
    return np.asarray(lift(out).data, dtype=np.float64)


def _shifted(args, i, delta):
    args = list(args)
    args[i] = args[i] + delta
    return args


def _assert_close(ad, fd, rtol, atol, what):
    ad, fd = np.asarray(ad, dtype=np.float64), np.asarray(fd, dtype=np.float64)
    err = np.abs(ad - fd)
    bound = atol + rtol * np.maximum(np.abs(ad), np.abs(fd))
    if not (np.all(np.isfinite(ad)) and np.all(err <= bound)):
        raise AssertionError(
            f"{what}: autodiff {ad!r} vs finite differences {fd!r} "
            f"(abs err {np.max(err, initial=0):.3g}, allowed {np.min(bound, initial=0):.3g})")


def check_grads(f, *args, order=2, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0,
                modes=("rev", "fwd"), _label="f"):
    """Assert f's derivatives (up to `order`) match central differences.

    `args` are numpy arrays or floats (differentiable, promoted to float64)
    or anything else (indices, masks: passed to f unchanged). `f` takes
    Tensors and returns a Tensor. Raises AssertionError naming the argument
    and the derivative order that disagrees.
    """
    rng = np.random.default_rng(seed)
    diff = {i for i, a in enumerate(args) if _differentiable(a)}
    if not diff:
        raise ValueError("check_grads: no differentiable (float) argument")
    args = [np.array(a, dtype=np.float64) if i in diff else a for i, a in enumerate(args)]
    value = _evaluate(f, args, diff)
    cot = rng.standard_normal(value.shape)

    def scalar(*xs):     # S = sum(f * cot) in numpy, for the differences
        return float(np.sum(_evaluate(f, xs, diff) * cot))

    def weighted(*ts):   # the same S built from core ops, to differentiate
        return ops.sum_(ops.mul(f(*ts), Tensor(cot)))

    # Reverse mode along the user's path: attach_grad, then backward(head).
    leaves = {i: Tensor(args[i].copy()).attach_grad() for i in diff}
    with grad_mode(True):
        out = lift(f(*[leaves.get(i, a) for i, a in enumerate(args)]))
    if out.shape != value.shape or not np.allclose(out.data, value, rtol=1e-12, atol=0,
                                                   equal_nan=True):
        raise AssertionError(f"{_label}: recording changed the forward value")
    if out.requires_grad:
        autodiff.backward(out, Tensor(cot.copy()))

    for i in sorted(diff):
        x = args[i]
        g = leaves[i].grad
        assert g.shape == x.shape, f"{_label}: grad of arg {i} has shape {g.shape}, not {x.shape}"
        assert g.dtype == np.float64, f"{_label}: grad of arg {i} has dtype {g.dtype}"
        v = rng.standard_normal(x.shape)
        fd = (scalar(*_shifted(args, i, eps * v))
              - scalar(*_shifted(args, i, -eps * v))) / (2 * eps)
        if "rev" in modes:
            _assert_close(np.sum(g.data * v), fd, rtol, atol,
                          f"{_label}: d/d(arg {i}) along a random direction (reverse mode)")
            # autodiff.grad must agree with backward (it is what order 2 nests).
            g2 = autodiff.grad(weighted, i)(*[Tensor(a.copy()) if j in diff else a
                                              for j, a in enumerate(args)])
            np.testing.assert_allclose(g2.data, g.data, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{_label}: grad() vs backward, arg {i}")
        if "fwd" in modes:
            others = [Tensor(a.copy()) if j in diff else a for j, a in enumerate(args)]

            def along(t, i=i, others=others):
                return f(*others[:i], t, *others[i + 1:])
            _, tangent = autodiff.jvp(along, Tensor(x.copy()), Tensor(v))
            fd_out = (_evaluate(f, _shifted(args, i, eps * v), diff)
                      - _evaluate(f, _shifted(args, i, -eps * v), diff)) / (2 * eps)
            assert tangent.shape == value.shape, f"{_label}: jvp tangent shape {tangent.shape}"
            _assert_close(tangent.data, fd_out, rtol, atol * 10,
                          f"{_label}: jvp along a random direction of arg {i}")

    if order > 1:
        for i in sorted(diff):
            def gradient(*ts, i=i):
                return autodiff.grad(weighted, i)(*ts)
            check_grads(gradient, *args, order=order - 1, eps=eps, rtol=rtol, atol=atol,
                        seed=seed + 1 + i, modes=("rev",), _label=f"grad_{i}({_label})")


class Draws:
    """Seeded random inputs that keep away from kinks, shared by the
    gradient-check tables (ops and built-ins)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def anyv(self, shape, low=-2.0, high=2.0):
        return self.rng.uniform(low, high, shape)

    def pos(self, shape):
        return self.rng.uniform(0.5, 2.0, shape)

    def away(self, shape, gap=0.3):
        """Values with |x| >= gap: no kink of abs, relu, norm(ord=1) nearby."""
        return self.rng.choice([-1.0, 1.0], size=shape) * self.rng.uniform(gap, 2.0, shape)

    def distinct(self, shape):
        """Pairwise distinct values, at least 0.1 apart (no ties for max/min)."""
        n = int(np.prod(shape, dtype=int))
        values = (self.rng.permutation(n) - n / 2) * 0.37 + self.rng.uniform(0.0, 0.05, n)
        return values.reshape(shape)

    def wellcond(self, shape):
        """Square matrices (or batches) with eigenvalues near 2: safely invertible."""
        return self.anyv(shape, -0.4, 0.4) + 2.0 * np.eye(shape[-1])
