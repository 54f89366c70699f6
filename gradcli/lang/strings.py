"""Text made by a program: `str()` of any value, f-string fields, `%`
formatting, and the operators that take strings (`+`, `*`, `%`, `==`).

An array's text is the one-line form gradcli prints and `eval --json`
reports: nested brackets, elements separated by ', ', whole numbers without
a point (`[1, 2.5, 3]`); a scalar is its number (`3`, `0.25`). A format
spec applies to each element (`f'{w:.2f}'` -> `[1.00, 2.50]`).
"""

from __future__ import annotations

import re

import numpy as np

from ..core.tensor import Tensor
from ..errors import EvalError
from .environment import MISSING, UserFunction
from .operations import binary as _numeric_binary
from .values import Builtin, Context, a_type, to_int, type_name

__all__ = ["text", "representation", "function_text", "formatted", "percent", "binary"]

ELIDE_OVER = 1000      # more elements than this: '...' in the middle, as numpy
EDGE = 3               # items kept at each end of an elided axis


# ------------------------------------------------------------------- str()

def text(value) -> str:
    """What `str(value)` and `print` write for a value."""
    if isinstance(value, str):
        return value
    if isinstance(value, Tensor):
        return _array_text(value.data, _number_text)
    if isinstance(value, (bool, int, float, np.generic)):
        return _number_text(value)
    if value is None:
        return "None"
    if isinstance(value, tuple):
        inner = ", ".join(representation(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(representation(v) for v in value) + "]"
    if isinstance(value, Builtin):
        return f"<built-in {value.name}>"
    if isinstance(value, UserFunction):
        return function_text(value)
    if isinstance(value, Context):
        return repr(value)
    return f"<{type_name(value)}>"


def function_text(fn: UserFunction) -> str:
    """`<function f(a, b=2)>`: a function of the program, as it is printed
    (with its defaults, as Python's inspect shows them)."""
    params = [name if default is MISSING else f"{name}={representation(default)}"
              for name, default in zip(fn.params, fn.defaults)]
    return f"<function {fn.name}({', '.join(params)})>"


def representation(value) -> str:
    """`repr(value)`: a string quoted, anything else as `text`."""
    return repr(value) if isinstance(value, str) else text(value)


def _number_text(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    if isinstance(value, np.floating) and not isinstance(value, np.float64):
        return str(value)         # a float32's shortest spelling: 0.1, not 0.10000000149
    return repr(v)


def _array_text(data: np.ndarray, element) -> str:
    if data.ndim == 0:
        return element(data[()])
    elide = data.size > ELIDE_OVER

    def nest(a):
        if len(a) > 2 * EDGE and elide:
            rows = [*a[:EDGE], None, *a[-EDGE:]]
        else:
            rows = list(a)
        inner = (("..." if row is None else element(row)) if a.ndim == 1
                 else ("..." if row is None else nest(row)) for row in rows)
        return "[" + ", ".join(inner) + "]"
    return nest(data)


# ------------------------------------------------------------------ format

_TYPE = re.compile(r"[bcdeEfFgGnosxX%]$")
_WHOLE_TYPES = set("bcdoxX")
_NUMBER_OPTIONS = re.compile(r"[+\- ]|[,_.=]|#|^0|[<>^]?0\d")     # only numbers take these


def formatted(value, spec: str, conversion: str = "") -> str:
    """An f-string field: `format(value, spec)` after `!r`/`!s`/`!a`."""
    if conversion:
        shown = {"s": text, "r": representation, "a": lambda v: ascii(representation(v))}
        value = shown[conversion](value)
    if isinstance(value, Tensor):
        return _array_text(value.data, lambda v: _format_number(v, spec))
    if isinstance(value, (bool, int, float, np.generic)):
        return _format_number(value, spec)
    return _format_text(text(value), spec)


def _format_text(shown: str, spec: str, what: str = "a string") -> str:
    try:
        return format(shown, spec)
    except ValueError:
        raise EvalError(f"format spec ':{spec}' does not apply to {what}") from None


def _format_number(value, spec: str) -> str:
    if not spec:
        return _number_text(value)
    if not _TYPE.search(spec) and not _NUMBER_OPTIONS.search(spec):
        return _format_text(_number_text(value), spec, "a number")   # width, fill, alignment
    if isinstance(value, (bool, np.bool_)):
        number = int(value)
    else:
        number = float(value)
        if spec[-1] in _WHOLE_TYPES:
            if not number.is_integer():
                raise EvalError(f"format spec ':{spec}' needs a whole number, got "
                                f"{_number_text(value)}")
            number = int(number)
    try:
        return format(number, spec)
    except ValueError:
        raise EvalError(f"format spec ':{spec}' does not apply to a number") from None


# ----------------------------------------------------------- '%' formatting

_CONVERSION = re.compile(r"%(?:\((?P<key>[^)]*)\))?(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?"
                         r"(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<type>.?)", re.S)
_NUMERIC = set("diouxXeEfFgGc")


def percent(template: str, args) -> str:
    """`template % args` with Python's printf rules; a one-element array
    counts as its number, and `%s` writes any value as `str()` does."""
    values = list(args) if isinstance(args, tuple) else [args]
    taken = 0

    def take():
        nonlocal taken
        if taken >= len(values):
            raise EvalError("not enough arguments for format string")
        taken += 1
        return values[taken - 1]

    out, pos = [], 0
    for m in _CONVERSION.finditer(template):
        out.append(template[pos:m.start()])
        pos = m.end()
        kind = m["type"]
        if kind == "%" and m.end() - m.start() == 2:
            out.append("%")
            continue
        if m["key"] is not None:
            raise EvalError("'%(name)s' formatting needs a mapping, which .ag does not have")
        if kind == "" or kind not in _NUMERIC | set("rsa"):
            where = f"'{kind}'" if kind else "the end of the string"
            raise EvalError(f"'%' formatting: unsupported format character {where} "
                            f"at index {m.end() - 1}")
        width = m["width"]
        if width == "*":
            width = str(to_int(take(), "'*' width"))
        precision = m["precision"]
        if precision == "*":
            precision = str(to_int(take(), "'*' precision"))
        pattern = "%" + m["flags"] + (width or "") + (
            "" if precision is None else "." + precision) + kind
        value = take()
        if kind == "s":
            out.append(pattern % text(value))
        elif kind in "ra":
            shown = (ascii if kind == "a" else repr)(value) if isinstance(value, str) else text(value)
            out.append((pattern[:-1] + "s") % shown)
        else:
            number = _single_number(value, f"%{kind}")
            if kind in "xXoc" and isinstance(number, float):
                if not number.is_integer():
                    raise EvalError(f"'%{kind}' needs a whole number, got {_number_text(number)}")
                number = int(number)
            out.append(pattern % number)
    out.append(template[pos:])
    if taken < len(values):
        raise EvalError("not all arguments converted during string formatting")
    return "".join(out)


def _single_number(value, what):
    if isinstance(value, Tensor) and value.size == 1:
        value = value.data.reshape(())[()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (int, float, np.generic)):
        return float(value) if isinstance(value, (float, np.floating)) else int(value)
    if isinstance(value, str) and what == "%c":
        return value
    raise EvalError(f"'{what}' needs a single number, not {a_type(value)}")


# --------------------------------------------------------------- operators

def binary(opname: str, a, b):
    """A binary operator; strings take `+` (joins), `*` (repeats), `%`
    (formats) and comparisons, everything else goes to the numbers'."""
    if type(a) is str or type(b) is str:
        return _string_operator(opname, a, b)
    return _numeric_binary(opname, a, b)


_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _string_operator(opname, a, b):
    both = type(a) is str and type(b) is str
    if opname == "%" and type(a) is str:
        return percent(a, b)
    if opname == "+" and both:
        return a + b
    if opname == "*" and not both:
        string, count = (a, b) if type(a) is str else (b, a)
        return string * to_int(count, "string repeat count")
    if opname in ("==", "!=") and not both:
        return opname == "!="          # a string equals no number or array
    if opname in _COMPARE and both:
        return _COMPARE[opname](a, b)
    return _numeric_binary(opname, a, b)     # its error names the operand
