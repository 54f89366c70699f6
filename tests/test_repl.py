"""`gradcli repl` (SPEC section 6): when an input is complete, the session
driven with strings, prompt_toolkit driven through a pipe, a script on
stdin, and the installed command in a pseudo-terminal."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console
from typer.testing import CliRunner

from gradcli import api, repl
from gradcli.cli import app

EXAMPLE_1 = ["x = array([[1, 2], [3, 4]])", "attach_grad(x)", "with record:",
             "    z = x * x * x * 2", "", "z.backward()", ":grad x"]
GRAD_ROWS = re.compile(r"│ 1  2 +│ +6  24 +│.*\n.*│ 3  4 +│ +54  96 +│")


class Captured(io.StringIO):
    """A console file that can run a hook when some text is written."""

    hook = None

    def write(self, text):
        if self.hook is not None:
            self.hook(text)
        return super().write(text)


def make_repl(**options):
    out, err = Captured(), io.StringIO()
    console = Console(file=out, width=100, color_system=None, highlight=False)
    return repl.Repl(api.Options(**options), console=console, errors=err), out, err


def cells(table: str) -> list[list[str]]:
    """The rows of a drawn table, as lists of stripped cell texts."""
    return [[cell.strip() for cell in line.split("│")[1:-1]]
            for line in table.splitlines() if line.startswith("│")]


def run_lines(lines, **options):
    session, out, err = make_repl(**options)
    status = repl.run_stream(session, [line + "\n" for line in lines])
    return status, out.getvalue(), err.getvalue(), session


# ------------------------------------------------------- complete inputs

@pytest.mark.parametrize("text, more", [
    ("x = 1", False),
    ("", False),
    ("# a comment", False),
    ("x = 1 +", False),                                  # an error, not more input
    ("if x", False),
    ("x = ]", False),
    ('x = "abc', False),
    (":grad x", False),
    ("with record:", True),
    ("def f(a):", True),
    ("with record:\n    z = x * x", True),              # a block ends on a blank line
    ("with record:\n    z = x * x\n", False),
    ("with record:\n    z = x * x\n    ", False),       # blank but for spaces
    ("with record:\n", False),                          # nothing indented: an error
    ("if 1:\n    x = 1\nelse:", True),
    ("if 1:\n    if 2:", True),
    ("if 1: x = 1", True),
    ("with record:\n    z = 1\nw = 2", False),           # a dedented line ends it
    ("x = [1,", True),
    ("x = [1,\n", True),                                # brackets outlast blank lines
    ("f(1,\n  2", True),
    ("f(1,\n  2)", False),
    ("x = 1 + \\", True),
    ("with record:\n    z = x * (", True),
    ("x = [1, 2\ny = 3", False),
])
def test_needs_more(text, more):
    assert repl.needs_more(text) is more


@pytest.mark.parametrize("buffered, line, ends", [
    (["with record:", "    z = 1"], "y = 2", True),
    (["with record:", "    z = 1"], "    y = 2", False),
    (["if a:", "    b = 1"], "else:", False),
    (["if a:", "    b = 1"], "elif c:", False),
    (["if a:", "    b = 1"], "# a comment", False),
    (["if a:", "    b = 1"], "elsewhere = 1", True),
    (["x = [1,"], "2]", False),
    (["with record:"], "z = 1", False),
    ([], "z = 1", False),
])
def test_a_dedented_line_ends_a_block(buffered, line, ends):
    assert repl.ends_block(buffered, line) is ends


@pytest.mark.parametrize("source, shown", [
    ("x", True), ("x * 2", True), ("grad_fn(y)", True), ("x.sum()", True),
    ("x = 1", False), ("attach_grad(x)", False), ("x.attach_grad()", False),
    ("y.backward()", False), ("print(x)", False), ("x\ny = 1", False), ("", False),
])
def test_which_inputs_show_their_value(source, shown):
    session = api.Session()
    session.execute("x = array([1, 2])\nx.attach_grad()\ny = x * x")
    assert (session.execute(source) is not None) is shown


def test_history_lives_in_the_xdg_state_directory(tmp_path):
    assert repl.history_path({"XDG_STATE_HOME": str(tmp_path)}) == \
        tmp_path / "gradcli" / "history"
    default = Path.home() / ".local" / "state" / "gradcli" / "history"
    assert repl.history_path({}) == default
    assert repl.history_path({"XDG_STATE_HOME": "relative/dir"}) == default


# ------------------------------------------------------- the session

def test_spec_example_1_line_by_line():
    status, out, err, _ = run_lines(EXAMPLE_1)
    assert (status, err) == (0, "")
    assert GRAD_ROWS.search(out), out
    assert out.count("╭") == 1          # nothing but the :grad table is shown


def test_a_value_alone_is_a_table_and_assignments_are_quiet():
    status, out, err, _ = run_lines(["x = array([[1, 2], [3, 4]])", "attach_grad(x)",
                                     "x", "sum(x)", "grad_fn(x * 2)"])
    assert (status, err) == (0, "")
    assert out == ("╭───┬───╮\n│ 1 │ 2 │\n│ 3 │ 4 │\n╰───┴───╯\n"
                   "shape (2, 2) · float64\n10 (grad_fn=SumBackward)\nMulBackward\n")


def test_an_error_points_into_its_input_and_the_session_goes_on():
    session, out, err = make_repl()
    assert session.execute("x = ones(2)\ny = x @ ones(3)") is False
    first, *rest = err.getvalue().splitlines()
    assert first.startswith("<input>:2:5: error: ")           # lines of the input
    assert "(2,)" in first and "(3,)" in first
    assert rest == ["y = x @ ones(3)", "    ^~~~~~~~~~~"]
    assert session.execute("x + 1") is True
    assert out.getvalue().startswith("╭───┬───╮\n│ 2 │ 2 │\n")


def test_stdin_errors_use_stdin_line_numbers_and_fail_the_run():
    status, out, err, _ = run_lines(["x = ones(2)", "", "with record:", "    y = x * q",
                                     "", "x + 1"])
    assert status == 1
    assert err == ("<stdin>:4:13: error: name 'q' is not defined\n"
                   "    y = x * q\n            ^\n")
    assert "│ 2 │ 2 │" in out


def test_syntax_error_then_more_work():
    status, out, err, _ = run_lines(["x = 3", "y = x +", "x * 2"])
    assert status == 1
    assert err == "<stdin>:2:8: error: expected an expression after '+'\ny = x +\n       ^\n"
    assert out == "6\n"


def test_stream_block_rules():
    lines = ["total = 0",
             "for i in range(4):",
             "    total += i",
             "print(total)",               # dedented: ends the for block
             "if total > 5:",
             "    kind = 1",
             "else:",                      # dedented but continues the if
             "    kind = 2",
             "",
             "kind",
             "v = [1,",
             "",                           # an open bracket outlasts a blank line
             "     2]",
             "sum(v)"]
    status, out, err, _ = run_lines(lines)
    assert (status, err) == (0, "")
    assert out == "6\n1\n3\n"


def test_unfinished_input_at_end_of_stream_is_an_error():
    status, out, err, _ = run_lines(["x = 1", "with record:"])
    assert status == 1
    assert err.startswith("<stdin>:2:13: error: expected an indented block after 'with'")


def test_vars_lists_name_shape_dtype_tracked_and_grad():
    session, out, err = make_repl(dtype="float32")
    session.execute("x = ones(2, 3)\nattach_grad(x)\ny = sum(x * 2)\ny.backward()\n"
                    "def f(a):\n    return a\n\nn = 3")
    out.truncate(0), out.seek(0)
    assert session.execute(":vars") is True
    rows = {row[0]: row[1:] for row in cells(out.getvalue())}
    assert rows["name"] == ["shape", "dtype", "tracked", "has grad"]
    assert rows["x"] == ["(2, 3)", "float32", "yes", "yes"]
    assert rows["y"] == ["()", "float32", "yes", "no"]
    assert rows["n"] == ["()", "float32", "no", "no"]
    assert rows["f"][0] == "-"
    assert err.getvalue() == ""


def test_grad_without_a_name_lists_every_gradient():
    session, out, err = make_repl()
    session.execute(":grad")
    assert "no variable has a gradient yet" in out.getvalue()
    session.execute("a = ones(2)\nb = ones(3)\nattach_grad(a)\nattach_grad(b)\n"
                    "(sum(a * 3) + sum(b * b)).backward()")
    out.truncate(0), out.seek(0)
    session.execute(":grad")
    assert cells(out.getvalue()) == [["name", "shape", "value", "gradient"],
                                     ["a", "(2,)", "1  1", "3  3"],
                                     ["b", "(3,)", "1  1  1", "2  2  2"]]
    assert err.getvalue() == ""


def test_grad_errors_point_at_the_name():
    session, out, err = make_repl()
    session.execute("x = ones(2)")
    assert session.execute(":grad x") is False
    assert err.getvalue() == ("<input>:1:7: error: 'x' has no gradient: call attach_grad(x) "
                              "and run backward first\n:grad x\n      ^\n")


def test_graph_draws_the_recorded_graph():
    session, out, err = make_repl()
    session.execute("x = ones(2)\nattach_grad(x)\ny = sum(x * x + x)")
    session.execute(":graph y")
    tree = out.getvalue()
    assert tree.splitlines()[0] == "SumBackward  ()  y"
    assert "AddBackward  (2,)" in tree and "x  (2,)" in tree
    assert session.execute(":graph") is False
    assert "usage: :graph NAME" in err.getvalue()


def test_load_runs_a_file_into_the_session(tmp_path):
    good = tmp_path / "setup.ag"
    good.write_text("w = array([1, 2])\nattach_grad(w)\nprint(w * 10)\n")
    bad = tmp_path / "bad.ag"
    bad.write_text("a = 1\n\nb = w @ ones(3)\n")
    session, out, err = make_repl()
    assert session.execute(f":load {good}") is True
    assert "│ 10 │ 20 │" in out.getvalue()
    assert session.execute("sum(w * w)") is True
    assert out.getvalue().endswith("\n5 (grad_fn=SumBackward)\n")
    assert session.execute(f":load {bad}") is False
    assert err.getvalue().startswith(f"{bad}:3:5: error: ")
    assert err.getvalue().endswith("b = w @ ones(3)\n    ^~~~~~~~~~~\n")
    assert session.execute("a") is True          # ran up to the error
    assert session.execute(f":load {tmp_path / 'missing.ag'}") is False
    assert "no such file" in err.getvalue().splitlines()[-3]


def test_reset_forgets_and_unknown_commands_are_errors():
    session, out, err = make_repl()
    session.execute("x = 1")
    session.execute(":reset")
    assert session.execute("x") is False
    assert "name 'x' is not defined" in err.getvalue()
    assert session.execute(":grd x") is False
    assert "unknown command ':grd'; did you mean ':grad'?" in err.getvalue()


def test_help_lists_every_command():
    session, out, err = make_repl()
    session.execute(":help")
    for name in repl.COMMANDS:
        assert name in out.getvalue()


def test_quit_stops_reading_a_script():
    status, out, err, session = run_lines(["x = 2", ":quit", "x + 1"])
    assert (status, out, err, session.done) == (0, "", "", True)


def test_completions():
    session, _, _ = make_repl()
    session.execute("weights = ones(3)\nwidth = 2\ndef wobble(a):\n    return a")
    assert session.completions("att") == ["attach_grad"]
    assert session.completions("we") == ["weights"]
    assert session.completions("y = wi") == ["width", "with"]
    assert session.completions(":g") == [":grad", ":graph"]
    assert session.completions(":grad w") == ["weights", "width"]   # arrays only
    assert session.completions("z.gr") == ["grad", "grad_fn"]
    assert "backward" in session.completions("z.back")
    assert session.completions("x[:we") == ["weights"]
    assert session.completions("") == []


def test_completer_replaces_the_word_being_typed():
    session, _, _ = make_repl()
    completer = repl._completer(session)
    found = list(completer.get_completions(Document("x.attach_g"),
                                           CompleteEvent(completion_requested=True)))
    assert [(c.text, c.start_position) for c in found] == [("attach_grad", -8)]
    found = list(completer.get_completions(Document(":gr"),
                                           CompleteEvent(completion_requested=True)))
    assert [(c.text, c.start_position) for c in found] == [(":grad", -3), (":graph", -3)]


# ------------------------------------------- input echoed to the terminal

FORBIDDEN = {chr(c) for c in [*range(0x20), *range(0x7f, 0xa0), *range(0xd800, 0xe000)]}
FORBIDDEN -= {"\n", "\t"}


def test_printed_strings_and_values_are_escaped():
    status, out, err, _ = run_lines(['print("\x1b[2J", 1)', '"\x9b"'])
    assert (status, err) == (0, "")
    assert out == "\\x1b[2J 1\n\\x9b\n"


def test_an_error_echoes_its_line_escaped_with_the_caret_aligned():
    status, out, err, _ = run_lines(['s = "\x07" + 1'])
    assert status == 1
    assert err == ("<stdin>:1:5: error: left operand of '+' must be a number or an array, "
                   "not a string\n"
                   's = "\\x07" + 1\n'
                   "    ^~~~~~~~~~\n")


def test_an_unknown_command_is_echoed_escaped():
    session, out, err = make_repl()
    assert session.execute(":\x1b]0;T\x07") is False
    assert err.getvalue() == ("<input>:1:1: error: unknown command ':\\x1b]0;T\\x07'; "
                              ":help lists them\n"
                              ":\\x1b]0;T\\x07\n"
                              "^~~~~~~~~~~~~\n")


def test_a_file_name_in_load_is_escaped():
    session, out, err = make_repl()
    assert session.execute(":load no\x1b[2J.ag") is False
    assert err.getvalue() == ("<input>:1:7: error: cannot read 'no\\x1b[2J.ag': no such file\n"
                              ":load no\\x1b[2J.ag\n"
                              "      ^~~~~~~~~~~~\n")


@pytest.mark.parametrize("name, reason", [("missing.ag", "no such file"),
                                          (".", "it is a directory"),
                                          ("a\x00b.ag", "not a valid file name")])
def test_load_says_why_a_file_cannot_be_read_as_eval_does(name, reason):
    session, out, err = make_repl()
    assert session.execute(f":load {name}") is False
    message = f"cannot read '{name}': {reason}".replace("\x00", "\\x00")
    assert err.getvalue().splitlines()[0] == f"<input>:1:7: error: {message}"
    result = gradcli("eval", name)
    assert (result.exit_code, result.stderr.splitlines()[0]) == (2, f"gradcli: error: {message}")


@pytest.mark.parametrize("source", ["x = [1, 2]\ny = x @ ones(3)", 'print("a\x1b[2Jb", nope)'])
def test_eval_and_the_repl_report_an_error_alike(source):
    session, out, err = make_repl()
    session.execute(source)
    result = gradcli("eval", "-e", source)
    assert result.exit_code == 1
    assert err.getvalue() == result.stderr.replace("<expr>", "<input>")


def test_an_internal_error_is_escaped(monkeypatch):
    session, out, err = make_repl()

    def broken(source):
        raise RuntimeError("bad \x1b[2J")
    monkeypatch.setattr(session.session, "execute", broken)
    assert session.execute("1") is False
    assert err.getvalue().startswith("gradcli: internal error: RuntimeError: bad \\x1b[2J\n")


@pytest.mark.parametrize("text", ["[bold]x[/bold]", "[/]", "[red", ":smile:"])
def test_rich_markup_in_strings_prints_literally_even_on_a_markup_console(text):
    """The test console parses markup (rich's default): strings still do not."""
    status, out, err, _ = run_lines([f's = "{text}"', "print(s)", "s", "print(s, ones(2))",
                                     ":vars"])
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == [text, text] and lines[3].startswith(text + " │ 1 │")


@settings(max_examples=40, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_characters='"\\\n\r')
                    | st.sampled_from(sorted(FORBIDDEN - {chr(c) for c in
                                                          range(0xd800, 0xe000)})),
                    min_size=1, max_size=12))
