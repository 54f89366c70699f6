"""Standard streams that fail (SPEC section 7): a closed or full stdout, a
broken pipe, a closed stderr, Ctrl-C. Each ends the run quietly, with its
documented exit code and at most one line on stderr, never a traceback.

These run the installed `gradcli` as a real process, since what is being
tested is what Python and the shell do with the file descriptors.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = shutil.which("gradcli", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="gradcli console script not installed")

ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "LINES")}
TIMEOUT = 60
BROKEN_PIPE = 141
CLOSED = "gradcli: error: cannot write the output: stdout is closed\n"
FULL = "gradcli: error: cannot write the output: No space left on device\n"

MANY_LINES = "for i in range(100000):\n    print(i)"
# Each command, with what it needs to write something.
WRITERS = {
    "eval": (["eval", "-e", "print(1)"], None),
    "eval --json": (["eval", "--json", "-e", "print(1)"], None),
    "eval tables": (["eval", "-e", "x = ones(3, 3); attach_grad(x); sum(x * x).backward()"],
                    None),
    "grad": (["grad", "-e", "input x = [1, 2]\nsum(x * x)"], None),
    "grad json lines": (["grad", "--json", "-e", "input x\nsum(x * x)"], "[1]\n[2]\n"),
    "check": (["check", "-e", "input x = [0.5]\nsum(sin(x))"], None),
    "graph --dot": (["graph", "--dot", "-e", "input x = [1, 2]\nsum(x * x)"], None),
    "repl": (["repl"], "x = 1\nx + 1\n"),
    "--version": (["--version"], None),
    "--help": (["eval", "--help"], None),
    "help": (["help"], None),
    "help NAME": (["help", "sum"], None),
}


def start(args, stdin_text=None, **streams):
    """gradcli with the given streams; stdin is /dev/null unless text is given."""
    if stdin_text is None:
        streams["stdin"] = subprocess.DEVNULL
    return subprocess.run([SCRIPT, *args], input=stdin_text, env=ENV, timeout=TIMEOUT,
                          text=True, **streams)


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def closed_pipe_end():
    """The write end of a pipe whose reader is already gone: the first write
    to it fails with EPIPE, however fast or slow the writer is."""
    read, write = os.pipe()
    os.close(read)
    return write


# ------------------------------------------------------------------ stdout

@pytest.mark.parametrize("name", list(WRITERS))
def test_closed_stdout_is_one_error_line_and_exit_1(name):
    args, stdin_text = WRITERS[name]
    result = start(args, stdin_text, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   preexec_fn=lambda: os.close(1))
    assert (result.returncode, result.stderr) == (1, CLOSED)


def test_closed_stdout_from_the_shell():
    result = subprocess.run(["bash", "-c", '"$0" eval -e "print(1)" >&-', SCRIPT],
                            capture_output=True, text=True, env=ENV, timeout=TIMEOUT,
                            stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stderr) == (1, CLOSED)


def test_a_file_opened_later_does_not_take_the_closed_stdout(tmp_path):
    """With fd 1 closed, the program file would be opened as fd 1; nothing
    gradcli writes may land in it."""
    path = tmp_path / "prog.ag"
    path.write_text("print(123456)\n")
    result = start(["eval", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   preexec_fn=lambda: os.close(1))
    assert (result.returncode, result.stderr) == (1, CLOSED)
    assert path.read_text() == "print(123456)\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("name", list(WRITERS))
def test_full_stdout_is_one_error_line_and_exit_1(name):
    args, stdin_text = WRITERS[name]
    with open("/dev/full", "w") as full:
        result = start(args, stdin_text, stdout=full, stderr=subprocess.PIPE)
    assert (result.returncode, result.stderr) == (1, FULL)


@pytest.mark.parametrize("name", list(WRITERS))
def test_broken_pipe_is_quiet_with_exit_141(name):
    args, stdin_text = WRITERS[name]
    write = closed_pipe_end()
    try:
        result = start(args, stdin_text, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (BROKEN_PIPE, "")


@pytest.mark.parametrize("program, first", [
    (MANY_LINES, "0"),
    ("print(ones(3, 3))\n" + MANY_LINES, "╭───┬───┬───╮"),
])
def test_head_takes_the_first_line_and_gradcli_exits_141(program, first):
    """The reader leaves while gradcli is still writing."""
    result = subprocess.run(["bash", "-c", '"$0" eval -e "$1" | head -1; '
                                           'echo "status ${PIPESTATUS[0]}" >&2',
                             SCRIPT, program],
                            capture_output=True, text=True, env=ENV, timeout=TIMEOUT,
                            stdin=subprocess.DEVNULL)
    assert (result.stdout, result.stderr) == (first + "\n", f"status {BROKEN_PIPE}\n")


def test_json_lines_reader_leaving_mid_stream_exits_141(tmp_path):
    points = tmp_path / "points.jsonl"
    points.write_text("[1, 2]\n" * 20000)
    with points.open() as stdin:
        process = subprocess.Popen([SCRIPT, "grad", "--json", "-e", "input x\nsum(x * x)"],
                                   stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=ENV)
        first = process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        status = process.wait(timeout=TIMEOUT)
    assert first == b'{"value": 5.0, "grads": {"x": [2.0, 4.0]}}\n'
    assert (status, stderr) == (BROKEN_PIPE, b"")


# ------------------------------------------------------------------ stderr

def test_closed_stderr_keeps_the_exit_code():
    result = start(["eval", "-e", "print(1)\nnope"], stdout=subprocess.PIPE,
                   stderr=subprocess.DEVNULL, preexec_fn=lambda: os.close(2))
    assert (result.returncode, result.stdout) == (1, "1\n")


def test_closed_stderr_with_a_warning_still_succeeds():
    program = "x = zeros(2); attach_grad(x); y = sum(sqrt(x)); y.backward(); print(1)"
    result = start(["eval", "-e", program], stdout=subprocess.PIPE,
                   stderr=subprocess.DEVNULL, preexec_fn=lambda: os.close(2))
    assert result.returncode == 0
    assert result.stdout.startswith("1\n")


def test_broken_pipe_on_stderr_keeps_the_exit_code():
    """Messages are best effort: the exit status says what happened."""
    write = closed_pipe_end()
    try:
        result = start(["eval", "-e", "print(1)\nnope"], stdout=subprocess.PIPE,
                       stderr=write)
    finally:
        os.close(write)
    assert (result.returncode, result.stdout) == (1, "1\n")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_full_stderr_keeps_the_exit_code():
    with open("/dev/full", "w") as full:
        result = start(["eval", "-e", "print(1)\nnope"], stdout=subprocess.PIPE, stderr=full)
    assert (result.returncode, result.stdout) == (1, "1\n")


def test_closed_stdin_is_no_input():
    result = start(["grad", "--json", "-e", "input x = [1, 2]\nsum(x * x)"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   preexec_fn=lambda: os.close(0))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == '{"value": 5.0, "grads": {"x": [2.0, 4.0]}}\n'


# ------------------------------------------------------------------ Ctrl-C

LOOP_ON_TWO = "input n\nprint(n)\nwhile n > 1:\n    pass"


def interrupt_second_run(args):
    """Run LOOP_ON_TWO on the JSON Lines `1` (it ends) and `2` (it loops),
    then press Ctrl-C: (stdout lines, stderr, exit status)."""
    process = subprocess.Popen([SCRIPT, *args, "--max-steps", "1000000000", "-e", LOOP_ON_TWO],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        process.stdin.write("1\n")
        process.stdin.flush()
        first = process.stdout.readline()
        process.stdin.write("2\n")
        process.stdin.flush()
        time.sleep(1.0)                  # the second run is in its loop by now
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return [first] + rest.splitlines(keepends=True), stderr, process.returncode


def test_ctrl_c_in_eval_json_keeps_what_was_printed():
    lines, stderr, status = interrupt_second_run(["eval", "--json"])
    assert status == 130
    assert [json.loads(line) for line in lines] == [
        {"printed": [[1.0]], "variables": {"n": 1.0}, "grads": {}},
        {"printed": [[2.0]], "error": {"line": 2, "message": "interrupted"}},
    ]
    assert stderr == "gradcli: interrupted\n"


def test_ctrl_c_in_eval_tables_keeps_what_was_printed():
    lines, stderr, status = interrupt_second_run(["eval"])
    assert status == 130
    assert "".join(lines) == "1\n\n2\n"
    assert stderr == "gradcli: interrupted\n"
