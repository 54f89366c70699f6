"""Whole `.ag` programs for differential fuzzing of gradients.

`cases()` is a hypothesis strategy of `Case`s: a program's source text, the
values of its inputs (also written into the source as `input x = ...`
defaults, so the source runs on its own) and perhaps a head gradient. The
programs are valid by construction: the generator tracks the shape of every
variable, so almost every example gets as far as a gradient.

`check_case(case)` runs one and compares, for every input:

  1. the first-order backward (`run_backward`, `retain_graph=True`),
  2. the recorded backward on the same graph (`create_graph=True`),
  3. the public path (`api.gradient`, a fresh run),
  4. the program rewritten to run its own backward (`Case.own_source`),
  5. central differences in float64 (the program re-run with one input
     element moved by +-h),

and also the tracked run's value against an untracked one, a float32 run,
`api.graph`, sometimes `api.check`, and a Hessian-vector product through
the recorded gradient against central differences of the first-order
gradient. A gradcli error (`GradcliError`) is an acceptable outcome and is
counted; any other exception, and any disagreement, raises `Finding` with
the whole program, its inputs and the gradients, ready to paste into a
regression test (`make_case` turns pasted source back into a case).

Finite differences lie near kinks (relu, abs, max, clip, a branch that
flips). Each central difference comes with both one-sided differences;
half their gap bounds the error a kink within the step can cause, and an
element is compared only where that bound is within the tolerance. The
elements skipped are counted in `Stats`, so the net cannot go blind
unnoticed.

Detached values. Autodiff treats `detach(E)` as a constant; central
differences of the program as written would not. A detached value is
therefore always bound at top level (`c1 = detach(E)`); the program the
differences run (`Case.fd_source`) declares it as an input instead
(`input c1 = detach(E)`) and is given the value from the unmoved run, so
both sides hold it fixed. `with no_grad:` blocks only add constants (built
from such frozen values) to tracked values, or write into untracked
buffers, which is what keeps them comparable with differences too.

Known bugs: a feature that one breaks is generated only once a probe in
`detect_flags()` sees it fixed (`FLAGS`; GRADCLI_FUZZ_<NAME>=1/0 forces it).
"""

from __future__ import annotations

import os
import re
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from hypothesis import strategies as st

from gradcli import api, forward_mode
from gradcli.core import engine
from gradcli.core.tensor import Tensor
from gradcli.errors import GradcliError, SyntaxProblem
from gradcli.lang.builtins import BUILTINS


# ------------------------------------------------------------------ flags

def _probe(source, expected, wrt=("x",)):
    """Does `source` now give the gradient `expected` for x? (Known bugs:
    a generator feature that hits one is switched on when its probe passes.)"""
    try:
        got = api.gradient(api.load(source), None, api.Options(), wrt=list(wrt)).grads["x"]
        return bool(np.allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=False))
    except Exception:       # noqa: BLE001 - a probe only asks "fixed yet?"
        return False


def _parses(source) -> bool:
    try:
        api.load(source)
        return True
    except Exception:       # noqa: BLE001
        return False


def _runs(source) -> bool:
    try:
        api.run(api.load(source))
        return True
    except Exception:       # noqa: BLE001
        return False


def _own_probe(source, expected):
    """Does a program running its own backward leave `expected` in x.grad?"""
    try:
        got = api.run(api.load(source)).grads["x"]
        return bool(np.allclose(got, expected, rtol=1e-12, atol=1e-12))
    except Exception:       # noqa: BLE001
        return False


def _comparisons_are_boolean():
    try:
        value = api.run(api.load("input x = [1.0, -1.0]\nx > 0")).result.value
        return np.asarray(value).dtype == np.bool_
    except Exception:       # noqa: BLE001
        return False


def _multi_output_ok():
    """run_backward with one output listed twice must add both heads."""
    from gradcli.core import ops
    try:
        x = Tensor(np.array(2.0))
        x.requires_grad = True
        y = ops.sin(ops.mul(x, x))
        (g,) = engine.run_backward([y, y], [None, None], inputs=[x])
        return g is not None and bool(np.isclose(float(g.data), 2 * np.cos(4.0) * 4.0))
    except Exception:       # noqa: BLE001
        return False


def _float32_grads_ok():
    """In a float32 run gradients are float32 (finding F2: max/min are not)."""
    try:
        r = api.gradient(api.load("input x = [0.5, 1.5]\nmax(x) + min(x, axis=0)"), None,
                         api.Options(dtype="float32"))
        return r.grads["x"].dtype == np.float32
    except Exception:       # noqa: BLE001
        return False


def _env_flag(name, default):
    value = os.environ.get("GRADCLI_FUZZ_" + name.upper())
    if value is None:
        return default
    return value.strip().lower() not in ("0", "", "no", "off", "false")


def detect_flags() -> dict:
    """Which optional features to generate. Each one that a known bug
    breaks is enabled as soon as a probe shows the bug fixed; the
    environment (GRADCLI_FUZZ_<NAME>=1/0) overrides either way."""
    flags = {
        # (3) masks act as 0/1 index arrays until comparisons give booleans
        "masks": _comparisons_are_boolean(),
        # (1) array([...]) of tracked values cuts the graph
        "array_of_tracked": _probe("input x = 1.5\nsum(array([x, 2 * x]))", 3.0),
        # (5) % has no gradient yet
        "mod": _probe("input x = 2.5\nx % 2", 1.0),
        # (6) for row in matrix crashes
        "for_rows": _probe("input x = [[1.0, 2.0], [3.0, 4.0]]\ns = 0\n"
                           "for row in x:\n    s = s + row * row\ns",
                           [[2.0, 4.0], [6.0, 8.0]]),
        # (8) a positional axis of stack / concat is misread
        "positional_axis": _probe("input x = [1.0, 2.0]\nsum(stack((x, 2 * x), 1)[:, 1])",
                                  [2.0, 2.0]),
        # (9) d = a * 1.0; d += 3 * d raises a spurious in-place error
        "self_aug": _probe("input x = [1.0, 2.0]\nd = x * 1.0\nd += 3 * d\nd", [4.0, 4.0]),
        # (10) negative permute axes are refused
        "negative_permute": _probe("input x = [[1.0, 2.0], [3.0, 4.0]]\n"
                                   "permute(x, -1, -2) * x", [[2.0, 6.0], [4.0, 8.0]]),
        # (2) linspace with tracked endpoints
        "linspace": _probe("input x = 1.5\nsum(linspace(0, x, 3))", 1.5),
        # language the spec lists that the parser may not know yet
        "comprehension": _probe("input x = [1.0, 2.0]\nsum([t * t for t in [x, 2 * x]])",
                                [10.0, 20.0]),
        "ellipsis": _probe("input x = [[1.0, 2.0], [3.0, 4.0]]\nx[..., 0]",
                           [[1.0, 0.0], [1.0, 0.0]]),
        "triple_quotes": _parses('"""A docstring."""\nx = 1\n'),
        "print_sep": _runs("print(1, 2, sep=' ', end='')\n"),
        "fstrings": _runs("x = 2.0\nprint(f'loss {float(x):f}')\n"),
        # second-order check: a Hessian-vector product through create_graph
        "hvp": True,
        # ... also computed by one run_backward over all the gradients at
        # once (finding F1: an output listed twice loses its graph)
        "multi_output": _multi_output_ok(),
        # (F3) a write with a repeated index array while recording
        "repeated_write": _probe("input x = [1.0, 2.0]\ny = x * 1\ny[[0, 0]] = x * 5\n"
                                 "y * [1.0, 0.0]", [0.0, 5.0]),
        # (F4) x.requires_grad_() accumulates across backward calls (PyTorch)
        "requires_grad_adds": _own_probe("x = [2.0]\nx.requires_grad_()\nout = x * x\n"
                                         "out.backward(retain_graph=True)\nout.backward()\n",
                                         [8.0]),
        # a float32 run must give float32 gradients (values are compared anyway)
        "float32_dtype": _float32_grads_ok(),
    }
    return {name: _env_flag(name, on) for name, on in flags.items()}


FLAGS = detect_flags()

# Built-ins the spec lists that may not exist yet: used once they do.
HAVE = set(BUILTINS)


# ------------------------------------------------------------------ shapes

def n_ok(shape) -> bool:
    """A vector long enough for linspace to have two ends."""
    return len(shape) == 1 and shape[0] >= 2


def numel(shape) -> int:
    return int(np.prod(shape)) if shape else 1


def broadcast(a, b):
    return tuple(np.broadcast_shapes(a, b))


def broadcasts_to(small, big) -> bool:
    if len(small) > len(big):
        return False
    try:
        return broadcast(small, big) == tuple(big)
    except ValueError:
        return False


def shape_code(shape) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


SHAPES = [(), (2,), (3,), (2, 3), (2, 2), (1,), (3, 2), (1, 3), (3, 1), (3, 3), (2, 1)]
# Now and then a value is big: the core switches strategy at 4096 elements
# (repeated-number gradients, in-place multiplies). Inputs stay small.
BIG = [(65, 64), (4160,), (64, 65)]
ALL_SHAPES = SHAPES + BIG
INPUT_SHAPES = [(), (2,), (2, 2), (3,), (1,), (2, 3), (3, 2), (1, 3), (3, 1)]
# Inputs sit off the lattice of constants (multiples of 1/4), so that
# `x - 0.5`, `maximum(x, 0.25)`... are not exactly at their kink.
OFFSETS = [0.0137, 0.0291, 0.0419, 0.0563, 0.0711, 0.0853, 0.0977, 0.1129, 0.1273]
CONSTANTS = ["2", "0.5", "3", "0.25", "1.5", "(-1)", "(-0.5)", "0.75", "4", "(-2)"]


def atomic(code: str) -> str:
    """`code` ready for a method or an index after it (`2.sum()` would not parse)."""
    return f"({code})" if re.fullmatch(r"[\d.]+", code) else code


def literal(value) -> str:
    """Source text for a number or nested list (exact: 4 decimals at most)."""
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    text = f"{float(value):.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


# ------------------------------------------------------------------ cases

