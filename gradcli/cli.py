"""The `gradcli` command line: parse arguments, call `api`, render.

Every command reads a program (FILE, `-e CODE`, or `-` for stdin), binds
inputs from `--set NAME=JSON` and from JSON on stdin, runs it once per JSON
document (JSON Lines stream through one run each), and renders the result
as rich tables or, with `--json`, one JSON line per run.

Exit codes: 0 success, 1 an error in the program or its data (any
`GradcliError`, a failed `check`, an internal error) or output that cannot
be written (stdout closed or full), 2 a usage error, 130 Ctrl-C, 141 a
broken pipe (the reader of stdout left, as `head -1` does).
The api (numpy, lark) and rich are imported when a command runs, so
`--help` and `--version` start quickly.
"""

from __future__ import annotations

import copy
import errno
import functools
import inspect
import math
import os
import re
import sys
from collections import deque
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Annotated, Callable, Optional

import typer

from . import __version__, textin
from .core import defaults

USAGE, FAILURE, INTERRUPTED = 2, 1, 130
# 128 + SIGPIPE: the status the shell reports for `seq 100000 | head -1`.
BROKEN_PIPE = 141


class _ExamplesApart:
    """--help with the docstring's `Example:` paragraphs shown last, each
    command on a line of its own and never wrapped: a narrow terminal would
    break a command in the middle, and a copied line must run as it is.
    The other paragraphs are reflowed (typer keeps a docstring's line breaks,
    so a wrapped help text came out ragged)."""

    def format_help(self, ctx, formatter) -> None:
        original = self.help
        text, examples = _examples_apart(original or "")
        self.help = text
        try:
            super().format_help(ctx, formatter)
        finally:
            self.help = original
        if examples:
            _print_examples(examples)


def _examples_apart(help_text: str) -> tuple[str, list[str]]:
    """(the help text without its examples, reflowed; the examples)."""
    text, examples = [], []
    for paragraph in inspect.cleandoc(help_text).split("\n\n"):
        if paragraph.startswith("Example:"):
            examples.append(" ".join(paragraph[len("Example:"):].split()))
        elif paragraph.strip():
            text.append(" ".join(paragraph.split()))
    return "\n\n".join(text), examples


def _print_examples(examples: list[str]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    console.print(Text(" Example:"))
    for example in examples:
        console.print(Text("   " + example), soft_wrap=True)    # soft: no wrapping, no cropping
    console.print()


class _Command(_ExamplesApart, typer.core.TyperCommand):
    pass


class _Group(_ExamplesApart, typer.core.TyperGroup):
    pass


app = typer.Typer(
    name="gradcli",
    cls=_Group,
    help="A command-line gradient calculator: run small MXNet/PyTorch-style array "
         "programs and see values, gradients and vector-Jacobian products.\n\n"
         "Example:  gradcli grad -e 'input x = [1, 2, 3]; sum(x * x)'\n\n"
         "Example:  gradcli help sum",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"


class Mode(str, Enum):
    reverse = "reverse"
    forward = "forward"


class ImageFormat(str, Enum):
    png = "png"
    svg = "svg"


# ----------------------------------------------------------------- options

COMMON = "Common options"


def _parse_sets(values: Optional[list[str]]) -> list[tuple[str, str]]:
    pairs = []
    for item in values or []:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise typer.BadParameter(f"expected NAME=JSON, got {item!r}", param_hint="'--set'")
        pairs.append((name, text))
    return pairs


def _seed(value: Optional[int]) -> Optional[int]:
    if value is not None and not 0 <= value < 2 ** 64:
        raise typer.BadParameter(f"expected a whole number from 0 to 2**64 - 1, got {value}")
    return value


# Binary units by default, as ulimit, systemd and docker read them; KB, MB,
# GB, TB are decimal.
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1,
          **{prefix + suffix: 1024 ** power for power, prefix in enumerate("kmgt", 1)
             for suffix in ("", "ib")},
          **{prefix + "b": 1000 ** power for power, prefix in enumerate("kmgt", 1)}}


def parse_size(text: Optional[str]) -> Optional[int]:
    """`--max-memory`: bytes, or a number with a unit (512M, 4G, 1.5GiB)."""
    from decimal import Decimal      # exact: 1.5GiB is 1610612736 bytes

    if text is None:
        return None
    match = _SIZE.fullmatch(text)
    unit = _UNITS.get(match[2].lower()) if match else None
    if unit is None:
        raise typer.BadParameter(f"expected a size in bytes such as 1000000, 512M, 4G or "
                                 f"1.5GiB, got {text!r}")
    size = int(Decimal(match[1]) * unit)
    if size < 1:
        raise typer.BadParameter(f"a size must be at least 1 byte, got {text!r}")
    return size


def parse_seconds(text: Optional[str]) -> Optional[float]:
    """`--timeout`: a positive, finite number of seconds."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise typer.BadParameter(f"expected a positive number of seconds, got {text!r}")
    return seconds


@dataclass(frozen=True)
class Shared:
    """A common option: its parameter (a `Common` field), type and default;
    `inputs`: only the commands that read a program's inputs take it."""

    name: str
    annotation: object
    default: object
    inputs: bool = False


def _shared(name: str, kind, default, *decls: str, inputs: bool = False,
            **option) -> Shared:
    return Shared(name, Annotated[kind, typer.Option(*decls, rich_help_panel=COMMON, **option)],
                  default, inputs)


# In --help order. The defaults are the api's (`core.defaults`: the api
# itself loads numpy, too slow for --help); --seed unset is Options' own.
COMMON_OPTIONS = (
    _shared("sets", Optional[list[str]], None, "--set", inputs=True, metavar="NAME=JSON",
            show_default=False,
            help="Bind an input, e.g. --set 'x=[[1,2],[3,4]]' (repeatable; wins over stdin)."),
    _shared("json", bool, False, "--json", inputs=True,
            help="Print one JSON object per run instead of tables."),
    _shared("dtype", DType, DType(defaults.DTYPE), "--dtype",
            help="Floating-point type of the whole run."),
    _shared("seed", Optional[int], None, "--seed", metavar="N", show_default=False,
            callback=_seed,
            help="Seed of the random generator, 0 to 2**64 - 1 (runs are reproducible; "
                 "default fixed seed)."),
    _shared("max_steps", int, defaults.MAX_STEPS, "--max-steps", metavar="N", min=1,
            help="Statement budget; a runaway loop stops here."),
    _shared("max_elements", int, defaults.MAX_ELEMENTS, "--max-elements", metavar="N", min=1,
            help="Largest array allowed, in elements."),
    _shared("max_memory", Optional[str], defaults.MAX_MEMORY, "--max-memory", metavar="SIZE",
            show_default=False, callback=parse_size,
            help="Memory allowed for all live arrays and the recorded graph: bytes, or with a "
                 "unit as in 512M, 4G, 1.5GiB (K, M, G, T are powers of 1024; KB, MB, GB, TB "
                 "of 1000). Default: a quarter of physical memory."),
    _shared("timeout", Optional[str], defaults.TIMEOUT, "--timeout", metavar="SECONDS",
            show_default=False, callback=parse_seconds,
            help="Stop a run (each JSON Lines record is one) after this much wall-clock "
                 "time. Default: none."),
    _shared("debug", bool, False, "--debug", help="Show a Python traceback with errors."),
    _shared("detect_nan", bool, False, "--detect-nan",
            help="Make NaN or Inf produced during backward an error, not a warning."),
    _shared("full", bool, False, "--full",
            help="Show every element of every array (by default a table shows as many "
                 "columns as fit the terminal, and numpy's first and last 3 of each axis of "
                 "an array of more than 1000 elements; the caption says what it left out)."),
    _shared("precision", Optional[int], None, "--precision", metavar="N", min=0, max=20,
            show_default=False,
            help="At most N digits after the point in the numbers shown (default 8; "
                 "--json keeps every digit)."),
    _shared("keep_going", bool, False, "--keep-going", inputs=True,
            help="JSON Lines: a line that fails gives its error (with --json an "
                 '{"error": ...} line) and the next line runs; exit 1 at the end.'),
)


@dataclass
class Common:
    """The values of the common options of one invocation."""

    dtype: str
    seed: Optional[int]
    max_steps: int
    max_elements: int
    max_memory: Optional[int]
    timeout: Optional[float]
    debug: bool
    detect_nan: bool
    full: bool = False
    precision: Optional[int] = None
    sets: list[tuple[str, str]] = field(default_factory=list)
    json: bool = False
    keep_going: bool = False

    def options(self):
        """The api.Options of a run; an option not given keeps Options' default."""
        from . import api
        given = {f.name: getattr(self, f.name, None) for f in fields(api.Options)}
        return api.Options(**{name: value for name, value in given.items() if value is not None})


def common_options(*, inputs: bool = True):
    """Give a command the common options. Typer reads the command's own
    parameters and then these (its --help lists them under "Common
    options"); the command gets their values as one `common: Common`.
    `inputs=False` leaves out those about a program's inputs (`repl`)."""
    shared = tuple(option for option in COMMON_OPTIONS if inputs or not option.inputs)
    return lambda command: _WithCommon(command, shared)


class _WithCommon:
    """A command with the common options added (see `common_options`)."""

    def __init__(self, command: Callable, shared: tuple[Shared, ...]):
        functools.update_wrapper(self, command)
        self.shared = shared

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        # Made when typer first asks: it evaluates the command's annotations
        # (about 0.4 ms a command), and a start builds one command only.
        own = inspect.signature(self.__wrapped__, eval_str=True)
        parameters = [p for p in own.parameters.values() if p.name != "common"]
        parameters += [inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY,
                                         default=option.default, annotation=option.annotation)
                       for option in self.shared]
        return own.replace(parameters=parameters)

    def __call__(self, **arguments):
        values = {option.name: arguments.pop(option.name) for option in self.shared}
        values["dtype"] = DType(values["dtype"]).value
        if "sets" in values:
            values["sets"] = _parse_sets(values["sets"])
        return self.__wrapped__(**arguments, common=Common(**values))