def test_no_control_character_from_an_input_reaches_the_terminal(text):
    status, out, err, _ = run_lines([f'print("{text}")', f'"{text}"', f'x = "{text}" + 1',
                                     f':{text}', f":load {text}", f'y = "{text}'])
    assert not set(out) & FORBIDDEN, out
    assert not set(err) & FORBIDDEN, err


# ------------------------------------------------ prompt_toolkit, in process

class Typist:
    """A prompt session whose keys come from a pipe, one read per prompt:
    `inputs[k]` is sent as prompt k starts (keys that arrive together are
    a paste; typed inputs come one at a time)."""

    def __init__(self, prompt, pipe, inputs):
        self.prompt_session, self.pipe, self.inputs = prompt, pipe, list(inputs)

    def prompt(self):
        if self.inputs:
            self.pipe.send_text(self.inputs.pop(0))
        return self.prompt_session.prompt()


def drive(inputs, session=None, history=None):
    """Type `inputs` (each the keys of one prompt) into a prompt_toolkit
    session reading from a pipe."""
    if session is None:
        session, out, err = make_repl()
    with create_pipe_input() as pipe:
        prompt = repl.prompt_session(session, history, input=pipe, output=DummyOutput())
        status = repl.interact(session, Typist(prompt, pipe, inputs))
    return status, session.console.file.getvalue(), session.errors.getvalue()


