"""`check --expect NAME=EXPR`: a hand-derived gradient against autodiff.

EXPR is written in the language, in the program's own variables, and is
evaluated after the program has run, in its final global scope, without
recording. It must equal the autodiff gradient of the result (as `grad`
computes it: sum(result), or head · result) with respect to NAME. With
`random` > 0 the comparison is repeated at that many further points, every
floating-point input drawn afresh around its given value, so that a formula
which only agrees where the given inputs are special (a symmetric matrix, a
zero) is caught.

The verdict is decided here, once, per element (`|expected - autodiff| >
atol + rtol * max(|expected|, |autodiff|)` fails); render and the CLI show it.
Errors in a formula point into its own text: `--expect:1:COL`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from . import api
from .core.tensor import Tensor, grad_mode, shape_str
from .errors import DataError, GradcliError, NumericError, ShapeError, Span
from .lang import ast as A
from .lang.parser import parse_expression
from .lang.suggest import hint
from .lang.values import a_type, to_tensor

ORIGIN = "--expect"          # what error reports call a formula's text

# Each redrawn input is x + SPREAD * rms(x) * N(0, 1), elementwise. Around
# the given value, not from scratch, so that a well-conditioned matrix stays
# invertible and positive numbers mostly stay positive (log, sqrt); a fifth
# of the value's scale is still far more than any tolerance, so a symmetric
# matrix comes out plainly non-symmetric and an input at 0 (rms 0: a scale
# of 1) moves well off it.
SPREAD = 0.2
# A draw where the program's result is not finite (outside the function's
# domain: log of a negative number) is drawn again, this many times at most.
DRAWS_PER_POINT = 20
# Mixed with --seed, so that the draws are not the numbers the program's own
# randn() gets from the same seed.
_STREAM = 0x657870656374     # "expect"


class UsageProblem(ValueError):
    """An --expect argument that is not NAME=EXPR (a usage error, not the
    program's: the CLI exits 2)."""


@dataclass(frozen=True)
class Expectation:
    """One `--expect NAME=EXPR`: the argument as typed, and its formula."""

    name: str
    argument: str               # `NAME=EXPR` as given: what error reports show
    name_span: Span             # where NAME stands in the argument
    offset: int                 # characters before EXPR on the argument's first line
    formula: A.Expr

    @property
    def program(self) -> A.Program:
        return A.Program((A.ExprStmt(self.formula, self.formula.span),), self.formula.span)


def names(arguments: list[str]) -> list[str]:
    """The NAME of each `NAME=EXPR` argument. Raises UsageProblem for one
    that is not of that form, or a NAME given twice."""
    seen: list[str] = []
    for argument in arguments:
        name = _split(argument)[0]
        if name in seen:
            raise UsageProblem(f"'{name}' is given twice")
        seen.append(name)
    return seen


def parse(argument: str) -> Expectation:
    """`NAME=EXPR` as an Expectation. Raises UsageProblem when it is not of
    that form, SyntaxProblem (located in the argument) when EXPR does not
    parse as one expression."""
    name, name_span, text, offset = _split(argument)
    try:
        formula = parse_expression(text)
    except GradcliError as exc:
        raise _in_argument(exc, argument, _shifted(exc.span, offset)) from None
    return Expectation(name, argument, name_span, offset, formula)


def _split(argument: str) -> tuple[str, Span, str, int]:
    """NAME, where it stands, EXPR, and how many characters precede EXPR."""
    before, equals, rest = argument.partition("=")
    name = before.strip()
    text = rest.lstrip(" \t")
    if not equals or not name.isidentifier():
        raise UsageProblem(f"expected NAME=EXPR, got {argument!r}")
    if not text.strip():
        raise UsageProblem(f"expected NAME=EXPR, got {argument!r} (no formula after '=')")
    start = len(before) - len(before.lstrip()) + 1
    return name, Span(1, start, 1, start + len(name)), text, len(argument) - len(text)


def _shifted(span: Optional[Span], offset: int) -> Optional[Span]:
    """A span in EXPR's text as a span in the whole argument's."""
    if span is None or span.line != 1:
        return span
    return replace(span, column=span.column + offset,
                   end_column=span.end_column + (offset if span.end_line == 1 else 0))


def _in_argument(exc: GradcliError, argument: str, span: Optional[Span]) -> GradcliError:
    """`exc` pointing at `span` of the argument: its report reads
    `--expect:LINE:COL: error: ...`, then the argument's line and a caret."""
    lines = argument.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    exc.span = span
    exc.origin = ORIGIN
    exc.line_text = lines[span.line - 1] if span is not None and span.line <= len(lines) else None
    return exc


def _in_formula(exc: GradcliError, expectation: Expectation) -> GradcliError:
    """`exc`, raised while evaluating the formula, at its place in it (the
    whole formula where it has none)."""
    span = _shifted(exc.span or expectation.formula.span, expectation.offset)
    return _in_argument(exc, expectation.argument, span)


# ------------------------------------------------------------------- result

@dataclass
class ExpectResult:
    ok: bool                            # every expectation's ok
    expect: dict[str, dict]             # name -> ok, max_abs_err, max_rel_err, points, worst
    rtol: float
    atol: float
    points: int                         # 1 + the random points


@dataclass
class _Tally:
    """One NAME's comparison so far, over the points checked."""

    points: int = 0
    ok: bool = True
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    worst: Optional[dict] = None        # index, expected, autodiff, point
    # The worst element's error as a multiple of its tolerance: the one
    # furthest past it, or, where all pass, nearest to it.
    badness: float = -1.0

    def add(self, point: int, expected: np.ndarray, autodiff: np.ndarray,
            rtol: float, atol: float) -> None:
        self.points += 1
        if autodiff.size == 0:
            return
        err, scale = _errors(expected, autodiff)
        allowed = atol + rtol * scale
        finite = np.isfinite(err)
        self.ok = self.ok and bool(np.all(finite & (err <= allowed)))
        self.max_abs_err = max(self.max_abs_err, float(np.max(np.where(finite, err, np.inf))))
        rel = np.divide(err, scale, out=np.zeros_like(err), where=scale > 0)
        self.max_rel_err = max(self.max_rel_err, float(np.max(np.where(finite, rel, np.inf))))
        badness = _badness(err, allowed)
        flat = int(np.argmax(badness))
        if badness[flat] > self.badness:
            self.badness = float(badness[flat])
            self.worst = {"index": [int(i) for i in np.unravel_index(flat, autodiff.shape)],
                          "expected": float(expected.flat[flat]),
                          "autodiff": float(autodiff.flat[flat]), "point": point}

    def row(self) -> dict:
        return {"ok": self.ok, "max_abs_err": self.max_abs_err,
                "max_rel_err": self.max_rel_err, "points": self.points, "worst": self.worst}


def _errors(expected: np.ndarray, autodiff: np.ndarray):
    """Elementwise |expected - autodiff| (0 where they are equal, the same
    infinity included) and max(|expected|, |autodiff|), both flat."""
    e, a = expected.ravel(), autodiff.ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(e == a, 0.0, np.abs(e - a))
    return err, np.maximum(np.abs(e), np.abs(a))


def _badness(err: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """err / allowed; infinite where the error is not finite, or where
    nothing is allowed (rtol = atol = 0) and there is an error."""
    out = np.where(err > 0, np.inf, 0.0)
    np.divide(err, allowed, out=out, where=(allowed > 0) & np.isfinite(err))
    return out


# ------------------------------------------------------------------- check

def check(program: A.Program, expectations: list[Expectation], inputs=None,
          options: api.Options | None = None, of=None, head=None,
          rtol: float | None = None, atol: float | None = None,
          random: int = 0) -> ExpectResult:
    """Each expectation's formula against autodiff at the given inputs, then
    at `random` points drawn around them (seeded by `options.seed`)."""
    options = options or api.Options()
    rtol, atol = api.check_tolerances(options.dtype, rtol, atol)
    comparison = _Comparison(program, expectations, options, of, head)
    tallies = {e.name: _Tally() for e in expectations}
    for point, compared in enumerate(_points(comparison, inputs or {}, random)):
        for name, (expected, autodiff) in compared.items():
            tallies[name].add(point, expected, autodiff, rtol, atol)
    rows = {name: tally.row() for name, tally in tallies.items()}
    return ExpectResult(all(row["ok"] for row in rows.values()), rows, rtol, atol, 1 + random)


@dataclass
class _Comparison:
    """How each point is compared: the program, its formulas, the run's options."""

    program: A.Program
    expectations: list[Expectation]
    options: api.Options
    of: Optional[str]
    head: object

    def at(self, inputs) -> tuple[dict, bool]:
        """{name: (formula's value, autodiff gradient)} at one point, float64
        arrays of the gradient's shape; and whether the result is finite there."""
        expected: dict[str, Tensor] = {}

        def evaluate(interp):
            for e in self.expectations:
                expected[e.name] = _formula_value(interp, e)

        names = [e.name for e in self.expectations]
        ad = api.gradient(self.program, inputs, self.options, names, self.of, self.head,
                          after_run=evaluate)
        compared = {e.name: _same_shape(e, expected[e.name], ad.grads[e.name])
                    for e in self.expectations}
        value = None if ad.value is None else ad.value.value
        return compared, value is None or bool(np.all(np.isfinite(value)))


def _points(comparison: _Comparison, inputs: dict, random: int):
    """Per point, {name: (expected, autodiff)}: first at the given inputs,
    then at each random point."""
    yield comparison.at(inputs)[0]
    if random == 0:
        return
    draw = _Draws(api.input_values(comparison.program, inputs, comparison.options),
                  comparison.options.seed)
    for point in range(1, random + 1):
        yield _at_random_point(comparison, inputs, draw, point)


def _at_random_point(comparison: _Comparison, inputs: dict, draw: "_Draws", point: int):
    """The comparison at random point `point`, drawn again while the
    program's result there is not finite (outside the function's domain)."""
    for _ in range(DRAWS_PER_POINT):
        try:
            compared, finite = comparison.at({**inputs, **draw()})
        except NumericError:            # --detect-nan: not finite either
            continue
        except GradcliError as exc:
            raise _at_point(exc, point) from None
        if finite:
            return compared
    raise DataError(f"--random: no draw around the given inputs gave a finite result "
                    f"({DRAWS_PER_POINT} tries for random point {point})")


def _at_point(exc: GradcliError, point: int) -> GradcliError:
    exc.message = f"{exc.message} (at random point {point} of --random)"
    exc.args = (exc.message,)
    return exc


def _formula_value(interp, expectation: Expectation) -> Tensor:
    """The formula's value in the program's final scope, not recorded."""
    name = expectation.name
    variables = interp.globals.vars
    if name not in variables:
        raise _in_argument(DataError(f"the program has no variable '{name}' to differentiate "
                                     f"by{hint(name, variables)}"),
                           expectation.argument, expectation.name_span)
    if not isinstance(variables[name], Tensor):
        raise _in_argument(DataError(f"'{name}' is {a_type(variables[name])}, not an array: "
                                     "there is no gradient by it"),
                           expectation.argument, expectation.name_span)
    try:
        with grad_mode(False):
            interp.run(expectation.program)
        return to_tensor(interp.last_value, "the formula")
    except GradcliError as exc:
        raise _in_formula(exc, expectation) from None


def _same_shape(expectation: Expectation, value: Tensor, grad) -> tuple:
    """(expected, autodiff) as float64 arrays of the gradient's shape. The
    shapes must match exactly; only one number against one number may
    differ in shape (0-d and (1,) alike): a formula never broadcasts."""
    expected = np.asarray(value.data, dtype=np.float64)
    autodiff = np.asarray(grad, dtype=np.float64)
    if expected.shape != autodiff.shape:
        if expected.size != 1 or autodiff.size != 1:
            raise _in_formula(ShapeError(
                f"the formula has shape {shape_str(expected.shape)}, but the gradient by "
                f"'{expectation.name}' has {expectation.name}'s shape, "
                f"{shape_str(autodiff.shape)}"), expectation)
        expected = expected.reshape(autodiff.shape)
    return expected, autodiff


# ------------------------------------------------------------------- draws

@dataclass
class _Draws:
    """The random points: each call draws every floating-point input anew,
    around its given value. Integer and boolean inputs (index arrays, masks)
    are left out, so the program makes them again as it did."""

    base: dict[str, np.ndarray]
    seed: int
    rng: np.random.Generator = field(init=False)

    def __post_init__(self):
        self.rng = np.random.default_rng([_STREAM, self.seed])

    def __call__(self) -> dict[str, np.ndarray]:
        return {name: self._around(x) for name, x in self.base.items() if x.dtype.kind == "f"}

    def _around(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        with np.errstate(all="ignore"):
            rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
        scale = rms if np.isfinite(rms) and rms > 0 else 1.0
        return x + SPREAD * scale * self.rng.standard_normal(x.shape)
