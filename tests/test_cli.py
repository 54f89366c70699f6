"""The command line through Typer's CliRunner: wiring, output, exit codes.

Every run gets an empty stdin unless a test gives one (CliRunner's stdin is
never a terminal, like CI's), and a plain environment (no COLUMNS, no colour
variables) so the tables are the same everywhere.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gradcli import __version__, api, jsonio, render
from gradcli.cli import app

SQUARE = "input x\nattach_grad(x)\nwith record:\n    y = 2 * x ** 2\ny.backward()\n"
X = '{"x": [[1,2],[3,4]]}'
PLAIN_ENV = {"COLUMNS": None, "LINES": None, "NO_COLOR": None, "FORCE_COLOR": None,
             "TERM": None}


def gradcli(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=PLAIN_ENV)


@pytest.fixture
def square(tmp_path):
    path = tmp_path / "square.ag"
    path.write_text(SQUARE)
    return path


def write(tmp_path, text, name="prog.ag"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------ basics

def test_version():
    result = gradcli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"gradcli {__version__}\n"


@pytest.mark.parametrize("command", ["eval", "grad", "check", "graph"])
def test_every_command_has_help_with_an_example(command):
    result = gradcli(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    for option in ("--set", "--json", "--dtype", "--seed", "--max-steps", "--max-elements",
                   "--debug", "--detect-nan"):
        assert option in result.stdout


def test_top_level_help_lists_every_command():
    result = gradcli("--help")
    assert result.exit_code == 0
    for command in ("eval", "grad", "check", "graph", "repl"):
        assert command in result.stdout


def test_only_the_named_command_is_built_at_start_up(capsys, monkeypatch):
    from gradcli.cli import _app_for, main
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert [c.name for c in _app_for(["grad", "-e", "1"]).registered_commands] == ["grad"]
    assert _app_for(["--help"]) is app and _app_for([]) is app and _app_for(["gard"]) is app
    with pytest.raises(SystemExit) as exit_info:
        main(["grad", "-e", "sum(x * x)", "--set", "x=[1, 2]", "--json"])
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out) == {"value": 5.0, "grads": {"x": [2.0, 4.0]}}


def test_the_issue_example_as_json(square):
    result = gradcli("grad", square, "--json", input=X + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ('{"value": [[2.0, 8.0], [18.0, 32.0]], '
                             '"grads": {"x": [[4.0, 8.0], [12.0, 16.0]]}}\n')
    assert result.stderr == ""


# -------------------------------------------------------------------- eval

def test_eval_prints_a_grid_and_the_gradient_table(square):
    result = gradcli("eval", square, "--set", "x=[[1,2],[3,4]]")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "gradients\n"
        "╭──────┬────────┬───────┬──────────╮\n"
        "│ name │ shape  │ value │ gradient │\n"
        "├──────┼────────┼───────┼──────────┤\n"
        "│ x    │ (2, 2) │ 1  2  │  4   8   │\n"
        "│      │        │ 3  4  │ 12  16   │\n"
        "╰──────┴────────┴───────┴──────────╯\n")


def test_eval_print_shows_table_with_caption():
    result = gradcli("eval", "-e", "x = ones(2, 2); x.attach_grad(); y = x + 2; print(y)")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        "╭───┬───╮\n"
        "│ 3 │ 3 │\n"
        "│ 3 │ 3 │\n"
        "╰───┴───╯\n"
        "shape (2, 2) · float64 · grad_fn=AddBackward\n")


def test_eval_scalars_strings_and_tuples_print_as_text():
    result = gradcli("eval", "-e", "x = ones(2, 3); print('loss', 4.0 * 1, 0.1, x.shape, "
                                   "True, None)")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "loss 4 0.1 (2, 3) True None\n"


def test_eval_one_dimensional_is_a_row_and_rank_three_is_sliced():
    result = gradcli("eval", "-e", "print(arange(3)); print(arange(8).reshape(2, 2, 2))")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "╭───┬───┬───╮\n"
        "│ 0 │ 1 │ 2 │\n"
        "╰───┴───┴───╯\n"
        "shape (3,) · float64\n"
        "[0, :, :]\n"
        "╭───┬───╮\n"
        "│ 0 │ 1 │\n"
        "│ 2 │ 3 │\n"
        "╰───┴───╯\n"
        "[1, :, :]\n"
        "╭───┬───╮\n"
        "│ 4 │ 5 │\n"
        "│ 6 │ 7 │\n"
        "╰───┴───╯\n"
        "shape (2, 2, 2) · float64\n")


def test_eval_long_arrays_are_elided_with_shape_in_caption():
    """Piped, as numpy does: up to 1000 elements show whole, a larger
    array the first and last 3 of each axis; the caption says so."""
    result = gradcli("eval", "-e", "print(arange(144).reshape(12, 12)); "
                                   "print(arange(1600).reshape(40, 40))")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [cell.strip() for cell in lines[1].split("│")[1:-1]] == [str(i) for i in range(12)]
    assert lines[14] == "shape (12, 12) · float64"
    big = lines[15:]
    assert [cell.strip() for cell in big[1].split("│")[1:-1]] == \
        ["0", "1", "2", "…", "37", "38", "39"]
    assert "⋮" in big[4] and "⋱" in big[4]
    assert big[-1] == ("shape (40, 40) · float64 · showing 6 of 40 rows, 6 of 40 columns; "
                       "--full shows all")
    assert len(big) == 10          # 3 + gap + 3 rows, 2 borders, caption


def test_eval_shows_a_final_expression():
    result = gradcli("eval", "-e", "x = 3; 2 * x")
    assert (result.exit_code, result.stdout) == (0, "6\n")


def test_eval_print_then_error_keeps_the_output():
    result = gradcli("eval", "-e", "print(1)\nx = ones(2, 3) + ones(3, 2)\nprint(2)")
    assert result.exit_code == 1
    assert result.stdout == "1\n"
    assert result.stderr == (
        "<expr>:2:5: error: '+': shapes (2, 3) and (3, 2) do not broadcast together\n"
        "x = ones(2, 3) + ones(3, 2)\n"
        "    ^~~~~~~~~~~~~~~~~~~~~~~\n")


def test_eval_json_shape():
    result = gradcli("eval", "--json", "-e",
                     "x = ones(2, 2); x.attach_grad(); y = x + 2; z = y * y * 3; "
                     "out = mean(z); out.backward(); print(out, grad_fn(y)); s = x.shape")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["printed"] == [[27.0, "AddBackward"]]
    assert data["variables"]["out"] == 27.0
    assert data["variables"]["s"] == [2, 2]
    assert data["grads"] == {"x": [[4.5, 4.5], [4.5, 4.5]]}


def test_a_printed_tuple_of_scalars_is_numbers_in_json():
    result = gradcli("eval", "--json", "-e", "print((2, sum(ones(2))))")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["printed"] == [[[2, 2.0]]]


def test_eval_program_from_stdin_uses_stdin_as_origin():
    result = gradcli("eval", "-", input="print(1)\nfoo(2)\n")
    assert result.exit_code == 1
    assert result.stdout == "1\n"
    assert result.stderr == ("<stdin>:2:1: error: name 'foo' is not defined\n"
                             "foo(2)\n"
                             "^~~\n")


def test_error_in_a_file_names_the_file(tmp_path):
    path = write(tmp_path, "x = [1, 2\n")
    result = gradcli("eval", path)
    assert result.exit_code == 1
    assert result.stderr == f"{path}:1:5: error: unclosed '['\nx = [1, 2\n    ^\n"


def test_no_colour_codes_off_a_terminal(square):
    result = gradcli("eval", square, "--set", "x=[[1,2],[3,4]]")
    assert "\x1b" not in result.stdout


# -------------------------------------------------------------- exit codes

def test_missing_file_is_a_usage_error(tmp_path):
    result = gradcli("eval", tmp_path / "nope.ag")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"gradcli: error: cannot read '{tmp_path / 'nope.ag'}': "
                                    "no such file\n")


@pytest.mark.parametrize("args", [
    ["eval"],                                   # no program
    ["eval", "prog.ag", "-e", "1"],             # two programs
    ["eval", "-e", "1", "--bogus"],             # unknown option
    ["eval", "-e", "1", "--set", "x"],          # --set without =
    ["eval", "-e", "1", "--dtype", "float16"],
    ["graph", "-e", "1", "--dot", "--json"],
])
def test_usage_errors_exit_2(args):
    result = gradcli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_internal_error_is_reported_without_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(api, "run", broken)
    result = gradcli("eval", "-e", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("gradcli: internal error: RuntimeError: boom\n")
    assert "Traceback" not in result.stderr
    debug = gradcli("eval", "-e", "1", "--debug")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "RuntimeError: boom" in debug.stderr


def test_debug_shows_traceback_for_program_errors():
    result = gradcli("eval", "-e", "foo(1)", "--debug")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.endswith("<expr>:1:1: error: name 'foo' is not defined\n"
                                  "foo(1)\n^~~\n")


def test_limits_are_errors():
    steps = gradcli("eval", "--max-steps", "50", "-e", "x = 0\nwhile True:\n    x = x + 1")
    assert steps.exit_code == 1 and "--max-steps" in steps.stderr
    elements = gradcli("eval", "--max-elements", "10", "-e", "x = ones(100)")
    assert elements.exit_code == 1 and "--max-elements" in elements.stderr


def test_nan_in_backward_is_a_warning_or_with_detect_nan_an_error():
    program = "x = zeros(2); attach_grad(x); y = sum(sqrt(x)); y.backward()"
    warned = gradcli("eval", "-e", program)
    assert warned.exit_code == 0
    assert warned.stderr.startswith("gradcli: warning: ")
    assert "SqrtBackward" in warned.stderr
    stopped = gradcli("eval", "--detect-nan", "-e", program)
    assert stopped.exit_code == 1
    assert stopped.stderr.startswith("<expr>:1:")


# ------------------------------------------------------------------ inputs

def test_bad_json_names_line_and_column(square):
    result = gradcli("grad", square, "--json", input='{"x": [[1,2],[3,4]]}\n{"x": [1,,2]}\n')
    assert result.exit_code == 1
    assert result.stdout == ('{"value": [[2.0, 8.0], [18.0, 32.0]], '
                             '"grads": {"x": [[4.0, 8.0], [12.0, 16.0]]}}\n')
    assert result.stderr == ("<stdin>:2:10: error: invalid JSON: Expecting value\n"
                             '{"x": [1,,2]}\n'
                             "         ^\n")


def test_truncated_json_points_at_its_end(square):
    result = gradcli("grad", square, input='{"x": [1, 2]\n')
    assert result.exit_code == 1
    assert result.stderr == ("<stdin>:1:13: error: invalid JSON: unexpected end of input "
                             "(expecting ',' delimiter)\n"
                             '{"x": [1, 2]\n'
                             "            ^\n")


def test_bad_json_in_set_and_head():
    bad_set = gradcli("eval", "-e", "1", "--set", "x=[1,")
    assert bad_set.exit_code == 1
    assert bad_set.stderr == ("--set x:1:4: error: invalid JSON: unexpected end of input "
                              "(expecting value)\n[1,\n   ^\n")
    bad_head = gradcli("grad", "-e", "input x = [1]; x * 2", "--head", "[1 2]")
    assert bad_head.exit_code == 1
    assert bad_head.stderr.startswith("--head:1:4: error: invalid JSON: Expecting ',' delimiter")


def test_unknown_input_name(square):
    result = gradcli("grad", square, input='{"y": 1}')
    assert result.exit_code == 1
    assert result.stderr == ("gradcli: error: unknown input 'y': the program declares 'x'\n"
                             "gradcli: note: while running the input on line 1 of <stdin>\n")


def test_bare_array_binds_the_single_input(square):
    result = gradcli("grad", square, "--json", input="[[1,2],[3,4]]")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["grads"] == {"x": [[4.0, 8.0], [12.0, 16.0]]}


@pytest.mark.parametrize("program, declares", [
    ("1", "declares no inputs"),
    ("input a\ninput b\na + b", "declares 'a', 'b'"),
])
def test_bare_array_needs_exactly_one_input(program, declares):
    result = gradcli("eval", "-e", program, input="[1, 2]\n")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"<stdin>:1:1: error: a bare JSON array binds the "
                                    f"program's single input, but the program {declares}")


def test_json_lines_run_once_per_line():
    result = gradcli("grad", "-e", "input x\nsum(x * x)", "--json",
                     input='{"x": [1, 2]}\n\n[3]\n{\n  "x": 4\n}\n')
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        '{"value": 5.0, "grads": {"x": [2.0, 4.0]}}',
        '{"value": 9.0, "grads": {"x": [6.0]}}',
        '{"value": 16.0, "grads": {"x": 8.0}}',
    ]


def test_empty_stdin_means_no_inputs():
    result = gradcli("grad", "-e", "input x = [1, 2]\nsum(x * x)", "--json", input="")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == '{"value": 5.0, "grads": {"x": [2.0, 4.0]}}\n'


def test_set_wins_over_stdin():
    result = gradcli("eval", "--json", "-e", "input x\ninput w\nprint(x, w)",
                     "--set", "w=10", input='{"x": 1, "w": 2}')
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["printed"] == [[1.0, 10.0]]


def test_non_finite_numbers_in_and_out():
    result = gradcli("grad", "-e", "input x\nsum(x * 1)", "--json",
                     input='{"x": ["nan", "inf", "-inf", 1]}')
    assert result.exit_code == 0, result.stderr
    assert result.stdout == '{"value": "nan", "grads": {"x": [1.0, 1.0, 1.0, 1.0]}}\n'
    logs = gradcli("eval", "--json", "-e", "print(log(array([0, -1, 1])))")
    assert json.loads(logs.stdout)["printed"] == [[["-inf", "nan", 0.0]]]


def test_float32_values_keep_their_short_spelling():
    result = gradcli("eval", "--json", "--dtype", "float32", "-e", "x = array([0.1, 0.2])")
    assert json.loads(result.stdout)["variables"] == {"x": [0.1, 0.2]}


def test_seed_makes_random_runs_reproducible():
    def draw(*seed):
        result = gradcli("eval", "--json", *seed, "-e", "x = normal(0, 1, (3,))")
        return json.loads(result.stdout)["variables"]["x"]
    assert draw() == draw()
    assert draw("--seed", "7") == draw("--seed", "7") != draw()


# -------------------------------------------------------------------- grad

def test_grad_with_head():
    result = gradcli("grad", "-e", "input x\ny = 2 * x * x\ny", "--set", "x=[[1,2],[3,4]]",
                     "--head", "[[10,1],[0.1,0.01]]", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    np.testing.assert_allclose(data["grads"]["x"], [[40, 8], [1.2, 0.16]])
    assert data["head"] == [[10.0, 1.0], [0.1, 0.01]]
    assert data["value"] == [[2.0, 8.0], [18.0, 32.0]]


def test_grad_head_with_wrong_shape_is_an_error():
    result = gradcli("grad", "-e", "input x = [1, 2]\nx * 2", "--head", "[1, 2, 3]")
    assert result.exit_code == 1
    assert "--head has shape (3,)" in result.stderr


def test_grad_of_and_wrt():
    program = "input x = [1, 2]\ninput w = [3, 4]\nu = sum(x * w)\nv = sum(x * x)\nu"
    of_v = gradcli("grad", "-e", program, "--of", "v", "--wrt", "x", "--json")
    assert of_v.exit_code == 0, of_v.stderr
    assert json.loads(of_v.stdout) == {"value": 5.0, "grads": {"x": [2.0, 4.0]}}
    both = gradcli("grad", "-e", program, "--wrt", "w,x", "--json")
    assert json.loads(both.stdout) == {"value": 11.0,
                                       "grads": {"w": [1.0, 2.0], "x": [3.0, 4.0]}}
    repeated = gradcli("grad", "-e", program, "--wrt", "w", "--wrt", "x", "--json")
    assert repeated.stdout == both.stdout


def test_grad_wrt_an_unknown_name():
    result = gradcli("grad", "-e", "input x = [1]\nx * 2", "--wrt", "q")
    assert result.exit_code == 1
    assert result.stderr == "gradcli: error: --wrt: the program has no variable or input 'q'\n"


def test_grad_with_inline_code_differentiates_bound_names():
    result = gradcli("grad", "-e", "sum(a * b)", "--set", "a=[1, 2]", "--set", "b=[3, 4]",
                     "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["grads"] == {"a": [3.0, 4.0], "b": [1.0, 2.0]}


def test_grad_table_shows_value_and_gradient_side_by_side(square):
    result = gradcli("grad", square, input=X)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "result\n"
        "╭────┬────╮\n"
        "│  2 │  8 │\n"
        "│ 18 │ 32 │\n"
        "╰────┴────╯\n"
        "shape (2, 2) · float64 · grad_fn=MulBackward\n"
        "gradients of result\n"
        "╭──────┬────────┬───────┬──────────╮\n"
        "│ name │ shape  │ value │ gradient │\n"
        "├──────┼────────┼───────┼──────────┤\n"
        "│ x    │ (2, 2) │ 1  2  │  4   8   │\n"
        "│      │        │ 3  4  │ 12  16   │\n"
        "╰──────┴────────┴───────┴──────────╯\n")


def test_grad_program_that_runs_its_own_backward_with_a_head(tmp_path):
    path = write(tmp_path, "x = [[1, 2], [3, 4]]\nattach_grad(x)\nwith record:\n"
                           "    y = 2 * x * x\ny.backward([[10, 1], [0.1, 0.01]])\n")
    result = gradcli("grad", path, "--wrt", "x", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["value"] == [[2.0, 8.0], [18.0, 32.0]]
    np.testing.assert_allclose(data["grads"]["x"], [[40, 8], [1.2, 0.16]])
    assert data["head"] == [[10.0, 1.0], [0.1, 0.01]]


# ------------------------------------------------------------------- check

def test_check_agrees():
    result = gradcli("check", "-e", "input x = [0.5, 2]\nsum(sin(x) * x)")
    assert result.exit_code == 0, result.stderr
    assert "ok: autodiff agrees with finite differences (rtol=1e-05, atol=1e-06)" \
        in result.stdout


def test_check_fails_at_a_kink():
    # relu'(0) is 0 by convention; the central difference sees (h - 0) / 2h = 0.5.
    result = gradcli("check", "-e", "input x = 0\nrelu(x)", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"ok": False, "vars": {"x": {
        "ok": False, "max_abs_err": 0.5, "max_rel_err": 1.0,
        "worst": {"index": [], "autodiff": 0.0, "numeric": 0.5}}}}
    assert result.stderr == "gradcli: error: gradient check failed for 'x'\n"
    table = gradcli("check", "-e", "input x = 0\nrelu(x)")
    assert table.exit_code == 1
    assert "MISMATCH" in table.stdout


def test_check_names_the_worst_element_with_both_numbers():
    # relu's kink sits at element [0, 1]: autodiff 0 by convention, differences 0.5.
    source = "input x = [[1, 0], [2, 3]]\nsum(relu(x) * 2)"
    data = json.loads(gradcli("check", "-e", source, "--json").stdout)
    worst = data["vars"]["x"]["worst"]
    assert worst["index"] == [0, 1]
    assert worst["autodiff"] == 0.0
    assert worst["numeric"] == pytest.approx(1.0, rel=1e-6)
    table = gradcli("check", "-e", source)
    assert "worst element x[0, 1]: autodiff 0, differences 1\n" in table.stdout


# float32 autodiff against float64 differences: 5e-5 relative error here,
# only float32's rounding. Its own default tolerances pass it; float64's fail.
FLOAT32 = "seed(3)\ninput x = normal(0, 1, (16, 16))\nsum(exp(x @ x / 4) @ x)"


def test_check_in_float32_uses_float32_tolerances():
    result = gradcli("check", "-e", FLOAT32, "--dtype", "float32")
    assert result.exit_code == 0, result.stdout
    assert "ok: autodiff agrees with finite differences (rtol=0.0001, atol=1e-05)" \
        in result.stdout
    strict = gradcli("check", "-e", FLOAT32, "--dtype", "float32", "--rtol", "1e-5",
                     "--atol", "1e-6", "--json")
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)["vars"]["x"]["max_rel_err"] == pytest.approx(5.14e-5, rel=0.05)


def test_check_tolerances_are_options():
    result = gradcli("check", "-e", "input x = 0\nrelu(x)", "--atol", "0.6", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


# relu'(0) is 0 by convention, the central difference sees 0.5: x fails.
# y's worst absolute and relative errors come from different elements, each
# within tolerance: y passes, though its maxima each exceed one tolerance.
BLAME = "input x = 0; input y = [0.3, 1]; relu(x) + exp(20*y[0]) + 1e-9*y[1]"


def test_check_table_blames_only_the_variable_the_api_failed():
    result = gradcli("check", "-e", BLAME)
    assert result.exit_code == 1
    rows = {line.split("│")[1].strip(): line.split("│")[-2].strip()
            for line in result.stdout.splitlines() if line.startswith("│ ")
            and "variable" not in line}
    assert rows == {"x": "MISMATCH", "y": "ok"}
    assert result.stdout.endswith(
        "MISMATCH: autodiff and finite differences disagree (rtol=1e-05, atol=1e-06)\n")
    assert result.stderr == "gradcli: error: gradient check failed for 'x'\n"


def test_check_json_carries_the_apis_verdicts():
    result = gradcli("check", "-e", BLAME, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert {name: row["ok"] for name, row in data["vars"].items()} == {"x": False, "y": True}
    assert data["vars"]["x"]["max_abs_err"] == pytest.approx(0.5, rel=1e-6)
    assert result.stderr == "gradcli: error: gradient check failed for 'x'\n"


def test_check_passes_when_only_the_passing_variable_is_checked():
    result = gradcli("check", "-e", BLAME, "--wrt", "y", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["vars"]["y"]["ok"] is True


def test_check_table_shows_the_verdicts_it_is_given():
    # Each row's maxima suggest the opposite verdict; the table must not re-decide.
    result = api.CheckResult(ok=False, rtol=1e-5, atol=1e-6, vars={
        "a": {"max_abs_err": 1.0, "max_rel_err": 1.0, "checked": 2, "size": 2, "ok": True},
        "b": {"max_abs_err": 0.0, "max_rel_err": 0.0, "checked": 1, "size": 1, "ok": False}})
    console = render.make_console()
    with console.capture() as captured:
        console.print(render.check_table(result))
    rows = [line.split("│") for line in captured.get().splitlines()[3:-1]]
    assert [(cells[1].strip(), cells[-2].strip()) for cells in rows] == \
        [("a", "ok"), ("b", "MISMATCH")]


# ------------------------------------------------------------------- graph

GRAPH = "input x = [1, 2]\nsum(x * x + x)"


def test_graph_tree_marks_shared_nodes():
    result = gradcli("graph", "-e", GRAPH)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "SumBackward  ()\n"
        "└── AddBackward  (2,)\n"
        "    ├── MulBackward  (2,)\n"
        "    │   ├── x  (2,)\n"
        "    │   └── x  (2,)  (shown above)\n"
        "    └── x  (2,)  (shown above)\n")


def test_graph_dot_declares_each_node_once():
    result = gradcli("graph", "-e", GRAPH, "--dot")
    assert result.exit_code == 0, result.stderr
    dot = result.stdout
    assert dot.startswith("digraph gradcli {\n") and dot.endswith("}\n")
    nodes = [line for line in dot.splitlines() if "[label=" in line]
    edges = [line.strip() for line in dot.splitlines() if "->" in line]
    assert len(nodes) == 4             # Sum, Add, Mul, x
    assert sum('label="x\\n(2,)"' in line for line in nodes) == 1
    assert edges == ["n0 -> n1;", "n1 -> n2;", "n1 -> n3;", "n2 -> n3;", "n2 -> n3;"]


def test_graph_json():
    result = gradcli("graph", "-e", GRAPH, "--json")
    tree = json.loads(result.stdout)
    assert tree["label"] == "SumBackward" and tree["shape"] == []
    mul = tree["children"][0]["children"][0]
    assert [c["repeat"] for c in mul["children"]] == [False, True]


# ------------------------------------------------------------------ render

@pytest.mark.parametrize("value, text", [
    (4.0, "4"), (0.1, "0.1"), (-2.5, "-2.5"), (1e-10, "1e-10"), (1e20, "1e+20"),
    (float("nan"), "nan"), (float("-inf"), "-inf"), (np.float32(0.1), "0.1"), (3, "3"),
    (True, "True"), (np.array(27.0), "27"),
])
def test_scalars_are_shortest(value, text):
    assert render.format_scalar(value) == text


@pytest.mark.parametrize("values, texts", [
    ([1.0, 2.0], ["1", "2"]),
    ([1.5, 2.25], ["1.50", "2.25"]),
    ([0.1, 2.0], ["0.1", "2.0"]),
    ([1e-5, 1.0], ["1e-05", "1e+00"]),
    ([1.0, float("nan"), float("inf")], ["1", "nan", "inf"]),
    ([1 / 3, 1.0], ["0.33333333", "1.00000000"]),
])
def test_array_elements_share_one_format(values, texts):
    assert render.format_elements(np.array(values)) == texts


def test_error_report_caret_and_tilde():
    where = render.Located("f.ag", 2, 5, 2, 8, "y = abc + 1")
    assert render.error_report("bad", where) == "f.ag:2:5: error: bad\ny = abc + 1\n    ^~~\n"
    assert render.error_report("bad", None) == "gradcli: error: bad\n"
    multi = render.Located("f.ag", 1, 1, 3, 2, "\tif x:")
    assert render.error_report("m", multi) == "f.ag:1:1: error: m\n\tif x:\n^\n"
    tab = render.Located("f.ag", 1, 3, 1, 4, "\t\tz")
    assert render.error_report("t", tab).splitlines()[-1] == "\t\t^"


def test_json_arrays():
    assert jsonio.array(np.array(3.0)) == 3.0
    assert jsonio.array(np.array([[1, np.nan]])) == [[1.0, "nan"]]
    assert jsonio.array(np.array([2, 0, 1])) == [2, 0, 1]
    assert jsonio.value((np.array([1.0]), None, True, "s")) == [[1.0], None, True, "s"]


def test_json_lines_in_table_mode_give_one_block_per_line():
    result = gradcli("eval", "-e", "input x\nprint(x * 2)", input="1\n2\n")
    assert (result.exit_code, result.stdout) == (0, "2\n\n4\n")


def test_graph_of_a_program_that_runs_its_own_backward(square):
    # The last expression statement is attach_grad(x); the graph to draw is y's.
    result = gradcli("graph", square, input=X)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "MulBackward  (2, 2)  y"


def test_no_colour_under_no_color_even_on_a_terminal(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            pass

        def flush(self):
            pass

    monkeypatch.setattr("sys.stdout", Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert render.make_console().color_system is None
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert render.make_console().color_system is not None


def test_plain_text_elides_long_arrays():
    value = (np.arange(30.0).reshape(2, 15), np.array(2.5))
    assert render.plain(value) == "([[0, 1, 2, …, 12, 13, 14], [15, 16, 17, …, 27, 28, 29]], 2.5)"


def test_empty_arrays():
    result = gradcli("eval", "-e", "print(zeros(0))")
    assert (result.exit_code, result.stdout) == (0, "(empty)\nshape (0,) · float64\n")


# ------------------------------------------------- failing runs and --keep-going

SUM_SQUARES = "input x\nsum(x * x)"
# Good, bad JSON, an input that is not an array, an unknown input, good.
MIXED_LINES = '{"x": [1, 2]}\n{"x": [1,,2]}\n{"x": [[1], [2, 3]]}\n{"y": 1}\n[3]\n'
MIXED_ERRORS = (
    "<stdin>:2:10: error: invalid JSON: Expecting value\n"
    '{"x": [1,,2]}\n'
    "         ^\n"
    "gradcli: error: input 'x': expected a number or a (rectangular) nested list of numbers\n"
    "gradcli: note: while running the input on line 3 of <stdin>\n"
    "gradcli: error: unknown input 'y': the program declares 'x'\n"
    "gradcli: note: while running the input on line 4 of <stdin>\n")


def test_keep_going_json_gives_an_error_object_in_place_of_each_bad_line():
    result = gradcli("grad", "-e", SUM_SQUARES, "--json", "--keep-going", input=MIXED_LINES)
    assert result.exit_code == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"value": 5.0, "grads": {"x": [2.0, 4.0]}},
        {"error": {"line": 2, "message": "invalid JSON: Expecting value"}},
        {"error": {"line": 3, "message": "input 'x': expected a number or a (rectangular) "
                                         "nested list of numbers"}},
        {"error": {"line": 4, "message": "unknown input 'y': the program declares 'x'"}},
        {"value": 9.0, "grads": {"x": [6.0]}},
    ]
    assert result.stderr == MIXED_ERRORS


def test_keep_going_tables_report_bad_lines_on_stderr_and_go_on():
    result = gradcli("grad", "-e", SUM_SQUARES, "--keep-going", input=MIXED_LINES)
    assert result.exit_code == 1
    assert result.stdout.count("gradients of result") == 2
    assert result.stdout.startswith("result = 5\n")
    assert "\n\nresult = 9\n" in result.stdout
    assert result.stderr == MIXED_ERRORS


def test_without_keep_going_the_first_bad_line_ends_the_stream():
    result = gradcli("grad", "-e", SUM_SQUARES, "--json", input=MIXED_LINES)
    assert result.exit_code == 1
    assert result.stdout == '{"value": 5.0, "grads": {"x": [2.0, 4.0]}}\n'
    assert result.stderr == MIXED_ERRORS.split("gradcli: error")[0]


def test_keep_going_with_only_good_lines_succeeds():
    result = gradcli("grad", "-e", SUM_SQUARES, "--json", "--keep-going", input="[1]\n[2]\n")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ['{"value": 1.0, "grads": {"x": [2.0]}}',
                                          '{"value": 4.0, "grads": {"x": [4.0]}}']


def test_keep_going_after_a_truncated_record_reads_the_next_line():
    result = gradcli("grad", "-e", SUM_SQUARES, "--json", "--keep-going",
                     input='{"x": [1, 2]\n{"x": [3]}\n')
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        '{"error": {"line": 1, "message": "invalid JSON: unexpected end of input '
        '(expecting \',\' delimiter)"}}',
        '{"value": 9.0, "grads": {"x": [6.0]}}',
    ]
    assert result.stderr == ("<stdin>:1:13: error: invalid JSON: unexpected end of input "
                             "(expecting ',' delimiter)\n"
                             '{"x": [1, 2]\n'
                             "            ^\n")


def test_keep_going_in_a_bad_pretty_printed_document_goes_on_line_by_line():
    """JSON Lines is what --keep-going is for: after an error, reading starts
    again on the next line, so the rest of a broken multi-line document gives
    errors of its own before the next good line runs."""
    result = gradcli("grad", "-e", SUM_SQUARES, "--json", "--keep-going",
                     input='{\n  "x": [1,,2]\n}\n[4]\n')
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        '{"error": {"line": 2, "message": "invalid JSON: Expecting value"}}',
        '{"error": {"line": 3, "message": "invalid JSON: Expecting value"}}',
        '{"value": 16.0, "grads": {"x": [8.0]}}',
    ]


def test_keep_going_eval_keeps_what_a_failed_line_printed():
    result = gradcli("eval", "--json", "--keep-going", "-e",
                     "input x\nprint(x)\ny = ones(2) @ x\nprint(y)", input="[1, 1]\n[1, 2, 3]\n")
    assert result.exit_code == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"printed": [[[1.0, 1.0]], [2.0]], "variables": {"x": [1.0, 1.0], "y": 2.0},
         "grads": {}},
        {"printed": [[[1.0, 2.0, 3.0]]],
         "error": {"line": 2, "message": "'@': shapes (2,) and (3,) are not aligned "
                                         "(inner dimensions differ)"}},
    ]


def test_keep_going_does_not_go_past_a_syntax_error():
    result = gradcli("grad", "-e", "sum(x", "--json", "--keep-going", input="[1]\n[2]\n")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("<expr>:1:4: error: ")


def test_eval_json_error_keeps_what_was_printed():
    result = gradcli("eval", "--json", "-e", "print(1)\nprint([1, 2])\nx = ones(2) @ ones(3)")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "printed": [[1.0], [[1.0, 2.0]]],
        "error": {"message": "'@': shapes (2,) and (3,) are not aligned (inner dimensions "
                             "differ)"}}
    assert result.stderr == ("<expr>:3:5: error: '@': shapes (2,) and (3,) are not aligned "
                             "(inner dimensions differ)\n"
                             "x = ones(2) @ ones(3)\n"
                             "    ^~~~~~~~~~~~~~~~~\n")


def test_eval_json_error_on_a_stdin_line_names_the_line():
    result = gradcli("eval", "--json", "-e", "input x\nprint(x)\nx @ ones(2)",
                     input="[1, 2]\n[1]\n[3, 4]\n")
    assert result.exit_code == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"printed": [[[1.0, 2.0]]], "variables": {"x": [1.0, 2.0]}, "grads": {}},
        {"printed": [[[1.0]]], "error": {"line": 2, "message": "'@': shapes (1,) and (2,) "
                                                               "are not aligned (inner "
                                                               "dimensions differ)"}},
    ]


def test_other_commands_write_no_object_for_a_failed_run_without_keep_going():
    result = gradcli("grad", "--json", "-e", "x = ones(2) @ ones(3)\nsum(x)")
    assert (result.exit_code, result.stdout) == (1, "")


def test_eval_json_internal_error_keeps_what_was_printed(monkeypatch):
    real_run = api.run

    def print_then_break(program, inputs=None, options=None, on_print=None, **hooks):
        def hook(shown):
            on_print(shown)
            raise RuntimeError("boom")
        return real_run(program, inputs, options, on_print=hook, **hooks)

    monkeypatch.setattr(api, "run", print_then_break)
    result = gradcli("eval", "--json", "-e", "print(7)")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "printed": [[7.0]], "error": {"message": "internal error: RuntimeError: boom"}}
    assert result.stderr.startswith("gradcli: internal error: RuntimeError: boom\n")


# ------------------------------------------------- input echoed to the terminal

# What reaches stdout or stderr may hold line ends and tabs, and nothing else
# that a terminal acts on: no C0 control, DEL, C1 control, lone surrogate.
FORBIDDEN = {chr(c) for c in [*range(0x20), *range(0x7f, 0xa0)]} - {"\n", "\t"}
FORBIDDEN |= {chr(c) for c in range(0xd800, 0xe000)}


def raw_controls(text: str) -> set:
    return set(text) & FORBIDDEN


@pytest.mark.parametrize("text, shown", [
    ("plain", "plain"),
    ("\x1b]0;TITLE\x07\x1b[2J", "\\x1b]0;TITLE\\x07\\x1b[2J"),
    ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
    ("\x00\x7f\x9b\x85", "\\x00\\x7f\\x9b\\x85"),
    ("\udc9b", "\\x9b"),             # the byte 0x9b that was not UTF-8 (surrogateescape)
    ("\ud800", "\\ud800"),
    ("é ü 中 \\x1b", "é ü 中 \\x1b"),      # printable text, a backslash included, stays
])
def test_printable_spells_out_control_characters(text, shown):
    assert render.printable(text) == shown


def test_printable_can_keep_line_ends_and_tabs():
    assert render.printable("a\nb\tc\x1b", keep="\n\t") == "a\nb\tc\\x1b"


def test_a_json_key_cannot_retitle_or_clear_the_terminal():
    result = gradcli("eval", "-e", "input x = 1\nx", input='{"\\u001b]0;TITLE\\u0007\\u001b[2J": 1}')
    assert result.exit_code == 1
    assert result.stderr == ("gradcli: error: unknown input '\\x1b]0;TITLE\\x07\\x1b[2J': the "
                             "program declares 'x'\n"
                             "gradcli: note: while running the input on line 1 of <stdin>\n")


def test_an_echoed_source_line_is_escaped_with_the_caret_still_under_the_span():
    result = gradcli("eval", "-e", 's = "\x1b[2J"\nt = "\x07" + 1')
    assert result.exit_code == 1
    assert result.stderr == ("<expr>:2:5: error: left operand of '+' must be a number or an "
                             "array, not a string\n"
                             't = "\\x07" + 1\n'
                             "    ^~~~~~~~~~\n")


def test_the_caret_after_an_escaped_character_moves_with_it():
    where = render.Located("f.ag", 1, 11, 1, 14, 's = "\x1b" + abc')
    assert render.error_report("bad", where) == ('f.ag:1:11: error: bad\n'
                                                 's = "\\x1b" + abc\n'
                                                 "             ^~~\n")
    one = render.Located("f.ag", 1, 2, 1, 3, "a\x9bb")
    assert render.error_report("bad", one).splitlines()[1:] == ["a\\x9bb", " ^~~~"]


def test_bad_json_echoed_on_stderr_is_escaped():
    result = gradcli("grad", "-e", SUM_SQUARES, input='{"x\x1b[2J": [1,,2]}\n')
    assert result.exit_code == 1
    assert result.stderr == ("<stdin>:1:4: error: invalid JSON: Invalid control character at\n"
                             '{"x\\x1b[2J": [1,,2]}\n'
                             "   ^~~~\n")
    after = gradcli("grad", "-e", SUM_SQUARES, input='["\x9b", 1,,2]\n')
    assert after.stderr == ("<stdin>:1:9: error: invalid JSON: Expecting value\n"
                            '["\\x9b", 1,,2]\n'
                            "           ^\n")


def test_lines_are_counted_as_the_parser_counts_them():
    """Only line feeds (after CR LF and CR became one) end a line: a form
    feed or a file separator in a string does not move the echoed line."""
    result = gradcli("eval", "-e", 'x = "\x1c\x0c"\ny = 1 + "a"')
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == ['y = 1 + "a"', "    ^~~~~~~"]


def test_printed_strings_are_escaped_but_keep_line_ends_and_tabs():
    """(rich expands the tab, as a terminal would.)"""
    result = gradcli("eval", "-e", 'print("\x1b[2Jhi\x07")\nprint("a\\tb\\nc")\n"\x9b"')
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "\\x1b[2Jhi\\x07\na       b\nc\n\\x9b\n"


def test_a_string_printed_beside_an_array_is_escaped():
    result = gradcli("eval", "-e", 'print("\x1b[31m", ones(2))')
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].startswith("\\x1b[31m │ 1 │")
    assert not raw_controls(result.stdout)


def test_json_output_escapes_control_characters_itself():
    result = gradcli("eval", "--json", "-e", 'print("\x1b[2J\x7f\x9b")')
    assert result.exit_code == 0
    assert result.stdout == '{"printed": [["\\u001b[2J\\u007f\\u009b"]], "variables": {}, ' \
                            '"grads": {}}\n'


def test_a_file_name_is_escaped_in_the_usage_error(tmp_path):
    result = gradcli("eval", "no\x1b[2J.ag")
    assert result.exit_code == 2
    assert result.stderr == ("gradcli: error: cannot read 'no\\x1b[2J.ag': no such file\n"
                             "Try 'gradcli eval --help' for help.\n")


def test_a_file_name_with_a_nul_is_a_usage_error():
    result = gradcli("eval", "a\x00b.ag")
    assert result.exit_code == 2
    assert result.stderr == ("gradcli: error: cannot read 'a\\x00b.ag': not a valid file name\n"
                             "Try 'gradcli eval --help' for help.\n")


def test_an_internal_error_message_is_escaped(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bad \x1b[2J")
    monkeypatch.setattr(api, "run", broken)
    result = gradcli("eval", "-e", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("gradcli: internal error: RuntimeError: bad \\x1b[2J\n")


@pytest.mark.parametrize("text", ["[bold]x[/bold]", "[/]", "[red", "[link=x]y[/link]", ":smile:"])
def test_rich_markup_in_user_strings_prints_literally(text):
    result = gradcli("eval", "-e", f'print("{text}")\nprint("{text}", ones(2))\n"{text}"')
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == text and lines[-1] == text
    assert lines[2].startswith(text + " │ 1 │")     # beside the numbers


CONTROL_TEXT = st.text(st.characters(codec="utf-8", exclude_characters='"\\\n\r')
                       | st.sampled_from(sorted(FORBIDDEN - {chr(c) for c in
                                                             range(0xd800, 0xe000)})),
                       min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=CONTROL_TEXT)
def test_no_control_character_from_the_input_reaches_the_terminal(text):
    """The same text as a printed string, in a line that fails and is echoed,
    as a JSON key, and as a file name."""
    runs = [
        gradcli("eval", "-e", f'print("{text}")\n"{text}"'),
        gradcli("eval", "-e", f'print(1)\nx = "{text}" + 1'),
        gradcli("eval", "-e", f'x = 1 + "{text}', input=""),
        gradcli("eval", "-e", "input x = 1\nx", input=json.dumps({text: 1})),
        gradcli("grad", "-e", "input x\nx", input='{"x": "' + text + '"}\n'),
        gradcli("eval", "-e", "input x\nx", input='{"' + text + '": [1,,2]}\n'),
        gradcli("eval", text + ".ag"),
    ]
    for result in runs:
        assert not raw_controls(result.stdout), result.stdout
        assert not raw_controls(result.stderr), result.stderr
        assert "Traceback" not in result.stderr


# ------------------------------------------------------ option values

def usage_message(stderr: str) -> str:
    """The message inside typer's error box, its wrapped lines joined."""
    lines = [line.strip("│ ").strip() for line in stderr.splitlines() if line.startswith("│")]
    return " ".join(lines)


