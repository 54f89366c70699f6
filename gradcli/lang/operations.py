"""What operators, subscripts and in-place writes do to runtime values.

The interpreter decides *when* to evaluate; this module says what `a + b`,
`x[i]`, `x[i] = v` and `x += v` mean for tensors, numbers and tuples.
"""

from __future__ import annotations

import math

import numpy as np

from ..core import ops
from ..core.tensor import MODE, Tensor, check_size, check_writable, shape_str
from ..errors import EvalError, ShapeError
from .values import a_type, to_int, to_tensor

# Parameterless binary ops with a hot path straight to the core.
BINARY_OPS = {"+": ops.ADD, "-": ops.SUB, "*": ops.MUL, "/": ops.DIV, "**": ops.POW}
COMPARISONS = {"<": ops.less, "<=": ops.less_equal, ">": ops.greater,
               ">=": ops.greater_equal, "==": ops.equal, "!=": ops.not_equal}
# Every binary operator, for operands of any kind.
_OPERATORS = {**COMPARISONS, "@": ops.matmul, "//": ops.floordiv, "%": ops.mod,
              "+": ops.add, "-": ops.sub, "*": ops.mul, "/": ops.div, "**": ops.power}


def binary(opname, a, b):
    """`a op b` for any operands: tuples concatenate, Python numbers (shape
    arithmetic) stay numbers, everything else becomes a tensor."""
    if isinstance(a, tuple) and isinstance(b, tuple) and opname == "+":
        check_size(len(a) + len(b), "tuple")
        return a + b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not (
            isinstance(a, bool) or isinstance(b, bool)) and opname in ("+", "-", "*"):
        return bounded({"+": a + b, "-": a - b, "*": a * b}[opname])
    fn = _OPERATORS[opname]
    return fn(to_tensor(a, f"left operand of '{opname}'"),
              to_tensor(b, f"right operand of '{opname}'"))


INT_LIMIT = 2 ** 63


def bounded(number):
    """Sizes and counts are Python ints for shape arithmetic; past int64 they
    become floats (as literals are), so repeated squaring stays cheap."""
    if type(number) is int and not -INT_LIMIT <= number < INT_LIMIT:
        return float(number)
    return number


def update_in_place(target: Tensor, opname, value, name):
    """`x op= value`: the same tensor gets the new numbers (and history)."""
    check_writable(target, name)
    operand = to_tensor(value, f"right operand of '{opname}='")
    if MODE.grad_enabled and (target.requires_grad or operand.requires_grad):
        before = target.current()
        result = _OPERATORS[opname](before, operand)
        target.become(result, name)
    else:
        result = _OPERATORS[opname](Tensor(target.data), Tensor(operand.data))
        target.assign(result.data, name)


def write_index(target: Tensor, index, value: Tensor, name):
    """`x[index] = value` in place, differentiable while recording."""
    check_writable(target, name)
    index = tensor_index(target, index)
    if MODE.grad_enabled and (target.requires_grad or value.requires_grad):
        before = target.current()
        # Which element of the value lands where: numpy's assignment decides
        # (a repeated index keeps the last write), on the elements' numbers.
        region = target.data[index].shape
        if not math.prod(region):
            return      # an empty selection (a mask with no True): nothing is written
        source = np.full(target.shape, -1, dtype=np.intp)
        source[index] = np.arange(math.prod(region)).reshape(region)
        written = source >= 0
        flat = ops.reshape(ops.broadcast_to(value, region), (-1,))
        landed = ops.getitem(flat, (np.where(written, source, 0),))
        target.become(ops.where(written, landed, before, op=ops.COPY_SLICES), name)
        return
    data = target.data.copy() if isinstance(target.data, np.ndarray) else np.array(target.data)
    try:
        data[index] = value.data
    except ValueError:
        raise EvalError(f"cannot assign a value of shape {shape_str(value.shape)} into "
                        f"a region of shape {shape_str(np.shape(data[index]))}") from None
    target.assign(data, name)


def index_value(value):
    if value is Ellipsis:
        return value
    if isinstance(value, bool):
        raise EvalError("an index must be a whole number, a slice or an index array")
    if isinstance(value, int):
        return value
    if isinstance(value, Tensor):
        data = value.data
        if data.dtype.kind == "b":
            if data.ndim == 0:
                raise EvalError("a single True or False cannot be an index; "
                                "index with a boolean array of the value's shape")
            return data         # a mask: selects where it is True
        if value.ndim == 0:
            return to_int(value, "index")
        if data.dtype.kind not in "iu":
            whole = data.astype(np.int64)   # NaN or huge casts badly: judged below
            if not np.array_equal(whole, data):
                bad = data[whole != data].flat[0]
                if np.isfinite(bad) and bad == np.floor(bad):
                    raise EvalError(f"index array holds {bad:g}, which is out of range")
                raise EvalError("an index array must hold whole numbers")
            data = whole
        return data
    if isinstance(value, (tuple, list)):
        return index_value(to_tensor(value, "index"))
    if isinstance(value, float):
        return to_int(value, "index")
    if value is None:
        return None
    raise EvalError(f"an index must be a whole number, a slice or an index array, "
                    f"not {a_type(value)}")


def _axes_taken(w) -> int:
    """How many axes of the target an index item consumes (`...`: counted
    apart, as those the others leave)."""
    if w is None or w is Ellipsis:
        return 0
    if type(w) is np.ndarray and w.dtype.kind == "b":
        return w.ndim      # a mask covers as many axes as it has
    return 1


def tensor_index(target, where):
    dims = sum(_axes_taken(w) for w in where)
    if dims > target.ndim:
        raise EvalError(f"too many indices ({dims}) for a value of shape "
                        f"{shape_str(target.shape)}")
    if sum(w is Ellipsis for w in where) > 1:
        raise EvalError("an index can hold only one '...'")
    axis = 0
    for w in where:
        taken = target.ndim - dims if w is Ellipsis else _axes_taken(w)
        if taken and type(w) is np.ndarray and w.dtype.kind == "b":
            covered = target.shape[axis:axis + w.ndim]
            if w.shape != covered:
                raise ShapeError(f"boolean index of shape {shape_str(w.shape)} does not "
                                 f"match the axes it covers, of shape {shape_str(covered)}, "
                                 f"in a value of shape {shape_str(target.shape)}")
        elif taken:
            _check_item(target, axis, w)
        axis += taken
    return where


def _check_item(target, axis, w):
    """An int or index array along `axis` must stay inside it."""
    n = target.shape[axis]
    if isinstance(w, int) and not -n <= w < n:
        raise EvalError(f"index {w} is out of range for axis {axis} of length {n}")
    if type(w) is np.ndarray and w.size:
        high, low = w.max(), w.min()
        if high >= n or low < -n:
            raise EvalError(f"index array holds {int(high) if high >= n else int(low)}, "
                            f"out of range for axis {axis} of length {n}")
