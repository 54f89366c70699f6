"""Hostile input for gradcli: random bytes, token soups, mutated samples and
random JSON, and an oracle that says whether gradcli handled it.

Strategies (hypothesis), each giving `Case`s:

  byte_cases()    random byte strings (with UTF-8 pieces, byte order marks,
                  NULs, overlong and surrogate encodings): decoded leniently
                  as a program for the api, and as raw bytes through the
                  CLI's own file and stdin reading;
  soup_cases()    token soups: random sequences of the language's tokens
                  (keywords, operators, brackets, built-in names, odd numbers
                  such as 1e400 or 1_0, strings with escapes and control
                  characters, newlines, indentation changes, `:` and `;`),
                  and "statement soups": lines of well-formed statements over
                  random expressions (built-ins called with odd arguments),
                  so the interpreter is reached and not only the parser;
  sample_cases()  samples/*.ag with random edits (lines and tokens deleted,
                  duplicated, swapped, inserted; indentation changed;
                  numbers replaced by odd ones; the text truncated);
  json_cases()    JSON documents and JSON Lines streams bound as inputs
                  (nesting, bad lines, "nan"/"inf", huge numbers, deep
                  nesting, keys with control characters, byte order marks)
                  on a few fixed programs.

`check(case, stats)` is the oracle. In-process, through `gradcli.api`
(`load`, `run`, sometimes `gradient`, `graph`, `check`), the only
acceptable exception is a `GradcliError`, and one with a span must point
inside the text it is about. Through the CLI (typer's CliRunner in-process
for some cases, the `gradcli` console script in a subprocess for a few) the
exit status is 0, 1 or 2; a failure's stderr is `ORIGIN:LINE:COL: error:
...` with the source line and a caret under the column, or `gradcli:
error: ...`; nothing says "Traceback" or "internal error"; no terminal control
character from the input reaches stdout or stderr; `--json` output is JSON,
one object per line; `eval --json` keeps what the program printed before it
failed; a JSON Lines stream gives one answer per line. No case may take
longer than its bound (`HANG_SECONDS` in-process, `PROCESS_SECONDS` in a
subprocess) or kill the process.

Anything else raises `Finding` (a subclass per signature, so hypothesis
keeps distinct findings apart) carrying the case, what happened and the
traceback. `reduce_case` shrinks a finding's text further, line by line
and then character by character, keeping its signature. `IGNORED` holds
signatures (regular expressions) of known findings: they are counted, not
raised, so that a long run can look for other things.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from hypothesis import strategies as st

from gradcli import api, jsonio
from gradcli.errors import GradcliError
from gradcli.lang.builtins import BUILTINS
from gradcli.lang.interpreter import ATTRIBUTE_NAMES

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLES = {p.name: p.read_text(encoding="utf-8") for p in sorted((REPO / "samples").glob("*.ag"))}

# The run's bounds: small, so a case costs little and a runaway one stops.
OPTIONS = dict(max_steps=20000, max_elements=100000, timeout=2.0, max_memory=256 * 2 ** 20)
CLI_LIMITS = ["--max-steps", "20000", "--max-elements", "100000"]
HANG_SECONDS = 20.0         # one case in-process, all of its stages
SLOW_SECONDS = 10.0         # one stage past its --timeout by this much: not honoured
PROCESS_SECONDS = 10.0      # one CLI run in a subprocess
ISOLATED_SECONDS = 30.0     # a deeply nested case, checked in a child process

PLAIN_ENV = {"COLUMNS": None, "LINES": None, "NO_COLOR": None, "FORCE_COLOR": None,
             "TERM": None}
PROCESS_ENV = {k: v for k, v in os.environ.items()
               if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TERM")}

# Signatures (regular expressions, `re.search`) of findings already reported:
# counted in Stats.known instead of raised. `python -m tests.fuzz_inputs
# --ignore REGEX` adds to it; so does the run itself after each finding.
IGNORED: list[str] = []

# Findings reported and not fixed yet: name -> (signature pattern, the
# reproducer). `apply_known()` ignores a signature as long as its reproducer
# still shows it, so a fix switches the filter off by itself.
KNOWN: dict[str, tuple[str, "Case"]] = {}


# ================================================================ the cases

@dataclass(frozen=True)
class Case:
    """One input and the paths it takes.

    family: bytes | soup | sample | json. `data` is the program text (str),
    or for `bytes` the raw bytes; for `json` it is the stdin stream (str or
    bytes) and `program` the program it binds. `cli` is None (api only) or
    the CLI arguments after the program (["eval", "--json"], ...);
    `deliver` says how the CLI gets the program (file, expr, stdin);
    `process` runs the CLI in a subprocess instead of CliRunner.
    """

    family: str
    data: object
    decoding: str = "replace"          # bytes -> program text for the api
    program: str = ""                  # json: the program
    cli: Optional[tuple] = None
    deliver: str = "file"
    process: bool = False
    deeper: bool = False               # also api.gradient / graph / check

    def text(self) -> str:
        """The program text the api sees."""
        if self.family == "bytes":
            return decode_bytes(self.data, self.decoding)
        if self.family == "json":
            return self.program
        return self.data

    def show(self) -> str:
        lines = [f"family: {self.family}"]
        if self.family == "bytes":
            lines.append(f"bytes: {self.data!r}  (decoded for the api with {self.decoding})")
        elif self.family == "json":
            lines.append(f"program: {self.program!r}")
            lines.append(f"stdin: {self.data!r}")
        else:
            lines.append(f"source: {self.data!r}")
        if self.cli:
            how = "subprocess: the gradcli console script" if self.process else "CliRunner"
            lines.append(f"cli ({how}): gradcli {' '.join(self.cli)} "
                         f"[program as {self.deliver}]")
        elif self.deeper:
            lines.append("api: load, run, gradient, graph, check")
        return "\n".join(lines)


def decode_bytes(data: bytes, how: str) -> str:
    if how == "latin-1":
        return data.decode("latin-1")
    return data.decode("utf-8", how)


def _encode(text) -> bytes:
    if isinstance(text, bytes):
        return text
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# ================================================================ vocabulary

KEYWORDS = ("if elif else while for in def return pass break continue input lambda not "
            "and or is True False None with as import from try except yield del global "
            "class raise assert print record no_grad pause").split()
OPERATORS = ("+ - * / // % @ ** < <= > >= == != = += -= *= /= %= **= //= @= ( ) [ ] { } "
             ", . : ; ... ~ & | ^ ! ? $ ` -> := \\ ' \"").split()
NAMES = sorted(set(BUILTINS) | set(ATTRIBUTE_NAMES) | set(api.builtin_names())) + [
    "x", "y", "z", "w", "b", "f", "g", "i", "n", "lst", "_", "__class__", "__dict__",
    "print", "range", "len", "help", "plot", "scatter", "list", "enumerate", "zip",
    "append", "sym", "var", "d2l", "mxnet", "torch", "numpy", "math", "os", "sys", "open",
    "eval", "exec", "__import__", "globals", "é", "名前", "x\u0301", "ﬁ", "Ωmega"]
ODD_NUMBERS = [
    "0", "1", "2", "-1", "007", "00", "1e400", "-1e400", "1e-400", "1_0", "1__0", "1_",
    "_1", ".5e-3", "1.", "1.e5", "0.0", "-0.0", "1e308", "1.7976931348623157e308",
    "4.9e-324", "9" * 400, "1" + "0" * 30, "0x10", "0b1", "0o7", "1j", "1e", "1e+", "1e-",
    "1_000_000", "2.5", "3.14159", "1E5", ".5", "5.", ".", "1..2", "1e1_0", "1_0.0_1",
    "1e9", "1e18", "1e19", "9223372036854775808", "100000", "99999999999", "1e5000",
    "0.1e-99999", "1" * 5000, "2e-308", "65536", "1e6", "-1e18", "3.5", "-2", "4",
]
ESCAPES = ["\\n", "\\t", "\\\\", "\\'", '\\"', "\\x00", "\\x1b", "\\x1b[31m", "\\u1234",
           "\\U0001F600", "\\N{BULLET}", "\\0", "\\a", "\\q", "\\r", "\\u202e", "\\xff",
           "\\ud800", "\\U00110000", "\\x", "\\u12"]
RAW_CONTROLS = ["\x00", "\x1b", "\x1b[2J", "\x07", "\x08", "\x7f", "\x85", "\x9b", "\u2028",
                "\ufeff", "\u202e", "\r", "\x0b", "\x0c", "\ud800", "\udcff"]
LAYOUT = ["\n", "\n    ", "\n  ", "\n\t", "\n        ", "\n \t", "\r\n", "\r", "\\\n",
          " \\\n", "# comment\n", "#\x1b[31m red\n", "\x0c", "\n\n", "\t", "    ", "\n" * 5,
          "\n# c\n    ", "\n   "]
SEPARATORS = [" ", "", " ", " ", "  ", "\t"]
VARS = ["x", "y", "z", "w", "f", "lst", "i", "s", "t", "m"]
KEYWORD_ARGS = ["axis", "dim", "keepdims", "keepdim", "dtype", "requires_grad", "sep", "end",
                "retain_graph", "create_graph", "grad_req", "shape", "out", "ord", "min",
                "max", "head", "loc", "scale", "size", "step", "p", "n", "k", "x", "a",
                "num", "endpoint", "start", "stop", "argnums", "v", "fill_value", "value"]
CALLABLES = sorted(BUILTINS) + ["print", "len", "range", "float", "int", "list", "enumerate",
                                "zip", "f", "g", "grad(f)", "grad(g)", "jacobian(f)",
                                "hessian(f)", "(lambda a: a * 2)", "help", "plot",
                                "torch.tensor", "nd.array", "np.ones", "F.relu",
                                "autograd.record", "d2l.plot", "x.grad_fn", "sym.var"]
LITERALS = ["[1.0, 2.0]", "[[1, 2], [3, 4]]", "[]", "[[]]", "[[1], [2, 3]]", "()", "(2, 3)",
            "(-1,)", "(2, -1)", "True", "False", "None", "'a'", '"%d"', "[x, y]", "[1, [2]]",
            "[True, 2]", "[None]", "['a']", "[f]", "[x, 2 * x]", "(1, 'a')", "[[[1.5]]]",
            "[1e400]", "[0.0, -0.0]", "[[1, 2], [3]]", "(x,)", "[[x]]", "[y, [1, 2]]",
            "[-1, 0, 1]", "[0, 0, 1]", "lst", "lst[0]", "x.T", "x.shape", "x.grad", "x > 0",
            "[[1, 2, 3], [4, 5, 6]]", "ones(2, 3)", "arange(6)", "zeros(0)", "ones(())",
            "eye(3)", "ones(2, 2, 2)", "1 / 0", "0 / 0", "-1 ** 0.5", "1e308 * 10"]


def _strings():
    """String literals: escapes, raw control characters, f-strings, some
    left unterminated."""
    piece = st.one_of(st.sampled_from(ESCAPES), st.sampled_from(RAW_CONTROLS),
                      st.text(max_size=4), st.sampled_from(["{x}", "{x:f}", "{", "}",
                                                            "%d", "%s", "%.3f", " "]))

    @st.composite
    def build(draw):
        quote = draw(st.sampled_from(["'", '"', "'''", '"""']))
        prefix = draw(st.sampled_from(["", "", "", "f", "r", "b", "F", "rb", "u"]))
        body = "".join(draw(st.lists(piece, max_size=5)))
        end = "" if draw(st.integers(0, 7)) == 7 else quote
        return prefix + quote + body + end
    return build()


