"""Plots from programs (issue 15 item 2): `plot()`, `scatter()` and D2L's
`d2l.plot`, `d2l.plt`, `d2l.set_figsize` gathered by the language
(lang/plots.py), and where `eval` and the REPL put them: the terminal,
--plots DIR, --json, or a note; the REPL's `:plot` (item 4); sample 13's
plots; the README's plot."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pexpect
import pytest
from rich.console import Console
from typer.testing import CliRunner

from gradcli import api, repl
from gradcli.cli import app
from gradcli.errors import EvalError

ROOT = Path(__file__).resolve().parents[1]
ENV = {"COLUMNS": "80", "LINES": "24", "NO_COLOR": None, "FORCE_COLOR": None, "TERM": None}
D2L = "from d2l import torch as d2l\nx = arange(4)\n"


def gradcli(*args, env=None, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], env={**ENV, **(env or {})},
                              input=input)


def drawn(source, inputs=None):
    """The figures a program hands to its host, and the run's warnings."""
    result = api.run(api.load(source), inputs)
    return result.plots, result.warnings


def series(figure):
    return [(s.kind, s.label, s.x.tolist(), s.y.tolist()) for s in figure.series]


# ------------------------------------------------------------ the built-ins

def test_plot_of_one_series_and_of_several():
    (one, several, alone), warnings = drawn(
        "x = arange(3)\nplot(x, x * x)\n"
        "plot(x, [x, 2 * x], xlabel='x', ylabel='y', legend=['a', 'b'], title='t')\n"
        "plot([3, 1, 2])\n")
    assert series(one) == [("line", None, [0, 1, 2], [0, 1, 4])]
    assert series(several) == [("line", "a", [0, 1, 2], [0, 1, 2]),
                               ("line", "b", [0, 1, 2], [0, 2, 4])]
    assert (several.xlabel, several.ylabel, several.title, several.kind) == ("x", "y", "t", "line")
    assert series(alone) == [("line", None, [0, 1, 2], [3, 1, 2])]   # against 0, 1, 2
    assert warnings == []


def test_the_rows_of_a_2d_array_are_series_and_a_column_is_one():
    (rows, column), _ = drawn("plot(arange(3), ones((2, 3)))\nplot(arange(3), ones((3, 1)))\n")
    assert len(rows.series) == 2 and len(column.series) == 1


def test_scatter_with_its_size_and_options():
    (figure,), _ = drawn("scatter(arange(3), [1, 0, 1], 5, label='p', xlim=(0, 4), "
                         "yscale='log', color='red')")
    (s,) = figure.series
    assert (s.kind, s.label, s.size, figure.xlim, figure.yscale) == ("scatter", "p", 5.0,
                                                                     (0.0, 4.0), "log")


def test_plotting_records_nothing_and_keeps_gradients():
    source = ("x = arange(3)\nx.attach_grad()\nwith record:\n    y = x * x\n"
              "plot(x, [y, x])\ny.backward()\nplot(x, [y, x.grad])\nprint(x.grad)\n")
    result = api.run(api.load(source))
    assert [s.y.tolist() for s in result.plots[1].series] == [[0, 1, 4], [0, 2, 4]]
    assert result.printed[0][0].value.tolist() == [0, 2, 4]
    assert all(type(s.y) is np.ndarray and s.y.dtype == np.float64
               for figure in result.plots for s in figure.series)


@pytest.mark.parametrize("source, message", [
    ("plot([1, 2], [1])", "plot(): x has 2 values but y has 1"),
    ("plot('a')", "plot(): y must be numbers (an array or a list), not a string"),
    ("plot([1, 2], xlabel=3)", "plot(): xlabel must be a string, not a scalar"),
    ("plot([1, 2], fmts=['zz'])", "plot(): fmts: 'zz' is not a format string"),
    ("plot([1, 2], xscale='symlog')", "plot(): xscale must be 'linear' or 'log'"),
    ("plot([1, 2], xlim=(1, 1))", "plot(): xlim must be two different finite numbers"),
    ("plot([1, 2], figsize=(100, 1))", "figsize must be (width, height) in inches"),
    ("plot([1, 2], colour='red')", "plot() got an unexpected keyword argument 'colour'"),
    ("scatter([1, 2], [1, 2], -1)", "scatter(): s must be one positive number"),
    ("plot(ones((2, 2, 2)))", "plot(): y must be one series (1-d) or several"),
])
def test_a_wrong_argument_is_the_programs_error(source, message):
    with pytest.raises(EvalError, match=re.escape(message)):
        drawn(source)


