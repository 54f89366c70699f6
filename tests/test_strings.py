"""Strings: triple quotes, f-strings (their nodes and error positions),
'%' formatting, str() of values, print's sep/end on every output, `is`."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gradcli import api, render
from gradcli.cli import app
from gradcli.core.tensor import Tensor
from gradcli.errors import EvalError, GradcliError, Span, SyntaxProblem
from gradcli.lang import ast as A
from gradcli.lang import strings
from gradcli.lang.parser import parse
from gradcli.repl import needs_more

PLAIN_ENV = {"COLUMNS": None, "LINES": None, "NO_COLOR": None, "FORCE_COLOR": None,
             "TERM": None}


def problem(source: str) -> GradcliError:
    with pytest.raises(GradcliError) as caught:
        api.run(api.load(source))
    return caught.value


def printed(source: str) -> list:
    return [[s.value for s in line] for line in api.run(api.load(source)).printed]


def where(error: GradcliError) -> tuple:
    span = error.span
    return error.message, span.line, span.column, span.end_line, span.end_column


# ------------------------------------------------------------ lexing

def test_a_docstring_spans_its_lines_and_later_positions_stay_right():
    program = parse('"""one\ntwo"""\nx = 1\n')
    doc, assign = program.body
    assert doc.expr == A.Str("one\ntwo", Span(1, 1, 2, 7))
    assert assign.span == Span(3, 1, 3, 6)


def test_a_docstring_in_a_function_body_does_nothing():
    assert printed('def f(x):\n    """Twice x."""\n    return 2 * x\nprint(f(3))\n') == [[6.0]]


def test_triple_quotes_hold_the_other_quotes_and_backslash_line_ends():
    (stmt,) = parse("s = '''a \"b\" 'c' \\\nd'''\n").body
    assert stmt.value.value == "a \"b\" 'c' d"


@pytest.mark.parametrize("source, message, column, end", [
    ('s = """abc\n', "unterminated triple-quoted string", 5, 11),
    ("s = '''abc\nmore\n", "unterminated triple-quoted string", 5, 11),
    ('s = f"abc\n', "unterminated f-string", 5, 10),
    ("s = 'abc\n", "unterminated string", 5, 9),
])
def test_unterminated_strings_point_at_their_start(source, message, column, end):
    with pytest.raises(SyntaxProblem) as caught:
        parse(source)
    assert where(caught.value) == (message, 1, column, 1, end)


def test_is_and_not_are_keywords():
    (stmt,) = parse("y = x is not None\n").body
    assert stmt.value.op == "is not" and stmt.value.span == Span(1, 5, 1, 18)
    with pytest.raises(SyntaxProblem, match="'is' is a reserved word"):
        parse("is = 3\n")


# ---------------------------------------------------------- f-strings

def test_an_fstring_is_parts_with_their_own_spans():
    (stmt,) = parse('s = f"a {x + 1:.{n}f} b"\n').body
    text, field, tail = stmt.value.parts
    assert text == A.Str("a ", Span(1, 7, 1, 9))
    assert field.span == Span(1, 9, 1, 22)
    assert field.value.span == Span(1, 10, 1, 15)          # `x + 1`
    assert field.value.right.span == Span(1, 14, 1, 15)
    dot, inner, f = field.spec.parts
    assert (dot.value, inner.value, f.value) == (".", A.Name("n", Span(1, 18, 1, 19)), "f")
    assert tail.value == " b"


def test_fields_on_later_lines_of_a_triple_quoted_fstring():
    (stmt,) = parse('s = f"""top\n  {a +\n b}"""\n').body
    field = stmt.value.parts[1]
    assert field.value.left.span == Span(2, 4, 2, 5)
    assert field.value.right.span == Span(3, 2, 3, 3)