FileArg = Annotated[Optional[str], typer.Argument(
    metavar="FILE", show_default=False,
    help="The .ag program; '-' reads the program from stdin.")]
ExprOpt = Annotated[Optional[str], typer.Option(
    "-e", "--expr", metavar="CODE", show_default=False,
    help="Run CODE instead of a file (join statements with ';').")]
WrtOpt = Annotated[Optional[list[str]], typer.Option(
    "--wrt", metavar="NAMES", show_default=False,
    help="Variables to differentiate with respect to, comma separated "
         "(default: every declared input, or with -e every bound name).")]
OfOpt = Annotated[Optional[str], typer.Option(
    "--of", metavar="NAME", show_default=False,
    help="Differentiate this variable (default: the last top-level expression).")]
HeadOpt = Annotated[Optional[str], typer.Option(
    "--head", metavar="JSON", show_default=False,
    help="Head gradient (same shape as the result): computes head · ∂result/∂x.")]


def _names(values: Optional[list[str]]) -> Optional[list[str]]:
    """`--wrt x,w` and `--wrt x --wrt w` alike."""
    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return names or None


# ----------------------------------------------------------------- program

@dataclass
class Source:
    origin: str            # what errors call it: a path, <expr> or <stdin>
    text: str
    from_stdin: bool = False


def _usage_error(message: str, command: str) -> typer.Exit:
    from . import render
    render.say(message)
    sys.stderr.write(f"Try 'gradcli {command} --help' for help.\n")
    return typer.Exit(USAGE)


def _read_source(file: Optional[str], expr: Optional[str], command: str) -> Source:
    if file is not None and expr is not None:
        raise _usage_error("give the program either as FILE or with -e CODE, not both", command)
    if expr is not None:
        return Source("<expr>", expr)
    if file is None:
        raise _usage_error("no program: give FILE, -e CODE, or - to read it from stdin",
                           command)
    if file == "-":
        return _checked(Source("<stdin>", _read(lambda: textin.read_program(
            textin.utf8(sys.stdin), "<stdin>") if sys.stdin else ""), from_stdin=True))
    try:
        return _checked(Source(file, _read(lambda: textin.read_file(file))))
    except textin.Unreadable as exc:
        raise _usage_error(exc.message, command) from None


def _read(read: Callable[[], str]) -> str:
    """`read()`, a program too large for it being the end of the run."""
    from . import render
    from .errors import LimitError
    try:
        return read()
    except LimitError as exc:
        render.say(exc.message)
        raise typer.Exit(FAILURE) from None


def _checked(source: Source) -> Source:
    """`source`, unless a byte of it was not UTF-8: then that byte's
    position, with the caret under it, is the end of the run."""
    from . import render
    problem = textin.not_utf8(source.text)
    if problem is None:
        return source
    render.report(problem, source.origin, source.text)
    raise typer.Exit(FAILURE)


# ----------------------------------------------------------------- session