def test_typed_example_1():
    status, out, err = drive(["x = array([[1, 2], [3, 4]])\r", "attach_grad(x)\r",
                              "with record:\r    z = x * x * x * 2\r\r",   # arrives at once
                              "z.backward()\r", ":grad x\r", "\x04"])
    assert (status, err) == (0, "")
    assert GRAD_ROWS.search(out), out


def test_typed_block_and_tab_completion():
    keys = ["x = array([1, 2])\r",
            "attach_g\t(x)\r",                  # Tab completes attach_grad
            "def f(a):\r"
            "\tb = a * a\r"                    # Tab at the indentation indents
            "\treturn sum(b)\r\r",
            "f(x).backward()\r",
            ":grad x\r",
            "\x04"]
    status, out, err = drive(keys)
    assert (status, err) == (0, "")
    assert ["x", "(2,)", "1  2", "2  4"] in cells(out)


def test_typed_error_keeps_the_session():
    status, out, err = drive(["x = ones(2)\r", "x @ ones(3)\r", "x + 1\r", "\x04"])
    assert status == 0
    assert err.startswith("<input>:1:1: error: ")
    assert "│ 2 │ 2 │" in out


def test_ctrl_c_at_the_prompt_clears_the_line():
    status, out, err = drive(["x = 5\r", "abc\x03", "x\r", "\x04"])
    assert (status, err) == (0, "")
    assert out.endswith("\n5\n")