@pytest.mark.parametrize("command", ["eval", "grad", "check", "graph", "repl"])
def test_a_negative_or_huge_seed_is_a_usage_error(command):
    negative = gradcli(command, "--seed", "-1", "-e", "1") if command != "repl" else \
        gradcli(command, "--seed", "-1")
    assert (negative.exit_code, negative.stdout) == (2, "")
    assert usage_message(negative.stderr) == ("Invalid value for '--seed': expected a whole "
                                              "number from 0 to 2**64 - 1, got -1")
    huge = gradcli(command, "--seed", str(2 ** 64))
    assert huge.exit_code == 2
    assert usage_message(huge.stderr).endswith(f"got {2 ** 64}")


def test_the_largest_seed_is_accepted():
    result = gradcli("eval", "--seed", str(2 ** 64 - 1), "-e", "rand(2)")
    assert (result.exit_code, result.stderr) == (0, "")


@pytest.mark.parametrize("text, size", [
    ("1000000", 1_000_000), ("512M", 512 * 2 ** 20), ("4G", 4 * 2 ** 30),
    ("1.5GiB", 3 * 2 ** 29), ("64k", 65536), ("2 MiB", 2 * 2 ** 20), ("1T", 2 ** 40),
    ("5MB", 5_000_000), ("1gb", 10 ** 9), ("100B", 100), (".5K", 512),
])
def test_max_memory_sizes(text, size):
    from gradcli.cli import parse_size
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "", "-1G", "0", "0.1", "1.5.2G", "12Q", "G", "inf",
                                  "nan", "1e9", "1 2G"])
