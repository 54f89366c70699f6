"""Tables that fit the output (SPEC 4, issue 16 item 3): how many elements
show follows the width (COLUMNS here, as a terminal's), numpy's threshold
off a terminal, `--full`, `--precision N`; nothing cut, what is left out
said in the caption; prints side by side; the final gradient table.

The exact expected output of each table case is the file
tests/tables/CASE-COLUMNS.txt (`pipe`: no COLUMNS, stdout not a terminal).
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from gradcli import render
from gradcli.cli import app
from gradcli.render_arrays import Display

TABLES = Path(__file__).resolve().parent / "tables"
PLAIN_ENV = {"COLUMNS": None, "LINES": None, "NO_COLOR": None, "FORCE_COLOR": None,
             "TERM": None}

MATRIX = "print(arange(18).reshape(3, 6) / 7)"              # 3×6, eight decimals each
VECTOR = "print(arange(20))"
BIG = "print(arange(2500).reshape(50, 50))"                 # past numpy's threshold
GRADIENTS = "x = arange(18).reshape(3, 6) / 7; attach_grad(x); sum(x * x).backward()"
CASES = {"matrix": MATRIX, "vector": VECTOR, "big": BIG, "gradients": GRADIENTS}


def gradcli(*args, columns=None, input=None):
    env = {**PLAIN_ENV, "COLUMNS": None if columns is None else str(columns)}
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)


def expected(name: str) -> str:
    return (TABLES / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("case, columns", [
    (case, columns) for case in CASES for columns in (40, 80, 200)
] + [("vector", None), ("big", None)])
def test_a_table_at_a_width(case, columns):
    result = gradcli("eval", "-e", CASES[case], columns=columns)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == expected(f"{case}-{columns or 'pipe'}")
    assert all(len(line) <= (columns or 200) for line in result.stdout.splitlines())


def test_at_40_columns_a_matrix_shows_whole_numbers_and_says_what_it_left_out():
    """The issue's report: cells cut to `0.…`, the numbers lost with no sign."""
    assert expected("matrix-40") == (
        "╭────────────┬───┬────────────╮\n"
        "│ 0.00000000 │ … │ 0.71428571 │\n"
        "│ 0.85714286 │ … │ 1.57142857 │\n"
        "│ 1.71428571 │ … │ 2.42857143 │\n"
        "╰────────────┴───┴────────────╯\n"
        "shape (3, 6) · float64 · showing 2 of 6\n"
        "columns; --full shows all\n")


def test_off_a_terminal_a_vector_of_20_shows_whole_as_numpy_would():
    assert "showing" not in expected("vector-pipe")
    assert [c.strip() for c in expected("vector-pipe").splitlines()[1].split("│")[1:-1]] == \
        [str(i) for i in range(20)]
    assert "showing 6 of 50 rows, 6 of 50 columns" in expected("big-pipe")


@pytest.mark.parametrize("columns", range(16, 121, 13))
@pytest.mark.parametrize("code", [MATRIX, VECTOR, BIG, GRADIENTS,
                                  "x = randn(4, 9) * 1000; attach_grad(x); sum(x).backward()",
                                  "print(arange(24).reshape(2, 3, 4) / 3, ones(2))",
                                  "w = ones(7) / 3; w.requires_grad_(); b = w; "
                                  "(sum(w) * 2).backward()"])
def test_no_number_is_ever_cut(code, columns):
    result = gradcli("eval", "-e", code, columns=columns)
    assert result.exit_code == 0, result.stderr
    assert not re.search(r"[\d.]…|…[\d.]", result.stdout), result.stdout
    for line in result.stdout.splitlines():
        assert len(line) <= columns or "│" not in line, line     # only a lone number folds
        assert line == line.rstrip(), repr(line)


# ------------------------------------------------------------- --full

def test_full_shows_every_value_in_bands_that_fit():
    result = gradcli("eval", "--full", "-e", VECTOR, columns=40)
    assert result.exit_code == 0
    assert result.stdout == (
        "values 0–6\n"
        "╭───┬───┬───┬───┬───┬───┬───╮\n"
        "│ 0 │ 1 │ 2 │ 3 │ 4 │ 5 │ 6 │\n"
        "╰───┴───┴───┴───┴───┴───┴───╯\n"
        "values 7–13\n"
        "╭───┬───┬───┬────┬────┬────┬────╮\n"
        "│ 7 │ 8 │ 9 │ 10 │ 11 │ 12 │ 13 │\n"
        "╰───┴───┴───┴────┴────┴────┴────╯\n"
        "values 14–19\n"
        "╭────┬────┬────┬────┬────┬────╮\n"
        "│ 14 │ 15 │ 16 │ 17 │ 18 │ 19 │\n"
        "╰────┴────┴────┴────┴────┴────╯\n"
        "shape (20,) · float64\n")