# ------------------------------------------------------------------- D2L

def test_d2l_plot_takes_the_books_arguments():
    (figure,), _ = drawn(D2L + "d2l.plot(x, [x * x, 2 * x - 3], 'x', 'f(x)', "
                               "legend=['f(x)', 'Tangent line (x=1)'])\n")
    assert (figure.xlabel, figure.ylabel) == ("x", "f(x)")
    assert [(s.label, s.style) for s in figure.series] == [("f(x)", "-"),
                                                          ("Tangent line (x=1)", "m--")]


def test_d2l_plt_dresses_one_figure_until_it_is_shown():
    (first, second), warnings = drawn(
        D2L + "d2l.set_figsize((6, 4))\n"
        "d2l.plt.scatter(x, x + 1, 1)\n"
        "d2l.plt.plot(x, x, 'r--', label='line')\n"
        "d2l.plt.xlabel('features')\nd2l.plt.gca().set_ylabel('labels')\n"
        "d2l.plt.axhline(y=0.5, color='black')\nd2l.plt.legend()\nd2l.plt.grid()\n"
        "d2l.plt.show()\n"
        "for i in range(2):\n    d2l.plt.plot(x * i, label=f'P({i})')\n"
        "d2l.plt.hist(x)\nd2l.plt.hist(x)\n")
    assert [(s.kind, s.label, s.style) for s in first.series] == [
        ("scatter", None, None), ("line", "line", "r--")]
    assert (first.xlabel, first.ylabel, first.hlines, first.figsize) == (
        "features", "labels", [0.5], (6.0, 4.0))
    assert [s.label for s in second.series] == ["P(0)", "P(1)"]    # shown when the run ends
    assert warnings == ["d2l.plt.hist is not drawn by gradcli: the call is accepted and skipped"]


def test_a_print_shows_the_figure_being_dressed_first():
    order = []
    api.run(api.load(D2L + "d2l.plt.plot(x)\nprint(1)\nd2l.plt.plot(x)\nplot(x)\nprint(2)\n"),
            on_print=lambda shown: order.append("print"),
            on_plot=lambda figure: order.append("plot"))
    assert order == ["plot", "print", "plot", "plot", "print"]


def test_what_was_drawn_before_an_error_is_kept():
    seen = []
    with pytest.raises(EvalError):
        api.run(api.load(D2L + "d2l.plt.plot(x)\nones(2) @ ones(3)\n"), on_plot=seen.append)
    assert len(seen) == 1


def test_the_d2l_program_draws_its_data_set():
    path = ROOT / "tests/programs/d2l/d2l_linear_regression_torch.ag"
    (figure,), warnings = drawn(path.read_text())
    assert figure.kind == "scatter" and figure.points == 1000 and figure.figsize == (3.5, 2.5)
    assert warnings == []


def test_a_run_that_plots_leaves_no_reference_cycle():
    # The interpreter's print once held the interpreter: every run's arrays
    # then waited for the cyclic collector (test_api.py).
    import gc
    program = api.load("x = arange(3)\nplot(x)\nscatter(x, x)\n")
    api.run(program)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        api.run(program)
        found = gc.collect()
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found == 0


def test_d2l_plt_holds_no_reference_cycle():
    # (A program importing d2l has one already, its helpers holding their
    # scope; so d2l.plt's own objects are checked alone.)
    import gc
    from gradcli.core.tensor import Tensor
    from gradcli.lang import modules, plots
    figures: list = []
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        pyplot = plots.Pyplot(figures.append)
        plt = plots.d2l_members(pyplot)["plt"]
        x = Tensor(np.arange(3.0))
        modules.member(plt, "plot")(x, x, label="a")
        modules.member(modules.member(plt, "gca")(), "set_xlabel")("x")
        modules.member(plt, "show")()
        del pyplot, plt, x
        found = gc.collect()
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert len(figures) == 1 and figures[0].xlabel == "x"
    assert found == 0


# ------------------------------------------------------------------ eval