def _numbers():
    return st.one_of(
        st.sampled_from(ODD_NUMBERS),
        st.integers(-10 ** 30, 10 ** 30).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.from_regex(r"\A[0-9_]{1,8}(\.[0-9_]{0,4})?([eE][+-]?[0-9_]{1,5})?\Z"),
    )


def _tokens():
    return st.one_of(
        st.sampled_from(KEYWORDS), st.sampled_from(OPERATORS), st.sampled_from(NAMES),
        _numbers(), _strings(), st.sampled_from(LAYOUT), st.sampled_from([":", ";"]),
        st.sampled_from(LITERALS), st.sampled_from(RAW_CONTROLS),
    )


# Deep nesting: (pattern, depth). Checked in a child process (`_deep`).
NESTINGS = {
    "parens": lambda k: "(" * k + "1" + ")" * k,
    "brackets": lambda k: "[" * k + "1" + "]" * k,
    "minus": lambda k: "-" * k + "1",
    "not": lambda k: "not " * k + "True",
    "transpose": lambda k: "ones(2, 2)" + ".T" * k,
    "calls": lambda k: "abs(" * k + "1" + ")" * k,
    "sum": lambda k: "1" + " + 1" * k,
    "power": lambda k: "1 ** " * k + "1",
    "index": lambda k: "[1]" + "[0]" * k,
    "open": lambda k: "(" * k,
    "lambdas": lambda k: "lambda: " * k + "1",
    "ifs": lambda k: _blocks("if True:", min(k, 400)),
    "defs": lambda k: _blocks("def f():", min(k, 400)),
    "list": lambda k: "[" + "1, " * k + "]",
    "string": lambda k: "'" + "a" * k + "'",
    "line": lambda k: "x = 1\n" * k + "x",
}


def _blocks(header: str, k: int) -> str:
    """`header` nested k deep (indentation one space per level: linear size)."""
    return "".join(" " * d + header + "\n" for d in range(k)) + " " * k + "pass"


def _nesting(deep_per_mille: int):
    """A nested piece: shallow mostly, deep (checked in a child process, so
    costly) for `deep_per_mille` of them."""
    depth = _share(deep_per_mille).flatmap(
        lambda deep: st.sampled_from([300, 1100, 3000, 25000] if deep else [2, 10, 60]))
    return st.builds(lambda name, k: NESTINGS[name](k), st.sampled_from(sorted(NESTINGS)),
                     depth)


def _join(pairs) -> str:
    return "".join(token + sep for token, sep in pairs)


def free_soups(deep: int = 300):
    """Random token sequences; some with a nested piece, `deep` per mille
    of those deeply nested."""
    plain = st.lists(st.tuples(_tokens(), st.sampled_from(SEPARATORS)), max_size=30).map(_join)
    short = st.lists(st.tuples(_tokens(), st.sampled_from(SEPARATORS)), max_size=6).map(_join)
    nested = st.builds(lambda a, n, b: a + n + b, short, _nesting(deep), short)
    return st.one_of(plain, plain, plain, nested)


# --------------------------------------------------------- statement soups

_EXPRESSIONS = None


def expressions():
    """Random expressions (built once: a recursive strategy is costly to make)."""
    global _EXPRESSIONS
    if _EXPRESSIONS is None:
        _EXPRESSIONS = _expressions()
    return _EXPRESSIONS


TAME_NUMBERS = ["0", "1", "2", "3", "-1", "-2", "0.5", "2.5", "-0.0", "1e400", "1e-400",
                "1_0", ".5e-3", "1.", "1e308", "4.9e-324", "9" * 400, "1e18", "1e19", "1e6",
                "100000", "65536", "1e5000", "0.1"]
TAME_STRINGS = ["'a'", '"text"', "'%d'", "'\\x1b[31m'", "'\x1b'", "'\\n'", "''", "'{x}'",
                "'\u202e'", "'\\\\'", "'%s %s'", "'add'",
                "'write'", "'null'", "'float32'", "'int'", "'sum'"]


def _receiver(text: str) -> str:
    """`text` made fit to stand before `.name`: `2.sum()` does not lex."""
    return text if re.fullmatch(r"[^\W\d]\w*|\w*[\])]", text) else f"({text})"