class Session:
    """One command invocation: its options, program, outputs and errors."""

    def __init__(self, common: Common, source: Source):
        self.common = common
        self.source = source
        self.failed = False          # a run failed, or e.g. a check mismatched
        self.running = False         # a run (the program on one input) is under way
        self.record = None           # the stdin document it runs on, if any
        # What it has produced, for the JSON object its failure writes (eval:
        # what it printed); None when there is nothing to keep.
        self.partial: Optional[Callable[[], dict]] = None
        self._console = None

    @property
    def console(self):
        if self._console is None:
            from . import render
            self._console = render.make_console(self.common.full, self.common.precision)
        return self._console

    def options(self):
        return self.common.options()

    # ------------------------------------------------------------ running

    def run(self, each) -> None:
        """Load the program and call `each(program, inputs)` once per input
        document; translate every failure into a report and an exit code.

        With --keep-going a run that fails (its JSON is bad, or the program
        fails on its inputs) is reported and the next document runs."""
        from .errors import GradcliError
        try:
            from . import api
            given = self._given()
            program = api.load(self.source.text)
            shown = False            # some run has written to stdout
            for inputs, record, problem in self._inputs(program, given):
                if shown and problem is None and not self.common.json:
                    self.console.print()     # a blank line between runs' tables
                shown = shown or problem is None
                self.running, self.record, self.partial = True, record, None
                try:
                    if problem is not None:
                        raise problem
                    each(program, inputs)
                except GradcliError as exc:
                    if not self.common.keep_going:
                        raise
                    self._fail(exc, exc.message)
                self.running, self.record, self.partial = False, None, None
                sys.stdout.flush()
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            self._emit_failure(None, "interrupted")
            sys.stdout.flush()
            from . import render
            render.say("interrupted", kind=None)
            raise typer.Exit(INTERRUPTED) from None
        except Exception as exc:     # noqa: BLE001 - the edge: report, never trace
            self._fail(exc, exc.message if isinstance(exc, GradcliError)
                       else f"internal error: {type(exc).__name__}: {exc}")
            raise typer.Exit(FAILURE) from None
        if self.failed:
            raise typer.Exit(FAILURE)

    def _given(self) -> dict:
        from . import jsonio
        return {name: jsonio.parse_text(text, f"--set {name}")
                for name, text in self.common.sets}

    def _inputs(self, program, given):
        """(inputs, stdin record, problem) per run; `--set` wins over stdin.
        With --keep-going a document that cannot be read or bound is the
        problem of its run, not the end of the stream."""
        from . import api, jsonio

        stdin = sys.stdin
        if self.source.from_stdin or stdin is None or textin.is_terminal(stdin):
            yield dict(given), None, None
            return
        declared = api.declared_inputs(program)
        any_document = False
        for record in _documents(_lines(stdin), self.common.keep_going):
            any_document = True
            if isinstance(record, jsonio.JsonInputError):
                yield None, None, record
                continue
            first = record.text.splitlines()[0] if record.text else ""
            try:
                bound = jsonio.bind(record.value, declared, "<stdin>", record.line, first)
            except jsonio.JsonInputError as exc:
                if not self.common.keep_going:
                    raise
                yield None, None, exc
                continue
            yield {**bound, **given}, record, None
        if not any_document:
            yield dict(given), None, None     # empty stdin (CI, /dev/null): no inputs

    def emit_json(self, obj) -> None:
        from . import jsonio
        sys.stdout.write(jsonio.dumps(obj) + "\n")
        sys.stdout.flush()

    def _fail(self, exc: BaseException, message: str) -> None:
        self.failed = True
        self._emit_failure(exc, message)
        self._report(exc)

    def _emit_failure(self, exc: Optional[BaseException], message: str) -> None:
        """With --json, the failed run's object: what the run produced (eval:
        what it printed) and `"error": {"line": n, "message": ...}`, `line`
        being the stdin line of its input. Written for every failed run with
        --keep-going, else only when the run had produced something."""
        from . import jsonio
        if not (self.common.json and self.running
                and (self.partial is not None or self.common.keep_going)):
            return
        error: dict = {"message": message}
        if isinstance(exc, jsonio.JsonInputError):
            error = {"line": exc.span.line, **error}
        elif self.record is not None:
            error = {"line": self.record.line, **error}
        try:
            produced = self.partial() if self.partial is not None else {}
        except Exception:            # noqa: BLE001 - what cannot be written is left out
            produced = {}
        self.emit_json({**produced, "error": error})

    def _report(self, exc: BaseException) -> None:
        from . import jsonio, render
        from .errors import GradcliError

        sys.stdout.flush()           # what was printed comes before the error
        render.report(exc, self.source.origin, self.source.text, debug=self.common.debug)
        if (self.record is not None and isinstance(exc, GradcliError)
                and not isinstance(exc, jsonio.JsonInputError)):
            render.say(f"while running the input on line {self.record.line} of <stdin>",
                       "note")


def _documents(lines, keep_going: bool):
    """The JSON documents of stdin (`jsonio.Record`s). With `keep_going` a
    document that does not parse comes as its JsonInputError, and reading
    goes on at the line after the one the error is on: a bad JSON Lines
    record costs its own line only."""
    from . import jsonio

    if not keep_going:
        yield from jsonio.read_records(lines)
        return
    again: deque[str] = deque()      # lines read past an error, to read again first
    source = _again_first(again, iter(lines))
    first = 1                        # the stream's number of the reader's first line
    while True:
        pulled: list[tuple[int, str]] = []   # read since the last document
        reader = jsonio.read_records(_numbered(source, first, pulled))
        try:
            for record in reader:
                pulled.clear()
                yield replace(record, line=first + record.line - 1)
            return
        except jsonio.JsonInputError as exc:
            bad = max(first + exc.span.line - 1, first)
            yield jsonio.JsonInputError(exc.message, exc.origin, bad, exc.span.column,
                                        exc.line_text, exc.span.end_column)
            # Lines read past the error are read again, before any still
            # waiting from an earlier error (which come after them).
            again.extendleft(reversed([text for number, text in pulled if number > bad]))
            first = bad + 1


def _again_first(again: deque, lines):
    """The lines in `again` (which may grow meanwhile), then those of `lines`."""
    while True:
        if again:
            yield again.popleft()
            continue
        line = next(lines, None)
        if line is None:
            return
        yield line


def _numbered(lines, first: int, pulled: list):
    for number, line in enumerate(lines, first):
        pulled.append((number, line))
        yield line


def _lines(stream):
    """Lines of stdin as they arrive (iteration does not wait for EOF)."""
    return textin.lines(textin.utf8(stream))


# ---------------------------------------------------------------- commands

