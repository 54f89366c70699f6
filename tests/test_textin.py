"""Reading input (gradcli.textin, SPEC 7): bytes that are not UTF-8 are an
error at their own line and column, and no read is unbounded."""

import io
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gradcli import repl as repl_module
from gradcli import textin
from gradcli.cli import app

PROGRAM = "input x\nsum(x * x)\n"


def _invoke(args, stdin: bytes = b""):
    return CliRunner().invoke(app, args, input=stdin)


def _gradcli(args, **kwargs):
    return subprocess.run([sys.executable, "-m", "gradcli", *args], capture_output=True,
                          timeout=120, **kwargs)


def test_the_first_byte_that_is_not_utf8_is_located():
    problem = textin.not_utf8("ok\nab\udcffc\udc80", first_line=3)
    assert problem.message == "not UTF-8 text: byte 0xff"
    assert (problem.span.line, problem.span.column) == (4, 3)
    assert textin.not_utf8("plain ünïcode \u2028 text") is None


def test_a_program_file_that_is_not_utf8_points_at_the_byte(tmp_path):
    path = tmp_path / "bad.ag"
    path.write_bytes(b"x = 1\ny = 2 + \xe9\n")
    result = _invoke(["eval", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (f"{path}:2:9: error: not UTF-8 text: byte 0xe9\n"
                             "y = 2 + \\xe9\n        ^~~~\n")


def test_a_json_line_that_is_not_utf8_fails_alone_without_keep_going(tmp_path):
    path = tmp_path / "p.ag"
    path.write_text(PROGRAM)
    result = _invoke(["grad", str(path), "--json"], b'{"x": 1}\n{"x": "\xff"}\n{"x": 2}\n')
    assert result.exit_code == 1
    assert result.stdout == '{"value": 1.0, "grads": {"x": 2.0}}\n'
    assert result.stderr.startswith("<stdin>:2:8: error: not UTF-8 text: byte 0xff\n")


def test_a_program_over_the_bound_is_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(textin, "MAX_PROGRAM_CHARS", 100)
    path = tmp_path / "big.ag"
    path.write_text("x = 1\n" * 17)
    assert _invoke(["eval", str(path)]).stderr == (
        f"gradcli: error: '{path}' is too large: a program may have at most 100 characters\n")
    result = _invoke(["eval", "-"], ("x = 1\n" * 17).encode())
    assert result.exit_code == 1
    assert result.stderr == ("gradcli: error: <stdin> is too large: a program may have at "
                             "most 100 characters\n")
    path.write_text("x = 1\n" * 16)
    assert _invoke(["eval", str(path)]).exit_code == 0


def test_a_stdin_line_over_the_bound_is_too_large_and_earlier_answers_stay(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(textin, "MAX_LINE_CHARS", 40)
    path = tmp_path / "p.ag"
    path.write_text(PROGRAM)
    stdin = b'{"x": 1}\n{"x": [' + b"1, " * 20 + b"1]}\n"
    result = _invoke(["grad", str(path), "--json"], stdin)
    assert result.exit_code == 1
    assert result.stdout == '{"value": 1.0, "grads": {"x": 2.0}}\n'
    assert result.stderr == ("gradcli: error: line 2 of stdin is too large: a line may have "
                             "at most 40 characters\n")


@pytest.mark.parametrize("args", [["eval", "/dev/zero"], ["eval", "-"], ["grad", "PROGRAM"],
                                  ["repl"]])
def test_dev_zero_is_refused_quickly_as_too_large(args, tmp_path):
    path = tmp_path / "p.ag"
    path.write_text(PROGRAM)
    args = [str(path) if a == "PROGRAM" else a for a in args]
    with open("/dev/zero", "rb") as zeros:
        done = _gradcli(args, stdin=zeros)
    assert done.returncode == 1
    assert b"is too large: a" in done.stderr and b"Traceback" not in done.stderr


def test_repl_reports_a_line_that_is_not_utf8_and_goes_on(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    console = Console(file=out, width=100, color_system=None, highlight=False)
    session = repl_module.Repl(repl_module.api.Options(), console=console, errors=err)
    stream = io.TextIOWrapper(io.BytesIO(b"x = 2\ny = \x80\nx * 3\n"))
    status = repl_module.run_stream(session, textin.lines(textin.utf8(stream)))
    assert status == 1
    assert out.getvalue() == "6\n"
    assert err.getvalue() == "<stdin>:2:5: error: not UTF-8 text: byte 0x80\ny = \\x80\n    ^~~~\n"


def test_python_dash_m_gradcli_runs_the_cli():
    done = _gradcli(["eval", "-e", "1 + 2"])
    assert (done.returncode, done.stdout, done.stderr) == (0, b"3\n", b"")