@dataclass
class Case:
    source: str                   # the program under test
    fd_source: str                # the same, frozen values declared as inputs
    inputs: dict                  # input name -> np.ndarray (float64)
    head: Optional[np.ndarray]    # head gradient, or None for sum(result)
    frozen: list                  # names bound by `cK = detach(...)`
    features: frozenset = frozenset()
    style: int = 0                # spelling of own_source (attach_grad, record...)
    run_check: bool = False       # also run api.check (what `gradcli check` prints)

    @property
    def own_source(self) -> str:
        """The program running its own backward (attach_grad, then
        `out.backward(head)`): api.gradient reports what it left in .grad.
        `style` picks the spelling: attach_grad(x) / x.attach_grad() /
        attach_grad(x, grad_req="add") / x.requires_grad_(); plain or inside
        `with record:`; out.backward(h) or backward(out, h); once, or twice
        (the first with retain_graph=True), which doubles an accumulating
        gradient (`own_factor`)."""
        lines = self.source.rstrip("\n").split("\n")
        n_in = 0
        while n_in < len(lines) and lines[n_in].startswith("input "):
            n_in += 1
        mark = self.style % 4
        marks = [(f"attach_grad({n})", f"{n}.attach_grad()", f'attach_grad({n}, grad_req="add")',
                  f"{n}.requires_grad_()")[mark] for n in self.inputs]
        body = lines[n_in:-1] + [f"out = {lines[-1]}"]
        # MXNet: inside `with record:`. Always so for a program that uses
        # record itself: such code records only inside record blocks (SPEC
        # 2.1), where the references record the whole run (F8).
        if self.style // 4 % 2 or "record" in self.features:
            body = ["with record:"] + ["    " + line for line in body]
        head = "" if self.head is None else literal(self.head.tolist())
        method = self.style // 8 % 2 == 0

        def call(retain):
            args = [head] if head else []
            if retain:
                args.append("retain_graph=True")
            if method:
                return f"out.backward({', '.join(args)})"
            return f"backward({', '.join(['out'] + args)})"
        calls = [call(True), call(False)] if self.twice else [call(False)]
        return "\n".join(lines[:n_in] + marks + body + calls) + "\n"


    @property
    def undeclared(self) -> bool:
        """The public path gets the inputs as values, the `input` lines gone."""
        return self.style // 32 % 2 == 1

    @property
    def in_session(self) -> bool:
        """own_source runs in a REPL session, one top-level statement at a time."""
        return self.style // 64 % 2 == 1

    @property
    def undeclared_source(self) -> str:
        lines = self.source.split("\n")
        return "\n".join(line for line in lines if not line.startswith("input "))

    def chunks(self, source: str) -> list:
        """`source` cut into top-level statements (what a REPL user types)."""
        out = []
        for line in source.rstrip("\n").split("\n"):
            if out and (line[:1].isspace() or line.startswith(("else:", "elif "))):
                out[-1] += "\n" + line
            else:
                out.append(line)
        return [chunk + "\n" for chunk in out]

    @property
    def twice(self) -> bool:
        return self.style // 16 % 2 == 1

    @property
    def own_factor(self) -> float:
        """What own_source's .grad is, in gradients of the result."""
        accumulates = self.style % 4 == 2 or (self.style % 4 == 3
                                              and FLAGS.get("requires_grad_adds"))
        return 2.0 if self.twice and accumulates else 1.0

    def describe(self) -> str:
        parts = ["program:", self.source.rstrip()]
        if self.fd_source != self.source:
            parts += ["finite differences ran (frozen values as inputs):",
                      self.fd_source.rstrip()]
        parts.append("inputs: " + ", ".join(
            f"{n}={_short(v)}" for n, v in self.inputs.items()))
        if self.head is not None:
            parts.append(f"head: {_short(self.head)}")
        return "\n".join(parts)


def _short(a) -> str:
    return np.array2string(np.asarray(a), precision=17, separator=", ",
                           max_line_width=10_000).replace("\n", "")


BLOCK_WORDS = {"if", "elif", "else:", "while", "for", "def", "return", "with", "input",
               "break", "continue", "pass"}
ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*)(\[.*?\])? ([-+*/]?=) (.*)$")
IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")


@dataclass
class Var:
    name: str
    shape: tuple
    kind: str           # input | tracked | frozen | buffer
    uses: int = 0


@dataclass
class Func:
    name: str
    kind: str           # ew (a, b) -> shape(a) | scalar (a) -> () | rec (a, n) | lam (t)
    default_b: bool = False