def test_quit_command_leaves():
    status, out, err = drive([":quit\r", "x = ?\r"])
    assert (status, err) == (0, "")


def test_ctrl_c_while_running_keeps_the_session():
    session, out, err = make_repl(max_steps=10**12)

    def interrupt(text):
        if "12345" in text:
            out.hook = None
            signal.raise_signal(signal.SIGINT)   # as Ctrl-C on a terminal would
    out.hook = interrupt
    keys = ["x = ones(2)\r", "n = 0\r",
            "while True:\r    n += 1\r    if n == 3:\r        print(12345)\r\r",
            "n == 3\r", "sum(x)\r", "\x04"]
    status, shown, errors = drive(keys, session)
    assert status == 0
    assert errors == "interrupted\n"
    assert shown.endswith("12345\nTrue\n2\n")


def test_history_is_shared_between_sessions(tmp_path):
    path = repl.history_path({"XDG_STATE_HOME": str(tmp_path)})
    first, _, err = make_repl()
    drive(["remember = 6 * 7\r", "\x04"], first, repl.file_history(path, err))
    assert "remember = 6 * 7" in path.read_text()
    second, _, err = make_repl()
    status, out, _ = drive(["\x1b[A\r", "remember\r", "\x04"], second,
                           repl.file_history(path, err))
    assert out.endswith("\n42\n")