def test_a_bad_max_memory_is_a_usage_error(text):
    result = gradcli("eval", "--max-memory", text, "-e", "1")
    assert (result.exit_code, result.stdout) == (2, "")
    message = usage_message(result.stderr)
    assert message.startswith("Invalid value for '--max-memory': ")
    if text in ("0", "0.1"):
        assert message.endswith(f"a size must be at least 1 byte, got {text!r}")
    else:
        assert message.endswith(f"expected a size in bytes such as 1000000, 512M, 4G or "
                                f"1.5GiB, got {text!r}")


@pytest.mark.parametrize("text", ["0", "-1", "soon", "inf", "nan", ""])
def test_a_bad_timeout_is_a_usage_error(text):
    result = gradcli("eval", "--timeout", text, "-e", "1")
    assert (result.exit_code, result.stdout) == (2, "")
    assert usage_message(result.stderr) == (f"Invalid value for '--timeout': expected a "
                                            f"positive number of seconds, got {text!r}")


def test_memory_and_time_limits_reach_the_api(monkeypatch):
    seen = []
    real_configure = api.configure

    def configure(options):
        seen.append((options.max_memory, options.timeout))
        return real_configure(options)

    monkeypatch.setattr(api, "configure", configure)
    for command in ("eval", "grad", "check", "graph"):
        seen.clear()
        result = gradcli(command, "-e", "input x = 1.0\nx * x", "--max-memory", "1.5GiB",
                         "--timeout", "2.5")
        assert result.exit_code == 0, result.stderr
        assert seen and set(seen) == {(3 * 2 ** 29, 2.5)}
    seen.clear()
    assert gradcli("eval", "-e", "1").exit_code == 0
    assert set(seen) == {(None, None)}


