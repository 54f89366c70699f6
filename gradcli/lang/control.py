"""Generators and `try` / `except` (SPEC 1): the values they make, and which
Python exception names catch which gradcli errors.

A generator function's body is compiled by the interpreter into Python
generator functions (one per statement that can suspend at a `yield`), so
calling one gives a `Generator` that runs the body lazily, a statement at a
time, under the same step, time and memory budgets as any other code.
"""

from __future__ import annotations

from ..errors import (DataError, EvalError, GradcliError, GradError, LimitError, NumericError,
                      ShapeError)
from ..core import ops
from ..core.tensor import Tensor
from .environment import Scope, UserFunction
from .values import Builtin, a_type


class Generator:
    """What calling a generator function gives: an iterator over the values
    its body yields. Each resumption counts as a call toward MAX_CALL_DEPTH,
    so generators that iterate themselves recursively stop with the same
    message as runaway recursion."""

    __slots__ = ("name", "_steps", "_calls")
    kind = "generator"      # how messages name it (values.type_name)

    def __init__(self, name, steps, calls):
        self.name, self._steps, self._calls = name, steps, calls

    def __iter__(self):
        return self

    def __next__(self):
        calls = self._calls
        if calls is None:           # iter() of a list: no body to run
            return next(self._steps)
        calls.enter(self.name)
        try:
            return next(self._steps)
        finally:
            calls.depth -= 1

    def __repr__(self):
        return f"<generator {self.name}>"


def iter_(value):
    """`iter(x)`: a generator itself, or one over a list, tuple, range or
    the rows of an array (so `next(iter(data_iter(...)))` works)."""
    if isinstance(value, Generator):
        return value
    if isinstance(value, Tensor) and value.ndim > 0:
        rows = (ops.getitem(value, (i,)) for i in range(value.shape[0]))
        return Generator("iter", rows, None)
    if isinstance(value, (list, tuple, range)):
        return Generator("iter", iter(value), None)
    raise EvalError(f"iter(): cannot iterate over {a_type(value)}")


_NO_DEFAULT = object()


def next_(generator, default=_NO_DEFAULT):
    """`next(g)` / `next(g, default)`: the generator's next value."""
    if not isinstance(generator, Generator):
        raise EvalError(f"next() needs a generator (or iter(...)), not {a_type(generator)}")
    try:
        return next(generator)
    except StopIteration:
        if default is not _NO_DEFAULT:
            return default
        raise EvalError(f"next(): {generator.name} has no more values "
                        "(StopIteration)") from None


BUILTINS = {
    "iter": Builtin("iter", iter_, public=ops.Public(
        ("iter",), iter_, help="A generator over a list, tuple, range or the rows of an "
                                "array (a generator itself for a generator).",
        example="g = iter([1, 2])\nprint(next(g), next(g))\n# 1 2")),
    "next": Builtin("next", next_, public=ops.Public(
        ("next",), next_, help="The generator's next value; once it has none, default, or "
                                "without one an error that `except StopIteration:` catches.",
        example="g = iter([1])\nprint(next(g), next(g, 'done'))\n# 1 done")),
}


class GeneratorFunction(UserFunction):
    """A `def` whose body holds a `yield`: a call binds the arguments and
    gives a Generator; the body starts at its first `next`."""

    def __call__(self, *args, **kwargs):
        scope = Scope(self._bind(args, kwargs), self.closure)
        return Generator(self.name, self.body(scope), self.calls)

    def __repr__(self):
        return f"<generator function {self.name}>"


class CaughtError(str):
    """What `except ... as e` binds: the error's message, so `print(e)` and
    `f"{e}"` show it as Python shows an exception (without gradcli's
    FILE:LINE:COL prefix); `.error` is the gradcli error itself."""

    __slots__ = ("error",)
    kind = "error"

    def __new__(cls, error: GradcliError):
        made = super().__new__(cls, error.message)
        made.error = error
        return made


# ------------------------------------------------------- exception names
# Which Python (and framework) names an `except` clause can use, and which
# gradcli errors each one catches: what PyTorch, MXNet or NumPy would raise
# for the same mistake (docs/language.md has the table). Limits are never
# caught: a program must not swallow its own --timeout.

_EVERYTHING = ("Exception", "BaseException", "GradcliError")
_OWN = {"EvalError": EvalError, "ShapeError": ShapeError, "GradError": GradError,
        "NumericError": NumericError, "DataError": DataError}
# Names Python has that gradcli never raises: accepted, they catch nothing.
_NEVER = ("KeyError", "ZeroDivisionError", "AssertionError",
          "NotImplementedError", "OverflowError", "ImportError", "ModuleNotFoundError")
CATCHABLE = (_EVERYTHING + tuple(_OWN) + ("RuntimeError", "ValueError", "TypeError",
             "IndexError", "LookupError", "NameError", "AttributeError",
             "FloatingPointError", "ArithmeticError", "MXNetError", "StopIteration") + _NEVER)


def python_names(error: GradcliError) -> frozenset[str]:
    """The exception names that catch `error` (none for a limit)."""
    if isinstance(error, LimitError):
        return frozenset()
    names = set(_EVERYTHING)
    names.update(name for name, cls in _OWN.items() if isinstance(error, cls))
    message = error.message
    if isinstance(error, NumericError):
        names.update(("RuntimeError", "FloatingPointError", "ArithmeticError", "MXNetError"))
    elif isinstance(error, GradError):
        names.update(("RuntimeError", "MXNetError"))
    elif "out of range" in message and "index" in message:
        names.update(("IndexError", "LookupError", "MXNetError"))
    elif isinstance(error, ShapeError):
        names.update(("RuntimeError", "ValueError", "MXNetError"))
    elif isinstance(error, DataError):
        names.add("ValueError")
    elif message.startswith("next(): ") and message.endswith("(StopIteration)"):
        names.add("StopIteration")
    elif message.startswith("name '") and "is not defined" in message:
        names.add("NameError")
    elif " has no attribute " in message or " has no method " in message:
        names.add("AttributeError")
    elif isinstance(error, EvalError):
        names.update(("TypeError", "ValueError", "MXNetError"))
    return frozenset(names)


def unknown_exception_name(name: str) -> str | None:
    """Why `except NAME` cannot be used, or None when it can."""
    if name == "LimitError":
        return ("limits cannot be caught: a program cannot swallow --timeout, "
                "--max-steps or --max-memory")
    if name in CATCHABLE:
        return None
    return (f"'{name}' is not an error gradcli raises; except can name Exception, "
            "RuntimeError, ValueError, TypeError, IndexError, NameError, AttributeError, "
            "MXNetError, or gradcli's own ShapeError, GradError, EvalError")
