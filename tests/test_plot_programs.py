"""Plots from programs (issue 15 item 2): `plot()`, `scatter()` and D2L's
`d2l.plot`, `d2l.plt`, `d2l.set_figsize` gathered by the language
(lang/plots.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gradcli import api
from gradcli.errors import EvalError

ROOT = Path(__file__).resolve().parents[1]
D2L = "from d2l import torch as d2l\nx = arange(4)\n"


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