def test_repl_passes_memory_and_time_limits(monkeypatch):
    from gradcli import repl
    seen = []
    monkeypatch.setattr(repl, "main", lambda options, debug=False, **display:
                        seen.append(options) or 0)
    result = gradcli("repl", "--max-memory", "2G", "--timeout", "3")
    assert result.exit_code == 0
    assert (seen[0].max_memory, seen[0].timeout) == (2 * 2 ** 30, 3.0)


@pytest.mark.parametrize("command", ["eval", "grad", "check", "graph", "repl"])
def test_every_command_documents_memory_and_time_limits(command):
    result = gradcli(command, "--help")
    assert result.exit_code == 0
    for option in ("--max-memory", "--timeout", "--seed", "--max-steps", "--max-elements"):
        assert option in result.stdout
    if command != "repl":
        assert "--keep-going" in result.stdout


COMMON_OPTIONS = ["--set", "--json", "--dtype", "--seed", "--max-steps", "--max-elements",
                  "--max-memory", "--timeout", "--debug", "--detect-nan", "--full", "--precision",
                  "--keep-going"]
ABOUT_INPUTS = {"--set", "--json", "--keep-going"}         # not for the REPL
COMMANDS = ["eval", "grad", "check", "graph", "explain", "repl"]


def common_params(command: str) -> dict:
    import typer.main
    from gradcli.cli import COMMON
    built = typer.main.get_command(app).commands[command]
    return {p.opts[0]: p for p in built.params if p.rich_help_panel == COMMON}


