"""Figures (lang/plots.py) drawn: as text in the terminal, or into PNG and
SVG files.

The terminal form is plotext's (a required dependency, pure text): each
series has its own marker as well as its own colour, so a figure read
without colour (a pipe, NO_COLOR) still tells its curves apart, and the
legend and the figure's notes are lines under it. Files are matplotlib's,
an optional dependency (`pip install 'gradcli[images]'`). Both are
imported here, when something is drawn, never when gradcli starts.
plotext is given finite numbers only (a NaN would end the whole process
inside its compiled kernel): a line is split at its gaps, a long one
thinned to what the terminal can show, and what a figure's text takes from
the program is made printable first.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Optional

import numpy as np

from .lang.plots import Figure, Series
from .render import printable

IMAGE_FORMATS = ("png", "svg")
INSTALL_IMAGES = "pip install 'gradcli[images]'"

# Terminal: colours and markers, in the order series come; plotext's names.
COLOURS = ("blue", "red", "green", "magenta", "cyan", "orange")
ANSI = {"blue": 4, "red": 1, "green": 2, "magenta": 5, "cyan": 6, "orange": 3, "gray": 8}
LINE_MARKERS = ("hd", "braille", "dot", "+", "x", "*")
SCATTER_MARKERS = ("braille", "dot", "x", "+", "*", "hd")
ZERO_MARKER, ZERO_COLOUR = "●", "magenta"        # Series.marker == "zero": f′(x) = 0
GLYPHS = {"hd": "▚", "braille": "⢕", "dot": "•"}
MOST_POINTS = 4000          # per series drawn in the terminal; more are thinned
LARGEST = 1e300             # |values| past this are left out: plotext's ranges overflow

# Files.
SIZE = (6.4, 4.0)           # inches, when the program gave no figsize
DPI = 100
FEW_POINTS = 30             # a line of no more points marks each of them
_RC = {"svg.fonttype": "none",          # text stays text in SVG: labels can be found
       "svg.hashsalt": "gradcli",       # and the file is the same at each run
       "axes.grid": True, "grid.alpha": 0.3}


class DrawFailed(Exception):
    """matplotlib could not draw the figure's numbers."""


class ImagesMissing(Exception):
    """matplotlib, which drawing files needs, is not installed."""

    def __init__(self):
        super().__init__(f"drawing PNG or SVG files needs matplotlib, which is not installed: "
                         f"{INSTALL_IMAGES}")


# ---------------------------------------------------------------- terminal

