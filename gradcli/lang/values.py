"""Runtime values of the language besides tensors, and argument coercion.

Numbers and arrays are core `Tensor`s; shapes are tuples of ints; strings,
booleans and None are the Python ones. Functions (user-defined, built-in,
or made by grad/jacobian) are plain Python callables of tensors, so the
core's transforms can take them directly.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..core.tensor import MODE, Tensor, constant, shape_str
from ..errors import EvalError


class Builtin:
    """A named built-in function. Every one is also a method: `x.f(a)` is
    `f(x, a)` (SPEC section 1)."""

    __slots__ = ("name", "fn", "on_temporary", "nondiff", "public")

    def __init__(self, name, fn, on_temporary=None, nondiff=None, public=None):
        self.name, self.fn = name, fn
        # Optional: the same function for one argument that is a temporary
        # (an operator's fresh result), which it may overwrite.
        self.on_temporary = on_temporary
        # Argument positions the result does not carry a gradient to, each
        # with the reason (SPEC 2.5); docs/language.md lists them too.
        self.nondiff = nondiff or {}
        # The registry's record of it (core.ops.Public): what `help` says.
        self.public = public

    def __call__(self, *args, **kwargs):
        try:
            return self.fn(*args, **kwargs) if kwargs else self.fn(*args)
        except TypeError:
            problem = _misfit(self.fn, args, kwargs)
            if problem is None:
                raise           # raised inside: not the caller's doing
            raise EvalError(f"{self.name}(): {problem}") from None

    def __repr__(self):
        return f"<built-in {self.name}>"


def _misfit(fn, args, kwargs) -> str | None:
    """Why the arguments do not fit `fn`'s parameters (None if they do),
    in words of our own. Worked out only after a TypeError, so a call that
    fits costs nothing."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        named = set()
    else:
        named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        for key in kwargs:
            if key not in named:
                return f"got an unexpected keyword argument '{key}'"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not any(p.kind is p.VAR_POSITIONAL for p in params) and len(args) > len(positional):
        most = len(positional)
        least = sum(p.default is p.empty for p in positional)
        takes = f"{most}" if least == most else f"from {least} to {most}"
        plural = "" if most == 1 else "s"
        return (f"takes {takes} positional argument{plural} but {len(args)} "
                f"{'was' if len(args) == 1 else 'were'} given")
    for i, p in enumerate(positional):
        if i < len(args) and p.name in kwargs:
            return f"got multiple values for argument '{p.name}'"
    missing = [p.name for i, p in enumerate(params)
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY,
                                                       p.POSITIONAL_ONLY)
               and not (i < len(args) and p.kind is not p.KEYWORD_ONLY) and p.name not in kwargs]
    if missing:
        return f"missing required argument '{missing[0]}'"
    return None


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
    lead to the same built-ins (`nd.array`, `torch.ones`, `autograd.record`).
    `path`: the imported module it is (lang/modules.py), None for a prefix
    used without an import. `members`: names of its own that come first
    (D2L's helpers, defined by running their .ag source)."""

    __slots__ = ("name", "path", "members")

    def __init__(self, name, path=None, members=None):
        self.name, self.path, self.members = name, path, members

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
    return getattr(type(value), "kind", type(value).__name__)


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
    if isinstance(value, (list, tuple, range)):
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
