"""`gradcli repl`: one `api.Session` fed line by line (SPEC section 6).

On a terminal, prompt_toolkit edits each input as one multi-line buffer:
`ag> ` for the first line, `... ` while a block or a bracket is open, a
blank line to end a block, history in the user's state directory, tab
completion of names and meta-commands. Enter indents the next line as
the block needs (4 spaces more after a `:`); Backspace in the indentation
takes 4 spaces back; Up with text typed recalls history starting with it.
Text that arrives faster than typing (a paste the terminal did not mark
as one) is one input, blank lines and all; `:paste` takes any text as
it comes until a line `--`. When stdin is not a terminal the same block
rules read statements from it without prompts, values go to stdout,
errors to stderr, and the exit status says whether any failed.

prompt_toolkit is imported only for the terminal, so a scripted session
starts as fast as the other commands.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from pathlib import Path
from typing import Iterable, Optional, TextIO

from . import __version__, api, render, textin
from .core import defaults
from .core.tensor import shape_str
from .errors import EvalError, GradcliError, Span, SyntaxProblem
from .lang import ast as A

PROMPT, CONTINUATION = "ag> ", "... "
INPUT_ORIGIN, STDIN_ORIGIN = "<input>", "<stdin>"
OK, FAILURE, INTERRUPTED = 0, 1, 130

COMMANDS = {                  # name: (arguments, what it does)
    ":help": ("[NAME]", "this help; with NAME, a built-in's help (also NAME?)"),
    ":vars": ("", "variables: name, shape, dtype, tracked, has grad"),
    ":grad": ("[NAME...]", "value and gradient of each NAME (without NAME: all)"),
    ":graph": ("NAME", "the recorded graph that made NAME"),
    ":explain": ("NAME", "the backward pass from NAME, step by step"),
    ":plot": ("EXPR [A:B]", "EXPR beside its derivative over A:B (default -5:5), varying "
                            "its one undefined name (else x)"),
    ":load": ("FILE", "run a .ag file in this session"),
    ":paste": ("", "take the lines that follow as one input, until a line -- (or Ctrl-D)"),
    ":reset": ("", "forget every variable"),
    ":quit": ("", "leave (also Ctrl-D)"),
}
ALIASES = {":q": ":quit", ":exit": ":quit", ":?": ":help", ":h": ":help"}

HELP = """\
Type statements as in a .ag file; a value typed alone is shown as a table.
A block (if/while/for/def/with) continues with '... ' until a blank line.

  attach_grad(x)         track x; then, after backward, :grad x
  with record:           record the operations inside (MXNet style)
  y.backward()           fill the .grad of every tracked leaf y depends on
  sum?                   a built-in's signature, derivative and example
                         (also :help sum, help(sum); help() lists them all)

Commands:
{commands}