def test_every_command_takes_the_common_options_alike():
    reference = common_params("eval")
    assert list(reference) == COMMON_OPTIONS
    for command in COMMANDS:
        params = common_params(command)
        assert list(params) == [o for o in COMMON_OPTIONS
                                if command != "repl" or o not in ABOUT_INPUTS]
        for name, param in params.items():
            same = reference[name]
            assert (param.help, param.default, param.metavar, param.show_default) == \
                   (same.help, same.default, same.metavar, same.show_default), (command, name)


def test_the_common_defaults_are_the_api_defaults():
    params, defaults = common_params("eval"), api.Options()
    for option in ("--dtype", "--max-steps", "--max-elements", "--max-memory", "--timeout",
                   "--detect-nan"):
        default = params[option].default
        field = option[2:].replace("-", "_")
        assert getattr(default, "value", default) == getattr(defaults, field), option
    assert params["--seed"].default is None      # unset: Options' own seed


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_without_options_runs_with_the_api_defaults(command, monkeypatch):
    from gradcli import repl
    seen = []
    monkeypatch.setattr(api, "configure", seen.append)
    monkeypatch.setattr(repl, "main", lambda options, debug=False, **display:
                        seen.append(options) or 0)
    result = gradcli(command, *([] if command == "repl" else ["-e", "input x = 1.0\nx * x"]))
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    assert seen and all(options == api.Options() for options in seen)