@pytest.mark.parametrize("source, message, column, end", [
    ('f"a {x +} b"', "expected an expression after '+'", 9, 10),
    ('f"a {} b"', "f-string: empty expression in '{}'", 5, 7),
    ('f"a } b"', "f-string: single '}' is not allowed (write '}}' for a brace)", 5, 6),
    ('f"a {x b"', "f-string: expected '}' to close the '{'", 5, 6),
    ('f"{x[}"', "f-string: expected '}' to close the '{'", 3, 4),
    ('f"{x)}"', "f-string: unmatched ')'", 5, 6),
    ('f"{1!z}"', "f-string: expected 'r', 's' or 'a' after '!'", 6, 7),
    ('f"{x # no}"', "f-string: an expression cannot hold a comment ('#')", 6, 7),
    ('f"{ok} {f(x y)}"', "unexpected 'y'; is an operator or a ',' missing before it?",
     13, 14),
    ("f\"{f'{x +}'}\"", "expected an expression after '+'", 10, 11),
])
def test_syntax_errors_inside_fstrings_point_inside_them(source, message, column, end):
    with pytest.raises(SyntaxProblem) as caught:
        parse(f"x = 1\ny = {source}\n")
    assert where(caught.value) == (message, 2, column + 4, 2, end + 4)


def test_runtime_errors_point_at_the_field():
    error = problem('x = ones(2)\ns = f"{x} and {x + zeros(3)}"\n')
    assert where(error)[1:3] == (2, 16)
    assert "do not broadcast" in error.message
    error = problem('s = f"{2.5:d}"\n')
    assert where(error) == ("format spec ':d' needs a whole number, got 2.5", 1, 7, 1, 14)


def test_fstring_values():
    x = "x = arange(3) / 4\n"
    assert printed(x + 'print(f"{x} {x:.2f} {x[1]:>6} {True} {x.shape}")') == [
        ["[0, 0.25, 0.5] [0.00, 0.25, 0.50]   0.25 True (3,)"]]


# ------------------------------------------------------------ str()

def test_text_of_values():
    assert strings.text(Tensor(np.array(3.0))) == "3"
    assert strings.text(Tensor(np.array([[1.0, 2.5], [3, 4]]))) == "[[1, 2.5], [3, 4]]"
    assert strings.text(Tensor(np.array([0.1], dtype=np.float32))) == "[0.1]"
    assert strings.text(Tensor(np.array([True, False]))) == "[True, False]"
    assert strings.text(Tensor(np.array([np.nan, -np.inf]))) == "[nan, -inf]"
    assert strings.text(("a", 1.0, None)) == "('a', 1, None)"


def test_a_long_array_is_elided_as_numpy_does():
    shown = strings.text(Tensor(np.arange(2000.0)))
    assert shown == "[0, 1, 2, ..., 1997, 1998, 1999]"


def test_str_and_repr_builtins():
    assert printed("print(str(2.5) + '!', repr('a'), str(arange(2)))") == [
        ["2.5!", "'a'", "[0, 1]"]]


# --------------------------------------------------------- '%' formatting

@pytest.mark.parametrize("template, args, expected", [
    ("%d", 3.0, "3"),
    ("%.3f", Tensor(np.array([0.5])), "0.500"),
    ("%s, %s", ("a", Tensor(np.array([1.0, 2.0]))), "a, [1, 2]"),
    ("%*d|", (4, 7.0), "   7|"),
    ("%.*f", (1, 2.25), "2.2"),
    ("%5s|%-5s|", ("ab", "cd"), "   ab|cd   |"),
    ("%c%c", (65.0, "b"), "Ab"),
    ("%i%%", 50, "50%"),
])
def test_percent(template, args, expected):
    assert strings.percent(template, args) == expected


@pytest.mark.parametrize("template, args, message", [
    ("%d %d", 1, "not enough arguments for format string"),
    ("%d", (1, 2), "not all arguments converted during string formatting"),
    ("%d", Tensor(np.zeros(2)), "'%d' needs a single number, not an array of shape (2,)"),
    ("%x", 2.5, "'%x' needs a whole number, got 2.5"),
    ("%q", 1, "'%' formatting: unsupported format character 'q' at index 1"),
    ("50%", 1, "'%' formatting: unsupported format character the end of the string at index 2"),
    ("%(a)s", 1, "'%(name)s' formatting needs a mapping, which .ag does not have"),
])
def test_percent_errors(template, args, message):
    with pytest.raises(EvalError) as caught:
        strings.percent(template, args)
    assert caught.value.message == message


