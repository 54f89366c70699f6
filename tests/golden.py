"""Golden programs: `.ag` files that carry their expected output in comments.

The convention (after Crafting Interpreters' test suite, where every test is a
small program with `// expect: ...` beside the code):

    print(x.grad)            # expect: [[6, 24], [54, 96]]
    y = x + [1, 2, 3]        # expect error: 3:5 '+': shapes (2,) and (3,) do not broadcast together

- `# expect: TEXT` is one line of output: one `print(...)` call (or the value
  of a final expression statement, which `gradcli eval` shows too), its
  values separated by one space, each written as `eval --json` reports it
  and Python prints it: arrays as nested lists (`[[6, 24], [54, 96]]`),
  whole numbers without `.0`, `True`/`False`/`None`, strings bare. The
  program's output must be exactly its `# expect:` lines, in file order: a
  line missing, a line too many or a line different fails.
- Numbers are compared as numbers, the rest of the line as text: within
  `rtol=1e-12, atol=1e-12` in float64, `rtol=1e-5, atol=1e-6` in float32
  (the same program, the same expect lines, run with `--dtype float32`).
  A line ending in `± TOL` allows an absolute error of TOL on every number
  in it (a trained weight, a loss that only has to be small).
- `# expect error: LINE:COL MESSAGE`: the run stops with that error, its
  span starting at LINE:COL (1-based), its message exactly MESSAGE (what
  `gradcli eval` prints as `FILE:LINE:COL: error: MESSAGE`, exit 1). Output
  before the error is checked as above. At most one per program.
- `# expect warning: MESSAGE`: the run reports that warning (what `gradcli`
  prints as `gradcli: warning: MESSAGE`); a run that warns must expect each
  of its warnings, in order.
- `# dtypes: float64` on a line of its own runs the program in float64 only
  (its numbers cannot hold in float32; say why next to it).
- `# xfail: REASON` on a line of its own: gradcli is known to get this
  program wrong (the expect lines hold the right answer); the test is an
  xfail, strict, so it fails as soon as gradcli gets it right.

`check(path, dtype)` runs one program through `gradcli.api` and returns the
list of mismatches (empty: it passed); `test_golden.py` runs it over
`samples/*.ag` and `tests/programs/**/*.ag`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradcli import api
from gradcli.errors import GradcliError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
PROGRAMS = Path(__file__).resolve().parent / "programs"

TOLERANCE = {"float64": (1e-12, 1e-12), "float32": (1e-5, 1e-6)}   # (rtol, atol)

_EXPECT = re.compile(r"#\s*expect:\s?(?P<text>.*?)\s*$")
_ERROR = re.compile(r"#\s*expect error:\s*(?P<line>\d+):(?P<col>\d+)\s+(?P<message>.*?)\s*$")
_WARNING = re.compile(r"#\s*expect warning:\s*(?P<message>.*?)\s*$")
_DTYPES = re.compile(r"^\s*#\s*dtypes:\s*(?P<names>[\w ,]+?)\s*$")
_XFAIL = re.compile(r"^\s*#\s*xfail:\s*(?P<reason>.+?)\s*$")
_PLUS_MINUS = re.compile(r"\s*±\s*(?P<tol>\S+)$")
# A number standing alone (not part of a name such as x1 or float32).
_NUMBER = re.compile(r"(?<![\w.])(?:[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
                     r"|-?inf|nan)(?![\w.])")


@dataclass
class Line:
    text: str           # expected text, without its `± TOL`
    number: int         # where the expectation stands in the file
    tol: float | None = None


@dataclass
class Expectations:
    output: list[Line] = field(default_factory=list)
    error: tuple[int, int, str, int] | None = None      # line, col, message, where
    warnings: list[Line] = field(default_factory=list)
    dtypes: tuple[str, ...] = ("float64", "float32")
    xfail: str | None = None

    @property
    def count(self) -> int:
        return len(self.output) + len(self.warnings) + (self.error is not None)


def expectations(source: str) -> Expectations:
    found = Expectations()
    for number, line in enumerate(source.splitlines(), 1):
        if m := _ERROR.search(line):
            if found.error is not None:
                raise ValueError(f"line {number}: a second `# expect error:`")
            found.error = (int(m["line"]), int(m["col"]), m["message"], number)
        elif m := _WARNING.search(line):
            found.warnings.append(Line(m["message"], number))
        elif m := _EXPECT.search(line):
            text, tol = m["text"], None
            if t := _PLUS_MINUS.search(text):
                text, tol = text[:t.start()], float(t["tol"])
            found.output.append(Line(text, number, tol))
        elif m := _DTYPES.match(line):
            found.dtypes = tuple(n for n in re.split(r"[\s,]+", m["names"]) if n)
        elif m := _XFAIL.match(line):
            found.xfail = m["reason"]
    return found


# ------------------------------------------------------------ printed text

def number_text(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if math.isfinite(v) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    if isinstance(value, np.float32):
        return str(value)          # numpy's shortest repr for float32: 1.2, not 1.2000000476837158
    return repr(v)


def _nested(a: np.ndarray) -> str:
    if a.ndim == 0:
        return number_text(a[()])
    return "[" + ", ".join(_nested(item) for item in a) + "]"


def value_text(value) -> str:
    if isinstance(value, np.ndarray):
        return _nested(value)
    if isinstance(value, (bool, int, float, np.generic)):
        return number_text(value)
    if isinstance(value, (tuple, list)):      # of values not yet snapshotted
        inner = ", ".join(value_text(api.snapshot(v).value) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return str(value)


def line_text(shown: list[api.Shown]) -> str:
    return " ".join(value_text(s.value) for s in shown)


def same(expected: str, actual: str, rtol: float, atol: float) -> bool:
    """Equal text between the numbers, and each number within tolerance."""
    if _NUMBER.sub("#", expected) != _NUMBER.sub("#", actual):
        return False
    for e, a in zip(_NUMBER.findall(expected), _NUMBER.findall(actual)):
        e, a = float(e), float(a)
        if math.isnan(e) or math.isnan(a):
            if not (math.isnan(e) and math.isnan(a)):
                return False
        elif math.isinf(e) or math.isinf(a):
            if e != a:
                return False
        elif abs(a - e) > atol + rtol * abs(e):
            return False
    return True


# ----------------------------------------------------------------- running

@dataclass
class Outcome:
    output: list[str]
    warnings: list[str]
    error: GradcliError | None


def run(source: str, dtype: str) -> Outcome:
    output: list[str] = []
    pending: list[str] = []     # text of prints whose `end` left the line open

    def printed(shown):
        sep, end = getattr(shown, "sep", " "), getattr(shown, "end", "\n")
        text = "".join(pending) + sep.join(value_text(s.value) for s in shown) + end
        *lines, rest = text.split("\n")
        output.extend(lines)
        pending[:] = [rest] if rest else []

    options = api.Options(dtype=dtype, max_steps=200_000, max_elements=1_000_000,
                          max_memory=256 * 2 ** 20, timeout=20)
    try:
        program = api.load(source)
        result = api.run(program, options=options, on_print=printed)
    except GradcliError as exc:
        output.extend(pending)
        return Outcome(output, [], exc)
    output.extend(pending)
    if result.result is not None:
        output.append(line_text([result.result]))
    return Outcome(output, result.warnings, None)


def check(path: Path, dtype: str) -> list[str]:
    """Every way the program's run differs from its expect lines."""
    source = path.read_text(encoding="utf-8")
    expected = expectations(source)
    outcome = run(source, dtype)
    rtol, atol = TOLERANCE[dtype]
    problems = []
    for i, line in enumerate(expected.output):
        if i >= len(outcome.output):
            problems.append(f"line {line.number}: missing output, expected {line.text!r}")
            continue
        tol = (rtol, max(atol, line.tol)) if line.tol is not None else (rtol, atol)
        if not same(line.text, outcome.output[i], *tol):
            problems.append(f"line {line.number}: expected {line.text!r}, got {outcome.output[i]!r}")
    for extra in outcome.output[len(expected.output):]:
        problems.append(f"unexpected output {extra!r}")
    wanted = [w.text for w in expected.warnings]
    if outcome.warnings != wanted:
        problems.append(f"warnings {outcome.warnings!r}, expected {wanted!r}")
    error = outcome.error
    if expected.error is not None:
        line, col, message, number = expected.error
        if error is None:
            problems.append(f"line {number}: expected error {line}:{col} {message!r}, the run succeeded")
        else:
            got = (error.span.line, error.span.column) if error.span else None
            if got != (line, col) or error.message != message:
                where = "no span" if got is None else f"{got[0]}:{got[1]}"
                problems.append(f"line {number}: expected error {line}:{col} {message!r}, "
                                f"got {where} {error.message!r}")
    elif error is not None:
        where = f"{error.span.line}:{error.span.column}" if error.span else "no span"
        problems.append(f"unexpected error {where} {type(error).__name__}: {error.message}")
    return problems


def programs() -> list[Path]:
    return sorted(SAMPLES.glob("*.ag")) + sorted(PROGRAMS.rglob("*.ag"))