# -------------------------------------------------------- a graph cut short

LONG_CHAIN = "input x = 1.0\ny = x\nfor i in range(300):\n    y = y * 1.01 + x\ny"
CUT_NOTE = ("graph cut at 500 nodes: the nodes past them are drawn without their inputs "
            "(--max-nodes N draws more)")


def test_a_graph_over_the_node_limit_says_it_was_cut():
    result = gradcli("graph", "-e", LONG_CHAIN)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1] == CUT_NOTE
    whole = gradcli("graph", "-e", LONG_CHAIN, "--max-nodes", "2000")
    assert whole.exit_code == 0
    assert "graph cut" not in whole.stdout
    assert len(whole.stdout.splitlines()) > len(result.stdout.splitlines())


def test_a_small_graph_is_not_cut():
    result = gradcli("graph", "-e", GRAPH)
    assert "graph cut" not in result.stdout + result.stderr


def test_a_cut_graph_in_dot_and_json_says_so_too():
    dot = gradcli("graph", "-e", LONG_CHAIN, "--dot")
    assert dot.exit_code == 0
    assert f'  label="{CUT_NOTE}";\n' in dot.stdout
    assert dot.stderr == f"gradcli: warning: {CUT_NOTE}\n"
    as_json = gradcli("graph", "-e", LONG_CHAIN, "--json")
    assert as_json.exit_code == 0
    assert '"truncated": true' in as_json.stdout
    assert as_json.stderr == f"gradcli: warning: {CUT_NOTE}\n"
    small = gradcli("graph", "-e", GRAPH, "--json")
    assert "truncated" not in small.stdout