def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"gradcli {__version__}\n")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", "-V", is_eager=True, callback=_show_version,
        help="Show the version and exit.")] = False,
) -> None:
    """A command-line gradient calculator."""
    if ctx.invoked_subcommand is None:      # `gradcli` alone: its help, and success
        sys.stdout.write(ctx.get_help())
        raise typer.Exit(0)


@app.command("eval", cls=_Command)
@common_options()
def eval_command(
    file: FileArg = None,
    expr: ExprOpt = None,
    plots: Annotated[Optional[str], typer.Option(
        "--plots", metavar="DIR", show_default=False,
        help="Write what the program plots (plot(), scatter(), d2l.plot, d2l.plt) into DIR "
             "as numbered files, plot-001.png, ... (needs matplotlib: "
             "pip install 'gradcli\\[images]'). Without it plots are drawn in the terminal, "
             "or, when stdout is not one, noted on stderr.")] = None,
    plot_format: Annotated[Optional[ImageFormat], typer.Option(
        "--plot-format", show_default=False,
        help="The files' format with --plots (default png).")] = None,
    *, common: Common,
) -> None:
    """Run a program: show each print as it happens, then the gradients.

    After the run, if any backward ran, one table lists every variable with a
    gradient (name, shape, value, gradient). A program ending in an expression
    shows its value. What the program plots is drawn in the terminal as it
    runs, or written into --plots DIR; --json gives the plotted numbers.

    Example:  gradcli eval -e 'x = arange(3); attach_grad(x); sum(x * x).backward()'

    Example:  gradcli eval samples/13_linear_regression.ag --plots plots
    """
    if plot_format is not None and plots is None:
        raise _usage_error("--plot-format chooses the files of --plots: give --plots DIR too",
                           "eval")
    if plots is not None:
        _images_needed()
    session = Session(common, _read_source(file, expr, "eval"))
    figures = _ProgramPlots(session, plots, (plot_format or ImageFormat.png).value)
    session.run(lambda program, inputs: _eval_once(session, program, inputs, figures))


def _eval_once(session: Session, program, inputs, figures: "_ProgramPlots") -> None:
    from . import api, jsonio, render

    if session.common.json:
        printed: list = []
        drawn = figures.run_started()

        def shown() -> dict:
            return {"printed": [jsonio.printed(line) for line in printed],
                    **({"plots": drawn} if drawn else {})}

        session.partial = shown      # a failure keeps what was printed
        result = api.run(program, inputs, session.options(), on_print=printed.append,
                         on_plot=figures.drawn)
        render.warn(result.warnings)
        session.emit_json({
            **shown(),
            "variables": {n: jsonio.value(s.value) for n, s in result.variables.items()},
            "grads": {n: jsonio.array(g) for n, g in result.grads.items()},
        })
        session.partial = None
        return
    console = session.console
    result = api.run(program, inputs, session.options(),
                     on_print=lambda shown: render.print_values(console, shown),
                     on_plot=figures.drawn)
    if result.result is not None:
        render.print_values(console, [result.result])
    # Only after a backward: marking a value computes no gradient.
    rows = [(kept.names[0], kept.value, kept.grad, tuple(kept.names[1:]))
            for kept in result.kept] if result.book.backward_ran else []
    if rows:
        console.print(render.gradient_table(rows, title="gradients"))
    render.warn(result.warnings)


@app.command("grad", cls=_Command)
@common_options()
def grad_command(
    file: FileArg = None,
    expr: ExprOpt = None,
    wrt: WrtOpt = None, of: OfOpt = None, head: HeadOpt = None,
    jacobian: Annotated[bool, typer.Option(
        "--jacobian", help="The full Jacobian of the result by each variable "
                           "(shape result.shape + x.shape) instead of a gradient.")] = False,
    order: Annotated[int, typer.Option(
        "--order", min=1, max=2, help="2: the Hessian of a single-number result, per pair "
                                     "of variables.")] = 1,
    mode: Annotated[Mode, typer.Option(
        "--mode", help="reverse: one backward pass; forward: one forward pass per input element "
             "(tangents beside the values), with both modes' pass counts.")] = Mode.reverse,
    *, common: Common,
) -> None:
    """Differentiate the program's result with respect to its inputs.

    The result is the variable named by --of, else the last top-level
    expression; a program that runs its own backward reports the gradients
    it left. Shows the result, then each variable's value beside its gradient.

    Example:  gradcli grad -e 'input x; 2 * x * x' --set 'x=[1, 2]' --head '[10, 0.1]'
    """
    session = Session(common, _read_source(file, expr, "grad"))
    names = _names(wrt)
    if mode is Mode.forward:
        if order == 2:
            raise typer.BadParameter("--mode forward computes first derivatives (gradients, "
                                     "--jacobian); --order 2 goes by reverse mode: drop --mode")
        session.run(lambda program, inputs: _forward_once(session, program, inputs, names, of,
                                                          head, jacobian))
        return
    if order == 2:
        if head is not None or jacobian:
            raise typer.BadParameter("--order 2 is the Hessian of the result itself: "
                                     "it takes neither --head nor --jacobian")
        session.run(lambda program, inputs: _hessian_once(session, program, inputs, names, of))
        return
    if jacobian:
        if head is not None:
            raise typer.BadParameter("--jacobian gives every row of the Jacobian; "
                                     "--head picks one combination of them: use one or the other")
        session.run(lambda program, inputs: _jacobian_once(session, program, inputs, names, of))
        return
    session.run(lambda program, inputs: _grad_once(session, program, inputs, names, of, head))


def _hessian_once(session: Session, program, inputs, wrt, of) -> None:
    from . import api, jsonio, render

    result = api.hessian(program, inputs, session.options(), wrt, of)
    render.warn(result.warnings)
    if session.common.json:
        obj = {"value": jsonio.value(result.value.value), "hessian": {
            a: {b: jsonio.array(h) for b, h in row.items()} for a, row in result.hessians.items()}}
        if result.elementwise:
            obj["elementwise"] = True
        session.emit_json(obj)
        return
    name = of or "result"
    render.titled(session.console, name, result.value)
    for a, row in result.hessians.items():
        for b, h in row.items():        # shape: a's, then b's; elementwise, x's
            title = (f"second derivative of {name} by {a}, elementwise "
                     f"(d²{name}[i]/d{a}[i]², the Hessian's diagonal)" if result.elementwise
                     else f"hessian of {name} by {a}, {b}")
            render.titled(session.console, title, api.Shown(h, None, True))