def _expressions():
    """Expressions that mostly parse: built-ins called with odd arguments,
    operators, indexing, methods, literals; now and then a wild token."""
    atom = st.one_of(st.sampled_from(VARS), st.sampled_from(VARS), st.sampled_from(TAME_NUMBERS),
                     st.integers(-3, 10).map(str), st.floats(-1e6, 1e6).map(repr),
                     st.sampled_from(LITERALS), st.sampled_from(TAME_STRINGS),
                     st.sampled_from(sorted(BUILTINS)))

    def extend(e):
        keywords = st.dictionaries(st.sampled_from(KEYWORD_ARGS), e, max_size=2)
        args = st.builds(lambda p, k: ", ".join(p + [f"{n}={v}" for n, v in k.items()]),
                         st.lists(e, max_size=3), keywords)
        bound = st.one_of(st.just(""), e)
        subscript = st.one_of(e, st.builds(lambda a, b, c: f"{a}:{b}:{c}", bound, bound, bound),
                              st.builds(lambda a, b: f"{a}:{b}", bound, bound),
                              st.sampled_from([":", "...", "None", "::-1", "-1", "::0"]))
        call = st.builds(lambda f, a: f"{f}({a})", st.sampled_from(CALLABLES), args)
        return st.one_of(
            call, call, call,
            st.builds(lambda a, op, b: f"{a} {op} {b}", e,
                      st.sampled_from(["+", "-", "*", "/", "//", "%", "@", "**", "<", "<=",
                                       ">", ">=", "==", "!=", "and", "or"]), e),
            st.builds(lambda op, a: f"{op}{a}", st.sampled_from(["-", "+", "not "]), e),
            st.builds(lambda a, s: f"{a}[{', '.join(s)}]", e, st.lists(subscript, min_size=1,
                                                                       max_size=3)),
            st.builds(lambda a, n: f"{_receiver(a)}.{n}", e,
                      st.sampled_from(sorted(ATTRIBUTE_NAMES))),
            st.builds(lambda a, n, r: f"{_receiver(a)}.{n}({r})", e,
                      st.sampled_from(sorted(BUILTINS) + ["append"]), args),
            st.lists(e, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.lists(e, min_size=1, max_size=3).map(lambda xs: "(" + ", ".join(xs) + ",)"),
            st.builds(lambda a: f"(lambda a: {a})", e),
            st.builds(lambda a, b: f"'%d %s' % ({a}, {b})", e, e),
        )
    return st.recursive(atom, extend, max_leaves=8)


PREAMBLE = [
    "input x = [[1.0, 2.0], [3.0, 4.0]]",
    "y = [0.5, -1.5]",
    "z = 3.0",
    "w = ones(2, 2)",
    "s = 'text'",
    "lst = [x, y]",
    "def f(a):\n    return a * a",
    "def g(a, b=2):\n    return sum(a) * b",
    "i = 1",
    "t = [1.0]",
    "m = eye(2)",
]
HEADERS = ["if {e}:", "if {e}:", "while {e}:", "for {v} in {e}:", "for {v} in range({e}):",
           "with record:", "with no_grad:", "with pause:", "with {e}:", "def {v}({v}, b=1):",
           "def {v}():"]
SIMPLE = ["{v} = {e}", "{v} = {e}", "{v} = {e}", "{e}", "{e}", "print({e})",
          "print({e}, {e}, sep={e})", "{v} += {e}", "{v} -= {e}", "{v} *= {e}", "{v} /= {e}",
          "{v}[{e}] = {e}", "{v}[{e}] += {e}", "{v}, t = {e}", "input {v}", "input {v} = {e}",
          "attach_grad({v})", "{v}.attach_grad()", "{v}.backward()", "backward({v}, {e})",
          "{v}.backward({e})", "{v}.grad", "{v}.zero_()", "pass", "{v}[{e}][{e}] = {e}",
          "{v} = sym.var('a')", "help({e})",
          "{v} = grad({v})", "{v} = jvp(f, {e}, {e})", "{v} = {e}; {v} = {e}",
          "{v}.attach_grad(grad_req='add')", "{v} = {v}.detach()", "{v}.grad[{e}] = {e}",
          "{v}.requires_grad_()", "{v} = {v}.numpy()", "{v} = jacobian({v})({e})"]


@st.composite
def statement_soups(draw):
    """Programs of (mostly) well-formed statements over random expressions:
    most get past the parser, so built-ins and the interpreter see odd
    arguments."""
    e, v = expressions(), st.sampled_from(VARS)

    def fill(template):
        return re.sub(r"\{e\}|\{v\}", lambda m: draw(e if m[0] == "{e}" else v), template)

    def block(depth, loop, function):
        lines = []
        inner = SIMPLE + (["break", "continue"] if loop else []) + (
            ["return {e}", "return {e}", "yield {e}"] if function else [])
        for _ in range(draw(st.integers(1, 4 if depth else 6))):
            if depth < 3 and draw(st.integers(0, 4)) == 4:
                header = draw(st.sampled_from(HEADERS))
                lines.append(("    " * depth) + fill(header))
                lines += block(depth + 1, loop or header.startswith(("for", "while")),
                               function or header.startswith("def"))
                if header.startswith("if") and draw(st.booleans()):
                    lines.append("    " * depth + draw(st.sampled_from(["else:", "elif x:"])))
                    lines += block(depth + 1, loop, function)
            else:
                lines.append("    " * depth + fill(draw(st.sampled_from(inner))))
        return lines
    # The preamble binds every name in VARS; the reducer drops what a finding
    # does not need.
    lines = PREAMBLE + block(0, False, False)
    if draw(_share(150)):                # a wild token somewhere
        i = draw(st.integers(0, len(lines) - 1))
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + draw(_tokens()) + lines[i][at:]
    if draw(st.integers(0, 5)) == 5:     # a layout accident
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.sampled_from(["\t", " ", "  ", ""])) + lines[i].lstrip(
            " " if draw(st.booleans()) else "")
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\r\n", " "]))


# -------------------------------------------------------- mutated samples

_TOKEN = re.compile(r"""[ \t]+|\n|#[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
                    r"""|\d[\w.]*|\.\d\w*|\w+|\*\*|//|[<>=!+\-*/]=|.""", re.S)


def _token_edit(draw, text: str) -> str:
    tokens = _TOKEN.findall(text)
    if not tokens:
        return text
    i = draw(st.integers(0, len(tokens) - 1))
    op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "number",
                               "name"]))
    if op == "delete":
        del tokens[i]
    elif op == "duplicate":
        tokens.insert(i, tokens[i])
    elif op == "swap" and i + 1 < len(tokens):
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    elif op == "insert":
        tokens.insert(i, draw(_tokens()))
    elif op == "replace":
        tokens[i] = draw(_tokens())
    elif op == "number":
        numbers = [k for k, t in enumerate(tokens) if t[:1].isdigit()]
        if numbers:
            tokens[numbers[i % len(numbers)]] = draw(_numbers())
    elif op == "name":
        names = [k for k, t in enumerate(tokens) if t[:1].isalpha() or t[:1] == "_"]
        if names:
            tokens[names[i % len(names)]] = draw(st.sampled_from(NAMES + VARS))
    return "".join(tokens)


def _line_edit(draw, text: str) -> str:
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["delete", "duplicate", "swap", "move", "indent", "dedent",
                               "tab", "insert", "truncate", "join", "block"]))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(j, lines[i])
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "move":
        lines.insert(j, lines.pop(i))
    elif op == "indent":
        lines[i] = draw(st.sampled_from([" ", "    ", "  ", "        "])) + lines[i]
    elif op == "dedent":
        lines[i] = lines[i].lstrip() if draw(st.booleans()) else lines[i][1:]
    elif op == "tab":
        lines[i] = lines[i].replace("    ", "\t", 1)
    elif op == "insert":
        lines.insert(i, draw(expressions()))
    elif op == "join" and i + 1 < len(lines):
        lines[i:i + 2] = [lines[i] + draw(st.sampled_from(["; ", " ", ""])) + lines[i + 1]]
    elif op == "block":
        lines.insert(i, draw(st.sampled_from(["if True:", "while False:", "with record:",
                                              "def h():", "for q in range(3):"])))
    text = "\n".join(lines)
    if op == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    return text


@st.composite
def mutated_samples(draw):
    name = draw(st.sampled_from(sorted(SAMPLES)))
    text = SAMPLES[name]
    for _ in range(draw(st.integers(1, 4))):
        text = (_line_edit if draw(st.booleans()) else _token_edit)(draw, text)
    return text


# ---------------------------------------------------------------- bytes

BYTE_PIECES = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00", b"\r", b"\r\n", b"\n",
               b"\xc0\xaf", b"\xed\xa0\x80", b"\xed\xb2\x80", b"\xf4\x90\x80\x80", b"\xc3",
               b"\xe2\x80\xa8", b"\xc2\x85", b"\xc2\x9b", b"\x1b[31m", b"\x80", b"\xff",
               b"    ", b"\t", b"x = 1\n", b"print(x)\n", b"input x = [1, 2]\n",
               b"sum(x * x)\n", b"if x:\n    ", b"'", b'"', b"#", b"\\", b"\xe4\xb8\xad"]


def random_bytes():
    piece = st.one_of(st.binary(max_size=12), st.sampled_from(BYTE_PIECES),
                      st.sampled_from(BYTE_PIECES),
                      _tokens().map(lambda t: t.encode("utf-8", "surrogatepass")))
    return st.lists(piece, max_size=20).map(b"".join)


# ---------------------------------------------------------------- JSON

