"""`gradcli plot` and the REPL's `:plot`: a function of one number beside
its derivative by autodiff (and, asked, its second derivative).

What is sampled is decided here: the variable (the program's one
single-number input, or `--wrt`), the range (`-5:5` by default, or 5 either
side of the input's value when that lies outside it), the points (200 by
default), each point's value and derivatives (one run of the program per
point: about a millisecond for a small program), and where f′ crosses zero
(a sign change between two samples, located by a few more runs). Points
where the value or a derivative is not finite, or where the program fails,
are gaps, counted in the figure's notes. The result is a `Curve`, and
`figure(curve)` says what to draw as a `lang.plots.Figure`; drawing is
gradcli/draw.py's, at the edge. Nothing here prints or draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import numpy as np

from . import api
from .core import engine
from .core.tensor import MODE, Tensor, grad_mode, shape_str
from .errors import DataError, EvalError, GradcliError, LimitError, NumericError, ShapeError
from .lang import ast as A
from .lang.environment import MISSING
from .lang.interpreter import Hooks, Interpreter
from .lang.parser import parse_expression
from .lang.plots import Figure, Series
from .lang.values import to_tensor

DEFAULT_POINTS = 200
MAX_POINTS = 10_000
HALF_WIDTH = 5.0            # the default range: -5:5, or this much either side of the input
MARKED_ZEROS = 8            # zeros of f′ marked by vertical lines, at most
LISTED_ZEROS = 10           # and listed by value under the plot
REFINE_STEPS = 60           # runs spent locating one zero of f′, at most


class RangeProblem(ValueError):
    """A range that is not A:B with A < B (a usage error: the CLI exits 2)."""


def parse_range(text: str) -> tuple[float, float]:
    """`A:B` as two finite numbers, A below B."""
    low, colon, high = text.partition(":")
    try:
        span = (float(low), float(high)) if colon else None
    except ValueError:
        span = None
    if span is None or not all(math.isfinite(v) for v in span):
        raise RangeProblem(f"expected A:B, two numbers such as -3:3, got {text!r}")
    if span[0] >= span[1]:
        raise RangeProblem(f"the range goes from the smaller number to the larger, "
                           f"e.g. {_number(span[1])}:{_number(span[0])}, got {text!r}")
    return span


def default_range(value: float) -> tuple[float, float]:
    if -HALF_WIDTH <= value <= HALF_WIDTH:
        return -HALF_WIDTH, HALF_WIDTH
    return value - HALF_WIDTH, value + HALF_WIDTH


class Point(NamedTuple):
    f: float
    df: float
    d2f: float = math.nan


Evaluate = Callable[[float, bool], Point]     # (value of the variable, second?) -> Point


@dataclass
class Curve:
    name: str                       # the variable
    label: str                      # what the function is called: f, or --of's name
    x: np.ndarray
    f: np.ndarray
    df: np.ndarray
    d2f: Optional[np.ndarray]       # with --second
    zeros: list[float]              # where f′ crosses zero, in order
    failures: int = 0               # points where the program failed
    first_failure: Optional[str] = None

    @property
    def span(self) -> tuple[float, float]:
        return float(self.x[0]), float(self.x[-1])


# ---------------------------------------------------------------- sampling

def sample(evaluate: Evaluate, name: str, label: str, span: tuple[float, float],
           points: int = DEFAULT_POINTS, second: bool = False) -> Curve:
    """`evaluate` at `points` evenly spaced values over `span`; a point where
    the program fails is a gap (a limit or --detect-nan still ends it)."""
    xs = np.linspace(span[0], span[1], points)
    rows = np.full((points, 3), np.nan)
    failures, first = 0, None
    for i, v in enumerate(xs):
        try:
            rows[i] = evaluate(float(v), second)
        except (LimitError, NumericError):
            raise
        except GradcliError as exc:
            failures += 1
            first = first or f"at {name} = {_number(v)}: {exc.message}"
    if failures == points:
        raise EvalError(f"the program fails at every point of the range ({first})")
    zeros = zeros_of(xs, rows[:, 1], lambda v: _derivative(evaluate, v))
    return Curve(name, label, xs, rows[:, 0], rows[:, 1], rows[:, 2] if second else None,
                 zeros, failures, first)


def _derivative(evaluate: Evaluate, v: float) -> float:
    try:
        return evaluate(v, False).df
    except (LimitError, NumericError):
        raise
    except GradcliError:
        return math.nan


def zeros_of(xs: np.ndarray, df: np.ndarray, derivative: Callable[[float], float]) -> list[float]:
    """Where `df` (sampled at `xs`) changes sign between finite samples: the
    middle of a run of exact zeros, else located between the two samples
    by `derivative` (a few runs). A sign change where f′ grows past both
    samples in between is a pole (1/x²), not a zero, and is left out; a
    gap (a non-finite sample) is never crossed."""
    zeros: list[float] = []
    last = None                     # the last finite nonzero sample
    run = None                      # (first, last) index of exact zeros since then
    for i, d in enumerate(df):
        if not math.isfinite(d):
            last = run = None
        elif d == 0:
            run = (run[0] if run else i, i)
        else:
            if last is not None and (d > 0) != (df[last] > 0):
                if run is not None:
                    zeros.append(float((xs[run[0]] + xs[run[1]]) / 2))
                else:
                    found = _located(xs[last], df[last], xs[i], d, derivative)
                    if found is not None:
                        zeros.append(found)
            last, run = i, None
    return zeros


def _located(xa, da, xb, db, derivative) -> Optional[float]:
    """A zero of f′ between xa and xb (f′ of opposite signs there), by
    regula falsi with the Illinois step until the bracket is a 1e-10th of
    where it started (a few runs for a smooth f′, about 35 at a kink such as
    abs'), or None for a pole."""
    xa, da, xb, db = float(xa), float(da), float(xb), float(db)
    bound, width = max(abs(da), abs(db)), xb - xa
    side = 0
    for _ in range(REFINE_STEPS):
        xm = xb - db * (xb - xa) / (db - da)
        dm = derivative(xm)
        if not math.isfinite(dm) or abs(dm) > bound:
            return None
        if dm == 0:
            return xm
        if (dm > 0) == (db > 0):
            xb, db = xm, dm
            da = da / 2 if side == -1 else da
            side = -1
        else:
            xa, da = xm, dm
            db = db / 2 if side == 1 else db
            side = 1
        if xb - xa <= 1e-10 * width:
            break
    return xb - db * (xb - xa) / (db - da)


# ---------------------------------------------------------------- programs

def program_curve(program: A.Program, inputs=None, options: api.Options | None = None,
                  wrt=None, of=None, span=None, points: int = DEFAULT_POINTS,
                  second: bool = False) -> Curve:
    """The program's result as a function of one single-number input (the
    only one, or `wrt`), the other inputs at their values."""
    options = options or api.Options()
    inputs = dict(inputs or {})
    ends_in_value = bool(program.body) and type(program.body[-1]) is A.ExprStmt
    if of is None and not ends_in_value and not A.calls_backward(program):
        _check_result(None)
    name, shape, value = _variable(program, inputs, options, wrt)
    result = api.gradient(program, inputs, options, [name], of).value
    _check_result(result)

    def evaluate(v: float, second: bool) -> Point:
        at = {**inputs, name: np.full(shape, v)}
        ad = api.gradient(program, at, options, [name], of)
        f, df = _single(ad.value.value), _single(ad.grads[name])
        if not second:
            return Point(f, df)
        hessian = api.hessian(program, at, options, [name], of).hessians[name][name]
        return Point(f, df, _single(hessian))

    return sample(evaluate, name, of or "f", span or default_range(value), points, second)


def _variable(program, inputs, options, wrt) -> tuple[str, tuple, float]:
    """The input to vary, its shape (of one element) and its value."""
    values = api.input_values(program, inputs, options)
    if wrt:
        if len(wrt) > 1:
            raise DataError(f"plot varies one input, but --wrt names {_listed(wrt)}")
        name = wrt[0]
        if name not in values:
            raise DataError(f"--wrt: '{name}' is not an input of the program ({_listed(values)}); "
                            "plot varies an input, declared with `input` (or given with --set)")
    else:
        singles = [n for n, v in values.items() if v.size == 1 and v.dtype.kind == "f"]
        if len(singles) > 1:
            raise DataError(f"the program has {len(singles)} single-number inputs "
                            f"({_listed(singles)}): choose the one to vary with --wrt")
        if not singles and not values:
            raise DataError("plot draws the result as a function of one input, and the program "
                            "has none: declare one, e.g. `input x = 0.5` (with -e, "
                            "--set x=0.5 gives one)")
        name = singles[0] if singles else next(iter(values))
    data = values[name]
    if data.dtype.kind != "f":
        kind = "booleans" if data.dtype.kind == "b" else "integers"
        raise DataError(f"plot varies a number, but input '{name}' holds {kind}")
    if data.size != 1:
        raise ShapeError(f"plot varies a single number, but input '{name}' has shape "
                         f"{shape_str(data.shape)}: give it one number (--set {name}=0.5), "
                         "or name a single-number input with --wrt")
    return name, data.shape, float(data.reshape(-1)[0])


def _check_result(result) -> None:
    value = None if result is None else np.asarray(result.value)
    if value is None or value.dtype.kind not in "biuf":
        raise EvalError("plot needs a result: end the program with the value to plot, or "
                        "name it with --of")
    if value.size != 1:
        raise ShapeError(f"plot draws a function whose value is a single number, but the "
                         f"result has shape {shape_str(value.shape)}: end the program with "
                         "one number (sum(...), y[0]) or name one with --of")


def _single(value) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def _listed(names) -> str:
    return ", ".join(f"'{n}'" for n in names) or "none"


def result_text(program: A.Program, source: str, limit: int = 60) -> Optional[str]:
    """The text of the program's last expression (what plot draws), when
    it is one line of at most `limit` characters: the figure's title."""
    if not program.body or type(program.body[-1]) is not A.ExprStmt:
        return None
    span = program.body[-1].span
    if span.line != span.end_line:
        return None
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if span.line > len(lines):
        return None
    text = lines[span.line - 1][span.column - 1:span.end_column - 1].strip()
    return text if 0 < len(text) <= limit else None


# ----------------------------------------------------------------- the REPL

def session_curve(session: api.Session, text: str, span=None, points: int = DEFAULT_POINTS,
                  second: bool = False) -> Curve:
    """An expression typed in the REPL as a function of its variable: the
    one name in it that the session does not define, else `x`. The other
    names keep their values; the variable's own is put back afterwards."""
    expression = parse_expression(text)
    name = free_variable(expression, session)
    interp = session.interp
    values = interp.globals.vars
    program = A.Program((A.ExprStmt(expression, expression.span),), expression.span)

    def evaluate(v: float, second: bool) -> Point:
        # A fresh interpreter over the session's scope, recording everywhere
        # (the session may be MXNet code, recording only in blocks), its
        # prints and plots going nowhere.
        runner = Interpreter(max_steps=interp.max_steps, hooks=Hooks(), record_everywhere=True)
        runner.globals = interp.globals
        leaf = Tensor(np.asarray(v, dtype=MODE.dtype)).attach_grad()
        saved = values.get(name, MISSING)
        values[name] = leaf
        try:
            with grad_mode(True):
                runner.run(program)
            return _derivatives(to_tensor(runner.last_value, "the expression"), leaf, second)
        finally:
            if saved is MISSING:
                values.pop(name, None)
            else:
                values[name] = saved

    at = values.get(name)
    value = _single(at.data) if isinstance(at, Tensor) and at.size == 1 else 0.0
    try:
        evaluate(value, False)      # an expression that cannot work fails here, as typed
        return sample(evaluate, name, "f", span or default_range(value), points, second)
    finally:
        MODE.nan_reports = []       # NaN at some points is what gaps are for


def free_variable(expression: A.Expr, session: api.Session) -> str:
    """The name `:plot` varies: the one name in the expression that is
    neither a session variable nor a built-in, else `x`."""
    bound = {p.name for node in A.walk(expression) if type(node) is A.Lambda
             for p in node.params}
    for node in A.walk(expression):
        if type(node) is A.CompFor:
            bound.update([node.target] if isinstance(node.target, str) else node.target)
    known = set(session.names()) | set(api.builtin_names()) | {"True", "False", "None"}
    used = list(dict.fromkeys(node.id for node in A.walk(expression) if type(node) is A.Name))
    free = [n for n in used if n not in known and n not in bound]
    if len(free) > 1:
        raise EvalError(f":plot varies one name, but {_listed(free)} are not defined: "
                        "give the others values first")
    if free:
        return free[0]
    if "x" in used:
        return "x"
    raise EvalError(":plot varies the one name of the expression that is not defined "
                    f"(or x), but every name in it has a value ({_listed(used)})")


def _derivatives(y: Tensor, leaf: Tensor, second: bool) -> Point:
    if y.size != 1:
        raise ShapeError(f"plot draws a function whose value is a single number, but the "
                         f"expression has shape {shape_str(y.shape)}")
    f = _single(y.data)
    if not y.requires_grad:
        return Point(f, 0.0, 0.0)
    (first,) = engine.run_backward([y], [None], inputs=[leaf], create_graph=second,
                                   retain_graph=second)
    df = 0.0 if first is None else _single(first.data)
    if not second:
        return Point(f, df)
    d2f = 0.0
    if first is not None and first.requires_grad:
        (again,) = engine.run_backward([first], [None], inputs=[leaf])
        d2f = 0.0 if again is None else _single(again.data)
    return Point(f, df, d2f)


# ----------------------------------------------------------------- figures

def figure(curve: Curve, title: Optional[str] = None) -> Figure:
    """What to draw: f, f′ (and f″) over the range, f′'s zeros as points
    on the x axis (and, when few, a vertical line through each), and notes
    saying where they are and what was left out."""
    x, f = curve.name, curve.label
    series = [Series("line", curve.x, curve.f, f"{f}({x})"),
              Series("line", curve.x, curve.df, f"{f}′({x})")]
    if curve.d2f is not None:
        series.append(Series("line", curve.x, curve.d2f, f"{f}″({x})"))
    zeros = np.array(curve.zeros, dtype=np.float64)
    if zeros.size:
        series.append(Series("scatter", zeros, np.zeros_like(zeros), f"{f}′({x}) = 0",
                             marker="zero"))
    vlines = list(curve.zeros) if len(curve.zeros) <= MARKED_ZEROS else []
    return Figure(series, title=title, xlabel=x, xlim=curve.span, hlines=[0.0],
                  vlines=vlines, notes=notes(curve))


def notes(curve: Curve) -> list[str]:
    x, f = curve.name, curve.label
    low, high = curve.span
    if curve.zeros:
        shown = ", ".join(_number(z, curve.span) for z in curve.zeros[:LISTED_ZEROS])
        more = f" ... ({len(curve.zeros)} in all)" if len(curve.zeros) > LISTED_ZEROS else ""
        lines = [f"{f}′({x}) = 0 at {x} ≈ {shown}{more}"]
    else:
        lines = [f"{f}′({x}) does not cross 0 between {_number(low)} and {_number(high)}"]
    points = len(curve.x)
    gaps = []
    for name, values in ((f"{f}({x})", curve.f), (f"{f}′({x})", curve.df),
                         (f"{f}″({x})", curve.d2f)):
        missing = 0 if values is None else int(np.sum(~np.isfinite(values))) - curve.failures
        if missing:
            gaps.append(f"{name} at {missing} of {points} points")
    if gaps:
        lines.append("not finite (gaps): " + ", ".join(gaps))
    if curve.failures:
        lines.append(f"the program failed at {curve.failures} of {points} points (gaps), "
                     f"first {curve.first_failure}")
    return lines


def _number(value, span: Optional[tuple[float, float]] = None) -> str:
    """A number as a person reads it off a plot: 4 significant digits, and
    0 for what is 0 to within a millionth of the range."""
    value = float(value)
    if span is not None and abs(value) <= 1e-6 * (span[1] - span[0]):
        return "0"
    text = f"{value:.4g}"
    return "0" if text == "-0" else text