def test_full_shows_all_2500_elements_off_a_terminal_too():
    result = gradcli("eval", "--full", "-e", BIG)
    assert result.exit_code == 0
    shown = [int(v) for line in result.stdout.splitlines() if line.startswith("│")
             for v in line.split("│")[1:-1]]
    assert sorted(shown) == list(range(2500))
    assert "…" not in result.stdout and "⋮" not in result.stdout
    assert result.stdout.count("columns ") == 2        # two bands of 25 columns
    assert result.stdout.splitlines()[-1] == "shape (50, 50) · float64"


def test_full_reaches_plain_text_too():
    value = np.arange(30.0)
    assert "…" in render.plain(value)
    assert render.plain(value, Display(full=True)) == "[" + ", ".join(map(str, range(30))) + "]"


# --------------------------------------------------------- --precision

def test_precision_sets_the_digits_of_tables_scalars_and_gradients():
    result = gradcli("eval", "--precision", "2", "-e",
                     "print(arange(18).reshape(3, 6) / 7, 1 / 3); x = ones(2) / 3; "
                     "attach_grad(x); sum(x * x).backward()", columns=80)
    assert result.exit_code == 0
    assert result.stdout == (
        "╭──────┬──────┬──────┬──────┬──────┬──────╮\n"
        "│ 0.00 │ 0.14 │ 0.29 │ 0.43 │ 0.57 │ 0.71 │ 0.33\n"
        "│ 0.86 │ 1.00 │ 1.14 │ 1.29 │ 1.43 │ 1.57 │\n"
        "│ 1.71 │ 1.86 │ 2.00 │ 2.14 │ 2.29 │ 2.43 │\n"
        "╰──────┴──────┴──────┴──────┴──────┴──────╯\n"
        "shape (3, 6) · float64\n"
        "gradients\n"
        "╭──────┬───────┬────────────┬────────────╮\n"
        "│ name │ shape │ value      │ gradient   │\n"
        "├──────┼───────┼────────────┼────────────┤\n"
        "│ x    │ (2,)  │ 0.33  0.33 │ 0.67  0.67 │\n"
        "╰──────┴───────┴────────────┴────────────╯\n")


def test_precision_keeps_json_exact_and_is_checked():
    result = gradcli("eval", "--precision", "2", "--json", "-e", "print(1 / 3)")
    assert result.stdout.startswith('{"printed": [[0.3333333333333333]]')
    assert gradcli("eval", "--precision", "-1", "-e", "1").exit_code == 2


@pytest.mark.parametrize("command", [
    ["grad", "-e", "input x = [1, 2]; sum(x / 3)"],
    ["explain", "-e", "input x = [1, 2]; sum(x / 3)"],
])
def test_precision_is_a_common_option(command):
    full = gradcli(*command).stdout
    short = gradcli(*command, "--precision", "1").stdout
    assert "0.33333333" in full and "0.33333333" not in short and "0.3" in short


def test_the_repl_takes_the_display_options():
    result = gradcli("repl", "--precision", "3", "--full",
                     input="x = arange(30) / 7\nx\n", columns=300)
    assert result.exit_code == 0
    assert "0.143" in result.stdout and "…" not in result.stdout


# ------------------------------------------------------ side by side

def test_a_print_of_several_values_leaves_no_trailing_spaces():
    result = gradcli("eval", "-e", 'print("loss", 0.5, arange(3), ones(2, 2))')
    assert result.stdout == (
        "         ╭───┬───┬───╮         ╭───┬───╮\n"
        "loss 0.5 │ 0 │ 1 │ 2 │         │ 1 │ 1 │\n"
        "         ╰───┴───┴───╯         │ 1 │ 1 │\n"
        "         shape (3,) · float64  ╰───┴───╯\n"
        "                               shape (2, 2) · float64\n")


def test_values_that_do_not_fit_side_by_side_go_on_the_next_rows():
    result = gradcli("eval", "-e", "print(arange(6), arange(6) * 10)", columns=40)
    assert result.stdout == (
        "╭───┬───┬───┬───┬───┬───╮\n"
        "│ 0 │ 1 │ 2 │ 3 │ 4 │ 5 │\n"
        "╰───┴───┴───┴───┴───┴───╯\n"
        "shape (6,) · float64\n"
        "╭───┬────┬────┬────┬────┬────╮\n"
        "│ 0 │ 10 │ 20 │ 30 │ 40 │ 50 │\n"
        "╰───┴────┴────┴────┴────┴────╯\n"
        "shape (6,) · float64\n")


def test_a_string_and_numbers_alone_print_as_python_prints_them():
    result = gradcli("eval", "-e", 'print("loss", 0.5, "epoch", 3)')
    assert result.stdout == "loss 0.5 epoch 3\n"


# ------------------------------------------------ the final gradient table

def test_no_gradient_table_when_nothing_ran_backward():
    result = gradcli("eval", "-e", "x = ones(2); attach_grad(x); y = x * 2; print(y)")
    assert "gradients" not in result.stdout
    result = gradcli("eval", "-e", "x = ones(2); x.requires_grad_(); sum(x * 2)")
    assert result.stdout == "4 (grad_fn=SumBackward)\n"


