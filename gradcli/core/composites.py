"""Public functions built from the primitives in ops.py.

They have no gradient code of their own: autodiff goes through the
primitives they call, so their gradients (to every order) and their
conventions at kinks are the primitives'. `grad_fn` of a result names the
last primitive (PyTorch's square, too, reports a power).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import EvalError, ShapeError
from .ops import (_single_axis, broadcast_to, flatten, getitem, mean, norm, norm_axis, operand,
                  power, public, raw, reshape, scatter, sum_, transpose, where)
from .tensor import check_size, shape_str


@public("square", rules={"x": "2*{x}"}, help="x * x, element by element.",
        example="square([1, -2, 3])\n# [1, 4, 9]")
def square(x):
    return power(x, 2.0)


def _deviations(x, axis, ddof):
    """x minus its mean over `axis`, and how many degrees of freedom remain."""
    x = operand(x)
    axes = norm_axis(axis, x.ndim)
    count = math.prod(x.shape) if axes is None else math.prod(x.shape[a] for a in axes)
    return x - mean(x, axis=axes, keepdims=True), axes, max(count - ddof, 0)


def _ddof(ddof, unbiased):
    if unbiased is not None:        # PyTorch's older spelling
        return 1 if unbiased else 0
    return ddof


@public("var", rules={"x": "2*({x} - mean({x}))/(N - ddof) (N: the number of elements "
                              "averaged)"},
        help="The variance of x: the mean squared deviation from the mean, over all elements "
             "or along axis, divided by N - ddof (ddof=0, as numpy; PyTorch's default is "
             "ddof=1: write ddof=1, correction=1 or unbiased=True).",
        example="x = [1, 2, 3, 4]\nprint(var(x), var(x, ddof=1))\n# 1.25 1.6666666666666667")
def var(x, axis=None, *, ddof=0, keepdims=False, unbiased=None):
    """numpy's variance: the mean squared deviation, divided by N - ddof
    (ddof=0 by default, as numpy; PyTorch's default is ddof=1)."""
    d, axes, dof = _deviations(x, axis, _ddof(ddof, unbiased))
    return sum_(d * d, axis=axes, keepdims=keepdims) / float(dof)


@public("std", rules={"x": "({x} - mean({x}))/((N - ddof)*std({x})) (N: the number of "
                              "elements averaged)"},
        convention="where the deviations are all 0 (equal elements, a single element) the "
                   "gradient is 0 (PyTorch)",
        help="The standard deviation of x, sqrt(var(x)): over all elements or along axis, "
             "dividing by N - ddof (ddof=0, as numpy; PyTorch's default is ddof=1).",
        example="x = [1, 2, 3, 4]\nprint(std(x), std(x, unbiased=True))\n"
                "# 1.118033988749895 1.2909944487358058")
def std(x, axis=None, *, ddof=0, keepdims=False, unbiased=None):
    """sqrt(var), as the L2 norm of the deviations: where they are all 0
    (one element, equal elements) the gradient is 0, as PyTorch's."""
    d, axes, dof = _deviations(x, axis, _ddof(ddof, unbiased))
    return norm(d, axis=axes, keepdims=keepdims) / math.sqrt(dof)


@public("swapaxes", rules={"x": "{g} with the two axes swapped back"},
        help="x with axis1 and axis2 exchanged (PyTorch's transpose(x, d0, d1)).",
        example="print(swapaxes(ones(2, 3, 4), 0, 2).shape)\n# (4, 3, 2)")
def swapaxes(x, axis1, axis2):
    """x with two axes exchanged (numpy's swapaxes, PyTorch's transpose(d0, d1))."""
    x = operand(x)
    axes = list(range(x.ndim))
    a, b = (_single_axis(x, axis) for axis in (axis1, axis2))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


@public("flip", rules={"x": "{g} flipped back"},
        help="x in reverse order along axis (every axis by default; PyTorch's dims=).",
        example="flip([[1, 2], [3, 4]], axis=1)\n# [[2, 1], [4, 3]]")
def flip(x, axis=None):
    """The elements in reverse order along `axis` (every axis by default)."""
    x = operand(x)
    axes = norm_axis(axis, x.ndim)
    axes = range(x.ndim) if axes is None else axes
    return getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None)
                            for i in range(x.ndim)))


def _whole_indices(indices, what):
    idx = np.asarray(raw(indices))
    if idx.dtype.kind not in "iub":
        whole = idx.astype(np.intp)
        if not np.array_equal(whole, idx):
            raise EvalError(f"{what} must hold whole numbers")
        idx = whole
    return idx.astype(np.intp)


AN_INDEX = "whole numbers that say where: an index, piecewise constant"


@public("take", nondiff={1: AN_INDEX},
        rules={"x": "{g} put back at the indices (repeated indices add up)"},
        help="The slices of x at indices along axis (the first by default, as MXNet's take; "
             "axis=None indexes the flattened x, as numpy's and PyTorch's).",
        example="x = [[1, 2], [3, 4], [5, 6]]\n"
                "print(take(x, [2, 0]), take(x, [1, 2], axis=None))\n"
                "# [[5, 6], [1, 2]] [2, 3]")