def test_max_nodes_must_be_positive():
    result = gradcli("graph", "-e", GRAPH, "--max-nodes", "0")
    assert result.exit_code == 2


def test_a_deep_graph_draws_every_node_however_narrow_the_terminal():
    """A node deeper than the width allows is still drawn (rich's Tree would
    leave it out without a word)."""
    chain = "input x = 1.0\ny = x\nfor i in range(100):\n    y = y * 1.01 + x\ny"
    tree = gradcli("graph", "-e", chain)
    nodes = json.loads(gradcli("graph", "-e", chain, "--json").stdout)
    count, stack = 0, [nodes]
    while stack:
        count += 1
        stack.extend(stack.pop()["children"])
    assert tree.exit_code == 0
    # per pass MulBackward, its constant 1.01, AddBackward and x; then the first x
    assert len(tree.stdout.splitlines()) == count == 401
    assert max(len(line) for line in tree.stdout.splitlines()) > 4 * 199


def test_a_high_rank_array_prints_a_bounded_number_of_slices():
    # 2**16 two-by-two slices: 24 are shown, the first and last 12, one gap
    result = gradcli("eval", "-e", "print(ones(" + ", ".join(["2"] * 18) + "))")
    assert result.exit_code == 0
    labels = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(labels) == 24
    assert labels[0].startswith("[0, 0, 0,") and labels[-1].startswith("[1, 1, 1,")
    assert result.stdout.count("⋮") == 1