def test_each_value_is_listed_once_an_alias_under_its_name():
    result = gradcli("eval", "-e", "x = ones(2); attach_grad(x); y = x; params = [x]\n"
                                   "for p in params:\n    pass\nsum(y * y).backward()")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "gradients\n"
        "╭───────────────┬───────┬───────┬──────────╮\n"
        "│ name          │ shape │ value │ gradient │\n"
        "├───────────────┼───────┼───────┼──────────┤\n"
        "│ x             │ (2,)  │ 1  1  │ 2  2     │\n"
        "│ y (same as x) │       │       │          │\n"
        "│ p (same as x) │       │       │          │\n"
        "╰───────────────┴───────┴───────┴──────────╯\n")


def test_a_pytorch_leaf_no_backward_reached_says_none():
    result = gradcli("eval", "-e", "w = ones(2); w.requires_grad_(); b = ones(3); "
                                   "b.requires_grad_(); (sum(w) * 3).backward()")
    assert result.stdout == (
        "gradients\n"
        "╭──────┬───────┬─────────┬──────────╮\n"
        "│ name │ shape │ value   │ gradient │\n"
        "├──────┼───────┼─────────┼──────────┤\n"
        "│ w    │ (2,)  │ 1  1    │ 3  3     │\n"
        "├──────┼───────┼─────────┼──────────┤\n"
        "│ b    │ (3,)  │ 1  1  1 │ None     │\n"
        "╰──────┴───────┴─────────┴──────────╯\n")


def test_a_retained_intermediate_gradient_is_listed():
    result = gradcli("eval", "-e", "x = ones(2); x.requires_grad_(); y = x * 3; "
                                   "y.retain_grad(); sum(y * y).backward()")
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("│")]
    assert rows[1:] == [["x", "(2,)", "1  1", "18  18"], ["y", "(2,)", "3  3", "6  6"]]


def test_the_gradient_table_of_a_wide_matrix_beside_a_narrow_one():
    """Each row shows as many columns as fit; one row too wide to show its
    first and last 3 beside its gradient stacks the whole table."""
    code = ("a = arange(40) / 7; attach_grad(a); b = ones(2); attach_grad(b); "
            "(sum(a * a) + sum(b)).backward()")
    side = gradcli("eval", "-e", code, columns=200).stdout
    assert "│ a    │ (40,) │" in side and "a: showing" in side and "b:" not in side
    stacked = gradcli("eval", "-e", code, columns=120).stdout
    assert "│ a  (40,)" in stacked and "│ b  (2,)" in stacked and "value" in stacked


# --------------------------------------------------------- other tables

def narrow_console(width: int):
    return Console(file=io.StringIO(), width=width, color_system=None)


def test_vars_and_check_tables_turn_into_lines_when_too_narrow():
    from gradcli import repl
    rows = [{"name": "weights", "shape": (2, 3), "dtype": "float64", "tracked": True,
             "has_grad": False}]
    console = narrow_console(30)
    console.print(repl.vars_table(rows))
    assert console.file.getvalue() == ("weights: shape (2, 3),\n"
                                       "float64, tracked yes, has grad\n"
                                       "no\n")
    result = gradcli("check", "-e", "input x = [0.5, 2]; sum(sin(x) * x)", columns=40)
    assert result.stdout.splitlines()[0] == "x: checked 2/2, max abs err 4.31e-11,"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_error_lines_wrap_between_words_on_a_terminal_only(monkeypatch):
    from gradcli.errors import EvalError, Span
    monkeypatch.setenv("COLUMNS", "40")
    error = EvalError("'@': shapes (2, 3) and (2, 3) are not aligned (inner dimensions differ)",
                      Span(1, 7, 1, 20))
    source = "print(x @ ones(2, 3))"
    on_terminal, piped = Terminal(), io.StringIO()
    render.report(error, "<expr>", source, errors=on_terminal)
    render.report(error, "<expr>", source, errors=piped)
    assert on_terminal.getvalue() == ("<expr>:1:7: error: '@': shapes (2, 3)\n"
                                      "  and (2, 3) are not aligned (inner\n"
                                      "  dimensions differ)\n"
                                      "print(x @ ones(2, 3))\n"
                                      "      ^~~~~~~~~~~~~\n")
    assert piped.getvalue().splitlines()[0] == \
        "<expr>:1:7: error: " + error.message
    terminal = Terminal()
    render.say("no program: give FILE, -e CODE, or - to read it from stdin", errors=terminal)
    assert terminal.getvalue() == ("gradcli: error: no program: give FILE,\n"
                                   "  -e CODE, or - to read it from stdin\n")


def test_the_readme_shows_what_the_tables_print():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Tables that fit the terminal")[1].split("```console\n")[1]
    block = section.split("```")[0]
    runs = re.split(r"^\$ COLUMNS=(\d+) gradcli (.*)\n", block, flags=re.M)[1:]
    assert len(runs) == 6
    for columns, command, output in zip(runs[::3], runs[1::3], runs[2::3]):
        result = gradcli(*shlex.split(command), columns=int(columns))
        assert result.stdout == output, command