def test_unwritable_history_folder_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = io.StringIO()
    history = repl.file_history(blocker / "gradcli" / "history", err)
    assert type(history).__name__ == "InMemoryHistory"
    assert err.getvalue().startswith("gradcli: warning: history not saved")


# ------------------------------------------------------ the command, piped

def gradcli(*args, input=None):
    env = {"COLUMNS": None, "LINES": None, "NO_COLOR": None, "FORCE_COLOR": None}
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)


def test_repl_reads_a_script_from_stdin():
    result = gradcli("repl", input="\n".join(EXAMPLE_1) + "\n")
    assert result.exit_code == 0, result.stderr
    assert GRAD_ROWS.search(result.stdout)
    assert "ag>" not in result.stdout and result.stderr == ""


def test_repl_script_status_and_streams():
    result = gradcli("repl", input="x = 2\ny = x @ x\nx * 3\n")
    assert result.exit_code == 1
    assert result.stdout == "6\n"
    assert result.stderr.startswith("<stdin>:2:5: error: ")


def test_repl_options_reach_the_session():
    result = gradcli("repl", "--dtype", "float32", "--max-steps", "50",
                     input="x = ones(2)\nx\nwhile True:\n    x = x\n\nx + 1\n")
    assert result.exit_code == 1
    assert "float32" in result.stdout and "│ 2 │ 2 │" in result.stdout
    assert "stopped after 50 statements" in result.stderr