def test_string_operators():
    assert printed("print('ab' + 'c', 'ab' * 2, 3 * '-', 'a' == 'a', 'a' != 1, 'a' < 'b')") == [
        ["abc", "abab", "---", True, True, True]]
    error = problem("y = 'loss ' + 1.5\n")
    assert where(error) == ("left operand of '+' must be a number or an array, not a "
                            "string", 1, 5, 1, 18)


# -------------------------------------------------------------- print

def test_print_passes_sep_and_end_only_when_not_the_defaults():
    lines = api.run(api.load("print(1, 2)\nprint(1, 2, sep='-', end='')\n")).printed
    assert (lines[0].sep, lines[0].end) == (" ", "\n")
    assert (lines[1].sep, lines[1].end) == ("-", "")


@pytest.mark.parametrize("source, message", [
    ("print(1, sep=2)", "print(): sep must be None or a string, not a scalar"),
    ("print(1, end=(1,))", "print(): end must be None or a string, not a tuple"),
    ("print(1, file=2)", "print(): file= is not supported; prints go to the output"),
])
def test_print_keyword_errors(source, message):
    assert problem(source).message == message


def gradcli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env=PLAIN_ENV)


def test_sep_and_end_reach_the_terminal():
    result = gradcli("eval", "-e", "for i in range(3): print(i, i * 2, sep=':', end=' ')\n"
                     "print('|')")
    assert result.exit_code == 0
    assert result.output == "0:0 1:2 2:4 |\n"


def test_sep_and_end_reach_the_json_output():
    result = gradcli("eval", "--json", "-e", "print(1, 'a')\nprint(2, 'b', sep=', ', end='')")
    assert json.loads(result.output)["printed"] == [
        [1, "a"], {"values": [2, "b"], "sep": ", ", "end": ""}]


def test_end_after_a_table():
    from rich.console import Console
    console = Console(file=io.StringIO(), width=80, color_system=None)
    shown = api.Printed([api.snapshot(Tensor(np.ones((2, 2))))])
    shown.end = "<end>\n"
    render.print_values(console, shown)
    assert console.file.getvalue().endswith("float64\n<end>\n")


# ------------------------------------------------------------------ REPL

def test_the_repl_reads_on_inside_a_docstring():
    assert needs_more('"""A docstring')
    assert needs_more('"""A docstring\n\n')
    assert not needs_more('"""A docstring\n"""')


def test_a_self_documenting_field_writes_its_own_text():
    assert printed("x = arange(2)\nprint(f'{x=} {x = } {x=:.1f} {2 * x=!s}')") == [
        ["x=[0, 1] x = [0, 1] x=[0.0, 1.0] 2 * x=[0, 2]"]]
    assert printed("print(f\"{'a'=} {1 == 1}\")") == [["'a'='a' True"]]


def test_the_fstrings_own_quote_inside_a_field_is_named():
    with pytest.raises(SyntaxProblem) as caught:
        parse('print(f"{x["a"]}")\n')
    assert where(caught.value) == ("f-string: an expression in '{}' cannot use the "
                                   "f-string's own quote; use the other one", 1, 12, 1, 13)


@pytest.mark.parametrize("source", ['x = 1\ns = """a "b" c\nmore\n', "x = 1\ns = f'''it's\n"])
def test_an_unterminated_triple_quote_holding_quotes_is_named(source):
    with pytest.raises(SyntaxProblem) as caught:
        parse(source)
    assert where(caught.value)[:3] == ("unterminated triple-quoted string", 2, 5)


def test_a_long_fstring_parses_in_linear_time():
    import time
    start = time.perf_counter()
    parse("s = f'" + "{x}" * 2000 + "'\n")
    assert time.perf_counter() - start < 5
