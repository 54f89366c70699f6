"""`gradcli plot` (SPEC 4; issue 15 item 1): sampling a function of one
input and its derivatives (gradcli/plotting.py), the terminal form and the
PNG and SVG files (gradcli/draw.py), and the command's options, JSON and
errors. Files are checked by their content, not by eye: the PNG's signature,
size and the colours of its pixels, the SVG's paths and texts."""

from __future__ import annotations

import json
import math
import re
import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from typer.testing import CliRunner

from gradcli import api, draw, plotting
from gradcli.cli import app
from gradcli.errors import DataError, EvalError, ShapeError
from gradcli.lang.plots import Figure, Series

SIN_X = "input x = 0.5\nsin(x) * x\n"
# tan(x) = -x: where the derivative of x·sin(x) is 0, besides x = 0.
ROOT_OF_TAN = 2.028757838110434
ENV = {"COLUMNS": "80", "LINES": "24", "NO_COLOR": None, "FORCE_COLOR": None, "TERM": None}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def gradcli(*args, env=None, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], env={**ENV, **(env or {})},
                              input=input)


def curve(source, **options):
    return plotting.program_curve(api.load(source), **options)


# ---------------------------------------------------------------- sampling

def test_the_function_and_its_derivatives_over_the_range():
    c = curve(SIN_X, span=(-3, 3), points=101, second=True)
    x = np.linspace(-3, 3, 101)
    np.testing.assert_allclose(c.x, x)
    np.testing.assert_allclose(c.f, np.sin(x) * x)
    np.testing.assert_allclose(c.df, np.sin(x) + x * np.cos(x))
    np.testing.assert_allclose(c.d2f, 2 * np.cos(x) - x * np.sin(x))
    np.testing.assert_allclose(c.zeros, [-ROOT_OF_TAN, 0, ROOT_OF_TAN], atol=1e-9)
    assert (c.name, c.label, c.failures) == ("x", "f", 0)


def test_the_default_range_is_minus_5_to_5_or_around_the_input():
    assert curve(SIN_X).span == (-5, 5)
    assert len(curve(SIN_X).x) == plotting.DEFAULT_POINTS == 200
    assert curve("input t = 100\nlog(t)").span == (95, 105)


def test_zeros_are_sign_changes_located_between_the_samples():
    assert curve("input x = 1\nx * x").zeros == [0.0]                     # by interpolation
    assert curve("input x = 1\nx * x", points=201).zeros == [0.0]         # a sample on it
    np.testing.assert_allclose(curve("input x = 1\nabs(x - 0.3)").zeros, [0.3], atol=1e-9)
    assert curve("input x = 1\nx ** 3").zeros == []     # f′ = 3x² touches 0, never crosses
    assert curve("input x = 1\n1 / x ** 2").zeros == []  # f′ changes sign at a pole
    assert len(curve("input x = 1\nsin(10 * x)").zeros) == 32


def test_zeros_of_a_sampled_derivative_skip_gaps_and_take_runs_of_zeros():
    xs = np.arange(8.0)
    never = lambda v: pytest.fail("not asked")        # noqa: E731
    assert plotting.zeros_of(xs, np.array([-1, 0, 0, 0, 1, 2, np.nan, -1.0]), never) == [2.0]
    assert plotting.zeros_of(xs, np.array([1, 1, np.nan, -1, -1, 0, -1, -1.0]), never) == []
    found = plotting.zeros_of(xs[:2], np.array([-1.0, 3.0]), lambda v: 4 * v - 1)
    np.testing.assert_allclose(found, [0.25])


def test_non_finite_points_are_gaps_and_counted():
    c = curve("input x = 1\nlog(x)", span=(-2, 2), points=40)
    assert np.isnan(c.f[:20]).all() and np.isfinite(c.f[20:]).all()
    assert plotting.notes(c)[1] == "not finite (gaps): f(x) at 20 of 40 points"


def test_a_point_where_the_program_fails_is_a_gap():
    source = ("input x = 1\nif x > 0:\n    y = x * x\nelse:\n    y = ones(2) @ ones(3)\ny\n")
    c = curve(source, span=(-1, 1), points=20)
    assert c.failures == 10 and np.isnan(c.f[:10]).all()
    assert plotting.notes(c)[-1].startswith(
        "the program failed at 10 of 20 points (gaps), first at x = -1: '@': shapes")
    with pytest.raises(EvalError, match="fails at every point of the range"):
        curve(source, span=(-2, -1), points=5)