def _jacobian_once(session: Session, program, inputs, wrt, of) -> None:
    from . import api, jsonio, render

    result = api.jacobian(program, inputs, session.options(), wrt, of)
    render.warn(result.warnings)
    if session.common.json:
        session.emit_json({"value": jsonio.value(result.value.value),
                           "jacobian": {n: jsonio.array(j) for n, j in result.jacobians.items()}})
        return
    name = of or "result"
    render.titled(session.console, name, result.value)
    for var, jac in result.jacobians.items():
        # shape: the result's, then the variable's
        render.titled(session.console, f"jacobian of {name} by {var}", api.Shown(jac, None, True))


def _forward_once(session: Session, program, inputs, wrt, of, head_text, jacobian) -> None:
    from . import api, forward_mode, jsonio, render

    if jacobian and head_text is not None:
        raise typer.BadParameter("--jacobian gives every row of the Jacobian; "
                                 "--head picks one combination of them: use one or the other")
    head = None if head_text is None else jsonio.parse_text(head_text, "--head")
    result = forward_mode.gradient(program, inputs, session.options(), wrt, of, head, jacobian)
    name = _emit_gradients(session, of, result, "jacobian" if jacobian else "grads",
                           mode="forward", passes=result.passes)
    if name is None:
        return
    console = session.console
    if jacobian:
        for var, jac in result.grads.items():
            render.titled(console, f"jacobian of {name} by {var}", api.Shown(jac, None, True))
    else:
        rows = [(n, result.values[n], g) for n, g in result.grads.items()]
        title = f"gradients of {name} by forward mode" + (
            " (head · ∂/∂x)" if result.head is not None else "")
        console.print(render.gradient_table(rows, title=title))
    from rich.text import Text
    console.print(Text(render.pass_counts(result.passes, result.values, jacobian)))


def _grad_once(session: Session, program, inputs, wrt, of, head_text) -> None:
    from . import api, jsonio, render

    head = None if head_text is None else jsonio.parse_text(head_text, "--head")
    result = api.gradient(program, inputs, session.options(), wrt, of, head)
    name = _emit_gradients(session, of, result)
    if name is None:
        return
    rows = [(n, result.values.get(n, g), g) for n, g in result.grads.items()]
    title = f"gradients of {name}" + (" (head · ∂/∂x)" if result.head is not None else "")
    session.console.print(render.gradient_table(rows, title=title))


def _emit_gradients(session: Session, of, result, key="grads", **extra) -> Optional[str]:
    """A gradient result's JSON object (value, `key`: per variable, head,
    `extra`), or its value and head as tables: then the result's name, for
    the tables that follow (None after JSON)."""
    from . import api, jsonio, render

    render.warn(result.warnings)
    if session.common.json:
        obj = {"value": None if result.value is None else jsonio.value(result.value.value),
               key: {n: jsonio.array(g) for n, g in result.grads.items()}, **extra}
        if result.head is not None:
            obj["head"] = jsonio.array(result.head)
        session.emit_json(obj)
        return None
    name = of or "result"
    if result.value is not None:
        render.titled(session.console, name, result.value)
    if result.head is not None:
        render.titled(session.console, "head", api.Shown(result.head, None, True))
    return name


ExpectOpt = Annotated[Optional[list[str]], typer.Option(
    "--expect", metavar="NAME=EXPR", show_default=False,
    help="Check a hand-derived gradient instead of finite differences: EXPR, written in "
         "the program's own variables and evaluated after it has run, must equal autodiff's "
         "gradient of the result by NAME, element for element and shape for shape "
         "(repeatable), e.g. --expect 'w=2 * X.T @ (X @ w - y)'.")]
RandomOpt = Annotated[int, typer.Option(
    "--random", metavar="K", min=0, max=10_000,
    help="With --expect: compare again at K more points, every floating-point input drawn "
         "around its value (x + 0.2·rms(x)·N(0,1); from --seed), so that a formula that "
         "only holds at one point is caught.")]


@app.command("check", cls=_Command)
@common_options()
def check_command(
    file: FileArg = None,
    expr: ExprOpt = None,
    wrt: WrtOpt = None, of: OfOpt = None, head: HeadOpt = None,
    rtol: Annotated[Optional[float], typer.Option(
        "--rtol", min=0.0, help="Relative tolerance (default 1e-5; 1e-4 with --dtype float32).",
        show_default=False)] = None,
    atol: Annotated[Optional[float], typer.Option(
        "--atol", min=0.0, help="Absolute tolerance (default 1e-6; 1e-5 with --dtype float32).",
        show_default=False)] = None,
    expect: ExpectOpt = None,
    random: RandomOpt = 0,
    *, common: Common,
) -> None:
    """Check autodiff against central finite differences (float64), or
    against a hand-derived gradient (--expect).

    Prints the largest absolute and relative error per variable, and its
    worst element with both numbers, and exits with status 1 when any
    element differs by more than atol + rtol·|g|. With --expect the table
    also counts the points checked (1 + --random K) and says at which one
    the worst element is (0: the given inputs).

    Example:  gradcli check -e 'input x = [0.5, 2]; sum(sin(x) * x)'

    Example:  gradcli check samples/18_missing_transpose.ag --expect 'w=2 * X.T @ (X @ w - y)' --random 5
    """
    if random and not expect:
        raise typer.BadParameter("--random redraws the inputs of an --expect check; "
                                 "give --expect NAME=EXPR too", param_hint="'--random'")
    expectations = _expectations(wrt, expect, common.debug) if expect else None
    session = Session(common, _read_source(file, expr, "check"))
    if expectations:
        session.run(lambda program, inputs: _expect_once(
            session, program, inputs, expectations, of, head, rtol, atol, random))
        return
    names = _names(wrt)
    session.run(lambda program, inputs: _check_once(session, program, inputs, names, of,
                                                    head, rtol, atol))


def _worst_json(worst, jsonio) -> dict:
    if worst is None:
        return {}
    return {"worst": {"index": worst["index"], "autodiff": jsonio.number(worst["autodiff"]),
                      "numeric": jsonio.number(worst["numeric"])}}


def _check_once(session: Session, program, inputs, wrt, of, head_text, rtol, atol) -> None:
    from . import api, jsonio, render

    result = api.check(program, inputs, session.options(), wrt, of, _head(head_text),
                       rtol=rtol, atol=atol)
    if session.common.json:
        session.emit_json({"ok": bool(result.ok), "vars": {
            name: {"ok": bool(row["ok"]),
                   "max_abs_err": jsonio.number(row["max_abs_err"]),
                   "max_rel_err": jsonio.number(row["max_rel_err"]),
                   **_worst_json(row.get("worst"), jsonio)}
            for name, row in result.vars.items()}})
    else:
        from rich.text import Text
        session.console.print(render.check_table(result))
        for line in render.check_worst(result):
            session.console.print(Text(line), soft_wrap=True)
        tolerance = f"rtol={result.rtol:g}, atol={result.atol:g}"
        if result.ok:
            session.console.print(Text(f"ok: autodiff agrees with finite differences "
                                       f"({tolerance})"))
        else:
            session.console.print(Text(f"MISMATCH: autodiff and finite differences "
                                       f"disagree ({tolerance})"))
    _check_failed(session, result.vars)