JSON_PROGRAMS = [
    "input x\nsum(x * x)\n",
    "input x\ninput w = [1.0, 2.0]\nsum(x) * sum(w)\n",
    "input x = 1\nprint(x, x.shape)\nx * 2\n",
    "sum(x * 3)\n",
    "print(x)\nx\n",
    "input x\ninput y\nx @ y\n",
]
JSON_KEYS = ["x", "x", "x", "w", "y", "", "X", "x ", "\x1b[31mx", "x\x00", "\u202ex", "sum",
             "print", "__class__", "é", "x\ny", "\ud800", "\x85", "input", "True", "1x",
             "a" * 300]
JSON_ODD_NUMBERS = ["1e400", "-1e400", "1e-400", "1" * 400, "-0", "1E5", "0.1e1",
                    "123456789012345678901234567890", "NaN", "Infinity", "-Infinity",
                    "1.0e+308", "2.5e-324", "9" * 19, "1" * 18, "-" + "9" * 18]
JSON_BAD_LINES = ['{"x": 1,}', "{'x': 1}", '{"x": }', "[1, 2,]", "x", "{}{}", '{"x": 1} 2',
                  "nul", "tru", "01", "[1 2]", '"\\x"', '"\\u12"', '{"x": [1, 2]}]',
                  "\ufeff{}", '{"x": 1}\ufeff', '{"x" 1}', "[.5]", "[+1]", "{,}", "[[]]]",
                  '{"x": "\x00"}', "\x1b[2J", "\x00", "[1e999999]", '{"x": 1e400}',
                  '{"x": [1], "x": [1, 2]}', "[1, [2]]", "[[1, 2], [3]]", '{"x": {"y": 1}}',
                  "null", "true", '"nan"', '{"x": "NaN"}', '{"x": "-inf"}', '{"x": "+inf"}',
                  '{"x": [1, 2', '{"x": "open', '[1,', '{"x": 1', "]"]


def _json_values():
    scalar = st.one_of(
        st.integers(-10 ** 20, 10 ** 20), st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([0.5, -1.5, 2.0, 1, 0]),
        st.sampled_from(["nan", "inf", "-inf", "Infinity", "-Infinity", "NaN", "", "1",
                         "x", "\x1b[31m"]),
        st.booleans(), st.none())
    rectangular = st.one_of(
        st.lists(st.floats(-10, 10), min_size=1, max_size=4),
        st.integers(1, 3).flatmap(lambda n: st.lists(
            st.lists(st.floats(-10, 10), min_size=n, max_size=n), min_size=1, max_size=3)))
    return st.recursive(
        st.one_of(scalar, rectangular, rectangular),
        lambda c: st.one_of(st.lists(c, max_size=4),
                            st.dictionaries(st.sampled_from(JSON_KEYS), c, max_size=3)),
        max_leaves=10)


class _Raw:
    """A JSON number spelled as given (1e400, NaN, 400 digits)."""

    def __init__(self, text):
        self.text = text


def _dump(value, indent) -> str:
    """json.dumps, with _Raw numbers spelled as they are."""
    marks = {}

    def mark(v):
        if isinstance(v, _Raw):
            key = f"@@raw{len(marks)}@@"
            marks[key] = v.text
            return key
        if isinstance(v, list):
            return [mark(i) for i in v]
        if isinstance(v, dict):
            return {k: mark(i) for k, i in v.items()}
        return v
    text = json.dumps(mark(value), indent=indent, ensure_ascii=indent is None)
    for key, raw in marks.items():
        text = text.replace(f'"{key}"', raw)
    return text


@st.composite
def json_documents(draw):
    """One document: an object binding x (and w, y), or a bare value; some
    with a raw number, deep nesting, or pretty-printed over many lines."""
    kind = draw(st.integers(0, 10))
    if kind == 10:       # big: a 20,000-line document (SPEC 7), or one long line
        n = draw(st.sampled_from([1000, 20000]))
        return _dump({"x": [0.5] * n}, draw(st.sampled_from([0, None])))
    if kind <= 4:
        value = draw(st.dictionaries(st.sampled_from(JSON_KEYS), _json_values(), max_size=3))
    elif kind == 5:
        value = draw(_json_values())
    elif kind == 6:
        depth = draw(st.sampled_from([3, 100, 499, 500, 501, 1000, 20000]))
        value = {"x": _Raw("[" * depth + "1" + "]" * depth)}
    else:
        value = {"x": _Raw(draw(st.sampled_from(JSON_ODD_NUMBERS)))}
        if draw(st.booleans()):
            value = {"x": [value["x"], _Raw(draw(st.sampled_from(JSON_ODD_NUMBERS)))]}
    indent = draw(st.sampled_from([None, None, None, 2, 0, "\t"]))
    return _dump(value, indent)


@st.composite
def json_streams(draw):
    """A stream: documents (one per line, or pretty-printed), bad lines,
    blank lines, a byte order mark, \\r\\n, no final newline."""
    parts = draw(st.lists(st.one_of(json_documents(), json_documents(),
                                    st.sampled_from(JSON_BAD_LINES),
                                    st.sampled_from(["", " ", "\t"])), min_size=0, max_size=6))
    newline = draw(st.sampled_from(["\n", "\n", "\n", "\r\n"]))
    text = newline.join(parts) + draw(st.sampled_from([newline, newline, ""]))
    if draw(st.integers(0, 5)) == 5:
        text = "\ufeff" + text
    return text


# ======================================================= case strategies

# (arguments after the program, weight): what the CLI runs a program with.
PROGRAM_COMMANDS = [("eval",), ("eval",), ("eval", "--json"), ("eval", "--json"), ("grad",),
                    ("grad", "--json"), ("graph",), ("graph", "--dot"), ("explain",),
                    ("check",), ("grad", "--order", "2"), ("grad", "--jacobian"),
                    ("grad", "--mode", "forward"), ("plot",), ("eval", "--dtype", "float32")]
JSON_COMMANDS = [("grad", "--json"), ("grad", "--json", "--keep-going"),
                 ("eval", "--json", "--keep-going"), ("grad",), ("grad", "--keep-going"),
                 ("eval",), ("eval", "--json"), ("check", "--json")]


def _share(per_mille: int):
    """True for about `per_mille` of 1000 draws; shrinks to False. (A short
    list to sample from: hypothesis draws its items about evenly, where it
    favours the small end of an integer range.)"""
    if per_mille <= 0:
        return st.just(False)
    if per_mille >= 1000:
        return st.just(True)
    if per_mille >= 50:
        n = round(per_mille / 50)
        return st.sampled_from([False] * (20 - n) + [True] * n)
    n = max(1, round(per_mille * 20 / 50))       # one in 20, then n in 20
    return st.tuples(_share(50), _share(n * 50)).map(all)