class Gen:
    """Builds one program from hypothesis draws. Every choice is an integer
    draw whose 0 is the simplest option, so shrinking simplifies."""

    def __init__(self, draw, flags):
        self.draw = draw
        self.flags = flags
        self.vars: list[Var] = []
        self.funcs: list[Func] = []
        self.lines: list[tuple[int, str, str]] = []   # indent, source, fd source
        self.count = Counter()
        self.features: set[str] = set()
        self.frozen: list[str] = []
        self.indent = 0
        self.dep: set[str] = set()          # names whose value depends on an input
        self.aliases: dict[str, set] = {}   # name -> other names of the same value

    # -------------------------------------------------------------- draws

    def int(self, lo, hi) -> int:
        return self.draw(st.integers(lo, hi)) if hi > lo else lo

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def chance(self, percent) -> bool:
        """True with about `percent`% probability; shrinks to False."""
        return self.int(0, 99) >= 100 - percent

    def weighted(self, options):
        """options: [(weight, value)]; shrinks toward the first."""
        options = [(w, v) for w, v in options if w > 0]
        total = sum(w for w, _ in options)
        k = self.int(0, total - 1)
        for w, v in options:
            if k < w:
                return v
            k -= w
        raise AssertionError("unreachable")

    def shape(self):
        """A shape for a new value: small, or now and then big."""
        if self.chance(6):
            self.feature("big")
            return self.pick(BIG)
        return self.pick(SHAPES)

    def fresh(self, prefix) -> str:
        self.count[prefix] += 1
        return f"{prefix}{self.count[prefix]}"

    def emit(self, text, fd_text=None):
        self.lines.append((self.indent, text, text if fd_text is None else fd_text))
        if fd_text is None:
            self.track_deps(text)

    def track_deps(self, text):
        """Which names hold values that depend on an input (differentiably):
        a target of an assignment whose right side names one. Inside a
        block a name only gains that mark (a branch not taken may be the
        one that set it)."""
        if text.split(" ", 1)[0] in BLOCK_WORDS:
            return
        m = ASSIGNMENT.match(text)
        if m is None:
            return
        targets = [t.strip() for t in m.group(1).split(",")]
        rhs = (m.group(2) or "") + m.group(4)
        if set(IDENTIFIER.findall(rhs)) & self.dep:
            self.dep.update(targets)
            for t in targets:       # an alias shares the value it names
                self.dep.update(self.aliases.get(t, ()))
        elif m.group(3) == "=" and not m.group(2) and self.indent == 0:
            self.dep.difference_update(targets)

    def feature(self, name):
        self.features.add(name)

    # -------------------------------------------------------------- leaves

    def usable(self, const_only=False):
        if const_only:
            return [v for v in self.vars if v.kind in ("frozen", "buffer")]
        return list(self.vars)

    def pick_var(self, const_only=False, shape=None):
        pool = self.usable(const_only)
        if shape is not None:
            pool = [v for v in pool if v.shape == shape]
        if not pool:
            return None
        # Prefer values not used yet, then inputs: keeps the graph connected.
        unused = [v for v in pool if v.uses == 0]
        if unused and self.int(0, 2) == 0:
            pool = unused
        var = self.pick(pool)
        var.uses += 1
        if var.uses == 3:
            self.feature("reuse")
        return var

    def const(self, shape) -> str:
        if shape == ():
            return self.pick(CONSTANTS)
        n = numel(shape)
        if n > 64:          # no literal of thousands of numbers
            dims = ", ".join(str(d) for d in shape)
            return self.pick([f"ones({dims})", f"(arange({n}).reshape({dims}) / {n})",
                              f"full({shape_code(shape)}, 0.75)",
                              f"linspace(-1, 1, {n}).reshape({dims})"])
        k = [self.int(-8, 8) for _ in range(numel(shape))]
        values = np.array([v / 4 for v in k]).reshape(shape)
        return literal(values.tolist())

    def leaf(self, shape, const_only=False) -> str:
        exact = self.pick_var(const_only, shape) if self.int(0, 3) else None
        if exact is not None:
            return exact.name
        var = self.pick_var(const_only)
        if var is None or self.int(0, 9) == 0:
            return self.const(shape)
        return self.fit(var.name, var.shape, shape)

    def fit(self, code, have, want) -> str:
        """An expression of shape `want` made from `code` of shape `have`."""
        code = atomic(code)
        if have == want:
            return code
        if want == ():
            self.feature("to_scalar")
            form = self.int(0, 4)
            if form == 1 and have:
                return f"{code}[{', '.join(str(self.int(0, d - 1)) for d in have)}]"
            if form == 2:
                return f"mean({code})"
            if form == 3:
                return f"{code}.sum()"
            if form == 4:
                self.feature("kink")
                return f"max({code})"
            return f"sum({code})"
        if have == ():
            self.feature("broadcast_0d")
            if self.int(0, 2) == 0:
                return f"broadcast_to({code}, {shape_code(want)})"
            return f"({code} * {self.const(want)})"
        if broadcasts_to(have, want):
            self.feature("broadcast")
            if have == (1,):
                self.feature("broadcast_1")
            if self.int(0, 2) == 0:
                return f"broadcast_to({code}, {shape_code(want)})"
            return f"({code} + {self.const(want)})"
        if numel(have) == numel(want) and self.int(0, 1):
            self.feature("reshape")
            if len(have) == 2 and have == want[::-1] and self.int(0, 1):
                return f"{code}.T"
            return f"{code}.reshape({', '.join(str(d) for d in want)})"
        if len(have) > len(want):
            form = self.int(0, 2)
            if form == 0:
                return self.fit(f"sum({code}, axis=0)", have[1:], want)
            if form == 1:
                self.feature("index")
                return self.fit(f"{code}[{self.int(0, have[0] - 1)}]", have[1:], want)
            return self.fit(f"mean({code}, axis={len(have) - 1})", have[:-1], want)
        if len(have) == len(want):
            # slice dims that are too long, reduce (keepdims) those too short
            items, now = [], []
            for h, w in zip(have, want):
                if h > w:
                    start = self.int(0, h - w)
                    items.append(f"{start}:{start + w}" if w > 1 or self.int(0, 1)
                                 else f"{start}:{start + 1}")
                    now.append(w)
                else:
                    items.append(":")
                    now.append(h)
            if any(i != ":" for i in items):
                self.feature("slice")
                code = f"{code}[{', '.join(items)}]"
            for axis, (h, w) in enumerate(zip(now, want)):
                if h != w and h != 1:
                    code = f"sum({code}, axis={axis}, keepdims=True)"
                    now[axis] = 1
            return self.fit(code, tuple(now), want)
        # fewer dims than wanted: fit the trailing dims, then broadcast
        tail = want[len(want) - len(have):]
        return self.fit(self.fit(code, have, tail), tail, want)

    # --------------------------------------------------------- expressions

    def expr(self, shape, depth, const_only=False) -> str:
        """An expression of exactly `shape`; `const_only`: from constants,
        frozen values and buffers only (for `with no_grad:`)."""
        if depth <= 0:
            return self.leaf(shape, const_only)
        r = len(shape)
        options = [
            (6, self.leaf),
            (7, self.unary),
            (9, self.binary),
            (4, self.kinked),
            (4, self.reduction),
            (3 if r >= 1 else 2, self.matmul),
            (2 if r >= 1 else 0, self.shape_op),
            (4, self.index),
            (4 if [f for f in self.funcs if f.kind != "pair"] and not const_only else 0,
             self.call),
            (2, self.stacked),
            (1, self.linalg),
            (2 if r >= 1 else 0, self.softmax),
            (1, self.where),
            (1, self.piecewise),
            (2, self.reuse),
        ]
        production = self.weighted(options)
        if production == self.leaf:
            return self.leaf(shape, const_only)
        return production(shape, depth - 1, const_only)

    def unary(self, shape, d, c) -> str:
        e = self.expr(shape, d, c)
        forms = [
            "sin({e})", "tanh({e})", "sigmoid({e})", "cos({e})", "exp(tanh({e}))",
            "({e} * {e2})", "(-{e})", "({e} / 2)", "(3 * {e})", "({e} ** 2)",
            "softplus({e})", "log(1 + {e} ** 2)", "sqrt(1 + {e} ** 2)", "({e} ** 3)",
            "log1p({e} ** 2)", "exp(sin({e}))", "((1 + {e} ** 2) ** (-0.5))",
            "pow(1 + {e} ** 2, 0.75)", "log(sigmoid({e}))", "{e}.tanh()",
            "{e}.sin()", "({e} - 1)", "(0.5 * {e})", "({e} / (1 + {e2} ** 2))",
            "clone({e})", "{e}.clone()", "copy({e})", "tan(0.5 * tanh({e}))",
            "power(1 + {e} ** 2, 0.5)", "({e} ** 0)", "({e} ** 1)",
            "pow(1.5 + sin({e}), {e2})", "((1 + {e} ** 2) ** tanh({e2}))",
            "({e} * ones_like({e2}))", "(zeros_like({e}) + {e2})",
            "(+{e} * 2)", "({e} * (1 + {e2} ** 2) ** -1)", "({e} / {e2}.size)",
            "(lambda p, q: p * q + p)({e}, {e2})", "(lambda p: tanh(p) * 2)({e})",
            "{e}[::-1]" if len(shape) == 1 else "{e}",
        ]
        if self.flags.get("mod"):
            forms.append("({e} % (1.5 + sin({e2})))")
        for name, form in [("square", "square({e})"), ("erf", "erf({e})"),
                           ("expm1", "expm1(tanh({e}))"), ("sinh", "sinh(tanh({e}))"),
                           ("cosh", "cosh(tanh({e}))"), ("arctan", "arctan({e})"),
                           ("log2", "log2(2 + {e} ** 2)"), ("log10", "log10(2 + {e} ** 2)"),
                           ("logaddexp", "logaddexp({e}, {e2})")]:
            if name in HAVE:
                forms.append(form)
        form = self.pick(forms)
        e2 = self.leaf(shape, c) if "{e2}" in form else ""
        return form.format(e=atomic(e), e2=atomic(e2))

    def operand_shapes(self, shape):
        """Two shapes that broadcast to `shape`."""
        pairs = [(shape, shape), (shape, ()), ((), shape)]
        if shape:
            pairs += [(shape, (1,)), (shape, shape[-1:])]
            if len(shape) == 2:
                pairs += [(shape, (shape[0], 1)), ((1, shape[1]), shape),
                          ((shape[0], 1), (1, shape[1]))]
        a, b = self.pick(pairs)
        if () in (a, b) and shape != ():
            self.feature("broadcast_0d")
        if (1,) in (a, b) and shape != (1,):
            self.feature("broadcast_1")
        return a, b

    def binary(self, shape, d, c) -> str:
        sa, sb = self.operand_shapes(shape)
        a = self.expr(sa, d, c)
        op = self.pick(["+", "*", "-", "/", "/", "num"])
        if op == "num":
            if sa != shape:
                a = self.fit(a, sa, shape)
            k = self.pick(CONSTANTS)
            return self.pick([f"({k} * {a})", f"({a} + {k})", f"({a} / {k})",
                              f"({k} - {a})", f"({a} * {k})"])
        if op == "/":
            b = self.expr(sb, d - 1, c)
            denominator = self.pick(["(1.5 + sin({b}))", "(1 + {b} ** 2)", "exp(tanh({b}))",
                                     "(2 - tanh({b}))", "(1 + sigmoid({b}))"])
            return f"({a} / {denominator.format(b=b)})"
        b = self.expr(sb, d, c)
        return f"({a} {op} {b})"

    def kinked(self, shape, d, c) -> str:
        self.feature("kink")
        e = self.expr(shape, d, c)
        form = self.int(0, 6)
        if form == 0:
            return f"relu({e})"
        if form == 1:
            return f"abs({e})"
        if form == 2:
            return self.pick([f"clip({e}, -0.5, 0.75)", f"clip({e}, min=0.25)",
                              f"clamp({e}, -1, 1)", f"clip({e}, None, 0.5)"])
        if form in (3, 4):
            sb = self.pick([shape, ()] + ([shape[-1:]] if shape else []))
            other = self.expr(sb, d - 1, c)
            fn = "maximum" if form == 3 else "minimum"
            return f"{fn}({e}, {other})"
        if form == 5:
            return f"({e} * sign({self.leaf(shape, c)}))"
        k = self.pick(["0", "0.5", "(-0.25)"])
        return f"({e} * ({self.leaf(shape, c)} > {k}))"

    def reduction(self, shape, d, c) -> str:
        r = len(shape)
        kinds = ["full", "axis"] if r == 0 else ["axis"] if r == 1 else []
        if 1 in shape and r <= 2:
            kinds.append("keepdims")
        if not kinds:
            return self.unary(shape, d, c)
        kind = self.pick(kinds)
        if shape == () and kind == "full":
            if self.flags.get("masks") and self.chance(15):
                return self.masked_sum(d, c)
            t = self.shape() or (2,)
            e = self.expr(t, d, c)
            fn = self.pick(["sum", "mean", "prod", "max", "min", "logsumexp", "norm",
                            "sum.", "mean.", "norm1"])
            if fn in ("max", "min"):
                self.feature("kink")
            if fn.endswith("."):
                return f"{e}.{fn[:-1]}()"
            if len(t) == 2 and fn in ("sum", "mean") and self.int(0, 2) == 0:
                return f"{fn}({e}, axis=(0, 1))"
            if fn == "norm1":
                self.feature("kink")
                return f"norm({e}, ord=1)"
            return f"{fn}({e})"
        if kind == "axis":
            if shape == ():     # an axis of a vector
                n = self.int(1, 3)
                t, axis = (n,), 0
            else:
                n = self.int(1, 3)
                axis = self.int(0, 1)
                t = (n,) + shape if axis == 0 else shape + (n,)
            fn = self.pick(["sum", "mean", "max", "min", "prod", "logsumexp", "norm"])
            if fn in ("max", "min"):
                self.feature("kink")
            e = self.expr(t, d, c)
            spelled = self.pick([f"axis={axis}", f"dim={axis}", f"axis={axis - len(t)}"])
            self.feature("reduce_axis")
            return f"{fn}({e}, {spelled})"
        axis = self.pick([i for i, n in enumerate(shape) if n == 1])
        t = shape[:axis] + (self.int(2, 3),) + shape[axis + 1:]
        fn = self.pick(["sum", "mean", "max", "logsumexp"])
        if fn == "max":
            self.feature("kink")
        e = self.expr(t, d, c)
        self.feature("keepdims")
        return self.pick([f"{fn}({e}, axis={axis}, keepdims=True)",
                          f"{e}.{fn}(dim={axis}, keepdim=True)" if fn != "logsumexp"
                          else f"{fn}({e}, axis={axis}, keepdims=True)"])

    def masked_sum(self, d, c) -> str:
        self.feature("mask")
        t = self.pick(SHAPES[1:])
        e = self.expr(t, d, c)
        m = self.leaf(t, c)
        k = self.pick(["0", "0.5", "(-0.25)"])
        return f"sum({e}[{m} > {k}])"

    def matmul(self, shape, d, c) -> str:
        self.feature("matmul")
        k = self.int(1, 3)
        if shape == ():
            a, b = self.expr((k,), d, c), self.expr((k,), d, c)
            return self.pick([f"dot({a}, {b})", f"({a} @ {b})"])
        if len(shape) == 1:
            if self.int(0, 1):
                return f"({self.expr((shape[0], k), d, c)} @ {self.expr((k,), d, c)})"
            return f"({self.expr((k,), d, c)} @ {self.expr((k, shape[0]), d, c)})"
        if len(shape) == 3:
            b, m, n = shape
            return f"({self.expr((b, m, k), d, c)} @ {self.expr((b, k, n), d, c)})"
        m, n = shape
        form = self.int(0, 3)
        if form == 3:
            return f"outer({self.expr((m,), d, c)}, {self.expr((n,), d, c)})"
        a, b = self.expr((m, k), d, c), self.expr((k, n), d, c)
        return [f"({a} @ {b})", f"matmul({a}, {b})", f"dot({a}, {b})"][form]

    def shape_op(self, shape, d, c) -> str:
        self.feature("reshape")
        options = []
        if len(shape) == 2:
            options += ["T", "transpose", "permute"]
        if 1 in shape:
            options.append("expand")
        if len(shape) == 1:
            options += ["flatten"]
        options += ["reshape"]
        op = self.pick(options)
        if op == "T":
            return f"{self.expr(shape[::-1], d, c)}.T"
        if op == "transpose":
            return f"transpose({self.expr(shape[::-1], d, c)})"
        if op == "permute":
            axes = "-1, -2" if self.flags.get("negative_permute") and self.int(0, 1) else "1, 0"
            return f"permute({self.expr(shape[::-1], d, c)}, {axes})"
        if op == "expand":
            axis = shape.index(1)
            rest = shape[:axis] + shape[axis + 1:]
            inner = self.expr(rest, d, c)
            return self.pick([f"expand_dims({inner}, {axis})", f"unsqueeze({inner}, {axis})"])
        how = self.int(0, 2) if op == "flatten" else 0
        if op == "flatten" and how == 1:
            n = shape[0]
            t = self.pick([s for s in ALL_SHAPES if len(s) == 2 and numel(s) == n] or [(n, 1)])
            return f"ravel({self.expr(t, d, c)})"
        if op == "flatten" and how == 2 and self.flags.get("linspace") and n_ok(shape):
            self.feature("linspace")
            a, b = self.expr((), d - 1, c), self.expr((), d - 1, c)
            return f"linspace({a}, {b}, {shape[0]})"
        if op == "flatten":
            n = shape[0]
            t = self.pick([s for s in ALL_SHAPES if len(s) == 2 and numel(s) == n] or [(n, 1)])
            return f"flatten({self.expr(t, d, c)})"
        same = [s for s in ALL_SHAPES if numel(s) == numel(shape) and s != shape and s]
        if not same:
            return self.expr(shape, d, c)
        t = self.pick(same)
        dims = [str(x) for x in shape]
        if self.int(0, 2) == 0:         # one dimension left for reshape to work out
            dims[self.int(0, len(dims) - 1)] = "-1"
        spelled = self.pick([", ".join(dims), "(" + ", ".join(dims) + ("," if len(dims) == 1
                                                                       else "") + ")"])
        return f"{self.expr(t, d, c)}.{self.pick(['reshape', 'view'])}({spelled})"

    def index(self, shape, d, c) -> str:
        self.feature("index")
        r = len(shape)
        if r == 0:
            n = self.int(1, 3)
            if self.int(0, 2) == 0:
                m = self.int(1, 3)
                e = self.expr((m, n), d, c)
                return f"{e}[{self.int(0, m - 1)}, {self.pick([str(self.int(0, n - 1)), '-1'])}]"
            e = self.expr((n,), d, c)
            form = self.int(0, 2)
            if form == 2:
                self.feature("argmax")
                other = self.leaf((n,), c)
                return f"{e}[{self.pick(['argmax', 'argmin'])}({other})]"
            return f"{e}[{self.pick([str(self.int(0, n - 1)), '-1'])}]"
        if r == 1:
            n = shape[0]
            form = self.int(0, 5 if n <= 8 else 2)     # no index array of thousands
            if form == 0:       # a row
                m = self.int(1, 3)
                return f"{self.expr((m, n), d, c)}[{self.int(0, m - 1)}]"
            if form == 1:       # a column
                m = self.int(1, 3)
                return f"{self.expr((n, m), d, c)}[:, {self.int(0, m - 1)}]"
            if form == 2:       # a slice
                big = self.int(n, n + 2)
                start = self.int(0, big - n)
                self.feature("slice")
                if start == 0 and big == n and self.int(0, 1):
                    return f"{self.expr((n,), d, c)}[::-1]"
                if big >= 2 * n - 1 and self.int(0, 1):
                    return f"{self.expr((2 * n - 1,), d, c)}[::2]"
                return f"{self.expr((big,), d, c)}[{start}:{start + n}]"
            if form == 3 and n in (2, 3):   # permutation
                self.feature("index_array")
                return f"{self.expr((n,), d, c)}[permutation({n})]"
            # an index array, repeats allowed
            self.feature("index_array")
            m = self.int(1, 3)
            idx = [self.int(0, m - 1) for _ in range(n)]
            if len(set(idx)) < len(idx):
                self.feature("repeated_index")
            if form == 5 and self.int(0, 1):
                rows = self.int(1, 3)
                return f"{self.expr((rows, m), d, c)}[{self.int(0, rows - 1)}, {idx}]"
            return f"{self.expr((m,), d, c)}[{idx}]"
        if r == 3:
            return self.leaf(shape, c)
        m, n = shape
        form = self.int(0, 4)
        if (form == 1 and m > 8) or (form == 2 and n > 8):
            form = 0
        if form == 0:
            bm, bn = self.int(m, m + 1), self.int(n, n + 1)
            i, j = self.int(0, bm - m), self.int(0, bn - n)
            self.feature("slice")
            return f"{self.expr((bm, bn), d, c)}[{i}:{i + m}, {j}:{j + n}]"
        if form == 1:
            self.feature("index_array")
            k = self.int(1, 3)
            idx = [self.int(0, k - 1) for _ in range(m)]
            if len(set(idx)) < len(idx):
                self.feature("repeated_index")
            return f"{self.expr((k, n), d, c)}[{idx}]"
        if form == 2:
            self.feature("index_array")
            k = self.int(1, 3)
            idx = [self.int(0, k - 1) for _ in range(n)]
            if len(set(idx)) < len(idx):
                self.feature("repeated_index")
            return f"{self.expr((m, k), d, c)}[:, {idx}]"
        if form == 3 and n == 1:
            return f"{self.expr((m,), d, c)}[:, None]"
        if form == 3 and m == 1:
            return f"{self.expr((n,), d, c)}[None]"
        k = self.int(1, 2)
        return f"{self.expr((k, m, n), d, c)}[{self.int(0, k - 1)}]"

    def call(self, shape, d, c) -> str:
        fn = self.pick([f for f in self.funcs if f.kind != "pair"] or [None])
        if fn is None:
            return self.unary(shape, d, c)
        self.feature("call_" + ("scalar" if shape == () else "array"))
        if fn.kind == "scalar":
            t = self.pick(SHAPES)
            inner = f"{fn.name}({self.expr(t, d, c)})"
            return inner if shape == () else self.fit(inner, (), shape)
        if fn.kind == "rec":
            self.feature("recursion")
            return f"{fn.name}({self.expr(shape, d, c)}, {self.int(1, 3)})"
        if fn.kind == "lam":
            return f"{fn.name}({self.expr(shape, d, c)})"
        a = self.expr(shape, d, c)
        if fn.default_b and self.int(0, 2) == 0:
            return f"{fn.name}({a})"
        sb = self.pick([shape, ()] + ([shape[-1:], (1,)] if shape else []))
        b = self.expr(sb, d - 1, c)
        form = self.int(0, 3)
        if form == 2:
            return f"{fn.name}({a}, b={b})"
        if form == 3:
            return f"{fn.name}(b={b}, a={a})"
        return f"{fn.name}({a}, {b})"

    def stacked(self, shape, d, c) -> str:
        """Lists of values: `sum([a, b, c], axis=0)`, `[a, b]`, stack, concat."""
        self.feature("list")
        if shape and shape[0] in (1, 2, 3) and self.int(0, 1):
            items = [self.expr(shape[1:], d - 1, c) for _ in range(shape[0])]
            form = self.int(0, 2)
            if form == 1 and shape[0] >= 2:
                return f"stack(({', '.join(items)}), axis=0)"
            if form == 2 and self.flags.get("array_of_tracked"):
                return f"array([{', '.join(items)}])"
            return f"[{', '.join(items)}]"
        if len(shape) >= 1 and shape[0] >= 2 and self.int(0, 1):
            self.feature("concat")
            m1 = self.int(1, shape[0] - 1)
            a = self.expr((m1,) + shape[1:], d - 1, c)
            b = self.expr((shape[0] - m1,) + shape[1:], d - 1, c)
            fn = self.pick(["concat", "concatenate", "cat"])
            if fn == "cat":
                fn = "cat" if "cat" in HAVE else "concat"
            return f"{fn}(({a}, {b}), axis=0)"
        if len(shape) == 2 and shape[1] >= 2 and self.int(0, 1):
            self.feature("concat")
            n1 = self.int(1, shape[1] - 1)
            a = self.expr((shape[0], n1), d - 1, c)
            b = self.expr((shape[0], shape[1] - n1), d - 1, c)
            axis = "1" if self.flags.get("positional_axis") and self.int(0, 1) else "axis=1"
            return f"concat(({a}, {b}), {axis})"
        if len(shape) == 2 and shape[1] in (2, 3) and self.int(0, 1):
            items = [self.expr((shape[0],), d - 1, c) for _ in range(shape[1])]
            return f"stack(({', '.join(items)}), axis=1)"
        k = self.int(2, 3)
        items = [self.expr(shape, d - 1, c) for _ in range(k)]
        return self.pick([f"sum([{', '.join(items)}], axis=0)",
                          f"mean([{', '.join(items)}], axis=0)"])

    def linalg(self, shape, d, c) -> str:
        self.feature("linalg")
        if shape == ():
            n = self.int(1, 3)
            form = self.int(0, 1)
            if form == 0:
                return f"det(4 * eye({n}) + tanh({self.expr((n, n), d, c)}))"
            return f"trace({self.expr((n, n), d, c)})"
        if len(shape) == 2 and shape[0] == shape[1]:
            n = shape[0]
            return f"inv(4 * eye({n}) + tanh({self.expr((n, n), d, c)}))"
        if len(shape) == 1 and shape[0] <= 3:
            n = shape[0]
            return (f"solve(4 * eye({n}) + tanh({self.expr((n, n), d, c)}), "
                    f"{self.expr((n,), d, c)})")
        return self.expr(shape, d, c)

    def softmax(self, shape, d, c) -> str:
        axis = self.int(0, len(shape) - 1)
        fn = self.pick(["softmax", "log_softmax"])
        spelled = self.pick([f"axis={axis}", f"dim={axis}", f"axis=-{len(shape) - axis}"])
        return f"{fn}({self.expr(shape, d, c)}, {spelled})"

    def where(self, shape, d, c) -> str:
        self.feature("kink")
        cond = self.leaf(self.pick([shape, ()]), c)
        k = self.pick(["0", "0.5", "(-0.25)"])
        op = self.pick([">", "<", ">="])
        return f"where({cond} {op} {k}, {self.expr(shape, d, c)}, {self.expr(shape, d, c)})"

    def piecewise(self, shape, d, c) -> str:
        """Operators whose gradient is zero or a constant almost everywhere."""
        self.feature("kink")
        e = self.expr(shape, d, c)
        options = [f"(({e} // 0.5) * {self.leaf(shape, c)})"]
        if self.flags.get("mod"):
            self.feature("mod")
            options.append(f"({e} % 0.75)")
        return self.pick(options)

    def reuse(self, shape, d, c) -> str:
        """One value used several times in one expression."""
        self.feature("reuse")
        var = self.pick_var(c, shape)
        v = var.name if var is not None else self.expr(shape, 0, c)
        return self.pick([f"({v} * {v} - 2 * {v})", f"({v} * sin({v}) + {v})",
                          f"({v} / (1 + {v} * {v}))", f"(({v} + {v}) * {v})"])

    # --------------------------------------------------- function bodies

    def ew(self, env, depth):
        """An elementwise expression over `env` [(name, full)]: returns
        (code, full) where full means 'has the first parameter's shape'."""
        if depth <= 0 or self.int(0, 3) == 0:
            if self.int(0, 5) == 0:
                return self.pick(CONSTANTS), False
            return self.pick(env)
        form = self.int(0, 5)
        if form == 0:
            e, full = self.ew(env, depth - 1)
            fn = self.pick(["sin", "tanh", "sigmoid", "exp(tanh", "relu", "abs", "softplus",
                            "cos", "square"])
            if fn == "square":
                return f"({e} ** 2)", full
            if fn.startswith("exp("):
                return f"exp(tanh({e}))", full
            if fn in ("relu", "abs"):
                self.feature("kink")
            return f"{fn}({e})", full
        if form in (1, 2):
            (a, fa), (b, fb) = self.ew(env, depth - 1), self.ew(env, depth - 1)
            op = self.pick(["+", "*", "-", "/"])
            if op == "/":
                return f"({a} / (1 + {b} ** 2))", fa or fb
            return f"({a} {op} {b})", fa or fb
        if form == 3:
            e, _ = self.ew(env, depth - 1)
            red = self.pick(['sum', 'mean', 'max'])
            if red == "max":
                self.feature("kink")
            return f"{red}({e})", False
        if form == 4:
            ews = [f for f in self.funcs if f.kind == "ew"]
            (a, fa) = self.ew(env, depth - 1)
            if ews and fa:
                fn = self.pick(ews)
                b, _ = self.ew(env, depth - 2)
                return f"{fn.name}({a}, {b})", True
            self.feature("kink")
            return f"maximum({a}, {self.pick(CONSTANTS)})", fa
        (a, fa), (b, fb) = self.ew(env, depth - 1), self.ew(env, depth - 1)
        return f"({a} * {b} + {a})", fa or fb

    def full_ew(self, env, depth):
        code, full = self.ew(env, depth)
        if full and IDENTIFIER.fullmatch(code):     # not the argument itself
            return f"tanh({code})"
        if full:
            return code
        anchor = self.pick([n for n, f in env if f])
        return self.pick([f"({code} + {anchor})", f"({code} * tanh({anchor}))",
                          f"({anchor} * {code})"])

    def define_function(self):
        kind = self.pick(["ew", "scalar", "rec", "lam", "ew", "pair"])
        name = self.fresh({"ew": "f", "scalar": "g", "rec": "r", "lam": "h", "pair": "p"}[kind])
        fn = Func(name, kind)
        if kind == "lam":
            self.emit(f"{name} = lambda t: {self.full_ew([('t', True)], 2)}")
            self.funcs.append(fn)
            return
        if kind == "rec":
            self.emit(f"def {name}(a, n):")
            self.indent += 1
            self.emit("if n < 1:")
            self.indent += 1
            self.emit("return a")
            self.indent -= 1
            step = self.full_ew([("a", True)], 2)
            self.emit(f"return {name}({step}, n - 1)")
            self.indent -= 1
            self.funcs.append(fn)
            return
        if kind in ("ew", "pair"):
            fn.default_b = self.chance(30)
            params = "a, b=0.5" if fn.default_b else "a, b"
            env = [("a", True), ("b", False)]
        else:
            params, env = "a", [("a", True)]
        scalars = [v.name for v in self.vars if v.kind == "input" and v.shape == ()]
        if scalars and self.chance(40):         # a global, read at call time
            self.feature("global_in_function")
            env.append((self.pick(scalars), False))
        self.emit(f"def {name}({params}):")
        self.indent += 1
        for _ in range(self.int(0, 2)):
            local = self.fresh("t")
            form = self.int(0, 4)
            if form == 1:
                self.emit(f"{local} = {self.full_ew(env, 2)}")
                self.emit(f"if {self.pick(['sum', 'mean', 'max'])}({local}) > "
                          f"{self.pick(['0', '0.5', '(-0.5)', '1'])}:")
                self.feature("if_in_function")
                self.indent += 1
                self.emit(f"{local} = {self.full_ew(env + [(local, True)], 2)}")
                self.indent -= 1
                if self.int(0, 1):
                    self.emit("else:")
                    self.indent += 1
                    self.emit(f"{local} = {self.full_ew(env + [(local, True)], 2)}")
                    self.indent -= 1
            elif form == 2:
                self.emit(f"{local} = {self.full_ew(env, 2)}")
                self.emit(f"for i in range({self.int(1, 3)}):")
                self.feature("loop_in_function")
                self.indent += 1
                self.emit(f"{local} = {local} * {self.pick(['0.5', 'sigmoid(a)', 'tanh(a)'])}"
                          f" + {self.full_ew(env, 1)}")
                self.indent -= 1
            else:
                code, full = self.ew(env, 2)
                self.emit(f"{local} = {code}")
                env = env + [(local, full)]
                continue
            env = env + [(local, True)]
        if kind == "scalar":
            red = self.pick(["sum", "mean", "logsumexp", "max", "norm"])
            if red == "max":
                self.feature("kink")
            self.emit(f"return {red}({self.full_ew(env, 2)})")
        elif kind == "pair":
            self.emit(f"return {self.full_ew(env, 2)}, {self.full_ew(env, 1)}")
        else:
            self.emit(f"return {self.full_ew(env, 2)}")
        self.indent -= 1
        self.funcs.append(fn)

    # ---------------------------------------------------------- statements

    def add_var(self, name, shape, kind):
        self.vars = [v for v in self.vars if v.name != name]
        self.vars.append(Var(name, shape, kind))

    def statement(self, depth=3):
        kinds = [
            (10, self.st_assign),
            (3, self.st_if),
            (3, self.st_for),
            (2, self.st_while),
            (3, self.st_aug),
            (2, self.st_setitem),
            (3, self.st_no_grad),
            (3, self.st_freeze),
            (2, self.st_buffer),
            (2, self.st_reassign),
            (2, self.st_alias),
            (2, self.st_for_list),
            (2 if self.flags.get("masks") else 0, self.st_mask_write),
            (3, self.st_transform),
            (3 if any(f.kind == "pair" for f in self.funcs) else 0, self.st_unpack),
            (2, self.st_record),
            (2, self.st_noise),
        ]
        self.weighted(kinds)(depth)

    def st_unpack(self, depth):
        """`q1, q2 = p1(e, e2)`: a function returning two values."""
        fn = self.pick([f for f in self.funcs if f.kind == "pair"])
        shape = self.pick(SHAPES)
        self.feature("tuple_return")
        self.feature("call_" + ("scalar" if shape == () else "array"))
        a = self.expr(shape, self.int(0, depth - 1))
        if fn.default_b and self.int(0, 1):
            call = f"{fn.name}({a})"
        else:
            sb = self.pick([shape, ()] + ([shape[-1:]] if shape else []))
            call = f"{fn.name}({a}, {self.expr(sb, self.int(0, depth - 2))})"
        first, second = self.fresh("v"), self.fresh("v")
        self.emit(f"{first}, {second} = {call}")
        self.add_var(first, shape, "tracked")
        self.add_var(second, shape, "tracked")

    def st_alias(self, depth):
        """`a = v` binds the same value: an in-place update shows through both."""
        pool = [v for v in self.vars if v.kind == "tracked"]
        if not pool:
            return self.st_assign(depth)
        var = self.pick(pool)
        name = self.fresh("a")
        self.feature("alias")
        self.emit(f"{name} = {var.name}")
        self.aliases.setdefault(name, set()).add(var.name)
        self.aliases.setdefault(var.name, set()).add(name)
        e = self.expr(self.pick([var.shape, ()]), self.int(0, depth - 1))
        op = self.pick(["+=", "*=", "-="])
        if op == "*=":
            e = f"sigmoid({e})"
        self.emit(f"{name} {op} {e}")
        self.add_var(name, var.shape, "tracked")

    def st_for_list(self, depth):
        """`for p in [v1, v2]: p *= e`, a list of computed values."""
        pool = [v for v in self.vars if v.kind in ("tracked", "buffer")]
        if len(pool) < 2:
            return self.st_assign(depth)
        first = self.pick(pool)
        second = self.pick([v for v in pool if v is not first])
        self.feature("for_list")
        e = self.expr((), self.int(0, depth - 1))
        self.emit(f"for p in [{first.name}, {second.name}]:")
        self.indent += 1
        op = self.pick(["+=", "*=", "-="])
        self.emit(f"p {op} {f'sigmoid({e})' if op == '*=' else e}")
        self.indent -= 1
        if "p" in self.dep:
            self.dep.update((first.name, second.name))
        first.kind = second.kind = "tracked"

    def st_mask_write(self, depth):
        """`v[m > k] = e`: a boolean mask as the index of a write."""
        pool = [v for v in self.vars if v.kind in ("tracked", "buffer") and v.shape]
        if not pool:
            return self.st_assign(depth)
        var = self.pick(pool)
        self.feature("mask")
        self.feature("setitem")
        saved, var.kind = var.kind, "busy"
        m = self.leaf(var.shape)
        k = self.pick(["0", "0.5", "(-0.25)"])
        mask = f"{m} {self.pick(['>', '<'])} {k}"
        if self.int(0, 1):
            e = self.expr((), self.int(0, depth - 1))
        else:
            e = f"{self.expr(var.shape, self.int(0, depth - 1))}[{mask}]"
        var.kind = saved
        self.emit(f"{var.name}[{mask}] = {e}")
        var.kind = "tracked"

    def st_transform(self, depth):
        """grad / jacobian / hessian / jvp of a function, used as a value
        (so the program's own gradient is a higher-order one)."""
        scalars = [f for f in self.funcs if f.kind == "scalar"]
        lams = [f for f in self.funcs if f.kind == "lam"]
        form = self.int(0, 3)
        shape = self.pick(SHAPES)
        name = self.fresh("v")
        self.feature("transform")
        if form == 0 and scalars:
            fn = self.pick(scalars)
            twice = shape == () and self.int(0, 1)
            spelled = f"grad(grad({fn.name}))" if twice else f"grad({fn.name})"
            self.emit(f"{name} = {spelled}({self.expr(shape, self.int(0, depth - 1))})")
        elif form == 1:
            n = self.int(1, 3)
            shape = (n, n)
            f = self.pick(lams).name if lams else f"lambda t: {self.full_ew([('t', True)], 2)}"
            self.emit(f"{name} = jacobian({f})({self.expr((n,), self.int(0, depth - 1))})")
        elif form == 2 and scalars:
            n = self.int(1, 3)
            shape = (n, n)
            fn = self.pick(scalars)
            self.emit(f"{name} = hessian({fn.name})({self.expr((n,), self.int(0, depth - 1))})")
        else:
            f = self.pick(lams).name if lams else f"lambda t: {self.full_ew([('t', True)], 2)}"
            value = self.fresh("v")
            x = self.expr(shape, self.int(0, depth - 1))
            t = self.expr(shape, self.int(0, depth - 2))
            self.emit(f"{value}, {name} = jvp({f}, {x}, {t})")
            self.add_var(value, shape, "tracked")
        self.add_var(name, shape, "tracked")

    def st_assign(self, depth):
        shape = self.shape()
        name = self.fresh("v")
        code = self.expr(shape, self.int(1, depth))
        self.emit(f"{name} = {code}")
        same = [v for v in self.vars if v.name == code]
        # `v = x` binds the same value: it keeps what may be done to it
        self.add_var(name, shape, same[0].kind if same else "tracked")
        if same:
            self.aliases.setdefault(name, set()).add(code)
            self.aliases.setdefault(code, set()).add(name)

    def fresh_value(self, shape, depth) -> str:
        """An expression that is not just another variable's name."""
        code = self.expr(shape, depth)
        return f"({code} * 1)" if IDENTIFIER.fullmatch(code) else code

    def st_reassign(self, depth):
        pool = [v for v in self.vars if v.kind == "tracked"]
        if not pool:
            return self.st_assign(depth)
        var = self.pick(pool)
        self.emit(f"{var.name} = {self.reuse_update(var, depth)}")
        var.uses = 0

    def reuse_update(self, var, depth):
        e = self.expr(var.shape, self.int(0, depth - 1))
        return self.pick([f"{var.name} * {e}", f"{var.name} + {e}",
                          f"tanh({var.name}) * {var.name} + {e}",
                          f"{var.name} - {var.name} * {var.name} / 4 + {e}"])

    def condition(self, depth=2) -> str:
        self.feature("data_condition")
        shape = self.pick(SHAPES)
        e = self.expr(shape, self.int(0, depth))
        k = self.pick(["0", "0.5", "(-0.5)", "1", "2"])
        red = self.pick(["sum", "mean", "max", "min"]) if shape else ""
        value = f"{red}({e})"
        spelled = self.int(0, 5)
        if spelled == 4:
            value = f"{atomic(value)}.item()"
        elif spelled == 5:
            value = f"float({value})"
        cond = f"{value} {self.pick(['>', '<'])} {k}"
        form = self.int(0, 7)
        if form == 5:
            cond = f"not {cond}"
        elif form == 7:
            other = self.expr((), self.int(0, depth - 1))
            cond = f"{cond} or {other} > {self.pick(['1', '(-1)'])}"
        elif form == 6:
            frozen = [v for v in self.vars if v.kind in ("tracked", "input")]
            if frozen:
                self.feature("detach")
                v = self.pick(frozen)
                cond = f"{cond} and sum(detach({v.name})) > {self.pick(['0', '(-1)'])}"
        return cond

    def st_if(self, depth):
        self.feature("if")
        existing = [v for v in self.vars if v.kind == "tracked"]
        new = not existing or self.int(0, 1) == 0
        if new:
            shape, name = self.shape(), self.fresh("v")
        else:
            var = self.pick(existing)
            shape, name = var.shape, var.name
        self.emit(f"if {self.condition()}:")
        self.block(name, shape, depth)
        if self.chance(30):
            self.emit(f"elif {self.condition()}:")
            self.block(name, shape, depth)
        if new or self.int(0, 1):
            self.emit("else:")
            self.block(name, shape, depth)
        self.add_var(name, shape, "tracked")

    def block(self, name, shape, depth):
        self.indent += 1
        self.emit(f"{name} = {self.fresh_value(shape, self.int(0, depth - 1))}")
        if self.chance(20):
            self.emit(f"{name} = {name} * {self.expr(shape, 1)}")
        self.indent -= 1

    def st_for(self, depth):
        self.feature("for")
        shape = self.shape()
        name = self.fresh("v")
        self.emit(f"{name} = {self.fresh_value(shape, 1)}")
        self.add_var(name, shape, "tracked")
        rows = [v for v in self.vars if v.shape and 2 <= v.shape[0] <= 3 and v.kind != "buffer"]
        if self.flags.get("for_rows") and rows and self.int(0, 2) == 0:
            src = self.pick(rows)
            self.feature("for_rows")
            self.emit(f"for row in {src.name}:")
            self.indent += 1
            self.emit(f"{name} = {name} * 0.5 + {self.fit('row', src.shape[1:], shape)}")
            self.indent -= 1
            return
        n = self.int(1, 3)
        self.emit(f"for i in range({n}):")
        self.indent += 1
        rows = [v for v in self.vars if v.shape and v.shape[0] >= n and v.name != name]
        if rows and self.int(0, 1):
            src = self.pick(rows)
            term = self.fit(f"{src.name}[i]", src.shape[1:], shape)
            self.feature("loop_index")
        else:
            term = self.expr(shape, self.int(0, depth - 1))
        update = self.pick([f"{name} + {term}", f"{name} * sigmoid({term})",
                            f"{name} + i * {term}", f"0.5 * {name} + tanh({term})"])
        self.emit(f"{name} = {update}")
        if self.chance(15):
            self.emit(f"if {self.pick(['sum', 'mean'])}({name}) > {self.pick(['1', '3'])}:")
            self.indent += 1
            self.feature("break")
            self.emit(self.pick(["break", "continue"]))
            self.indent -= 1
        self.indent -= 1

    def st_while(self, depth):
        self.feature("while")
        shape = self.shape()
        name, k = self.fresh("v"), self.fresh("k")
        self.emit(f"{name} = {self.fresh_value(shape, 1)}")
        self.emit(f"{k} = 0")
        red = self.pick(["sum", "mean", "norm"])
        bound = self.pick(["2", "4", "(-1)", "8"])
        self.emit(f"while {k} < {self.int(1, 4)} and {red}({name}) < {bound}:")
        self.indent += 1
        self.emit(f"{name} = {self.pick([f'{name} * 1.5 + 0.25', f'{name} + sigmoid({name})'])}"
                  f" + {self.expr(shape, self.int(0, depth - 2))} * 0.25")
        self.emit(f"{k} = {k} + 1")
        if self.chance(20):
            self.feature("break")
            self.emit(f"if {self.pick(['max', 'min'])}({name}) > {self.pick(['1', '3'])}:")
            self.indent += 1
            self.emit("break")
            self.indent -= 1
        self.indent -= 1
        self.add_var(name, shape, "tracked")

    def st_record(self, depth):
        """Recording switched back on inside `with no_grad:` (record /
        enable_grad), or plainly `with record:`: a tracked assignment."""
        self.feature("record")
        shape = self.shape()
        name = self.fresh("v")
        outer = self.int(0, 2)
        if outer:
            self.emit(f"with {self.pick(['no_grad', 'pause', 'torch.no_grad()'])}:")
            self.indent += 1
        self.emit(f"with {self.pick(['record', 'enable_grad', 'autograd.record()'])}:")
        self.indent += 1
        self.emit(f"{name} = {self.fresh_value(shape, self.int(1, depth))}")
        self.indent -= 1 + (1 if outer else 0)
        self.add_var(name, shape, "tracked")

    def st_noise(self, depth):
        """Statements that compute nothing: print, comments, docstrings, pass,
        `;`-joined assignments."""
        self.feature("noise")
        form = self.int(0, 4)
        names = [v.name for v in self.vars]
        if form == 0 and names:
            v = self.pick(names)
            forms = [f"print({v})", f"print({v}, {self.pick(names)})", f"print({v}.shape)"]
            if self.flags.get("fstrings"):
                forms.append(f"print(f'{{float(sum({v})):f}}')")
            if self.flags.get("print_sep"):
                forms.append(f"print({v}, {self.pick(names)}, sep=' ', end='')")
            self.emit(self.pick(forms))
        elif form == 1:
            self.emit(f"# a comment {self.int(0, 9)}")
        elif form == 2:
            self.emit(self.pick(['"A docstring."', "pass", "'just a string'"]
                                + (['"""A docstring."""'] if self.flags.get("triple_quotes")
                                   else [])))
        elif form == 3:
            a, b = self.fresh("v"), self.fresh("v")
            ea, eb = self.expr((), 1), self.expr((2,), 1)
            self.emit(f"{a} = {ea}; {b} = {eb}")
            for n, e in ((a, ea), (b, eb)):
                if set(IDENTIFIER.findall(e)) & self.dep:
                    self.dep.add(n)
            self.add_var(a, (), "tracked")
            self.add_var(b, (2,), "tracked")
        else:
            self.emit(f"{self.fresh('n')} = {self.pick(names) if names else 'x'}.size")

    def st_aug(self, depth):
        """`v += e` (-=, *=, /=) while recording: on a computed value."""
        pool = [v for v in self.vars if v.kind in ("tracked", "buffer")]
        if not pool:
            return self.st_assign(depth)
        var = self.pick(pool)
        self.feature("aug_assign")
        sb = self.pick([var.shape, ()] + ([var.shape[-1:]] if var.shape else []))
        self_ok = self.flags.get("self_aug")
        saved = var.kind
        var.kind = "busy"           # not on its own right-hand side (bug 9)
        if self_ok:
            var.kind = saved
        e = self.expr(sb, self.int(0, depth - 1))
        var.kind = saved
        op = self.pick(["+=", "-=", "*=", "/="])
        if op == "/=":
            e = f"(1.5 + sin({e}))"
        elif op == "*=":
            e = self.pick([f"sigmoid({e})", f"(1 + {e} ** 2)", e])
        self.emit(f"{var.name} {op} {e}")
        var.kind = "tracked"

    def st_setitem(self, depth):
        """`v[idx] = e` while recording, into a computed value or a buffer."""
        pool = [v for v in self.vars if v.kind in ("tracked", "buffer") and v.shape]
        if not pool:
            return self.st_buffer(depth)
        var = self.pick(pool)
        self.feature("setitem")
        index, shape = self.index_target(var.shape)
        saved, var.kind = var.kind, "busy"
        value_shape = self.pick([shape, ()] + ([shape[-1:]] if len(shape) == 2 else []))
        e = self.expr(value_shape, self.int(0, depth - 1))
        var.kind = saved
        op = self.pick(["=", "=", "+=", "-=", "*="])
        if op == "*=":
            e = f"sigmoid({e})"
        if op != "=":
            self.feature("indexed_aug_assign")
        self.emit(f"{var.name}[{index}] {op} {e}")
        var.kind = "tracked"

    def index_target(self, shape):
        """An index into `shape` and the shape it selects."""
        if len(shape) == 1:
            n = shape[0]
            form = self.int(0, 6)
            if form == 0:
                return self.pick([str(self.int(0, n - 1)), "-1"]), ()
            if form == 1 and n >= 2:
                a = self.int(0, n - 2)
                return f"{a}:", (n - a,)
            if form == 2:
                return "::-1", (n,)
            if form == 3 and n >= 2:
                return "::2", ((n + 1) // 2,)
            if form in (4, 5) and n >= 2:
                return self.index_array(n), (2,)
            return ":", (n,)
        m, n = shape
        form = self.int(0, 6)
        if form == 0:
            return self.pick([str(self.int(0, m - 1)), "-1"]), (n,)
        if form == 1:
            return f":, {self.int(0, n - 1)}", (m,)
        if form == 2:
            return f"{self.int(0, m - 1)}, {self.int(0, n - 1)}", ()
        if form == 3 and m >= 2:
            return self.index_array(m), (2, n)
        if form == 4 and m >= 2 and n >= 2:
            return f"1:, :{n - 1}", (m - 1, n - 1)
        if form == 5 and n >= 2:
            return f":, {self.index_array(n)}", (m, 2)
        return ":", (m, n)

    def index_array(self, n) -> str:
        """Two indices below n, for a write: distinct unless writes with a
        repeated index are known to work (finding F3)."""
        i = self.int(0, n - 1)
        j = self.int(0, n - 1)
        if j == i and not self.flags.get("repeated_write"):
            j = (i + 1) % n
        if i == j:
            self.feature("repeated_index_write")
        self.feature("index_array_write")
        return f"[{i}, {j}]"

    def st_no_grad(self, depth):
        """`with no_grad:` adding frozen constants to tracked values, or
        writing into buffers: both keep autodiff and differences comparable."""
        self.feature("no_grad")
        self.emit("with no_grad:")
        self.indent += 1
        for _ in range(self.int(1, 2)):
            tracked = [v for v in self.vars if v.kind == "tracked"]
            buffers = [v for v in self.vars if v.kind == "buffer"]
            inputs = [v for v in self.vars if v.kind == "input"]
            form = self.int(0, 3)
            if form == 1 and buffers:
                var = self.pick(buffers)
                op = self.pick(["*=", "+=", "setitem", "/="])
                if op == "setitem" and var.shape:
                    index, shape = self.index_target(var.shape)
                    self.emit(f"{var.name}[{index}] = {self.expr(shape, 1, const_only=True)}")
                    continue
                e = self.expr(self.pick([var.shape, ()]), 1, const_only=True)
                if op == "/=":
                    e = f"(2 + sin({e}))"
                self.emit(f"{var.name} {op if op != 'setitem' else '+='} {e}")
                continue
            if form == 2 and inputs and self.chance(40):
                var = self.pick(inputs)
                self.feature("no_grad_input")
                self.emit(f"{var.name} += {self.expr(self.pick([var.shape, ()]), 1, True)}")
                continue
            if tracked:
                var = self.pick(tracked)
                op = self.pick(["+=", "-="])
                self.emit(f"{var.name} {op} {self.expr(self.pick([var.shape, ()]), 1, True)}")
                continue
            name = self.fresh("b")
            shape = self.pick(SHAPES)
            self.emit(f"{name} = {self.expr(shape, 1, const_only=True)}")
            self.add_var(name, shape, "buffer")
        self.indent -= 1

    def st_freeze(self, depth):
        self.feature("detach")
        shape = self.pick(SHAPES)
        name = self.fresh("c")
        e = self.expr(shape, self.int(0, depth - 1))
        form = self.pick(["detach({e})", "{e}.detach()", "detach({e})"])
        text = form.format(e=atomic(e))
        # Differences hold it fixed: there it is an input given its value.
        self.emit(f"{name} = {text}", f"input {name} = {text}")
        self.frozen.append(name)
        self.add_var(name, shape, "frozen")

    def st_buffer(self, depth):
        self.feature("buffer")
        shape = self.pick(SHAPES)
        name = self.fresh("b")
        frozen = [v for v in self.vars if v.kind == "frozen"]
        dims = ", ".join(str(d) for d in shape)
        forms = [f"zeros({dims or '()'})", f"ones({shape_code(shape) if shape else '()'})",
                 f"full({shape_code(shape) if shape else '()'}, 0.5)"]
        if frozen:
            f = self.pick(frozen)
            forms.append(f"{self.fit(f.name, f.shape, shape)} * 1.0")
        like = [v for v in self.vars if v.shape == shape and v.shape]
        if like:
            v = self.pick(like)
            forms += [f"zeros({v.name}.shape)", f"zeros_like({v.name})",
                      f"ones_like({v.name}) * 0.5"]
        self.emit(f"{name} = {self.pick(forms)}")
        self.add_var(name, shape, "buffer")

    # --------------------------------------------------------------- whole

    def program(self) -> Case:
        n_inputs = self.int(1, 3)
        names = ["x", "w", "u"][:n_inputs]
        inputs = {}
        for j, name in enumerate(names):
            shape = self.pick(INPUT_SHAPES)
            k = np.array([self.int(-8, 8) for _ in range(numel(shape))], dtype=float)
            offs = np.array([OFFSETS[(i + 3 * j) % len(OFFSETS)] for i in range(numel(shape))])
            values = np.round(k / 4 + np.where(k < 0, -offs, offs), 4).reshape(shape)
            inputs[name] = values
            self.emit(f"input {name} = {literal(values.tolist())}")
            self.add_var(name, shape, "input")
            self.dep.add(name)
        for _ in range(self.int(0, 2)):
            self.define_function()
        for _ in range(self.int(1, 8)):
            self.statement()
        shape = self.pick(SHAPES)
        # the result: fed by every value not used yet, and one fresh expression
        unused = [v for v in self.vars if v.uses == 0 and v.kind == "tracked"][-4:]
        terms = [self.fit(v.name, v.shape, shape) for v in unused]
        if not terms or self.int(0, 1):
            terms.append(self.expr(shape, self.int(1, 3)))
        if not set(IDENTIFIER.findall(" ".join(terms))) & self.dep or self.int(0, 3) == 0:
            x = self.pick([v for v in self.vars if v.name in self.dep])
            terms.append(self.fit(x.name, x.shape, shape))
        self.emit(" + ".join(terms))
        head = None
        if self.chance(50):
            self.feature("head")
            form = self.int(0, 2)
            if form == 0:
                head = np.full(shape, self.pick([3.0, -1.0, 0.5, 2.0]))
            else:
                head = np.array([self.int(-8, 8) / 4 for _ in range(numel(shape))]).reshape(shape)
        source = "".join("    " * i + t + "\n" for i, t, _ in self.lines)
        fd_source = "".join("    " * i + t + "\n" for i, _, t in self.lines)
        return Case(source, fd_source, inputs, head, list(self.frozen), frozenset(self.features),
                    self.int(0, 127), self.chance(30))


@st.composite
def cases(draw, flags=None):
    return Gen(draw, FLAGS if flags is None else flags).program()


# --------------------------------------------------------------- checking

class Finding(AssertionError):
    """gradcli crashed, or disagreed with itself or with finite differences."""


@dataclass
class Stats:
    examples: int = 0
    ok: int = 0
    gradcli_errors: Counter = field(default_factory=Counter)
    elements: int = 0               # input elements compared with differences
    skipped: int = 0                # ... of which skipped as unreliable (kinks)
    hvp: int = 0                    # Hessian-vector products compared
    hvp_skipped: int = 0
    checks: int = 0                 # api.check runs (smooth programs only)
    untracked: int = 0              # results that depend on no input
    features: Counter = field(default_factory=Counter)
    side_errors: Counter = field(default_factory=Counter)   # own backward, float32 runs

    @property
    def errors(self) -> int:
        return sum(self.gradcli_errors.values())

    def error_rate(self) -> float:
        return self.errors / self.examples if self.examples else 0.0

    def skip_rate(self) -> float:
        return self.skipped / self.elements if self.elements else 0.0

    def hvp_skip_rate(self) -> float:
        return self.hvp_skipped / self.hvp if self.hvp else 0.0

    def summary(self) -> str:
        top = "; ".join(f"{n}x {k}" for k, n in self.gradcli_errors.most_common(3))
        return (f"{self.examples} programs: {self.ok} compared, {self.errors} gradcli errors "
                f"({100 * self.error_rate():.1f}%{' - ' + top if top else ''}), "
                f"{self.untracked} untracked results; {self.elements} input elements, "
                f"{self.skipped} skipped near kinks ({100 * self.skip_rate():.1f}%); "
                f"{self.hvp} Hessian-vector products, {self.hvp_skipped} skipped "
                f"({100 * self.hvp_skip_rate():.1f}%); {self.checks} api.check runs")


# Features that make a program's value depend on a decision (a branch, a
# kink, a mask) that float32 rounding may take the other way.
FRAGILE = frozenset({"kink", "data_condition", "while", "mask", "mod", "argmax", "break",
                     "if_in_function"})
STATS = Stats()             # what every check_case of this process saw
OPTIONS = api.Options()     # float64, the default seed
H = 1e-6                    # relative step of the central differences
EPS = np.finfo(np.float64).eps
RTOL, ATOL = 2e-5, 2e-6     # autodiff vs differences: ATOL is relative to the
#                             largest gradient element (gscale)


@dataclass
class Computed:
    """Everything one case produced, before any comparison."""
    value: np.ndarray                   # result of the tracked run
    base_value: np.ndarray              # result of the untracked run (fd_source)
    tracked: bool                       # does the result depend on an input?
    first: dict                         # first-order backward, retain_graph=True
    recorded: dict                      # create_graph=True on the same graph
    public: dict                        # api.gradient, a fresh run
    own: object = None                  # own_source's .grad, or the gradcli error it raised
    float32: object = None              # (value, grads) of a float32 run, or its error
    check: object = None                # api.check's result, or the gradcli error it raised
    forward: object = None              # grad --mode forward's gradients, or its error
    fd: dict = field(default_factory=dict)          # central differences
    spread: dict = field(default_factory=dict)      # half |forward - backward| difference
    noise: dict = field(default_factory=dict)       # rounding noise of the differences
    half: dict = field(default_factory=dict)        # ... at half the step, where suspect
    reliable: dict = field(default_factory=dict)    # decided by compare()
    hvp: Optional["Hvp"] = None
    hvp_reliable: bool = False


def _error_key(exc: GradcliError) -> str:
    words = str(exc).split()
    return f"{type(exc).__name__}: {' '.join(words[:7])}"


def _run(program, inputs):
    """Run untracked in float64: (interpreter, result tensor)."""
    interp, _ = api._prepare(program, inputs, OPTIONS, ())
    interp.run(program)
    return interp, api._result_tensor(interp, None)


def _objective(program, inputs, head) -> float:
    """sum(head * result): the scalar whose gradient backward computes."""
    _, out = _run(program, inputs)
    value = np.asarray(out.data, dtype=np.float64)
    return float(np.sum(value)) if head is None else float(np.sum(head * value))


def _as_array(g, like) -> np.ndarray:
    if g is None:
        return np.zeros(np.shape(like), dtype=np.float64)
    return np.array(np.asarray(g.data if isinstance(g, Tensor) else g), dtype=np.float64)


def close(a, b, rtol, atol) -> np.ndarray:
    """Elementwise |a - b| <= atol + rtol * max(|a|, |b|); NaN only matches
    NaN and an infinity only the same infinity."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    special = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    with np.errstate(all="ignore"):
        ok = np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))
    return ok | special


def differences(f, h, f0):
    """Central difference of the scalar function f(t) at t = 0 (f(0) = f0),
    as (estimate, spread, noise). spread is half the gap between the two
    one-sided differences: for a kink within h of the point (relu at 0, a
    max with a near tie) it bounds the error of the estimate, so the
    estimate is only trusted where spread is within the tolerance; a jump
    (a branch that flips) makes it huge. noise bounds the rounding error."""
    fp, fm = f(h), f(-h)
    with np.errstate(all="ignore"):
        central = (fp - fm) / (2 * h)
        spread = abs((fp - f0) / h - (f0 - fm) / h) / 2
    noise = 64 * EPS * max(abs(fp), abs(fm), abs(f0), 1e-300) / h
    if not all(np.isfinite(v) for v in (central, spread, f0)):
        spread = np.inf
    return float(central), float(spread), float(noise)


def fd_gradient(f, x, f0, suspect=lambda flat, estimate, noise: False):
    """Elementwise central differences of the scalar f at the array x, as
    (estimate, spread, noise, half). Where `suspect` says an estimate
    disagrees with autodiff, it is confirmed at half the step (`half`,
    NaN where not needed): a jump at the point with f there the midpoint of
    both sides (sign(0) = 0, a tie of maximum) fools the one-sided test but
    not that one. A moved point where the program stops with a gradcli
    error (a mask that selects another number of elements...) makes that
    element unusable."""
    grad, spread, noise = (np.zeros(x.shape) for _ in range(3))
    half = np.full(x.shape, np.nan)
    for flat in range(x.size):
        def along(t, flat=flat):
            moved = x.copy()
            moved.flat[flat] += t
            return f(moved)
        h = H * max(1.0, abs(float(x.flat[flat])))
        try:
            grad.flat[flat], spread.flat[flat], noise.flat[flat] = differences(along, h, f0)
            if suspect(flat, grad.flat[flat], noise.flat[flat]):
                half.flat[flat] = confirm(along, h)
        except GradcliError:
            grad.flat[flat], spread.flat[flat] = np.nan, np.inf
    return grad, spread, noise, half


def confirm(f, h) -> float:
    """The central difference at half the step."""
    with np.errstate(all="ignore"):
        return float((f(h / 2) - f(-h / 2)) / h)


def fd_tolerance(ad, fd, gscale, noise):
    """How far autodiff and central differences may be apart."""
    with np.errstate(all="ignore"):
        return RTOL * np.maximum(np.abs(ad), np.abs(fd)) + ATOL * gscale + 16 * noise


def trusted(fd, spread, half, tol):
    """Where differences can be trusted: finite, a kink's error bound within
    the tolerance, and (where it was asked for) the half step agreeing."""
    with np.errstate(all="ignore"):
        return (np.isfinite(fd) & (spread <= tol / 2)
                & (np.isnan(half) | (np.abs(fd - half) <= tol)))


def gradient_scale(grads) -> float:
    """The largest gradient element (at least 1): absolute tolerances scale with it."""
    return max([1.0] + [float(np.max(np.abs(g), initial=0)) for g in grads
                        if np.all(np.isfinite(g))])


@dataclass
class Hvp:
    ad: float               # u . H v through the recorded gradient
    fd: float               # central differences of v . gradient along u
    spread: float
    noise: float
    together: Optional[float] = None    # all gradients in one run_backward
    half: float = np.nan                # the differences at half the step, if asked


def compute(case: Case, hvp: bool = True) -> Computed:
    """Run `case` every way; gradcli's errors propagate."""
    program = api.load(case.source)
    fd_program = program if case.fd_source == case.source else api.load(case.fd_source)
    wrt = list(case.inputs)
    head_t = None if case.head is None else Tensor(np.array(case.head, dtype=np.float64))

    # The tracked run, and both backward passes on its one graph.
    interp, book = api._prepare(program, None, OPTIONS, wrt)
    interp.run(program)
    result = api._result_tensor(interp, None)
    if result is None:
        raise Finding("generated program has no result\n" + case.describe())
    if case.head is not None and tuple(result.shape) != case.head.shape:
        raise Finding(f"result has shape {tuple(result.shape)}, the generator expected "
                      f"{case.head.shape}\n{case.describe()}")
    targets = [api._wrt_tensor(interp, book, n) for n in wrt]
    value = np.array(result.data, dtype=np.float64)
    if result.requires_grad:
        first = engine.run_backward([result], [head_t], inputs=targets, retain_graph=True)
        recorded = engine.run_backward([result], [head_t], inputs=targets,
                                       retain_graph=True, create_graph=True)
    else:
        first = recorded = [None] * len(targets)

    # The public path: a fresh run, one plain backward (sometimes with the
    # inputs given as values to a program that declares none).
    head = None if case.head is None else case.head.tolist()
    if case.undeclared:
        public = api.gradient(api.load(case.undeclared_source),
                              {n: v.tolist() for n, v in case.inputs.items()}, OPTIONS,
                              wrt=wrt, head=head)
    else:
        public = api.gradient(program, None, OPTIONS, wrt=wrt, head=head)

    # The program running its own backward (in a REPL session, or as a
    # file), and the whole run in float32.
    try:
        if case.in_session:
            session = api.Session(OPTIONS)
            for chunk in case.chunks(case.own_source):
                session.execute(chunk)
            own = {n: np.asarray(session.grad(n)[1].value) for n in wrt}
        else:
            own = api.gradient(api.load(case.own_source), None, OPTIONS, wrt=wrt).grads
    except GradcliError as exc:
        own = exc
    # Forward mode (`grad --mode forward`): one pass per input element.
    try:
        forward = forward_mode.gradient(program, None, OPTIONS, wrt=wrt, head=head).grads
    except GradcliError as exc:
        forward = exc
    try:
        single = api.gradient(program, None, api.Options(dtype="float32"), wrt=wrt,
                              head=head)
        float32 = (np.asarray(single.value.value), single.grads)
    except GradcliError as exc:
        float32 = exc

    # The untracked run (as `gradcli eval` does it) gives the frozen values
    # the differences hold fixed; the graph is drawn as `gradcli graph` does.
    ran = api.run(fd_program)
    base_out = api._result_tensor(ran.interp, None)
    frozen = {n: np.array(ran.book.input_data[n], dtype=np.float64) for n in case.frozen}
    if result.requires_grad:
        api.graph(program, None, OPTIONS, wrt=wrt)
    out = Computed(
        value, np.array(base_out.data, dtype=np.float64), result.requires_grad,
        {n: _as_array(g, case.inputs[n]) for n, g in zip(wrt, first)},
        {n: _as_array(g, case.inputs[n]) for n, g in zip(wrt, recorded)},
        {n: np.array(public.grads[n], dtype=np.float64) for n in wrt}, own, float32,
        forward=forward)

    base = {**{n: v.copy() for n, v in case.inputs.items()}, **frozen}
    f0 = _objective(fd_program, base, case.head)
    gscale = gradient_scale(out.first.values())
    for n in wrt:
        def f(moved, n=n):
            return _objective(fd_program, {**base, n: moved}, case.head)

        def suspect(flat, estimate, noise, n=n):
            ad = out.first[n].flat[flat]
            return not abs(ad - estimate) <= fd_tolerance(ad, estimate, gscale, noise)
        out.fd[n], out.spread[n], out.noise[n], out.half[n] = fd_gradient(
            f, case.inputs[n], f0, suspect)

    if hvp and result.requires_grad:
        out.hvp = _hvp(case, fd_program, targets, recorded, frozen, out.public)
    # `gradcli check` differences the program as written, so only a smooth
    # program with nothing detached (and a modest value) must pass it.
    if (case.run_check and result.requires_grad and not case.frozen
            and not case.features & (FRAGILE | {"no_grad", "detach", "big"})
            and abs(f0) < 1e3):
        try:
            out.check = api.check(program, None, OPTIONS, wrt=wrt, head=head)
        except GradcliError as exc:
            out.check = exc
    return out


def _hvp(case, fd_program, targets, recorded, frozen, g_at_0):
    """u . H v through the recorded gradient (a backward of the backward)
    and by central differences of v . gradient along u."""
    wrt = list(case.inputs)
    rng = np.random.default_rng(zlib.crc32(case.source.encode()))
    v = {n: rng.uniform(-1, 1, case.inputs[n].shape) for n in wrt}
    u = {n: rng.uniform(-1, 1, case.inputs[n].shape) for n in wrt}
    outs = [(g, n) for g, n in zip(recorded, wrt) if g is not None and g.requires_grad]

    def u_dot(hv):
        return float(sum(np.sum(u[n] * _as_array(g, case.inputs[n])) for n, g in zip(wrt, hv)))

    ad = 0.0
    for g, n in outs:       # one backward per gradient: u . H v, summed
        ad += u_dot(engine.run_backward([g], [Tensor(v[n])], inputs=targets,
                                        retain_graph=True))
    together = None
    if outs and FLAGS.get("multi_output"):
        together = u_dot(engine.run_backward([g for g, _ in outs],
                                             [Tensor(v[n]) for _, n in outs],
                                             inputs=targets, retain_graph=True))
    head = None if case.head is None else case.head.tolist()

    def v_dot(grads):
        return float(sum(np.sum(v[n] * np.asarray(grads[n], dtype=np.float64)) for n in wrt))

    def s(t):
        moved = {n: case.inputs[n] + t * u[n] for n in wrt}
        return v_dot(api.gradient(fd_program, {**moved, **frozen}, OPTIONS, wrt=wrt,
                                  head=head).grads)

    step = H * max([1.0] + [float(np.max(np.abs(case.inputs[n]), initial=0)) for n in wrt])
    try:
        out = Hvp(ad, *differences(s, step, v_dot(g_at_0)), together)
        if not close(ad, out.fd, RTOL, ATOL * max(1.0, abs(out.fd)) + 16 * out.noise):
            out.half = confirm(s, step)
    except GradcliError:        # the program stops at a moved point: no verdict
        out = Hvp(ad, np.nan, np.inf, 0.0, together)
    return out


def compare(case: Case, c: Computed) -> list:
    """Every disagreement in `c`, as messages (empty: all agree). Also
    decides, into c.reliable, where the differences were trusted."""
    problems = []
    if c.base_value.shape != c.value.shape or not np.all(close(c.base_value, c.value,
                                                              1e-12, 1e-12)):
        problems.append(f"forward value: tracked run {_short(c.value)} vs untracked run "
                        f"{_short(c.base_value)}")
    gscale = gradient_scale(c.first.values())
    for n, x in case.inputs.items():
        for label, g in (("first-order", c.first[n]), ("create_graph", c.recorded[n]),
                         ("api.gradient", c.public[n])):
            if g.shape != x.shape:
                problems.append(f"{label} gradient of {n} has shape {g.shape}, the input "
                                f"{x.shape}")
        if problems:
            continue
        if not np.all(close(c.first[n], c.public[n], 1e-9, 1e-9 * gscale)):
            problems.append(f"d/d{n}: first-order backward (retain_graph) vs api.gradient")
        if not np.all(close(c.first[n], c.recorded[n], 1e-9, 1e-9 * gscale)):
            problems.append(f"d/d{n}: first-order vs recorded (create_graph) backward")
        if isinstance(c.forward, GradcliError):
            problems.append(f"forward mode raised what reverse mode did not: {c.forward}")
        elif c.forward[n].shape != x.shape or not np.all(
                close(c.first[n], c.forward[n], 1e-9, 1e-9 * gscale)):
            problems.append(f"d/d{n}: reverse mode (first-order backward) vs forward mode "
                            f"{_short(c.forward[n])}")
        if n in c.fd:
            tol = fd_tolerance(c.first[n], c.fd[n], gscale, c.noise[n])
            c.reliable[n] = trusted(c.fd[n], c.spread[n], c.half.get(n, np.nan), tol)
            for label, g in (("first-order", c.first[n]), ("create_graph", c.recorded[n])):
                bad = c.reliable[n] & ~close(g, c.fd[n], RTOL, ATOL * gscale + 16 * c.noise[n])
                if np.any(bad):
                    problems.append(f"d/d{n}: {label} backward vs central differences at "
                                    f"flat index {[int(i) for i in np.flatnonzero(bad)]}")
    if isinstance(c.own, dict):
        for n in case.inputs:
            g = np.asarray(c.own[n], dtype=np.float64)
            want = case.own_factor * c.first[n]
            if g.shape != want.shape or not np.all(close(g, want, 1e-9, 1e-9 * gscale)):
                problems.append(f"d/d{n}: the program's own backward (x.grad) vs "
                                f"{'' if case.own_factor == 1 else 'twice the '}first-order")
    # float32 numbers are compared only for programs without a kink or a
    # decision, which float32 rounding may take the other way.
    smooth = not case.features & FRAGILE and all(np.all(r) for r in c.reliable.values())
    if isinstance(c.float32, tuple) and not problems:
        value, grads = c.float32
        if value.dtype != np.float32:
            problems.append(f"float32 run: the result is {value.dtype}")
        elif smooth and not np.all(close(value, c.value, 1e-3, 1e-3 * max(1.0, float(
                np.max(np.abs(c.value), initial=0))))):
            problems.append(f"float32 run: value {_short(value)} vs float64 {_short(c.value)}")
        for n in case.inputs:
            g = np.asarray(grads[n])
            if g.dtype != np.float32 and FLAGS.get("float32_dtype"):
                problems.append(f"float32 run: d/d{n} is {g.dtype}")
            elif smooth and not np.all(close(g, c.first[n], 1e-3, 1e-3 * gscale)):
                problems.append(f"float32 run: d/d{n} {_short(g)} vs float64")
    if isinstance(c.check, api.CheckResult) and not c.check.ok and not problems and all(
            np.all(r) for r in c.reliable.values()):
        worst = {n: (v["max_abs_err"], v["max_rel_err"]) for n, v in c.check.vars.items()}
        problems.append(f"api.check (gradcli check) fails a gradient that agrees with "
                        f"central differences: max abs/rel error {worst}")
    if c.hvp is not None and not problems:
        h = c.hvp
        tol = fd_tolerance(h.ad, h.fd, max(1.0, abs(h.fd)), h.noise)
        c.hvp_reliable = bool(trusted(h.fd, h.spread, h.half, tol))
        if c.hvp_reliable and not close(h.ad, h.fd, RTOL, ATOL * max(1.0, abs(h.fd))
                                        + 16 * h.noise):
            problems.append("u.Hv through the recorded gradient vs central differences "
                            "of the first-order gradient")
        if h.together is not None and not close(h.ad, h.together, 1e-9,
                                                1e-9 * max(1.0, abs(h.ad))):
            problems.append("u.Hv: one run_backward over all gradients vs one per gradient")
    return problems


def message(case: Case, c: Computed, problems) -> str:
    lines = ["gradients disagree: " + "; ".join(problems), case.describe()]
    for n in case.inputs:
        lines.append(f"d/d{n}:")
        lines.append(f"  first-order   {_short(c.first[n])}")
        lines.append(f"  create_graph  {_short(c.recorded[n])}")
        lines.append(f"  api.gradient  {_short(c.public[n])}")
        if n in c.fd:
            lines.append(f"  central diff  {_short(c.fd[n])}")
            if n in c.reliable and not np.all(c.reliable[n]):
                lines.append("  (differences unreliable, not compared, at flat index "
                             f"{[int(i) for i in np.flatnonzero(~c.reliable[n])]})")
    lines.append(f"value: {_short(c.value)}")
    if case.undeclared:
        lines.append("api.gradient ran it without its `input` lines, the inputs given as "
                     "values")
    if isinstance(c.own, dict):
        lines.append("own backward (the program with attach_grad and backward"
                     f"{', typed into a REPL session statement by statement' if case.in_session else ''}):")
        lines.append(case.own_source.rstrip())
        lines.append("  gives " + ", ".join(f"{n}.grad={_short(g)}" for n, g in c.own.items()))
    if isinstance(c.float32, tuple):
        lines.append("float32 run: value " + _short(c.float32[0]) + ", " + ", ".join(
            f"d/d{n}={_short(g)} ({np.asarray(g).dtype})" for n, g in c.float32[1].items()))
    if c.hvp is not None:
        h = c.hvp
        lines.append(f"u.Hv: through create_graph {h.ad!r}, central differences {h.fd!r}"
                     f"{'' if np.isnan(h.half) else f' ({h.half!r} at half the step)'}"
                     f"{'' if c.hvp_reliable else ' (unreliable, not compared)'}"
                     f"{'' if h.together is None else f', all outputs at once {h.together!r}'}")
    return "\n".join(lines)


def check_case(case: Case, stats: Stats = STATS, hvp: Optional[bool] = None) -> str:
    """Run and compare `case`. Returns 'ok', 'untracked' (the result
    depends on no input) or 'error' (a gradcli error: acceptable, counted);
    raises Finding on any other exception or on a disagreement."""
    stats.examples += 1
    stats.features.update(case.features)
    try:
        c = compute(case, FLAGS.get("hvp", True) if hvp is None else hvp)
    except SyntaxProblem as exc:
        raise Finding(f"generated program does not parse: {exc}\n{case.describe()}") from exc
    except GradcliError as exc:
        stats.gradcli_errors[_error_key(exc)] += 1
        return "error"
    except Finding:
        raise
    except Exception as exc:        # noqa: BLE001 - any other exception is a finding
        raise Finding(f"gradcli raised {type(exc).__name__}: {exc}\n{case.describe()}\n\n"
                      f"{traceback.format_exc()}") from exc
    for label, got in (("own backward", c.own), ("float32", c.float32), ("check", c.check)):
        if isinstance(got, GradcliError):
            stats.side_errors[f"{label}: {_error_key(got)}"] += 1
    problems = compare(case, c)
    for n, reliable in c.reliable.items():
        stats.elements += reliable.size
        stats.skipped += int(np.sum(~reliable))
    if isinstance(c.check, api.CheckResult):
        stats.checks += 1
    if c.hvp is not None and not problems:
        stats.hvp += 1
        stats.hvp_skipped += 0 if c.hvp_reliable else 1
    if problems:
        raise Finding(message(case, c, problems))
    stats.ok += 1
    if not c.tracked:
        stats.untracked += 1
        return "untracked"
    return "ok"


def make_case(source: str, head=None, frozen=()) -> Case:
    """A Case from hand-written source (regression tests, pasted findings).
    Inputs are the program's `input` defaults; each name in `frozen` must be
    bound at top level by `name = detach(...)`, which the differences then
    hold fixed."""
    program = api.load(source)
    values = {n: v.astype(np.float64) for n, v in api.input_values(program, None, OPTIONS).items()}
    fd_lines = []
    for line in source.splitlines():
        name = line.split("=", 1)[0].strip()
        fd_lines.append(f"input {line}" if name in frozen and not line[:1].isspace() else line)
    inputs = {n: v for n, v in values.items() if n not in frozen}
    return Case(source, "\n".join(fd_lines) + "\n", inputs,
                None if head is None else np.array(head, dtype=np.float64), list(frozen))