def test_the_variable_is_the_one_single_number_input_or_wrt():
    both = "input X = [[1, 2], [3, 4]]\ninput w = 0.5\nsum(X) * w ** 2\n"
    c = curve(both, span=(0, 1), points=3)
    assert c.name == "w"
    np.testing.assert_allclose(c.f, [0, 2.5, 10])
    two = "input a = 1\ninput b = 2\na * b\n"
    with pytest.raises(DataError, match=r"2 single-number inputs \('a', 'b'\): choose the "
                                        "one to vary with --wrt"):
        curve(two)
    c = curve(two, wrt=["b"], span=(0, 1), points=2)
    np.testing.assert_allclose(c.df, [1, 1])            # d(a·b)/db with a at its value
    c = plotting.program_curve(api.load("a * b"), {"a": 3, "b": 2}, wrt=["a"], points=2)
    np.testing.assert_allclose(c.df, [2, 2])            # -e with --set: given values


@pytest.mark.parametrize("source, wrt, error, message", [
    ("input x = [1, 2]\nsum(x)", None, ShapeError,
     "plot varies a single number, but input 'x' has shape (2,)"),
    ("input x = 1\nx * ones(3)", None, ShapeError,
     "plot draws a function whose value is a single number, but the result has shape (3,)"),
    ("y = 2\ny", None, DataError, "the program has none: declare one"),
    ("input x = 1\ny = x", None, EvalError, "end the program with the value"),
    ("input x = 1\ninput m = x > 0\nx", ["m"], DataError, "input 'm' holds booleans"),
    ("input x = 1\nx", ["y"], DataError, "--wrt: 'y' is not an input of the program"),
    ("input x = 1\ninput y = 1\nx", ["x", "y"], DataError, "plot varies one input"),
])
def test_what_plot_needs_is_said(source, wrt, error, message):
    with pytest.raises(error, match=re.escape(message)):
        curve(source, wrt=wrt)


@pytest.mark.parametrize("text, span", [("-3:3", (-3, 3)), ("1e-3:2", (0.001, 2)),
                                        (" 0 : 1 ", (0, 1))])
def test_a_range_is_two_numbers(text, span):
    assert plotting.parse_range(text) == span


@pytest.mark.parametrize("text", ["3:1", "1:1", "a:b", "1", "inf:2", "1:nan", ":"])
def test_a_bad_range_is_refused(text):
    with pytest.raises(plotting.RangeProblem):
        plotting.parse_range(text)


# ---------------------------------------------------------------- terminal

def lines_of(text):
    return ANSI.sub("", text).splitlines()


def test_the_terminal_form_at_a_fixed_size():
    result = gradcli("plot", "-e", "input x = 0.5; sin(x) * x", "--range", "-3:3")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out                             # stdout is not a terminal
    lines = out.splitlines()
    # the plot (24 - 4 lines), the legend, the zeros
    assert len(lines) == 22 and max(len(line) for line in lines) <= 80
    assert lines[0].strip() == "sin(x) * x"              # the result's text is the title
    assert lines[-2] == "▚ f(x)   ⢕ f′(x)   ● f′(x) = 0"
    assert lines[-1] == "f′(x) = 0 at x ≈ -2.029, 0, 2.029"
    assert lines[-3].strip() == "x"                      # the axis label
    assert lines[-4].split() == ["-3", "-2", "-1", "0", "1", "2", "3"]
    assert sum(line.count("●") for line in lines[:-2]) == 3    # the zeros, drawn


def test_the_terminal_form_follows_columns_and_lines():
    result = gradcli("plot", "-e", "input x = 0.5; x * x", env={"COLUMNS": "50", "LINES": "40"})
    lines = result.stdout.splitlines()
    assert len(lines) == 30 + 2 and max(len(line) for line in lines) <= 50