@st.composite
def _paths(draw, commands, cli_per_mille, process_per_mille, deliveries):
    """Which paths a case takes. Drawn so that shrinking drops the CLI."""
    cli = None
    process = False
    deliver = "file"
    if draw(_share(cli_per_mille)):
        cli = draw(st.sampled_from(commands))
        deliver = draw(st.sampled_from(deliveries))
        process = draw(_share(1000 * process_per_mille // max(cli_per_mille, 1)))
    deeper = draw(_share(250))
    return cli, deliver, process, deeper


def byte_cases(cli=250, process=0):
    return st.builds(
        lambda data, how, paths: Case("bytes", data, decoding=how, cli=paths[0],
                                      deliver=paths[1], process=paths[2], deeper=paths[3]),
        random_bytes(), st.sampled_from(["replace", "surrogateescape", "latin-1", "ignore"]),
        _paths(PROGRAM_COMMANDS, cli, process, ["file", "file", "stdin"]))


def _text_cases(family, texts, cli, process):
    return st.builds(
        lambda text, paths: Case(family, text, cli=paths[0], deliver=paths[1],
                                 process=paths[2], deeper=paths[3]),
        texts, _paths(PROGRAM_COMMANDS, cli, process, ["file", "file", "expr", "stdin"]))


def soup_cases(cli=250, process=0, deep=300):
    return _text_cases("soup", st.one_of(free_soups(deep), statement_soups(),
                                         statement_soups()), cli, process)


def sample_cases(cli=250, process=0):
    return _text_cases("sample", mutated_samples(), cli, process)


def json_cases(cli=400, process=0):
    stream = st.one_of(json_streams(), json_streams(), json_streams(),
                       json_streams().map(lambda t: t.encode("utf-8", "surrogatepass")),
                       st.builds(lambda t, junk: _encode(t) + junk, json_streams(),
                                 st.sampled_from([b"\xff\n", b"\xc3", b"\x00\n{}\n",
                                                  b"\xed\xa0\x80\n"])))
    return st.builds(
        lambda program, data, paths: Case("json", data, program=program, cli=paths[0],
                                          deliver="file", process=paths[2],
                                          deeper=paths[3]),
        st.sampled_from(JSON_PROGRAMS), stream,
        _paths(JSON_COMMANDS + [("--set",)], cli, process, ["file"]))


def all_cases(cli=250, process=0):
    return st.one_of(byte_cases(cli, process), soup_cases(cli, process),
                     sample_cases(cli, process), json_cases(cli, process))


FAMILIES = {"bytes": byte_cases, "soup": soup_cases, "sample": sample_cases,
            "json": json_cases}


# ================================================================= oracle

def _known() -> dict:
    """Findings not fixed yet: name -> (signature pattern, reproducer). I1
    (a program on stdin that is not UTF-8) and I2 (such a line in a JSON
    Lines stream) were fixed by reading stdin through `gradcli.textin`."""
    return {}


def apply_known(stats: Optional["Stats"] = None) -> list[str]:
    """Ignore the signatures of known findings whose reproducer still shows
    them; return the names of those still open."""
    KNOWN.update(_known())
    still = []
    for name, (pattern, case) in KNOWN.items():
        try:
            check(case, Stats())
        except Finding as found:
            if re.search(pattern, found.signature):
                still.append(name)
                if pattern not in IGNORED:
                    IGNORED.append(pattern)
    return still


class Finding(Exception):
    """gradcli did something the contract rules out."""

    def __init__(self, signature: str, case: Case, what: str):
        super().__init__(signature)
        self.signature = signature
        self.case = case
        self.what = what

    def __str__(self) -> str:
        return (f"[{self.signature}]\n{self.case.show()}\n--- what happened:\n"
                f"{self.what.rstrip()}")


_FINDING_TYPES: dict[str, type] = {}


def _finding(signature: str, case: Case, what: str) -> Finding:
    """A Finding of a class of its own per signature: hypothesis tells
    findings apart by exception type and place, and all are raised here."""
    kind = _FINDING_TYPES.get(signature)
    if kind is None:
        slug = re.sub(r"\W+", "_", signature)[:60]
        kind = _FINDING_TYPES[signature] = type(f"Finding_{slug}", (Finding,), {})
    return kind(signature, case, what)


class Hang(BaseException):
    """A case ran past its bound (raised by SIGALRM; a BaseException, so no
    `except Exception` inside gradcli swallows it)."""


@dataclass
class Stats:
    cases: Counter = field(default_factory=Counter)        # per family
    outcomes: Counter = field(default_factory=Counter)     # "family stage outcome"
    known: Counter = field(default_factory=Counter)        # ignored signatures
    # EvalErrors made from a Python exception (the interpreter turns a
    # TypeError, ValueError... inside an expression into one, with Python's
    # message): answers, but worth a look. "Type in file:function: message".
    masked: Counter = field(default_factory=Counter)
    cli_runs: int = 0
    process_runs: int = 0
    isolated: int = 0
    skipped_cli: int = 0

    def parse_error_rate(self, family: str) -> float:
        n = self.cases[family]
        return self.outcomes[f"{family} load SyntaxProblem"] / n if n else 0.0

    def reached(self, family: str) -> int:
        """Cases of `family` that got past the parser."""
        return sum(n for key, n in self.outcomes.items()
                   if key.startswith(f"{family} run "))

    def summary(self, masked_top: int = 3) -> str:
        parts = [f"{sum(self.cases.values())} cases ("
                 + ", ".join(f"{k} {n}" for k, n in sorted(self.cases.items())) + ")"]
        for family in sorted(self.cases):
            runs = Counter({key.split(" ", 2)[2]: n for key, n in self.outcomes.items()
                            if key.startswith(f"{family} run ")})
            top = ", ".join(f"{k} {n}" for k, n in runs.most_common(4))
            parts.append(f"{family}: {self.reached(family)} past the parser ({top})")
        if self.masked:
            parts.append(f"{sum(self.masked.values())} EvalErrors made from Python exceptions; "
                         "most common: " + "; ".join(f"{n}x {k}" for k, n in
                                                     self.masked.most_common(masked_top)))
        parts.append(f"CLI runs {self.cli_runs} in-process, {self.process_runs} in "
                     f"subprocesses; {self.isolated} isolated; {self.skipped_cli} CLI "
                     "runs skipped (slow program)")
        if self.known:
            parts.append("known: " + "; ".join(f"{n}x {k}" for k, n in self.known.items()))
        return "\n  ".join(parts)


def _ignored(signature: str) -> bool:
    return any(re.search(pattern, signature) for pattern in IGNORED)


class _Report:
    """The problems one case showed; `raise_first` raises the first that is
    not ignored (all are checked, so an ignored one cannot hide another)."""

    def __init__(self, case: Case, stats: Stats):
        self.case, self.stats = case, stats

    def problem(self, signature: str, what: str) -> None:
        if _ignored(signature):
            self.stats.known[signature] += 1
            return
        raise _finding(signature, self.case, what)


@contextlib.contextmanager
def _bounded(seconds: float, what: str):
    """Raise Hang in the main thread after `seconds` (SIGALRM); elsewhere,
    or without SIGALRM, run unbounded."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "SIGALRM"):
        yield
        return

    def ring(signum, frame):
        raise Hang(f"{what}: still running after {seconds:g} s")
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _where(exc: BaseException) -> str:
    """The innermost gradcli frame of a traceback: file and function."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f"{os.sep}gradcli{os.sep}" in f.filename]
    frame = (mine or frames or [None])[-1]
    if frame is None:
        return "?"
    path = frame.filename
    cut = path.rfind(f"{os.sep}gradcli{os.sep}")
    return f"{path[cut + 1:] if cut >= 0 else os.path.basename(path)}:{frame.name}"


def _trace(exc: BaseException, limit: int = 14) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines)
    parts = text.splitlines()
    if len(parts) > 4 * limit:
        parts = parts[:2] + ["  ..."] + parts[-4 * limit:]
    return "\n".join(parts)


def source_lines(text: str) -> list[str]:
    """Lines as the parser counts them: \\r\\n, \\r and \\n end a line."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _check_span(report: _Report, exc: GradcliError, text: str, about: str) -> None:
    span = exc.span
    if span is None:
        return
    lines = source_lines(text)
    kind = type(exc).__name__
    ok = (1 <= span.line <= len(lines) + 1 and span.column >= 1
          and (span.end_line, span.end_column) >= (span.line, span.column))
    if ok and span.line <= len(lines):
        ok = span.column <= len(lines[span.line - 1]) + 2
    if not ok:
        report.problem(f"span outside the {about} ({kind})",
                       f"{kind}: {exc.message}\nspan {span} but the {about} has "
                       f"{len(lines)} lines"
                       + (f"; line {span.line} is {lines[span.line - 1]!r}"
                          if 1 <= span.line <= len(lines) else ""))


def _options(**changes) -> api.Options:
    return api.Options(**{**OPTIONS, **changes})


def _stage(report: _Report, family: str, stage: str, call: Callable, text: str):
    """Run one api stage; return (value, error). A GradcliError is an
    answer (its span is checked); anything else is a finding."""
    stats = report.stats
    started = time.monotonic()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = call()
    except GradcliError as exc:
        stats.outcomes[f"{family} {stage} {type(exc).__name__}"] += 1
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, GradcliError):
            message = re.sub(r"\d+", "N", str(cause))[:70]
            stats.masked[f"{type(cause).__name__} in {_where(cause)}: {message}"] += 1
        _check_span(report, exc, text, "source")
        _slow(report, stage, started, len(text))
        return None, exc
    except (Hang, KeyboardInterrupt):
        raise
    except RecursionError as exc:
        report.problem(f"api {stage}: RecursionError in {_where(exc)}", _trace(exc, 6))
        return None, exc
    except BaseException as exc:   # noqa: BLE001 - the oracle: everything else is a finding
        report.problem(f"api {stage}: {type(exc).__name__} in {_where(exc)}", _trace(exc))
        return None, exc
    _slow(report, stage, started, len(text))
    for w in caught:
        report.problem(f"api {stage}: Python warning {w.category.__name__}",
                       f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})")
    stats.outcomes[f"{family} {stage} ok"] += 1
    return value, None


def _slow(report: _Report, stage: str, started: float, size: int = 0) -> None:
    """A run past its timeout by SLOW_SECONDS is not bounded by it. Parsing
    has no timeout; it must be linear (SPEC 7): a second per 20 KB allowed."""
    took = time.monotonic() - started
    if stage in ("load", "json"):
        allowed = SLOW_SECONDS + size / 20000
        if took > allowed:
            report.problem(f"api {stage}: slow to read its input",
                           f"{stage} took {took:.1f} s for {size} characters")
    elif took > OPTIONS["timeout"] + SLOW_SECONDS:
        report.problem(f"api {stage}: not stopped by its --timeout",
                       f"{stage} took {took:.1f} s; the timeout was {OPTIONS['timeout']} s")


_OPERATOR = re.compile(r"[-+*/%@<>=!~]|\bnot\b|\blambda\b|\.[^\W\d]|\[")


def _deep(text: str) -> bool:
    """Nested deeply enough that the interpreter's stack might overflow
    (brackets, operator chains, indentation): such a case is checked in a
    child process, where a crash is a finding and not the fuzzer's end."""
    if len(text) > 200000:
        return True
    depth = top = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            top = max(top, depth)
        elif ch in ")]}":
            depth -= 1
    if top > 100:
        return True
    return any(len(line) - len(line.lstrip()) > 120 or len(_OPERATOR.findall(line)) > 150
               for line in source_lines(text))


def check(case: Case, stats: Stats) -> None:
    """The oracle: raise a Finding if gradcli mishandles `case`."""
    stats.cases[case.family] += 1
    report = _Report(case, stats)
    if case.family != "json" and _deep(case.text()) and not _IN_WORKER:
        _check_isolated(report)
        if case.cli is not None:        # the CLI too, but only in a subprocess
            _check_cli(report, _ApiResult(), process=True)
    else:
        try:
            with _bounded(HANG_SECONDS, "api"):
                api_result = _check_api(report)
        except Hang as hang:
            report.problem("hang in-process (api)", f"{hang}\n{_hang_trace(hang)}")
            return
        if case.cli is not None:
            _check_cli(report, api_result)


def _hang_trace(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return "".join(traceback.format_list(frames[-8:]))


@dataclass
class _ApiResult:
    ok: bool = False                   # load and run ended (either way) without a finding
    printed: Optional[int] = None      # prints before the run ended
    error: Optional[GradcliError] = None
    limited: bool = False              # a limit (steps, time, memory) ended it
    seconds: float = 0.0
    docs: list = field(default_factory=list)   # json: per document, ok or an error


def _limited(exc) -> bool:
    return exc is not None and type(exc).__name__ in ("LimitError",)


def _check_api(report: _Report) -> _ApiResult:
    case = report.case
    if case.family == "json":
        return _check_api_json(report)
    text = case.text()
    family = case.family
    result = _ApiResult()
    started = time.monotonic()
    program, err = _stage(report, family, "load", lambda: api.load(text), text)
    if program is None:
        result.ok, result.error = True, err
        return result
    printed = []
    _, err = _stage(report, family, "run",
                    lambda: api.run(program, None, _options(), on_print=printed.append), text)
    result.seconds = time.monotonic() - started
    result.ok, result.error, result.printed = True, err, len(printed)
    result.limited = _limited(err)
    if case.deeper and not result.limited:
        _stage(report, family, "gradient", lambda: api.gradient(program, None, _options()),
               text)
        _stage(report, family, "graph", lambda: api.graph(program, None, _options()), text)
        if result.seconds < 0.2:
            _stage(report, family, "check",
                   lambda: api.check(program, None, _options(), max_points=4), text)
    return result


def _json_text(case: Case) -> str:
    data = case.data
    if isinstance(data, bytes):
        return data.decode("utf-8", "surrogateescape")
    return data


def _stdin_lines(text: str) -> list[str]:
    """Lines as a text-mode stdin gives them (universal newlines)."""
    return list(io.StringIO(text, newline=None))


def _check_api_json(report: _Report) -> _ApiResult:
    """The stream read by jsonio and each document bound and run, as the CLI
    does; a JsonInputError's span must lie inside the JSON text."""
    case = report.case
    result = _ApiResult(ok=True)
    program = api.load(case.program)
    declared = api.declared_inputs(program)
    text = _json_text(case)
    lines = _stdin_lines(text)
    command = case.cli[0] if case.cli else "grad"
    if case.cli == ("--set",):
        value, err = _stage(report, "json", "json", lambda: jsonio.parse_text(
            text, "--set x"), text)
        if err is None:
            _run_doc(report, result, program, {"x": value}, "eval", text)
        return result

    def documents():
        return list(jsonio.read_records(lines))
    records, err = _stage(report, "json", "json", documents, "".join(lines))
    if err is not None:
        result.error = err
    if err is None and not records:       # no document: one run without inputs
        _run_doc(report, result, program, {}, command, case.program)
    for record in records or ():
        first = record.text.splitlines()[0] if record.text else ""
        bound, err = _stage(report, "json", "bind", lambda: jsonio.bind(
            record.value, declared, "<stdin>", record.line, first), "".join(lines))
        if err is not None:
            result.docs.append(err)
            continue
        _run_doc(report, result, program, bound, command, case.program)
    return result


def _run_doc(report, result, program, bound, command, text):
    if command == "eval":
        call = lambda: api.run(program, bound, _options())                   # noqa: E731
    else:
        call = lambda: api.gradient(program, bound, _options())              # noqa: E731
    _, err = _stage(report, "json", "run", call, text)
    result.docs.append(err)
    result.limited = result.limited or _limited(err)


# ------------------------------------------------------------------ CLI

_OPTION_CACHE: dict[str, bool] = {}


def cli_has_option(option: str, command: str = "eval") -> bool:
    """Whether the CLI has `option` yet (SPEC 4 lists --timeout and
    --max-memory; pass them when they exist)."""
    key = f"{command} {option}"
    if key not in _OPTION_CACHE:
        from typer.testing import CliRunner

        from gradcli.cli import app
        out = CliRunner().invoke(app, [command, "--help"], env={**PLAIN_ENV, "COLUMNS": "200"})
        _OPTION_CACHE[key] = option in out.output
    return _OPTION_CACHE[key]


def _limits() -> list[str]:
    extra = []
    if cli_has_option("--timeout"):
        extra += ["--timeout", "2"]
    if cli_has_option("--max-memory"):
        extra += ["--max-memory", str(OPTIONS["max_memory"])]
    return CLI_LIMITS + extra


@dataclass
class _CliRun:
    code: Optional[int]
    out: str
    err: str
    exception: Optional[BaseException] = None
    signal: Optional[int] = None
    timed_out: bool = False


def _check_cli(report: _Report, api_result: _ApiResult, process: bool = False) -> None:
    case = replace(report.case, process=True) if process else report.case
    stats = report.stats
    # Without --timeout on the CLI, a program the api stopped by a limit
    # (or that ran long) may run long there too: not a hang of gradcli's.
    if api_result.limited or api_result.seconds > 1.0 or (
            case.cli and case.cli[0] == "check" and api_result.seconds > 0.1):
        if not cli_has_option("--timeout"):
            stats.skipped_cli += 1
            return
    with tempfile.TemporaryDirectory(prefix="gradcli-fuzz-") as folder:
        args, stdin, origin = _cli_invocation(case, folder)
        if case.process and _passable(args):
            stats.process_runs += 1
            run = _run_process(args, stdin)
        else:
            stats.cli_runs += 1
            run = _run_runner(args, stdin)
        _judge_cli(report, run, args, stdin, origin, api_result, folder, case)


def _cli_invocation(case: Case, folder: str):
    """The CLI arguments, the stdin bytes and the origin errors name."""
    path = os.path.join(folder, "prog.ag")
    if case.family == "json":
        Path(path).write_bytes(_encode(case.program))
        if case.cli == ("--set",):
            text = _json_text(case)
            return (["eval", path, "--json", f"--set=x={text}", *_limits()], b"", path)
        return [case.cli[0], path, *case.cli[1:], *_limits()], _encode(case.data), path
    raw = case.data if case.family == "bytes" else _encode(case.data)
    command = list(case.cli)
    deliver = case.deliver
    if deliver == "expr" and (b"\x00" in raw or case.process):
        deliver = "file"
    if deliver == "expr":
        return [command[0], f"--expr={case.data}", *command[1:], *_limits()], b"", "<expr>"
    if deliver == "stdin":
        return [command[0], "-", *command[1:], *_limits()], raw, "<stdin>"
    Path(path).write_bytes(raw)
    return [command[0], path, *command[1:], *_limits()], b"", path


def _passable(args) -> bool:
    """Whether the arguments can be given to a real process (no NUL, no
    unencodable surrogate); else the case runs through CliRunner."""
    try:
        return not any(b"\x00" in os.fsencode(a) for a in args)
    except UnicodeEncodeError:
        return False


def _run_runner(args, stdin: bytes) -> _CliRun:
    from typer.testing import CliRunner

    from gradcli.cli import app
    try:
        with _bounded(HANG_SECONDS, "CLI (CliRunner)"):
            result = CliRunner().invoke(app, args, input=stdin, env=PLAIN_ENV)
    except Hang as hang:
        return _CliRun(None, "", str(hang), exception=hang, timed_out=True)
    out = result.stdout_bytes.decode("utf-8", "surrogateescape")
    err = result.stderr_bytes.decode("utf-8", "surrogateescape")
    exception = result.exception
    if isinstance(exception, SystemExit):
        exception = None
    return _CliRun(result.exit_code, out, err, exception)


def _cli_command() -> list[str]:
    """The installed console script (gradcli has no __main__ module), else
    its entry point through this interpreter."""
    import shutil
    script = shutil.which("gradcli", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c",
                                    "import sys; from gradcli.cli import main; main()"]


def _run_process(args, stdin: bytes) -> _CliRun:
    command = [*_cli_command(), *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True,
                              timeout=PROCESS_SECONDS, env=PROCESS_ENV, cwd=str(REPO),
                              preexec_fn=_child_limits)
    except subprocess.TimeoutExpired as late:
        out = (late.stdout or b"").decode("utf-8", "surrogateescape")
        err = (late.stderr or b"").decode("utf-8", "surrogateescape")
        return _CliRun(None, out, err, timed_out=True)
    out = done.stdout.decode("utf-8", "surrogateescape")
    err = done.stderr.decode("utf-8", "surrogateescape")
    if done.returncode < 0:
        return _CliRun(None, out, err, signal=-done.returncode)
    return _CliRun(done.returncode, out, err)


def _child_limits() -> None:
    """A child may use 2 GB of address space: a runaway allocation fails
    (and is reported) instead of starving the machine."""
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2 ** 30, 2 * 2 ** 30))
    except (ImportError, ValueError, OSError):
        pass