def test_repl_help():
    result = gradcli("repl", "--help")
    assert result.exit_code == 0
    assert ":grad [NAME...]" in result.stdout and ":explain NAME" in result.stdout


# ---------------------------------------------- a real pseudo-terminal

try:
    import pexpect
except ImportError:          # an optional test dependency
    pexpect = None
SCRIPT = shutil.which("gradcli", path=str(Path(sys.executable).parent))
needs_script = pytest.mark.skipif(pexpect is None or SCRIPT is None,
                                  reason="needs pexpect and the gradcli console script")
# prompt_toolkit switches bracketed paste on once each time it starts
# prompting: the mark that the next input may be typed.
READY = "\x1b[?2004h"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")
CONTINUATION, BACKSPACE, UP = "...", "\x7f", "\x1b[A"


class Terminal:
    def __init__(self, state: Path, *args, columns: int = 100):
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
        # pexpect does not answer prompt_toolkit's cursor position requests.
        env.update(XDG_STATE_HOME=str(state), TERM="xterm", NO_COLOR="1",
                   COLUMNS=str(columns), LINES="40", PROMPT_TOOLKIT_NO_CPR="1")
        self.child = pexpect.spawn(SCRIPT, ["repl", *args], env=env, encoding="utf-8",
                                   timeout=10, dimensions=(40, columns))
        self.child.expect_exact(READY)

    def run(self, *lines: str) -> str:
        """Type one input (several lines for a block); what it printed."""
        self.child.send("".join(line + "\r" for line in lines))
        self.child.expect_exact(READY)
        return ANSI.sub("", self.child.before)

    def shows(self, *texts: str) -> None:
        """Read the output until it shows `texts` in order (the terminal's
        codes and spaces taken out): the keys sent before were read and
        drawn, so keys sent next come in a read of their own."""
        seen = ""
        pattern = re.compile(".*".join(re.escape(t.replace(" ", "")) for t in texts), re.S)
        while not pattern.search(ANSI.sub("", seen).replace(" ", "")):
            seen += self.child.read_nonblocking(4096, timeout=10)

    def line(self, keys: str, text: str | None = None) -> None:
        """Type one line of a block that goes on (`keys`, then Enter) and
        wait for the next line's continuation prompt under its text."""
        self.child.send(keys + "\r")
        self.shows(keys if text is None else text, CONTINUATION)

    def leave(self) -> int:
        self.child.sendcontrol("d")
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus


@needs_script
def test_terminal_example_1(tmp_path):
    term = Terminal(tmp_path)
    term.run("x = array([[1, 2], [3, 4]])")
    term.run("attach_grad(x)")
    term.run("with record:", "    z = x * x * x * 2", "")
    term.run("z.backward()")
    shown = term.run(":grad x")
    assert GRAD_ROWS.search(shown.replace("\r", "")), shown
    assert "... " in term.run("if 1:", "    q = 1", "")      # the continuation prompt
    shown = term.run("x @ ones(3)")
    assert "<input>:1:1: error: " in shown and "^~~~" in shown
    assert "20" in term.run("sum(x) * 2")
    assert ["x", "(2, 2)", "float64", "yes", "yes"] in cells(term.run(":vars"))
    assert term.leave() == 0


