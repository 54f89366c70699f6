"""Every sample and every program in tests/programs/ prints what its
`# expect` lines say, in float64 and in float32 (the convention: golden.py,
tests/README.md)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import golden
from gradcli.cli import app



def cases():
    for path in golden.programs():
        expected = golden.expectations(path.read_text(encoding="utf-8"))
        marks = [pytest.mark.xfail(reason=expected.xfail, strict=True)] if expected.xfail else []
        for dtype in expected.dtypes:
            yield pytest.param(path, dtype, marks=marks,
                               id=f"{path.relative_to(golden.ROOT)}-{dtype}")


CASES = list(cases())


@pytest.mark.parametrize("path, dtype", CASES)
def test_golden(path, dtype):
    problems = golden.check(path, dtype)
    assert not problems, f"{path.name} ({dtype}):\n  " + "\n  ".join(problems)


def test_every_program_states_what_it_expects():
    for path in golden.programs():
        assert golden.expectations(path.read_text(encoding="utf-8")).count, path.name


def test_there_are_programs_for_every_area():
    areas = {path.parent.name for path in golden.PROGRAMS.rglob("*.ag")}
    assert {"arithmetic", "broadcasting", "indexing", "control_flow", "functions",
            "gradients", "errors", "limits"} <= areas
    assert len(golden.programs()) >= 55


ERRORS = [path for path in golden.programs()
          if golden.expectations(path.read_text(encoding="utf-8")).error]


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.name)
def test_an_expected_error_is_what_gradcli_eval_prints_with_exit_1(path):
    expected = golden.expectations(path.read_text(encoding="utf-8"))
    line, col, message, _ = expected.error
    result = CliRunner().invoke(app, ["eval", str(path), "--max-steps", "200000",
                                      "--max-elements", "1000000", "--dtype", expected.dtypes[0]],
                                env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 1
    assert f"{path}:{line}:{col}: error: {message}\n" in result.stderr


# ------------------------------------------------------ the runner itself

def write(tmp_path, text):
    path = tmp_path / "p.ag"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_runner_passes_a_right_program(tmp_path):
    path = write(tmp_path, "x = [[1, 2], [3, 4]]\nprint(x * 0.1, 'a', x[0, 0] > 0)"
                           "  # expect: [[0.1, 0.2], [0.3, 0.4]] a True\nx[0]  # expect: [1, 2]\n")
    assert golden.check(path, "float64") == []
    assert golden.check(path, "float32") == []


@pytest.mark.parametrize("text, problem", [
    ("print(1)  # expect: 2\n", "line 1: expected '2', got '1'"),
    ("print(1)\n", "unexpected output '1'"),
    ("x = 1  # expect: 1\n", "line 1: missing output, expected '1'"),
    ("print(1, 2)  # expect: 1\n", "line 1: expected '1', got '1 2'"),
    ("print('ab')  # expect: abc\n", "line 1: expected 'abc', got 'ab'"),
    ("print(1.001)  # expect: 1 ± 0.0001\n", "line 1: expected '1', got '1.001'"),
    ("y = undefined  # expect error: 1:4 name 'undefined' is not defined\n",
     "line 1: expected error 1:4 \"name 'undefined' is not defined\", got 1:5"),
    ("y = 1  # expect error: 1:1 boom\n",
     "line 1: expected error 1:1 'boom', the run succeeded"),
    ("print([1, 2] + [1, 2, 3])\n", "unexpected error 1:7 ShapeError"),
])
def test_the_runner_reports_every_difference(tmp_path, text, problem):
    (found,) = golden.check(write(tmp_path, text), "float64")
    assert found.startswith(problem)


def test_numbers_compare_within_the_tolerance_of_the_dtype(tmp_path):
    path = write(tmp_path, "print(1 / 3)  # expect: 0.333333\n")
    assert golden.check(path, "float32") == []
    assert golden.check(path, "float64") != []
    assert golden.check(write(tmp_path, "print(1 / 3)  # expect: 0.333 ± 0.001\n"), "float64") == []
    assert golden.same("[1, -2.5e-3] inf nan x1", "[1, -0.0025] inf nan x1", 0, 0)
    assert not golden.same("x1", "x2", 0, 0)


def test_dtypes_and_xfail_lines():
    found = golden.expectations("# dtypes: float64\n# xfail: bug 7\nprint(1)  # expect: 1\n")
    assert (found.dtypes, found.xfail) == (("float64",), "bug 7")