Keys: Tab completes (at the start of a line it indents), Enter indents the
next line as the block needs, Backspace in the indentation takes 4 spaces
back, Up/Down recall history (with text typed: the inputs starting with
it), Ctrl-C stops a running program or clears the line, Ctrl-D leaves."""

_COMPOUND = (A.If, A.While, A.For, A.FuncDef, A.With, A.Try)
# `sum?`, `torch.ones?`: the help of a name (IPython's spelling).
_HELP_QUERY = re.compile(r"\s*([^\W\d]\w*(?:\.[^\W\d]\w*)*)\s*\?\s*")
# Lines that continue a compound statement although they are not indented.
_CLAUSE = re.compile(r"(elif|else|except|finally)\b")
# A character no token of the language starts with (see `_reaches_probe`).
_PROBE = "`"

INDENT = "    "
# A line after which its block can only end: the next line starts 4 spaces back.
_LAST_IN_BLOCK = re.compile(r"\s*(return\b.*|pass|break|continue)\s*(#.*)?$")
# A comment at the end of a line (a '#' with no quote after it).
_COMMENT = re.compile(r"#[^'\"]*$")
PASTE, PASTE_END = ":paste", "--"
# How long the last line of a paste waits for more of it (the terminal
# hands a long paste over in pieces) before it counts as typed.
PASTE_SETTLE = 0.15

KEYWORDS = ("if", "elif", "else", "while", "for", "in", "def", "return", "with", "pass",
            "break", "continue", "input", "lambda", "and", "or", "not", "is", "True", "False",
            "None", "print", "yield", "try", "except", "finally", "import", "from", "as")


# ---------------------------------------------------------- input chunks

def needs_more(text: str) -> bool:
    """Should the REPL read another line before running `text`?

    As Python's `code.compile_command` decides: text that parses is complete
    unless it ends in a compound statement (`if`, `while`, `for`, `def`,
    `with`), which a blank line ends; text that does not parse is incomplete
    when more lines could still make it parse — an open bracket (a blank
    line does not end it) or a block header waiting for its block.
    """
    return _chunk_state(text)[0]


def _chunk_state(text: str) -> tuple[bool, bool]:
    """(`needs_more(text)`, whether `text` parses and ends in a compound
    statement), from one parse: in a block, an indented line can only
    extend it (see `run_stream`)."""
    if not text.strip() or is_command(text):
        return False, False
    lines = text.split("\n")
    ended = len(lines) > 1 and not lines[-1].strip()
    try:
        program = api.load(text)
    except SyntaxProblem as exc:
        if exc.message == "unterminated triple-quoted string":
            return True, False      # a docstring going on over lines, blank ones too
        # As in Python, a blank line ends a pending block but not a bracket.
        if ended and not exc.message.startswith("unclosed"):
            return False, False
        if exc.message.startswith("'try' needs an 'except'"):
            return True, False      # its except or finally comes next
        deepest = max(len(line) for line in lines)
        return _reaches_probe(text, indent=8 * deepest + 1), False
    block = bool(program.body) and isinstance(program.body[-1], _COMPOUND)
    return not ended and block, block


def _reaches_probe(text: str, indent: int) -> bool:
    """Does the parser read all of `text` without an error when a line with
    a character no token starts with follows it? Lark lexes lazily, so the
    lexer's complaint about that character means everything before it was a
    valid beginning of a program. The probe is indented deeper than any line
    so that it satisfies a block header waiting for its block."""
    probe = text.rstrip() + "\n" + " " * indent + _PROBE
    try:
        api.load(probe)
    except SyntaxProblem as exc:
        last_line = probe.count("\n") + 1
        return exc.span is not None and exc.span.line == last_line and _PROBE in exc.message
    return False


def is_command(text: str) -> bool:
    return text.lstrip().startswith(":")


def next_indentation(line: str) -> str:
    """The indentation Enter gives the line after `line`: its own; 4
    spaces more after a line ending in `:` (a block opens); 4 fewer after
    `return`, `pass`, `break` or `continue` (nothing more can run there)."""
    indent = line[:len(line) - len(line.lstrip(" \t"))]
    if _COMMENT.sub("", line).rstrip().endswith(":"):
        return indent + INDENT
    if _LAST_IN_BLOCK.match(line):
        return indent[:max(0, len(indent) - len(INDENT))]
    return indent


def pasted_text(text: str) -> Optional[str]:
    """The code of a finished `:paste` input (`:paste`, the lines, a line
    `--`), or None while it goes on."""
    first, _, rest = text.partition("\n")
    lines = rest.split("\n")
    if first.strip() != PASTE or not rest or lines[-1].strip() != PASTE_END:
        return None
    return "\n".join(lines[:-1])


def ends_block(buffered: list[str], line: str) -> bool:
    """A line read from a stream that starts a new statement after a complete
    compound statement (a dedented line that is not `elif`/`else`/a comment)."""
    if not buffered or not line.strip() or line[0] in " \t\f":
        return False
    if line.startswith("#") or _CLAUSE.match(line):
        return False
    text = "\n".join(buffered)
    try:
        api.load(text)
    except SyntaxProblem:
        return False            # an open bracket, or a header still waiting
    return True


def history_path(environ=os.environ) -> Path:
    """`$XDG_STATE_HOME/gradcli/history`, by default under ~/.local/state.
    A relative XDG_STATE_HOME is ignored, as the XDG spec asks."""
    base = environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "gradcli" / "history"


# ------------------------------------------------------------------ REPL

class Repl:
    """The session, its outputs, and the meta-commands; no terminal I/O of
    its own, so a test can drive it with strings."""

    def __init__(self, options: api.Options | None = None, *, console=None,
                 errors: TextIO | None = None, debug: bool = False, full: bool = False,
                 precision: Optional[int] = None):
        self.console = console if console is not None else render.make_console(full, precision)
        self.errors = errors if errors is not None else sys.stderr
        self.debug = debug
        self.session = api.Session(options, on_print=self._printed, on_plot=self._plotted)
        self.failed = False         # any input failed (the exit status of a script)
        self.done = False           # :quit

    def _printed(self, shown) -> None:
        render.print_values(self.console, shown)

    def _plotted(self, figure) -> None:
        """A plot the code drew: in the terminal, or (a script's output) noted."""
        if self.console.is_terminal:
            from . import draw
            draw.show(self.console, figure, share=2)
            return
        self._flush()
        render.say(f"plot not drawn: stdout is not a terminal ({figure.kind}, "
                   f"{figure.points} points)", "note", self.errors)

    # ----------------------------------------------------------- inputs

    def execute(self, text: str, origin: str = INPUT_ORIGIN, first_line: int = 1) -> bool:
        """Run one input (code or a meta-command); report what went wrong.

        KeyboardInterrupt is left to the caller: interactively it ends the
        input, in a script the whole run."""
        if not text.strip():
            return True
        query = _HELP_QUERY.fullmatch(text)
        if query:
            ok = self.help_query(query.group(1), text.strip(), origin, first_line)
        elif is_command(text):
            ok = self.command(text.strip(), origin, first_line)
        else:
            ok = self.run_code(text, origin, first_line)
        self.failed |= not ok
        return ok

    def run_code(self, source: str, origin: str, first_line: int = 1) -> bool:
        try:
            shown = self.session.execute(source)
            if shown is not None:
                render.print_values(self.console, [shown])
        except Exception as exc:      # noqa: BLE001 - the edge: report and go on
            self.report(exc, origin, source, first_line)
            return False
        finally:
            self._warn(self.session.warnings())
        return True

    def command(self, line: str, origin: str = INPUT_ORIGIN, first_line: int = 1) -> bool:
        """Run a meta-command. Each handler takes the words after the name,
        the rest of the line and the line; it raises for a usage error, or
        returns False when it reported a failure itself."""
        name, _, rest = line.partition(" ")
        name = ALIASES.get(name, name)
        args = rest.split()
        handler = getattr(self, "_cmd_" + name[1:], None) if name in COMMANDS else None
        try:
            if handler is None:
                close = difflib.get_close_matches(name, list(COMMANDS), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else "; :help lists them"
                raise EvalError(f"unknown command '{name}'{hint}", Span(1, 1, 1, len(name) + 1))
            return handler(args, rest.strip(), line) is not False
        except Exception as exc:      # noqa: BLE001 - the edge: report and go on
            self.report(exc, origin, line, first_line)
            return False

    # --------------------------------------------------------- commands

    def help_query(self, name: str, line: str, origin: str = INPUT_ORIGIN,
                   first_line: int = 1) -> bool:
        """`NAME?`: as `:help NAME`."""
        try:
            self._show_help(name, line)
        except Exception as exc:      # noqa: BLE001 - the edge: report and go on
            self.report(exc, origin, line, first_line)
            return False
        return True

    def _show_help(self, name: str, line: str) -> None:
        """What help(NAME) says (of a built-in, or of a function or module a
        variable holds), or a meta-command's line; an unknown name is an
        error pointing at it, with the closest built-in."""
        from . import render_help
        if is_command(name):
            render_help.print_entry(self.console, [self._about(line, name, _command_usage)])
            return
        render_help.print_entry(self.console, self._about(line, name, self.session.help))

    def _cmd_help(self, args, rest, line) -> None:
        from rich.text import Text
        if len(args) > 1:
            raise EvalError("usage: :help [NAME]", _argument_span(line, rest))
        if args:
            self._show_help(args[0], line)
            return
        usages = {name: f"{name} {args}".strip() for name, (args, _) in COMMANDS.items()}
        width = max(len(u) for u in usages.values())
        commands = "\n".join(f"  {usages[name]:<{width}}  {text}"
                             for name, (_, text) in COMMANDS.items())
        self.console.print(Text(HELP.format(commands=commands)))

    def _cmd_quit(self, args, rest, line) -> None:
        self.done = True

    def _cmd_reset(self, args, rest, line) -> None:
        from rich.text import Text
        self.session.reset()
        self.console.print(Text("session reset: no variables"))

    def _cmd_vars(self, args, rest, line) -> None:
        from rich.text import Text
        rows = self.session.variables()
        self.console.print(vars_table(rows) if rows else Text("no variables yet"))

    def _cmd_grad(self, args, rest, line) -> None:
        from rich.text import Text
        if args:
            rows = []
            for name in args:
                value, grad = self._about(line, name, self.session.grad)
                rows.append((name, value.value, grad.value))
        else:       # each value once, under all its names; None before its backward
            rows = [(kept.names[0], kept.value, kept.grad, tuple(kept.names[1:]))
                    for kept in self.session.kept_gradients()]
        if not rows:
            self.console.print(Text("no variable has a gradient yet: attach_grad(x), "
                                    "compute with x, then call backward"))
            return
        self.console.print(render.gradient_table(rows))

    def _cmd_graph(self, args, rest, line) -> None:
        if len(args) != 1:
            raise EvalError("usage: :graph NAME", _argument_span(line, rest))
        nodes = defaults.GRAPH_NODES
        root = self._about(line, args[0], lambda name: self.session.graph(name, max_nodes=nodes))
        cut = render.graph_cut(root, nodes)
        render.print_graph(self.console, root, render.cut_note(nodes) if cut else None)

    def _cmd_explain(self, args, rest, line) -> None:
        from . import render_explain
        if len(args) != 1:
            raise EvalError("usage: :explain NAME", _argument_span(line, rest))
        explained = self._about(line, args[0], self.session.explain)
        self._warn(explained.warnings)
        render_explain.print_explanation(self.console, explained)

    def _cmd_paste(self, args, rest, line) -> None:
        # The readers (`_Enter`, `run_stream`) take the lines after it; a
        # `:paste` that reaches here came with nothing after it.
        raise EvalError(f"{PASTE} takes the lines typed after it, up to a line "
                        f"'{PASTE_END}': type it alone at the prompt", Span(1, 1, 1, len(line) + 1))
    def _cmd_plot(self, args, rest, line) -> None:
        """`:plot EXPR [A:B]`: drawn as `gradcli plot` draws a program, in
        the terminal (as text when the output is not one: it was asked for)."""
        from . import draw, plotting
        if not rest:
            raise EvalError("usage: :plot EXPR [A:B], e.g. :plot sin(x) * x -3:3",
                            _argument_span(line, rest))
        expression, span = rest, None
        ranged = _PLOT_RANGE.fullmatch(rest)
        if ranged:
            expression = ranged["expr"]
            try:
                span = plotting.parse_range(ranged["range"])
            except plotting.RangeProblem as exc:
                raise EvalError(str(exc), _argument_span(line, ranged["range"])) from None
        start = line.index(expression, line.index(" "))
        try:
            curve = plotting.session_curve(self.session, expression, span)
        except GradcliError as exc:
            raise _shifted(exc, start, expression) from None
        draw.show(self.console, plotting.figure(curve, expression.strip()))

    def _cmd_load(self, args, rest, line) -> bool:
        if not rest:
            raise EvalError("usage: :load FILE", _argument_span(line, rest))
        path = Path(os.path.expanduser(rest.strip("'\"")))
        try:
            source = textin.read_file(path, shown=rest)
        except GradcliError as exc:     # cannot be read, or too large
            raise exc.at(_argument_span(line, rest)) from None
        bad = textin.not_utf8(source)
        if bad is not None:
            self.report(bad, str(path), source)
            return False
        return self.run_code(source, str(path))

    def _about(self, line, name, ask):
        """`ask(name)`, its error pointing at NAME in the command line."""
        try:
            return ask(name)
        except GradcliError as exc:
            raise exc.at(_argument_span(line, name))

    # ---------------------------------------------------------- reports

    def report(self, exc: BaseException, origin: str, source: str, first_line: int = 1) -> None:
        """`ORIGIN:LINE:COL: error: message` and a caret, on the error stream;
        lines are counted from `first_line` (a chunk read from a stream)."""
        self._flush()
        render.report(exc, origin, source, errors=self.errors, debug=self.debug,
                      first_line=first_line)

    def interrupted(self, script: bool = False) -> None:
        """Ctrl-C: at the prompt a word of it; a script says it was stopped."""
        self._flush()
        self.errors.write(render.message_line("interrupted", None) if script
                          else "interrupted\n")
        self.errors.flush()

    def _warn(self, warnings) -> None:
        if warnings:
            self._flush()
        render.warn(warnings, self.errors)

    def _flush(self) -> None:
        for stream in (self.console.file, sys.stdout):
            try:
                stream.flush()
            except (AttributeError, ValueError, OSError):
                pass

    # ------------------------------------------------------- completion

    def completions(self, before: str) -> list[str]:
        """Words that complete the text before the cursor: meta-commands at
        the start of an input, array names after `:grad`/`:graph`, methods
        and attributes after a '.', else variables, built-ins and keywords."""
        word = word_before(before)
        if is_command(word):
            return [n for n in COMMANDS if n.startswith(word)]
        argument = re.fullmatch(r"\s*:(grad|graph|explain)\s+(?:\w+\s+)*(\w*)", before)
        if argument:
            arrays = [row["name"] for row in self.session.variables() if row["shape"] is not None]
            return [n for n in arrays if n.startswith(argument.group(2))]
        plotted = re.fullmatch(r"\s*:plot\s+(.*)", before)
        if plotted:             # :plot EXPR: EXPR completes as code does
            before = plotted.group(1)
        elif is_command(before):
            return []
        if before[:len(before) - len(word)].endswith("."):
            candidates = api.method_names()
        elif word:
            candidates = self.session.names() + api.builtin_names() + list(KEYWORDS)
        else:
            return []
        seen: dict[str, None] = {}
        for name in candidates:
            if name.startswith(word) and not name.startswith("_"):
                seen.setdefault(name)
        return sorted(seen, key=lambda n: (n.lower(), n))


def _command_usage(name: str) -> str:
    """`:grad [NAME...]  value and gradient of each NAME`, or the error for
    a meta-command there is none of."""
    name = ALIASES.get(name, name)
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        raise EvalError(f"unknown command '{name}'" + (f"; did you mean '{close[0]}'?"
                                                       if close else ""))
    arguments, what = COMMANDS[name]
    return f"{name} {arguments}".strip() + f"  {what}"


def word_before(before: str) -> str:
    """The part of the text before the cursor that a completion replaces: a
    meta-command being typed, else the name being typed (maybe empty)."""
    command = re.fullmatch(r"\s*(:\w*)", before)
    if command:
        return command.group(1)
    return re.search(r"(?:[^\W\d]\w*)?$", before).group(0)


# `:plot EXPR A:B`: a last word of the shape A:B is the range, not EXPR's.
_PLOT_RANGE = re.compile(r"(?P<expr>.*\S)\s+(?P<range>[-+.\w]+:[-+.\w]+)")


def _shifted(exc: GradcliError, start: int, text: str) -> GradcliError:
    """An error in an argument's own text (its spans count from it) at its
    place in the command line, which starts `start` characters before."""
    span = exc.span
    if span is None or span.line != 1:
        return exc.at(Span(1, start + 1, 1, start + 1 + len(text)))
    exc.span = Span(1, span.column + start, 1,
                    span.end_column + start if span.end_line == 1 else start + len(text) + 1)
    return exc


def _argument_span(line: str, argument: str) -> Span:
    """Where `argument` sits in a meta-command line (its end when missing)."""
    start = line.find(argument, line.find(" ") + 1) if argument else -1
    if start < 0:
        start = len(line)
    return Span(1, start + 1, 1, start + 1 + max(1, len(argument)))


def vars_table(rows: list[dict]):
    """`:vars`: one row per variable (see `api.Session.variables`)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.ROUNDED)
    for heading in ("name", "shape", "dtype", "tracked", "has grad"):
        table.add_column(heading, no_wrap=True)
    lines = []
    for row in rows:
        shape = "-" if row["shape"] is None else shape_str(row["shape"])
        tracked, has_grad = ("yes" if row[key] else "no" for key in ("tracked", "has_grad"))
        table.add_row(Text(render.printable(row["name"])), shape, Text(row["dtype"]),
                      tracked, has_grad)
        lines.append(Text(render.printable(f"{row['name']}: shape {shape}, {row['dtype']}, "
                                           f"tracked {tracked}, has grad {has_grad}")))
    return render.fitted(table, lines)     # a narrow terminal: one line a variable


# ---------------------------------------------------------- from a stream

def run_stream(repl: Repl, lines: Iterable[str], origin: str = STDIN_ORIGIN) -> int:
    """Statements from a non-terminal stream, without prompts. A block ends
    on a blank line or on a dedented line; errors are reported and reading
    goes on; the status is 1 when any input failed."""
    buffered: list[str] = []
    start = 0
    # True while the buffer parses and ends in a compound statement. Then an
    # indented line only extends the block, so it is appended without parsing
    # the whole buffer again (which made a long block quadratic); the blank or
    # dedented line that ends the block checks it once, and a syntax error
    # inside the block is reported for the block as a whole.
    in_block = False
    pasted: Optional[list[str]] = None      # the lines after a `:paste`

    def flush() -> None:
        nonlocal in_block
        in_block = False
        if buffered:
            repl.execute("\n".join(buffered), origin, start)
            buffered.clear()

    try:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            bad = textin.not_utf8(line)
            if bad is not None:     # the line cannot be read: it and its chunk fail
                buffered.clear()
                in_block = False
                repl.report(bad, origin, line, first_line=number)
                repl.failed = True
                continue
            if pasted is not None:      # every line up to `--` is one input
                if line.strip() == PASTE_END:
                    repl.execute("\n".join(pasted), origin, start)
                    pasted = None
                else:
                    pasted.append(line)
                continue
            if not buffered and line.strip() == PASTE:
                pasted, start = [], number + 1
                continue
            if in_block and line.strip():
                if line[0] in " \t\f":
                    buffered.append(line)
                    continue
                if not needs_more("\n".join(buffered)):
                    flush()         # a syntax error in the block: report it first
            if ends_block(buffered, line):
                flush()
            if not buffered:
                if not line.strip():
                    continue
                start = number
            buffered.append(line)
            more, block = _chunk_state("\n".join(buffered))
            if not more:
                flush()
            else:
                in_block = block
            if repl.done:
                break
        else:
            flush()
            if pasted:          # the end of the stream ends a `:paste`, as Ctrl-D does
                repl.execute("\n".join(pasted), origin, start)
    except KeyboardInterrupt:
        repl.interrupted(script=True)
        return INTERRUPTED
    except GradcliError as exc:       # stdin is not text
        repl.report(exc, origin, "")
        return FAILURE
    return FAILURE if repl.failed else OK


# -------------------------------------------------------- on a terminal

def interact(repl: Repl, prompt_session) -> int:
    """Prompt, run, repeat, until Ctrl-D or :quit. Ctrl-C at the prompt
    clears the input; during a run it stops the run, keeping the session."""
    from rich.text import Text

    repl.console.print(Text(f"gradcli {__version__}: type statements, :help for help, "
                            "Ctrl-D to leave"))
    while not repl.done:
        try:
            text = prompt_session.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            repl.execute(text)
        except KeyboardInterrupt:
            repl.interrupted()
    return OK


def prompt_session(repl: Repl, history=None, input=None, output=None):
    """A prompt_toolkit PromptSession: one multi-line buffer per input,
    Enter and Backspace keeping the indentation (see `_Enter`)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.filters import Condition
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.layout.processors import HighlightMatchingBracketProcessor

    keys = KeyBindings()
    enter = _Enter()
    keys.add("enter")(enter)

    def before_cursor() -> str:
        return _current_buffer().document.current_line_before_cursor

    at_indentation = Condition(lambda: not before_cursor().strip())
    # In the indentation, with some of it to take back.
    in_indentation = Condition(lambda: before_cursor() != "" and not before_cursor().strip(" "))
    pasting = Condition(lambda: _pasting(_current_buffer().text))

    @keys.add("tab", filter=at_indentation)
    def _indent(event) -> None:
        event.current_buffer.insert_text(INDENT)

    @keys.add("backspace", filter=in_indentation)
    def _dedent(event) -> None:
        before = event.current_buffer.document.current_line_before_cursor
        event.current_buffer.delete_before_cursor((len(before) - 1) % len(INDENT) + 1)

    @keys.add("c-d", filter=pasting)
    def _end_paste(event) -> None:
        enter.submit(event.current_buffer, pasted_text(event.current_buffer.text + "\n--"))

    @keys.add("tab", filter=~at_indentation)
    def _complete(event) -> None:
        # A single candidate is inserted at once, as readline does (and so
        # keys typed right after Tab land after it); several open the menu.
        buffer = event.current_buffer
        if buffer.complete_state is not None:
            buffer.complete_next()
            return
        before = buffer.document.text_before_cursor
        words = [] if re.fullmatch(r"\s*:load\s.*", before) else repl.completions(before)
        if len(words) == 1:
            buffer.delete_before_cursor(len(word_before(before)))
            buffer.insert_text(words[0])
        else:
            buffer.start_completion(insert_common_part=True)

    return PromptSession(
        message=PROMPT,
        multiline=True,
        prompt_continuation=lambda width, line_number, wrap_count: CONTINUATION,
        history=history if history is not None else InMemoryHistory(),
        # Up and Down with text typed go to the inputs that start with it.
        enable_history_search=True,
        completer=_completer(repl),
        complete_while_typing=False,
        lexer=_lexer(),
        input_processors=[HighlightMatchingBracketProcessor()],
        key_bindings=keys,
        input=input,
        output=output,
    )


def _current_buffer():
    from prompt_toolkit.application import get_app
    return get_app().current_buffer


def _pasting(text: str) -> bool:
    """Is this buffer a `:paste` input still taking lines?"""
    return text.partition("\n")[0].strip() == PASTE


class _Enter:
    """Enter at the prompt.

    Typed, it runs the input when it is complete (`needs_more`), else
    opens the next line at the indentation the block needs. Keys that
    arrived with it in one read are a paste: its Enters are plain line
    ends, so that a blank line inside a pasted `def` does not end it and
    the pasted indentation is not indented again. The last Enter of a
    paste waits PASTE_SETTLE seconds for more (a terminal hands a long
    paste over in pieces) before it acts as typed. In a `:paste` input
    every Enter is a line end, until a line `--` runs what came before it.
    """

    def __init__(self):
        self.pasting = False       # a paste is arriving (its Enters came with more keys)

    def __call__(self, event) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            return
        if _more_keys(event.key_processor.input_queue):
            self.pasting = True
            buffer.insert_text("\n")
        elif self.pasting:
            buffer.insert_text("\n")
            event.app.create_background_task(self._settle(event.app, buffer, buffer.text))
        else:
            self.typed(buffer)

    async def _settle(self, app, buffer, text: str) -> None:
        import asyncio
        await asyncio.sleep(PASTE_SETTLE)
        if app.is_done or buffer.text != text:
            return                 # more of the paste came, or more was typed
        self.pasting = False
        buffer.delete_before_cursor(1)      # the paste's last line end, to act as typed
        self.typed(buffer)
        app.invalidate()

    def typed(self, buffer) -> None:
        text = buffer.text
        if _pasting(text):
            code = pasted_text(text)
            if code is None:
                buffer.insert_text("\n")
            else:
                self.submit(buffer, code)
            return
        after = buffer.document.text_after_cursor
        editing_inside = bool(after.strip()) and "\n" in text
        if editing_inside or needs_more(text):
            before = buffer.document.current_line_before_cursor
            buffer.insert_text("\n" + next_indentation(before))
        else:
            # The indentation Enter left on the last line is not part of the input.
            self.submit(buffer, re.sub(r"\n[ \t]*$", "", text))

    def submit(self, buffer, text: str) -> None:
        from prompt_toolkit.document import Document
        self.pasting = False
        if text != buffer.text:
            buffer.document = Document(text, len(text))
        buffer.validate_and_handle()


def _more_keys(queue) -> bool:
    """Are text keys (characters, Enter, Tab) waiting behind this one?"""
    from prompt_toolkit.keys import Keys
    return any(type(k.key) is str and len(k.key) == 1
               or k.key in (Keys.ControlM, Keys.ControlJ, Keys.ControlI) for k in queue)


def _completer(repl: Repl):
    from prompt_toolkit.completion import Completer, Completion, PathCompleter
    from prompt_toolkit.document import Document

    paths = PathCompleter(expanduser=True)

    class ReplCompleter(Completer):
        def get_completions(self, document, complete_event):
            before = document.text_before_cursor
            load = re.fullmatch(r"\s*:load\s+(\S*)", before)
            if load:
                yield from paths.get_completions(Document(load.group(1)), complete_event)
                return
            size = len(word_before(before))
            for name in repl.completions(before):
                yield Completion(name, start_position=-size)

    return ReplCompleter()


def _lexer():
    """Python highlighting when pygments (an optional prompt_toolkit
    dependency) is installed; plain input otherwise."""
    try:
        from prompt_toolkit.lexers import PygmentsLexer
        from pygments.lexers.python import PythonLexer
    except ImportError:
        return None
    return PygmentsLexer(PythonLexer)


def file_history(path: Path, errors: TextIO):
    """History kept in `path`; kept in memory when the folder cannot be made."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError as exc:
        render.say(f"history not saved: cannot write '{path}': {exc.strerror or exc}",
                   "warning", errors)
        return InMemoryHistory()
    return FileHistory(str(path))


# ------------------------------------------------------------------ main

def main(options: api.Options, debug: bool = False, stdin: Optional[TextIO] = None,
         full: bool = False, precision: Optional[int] = None) -> int:
    """`gradcli repl`: interactive on a terminal, else a script from stdin.
    Returns the exit status."""
    stdin = stdin if stdin is not None else sys.stdin
    repl = Repl(options, debug=debug, full=full, precision=precision)
    if not textin.is_terminal(stdin):
        return run_stream(repl, textin.lines(textin.utf8(stdin)) if stdin else ())
    from prompt_toolkit.output import create_output
    history = file_history(history_path(), repl.errors)
    # Prompts go to the terminal even when stdout is redirected to a file.
    session = prompt_session(repl, history, output=create_output(always_prefer_tty=True))
    return interact(repl, session)
