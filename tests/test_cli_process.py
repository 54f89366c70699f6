"""The installed `gradcli` console script as a real process: exit codes,
stdout/stderr separation, stdin handling and JSON Lines streaming."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCRIPT = shutil.which("gradcli", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="gradcli console script not installed")

SQUARE = "input x\nattach_grad(x)\nwith record:\n    y = 2 * x ** 2\ny.backward()\n"
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "LINES")}
TIMEOUT = 60


def run(*args, input=None):
    """Run gradcli; without `input`, stdin is /dev/null (as in CI)."""
    return subprocess.run([SCRIPT, *map(str, args)], input=input, capture_output=True,
                          text=True, env=ENV, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL if input is None else None)


@pytest.fixture
def square(tmp_path):
    path = tmp_path / "square.ag"
    path.write_text(SQUARE)
    return path


def test_issue_example_through_a_pipe(square):
    result = run("grad", square, "--json", input='{"x": [[1,2],[3,4]]}\n')
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ('{"value": [[2.0, 8.0], [18.0, 32.0]], '
                             '"grads": {"x": [[4.0, 8.0], [12.0, 16.0]]}}\n')


def test_dev_null_stdin_means_no_inputs():
    result = run("grad", "-e", "input x = [1, 2]\nsum(x * x)", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == '{"value": 5.0, "grads": {"x": [2.0, 4.0]}}\n'


def test_program_error_after_print(tmp_path):
    path = tmp_path / "bad.ag"
    path.write_text("print(1)\nz = ones(2, 3) @ ones(2, 3)\n")
    result = run("eval", path)
    assert result.returncode == 1
    assert result.stdout == "1\n"
    assert result.stderr.startswith(f"{path}:2:5: error: ")
    assert result.stderr.endswith("z = ones(2, 3) @ ones(2, 3)\n    ^~~~~~~~~~~~~~~~~~~~~~~\n")
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path):
    missing = run("eval", tmp_path / "missing.ag")
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr.startswith("gradcli: error: cannot read ")
    unknown = run("grad", "-e", "1", "--no-such-option")
    assert unknown.returncode == 2
    assert "No such option" in unknown.stderr


def test_bad_json_exits_1(square):
    result = run("grad", square, input='{"x": [1, 2}\n')
    assert result.returncode == 1
    assert result.stderr == ("<stdin>:1:12: error: invalid JSON: Expecting ',' delimiter\n"
                             '{"x": [1, 2}\n'
                             "           ^\n")


def test_json_lines_are_answered_one_by_one():
    """The first answer arrives before the second line is written: output is
    flushed per line and stdin is not read to its end first."""
    process = subprocess.Popen([SCRIPT, "grad", "-e", "input x\nsum(x * x)", "--json"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l) for l in process.stdout],
                              daemon=True)
    reader.start()
    try:
        process.stdin.write('{"x": [1, 2]}\n')
        process.stdin.flush()
        assert lines.get(timeout=TIMEOUT) == '{"value": 5.0, "grads": {"x": [2.0, 4.0]}}\n'
        process.stdin.write("[3]\n")
        process.stdin.close()
        assert lines.get(timeout=TIMEOUT) == '{"value": 9.0, "grads": {"x": [6.0]}}\n'
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr.read() == ""


def test_check_mismatch_exit_1_and_json_on_stdout():
    result = run("check", "-e", "input x = 0\nrelu(x)", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"ok": False, "vars": {
        "x": {"ok": False, "max_abs_err": 0.5, "max_rel_err": 1.0,
              "worst": {"index": [], "autodiff": 0.0, "numeric": 0.5}}}}
    assert result.stderr == "gradcli: error: gradient check failed for 'x'\n"


def test_graph_dot_is_accepted_by_graphviz():
    result = run("graph", "-e", "input x = [1, 2]\nsum(x * x + x)", "--dot")
    assert result.returncode == 0
    assert result.stdout.startswith("digraph gradcli {")
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz is not installed")
    svg = subprocess.run([dot, "-Tsvg"], input=result.stdout, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout


def test_no_escape_codes_in_a_pipe():
    result = run("eval", "-e", "x = ones(2, 2); x.attach_grad(); y = sum(x * 3); "
                               "y.backward(); print(x)")
    assert result.returncode == 0
    assert "\x1b" not in result.stdout
    assert "gradients" in result.stdout