# ---------------------------------------------------------------- jacobian

def test_grad_jacobian_of_a_matrix_product_is_the_matrix_and_a_one_hot_stack():
    source = "input x = [1.0, 2.0]\ninput A = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]\nA @ x"
    result = gradcli("grad", "-e", source, "--jacobian", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["value"] == [5.0, 11.0, 17.0]
    assert data["jacobian"]["x"] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    # d(Ax)_i / dA_jk = [i == j] x_k: shape result (3,) + A (3, 2)
    expected = np.zeros((3, 3, 2))
    for i in range(3):
        expected[i, i] = [1.0, 2.0]
    np.testing.assert_array_equal(data["jacobian"]["A"], expected)


def test_grad_jacobian_of_softmax_is_diag_s_minus_s_s_transposed():
    result = gradcli("grad", "-e", "input x = [1.0, 2.0, 3.0]\nsoftmax(x)", "--jacobian", "--json")
    s = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(json.loads(result.stdout)["jacobian"]["x"],
                               np.diag(s) - np.outer(s, s), rtol=1e-14, atol=1e-16)
    table = gradcli("grad", "-e", "input x = [1.0, 2.0, 3.0]\nsoftmax(x)", "--jacobian")
    assert "jacobian of result by x\n" in table.stdout
    assert "shape (3, 3) · float64" in table.stdout


def test_grad_jacobian_and_head_are_one_or_the_other():
    result = gradcli("grad", "-e", "input x = [1.0]\nx", "--jacobian", "--head", "[1]")
    assert result.exit_code == 2
    assert "--jacobian gives every row of the Jacobian" in result.output


# ------------------------------------------------------------ second order

def test_grad_order_2_of_a_quadratic_form_is_a_plus_a_transposed():
    source = "input x = [1.0, 2.0]\ninput A = [[1.0, 2.0], [3.0, 5.0]]\nx @ A @ x"
    result = gradcli("grad", "-e", source, "--order", "2", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["value"] == 31.0
    A, x = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([1.0, 2.0])
    hessian = data["hessian"]
    np.testing.assert_array_equal(hessian["x"]["x"], A + A.T)
    np.testing.assert_array_equal(hessian["A"]["A"], np.zeros((2, 2, 2, 2)))
    # d2/dx_i dA_jk of x_j A_jk x_k = [i == j] x_k + x_j [i == k]
    cross = np.einsum("ij,k->ijk", np.eye(2), x) + np.einsum("j,ik->ijk", x, np.eye(2))
    np.testing.assert_array_equal(hessian["x"]["A"], cross)
    np.testing.assert_array_equal(hessian["A"]["x"], np.moveaxis(cross, 0, -1))


def test_grad_order_2_of_a_polynomial_is_its_second_derivative_on_the_diagonal():
    result = gradcli("grad", "-e", "input x = [1.0, 2.0, -1.5]\nsum(x ** 3 - 2 * x ** 2)",
                     "--order", "2", "--json")
    np.testing.assert_array_equal(json.loads(result.stdout)["hessian"]["x"]["x"],
                                  np.diag(6 * np.array([1.0, 2.0, -1.5]) - 4))
    table = gradcli("grad", "-e", "input x = [1.0, 2.0]\nsum(x ** 3)", "--order", "2")
    assert "hessian of result by x, x\n" in table.stdout


def test_grad_order_2_of_a_result_neither_scalar_nor_elementwise_is_an_error():
    result = gradcli("grad", "-e", "input x = [1.0, 2.0]\nx * sum(x)", "--order", "2")
    assert result.exit_code == 1
    assert result.stderr == (
        "gradcli: error: --order 2 needs a single-number result, or a result that is "
        "elementwise in its one variable, but this result has shape (2,) and is not "
        "elementwise in 'x'; name a single number with --of, or use --jacobian\n")


def test_wrt_may_name_a_value_the_program_computed():
    # SPEC 2.1: the gradient with respect to an intermediate y = x * x.
    source = "input x = [1.0, 2.0]\ny = x * x\nsum(y * y)"
    grads = json.loads(gradcli("grad", "-e", source, "--wrt", "y", "--json").stdout)["grads"]
    assert grads == {"y": [2.0, 8.0]}
    hessian = json.loads(gradcli("grad", "-e", source, "--wrt", "y", "--order", "2",
                                 "--json").stdout)["hessian"]
    assert hessian == {"y": {"y": [[2.0, 0.0], [0.0, 2.0]]}}
    both = json.loads(gradcli("grad", "-e", source, "--wrt", "y,x", "--json").stdout)["grads"]
    assert both == {"y": [2.0, 8.0], "x": [4.0, 32.0]}