def _head(head_text: Optional[str]):
    from . import jsonio
    return None if head_text is None else jsonio.parse_text(head_text, "--head")


def _check_failed(session: Session, rows: dict) -> None:
    """Say which variables failed their check, if any, and fail the run."""
    bad = [name for name, row in rows.items() if not row["ok"]]
    if bad:
        sys.stdout.flush()
        from . import render
        render.say(f"gradient check failed for {', '.join(repr(n) for n in bad)}")
        session.failed = True


def _expectations(wrt, arguments: list[str], debug: bool) -> list:
    """The parsed --expect arguments. Usage errors (exit 2): --wrt beside
    them, one that is not NAME=EXPR, a NAME given twice; a formula that
    does not parse is reported in its own text and ends the command (exit 1)."""
    from . import expect, render
    from .errors import GradcliError
    if wrt:
        raise typer.BadParameter("--expect names the variables it checks; --wrt is for the "
                                 "finite-difference check", param_hint="'--wrt'")
    try:
        expect.names(arguments)
    except expect.UsageProblem as exc:
        raise typer.BadParameter(str(exc), param_hint="'--expect'") from None
    try:
        return [expect.parse(argument) for argument in arguments]
    except GradcliError as exc:
        render.report(exc, expect.ORIGIN, None, debug=debug)
        raise typer.Exit(FAILURE) from None


def _expect_once(session: Session, program, inputs, expectations, of, head_text,
                 rtol, atol, random) -> None:
    from . import expect, render

    result = expect.check(program, expectations, inputs, session.options(), of,
                          _head(head_text), rtol=rtol, atol=atol, random=random)
    if session.common.json:
        session.emit_json({"ok": bool(result.ok), "expect": {
            name: _expect_row_json(row) for name, row in result.expect.items()}})
    else:
        from rich.text import Text
        session.console.print(render.expect_table(result))
        for line in render.expect_worst(result) + [render.expect_summary(result)]:
            session.console.print(Text(line), soft_wrap=True)
    _check_failed(session, result.expect)


def _expect_row_json(row: dict) -> dict:
    from . import jsonio
    out = {"ok": bool(row["ok"]), "max_abs_err": jsonio.number(row["max_abs_err"]),
           "max_rel_err": jsonio.number(row["max_rel_err"]), "points": row["points"]}
    worst = row["worst"]
    if worst is not None:
        out["worst"] = {"index": worst["index"], "expected": jsonio.number(worst["expected"]),
                        "autodiff": jsonio.number(worst["autodiff"]), "point": worst["point"]}
    return out


@app.command("graph", cls=_Command)
@common_options()
def graph_command(
    file: FileArg = None,
    expr: ExprOpt = None,
    dot: Annotated[bool, typer.Option("--dot", help="Write Graphviz DOT instead of a tree.")
                   ] = False,
    out: Annotated[Optional[str], typer.Option(
        "--out", metavar="FILE.svg|FILE.png",
        help="Draw the graph into this picture (no Graphviz needed; a PNG needs the "
             "'images' extra).")] = None,
    max_nodes: Annotated[int, typer.Option(
        "--max-nodes", metavar="N", min=1,
        help="Expand this many nodes; the rest are drawn without their inputs, and the "
             "output says the graph was cut.")] = defaults.GRAPH_NODES,
    wrt: WrtOpt = None, of: OfOpt = None,
    *, common: Common,
) -> None:
    """Show the recorded graph of the result: operations, inputs, constants,
    shapes, and the names the program gave the values.

    A node used twice is drawn once and then marked "(shown above)". --dot
    writes Graphviz DOT (render it with `dot -Tsvg`); --out draws an SVG or
    PNG picture itself; --json writes a nested object.

    Example:  gradcli graph -e 'input x = [1, 2]; sum(x * x + x)' --out graph.svg
    """
    chosen = [flag for flag, given in (("--dot", dot), ("--json", common.json),
                                       ("--out", out is not None)) if given]
    if len(chosen) > 1:
        raise _usage_error(f"{' and '.join(chosen)} cannot be used together", "graph")
    if out is not None:
        from . import picture
        if not picture.known_format(out):
            raise _usage_error(f"--out: cannot draw {out!r}: name a .svg or .png file", "graph")
    session = Session(common, _read_source(file, expr, "graph"))
    names = _names(wrt)
    session.run(lambda program, inputs: _graph_once(session, program, inputs, names, of, dot,
                                                    max_nodes, out))


def _graph_once(session: Session, program, inputs, wrt, of, dot: bool, max_nodes: int,
                out: Optional[str] = None) -> None:
    from . import api, render

    root = api.graph(program, inputs, session.options(), wrt, of, max_nodes=max_nodes)
    cut = render.graph_cut(root, max_nodes)
    note = render.cut_note(max_nodes) + " (--max-nodes N draws more)" if cut else None
    if out is not None:
        from . import picture
        drawn = picture.write(root, out, note)
        render.print_written(session.console, out, drawn)
    elif dot:
        sys.stdout.write(render.graph_dot(root, note))
    elif session.common.json:
        session.emit_json(render.graph_json(root, cut))
    else:
        render.print_graph(session.console, root, note)
    if note is not None and (dot or session.common.json or out is not None):
        render.warn([note])        # DOT and JSON are read by programs, a picture is a file


@app.command("explain", cls=_Command)
@common_options()
def explain_command(
    file: FileArg = None,
    expr: ExprOpt = None,
    wrt: WrtOpt = None, of: OfOpt = None, head: HeadOpt = None,
    max_nodes: Annotated[int, typer.Option(
        "--max-nodes", metavar="N", min=1,
        help="Show this many steps in full; the rest are counted by operation.")
    ] = defaults.EXPLAIN_STEPS,
    *, common: Common,
) -> None:
    """Show the backward pass step by step, in the order it runs.

    Per step: the operation, its line and expression, the gradient in, the
    local rule of each input (d(a*b)/da = b) and the gradient sent to it;
    gradients that add up from several uses of a value are shown summed.
    A program that runs its own backward is explained from it.

    Example:  gradcli explain -e 'input x = [1, 2]; y = x**2; sum(y**2 + y)'
    """
    session = Session(common, _read_source(file, expr, "explain"))
    names = _names(wrt)
    session.run(lambda program, inputs: _explain_once(session, program, inputs, names, of,
                                                      head, max_nodes))