def test_each_curve_has_its_own_marker_and_colour():
    figure = plotting.figure(curve(SIN_X, second=True), "t")
    text = draw.terminal(figure, 80, 20)
    plain = "\n".join(lines_of(text))
    assert "▚" in plain and "⢕" in plain and "•" in plain       # f, f′, f″ without colour
    colours = set(re.findall(r"\x1b\[38;5;(\d+)m", text))
    assert {"4", "1", "2", "5"} <= colours                      # and in colour
    assert lines_of(text)[-2] == "▚ f(x)   ⢕ f′(x)   • f″(x)   ● f′(x) = 0"


def test_non_finite_and_huge_values_do_not_reach_plotext():
    x = np.linspace(-1, 1, 50)
    y = np.where(np.abs(x) < 0.2, np.nan, 1 / x)
    y[3], y[5] = np.inf, 1e308
    figure = Figure([Series("line", x, y, "1/x"), Series("scatter", x, np.full(50, np.nan))])
    lines = lines_of(draw.terminal(figure, 60, 12))
    assert len(lines) == 13 and lines[-1] == "▚ 1/x"
    empty = Figure([Series("line", x, np.full(50, np.nan))], notes=["n"])
    assert draw.terminal(empty, 60, 12) == "(nothing to draw: the figure has no finite points)\nn\n"