def take(x, indices, axis=0):
    """MXNet's take: whole slices at `indices` along `axis` (by default the
    first, as D2L's `features.take(j)` expects); `axis=None` is numpy's and
    PyTorch's take of the flattened value. Repeated indices add up in the
    gradient."""
    x = operand(x)
    idx = _whole_indices(indices, "take: indices")
    if axis is None:
        return getitem(flatten(x), (idx,))
    axis = _single_axis(x, axis)
    return getitem(x, (slice(None),) * axis + (idx,))


def _diagonal_index(rows, cols, k):
    """Row and column indices of the k-th diagonal of a rows x cols matrix."""
    n = max(0, min(rows - max(0, -k), cols - max(0, k)))
    i = np.arange(n)
    return i + max(0, -k), i + max(0, k)


@public("diag", rules={"x": "the k-th diagonal of {g} (x a vector), or {g} on the k-th "
                               "diagonal (x a matrix)"},
        help="Of a vector, the square matrix with it on the k-th diagonal; of a matrix, its "
             "k-th diagonal (numpy's diag).",
        example="print(diag([1, 2]), diag([[1, 2], [3, 4]]))\n# [[1, 0], [0, 2]] [1, 4]")
def diag(x, k=0):
    """numpy's diag: of a 1-d value, the square matrix with it on the k-th
    diagonal; of a 2-d value, its k-th diagonal."""
    x = operand(x)
    k = int(k)
    if x.ndim == 1:
        m = x.shape[0] + abs(k)
        check_size(m * m, "the result of diag")
        return scatter(x, _diagonal_index(m, m, k), (m, m))
    if x.ndim == 2:
        return getitem(x, _diagonal_index(*x.shape, k))
    raise ShapeError(f"diag: needs a 1-d or 2-d value, got shape {shape_str(x.shape)}")


def _triangle(name, keep, shows):
    def triangle(x, k=0):
        x = operand(x)
        if x.ndim < 2:
            raise ShapeError(f"{name}: needs at least 2 dimensions, got shape "
                             f"{shape_str(x.shape)}")
        mask = keep(np.ones(x.shape[-2:], dtype=bool), int(k))
        return where(mask, x, 0.0)
    triangle.__name__ = name
    part = "below" if name == "triu" else "above"
    triangle.__doc__ = (f"x with the elements {part} the k-th diagonal of its last two axes "
                        "set to 0 (numpy).")
    kept = "on and above" if name == "triu" else "on and below"
    return public(name, rules={"x": f"1 {kept} the k-th diagonal, 0 elsewhere"},
                  help=triangle.__doc__,
                  example=f"{name}([[1, 2], [3, 4]])\n# {shows}")(triangle)


triu = _triangle("triu", np.triu, "[[1, 2], [0, 4]]")
tril = _triangle("tril", np.tril, "[[1, 0], [3, 4]]")


@public("repeat", nondiff={1: AN_INDEX},
        rules={"x": "{g} summed over the copies of each element"},
        help="Each element of x (flattened, or each slice along axis) repeated `repeats` "
             "times: one count for all, or one per element (numpy's repeat, PyTorch's "
             "repeat_interleave; PyTorch's x.repeat(2, 3) is tile).",
        example="print(repeat([1, 2], 2), repeat([1, 2], [1, 3]))\n# [1, 1, 2, 2] [1, 2, 2, 2]")
def repeat(x, repeats, axis=None):
    """numpy's repeat: each element (of the flattened value, or each slice
    along `axis`) `repeats` times, one count for all or one per element.
    PyTorch's x.repeat(sizes) is `tile`."""
    x = operand(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = _single_axis(x, axis)
    n = x.shape[axis]
    counts = np.asarray(raw(repeats))
    if counts.ndim > 1 or counts.ndim == 1 and counts.shape[0] not in (1, n):
        raise ShapeError(f"repeat: {counts.shape[0] if counts.ndim else 0} counts for an "
                         f"axis of length {n}")
    counts = _whole_indices(counts, "repeat: repeats")
    if np.any(counts < 0):
        raise EvalError("repeat: counts must not be negative")
    total = int(np.sum(np.broadcast_to(counts, (n,)))) if n else 0
    check_size(total * (x.size // n if n else 0), "the result of repeat")
    return getitem(x, (slice(None),) * axis + (np.repeat(np.arange(n), counts),))


@public("tile", rules={"x": "{g} summed over the tiles"},
        help="x repeated reps[i] times along axis i, as numpy's tile (PyTorch's x.repeat).",
        example="tile([1, 2], 2, 2)\n# [[1, 2, 1, 2], [1, 2, 1, 2]]")
def tile(x, *reps):
    """numpy's tile: x repeated reps[i] times along axis i (reps or x's
    shape padded with leading 1s to the same length)."""
    x = operand(x)
    if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
        reps = reps[0]
    reps = tuple(int(r) for r in reps)
    if any(r < 0 for r in reps):
        raise EvalError(f"tile: repetitions must not be negative, got {reps}")
    ndim = max(x.ndim, len(reps))
    shape = (1,) * (ndim - x.ndim) + x.shape
    reps = (1,) * (ndim - len(reps)) + reps
    spread = tuple(n for pair in zip(reps, shape) for n in pair)
    apart = reshape(x, tuple(n for s in shape for n in (1, s)))
    return reshape(broadcast_to(apart, spread), tuple(r * s for r, s in zip(reps, shape)))