_HEADER = re.compile(r"^(?P<origin>.*?):(?P<line>\d+):(?P<col>\d+): (?P<kind>error|warning): ")
_PLAIN = re.compile(r"^gradcli: (error|warning|note|interrupted)\b")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_INTERNAL = re.compile(r"internal error: (\w+)")


def _judge_cli(report: _Report, run: _CliRun, args, stdin: bytes, origin: str,
               api_result: _ApiResult, folder: str, case: Case) -> None:
    where = f"exit {run.code}\n--- stdout:\n{run.out[-3000:]}\n--- stderr:\n{run.err[-3000:]}"
    how = "cli-process" if case.process and _passable(args) else "cli"
    if run.timed_out:
        report.problem(f"{how}: hang", f"no answer within the bound\n{where}")
        return
    if run.signal is not None:
        report.problem(f"{how}: killed by signal {run.signal}", where)
        return
    if run.exception is not None:
        report.problem(f"{how}: uncaught {type(run.exception).__name__} in "
                       f"{_where(run.exception)}", _trace(run.exception) + "\n" + where)
        return
    if "Traceback" in run.err or "Traceback" in run.out:
        report.problem(f"{how}: traceback", where)
    internal = _INTERNAL.search(run.err)
    if internal:
        trace = _debug_trace(args, stdin)
        frame = re.findall(r'File ".*?(gradcli/[^"]+)", line \d+, in (\w+)', trace)
        at = f" in {frame[-1][0]}:{frame[-1][1]}" if frame else ""
        report.problem(f"{how}: internal error {internal[1]}{at}", where + "\n--- with --debug:\n"
                       + trace[-4000:])
    if run.code not in (0, 1, 2):
        report.problem(f"{how}: exit status {run.code}", where)
    for stream, text in (("stdout", run.out), ("stderr", run.err)):
        bad = _CONTROL.search(text)
        if bad:
            report.problem(f"{how}: control character on {stream}",
                           f"{bad[0]!r} at {bad.start()} in "
                           f"{text[max(0, bad.start() - 60):bad.start() + 20]!r}\n"
                           + where)
    _judge_stderr(report, run, origin, where, how)
    if "--json" in args:
        _judge_json_out(report, run, args, api_result, where, how)