def test_a_line_is_cut_to_the_limits_before_plotext_sees_it():
    x, y = np.array([-2.0, 0.5, 0.7, 3.0, 0.2, 0.3]), np.array([0.5, 0.5, 0.6, 0.5, 0.5, 0.5])
    pieces = [(xs.tolist(), ys.tolist()) for xs, ys in draw._clipped(x, y, (0, 1, 0, 1))]
    assert pieces == [([0, 0.5, 0.7, 1], [0.5, 0.5, 0.6, pytest.approx(0.5869565)]),
                      ([1, pytest.approx(0.2), 0.3], [0.5, 0.5, 0.5])]
    # Given whole, a segment reaching 1e110 past the limits makes plotext
    # ask for more memory than there is and abort the process: so in one
    # of its own.
    import subprocess
    probe = ("import numpy as np\nfrom gradcli import draw\nfrom gradcli.lang.plots import "
             "Figure, Series\nfigure = Figure([Series('line', np.array([-1e110, 1e110]), "
             "np.array([1e15, 0.0]), 'far')], xlim=(0, 1), hlines=[1e200], vlines=[5.0])\n"
             "print(draw.terminal(figure, 40, 8).splitlines()[-1])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "\x1b[38;5;4m▚\x1b[0m far\n")


def test_a_failure_of_plotexts_arithmetic_is_said_and_the_run_goes_on(monkeypatch):
    import plotext
    def broken():
        raise ValueError("cannot convert float NaN to integer")
    monkeypatch.setattr(plotext.figure, "build", broken)
    figure = Figure([Series("line", np.arange(3.0), np.arange(3.0), "a")], notes=["n"])
    assert lines_of(draw.terminal(figure, 40, 8)) == [
        "(the terminal cannot draw these numbers: cannot convert float NaN to integer)",
        "▚ a", "n"]


def test_a_long_series_is_thinned_for_the_terminal():
    x = np.linspace(0, 10, 200_000)
    figure = Figure([Series("line", x, np.sin(x), "sin"), Series("scatter", x, np.cos(x))])
    assert len(lines_of(draw.terminal(figure, 80, 15))) == 16
    kept, _ = draw._thinned_line(x, np.sin(x), 80)
    assert len(kept) <= 2 * 4 * 80 and kept[0] == 0 and kept[-1] == 10


def test_control_characters_from_the_program_are_shown_escaped():
    result = gradcli("plot", "-e", "input x = 1\nx * x", "--of", "x")
    assert result.exit_code == 0
    figure = Figure([Series("line", np.arange(3.0), np.arange(3.0), "a\x1b[2Jb")],
                    title="t\x07")
    text = draw.terminal(figure, 40, 10)
    assert "\x1b[2J" not in text and "\x07" not in text and "a\\x1b[2Jb" in text


# ------------------------------------------------------------------- files

def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pixels_near(path, colour, tolerance=40) -> int:
    from PIL import Image
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return int(np.sum(np.abs(rgb - np.array(colour)).sum(axis=2) < tolerance))


BLUE, ORANGE, GREEN = (31, 119, 180), (255, 127, 14), (44, 160, 44)     # matplotlib's C0-C2


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    results = {}
    for name, extra in (("f.png", []), ("f.svg", []), ("second.png", ["--second"]),
                        ("second.svg", ["--second"])):
        results[name] = gradcli("plot", "-e", SIN_X, "--out", folder / name, *extra)
    return folder, results


def test_png_has_its_size_and_both_curves_colours(drawn):
    folder, results = drawn
    assert results["f.png"].exit_code == 0, results["f.png"].stderr
    assert results["f.png"].stdout == ("f′(x) = 0 at x ≈ -4.913, -2.029, 0, 2.029, 4.913\n"
                                       f"plot written to {folder / 'f.png'}\n")
    assert png_size((folder / "f.png").read_bytes()) == (640, 400)
    assert pixels_near(folder / "f.png", BLUE) > 500
    assert pixels_near(folder / "f.png", ORANGE) > 500
    assert pixels_near(folder / "f.png", GREEN) < 20
    assert pixels_near(folder / "second.png", GREEN) > 500      # --second: a third curve


def svg_strokes(path) -> dict:
    """{stroke colour: number of line paths drawn in it}."""
    counts: dict = {}
    for path_element in ET.parse(path).iter("{http://www.w3.org/2000/svg}path"):
        found = re.search(r"stroke: (#[0-9a-f]{6})", path_element.get("style", ""))
        if found:
            counts[found[1]] = counts.get(found[1], 0) + 1
    return counts


def svg_texts(path) -> list[str]:
    return [t.text for t in ET.parse(path).iter("{http://www.w3.org/2000/svg}text")]


def test_svg_has_a_path_per_curve_and_its_labels(drawn):
    folder, _ = drawn
    strokes = svg_strokes(folder / "f.svg")
    assert strokes["#1f77b4"] == strokes["#ff7f0e"] == 2        # each curve and its legend line
    assert "#2ca02c" not in strokes
    assert strokes["#8c8c8c"] == 1 + 5                          # y = 0 and a line per zero
    texts = svg_texts(folder / "f.svg")
    assert {"sin(x) * x", "x", "f(x)", "f′(x)", "f′(x) = 0",
            "f′(x) = 0 at x ≈ -4.913, -2.029, 0, 2.029, 4.913"} <= set(texts)
    assert svg_strokes(folder / "second.svg")["#2ca02c"] == 2
    assert "f″(x)" in svg_texts(folder / "second.svg")


def test_the_same_svg_each_time(drawn, tmp_path):
    folder, _ = drawn
    gradcli("plot", "-e", SIN_X, "--out", tmp_path / "again.svg")
    assert (tmp_path / "again.svg").read_bytes() == (folder / "f.svg").read_bytes()


def test_numbers_past_1e300_are_gaps_in_a_file_and_a_failure_is_an_error(tmp_path, monkeypatch):
    figure = Figure([Series("line", np.arange(3.0), np.array([1e308, -1e308, 1.0]), "big")],
                    vlines=[1e308])
    draw.save(figure, str(tmp_path / "big.png"), "png")
    assert png_size((tmp_path / "big.png").read_bytes()) == (640, 400)

    def overflowing(*args):
        raise ValueError("arange: cannot compute length")
    monkeypatch.setattr(draw, "_save", overflowing)
    result = gradcli("plot", "-e", SIN_X, "--out", tmp_path / "f.png")
    assert result.exit_code == 1
    assert result.stderr == ("gradcli: error: the numbers of this figure cannot be drawn into "
                             "a file: arange: cannot compute length\n")


def test_a_file_needs_png_or_svg(tmp_path):
    result = gradcli("plot", "-e", SIN_X, "--out", tmp_path / "f.jpg")
    assert result.exit_code == 2
    assert "the file must end in .png or .svg" in result.stderr


def test_a_file_that_cannot_be_written(tmp_path):
    result = gradcli("plot", "-e", SIN_X, "--out", tmp_path / "missing" / "f.png")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"gradcli: error: cannot write '{tmp_path}/missing/f.png'")


def test_without_matplotlib_files_say_what_to_install(tmp_path, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    result = gradcli("plot", "-e", SIN_X, "--out", tmp_path / "f.png")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("gradcli: error: drawing PNG or SVG files needs matplotlib, "
                             "which is not installed: pip install 'gradcli[images]'\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # found, but not importable
    with pytest.raises(draw.ImagesMissing):
        draw.save(Figure([Series("line", np.arange(2.0), np.arange(2.0))]), "f.png", "png")


def test_the_terminal_needs_no_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = gradcli("plot", "-e", SIN_X)
    assert result.exit_code == 0 and "f′(x) = 0 at x ≈" in result.stdout


# ------------------------------------------------------------------ the CLI

def test_json_gives_the_samples_and_the_zeros():
    result = gradcli("plot", "-e", "input x = 1; log(x) * x", "--range", "-1:1", "--points",
                     "5", "--second", "--json")
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    assert list(obj) == ["wrt", "x", "f", "df", "d2f", "zeros_of_df"]
    assert obj["x"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert obj["f"][:3] == ["nan", "nan", "nan"]
    assert obj["df"][3] == pytest.approx(math.log(0.5) + 1)
    assert obj["d2f"][4] == pytest.approx(1.0)
    assert obj["zeros_of_df"] == []
    two = json.loads(gradcli("plot", "-e", SIN_X, "--json").stdout)
    assert two["zeros_of_df"] == pytest.approx([-4.913180439, -ROOT_OF_TAN, 0, ROOT_OF_TAN,
                                                4.913180439])


def test_json_with_a_file_names_it(tmp_path):
    result = gradcli("plot", "-e", SIN_X, "--points", "3", "--json", "--out", tmp_path / "f.svg")
    assert json.loads(result.stdout)["file"] == str(tmp_path / "f.svg")


@pytest.mark.parametrize("args, message", [
    (["--range", "3:1"], "the range goes from the smaller number to the larger"),
    (["--range", "a:b"], "expected A:B, two numbers such as -3:3"),
    (["--points", "1"], "--points"),
])
def test_usage_errors_exit_2(args, message):
    result = gradcli("plot", "-e", SIN_X, *args, env={"COLUMNS": "300"})   # no wrapping
    assert result.exit_code == 2
    assert message in result.stderr


def test_program_errors_exit_1_and_say_what_plot_needs(tmp_path):
    result = gradcli("plot", "-e", "input x = [1, 2]; sum(x * x)")
    assert result.exit_code == 1
    assert result.stderr.startswith("gradcli: error: plot varies a single number, but input "
                                    "'x' has shape (2,)")
    path = tmp_path / "p.ag"
    path.write_text("input x = 1\nx * ones(2)\n")
    result = gradcli("plot", path)
    assert result.exit_code == 1 and "the result has shape (2,)" in result.stderr


def test_of_names_the_function_and_a_file_titles_it(tmp_path):
    path = tmp_path / "loss.ag"
    path.write_text("input w = 1\nloss = (w - 2) ** 2\nprint(loss)\n")
    result = gradcli("plot", path, "--of", "loss")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "loss"
    assert lines[-2:] == ["▚ loss(w)   ⢕ loss′(w)   ● loss′(w) = 0", "loss′(w) = 0 at w ≈ 2"]


def test_stdin_inputs_run_one_plot_each():
    result = gradcli("plot", "-e", "input a = 1; input x = 0; a * x * x", "--wrt", "x",
                     "--points", "3", "--json", input='{"a": 1}\n{"a": 2}\n')
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["f"] for row in rows] == [[25.0, 0.0, 25.0], [50.0, 0.0, 50.0]]


def test_help_has_an_example_and_names_the_extra():
    for command in ("plot", "eval"):
        result = gradcli(command, "--help", env={"COLUMNS": "300"})
        assert result.exit_code == 0
        assert "Example:" in result.stdout and "pip install 'gradcli[images]'" in result.stdout


def test_other_commands_do_not_load_the_plotting_libraries():
    # Start-up time of every other command stays as it was: plotext and
    # matplotlib load when something is drawn.
    import subprocess
    probe = ("import sys\nfrom gradcli.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('plotext', 'matplotlib') if m in sys.modules))\n")
    for args in (["--version"], ["eval", "-e", "print(1)"], ["plot", "--help"]):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, check=True, stdin=subprocess.DEVNULL)
        assert done.stdout.splitlines()[-1] == "[]", args