def _explain_once(session: Session, program, inputs, wrt, of, head_text, max_nodes) -> None:
    from . import explain, jsonio, render, render_explain

    head = None if head_text is None else jsonio.parse_text(head_text, "--head")
    result = explain.explain(program, inputs, session.options(), wrt, of, head, max_nodes)
    render.warn(result.warnings)
    if session.common.json:
        session.emit_json(render_explain.explanation_json(result))
    else:
        render_explain.print_explanation(session.console, result)


class _ProgramPlots:
    """Where `eval` puts what a program plots: numbered files in --plots
    DIR; with --json, the numbers in the run's object (and the file);
    else drawn in the terminal, or, when stdout is not one, a note on
    stderr (terminal graphics are not written into pipes). Numbered across
    the runs of a JSON Lines stream, so that no file overwrites another."""

    def __init__(self, session: Session, directory: Optional[str], fmt: str):
        self.session = session
        self.directory = directory
        self.format = fmt
        self.count = 0
        self.shown: list = []          # this run's figures as JSON

    def run_started(self) -> list:
        self.shown = []
        return self.shown

    def drawn(self, figure) -> None:
        from . import draw, jsonio, render
        self.count += 1
        path = None
        if self.directory is not None:
            path = os.path.join(self.directory, f"plot-{self.count:03d}.{self.format}")
            _write_image(figure, path, self.format, make_folder=True)
        if self.session.common.json:
            self.shown.append({**jsonio.figure(figure), **({"file": path} if path else {})})
            return
        what = _described(figure)
        if path is not None:
            render.say(f"plot {self.count} ({what}) written to {path}", "note")
        elif self.session.console.is_terminal:
            draw.show(self.session.console, figure, share=2)
        else:
            sys.stdout.flush()
            render.say(f"plot {self.count} ({what}) not drawn: stdout is not a terminal; "
                       "--plots DIR writes it to a file", "note")


def _described(figure) -> str:
    """`scatter, 1 series, 1000 points`: a figure in a few words."""
    count = len(figure.series)
    return (f"{figure.kind}, {count} series, {figure.points} point"
            + ("s" if figure.points != 1 else ""))


def _images_needed() -> None:
    """End the command (exit 1) when matplotlib, which files need, is missing."""
    import importlib.util
    from . import render
    if importlib.util.find_spec("matplotlib") is None:
        from .draw import ImagesMissing
        render.say(str(ImagesMissing()))
        raise typer.Exit(FAILURE)


def _write_image(figure, path: str, fmt: str, make_folder: bool = False) -> None:
    from . import draw
    from .errors import DataError
    try:
        if make_folder:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        draw.save(figure, path, fmt)
    except (draw.ImagesMissing, draw.DrawFailed) as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"cannot write '{path}': {exc.strerror or exc}") from None


