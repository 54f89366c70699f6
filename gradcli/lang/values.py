"""Runtime values of the language besides tensors, and argument coercion.

Numbers and arrays are core `Tensor`s; shapes are tuples of ints; strings,
booleans and None are the Python ones. Functions (user-defined, built-in,
or made by grad/jacobian) are plain Python callables of tensors, so the
core's transforms can take them directly.
"""

from __future__ import annotations

import numpy as np

from ..core.tensor import MODE, Tensor, constant, shape_str
from ..errors import EvalError


class Builtin:
    """A named built-in function. Every one is also a method: `x.f(a)` is
    `f(x, a)` (SPEC section 1)."""

    __slots__ = ("name", "fn", "on_temporary", "nondiff")

    def __init__(self, name, fn, on_temporary=None, nondiff=None):
        self.name, self.fn = name, fn
        # Optional: the same function for one argument that is a temporary
        # (an operator's fresh result), which it may overwrite.
        self.on_temporary = on_temporary
        # Argument positions the result does not carry a gradient to, each
        # with the reason (SPEC 2.5); docs/language.md lists them too.
        self.nondiff = nondiff or {}

    def __call__(self, *args, **kwargs):
        try:
            return self.fn(*args, **kwargs) if kwargs else self.fn(*args)
        except TypeError as exc:    # a call that does not fit the signature
            text = str(exc)
            if "argument" in text:
                raise EvalError(f"{self.name}(): {text.split(') ', 1)[-1]}") from None
            raise

    def __repr__(self):
        return f"<built-in {self.name}>"


class Context:
    """`record`, `no_grad`, `pause`: usable as `with X:` or `with X():`."""

    __slots__ = ("kind",)

    def __init__(self, kind):
        self.kind = kind

    def __call__(self, *args, **kwargs):
        return self

    def __repr__(self):
        return f"<context {self.kind}>"


class Namespace:
    """`np`, `nd`, `torch`, `autograd`...: prefixes of pasted code that all
    lead to the same built-ins (`nd.array`, `torch.ones`, `autograd.record`)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<namespace {self.name}>"


def type_name(value) -> str:
    if isinstance(value, Tensor):
        return "scalar" if value.ndim == 0 else f"array of shape {shape_str(value.shape)}"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "None"
    if isinstance(value, (Context, Namespace)):
        return repr(value)
    if callable(value):
        return "function"
    return type(value).__name__


def a_type(value) -> str:
    """`type_name` with its article: "a scalar", "an array of shape (2,)", "None"."""
    name = type_name(value)
    if name == "None":
        return name
    return ("an " if name[0] in "aeiou" else "a ") + name


def to_tensor(value, what="argument") -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)):
        return constant(value)
    if isinstance(value, (list, tuple)):
        from ..core import ops
        items = [to_tensor(v, what) for v in value]
        if items and all(i.shape == items[0].shape for i in items):
            if any(i.requires_grad for i in items):
                return ops.stack(items)
            return constant(np.array([i.data for i in items]))
        if not items:
            return constant(np.zeros((0,)))
        raise EvalError(f"{what}: the items have different shapes "
                        f"({', '.join(shape_str(i.shape) for i in items)}), so they "
                        "do not form an array")
    raise EvalError(f"{what} must be a number or an array, not {a_type(value)}")


def to_number(value, what="argument") -> float:
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, Tensor) and value.size == 1:
        return float(value.data.reshape(()))
    raise EvalError(f"{what} must be a single number, not {a_type(value)}")


def to_int(value, what="argument") -> int:
    """A whole number, given as an int, a whole float or a 1-element array."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = to_number(value, what) if not isinstance(value, float) else value
    if not float(number).is_integer():
        raise EvalError(f"{what} must be a whole number, got {number:g}")
    return int(number)


def to_shape(args, what="shape") -> tuple[int, ...]:
    """`f(2, 5)`, `f((2, 5))`, `f([2, 5])` and `f(x.shape)` all give (2, 5)."""
    if len(args) == 1:
        (arg,) = args
        if isinstance(arg, (tuple, list)):
            args = arg
        elif isinstance(arg, Tensor) and arg.ndim == 1:
            args = list(arg.data)
    dims = tuple(to_int(a, what) for a in args)
    for n in dims:
        if n < 0 and n != -1:
            raise EvalError(f"{what} must not have negative dimensions, got {dims}")
    return dims


def to_axis(value, what="axis"):
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return tuple(to_int(v, what) for v in value)
    return to_int(value, what)


def truth(value, what="condition") -> bool:
    """Truth of a condition, which must hold exactly one element."""
    if isinstance(value, Tensor):
        if value.size != 1:
            raise EvalError(f"{what} must hold exactly one element, but it has shape "
                            f"{shape_str(value.shape)}; use sum(), any() or an index")
        return bool(value.data.reshape(()))
    if isinstance(value, (bool, int, float)) or value is None:
        return bool(value)
    raise EvalError(f"{what} must be a single number, not {a_type(value)}")


def dtype_name() -> str:
    return np.dtype(MODE.dtype).name