def show(console, figure: Figure, share: int = 1) -> None:
    """Draw `figure` on a rich console, as wide as the terminal and
    1/`share` of its height (COLUMNS and LINES when set, else 80 by 24 off
    a terminal, where the console itself is made wider for tables)."""
    from rich.text import Text

    width, height = terminal_size(console)
    text = terminal(figure, width, max(8, min((height - 4) // share, 30)))
    console.print(Text.from_ansi(text.rstrip("\n")), soft_wrap=True)


def terminal_size(console) -> tuple[int, int]:
    def given(name: str, default: int) -> int:
        text = os.environ.get(name, "")
        return int(text) if text.isdigit() and int(text) > 0 else default
    if console.is_terminal:
        return given("COLUMNS", console.width), given("LINES", console.height)
    return given("COLUMNS", 80), given("LINES", 24)


def terminal(figure: Figure, width: int, height: int) -> str:
    """The figure as text `width` columns wide: the plot `height` lines
    tall, then its legend and notes. Colours are ANSI codes, which the
    caller's console keeps or drops (pipes, NO_COLOR)."""
    import plotext

    canvas = plotext.figure
    canvas.clear()
    canvas.theme("simple")          # no background: the terminal's own shows through
    canvas.plot_size(max(width, 20), max(height, 6))
    legend = []
    drawn = 0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            for i, series in enumerate(figure.series):
                marker, colour = _look(figure, i, series)
                drawn += _draw_series(plotext, canvas, figure, series, marker, colour, width)
                if series.label:
                    legend.append((GLYPHS.get(marker, marker), colour, printable(series.label)))
            if drawn:
                _dress(plotext, canvas, figure)
                text = canvas.build().string().rstrip("\n")
        except (ValueError, ArithmeticError) as exc:
            # plotext's own arithmetic fails on some ranges (a width of
            # 1e-204 beside heights of 1e162): say so, as the run goes on.
            text = f"(the terminal cannot draw these numbers: {exc})"
    if not drawn:
        text = "(nothing to draw: the figure has no finite points)"
    return "".join(line + "\n" for line in [text] + _legend(legend, width) + _notes(figure))


def _look(figure: Figure, index: int, series: Series) -> tuple[str, str]:
    """(marker, colour) of a series: its own kind's next marker and the next
    colour, counted over the series before it."""
    if series.marker == "zero":
        return ZERO_MARKER, ZERO_COLOUR
    same = sum(1 for s in figure.series[:index] if s.kind == series.kind and s.marker != "zero")
    markers = LINE_MARKERS if series.kind == "line" else SCATTER_MARKERS
    colours = sum(1 for s in figure.series[:index] if s.marker != "zero")
    return markers[same % len(markers)], COLOURS[colours % len(COLOURS)]


def _draw_series(plotext, canvas, figure: Figure, series: Series, marker: str, colour: str,
                 width: int) -> int:
    """Draw one series as plotext signals (a line, one per run of finite
    points); the number of points drawn."""
    x, y = _scaled(series.x, figure.xscale), _scaled(series.y, figure.yscale)
    usable = np.isfinite(x) & np.isfinite(y) & (np.abs(x) < LARGEST) & (np.abs(y) < LARGEST)
    look = plotext.marker(marker, pixel=plotext.pixel(colour))
    window = _window(figure)
    drawn = 0
    if series.kind == "scatter":
        x0, x1, y0, y1 = window
        usable &= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        x, y = _thinned_points(x[usable], y[usable])
        if len(x):
            canvas.draw(canvas.signal(x.tolist(), y.tolist(), marker=look))
        return len(x)
    for start, stop in _runs(usable):
        for xs, ys in _clipped(x[start:stop], y[start:stop], window):
            xs, ys = _thinned_line(xs, ys, width)
            signal = canvas.signal(xs.tolist(), ys.tolist(), marker=look)
            canvas.draw(signal.lines() if len(xs) > 1 else signal)
            drawn += len(xs)
    return drawn


def _window(figure: Figure) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the figure's limits, as drawn (log10 on a log
    axis); infinite where it has none."""
    edges = []
    for limits, scale in ((figure.xlim, figure.xscale), (figure.ylim, figure.yscale)):
        low, high = (-math.inf, math.inf) if limits is None else \
            _scaled(np.array(sorted(limits)), scale)
        edges += [-math.inf if np.isnan(low) else float(low),
                  math.inf if np.isnan(high) else float(high)]
    return tuple(edges)


def _clipped(x: np.ndarray, y: np.ndarray, window) -> list[tuple[np.ndarray, np.ndarray]]:
    """A line cut to the window (Liang-Barsky, segment by segment): the
    pieces inside it. plotext fills in every segment it is given, and one
    that reaches far past the limits would ask it for more memory than
    there is."""
    if len(x) < 2 or all(math.isinf(edge) for edge in window):
        return [(x, y)] if len(x) else []
    x0, x1, y0, y1 = window
    dx, dy = np.diff(x), np.diff(y)
    enter, leave = np.zeros(len(dx)), np.ones(len(dx))
    inside = np.ones(len(dx), dtype=bool)
    for start, step, low, high in ((x[:-1], dx, x0, x1), (y[:-1], dy, y0, y1)):
        still = step == 0
        inside &= ~still | ((start >= low) & (start <= high))
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (low - start) / step, (high - start) / step
        enter = np.where(still, enter, np.maximum(enter, np.minimum(a, b)))
        leave = np.where(still, leave, np.minimum(leave, np.maximum(a, b)))
    inside &= enter <= leave
    pieces: list[tuple[list, list]] = []
    joined = False                  # the last piece ends where this segment starts
    for i in np.flatnonzero(inside):
        begin = (x[i] + enter[i] * dx[i], y[i] + enter[i] * dy[i])
        end = (x[i] + leave[i] * dx[i], y[i] + leave[i] * dy[i])
        if not (joined and pieces and enter[i] == 0 and pieces[-1][2] == i):
            pieces.append(([begin[0]], [begin[1]], i))
        xs, ys, _ = pieces[-1]
        xs.append(end[0])
        ys.append(end[1])
        pieces[-1] = (xs, ys, i + 1 if leave[i] == 1 else -1)
        joined = leave[i] == 1
    return [(np.array(xs), np.array(ys)) for xs, ys, _ in pieces]


def _scaled(values: np.ndarray, scale: str) -> np.ndarray:
    """A log axis is drawn as the log10 of its values (its label says so):
    the points that have no logarithm drop out."""
    if scale != "log":
        return values
    with np.errstate(all="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


def _runs(usable: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in `usable`."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], usable.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _thinned_points(x: np.ndarray, y: np.ndarray):
    if len(x) <= MOST_POINTS:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, MOST_POINTS).astype(np.int64))
    return x[keep], y[keep]


def _thinned_line(x: np.ndarray, y: np.ndarray, width: int):
    """A line of more points than the terminal has room for: in each of a
    few slices per column, its lowest and highest point, in their order, so
    that no peak is lost."""
    slices = max(4 * width, 2)
    if len(x) <= min(MOST_POINTS, 2 * slices):
        return x, y
    keep = []
    for part in np.array_split(np.arange(len(x)), slices):
        if len(part):
            low, high = part[np.argmin(y[part])], part[np.argmax(y[part])]
            keep += sorted({int(low), int(high)})
    keep = np.array(keep)
    return x[keep], y[keep]


def _dress(plotext, canvas, figure: Figure) -> None:
    x0, x1, y0, y1 = _window(figure)
    for positions, scale, low, high, orientation in (
            (figure.hlines, figure.yscale, y0, y1, "horizontal"),
            (figure.vlines, figure.xscale, x0, x1, "vertical")):
        for position in _scaled(np.array(positions, dtype=np.float64), scale):
            if math.isfinite(position) and low <= position <= high and abs(position) < LARGEST:
                canvas.line(float(position), orientation=orientation,
                            pixel=plotext.pixel("gray"), style="dotted")
    if figure.title:
        canvas.title(printable(figure.title))
    for axis, label, scale in (("x", figure.xlabel, figure.xscale),
                               ("y", figure.ylabel, figure.yscale)):
        if scale == "log":
            label = f"log₁₀ {label}" if label else "log₁₀"
        if label:
            canvas.label(printable(label), axis=axis)
    for axis, limits, scale in (("x", figure.xlim, figure.xscale),
                                ("y", figure.ylim, figure.yscale)):
        if limits is not None:
            low, high = _scaled(np.array(sorted(limits)), scale)
            if math.isfinite(low) and math.isfinite(high):
                canvas.ruler(axis).lim(float(low), float(high))


def _legend(entries: list[tuple[str, str, str]], width: int) -> list[str]:
    """`▚ f(x)   ⢕ f′(x)`: each labelled series' marker, in its colour, and
    its label; lines of at most `width` columns."""
    lines, line, used = [], "", 0
    for glyph, colour, label in entries:
        size = 2 + len(label)
        if used and used + 3 + size > width:
            lines.append(line)
            line, used = "", 0
        if used:
            line, used = line + "   ", used + 3
        line += f"\x1b[38;5;{ANSI[colour]}m{glyph}\x1b[0m {label}"
        used += size
    return lines + ([line] if line else [])


def _notes(figure: Figure) -> list[str]:
    return [printable(note) for note in figure.notes]


# -------------------------------------------------------------------- files

def save(figure: Figure, path: str, fmt: str) -> None:
    """Draw the figure into `path` as PNG or SVG (`fmt`). Raises
    ImagesMissing without matplotlib, OSError when the file cannot be
    written, DrawFailed when matplotlib cannot draw the numbers."""
    try:
        import matplotlib
        from matplotlib.figure import Figure as Canvas
    except ImportError:
        raise ImagesMissing() from None
    with matplotlib.rc_context(_RC), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            _save(Canvas, figure, path, fmt)
        except (ValueError, ArithmeticError) as exc:
            raise DrawFailed(f"the numbers of this figure cannot be drawn into a file: "
                             f"{exc}") from None


def _save(Canvas, figure: Figure, path: str, fmt: str) -> None:
    drawing = Canvas(figsize=figure.figsize or SIZE, layout="constrained")
    axes = drawing.subplots()
    colour = 0
    for series in figure.series:
        colour += _file_series(axes, series, colour)
    for positions, across in ((figure.hlines, axes.axhline), (figure.vlines, axes.axvline)):
        for position in positions:
            if math.isfinite(position) and abs(position) < LARGEST:
                across(position, color="0.55", linewidth=0.8, linestyle=":")
    _file_dress(axes, figure)
    if figure.notes:
        drawing.supxlabel(_plain("\n".join(figure.notes)), fontsize="small")
    metadata = {"Date": None} if fmt == "svg" else {}
    drawing.savefig(path, format=fmt, dpi=DPI, metadata=metadata)


def _file_series(axes, series: Series, colour: int) -> int:
    """Draw one series; 1 if it took the next colour of the cycle."""
    label = _plain(series.label) if series.label else None
    # Past LARGEST, matplotlib's axis ranges overflow: such points are gaps.
    usable = np.isfinite(series.x) & np.isfinite(series.y) & \
        (np.abs(series.x) < LARGEST) & (np.abs(series.y) < LARGEST)
    x, y = np.where(usable, series.x, np.nan), np.where(usable, series.y, np.nan)
    if series.marker == "zero":
        axes.scatter(x, y, s=28, color="black", zorder=3, label=label)
        return 0
    if series.kind == "scatter":
        axes.scatter(x, y, s=series.size if series.size else 12, color=f"C{colour}",
                     label=label)
    elif series.style:          # the program's format string ('m--') chooses its look
        axes.plot(x, y, series.style, label=label)
    else:                       # a line of few points shows them
        few = {"marker": "o", "markersize": 4} if len(series.x) <= FEW_POINTS else {}
        axes.plot(x, y, color=f"C{colour}", linewidth=1.6, label=label, **few)
    return 1


def _file_dress(axes, figure: Figure) -> None:
    if figure.title:
        axes.set_title(_plain(figure.title))
    if figure.xlabel:
        axes.set_xlabel(_plain(figure.xlabel))
    if figure.ylabel:
        axes.set_ylabel(_plain(figure.ylabel))
    axes.set_xscale(figure.xscale)
    axes.set_yscale(figure.yscale)
    if figure.xlim is not None:
        axes.set_xlim(*figure.xlim)
    if figure.ylim is not None:
        axes.set_ylim(*figure.ylim)
    if any(s.label for s in figure.series):
        axes.legend(fontsize="small")


def _plain(text: Optional[str]) -> Optional[str]:
    """Text as matplotlib writes it and no more: a `$` would start its
    mathematics, and control characters are spelled out."""
    return None if text is None else printable(text).replace("$", r"\$")