def _image_format(path: str) -> str:
    """`--out`'s format, from its suffix; anything else is a usage error."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in ImageFormat.__members__:
        raise typer.BadParameter(f"the file must end in .png or .svg, got {path!r}",
                                 param_hint="'--out'")
    return suffix


def _plot_range(text: Optional[str]):
    if text is None:
        return None
    from .plotting import RangeProblem, parse_range
    try:
        return parse_range(text)
    except RangeProblem as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("plot", cls=_Command)
@common_options()
def plot_command(
    file: FileArg = None,
    expr: ExprOpt = None,
    wrt: Annotated[Optional[list[str]], typer.Option(
        "--wrt", metavar="NAME", show_default=False,
        help="The input to vary (default: the program's one single-number input); the "
             "others keep their values.")] = None,
    of: Annotated[Optional[str], typer.Option(
        "--of", metavar="NAME", show_default=False,
        help="Plot this variable (default: the last top-level expression).")] = None,
    span: Annotated[Optional[str], typer.Option(
        "--range", metavar="A:B", show_default=False, callback=_plot_range,
        help="Where to vary it (default -5:5, or 5 either side of the input's value when "
             "that lies outside).")] = None,
    points: Annotated[int, typer.Option(
        "--points", metavar="N", min=2, max=10_000,
        help="How many evenly spaced points to evaluate (one run of the program each).")
    ] = 200,
    second: Annotated[bool, typer.Option(
        "--second", help="Draw the second derivative too.")] = False,
    out: Annotated[Optional[str], typer.Option(
        "--out", metavar="FILE", show_default=False,
        help="Draw into FILE.png or FILE.svg instead of the terminal (needs matplotlib: "
             "pip install 'gradcli\\[images]').")] = None,
    *, common: Common,
) -> None:
    """Draw the result as a function of one input, beside its derivative.

    The program's result (the last expression, or --of NAME) must be a single
    number that depends on a single-number input. It is evaluated at each
    point of the range; the derivative comes from autodiff (and with
    --second the second derivative), and where it crosses zero is marked and
    listed under the plot. Points where a value is not finite, or where the
    program fails, are gaps. --json gives the numbers instead.

    Example:  gradcli plot -e 'input x = 0.5; sin(x) * x' --range -3:3

    Example:  gradcli plot -e 'input x = 0.5; x * sin(x)' --second --out plot.png
    """
    fmt = _image_format(out) if out is not None else None
    if out is not None:
        _images_needed()
    session = Session(common, _read_source(file, expr, "plot"))
    names = _names(wrt)
    session.run(lambda program, inputs: _plot_once(session, program, inputs, names, of, span,
                                                   points, second, out, fmt))


def _plot_once(session: Session, program, inputs, wrt, of, span, points, second,
               out, fmt) -> None:
    from . import jsonio, plotting
    from rich.text import Text

    curve = plotting.program_curve(program, inputs, session.options(), wrt, of, span, points,
                                   second)
    source = session.source
    title = of or plotting.result_text(program, source.text) or (
        None if source.origin.startswith("<") else os.path.basename(source.origin))
    figure = plotting.figure(curve, title)
    if out is not None:
        _write_image(figure, out, fmt)
    if session.common.json:
        obj = {"wrt": curve.name, "x": jsonio.array(curve.x), "f": jsonio.array(curve.f),
               "df": jsonio.array(curve.df)}
        if curve.d2f is not None:
            obj["d2f"] = jsonio.array(curve.d2f)
        obj["zeros_of_df"] = [jsonio.number(z) for z in curve.zeros]
        if out is not None:
            obj["file"] = out
        session.emit_json(obj)
    elif out is not None:
        for line in figure.notes + [f"plot written to {out}"]:
            session.console.print(Text(line), soft_wrap=True)
    else:
        from . import draw
        draw.show(session.console, figure)


@app.command("repl", cls=_Command)
@common_options(inputs=False)
def repl_command(*, common: Common) -> None:
    """Interactive session: variables persist, values show as tables.

    Prompt 'ag> ', '... ' inside a block (a blank line ends it). Meta-commands:
    :help [NAME] (or NAME?), :vars, :grad [NAME...], :graph NAME, :explain NAME,
    :plot EXPR [A:B], :load FILE, :paste, :reset, :quit. Ctrl-C stops a running program, Ctrl-D
    leaves. With stdin not a terminal, runs the statements it reads and exits
    with 1 if any failed.

    Example:  printf 'x = arange(3)\\nx * 2\\n' | gradcli repl
    """
    from . import repl          # prompt_toolkit loads only for a terminal

    raise typer.Exit(repl.main(common.options(), debug=common.debug, full=common.full,
                               precision=common.precision))


@app.command("help", cls=_Command)
def help_command(
    name: Annotated[Optional[str], typer.Argument(
        metavar="NAME", show_default=False,
        help="A built-in (sum, torch.ones, autograd.grad) or a command.")] = None,
) -> None:
    """Show a built-in's help: signature, what it computes, derivative, example.

    The entry also gives the PyTorch and numpy keyword spellings the built-in
    takes, its convention at non-differentiable points and the arguments it
    carries no gradient to. Without NAME: the commands and every built-in by
    group. A program can ask too: help(sum); the REPL: sum? or :help sum.

    Example:  gradcli help sum
    """
    from . import api, render, render_help
    from .errors import EvalError

    console = render.make_console()
    if name is None:
        render_help.print_overview(console, _commands(), api.help_groups())
        return
    try:
        lines = api.help_entry(name)
    except EvalError as exc:
        if name in _command_names():
            _command_help(name)
            return
        render.say(exc.message)
        raise typer.Exit(FAILURE) from None
    render_help.print_entry(console, lines)
    if name in _command_names():        # `grad`: a built-in and a command
        console.print()
        render.say(f"'{name}' is also a command: gradcli {name} --help", kind="note",
                   errors=sys.stdout)


def _command_names() -> list[str]:
    return [command.name for command in app.registered_commands]


def _commands() -> list[tuple[str, str]]:
    """Each command with the first line of its help."""
    return [(command.name, " ".join(inspect.cleandoc(command.callback.__doc__ or "")
                                    .split("\n\n")[0].split()))
            for command in app.registered_commands]


def _command_help(name: str) -> None:
    """`gradcli help eval`: what `gradcli eval --help` shows."""
    try:
        _app_for([name])(args=[name, "--help"], prog_name="gradcli")
    except SystemExit:
        pass


# ----------------------------------------------------------------- streams

class OutputLost(BaseException):
    """Writing to stdout failed: it is closed, full, or a pipe nobody reads.

    A BaseException, as KeyboardInterrupt is, so that it passes every
    `except Exception` edge (the REPL's per-input report, the interpreter
    calling a print hook) and ends the run in `main`, which knows the exit
    status it means."""

    def __init__(self, error: OSError, fd: int):
        super().__init__(error)
        self.error = error
        self.fd = fd


class _Stdout:
    """sys.stdout with its write errors raised as OutputLost. A stdout that
    Python found closed at start-up (None) fails every write."""

    fd = 1

    def __init__(self, stream):
        self._stream = stream

    def _fail(self, error: OSError):
        try:
            fd = self._stream.fileno()
        except (AttributeError, ValueError, OSError):
            fd = self.fd
        return OutputLost(error, fd)

    def write(self, text: str) -> int:
        if self._stream is None:
            raise self._fail(OSError(errno.EBADF, "stdout is closed"))
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise self._fail(exc) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._fail(exc) from None

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def __getattr__(self, name):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


class _Stderr(_Stdout):
    """sys.stderr, best effort: when messages cannot be written (closed,
    full, a broken pipe) they are dropped, and the exit status still tells."""

    fd = 2

    def write(self, text: str) -> int:
        if self._stream is None:
            return len(text)
        try:
            return super().write(text)
        except OutputLost as lost:
            _silence(lost.fd)
            self._stream = None
            return len(text)

    def flush(self) -> None:
        try:
            super().flush()
        except OutputLost as lost:
            _silence(lost.fd)
            self._stream = None


def _guard_streams() -> None:
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            # A descriptor closed at start-up would be given to the next file
            # opened (the program, the REPL history), and writes meant for
            # the terminal would land in it: hold it open on /dev/null,
            # read-only for stdout so that its writes still fail.
            _hold(fd, os.O_WRONLY if fd == 2 else os.O_RDONLY)
    sys.stdout = _Stdout(sys.stdout)
    sys.stderr = _Stderr(sys.stderr)


def _hold(fd: int, flags: int) -> None:
    try:
        os.fstat(fd)
        return                      # open after all
    except OSError:
        pass
    try:
        null = os.open(os.devnull, flags)
    except OSError:
        return
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def _silence(fd: int) -> None:
    """Point `fd` at /dev/null: what is still buffered for it is flushed at
    exit, and would fail again there, with a traceback of Python's own."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    if null == fd:
        return
    try:
        os.dup2(null, fd)
    except OSError:
        pass
    finally:
        os.close(null)


# -------------------------------------------------------------------- main

def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    streams = sys.stdout, sys.stderr
    _guard_streams()
    try:
        code = _run(args)
    finally:
        sys.stdout, sys.stderr = streams
    sys.exit(code)


def _run(args: list[str]):
    """The exit status of the command; output that cannot be written ends
    it wherever that happens (in a command, in --help, in the last flush)."""
    try:
        try:
            _app_for(args)(args=args, prog_name="gradcli")
            code = 0
        except SystemExit as done:
            code = done.code
        sys.stdout.flush()
    except OutputLost as lost:
        _silence(lost.fd)
        if lost.error.errno == errno.EPIPE:
            return BROKEN_PIPE      # the reader left: nothing to say, nobody to say it to
        from . import render
        render.say(f"cannot write the output: {lost.error.strerror or lost.error}")
        sys.stderr.flush()
        return FAILURE
    return code


def _app_for(args: list[str]) -> typer.Typer:
    """The app narrowed to the command about to run, if one is named first:
    typer inspects every registered command's signature at each start (about
    6 ms for five), and only one of them can run."""
    chosen = [c for c in app.registered_commands if args and c.name == args[0]]
    if not chosen:
        return app
    narrowed = copy.copy(app)
    narrowed.registered_commands = chosen
    return narrowed


if __name__ == "__main__":
    main()