@needs_script
def test_terminal_ctrl_c_stops_a_loop_and_keeps_the_session(tmp_path):
    term = Terminal(tmp_path, "--max-steps", "1000000000000")
    term.run("x = array([1, 2])")
    term.run("n = 0")
    # The loop prints a number that is not in its own (echoed) text.
    term.child.send("while True:\r    n = n + 1\r    if n == 1:\r        print(n + 12344)\r\r")
    term.child.expect_exact("12345")
    term.child.sendcontrol("c")
    term.child.expect_exact("interrupted")
    term.child.expect_exact(READY)
    assert "│ 11 │ 12 │" in term.run("x + 10")
    assert term.run("n >= 1").strip().endswith("True")     # n kept its last value
    term.child.send("abc")
    term.child.sendcontrol("c")                                # clears the line
    term.child.expect_exact(READY)
    assert term.run("sum(x)").strip().endswith("3")
    assert term.leave() == 0


@needs_script
def test_terminal_history_survives_the_session(tmp_path):
    first = Terminal(tmp_path)
    first.run("remember = 6 * 7")
    assert first.leave() == 0
    assert "+remember = 6 * 7" in (tmp_path / "gradcli" / "history").read_text()
    second = Terminal(tmp_path)
    second.run("\x1b[A")                      # Up recalls it; Enter runs it again
    assert second.run("remember").strip().endswith("42")
    assert second.leave() == 0


@needs_script
def test_terminal_enter_indents_a_block_and_backspace_takes_the_indentation_back(tmp_path):
    """Each line is typed without its indentation: Enter gives it."""
    term = Terminal(tmp_path)
    term.run("x = array([1, 2])")
    term.run("attach_grad(x)")
    term.line("with record:")
    term.line("y = x * x * 3")          # 4 spaces, from Enter
    shown = term.run("")                # a line of indentation only ends the block
    assert "...     y = x * x * 3" in shown and "error" not in shown
    term.run("y.backward()")
    assert ["x", "(2,)", "1  2", "6  12"] in cells(term.run(":grad x"))
    term.line("def g(a):")
    term.line("b = 0")
    term.line("if sum(a) > 0:")
    term.line("b = 1")                  # 8 spaces: the block keeps its indentation
    term.line(BACKSPACE + "return b + 10", "returnb+10")     # back to 4
    shown = term.run("")                # after return the block can only end
    assert "...         b = 1\n...     return b + 10" in shown and "error" not in shown
    assert term.run("g(x)").strip().endswith("11")
    assert term.run("g(-x)").strip().endswith("10")
    assert term.leave() == 0


@needs_script
def test_terminal_up_recalls_the_history_that_starts_with_the_text_typed(tmp_path):
    term = Terminal(tmp_path)
    assert term.run("41 + 1").strip().endswith("42")
    assert term.run("2 + 2").strip().endswith("4")
    term.child.send("41")
    term.shows("41")
    term.child.send(UP)                 # not 2 + 2, the last input, but the last starting 41
    term.shows("+ 1")                   # drawn after the 41 already there
    assert term.run("").strip().endswith("42")
    assert term.leave() == 0


@needs_script
def test_terminal_a_paste_without_bracketed_paste_is_one_input(tmp_path):
    """The keys of a paste arrive at once: a blank line inside the def does
    not end it, and its own indentation is not indented again."""
    term = Terminal(tmp_path)
    shown = term.run("def h(a):", "    b = a * 2", "", "    return b + 1", "", "h(4)")
    assert "error" not in shown and shown.strip().endswith("9")
    term.line(":paste")                 # anything, as it comes, until --
    term.line("def k(a):")
    term.child.send("\r")
    term.shows(CONTINUATION)
    term.line("    return a * 3")
    term.child.send("--\r")
    term.child.expect_exact(READY)
    assert term.run("k(2)").strip().endswith("6")
    assert term.leave() == 0