def _judge_stderr(report, run, origin, where, how):
    case = report.case
    lines = run.err.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    headers = 0
    i = 0
    program_text = _cli_text(case, origin)
    while i < len(lines):
        line = lines[i]
        match = _HEADER.match(line)
        if match:
            headers += match["kind"] == "error"
            located = match["origin"]
            row, col = int(match["line"]), int(match["col"])
            if located == origin:
                text = program_text
            elif located == "<stdin>" and case.family == "json":
                # what the CLI read: the bytes it was given, decoded as it
                # decodes them (an encoded lone surrogate is not UTF-8)
                text = _encode(case.data).decode("utf-8", "surrogateescape")
            elif located.startswith("--set") and case.family == "json":
                text = _json_text(case)
            else:
                text = None
                if not (located == "<stdin>" and case.family != "json"):
                    report.problem(f"{how}: error names an unexpected origin",
                                   f"origin {located!r}, expected {origin!r}\n{where}")
            echo = lines[i + 1] if i + 1 < len(lines) else None
            caret = lines[i + 2] if i + 2 < len(lines) else None
            if echo is not None and caret is not None and re.fullmatch(r"[ \t]*\^~*", caret):
                _judge_caret(report, text, row, col, echo, caret, where, how)
                i += 3
                continue
            if text is not None and 1 <= row <= len(source_lines(text)) and \
                    source_lines(text)[row - 1].strip():
                report.problem(f"{how}: located error without the source line and caret",
                               where)
            i += 1
            continue
        if _PLAIN.match(line):
            headers += line.startswith("gradcli: error")
        elif line.startswith("Try 'gradcli") or line.startswith("(this is a bug"):
            pass
        elif line.startswith(("Usage:", "╭", "│", "╰")):
            pass            # typer's own usage errors (exit 2)
        else:
            report.problem(f"{how}: stray line on stderr",
                           f"line {i + 1} of stderr: {line!r}\n{where}")
        i += 1
    if run.code in (1, 2) and not headers and "internal error" not in run.err:
        if run.code == 2 and ("Usage:" in run.err or "╭" in run.err):
            return
        report.problem(f"{how}: exit {run.code} without an error message", where)
    if run.code == 0 and headers:
        report.problem(f"{how}: an error reported but exit 0", where)


def _cli_text(case: Case, origin: str) -> str:
    """The program text as the CLI has it: `-e` text as it is; a file or
    stdin as bytes read back (text mode: universal newlines)."""
    if origin == "<expr>":
        return case.text().replace("\r\n", "\n").replace("\r", "\n")
    raw = case.data if case.family == "bytes" else _encode(case.text())
    return raw.decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")


def _spelled(ch: str) -> str:
    """A character as an error report may show it (SPEC 7: no control
    characters from the input): as Python writes it in a string; tabs stay."""
    if ch == "\t" or not _CONTROL.search(ch):
        return ch
    if ch == "\r":
        return "\\r"
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:        # a byte that was not UTF-8 shows as that byte
        code -= 0xDC00
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _judge_caret(report, text, row, col, echo, caret, where, how):
    """The echoed line is the source line (control characters spelled out);
    the caret is under column COL: after the spelled-out characters before
    it, with the line's tabs kept so it lines up under any tab width."""
    if text is None:
        return
    lines = source_lines(text)
    if not 1 <= row <= len(lines) + 1:
        report.problem(f"{how}: error line outside the text",
                       f"line {row}, the text has {len(lines)} lines\n{where}")
        return
    if row > len(lines):
        return
    line = lines[row - 1]
    shown = [_spelled(ch) for ch in line]
    # Trailing blanks may go (a JSON error's line is echoed right-stripped).
    if echo != "".join(shown) and echo != "".join(_spelled(ch) for ch in line.rstrip()):
        report.problem(f"{how}: echoed line differs from the source line",
                       f"echoed {echo!r}\nsource {line!r}\n{where}")
        return
    lead = "".join("\t" if ch == "\t" else " " * len(ch) for ch in shown[:col - 1])
    lead += " " * max(0, col - 1 - len(line))
    if not caret.startswith(lead + "^"):
        report.problem(f"{how}: caret not under the column",
                       f"caret line {caret!r}, expected {lead + '^'!r} for column {col}"
                       f"\n{where}")


