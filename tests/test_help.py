"""Help on built-ins (SPEC 4 `gradcli help`, 6 `help(sum)` / `sum?`): every
built-in has an entry, read from where it is registered; every entry's
example runs and prints what the entry says; docs/language.md's table is
the one the registry makes; and help reaches users from programs, the REPL
and the command line."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import test_builtins_gradcheck
from gradcli import __version__, api, repl
from gradcli.cli import app
from gradcli.lang import help
from gradcli.lang import strings
from gradcli.lang.builtins import BUILTINS, CONTEXTS, HOOKED
from gradcli.lang.control import BUILTINS as CONTROL_BUILTINS
from gradcli.lang.interpreter import Hooks, Interpreter
from gradcli.lang.parser import parse
from gradcli.lang.values import Builtin

DOCS = Path(__file__).resolve().parents[1] / "docs" / "language.md"
PLAIN_ENV = {"COLUMNS": None, "LINES": None, "NO_COLOR": None, "FORCE_COLOR": None,
             "TERM": None}
WHERE_TO_ADD = ("give it help= (what it computes, a sentence or two) and example= (lines of "
                ".ag code, then what they print as '# ' lines) where it is registered: "
                "defop/@public in gradcli/core, @builtin/@creating/hooked in "
                "gradcli/lang/builtins.py, or Builtin(..., public=ops.Public(...)) for one "
                "made elsewhere")


def distinct(found: dict) -> dict:
    """One entry per built-in (aliases share theirs), by its main name."""
    return {e.name: e for e in {id(e.public): e for e in found.values()}.values()}


ENTRIES = distinct(help.entries())


def gradcli(*args, input=None, env=PLAIN_ENV):
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)


# ------------------------------------------------------- every built-in

def test_every_builtin_has_help_and_an_example():
    lacking = sorted(name for name, e in ENTRIES.items()
                     if not (e.public.help and e.public.example
                             and e.public.example.splitlines()[-1].startswith("# ")))
    assert not lacking, f"built-ins without a help text or an example: {lacking}; " \
                        f"{WHERE_TO_ADD}"


def test_every_builtin_a_run_can_call_has_an_entry():
    """The interpreter's own table (print, help, backward, a hooked built-in
    added later) included: a Builtin made without its record has no help."""
    table = {**Interpreter().builtins, **CONTROL_BUILTINS}
    lacking = sorted(name for name, b in table.items()
                     if isinstance(b, Builtin) and (b.public is None or not b.public.help))
    assert not lacking, f"built-ins without a help entry: {lacking}; {WHERE_TO_ADD}"


def top_level() -> set[str]:
    """The main name of every built-in a program calls by a bare name."""
    names = {b.public.names[0] for b in [*BUILTINS.values(), *CONTROL_BUILTINS.values()]
             if isinstance(b, Builtin)}
    return names | set(HOOKED) | {p.names[0] for p in CONTEXTS.values()}


def test_every_builtin_is_in_exactly_one_group():
    grouped = [name for _, names, _ in help.GROUPS for name in names]
    missing = sorted(top_level() - set(grouped))
    assert not missing, (f"built-ins in no group of gradcli/lang/help.py's GROUPS: {missing}; "
                         "add each to a group, then regenerate docs/language.md's table "
                         "(python -m gradcli.lang.help --markdown)")
    assert sorted(grouped) == sorted(set(grouped)), "a built-in is in two groups"
    assert set(grouped) <= top_level(), set(grouped) - top_level()


def test_every_differentiable_builtin_states_its_derivative():
    """A built-in that carries a gradient to some argument (its gradient-check
    rows say which) gives a rule: from its op, or `rules=` of its own."""
    silent = set()
    for row in test_builtins_gradcheck.ROWS:
        builtin = BUILTINS[row.name]
        if any(i not in builtin.nondiff for i in row.numeric()):
            if not help.lines_of(help.Entry(builtin.public, builtin.fn), "derivative"):
                silent.add(builtin.public.names[0])
    assert not silent, (f"differentiable built-ins whose help has no derivative: "
                        f"{sorted(silent)}; give op= (the op whose rules apply) or rules= "
                        "where each is registered")


@pytest.mark.parametrize("name, says", [
    ("abs", "abs'(0) = 0"), ("relu", "relu'(0) = 0"), ("sqrt", "sqrt'(0) = inf"),
    ("max", "share the gradient evenly"), ("min", "share the gradient evenly"),
    ("maximum", "each gets half"), ("minimum", "each gets half"),
    ("where", "exactly 0 gradient goes to the branch not taken"),
])
def test_the_conventions_at_non_differentiable_points_are_shown(name, says):
    assert says in " ".join(help.lines_of(help.lookup(name), "at non-differentiable points"))


# ------------------------------------------------------------- examples

class Printed(Hooks):
    def __init__(self):
        self.lines = []

    def print(self, values, sep=" ", end="\n"):
        self.lines.append(sep.join(strings.text(v) for v in values) + end)


def example_output(code: str) -> list[str]:
    """What the example prints, run as a program of its own: its prints,
    then the value of a last expression, one-line text as `str` writes it."""
    api.configure(api.Options())
    hooks = Printed()
    interp = Interpreter(hooks=hooks)
    interp.run(parse(code))
    text = "".join(hooks.lines)
    if interp.last_value is not None:
        text += strings.text(interp.last_value) + "\n"
    return text.splitlines()


EXAMPLES = {e.public.example: name for name, e in ENTRIES.items() if e.public.example}


@pytest.mark.parametrize("example", list(EXAMPLES), ids=list(EXAMPLES.values()))
def test_each_example_prints_what_its_entry_says(example):
    lines = example.splitlines()
    code = "\n".join(line for line in lines if not line.startswith("# "))
    shown = [line[2:] for line in lines if line.startswith("# ")]
    printed = example_output(code)
    if shown[-1] == "...":          # the rest is long (help's own example)
        assert printed[:len(shown) - 1] == shown[:-1]
    else:
        assert printed == shown


# --------------------------------------------------------- the entries

def test_an_entry_has_every_part():
    text = "\n".join(help.lines(help.lookup("sum")))
    assert text.startswith("sum(x, axis=None, keepdims=False)\n"
                           "  keywords: dim=, dims= for axis; keepdim= for keepdims\n")
    assert "\nderivative\n  d(sum(x))/dx = 1\n" in text
    assert text.endswith("\nexample\n  x = [[1, 2], [3, 4]]\n"
                         "  print(sum(x), sum(x, axis=0), x.sum(dim=1, keepdim=True))\n"
                         "  # 10 [4, 6] [[3], [7]]")


@pytest.mark.parametrize("name, line", [
    ("clip", "  keywords: min=, a_min= for low; max=, a_max= for high"),
    ("normal", "  keywords: loc= for mean; scale= for std; size= for shape"),
    ("backward", "  keywords: gradient=, out_grad=, head_grads= for head"),
    ("arcsin", "  also: asin"),
    ("matmul", "  to a: g @ b.T (outer(g, b) if b is a vector; g*b if both are)"),
    ("where", "  d(where(cond, x, y))/dx = 1 where cond, 0 elsewhere"),
    ("where", "  cond: the condition selects; it is not differentiated"),
    ("argmax", "  x: an index: piecewise constant"),
    ("square", "  d(square(x))/dx = 2*x"),
    ("record", "with record:"),
])
def test_entries_show_aliases_keywords_rules_and_reasons(name, line):
    assert line in help.lines(help.lookup(name))


@pytest.mark.parametrize("written, main", [
    ("torch.ones", "ones"), ("np.exp", "exp"), ("F.relu", "relu"), ("nd.array", "array"),
    ("torch.nn.functional.relu", "relu"), ("torch.manual_seed", "seed"),
    ("autograd.grad", "autograd.grad"), ("torch.autograd.grad", "autograd.grad"),
    ("math.floor", "math.floor"), ("nd.sum", "nd.sum"), ("clamp", "clip"), ("pause", "no_grad"),
])
def test_a_builtin_is_found_as_programs_reach_it(written, main):
    assert help.lookup(written).name == main


@pytest.mark.parametrize("name, message", [
    ("smu", "no built-in 'smu'; did you mean 'sum'?"),
    ("arange_like", "no built-in 'arange_like': help() lists them"),
    ("math.summ", "no built-in 'math.summ': help() lists them"),
])
def test_an_unknown_name_gets_a_suggestion(name, message):
    with pytest.raises(Exception) as error:
        help.lookup(name)
    assert error.value.message == message


def test_docs_table_is_the_one_the_registry_makes():
    assert help.markdown_table() in DOCS.read_text(encoding="utf-8"), \
        "docs/language.md's built-ins table is stale: paste `python -m gradcli.lang.help " \
        "--markdown` over it"


# ----------------------------------------------------------- in programs

def printed(source: str) -> list:
    """What each print (and help) call of a program printed."""
    lines = []
    api.run(api.load(source), {}, api.Options(), on_print=lines.append)
    return [[shown.value for shown in line] for line in lines]


def test_help_in_a_program_prints_the_entry():
    entry = "\n".join(help.lines(help.lookup("relu")))
    assert printed("help(relu)\nhelp('relu')\nhelp(torch.relu)") == [[entry]] * 3
    assert printed("help()")[0][0].startswith("built-ins (help(NAME) for one of them):\n"
                                              "creation: array, zeros, ones,")


@pytest.mark.parametrize("source, message", [
    ("help('smu')", "no built-in 'smu'; did you mean 'sum'?"),
    ("help(smu)", "name 'smu' is not defined; did you mean 'sum'?"),
    ("help(ones(2))", "help() takes a built-in, a function or a name in quotes (help(sum), "
                      "help('sum')), not an array of shape (2,)"),
])
def test_help_of_an_unknown_name_is_an_error(source, message):
    with pytest.raises(Exception) as error:
        printed(source)
    assert error.value.message == message


@pytest.mark.parametrize("source, shown", [
    ("print(sum)", "<built-in sum>"), ("print(torch.ones)", "<built-in ones>"),
    ("def f(a, b=2):\n    return a\nprint(f)", "<function f(a, b=2)>"),
    ("f = lambda t, s='x': t\nprint(str(f))", "<function <lambda>(t, s='x')>"),
    ("print(grad(lambda t: t * t))", "<built-in grad(<lambda>)>"),
    ("print(record)", "<context record>"),
])
def test_a_function_prints_as_what_it_is(source, shown):
    assert printed(source) == [[shown]]


def test_help_of_functions_and_modules():
    assert printed("def f(a, b=2):\n    return a\nhelp(f)") == [
        ["<function f(a, b=2)>: a function of the program"]]
    (text,), = printed("import math\nhelp(math)")
    assert text.startswith("math: the module math; it has only its own members: acos,")
    (text,), = printed("help(grad(lambda t: t))")
    assert text == ("<built-in grad(<lambda>)>: the function grad() made; help(grad) says "
                    "what it computes")


# ------------------------------------------------------------- the REPL

def run_repl(*lines):
    out, err = io.StringIO(), io.StringIO()
    console = Console(file=out, width=100, color_system=None, highlight=False)
    session = repl.Repl(api.Options(), console=console, errors=err)
    status = repl.run_stream(session, [line + "\n" for line in lines])
    return status, out.getvalue(), err.getvalue()


ABS = "\n".join(help.lines(help.lookup("abs"))) + "\n"


@pytest.mark.parametrize("line", ["abs?", ":help abs", "help(abs)", "  abs ?", "np.abs?",
                                  ":h abs"])
def test_the_repl_shows_a_builtins_help(line):
    assert run_repl(line) == (0, ABS, "")


def test_the_repl_help_of_variables_and_commands():
    status, out, err = run_repl("import torch.nn.functional as nnf", "nnf.relu?",
                                "def f(a):", "    return a", "", "f?", "x = ones(2)", "x.abs?",
                                ":help :vars", "sum", "f")
    relu = "\n".join(help.lines(help.lookup("relu"))) + "\n"
    assert (status, err) == (0, "")
    assert out == (relu + "<function f(a)>: a function of the program\n" + ABS
                   + ":vars  variables: name, shape, dtype, tracked, has grad\n"
                   + "<built-in sum>\n<function f(a)>\n")


@pytest.mark.parametrize("line, report", [
    ("smu?", "<stdin>:1:1: error: no built-in 'smu'; did you mean 'sum'?\nsmu?\n^~~\n"),
    (":help smu", "<stdin>:1:7: error: no built-in 'smu'; did you mean 'sum'?\n"
                  ":help smu\n      ^~~\n"),
    (":help :vras", "<stdin>:1:7: error: unknown command ':vras'; did you mean ':vars'?\n"
                    ":help :vras\n      ^~~~~\n"),
    (":help a b", "<stdin>:1:7: error: usage: :help [NAME]\n:help a b\n      ^~~\n"),
])
def test_the_repl_points_at_an_unknown_name(line, report):
    assert run_repl(line) == (1, "", report)


def test_repl_help_without_a_name_says_how_to_ask_about_one():
    status, out, _ = run_repl(":help")
    assert status == 0
    assert "  sum?                   a built-in's signature, derivative and example\n" in out
    assert ":help [NAME]" in out


# ---------------------------------------------------------- the command

def test_gradcli_help_name():
    result = gradcli("help", "abs")
    assert (result.exit_code, result.stdout, result.stderr) == (0, ABS, "")


def test_the_readme_shows_a_real_help():
    readme = (DOCS.parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ gradcli help (\w+)\n(.*?)```", readme, re.S)
    assert block is not None
    result = gradcli("help", block[1])
    assert (result.exit_code, result.stdout) == (0, block[2])


def test_gradcli_help_of_an_unknown_name_suggests_one():
    result = gradcli("help", "smu")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", "gradcli: error: no built-in 'smu'; did you mean 'sum'?\n")


def test_gradcli_help_of_a_command_is_its_help():
    result = gradcli("help", "eval")
    assert result.exit_code == 0
    assert "Usage: gradcli eval [OPTIONS] [FILE]" in result.stdout
    result = gradcli("help", "grad")        # a built-in and a command
    assert result.stdout.startswith("grad(f, argnum=0)\n")
    assert result.stdout.endswith("\ngradcli: note: 'grad' is also a command: "
                                  "gradcli grad --help\n")


@pytest.mark.parametrize("width", [40, 80, 120])
def test_gradcli_help_lists_commands_and_builtins_within_the_width(width):
    result = gradcli("help", env={**PLAIN_ENV, "COLUMNS": str(width)})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "commands (gradcli COMMAND --help)"
    assert lines[1].startswith("  eval     Run a program")
    assert "elementwise" in lines and "  help" in lines
    assert all(len(line) <= width and line == line.rstrip() for line in lines)
    for name in ("clip/clamp", "concat/concatenate/cat", "record/train_mode", "print"):
        assert name in result.stdout


def test_columns_fill_rows_and_fit():
    from gradcli.render_help import columns
    assert columns(["a", "bb", "ccc", "d"], 9) == ["a    bb", "ccc  d"]
    assert columns(["a", "bb", "ccc", "d"], 1) == ["a", "bb", "ccc", "d"]


# --------------------------------------------------- small CLI conventions

def test_gradcli_alone_prints_its_help_and_succeeds():
    result = gradcli()
    assert result.exit_code == 0
    assert "Usage: gradcli [OPTIONS] COMMAND [ARGS]..." in result.stdout
    assert "help" in result.stdout


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_short_version(flag):
    result = gradcli(flag)
    assert (result.exit_code, result.stdout) == (0, f"gradcli {__version__}\n")


@pytest.mark.parametrize("command", ["", "eval", "grad", "check", "graph", "explain", "repl",
                                     "help"])
def test_help_examples_stand_on_their_own_lines_unwrapped(command):
    import typer.main
    from gradcli.cli import _examples_apart
    group = typer.main.get_command(app)
    documented = (group.commands[command] if command else group).help
    examples = _examples_apart(documented)[1]
    result = gradcli(*([command] if command else []), "--help",
                     env={**PLAIN_ENV, "COLUMNS": "40"})
    assert result.exit_code == 0
    lines = result.stdout.rstrip().splitlines()
    assert examples and lines[-len(examples) - 1:] == [" Example:"] + [
        "   " + example for example in examples]
    assert "Example:" not in "".join(lines[:-len(examples) - 1])


def test_help_paragraphs_are_reflowed():
    result = gradcli("eval", "--help", env={**PLAIN_ENV, "COLUMNS": "200"})
    assert (" After the run, if any backward ran, one table lists every variable with a "
            "gradient (name, shape, value, gradient).") in result.stdout
