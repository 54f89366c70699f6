"""`gradcli check --expect NAME=EXPR [--random K]`: a hand-derived gradient
against autodiff, at the given inputs and at K points drawn around them
(gradcli/expect.py; the command line's wiring, tables, JSON and exit codes)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gradcli import api, expect
from gradcli.cli import app
from gradcli.errors import DataError, EvalError, ShapeError, SyntaxProblem
from gradcli.lang.parser import parse_expression

ROOT = Path(__file__).resolve().parents[1]
PLAIN_ENV = {"COLUMNS": None, "LINES": None, "NO_COLOR": None, "FORCE_COLOR": None,
             "TERM": None}


def gradcli(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=PLAIN_ENV)


def checked(source, *arguments, random=3, **options):
    """expect.check of `source` with each `NAME=EXPR` in `arguments`."""
    return expect.check(api.load(source), [expect.parse(a) for a in arguments],
                        random=random, **options)


# ------------------------------------------------------------ the formula

def test_a_formula_is_parsed_as_one_expression():
    assert parse_expression("2 * x").op == "*"
    # `parse` would read a leading number as a pasted listing's line number.
    with pytest.raises(SyntaxProblem, match="is an operator missing") as problem:
        parse_expression("2 X.T @ r")
    assert (problem.value.span.line, problem.value.span.column) == (1, 3)
    for text, message in (("x = 3", "not an assignment"), ("a; b", "not several statements"),
                          ("if x: y", "not a statement"), ("# no formula", "an expression")):
        with pytest.raises(SyntaxProblem, match=message):
            parse_expression(text)


def test_an_argument_that_is_not_name_equals_expr_is_a_usage_problem():
    for argument in ("w", "=x", "2w=x", "w=", "w=   "):
        with pytest.raises(expect.UsageProblem, match="expected NAME=EXPR"):
            expect.parse(argument)
    with pytest.raises(expect.UsageProblem, match="'w' is given twice"):
        expect.names(["w=1", "x=2", "w=3"])
    assert expect.names([" w = 2 * w", "x=x==1"]) == ["w", "x"]


def test_a_syntax_error_points_into_the_argument():
    with pytest.raises(SyntaxProblem) as problem:
        expect.parse("  w = 2 X")
    exc = problem.value
    assert (exc.origin, exc.line_text) == ("--expect", "  w = 2 X")
    assert (exc.span.line, exc.span.column, exc.span.end_column) == (1, 9, 10)


# ------------------------------------------------------------ identities

# Each hand-derived gradient, checked at its inputs and at 3 (or more)
# random points: (program, formulas).
IDENTITIES = {
    "d tr(AX)/dX = Aᵀ": (
        "input A = [[1, 2, 0], [3, -1, 2], [0.5, 1, 1]]\n"
        "input X = [[0.2, 1, 0], [1, -1, 2], [0, 0.5, 1]]\n"
        "trace(A @ X)", ["X=A.T"]),
    "d tr(XᵀAX)/dX = (A + Aᵀ)X": (
        "input A = [[1, 2, 0], [3, -1, 2], [0.5, 1, 1]]\n"
        "input X = [[0.2, 1], [1, -1], [0, 0.5]]\n"
        "trace(X.T @ A @ X)", ["X=(A + A.T) @ X"]),
    "d log det X/dX = X⁻ᵀ": (
        "input X = eye(3) * 3 + [[0.1, 0.2, 0], [0, -0.1, 0.3], [0.2, 0, 0.1]]\n"
        "log(det(X))", ["X=inv(X).T"]),
    "d xᵀAx/dx = (A + Aᵀ)x": (
        "input A = [[1, 2], [-3, 4]]\ninput x = [0.5, -1]\n"
        "dot(x, A @ x)", ["x=(A + A.T) @ x"]),
    "d ‖Xw − y‖²/dw = 2Xᵀ(Xw − y)": (
        "input X = [[1, 2, 0], [0, 1, 1], [3, 0, -1], [1, 1, 1]]\n"
        "input w = [0.5, -1, 2]\ninput y = [1, 0, 2, -1]\n"
        "norm(X @ w - y) ** 2", ["w=2 * X.T @ (X @ w - y)", "y=-2 * (X @ w - y)"]),
    "d (⟨x, w⟩ − y)²/dw = 2(⟨x, w⟩ − y)x": (
        "input x = [1, 2, 3]\ninput w = [0.5, -1, 2]\ninput y = 2\n"
        "(dot(x, w) - y) ** 2", ["w=2 * (dot(x, w) - y) * x", "y=-2 * (dot(x, w) - y)"]),
    "softmax cross-entropy: softmax(z)·sum(y) − y": (
        "input z = [1, -0.5, 2, 0]\ninput y = [0, 0, 1, 0]\n"
        "-sum(y * log_softmax(z))", ["z=softmax(z) * sum(y) - y"]),
    "tanh layer: (1 − tanh²(Wx + b)) xᵀ": (
        "input W = [[0.5, -1, 0.2], [1, 0.3, -0.4]]\ninput x = [1, 2, -1]\n"
        "input b = [0.1, -0.2]\nsum(tanh(W @ x + b))",
        ["W=outer(1 - tanh(W @ x + b) ** 2, x)", "b=1 - tanh(W @ x + b) ** 2",
         "x=W.T @ (1 - tanh(W @ x + b) ** 2)"]),
    "sigmoid: s(1 − s)": (
        "input x = [-2, 0, 0.5, 3]\nsum(sigmoid(x))", ["x=sigmoid(x) * (1 - sigmoid(x))"]),
    "cube: 3x²": ("input x = [[1, -2], [0, 0.5]]\nsum(x ** 3)", ["x=3 * x ** 2"]),
    "logsumexp: softmax": ("input x = [1, 2, -1, 0.5]\nlogsumexp(x)", ["x=softmax(x)"]),
    "norm: x / ‖x‖": ("input x = [3, -4, 1]\nnorm(x)", ["x=x / norm(x)"]),
}


@pytest.mark.parametrize("source, formulas", IDENTITIES.values(), ids=IDENTITIES.keys())
def test_a_correct_hand_derived_gradient_passes_at_every_point(source, formulas):
    result = checked(source, *formulas, random=4)
    assert result.ok, result.expect
    assert result.points == 5
    for row in result.expect.values():
        assert row["ok"] and row["points"] == 5
        assert row["max_rel_err"] < 1e-9


def test_a_value_the_result_does_not_depend_on_has_a_zero_gradient():
    result = checked("input x = [1, 2]\ninput c = [3, 4]\nsum(x * x)", "c=zeros_like(c)")
    assert result.ok


def test_the_gradient_by_a_computed_value():
    result = checked("input x = [1, 4]\ny = 2 * x\nsum(y * y)", "y=2 * y")
    assert result.ok


def test_head_weights_the_result_as_grad_does():
    result = checked("input x = [1, 4]\nx * x", "x=2 * x * [10, 0.1]", head=[10, 0.1])
    assert result.ok


def test_of_names_the_result():
    result = checked("input x = [1., 2]\ny = sum(x * x) * 3\nq = 1", "x=6 * x", of="y")
    assert result.ok


def test_a_program_with_its_own_backward_is_checked_by_the_gradient_it_left():
    source = ("input x = [[1, 2], [3, 4]]\nattach_grad(x)\nwith record:\n"
              "    y = 2 * x ** 2\ny.backward()\n")
    assert checked(source, "x=4 * x").ok
    assert not checked(source, "x=4 * x + 1").ok


def test_a_single_number_matches_one_element_of_any_shape():
    assert checked("input x = 2\nx ** 3", "x=[12]", random=0).ok
    assert checked("input x = [2]\nsum(x ** 3)", "x=12", random=0).ok


# ------------------------------------------------------------ mismatches

def test_a_wrong_sign_names_the_worst_element_with_both_numbers():
    # -3x² against 3x²: the error, 6x², is furthest past its tolerance at the largest |x|.
    result = checked("input x = [1, -2, 3, 0.5]\nsum(x ** 3)", "x=-3 * x ** 2", random=0)
    assert not result.ok
    row = result.expect["x"]
    assert row["worst"] == {"index": [2], "expected": -27.0, "autodiff": 27.0, "point": 0}
    assert row["max_abs_err"] == 54.0 and row["max_rel_err"] == 2.0


def test_a_wrong_factor_of_two_names_the_worst_element_with_both_numbers():
    result = checked("input x = [[1, -2], [0.5, 0]]\nsum(x * x)", "x=4 * x", random=0)
    assert result.expect["x"]["worst"] == {"index": [0, 1], "expected": -8.0,
                                           "autodiff": -4.0, "point": 0}
    assert result.expect["x"]["max_rel_err"] == 0.5


# ‖Xw − y‖² with a square, symmetric X: the transpose-less 2X(Xw − y) has
# the right shape and the right numbers at the given point.
MISSING_TRANSPOSE = ("input X = [[2, 1, 0], [1, 3, -1], [0, -1, 1]]\n"
                     "input w = [1, -1, 0.5]\ninput y = [0.5, 2, -1]\n"
                     "norm(X @ w - y) ** 2")
GIVEN = {"X": [[2, 1, 0], [1, 3, -1], [0, -1, 1]], "w": [1, -1, 0.5], "y": [0.5, 2, -1]}


def drawn_points(given, count, seed=0):
    """The random points as docs/language.md describes them, made here from
    scratch: each input in order, x + 0.2·rms(x)·N(0, 1), from numpy's
    default_rng seeded with [0x657870656374, seed]."""
    rng = np.random.default_rng([0x657870656374, seed])
    points = [{n: np.array(v, dtype=float) for n, v in given.items()}]
    for _ in range(count):
        points.append({n: x + 0.2 * np.sqrt(np.mean(x * x)) * rng.standard_normal(x.shape)
                       for n, x in points[0].items()})
    return points


def worst_of_missing_transpose(count, seed=0):
    """(point, index, expected, autodiff) of the element furthest past its
    tolerance, by numpy: 2X(Xw − y) against the true 2Xᵀ(Xw − y)."""
    worst = None
    for k, p in enumerate(drawn_points(GIVEN, count, seed)):
        r = p["X"] @ p["w"] - p["y"]
        wrong, right = 2 * p["X"] @ r, 2 * p["X"].T @ r
        badness = np.abs(wrong - right) / (1e-6 + 1e-5 * np.maximum(abs(wrong), abs(right)))
        i = int(np.argmax(badness))
        if worst is None or badness[i] > worst[0]:
            worst = (badness[i], k, i, wrong[i], right[i])
    return worst[1:]


def test_the_missing_transpose_passes_at_the_given_point_and_fails_at_random_ones():
    formula = "w=2 * X @ (X @ w - y)"
    assert checked(MISSING_TRANSPOSE, formula, random=0).ok
    result = checked(MISSING_TRANSPOSE, formula, random=5)
    assert not result.ok
    worst = result.expect["w"]["worst"]
    point, index, wrong, right = worst_of_missing_transpose(5)
    assert (worst["point"], worst["index"]) == (point, [index])
    assert worst["expected"] == pytest.approx(wrong, rel=1e-12)
    assert worst["autodiff"] == pytest.approx(right, rel=1e-12)


def test_the_same_seed_draws_the_same_points_and_another_seed_others():
    formula = "w=2 * X @ (X @ w - y)"
    first = checked(MISSING_TRANSPOSE, formula, random=5, options=api.Options(seed=7))
    again = checked(MISSING_TRANSPOSE, formula, random=5, options=api.Options(seed=7))
    other = checked(MISSING_TRANSPOSE, formula, random=5)
    assert first.expect == again.expect
    assert first.expect["w"]["max_abs_err"] != other.expect["w"]["max_abs_err"]
    point, index, wrong, _ = worst_of_missing_transpose(5, seed=7)
    assert first.expect["w"]["worst"]["expected"] == pytest.approx(wrong, rel=1e-12)


def test_float32_runs_are_judged_by_float32_tolerances():
    result = checked("input x = [0.1, 0.7, 2]\nsum(exp(x) * x)", "x=exp(x) * (1 + x)",
                     options=api.Options(dtype="float32"))
    assert result.ok and (result.rtol, result.atol) == (1e-4, 1e-5)


# ------------------------------------------------------------ draws

def test_draws_break_symmetry_and_zeros_and_keep_integer_and_boolean_inputs():
    base = {"A": np.array([[2.0, 1], [1, 3]]), "z": np.zeros(3),
            "m": np.array([True, False]), "i": np.array([1, 0])}
    drawn = expect._Draws(base, 0)()
    assert set(drawn) == {"A", "z"}          # the program makes m and i again
    assert drawn["A"][0, 1] != drawn["A"][1, 0]
    assert np.all(drawn["z"] != 0)
    assert np.max(np.abs(drawn["A"] - base["A"])) < 2      # around the value: 0.2·rms


def test_a_draw_outside_the_domain_is_drawn_again():
    # x = 0.01 goes below 0 in about half of the draws; log is then NaN.
    result = checked("input x = [0.01, 4]\nsum(log(x))", "x=1 / x", random=20)
    assert result.ok and result.points == 21


def test_no_finite_draw_is_an_error():
    with pytest.raises(DataError, match="no draw around the given inputs gave a finite"):
        checked("input x = [-1, -4]\nsum(log(x))", "x=1 / x")


def test_an_error_at_a_random_point_says_which():
    source = "input n = 3\ninput x = [1, 2]\ns = 0\nfor i in range(n):\n    s = s + sum(x)\ns"
    with pytest.raises(EvalError, match=r"\(at random point 1 of --random\)$"):
        checked(source, "x=3 * ones_like(x)")


# ------------------------------------------------------------ errors

def test_errors_in_the_formula_point_into_it():
    program = "input w = [1, 2]\nsum(w * w)"
    with pytest.raises(EvalError, match="name 'v' is not defined") as unknown:
        checked(program, "w=2 * v")
    assert (unknown.value.origin, unknown.value.span.column) == ("--expect", 7)
    with pytest.raises(DataError, match="no variable 'q' to differentiate by") as name:
        checked(program, "q=2 * w")
    assert (name.value.span.column, name.value.span.end_column) == (1, 2)
    with pytest.raises(DataError, match=r"by; did you mean 'weights'\?"):
        checked("input weights = [1, 2]\nsum(weights)", " weight = ones(2)")
    with pytest.raises(ShapeError, match=r"the formula has shape \(2, 2\), but the gradient "
                                         r"by 'w' has w's shape, \(2,\)"):
        checked(program, "w=outer(w, w)")


# ------------------------------------------------------------ command line

LSQ = "input X = [[2, 1], [1, 3]]\ninput w = [1, -1]\ninput y = [0.5, 2]\nnorm(X @ w - y) ** 2"


def test_cli_table_worst_line_and_verdict():
    result = gradcli("check", "-e", LSQ, "--expect", "w=2 * X.T @ (X @ w - y)", "--random", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "╭──────────┬────────┬─────────────┬─────────────┬────╮\n"
        "│ variable │ points │ max abs err │ max rel err │    │\n"
        "├──────────┼────────┼─────────────┼─────────────┼────┤\n"
        "│ w        │      4 │           0 │           0 │ ok │\n"
        "╰──────────┴────────┴─────────────┴─────────────┴────╯\n"
        "worst element w[0] at the given inputs: expected -6, autodiff -6\n"
        "ok: the hand-derived gradient agrees with autodiff at 4 points "
        "(rtol=1e-05, atol=1e-06)\n")


def test_cli_mismatch_exits_1_and_says_which_variable():
    result = gradcli("check", "-e", "input x = [1, -2]\ny = 2 * x\nsum(x ** 3)",
                     "--expect", "x=3 * x", "--expect", "y=zeros_like(y)")
    assert result.exit_code == 1
    assert "worst element x[1] at the given inputs: expected -6, autodiff 12\n" in result.stdout
    assert result.stdout.endswith("MISMATCH: the hand-derived gradients and autodiff disagree "
                                  "(rtol=1e-05, atol=1e-06)\n")
    assert result.stderr == "gradcli: error: gradient check failed for 'x'\n"


def test_cli_json_is_spec_5s_shape():
    result = gradcli("check", "-e", LSQ, "--expect", "w=2 * X @ (X @ w - y)", "--random", "4",
                     "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "expect"} and data["ok"] is False
    row = data["expect"]["w"]
    assert set(row) == {"ok", "max_abs_err", "max_rel_err", "points", "worst"}
    assert row["ok"] is False and row["points"] == 5
    assert set(row["worst"]) == {"index", "expected", "autodiff", "point"}
    assert row["worst"]["point"] > 0 and len(row["worst"]["index"]) == 1
    assert result.stderr == "gradcli: error: gradient check failed for 'w'\n"


def test_cli_json_writes_non_finite_numbers_as_strings():
    result = gradcli("check", "-e", "input x = [0, 4]\nsum(sqrt(x))", "--expect",
                     "x=0.5 / sqrt(x) + [0, 1]", "--json")
    row = json.loads(result.stdout)["expect"]["x"]
    assert row["worst"] == {"index": [1], "expected": 1.25, "autodiff": 0.25, "point": 0}
    assert row["max_rel_err"] == 0.8            # inf against inf is no error


def test_cli_inputs_from_set_and_json_lines_are_redrawn():
    # A constant formula that is right at the given point only.
    result = gradcli("check", "-e", "sum(x ** 2)", "--set", "x=[1, 2]", "--expect", "x=[2, 4]")
    assert result.exit_code == 0, result.stderr
    result = gradcli("check", "-e", "sum(x ** 2)", "--set", "x=[1, 2]", "--expect", "x=[2, 4]",
                     "--random", "3")
    assert result.exit_code == 1
    lines = gradcli("check", "-e", "input x\nsum(x ** 3)", "--expect", "x=3 * x * x",
                    "--random", "3", "--json", input='{"x": [1, 2]}\n{"x": [0, 0, 5]}\n')
    assert lines.exit_code == 0, lines.stderr
    rows = [json.loads(line)["expect"]["x"] for line in lines.stdout.splitlines()]
    assert [(row["ok"], row["points"]) for row in rows] == [(True, 4), (True, 4)]


def test_cli_a_syntax_error_in_the_formula_is_reported_in_its_own_text():
    result = gradcli("check", "-e", LSQ, "--expect", "w=2 X.T @ (X @ w - y)")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == ("--expect:1:5: error: unexpected 'X'; is an operator missing "
                             "before it?\n"
                             "w=2 X.T @ (X @ w - y)\n"
                             "    ^\n")


def test_cli_unknown_names_and_wrong_shapes_are_errors_with_a_caret():
    cases = [("w=2 * X.T @ (X @ v - y)",
              "--expect:1:18: error: name 'v' is not defined\n"
              "w=2 * X.T @ (X @ v - y)\n"
              "                 ^\n"),
             ("v=w", "--expect:1:1: error: the program has no variable 'v' to differentiate "
                     "by\nv=w\n^\n"),
             ("w=X", "--expect:1:3: error: the formula has shape (2, 2), but the gradient by "
                     "'w' has w's shape, (2,)\nw=X\n  ^\n")]
    for argument, stderr in cases:
        result = gradcli("check", "-e", LSQ, "--expect", argument)
        assert result.exit_code == 1, argument
        assert result.stderr == stderr, argument


@pytest.mark.parametrize("arguments, message", [
    (["--expect", "w"], "expected NAME=EXPR, got 'w'"),
    (["--expect", "w=1", "--expect", "w=2"], "'w' is given twice"),
    (["--expect", "w=1", "--wrt", "w"], "--wrt is for the finite-difference check"),
    (["--random", "3"], "give --expect NAME=EXPR too"),
    (["--expect", "w=1", "--random", "-1"], "--random"),
])
def test_cli_usage_errors_exit_2(arguments, message):
    result = gradcli("check", "-e", LSQ, *arguments)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())


def test_cli_help_describes_expect_and_random():
    result = gradcli("check", "--help")
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "--expect" in text and "NAME=EXPR" in text and "--random" in text
    assert "--expect 'w=2 * X.T @ (X @ w - y)'" in text


# ------------------------------------------------------------ samples

# A sample's header may show `check` runs, each as `#   $ gradcli check ...`
# followed by the verdict line it prints.
_RUN = re.compile(r"^#\s+\$ gradcli (check .*)\n#\s+((?:ok|MISMATCH): .*)$", re.MULTILINE)
SAMPLE_RUNS = [pytest.param(shlex.split(m[1]), m[2], id=f"{path.name}:{i}")
               for path in sorted((ROOT / "samples").glob("*.ag"))
               for i, m in enumerate(_RUN.finditer(path.read_text(encoding="utf-8")))]


def test_the_matrix_calculus_samples_show_their_checks():
    assert len(SAMPLE_RUNS) >= 5


@pytest.mark.parametrize("arguments, verdict", SAMPLE_RUNS)
def test_a_samples_check_prints_the_verdict_its_header_shows(arguments, verdict, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = gradcli(*arguments)
    assert result.stdout.splitlines()[-1] == verdict
    assert result.exit_code == (0 if verdict.startswith("ok") else 1)


def test_the_readme_shows_what_check_expect_prints(monkeypatch):
    # README.md's section: each `$ gradcli check ...` line, then its stdout and stderr.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Checking a hand-derived gradient", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    runs = [run.split("\n", 1) for run in block.split("$ gradcli ")[1:]]
    assert len(runs) == 2
    monkeypatch.chdir(ROOT)
    for command, shown in runs:
        result = gradcli(*shlex.split(command))
        assert result.stdout + result.stderr == shown, command