def _judge_json_out(report, run, args, api_result, where, how):
    case = report.case
    objects = []
    for number, line in enumerate(run.out.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            report.problem(f"{how}: --json stdout line is not JSON",
                           f"line {number}: {line[:200]!r}\n{where}")
            return
        if not isinstance(obj, dict):
            report.problem(f"{how}: --json stdout line is not an object", where)
            return
        objects.append(obj)
    if case.family != "json" and args[0] == "eval" and api_result.ok \
            and not api_result.limited and api_result.printed is not None:
        # What the program printed before it ended is kept (SPEC 5).
        want = api_result.printed
        got = [len(o["printed"]) for o in objects if isinstance(o.get("printed"), list)]
        if want and got != [want]:
            report.problem(f"{how}: eval --json lost printed output",
                           f"the api run printed {want} time(s); stdout has "
                           f"{got or 'no printed list'}\n{where}")
    if case.family == "json" and isinstance(case.data, bytes) and \
            "stdin is not UTF-8 text" in run.err and (
                _good_lines_before_bad_bytes(case.data) or "--keep-going" in args):
        # Owed: the answers to the lines before the bad one, and with
        # --keep-going an error for that line and the rest of the stream.
        report.problem(f"{how}: a non-UTF-8 byte on stdin ends the JSON stream", where)
        return
    if case.family == "json" and case.cli and "--keep-going" in case.cli \
            and not api_result.limited and _countable(_json_text(case)):
        docs = [line for line in _stdin_lines(_stream_body(_json_text(case)))
                if line.strip()] or [""]
        if len(objects) != len(docs):
            report.problem(f"{how}: JSON Lines --keep-going answers != lines",
                           f"{len(docs)} non-blank lines of one document each, "
                           f"{len(objects)} answers\n{where}")
        elif api_result.docs and len(api_result.docs) == len(docs):
            for k, (obj, err) in enumerate(zip(objects, api_result.docs), 1):
                if ("error" in obj) != (err is not None):
                    report.problem(f"{how}: JSON Lines answer differs from the api",
                                   f"line {k}: CLI {obj!r}, api "
                                   f"{'error ' + err.message if err else 'ok'}\n{where}")
                    break


def _good_lines_before_bad_bytes(data: bytes) -> bool:
    """Whether a stream has a non-blank, valid UTF-8 line before its first
    line that is not UTF-8: the answers to those are owed."""
    for line in data.split(b"\n"):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return False
        if text.strip():
            return any(_bad_utf8(later) for later in data.split(b"\n"))
    return False


def _bad_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_JSON_STRING = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')


def _stream_body(text: str) -> str:
    """The stream without its byte order mark: a BOM starts the stream, it
    is no document (a line holding only the BOM is a blank line)."""
    return text[1:] if text.startswith("\ufeff") else text


def _countable(text: str) -> bool:
    """Each non-blank line is a whole document (or a whole bad one): then a
    JSON Lines stream has one answer per non-blank line."""
    text = _stream_body(text)
    if "\r" in text or any(c.isspace() and c not in " \t\n" for c in text):
        return False
    for line in text.split("\n"):
        outside = _JSON_STRING.sub("", line)
        if '"' in outside:
            return False
        depth = 0
        for ch in outside:
            depth += ch in "[{"
            depth -= ch in "]}"
            if depth < 0:
                return False
        if depth:
            return False
    return True


def _debug_trace(args, stdin: bytes) -> str:
    """The traceback `--debug` shows for an internal error."""
    from typer.testing import CliRunner

    from gradcli.cli import app
    try:
        with _bounded(HANG_SECONDS, "CLI --debug"):
            result = CliRunner().invoke(app, [*args, "--debug"], input=stdin, env=PLAIN_ENV)
    except Hang:
        return "(the --debug run did not finish)"
    return result.stderr_bytes.decode("utf-8", "replace")


# --------------------------------------------------------- isolated checks

_IN_WORKER = False
_WORKER = ("import sys, json; sys.path.insert(0, sys.argv[1]); import input_gen as g; "
           "g._worker()")


def _check_isolated(report: _Report) -> None:
    """Check a deeply nested case in a child process: a crash (stack
    overflow) there is reported instead of ending the fuzzer."""
    report.stats.isolated += 1
    case = report.case
    payload = json.dumps({"family": case.family, "decoding": case.decoding,
                          "data": _encode(case.data).decode("latin-1"),
                          "deeper": case.deeper})
    try:
        done = subprocess.run([sys.executable, "-c", _WORKER, str(HERE)],
                              input=payload.encode(), capture_output=True,
                              timeout=ISOLATED_SECONDS, env=PROCESS_ENV, cwd=str(REPO),
                              preexec_fn=_child_limits)
    except subprocess.TimeoutExpired:
        report.problem("hang in-process (api, isolated)",
                       f"no answer within {ISOLATED_SECONDS:g} s")
        return
    if done.returncode < 0:
        report.problem(f"api: killed by signal {-done.returncode} (isolated)",
                       done.stderr.decode("utf-8", "replace")[-3000:])
        return
    try:
        answer = json.loads(done.stdout.decode().splitlines()[-1])
    except (ValueError, IndexError):
        report.problem("api: isolated check gave no answer",
                       f"exit {done.returncode}\n"
                       + done.stderr.decode("utf-8", "replace")[-3000:])
        return
    for key, n in answer["outcomes"].items():
        report.stats.outcomes[key] += n
    if answer.get("finding"):
        signature, what = answer["finding"]
        report.problem(signature, what)


def _worker() -> None:
    global _IN_WORKER
    _IN_WORKER = True
    given = json.loads(sys.stdin.read())
    raw = given["data"].encode("latin-1")
    if given["family"] == "bytes":
        case = Case("bytes", raw, decoding=given["decoding"], deeper=given["deeper"])
    else:
        case = Case(given["family"], raw.decode("utf-8", "surrogateescape"),
                    deeper=given["deeper"])
    stats = Stats()
    finding = None
    try:
        check(case, stats)
    except Finding as found:
        finding = [found.signature, found.what]
    sys.stdout.write("\n" + json.dumps({"outcomes": dict(stats.outcomes),
                                        "finding": finding}) + "\n")


# ---------------------------------------------------------------- reducing

def reduce_case(finding: Finding, budget_seconds: float = 90.0, max_tries: int = 400) -> Finding:
    """A smaller case with the same signature: chunks of lines, then of
    characters, removed while the finding stays (delta debugging, greedy).
    Runs with the finding's own signature not ignored."""
    signature = finding.signature
    best = finding
    deadline = time.monotonic() + budget_seconds
    tries = 0

    def still(data) -> Optional[Finding]:
        nonlocal tries
        tries += 1
        candidate = replace(best.case, data=data)
        saved = list(IGNORED)
        IGNORED[:] = [p for p in IGNORED if not re.search(p, signature)]
        try:
            check(candidate, Stats())
        except Finding as found:
            return found if found.signature == signature else None
        except Exception:       # noqa: BLE001 - a reduction step that breaks is no reduction
            return None
        finally:
            IGNORED[:] = saved
        return None

    for unit in ("line", "char"):
        data = best.case.data
        pieces = _split(data, unit)
        chunk = max(1, len(pieces) // 2)
        while chunk >= 1 and time.monotonic() < deadline and tries < max_tries:
            i = 0
            removed = False
            while i < len(pieces) and time.monotonic() < deadline and tries < max_tries:
                trial = pieces[:i] + pieces[i + chunk:]
                joined = _join_pieces(trial, data)
                found = still(joined) if trial != pieces else None
                if found is not None:
                    best, pieces, removed = found, trial, True
                else:
                    i += chunk
            if not removed:
                chunk //= 2
    return best


def _split(data, unit):
    if unit == "line":
        return data.splitlines(keepends=True)
    return list(data) if isinstance(data, str) else [bytes([b]) for b in data]


def _join_pieces(pieces, like):
    return (b"" if isinstance(like, bytes) else "").join(pieces)