@needs_script
def test_terminal_an_error_wraps_between_words_at_the_terminal_width(tmp_path):
    term = Terminal(tmp_path, columns=40)
    shown = term.run("ones(2, 3) @ ones(2, 3)")
    assert "<input>:1:1: error: '@': shapes (2, 3)\n  and (2, 3) are not aligned" in shown
    assert term.leave() == 0


def test_next_indentation():
    assert repl.next_indentation("with record:") == "    "
    assert repl.next_indentation("    if x > 0:  # positive") == "        "
    assert repl.next_indentation("    y = x") == "    "
    assert repl.next_indentation("        return y") == "    "
    assert repl.next_indentation("    pass") == ""
    assert repl.next_indentation("print('#:')") == ""


def test_a_piped_paste_runs_its_lines_as_one_input():
    status, out, err, _ = run_lines(["x = 2", ":paste", "def f(a):", "    b = a * 3", "",
                                     "    return b + x", "--", "f(1)", ":paste", "print(7)"])
    assert (status, err) == (0, "")
    assert out == "5\n7\n"           # the stream's end ends the last one
    session, out, err = make_repl()
    assert session.execute(":paste") is False
    assert "type it alone at the prompt" in err.getvalue()


def test_a_paste_is_one_input_in_process():
    keys = ["def g(a):\r    c = a\r\r    return c * 10\r\rg(2)\r",       # at once
            "x = 1\r", "x + 1\r", "\x04"]
    status, out, err = drive(keys)
    assert (status, err) == (0, "")
    assert out.endswith("\n20\n2\n")


def test_enter_opens_the_next_line_at_the_indentation_the_block_needs():
    from prompt_toolkit.buffer import Buffer
    submitted = []
    buffer = Buffer(multiline=True, accept_handler=lambda b: submitted.append(b.text))
    enter = repl._Enter()
    text = ""
    for typed, indent in [("def f(a):", "    "), ("b = 0", "    "), ("if a:", "        "),
                          ("b = 1", "        "), ("return b", "    ")]:
        buffer.insert_text(typed)
        enter.typed(buffer)
        text += typed + "\n" + indent
        assert buffer.text == text
    enter.typed(buffer)                   # Enter on a line of indentation only
    assert submitted == [text.rstrip(" ")[:-1]]
    buffer.insert_text(":paste")
    for line in ["def g():", "", "  return 1"]:     # as it comes, no indentation added
        enter.typed(buffer)
        buffer.insert_text(line)
    enter.typed(buffer)
    buffer.insert_text("--")
    enter.typed(buffer)
    assert submitted[1] == "def g():\n\n  return 1"


def test_graph_says_when_it_was_cut():
    session, out, err = make_repl()
    session.execute("x = ones(1)\nattach_grad(x)\ny = x\nfor i in range(300):\n"
                    "    y = y * 1.01 + x\n")
    assert session.execute(":graph y") is True
    assert out.getvalue().splitlines()[-1] == (
        "graph cut at 500 nodes: the nodes past them are drawn without their inputs")
    session.execute("z = sum(x * x)")
    out.truncate(0)
    out.seek(0)
    session.execute(":graph z")
    assert "graph cut" not in out.getvalue()


def test_a_long_piped_block_is_parsed_a_few_times_not_once_per_line(monkeypatch):
    """Each line of a block re-parsed the whole buffer: 1000 lines took 62 s."""
    calls = []
    load = api.load
    monkeypatch.setattr(api, "load", lambda text, *a, **k: calls.append(text) or load(text, *a, **k))
    lines = ["total = 0", "if total == 0:"] + [f"    total += {i}" for i in range(300)] + ["total"]
    status, out, err, _ = run_lines(lines)
    assert (status, err) == (0, "")
    assert out == f"{sum(range(300))}\n"
    assert len(calls) < 20


def test_a_syntax_error_inside_a_piped_block_is_reported_for_the_block():
    status, out, err, _ = run_lines(["if True:", "    x = 1", "    y = x +* 2", "    z = 3",
                                     "print(7)"])
    assert status == 1
    assert err.startswith("<stdin>:3:12: error: ")
    assert out == "7\n"


def test_repl_help_lists_every_meta_command():
    from gradcli import cli, repl
    text = cli.repl_command.__doc__
    assert [name for name in repl.COMMANDS if name not in text] == []