PLOTS = "x = arange(3)\nprint(1)\nplot(x, x * x, title='sq')\nscatter(x, x)\nprint(2)\n"


def test_off_a_terminal_plots_are_notes_on_stderr_and_stdout_is_unchanged():
    plain = gradcli("eval", "-e", "x = arange(3)\nprint(1)\nprint(2)\n")
    result = gradcli("eval", "-e", PLOTS)
    assert result.exit_code == 0
    assert result.stdout == plain.stdout == "1\n2\n"
    assert result.stderr == (
        "gradcli: note: plot 1 (line, 1 series, 3 points) not drawn: stdout is not a "
        "terminal; --plots DIR writes it to a file\n"
        "gradcli: note: plot 2 (scatter, 1 series, 3 points) not drawn: stdout is not a "
        "terminal; --plots DIR writes it to a file\n")


def test_plots_dir_gets_numbered_files(tmp_path):
    folder = tmp_path / "made" / "plots"
    result = gradcli("eval", "-e", PLOTS, "--plots", folder, input='{}\n{}\n')
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "1\n2\n\n1\n2\n"
    assert sorted(p.name for p in folder.iterdir()) == [f"plot-00{i}.png" for i in (1, 2, 3, 4)]
    assert result.stderr.splitlines()[0] == (f"gradcli: note: plot 1 (line, 1 series, "
                                             f"3 points) written to {folder}/plot-001.png")
    assert (folder / "plot-001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = gradcli("eval", "-e", PLOTS, "--plots", tmp_path / "s", "--plot-format", "svg")
    assert svg.exit_code == 0
    assert ">sq</text>" in (tmp_path / "s" / "plot-001.svg").read_text()


def test_json_carries_the_plotted_numbers(tmp_path):
    result = gradcli("eval", "--json", "-e", PLOTS)
    obj = json.loads(result.stdout)
    assert list(obj) == ["printed", "plots", "variables", "grads"]
    assert obj["plots"] == [
        {"kind": "line", "title": "sq", "xlabel": None, "ylabel": None,
         "series": [{"kind": "line", "label": None, "x": [0.0, 1.0, 2.0],
                     "y": [0.0, 1.0, 4.0]}]},
        {"kind": "scatter", "title": None, "xlabel": None, "ylabel": None,
         "series": [{"kind": "scatter", "label": None, "x": [0.0, 1.0, 2.0],
                     "y": [0.0, 1.0, 2.0]}]}]
    assert result.stderr == ""
    assert "plots" not in json.loads(gradcli("eval", "--json", "-e", "print(1)").stdout)
    with_files = gradcli("eval", "--json", "-e", PLOTS, "--plots", tmp_path)
    assert [p["file"] for p in json.loads(with_files.stdout)["plots"]] == [
        f"{tmp_path}/plot-001.png", f"{tmp_path}/plot-002.png"]


def test_a_failed_json_run_keeps_its_plots():
    result = gradcli("eval", "--json", "-e", "plot([1, 2])\nones(2) @ ones(3)\n")
    obj = json.loads(result.stdout)
    assert result.exit_code == 1 and len(obj["plots"]) == 1 and "error" in obj


def test_plot_options_are_checked(monkeypatch, tmp_path):
    result = gradcli("eval", "-e", PLOTS, "--plot-format", "svg")
    assert result.exit_code == 2 and "--plot-format chooses the files of --plots" in result.stderr
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    result = gradcli("eval", "-e", PLOTS, "--plots", tmp_path)
    assert result.exit_code == 1 and "pip install 'gradcli[images]'" in result.stderr


SCRIPT = shutil.which("gradcli", path=str(Path(sys.executable).parent))
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def test_on_a_terminal_eval_draws_as_the_program_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env.update(COLUMNS="60", LINES="24", TERM="xterm")
    child = pexpect.spawn(SCRIPT, ["eval", "-e", PLOTS], env=env, encoding="utf-8",
                          timeout=30, dimensions=(24, 60))
    child.expect(pexpect.EOF)
    child.close()
    lines = ESCAPES.sub("", child.before).splitlines()
    assert child.exitstatus == 0
    assert lines[0] == "1" and lines[-1] == "2"
    # Two plots of (24 - 4) / 2 lines each, the first titled, between the prints.
    assert len(lines) == 2 + 2 * 10 and lines[1].strip() == "sq"
    assert re.search(r"\x1b\[(3[0-7]|38;)", child.before)    # in colour on a terminal


# ------------------------------------------------------------------ REPL

def make_repl():
    out, err = io.StringIO(), io.StringIO()
    console = Console(file=out, width=100, color_system=None, highlight=False)
    return repl.Repl(api.Options(), console=console, errors=err), out, err


def test_repl_plot_varies_the_undefined_name(monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.setenv("LINES", "24")
    session, out, err = make_repl()
    assert repl.run_stream(session, ["w = 2\n", ":plot w * t ** 2 - 3 * t -1:2\n"]) == 0, \
        err.getvalue()
    lines = out.getvalue().splitlines()
    assert len(lines) == 20 + 2 and max(len(line) for line in lines) <= 70
    assert lines[0].strip() == "w * t ** 2 - 3 * t"
    assert lines[-2:] == ["▚ f(t)   ⢕ f′(t)   ● f′(t) = 0", "f′(t) = 0 at t ≈ 0.75"]
    assert "t" not in session.session.names() and session.session.names() == ["w"]


def test_repl_plot_takes_x_by_convention_and_puts_it_back():
    session, out, err = make_repl()
    session.execute("x = 3.0\nattach_grad(x)")
    assert session.execute(":plot x * x") and "f′(x) = 0 at x ≈ 0" in out.getvalue()
    value = session.session.interp.globals.vars["x"]
    assert float(value.data) == 3.0 and value.requires_grad


@pytest.mark.parametrize("line, message", [
    (":plot", "<input>:1:6: error: usage: :plot EXPR [A:B]"),
    (":plot sin(x) 3:1", "<input>:1:14: error: the range goes from the smaller number"),
    (":plot a + b", "<input>:1:7: error: :plot varies one name, but 'a', 'b' are not defined"),
    (":plot sin(x, 2)", "<input>:1:7: error: sin(): takes 1 positional argument"),
    (":plot x +", "<input>:1:10: error: expected an expression after '+'"),
    (":plot x * ones(2)", "<input>:1:7: error: plot draws a function whose value is a single"),
])
def test_repl_plot_errors_point_into_the_line(line, message):
    session, out, err = make_repl()
    assert not session.execute(line)
    assert err.getvalue().startswith(message)


def test_repl_plot_is_in_help_and_completes():
    session, out, err = make_repl()
    session.execute(":help")
    assert ":plot EXPR [A:B]" in out.getvalue()
    assert session.completions(":pl") == [":plot"]
    assert "sin" in session.completions(":plot si")


def test_a_plot_drawn_by_repl_code_is_noted_off_a_terminal():
    session, out, err = make_repl()
    session.execute("plot(arange(3))")
    assert err.getvalue() == ("gradcli: note: plot not drawn: stdout is not a terminal "
                              "(line, 3 points)\n")


# ------------------------------------------------------ samples and README

def test_sample_13_plots_its_data_set_and_its_loss():
    path = ROOT / "samples" / "13_linear_regression.ag"
    (data, loss), warnings = drawn(path.read_text())
    assert (data.kind, data.points, data.series[0].size) == ("scatter", 1000, 1.0)
    assert (loss.kind, loss.series[0].x.tolist(), loss.yscale) == ("line", [1, 2, 3], "log")
    assert loss.series[0].y[-1] < 1e-4


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_readme_shows_what_plot_prints(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Plotting a function and its derivative", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    command, shown = block.split("\n", 1)
    assert command.startswith("$ COLUMNS=72 LINES=22 gradcli plot ")
    result = gradcli(*shlex.split(command.split(" gradcli ", 1)[1]),
                     env={"COLUMNS": "72", "LINES": "22"})
    assert result.stdout == shown
    png = re.search(r"\]\((docs/[\w.]+\.png)\)", section)[1]
    made = re.search(r"`gradcli (plot [^`]+--out) " + re.escape(png) + "`", section)
    assert made is not None, "the command that made the PNG stands beside it"
    again = gradcli(*shlex.split(made[1]), tmp_path / "again.png")
    assert again.exit_code == 0, again.stderr
    assert png_size((tmp_path / "again.png").read_bytes()) == png_size((ROOT / png).read_bytes())
