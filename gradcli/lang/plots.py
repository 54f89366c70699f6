"""What a program draws: `plot(...)`, `scatter(...)` and D2L's plotting (SPEC 4).

The language only gathers what is to be drawn, as plain float64 numbers cut
from the graph (plotting records nothing), into a `Figure`, and hands each
finished figure to the host through `Hooks.plot`. Where it is drawn (the
terminal, a file, JSON) is the host's business; nothing here draws.

Two ways of plotting, as in D2L:
- `plot(...)` (also `d2l.plot`) and `scatter(...)` make one figure per call,
  handed over at once. `plot` takes D2L's arguments, `plot(X, Y=None,
  xlabel, ylabel, legend, xlim, ylim, xscale, yscale, fmts, figsize)`, with
  several series as a list (`plot(x, [y, x.grad])`) or the rows of a 2-d
  array.
- `d2l.plt` keeps pyplot's current figure: `plt.plot` and `plt.scatter`
  add series to it, `plt.xlabel`, `plt.legend`, `plt.gca().set_ylabel`...
  dress it, and it is handed over at `plt.show()`, when the next figure
  starts (`plt.figure()`, `d2l.set_figsize()`, `plot(...)`), before the
  program's next `print`, and when the program (a REPL input) ends.
  pyplot functions gradcli does not draw are accepted and skipped, with one
  warning per name.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..core.tensor import MODE, Tensor
from ..errors import EvalError
from .values import Builtin, Namespace, a_type, to_number

# The built-ins made per interpreter (they report to its host), for completion.
NAMES = ("plot", "scatter")

# D2L's line formats for successive series of d2l.plot (its `fmts` default).
D2L_FORMATS = ("-", "m--", "g-.", "r:")
SCALES = ("linear", "log")
# Figure sizes in inches, as matplotlib takes them; larger ones are refused
# (a file at 100 dpi would be tens of millions of pixels).
LARGEST_FIGURE = 40.0
# Limits past this are refused: the drawings' axis ranges would overflow.
LARGEST_LIMIT = 1e300


@dataclass
class Series:
    """One curve or cloud of points: `x` and `y` 1-d float64 of one length."""

    kind: str                       # "line" or "scatter"
    x: np.ndarray
    y: np.ndarray
    label: Optional[str] = None
    size: Optional[float] = None    # a scatter's marker size (matplotlib's s, points²)
    style: Optional[str] = None     # a matplotlib format string ('m--'), as given
    marker: Optional[str] = None    # the host's choice of marker, for its own figures


@dataclass
class Figure:
    series: list[Series] = field(default_factory=list)
    title: Optional[str] = None
    xlabel: Optional[str] = None
    ylabel: Optional[str] = None
    xlim: Optional[tuple[float, float]] = None
    ylim: Optional[tuple[float, float]] = None
    xscale: str = "linear"
    yscale: str = "linear"
    hlines: list[float] = field(default_factory=list)     # axhline(y): y positions
    vlines: list[float] = field(default_factory=list)     # axvline(x): x positions
    figsize: Optional[tuple[float, float]] = None         # inches, for files
    notes: list[str] = field(default_factory=list)        # lines shown under it

    @property
    def kind(self) -> str:
        kinds = {s.kind for s in self.series}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def points(self) -> int:
        return sum(len(s.x) for s in self.series)


# ------------------------------------------------------------- arguments

def numbers(value, what: str) -> np.ndarray:
    """`value` (an array, a number, a list or tuple of them) as float64
    numbers, never recorded: a plot is made of numbers, not of graph nodes."""
    if isinstance(value, Tensor):
        data = np.asarray(value.data)
    elif isinstance(value, (bool, int, float)):
        data = np.asarray(float(value))
    elif isinstance(value, (list, tuple, range)):
        items = [numbers(item, what) for item in value]
        if any(item.shape != items[0].shape for item in items[1:]):
            raise EvalError(f"{what}: the items have different shapes, so they do not "
                            "form one array of numbers")
        data = np.array(items) if items else np.zeros((0,))
    else:
        raise EvalError(f"{what} must be numbers (an array or a list), not {a_type(value)}")
    if data.dtype.kind not in "biuf":
        raise EvalError(f"{what} must be numbers, not {data.dtype}")
    return data.astype(np.float64)


def _one_axis(value) -> bool:
    """D2L's `has_one_axis`: a 1-d array, or a list of single numbers."""
    if isinstance(value, Tensor):
        return value.ndim <= 1 or (value.ndim == 2 and value.shape[1] == 1)
    if isinstance(value, (list, tuple, range)):
        return not any(isinstance(v, (list, tuple, range)) or
                       (isinstance(v, Tensor) and v.ndim > 0) for v in value)
    return True


def _several(value, what: str) -> list[np.ndarray]:
    """The series of `value`: itself when it has one axis (a (n, 1) column
    too), else each item of a list, or each row of a 2-d array."""
    if _one_axis(value):
        return [numbers(value, what).ravel()]
    if isinstance(value, Tensor):
        if value.ndim != 2:
            raise EvalError(f"{what} must be one series (1-d) or several (a list, or the "
                            f"rows of a 2-d array), not {a_type(value)}")
        return [row for row in numbers(value, what)]
    return [numbers(item, f"{what}[{i}]").ravel() for i, item in enumerate(value)]


def _text(value, what: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise EvalError(f"{what} must be a string, not {a_type(value)}")
    return value


def _pair(value, what: str) -> Optional[tuple[float, float]]:
    """xlim=(a, b) and the like: two different finite numbers."""
    if value is None:
        return None
    pair = numbers(value, what).ravel()
    if pair.size != 2 or not np.all(np.abs(pair) < LARGEST_LIMIT) or pair[0] == pair[1]:
        raise EvalError(f"{what} must be two different finite numbers, e.g. (0, 1)")
    return float(pair[0]), float(pair[1])


def _scale(value, what: str) -> str:
    if value not in SCALES:
        raise EvalError(f"{what} must be 'linear' or 'log', not {value!r}")
    return value


def _figsize(value) -> Optional[tuple[float, float]]:
    if value is None:
        return None
    size = numbers(value, "figsize").ravel()
    if size.size != 2 or not np.all((size > 0) & (size <= LARGEST_FIGURE)):
        raise EvalError(f"figsize must be (width, height) in inches, each above 0 and at "
                        f"most {LARGEST_FIGURE:g}")
    return float(size[0]), float(size[1])


# matplotlib's format strings: at most one colour, one marker, one line style.
_FORMAT_PARTS = (("colour", r"C\d|[bgrcmykw]"), ("line", r"--|-\.|-|:"),
                 ("marker", r"[.,ov^<>1234sp*hH+xXDd|_]"))
_FORMAT = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _FORMAT_PARTS))


def _format(value, what: str) -> str:
    """A matplotlib format string such as 'm--' or 'o', checked here so that
    a wrong one is the program's error, not the drawing's."""
    if not isinstance(value, str):
        raise EvalError(f"{what} must be a format string such as 'm--', not {a_type(value)}")
    seen, at = set(), 0
    while at < len(value):
        match = _FORMAT.match(value, at)
        if match is None or match.lastgroup in seen:
            raise EvalError(f"{what}: {value!r} is not a format string (a colour, a line "
                            "style and a marker, each at most once, e.g. 'm--' or 'ro')")
        seen.add(match.lastgroup)
        at = match.end()
    return value


def _series(kind, x, y, label=None, size=None, style=None, what="plot()") -> Series:
    if x is None:
        x = np.arange(len(y), dtype=np.float64)
    if len(x) != len(y):
        raise EvalError(f"{what}: x has {len(x)} values but y has {len(y)}; they must have "
                        "one value per point")
    return Series(kind, x, y, label, size, style)


# Keywords of pyplot's and D2L's calls that only choose colours and styles:
# accepted, and gradcli chooses those itself.
COSMETIC = frozenset({"color", "c", "alpha", "marker", "linestyle", "ls", "linewidth", "lw",
                      "markersize", "ms", "zorder", "edgecolors", "edgecolor", "cmap",
                      "linewidths", "axes"})


def _no_more(name: str, kwargs: dict) -> None:
    unknown = [k for k in kwargs if k not in COSMETIC]
    if unknown:
        raise EvalError(f"{name}() got an unexpected keyword argument '{unknown[0]}'")


def _dressed(figure: Figure, name: str, kwargs: dict) -> Figure:
    """The figure with the labels, limits and scales given as keywords."""
    figure.title = _text(kwargs.pop("title", figure.title), f"{name}(): title")
    figure.xlabel = _text(kwargs.pop("xlabel", figure.xlabel), f"{name}(): xlabel")
    figure.ylabel = _text(kwargs.pop("ylabel", figure.ylabel), f"{name}(): ylabel")
    figure.xlim = _pair(kwargs.pop("xlim", figure.xlim), f"{name}(): xlim")
    figure.ylim = _pair(kwargs.pop("ylim", figure.ylim), f"{name}(): ylim")
    figure.xscale = _scale(kwargs.pop("xscale", figure.xscale), f"{name}(): xscale")
    figure.yscale = _scale(kwargs.pop("yscale", figure.yscale), f"{name}(): yscale")
    figure.figsize = _figsize(kwargs.pop("figsize", figure.figsize))
    return figure


def _labels(value, count: int, what: str) -> list[Optional[str]]:
    """legend=['a', 'b']: one label per series, in order (missing ones None)."""
    if value is None:
        return [None] * count
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise EvalError(f"{what} must be a list of strings, not {a_type(value)}")
    labels = [_text(v, what) for v in value]
    return (labels + [None] * count)[:count]


def line_figure(name: str, X, Y, xlabel, ylabel, legend, kwargs: dict) -> Figure:
    """`plot(X, Y, xlabel, ylabel, legend, ...)` as D2L's `d2l.plot` takes
    them: one series per y (a list, or the rows of a 2-d array), each
    against its x (one x for all of them, or one per series). `name` is
    the call's, for messages; `kwargs` its other keywords."""
    kwargs = dict(kwargs)
    label, fmts = kwargs.pop("label", None), kwargs.pop("fmts", None)
    figure = _dressed(Figure(xlabel=xlabel, ylabel=ylabel), name, kwargs)
    _no_more(name, kwargs)
    if Y is None:
        xs, ys = [None], _several(X, f"{name}(): y")
        xs = xs * len(ys)
    else:
        xs, ys = _several(X, f"{name}(): x"), _several(Y, f"{name}(): y")
        if len(xs) != len(ys):
            xs = xs * len(ys) if len(xs) == 1 else xs
        if len(xs) != len(ys):
            raise EvalError(f"{name}(): {len(xs)} x series for {len(ys)} y series")
    labels = _labels(legend if legend is not None else label, len(ys), f"{name}(): legend")
    styles = [None] * len(ys) if fmts is None else _styles(fmts, len(ys), name)
    figure.series = [_series("line", x, y, lbl, None, style, f"{name}()")
                     for x, y, lbl, style in zip(xs, ys, labels, styles)]
    return figure


def _styles(fmts, count: int, name: str) -> list[str]:
    if isinstance(fmts, str):
        fmts = (fmts,)
    if not isinstance(fmts, (list, tuple)) or not fmts:
        raise EvalError(f"{name}(): fmts must be a list of format strings such as 'm--'")
    checked = [_format(f, f"{name}(): fmts") for f in fmts]
    return [checked[i % len(checked)] for i in range(count)]


def scatter_figure(name: str, x, y, s, kwargs: dict) -> Figure:
    """`scatter(x, y, s)`: one cloud of points; `s` is matplotlib's marker
    size (points²), which only files use."""
    kwargs = dict(kwargs)
    label = _text(kwargs.pop("label", None), f"{name}(): label")
    figure = _dressed(Figure(), name, kwargs)
    _no_more(name, kwargs)
    figure.series = [_series("scatter", numbers(x, f"{name}(): x").ravel(),
                             numbers(y, f"{name}(): y").ravel(), label, _size(s, name),
                             None, f"{name}()")]
    return figure


def _size(s, name: str) -> Optional[float]:
    if s is None:
        return None
    size = to_number(s, f"{name}(): s") if not isinstance(s, Tensor) or s.size == 1 else None
    if size is None or not (np.isfinite(size) and size > 0):
        raise EvalError(f"{name}(): s must be one positive number (the marker size)")
    return float(size)


# ----------------------------------------------------------------- pyplot

class Pyplot:
    """D2L's `d2l.plt` (matplotlib.pyplot): one current figure, dressed by
    its functions and handed to the host when finished (see the module's
    opening comment). One per interpreter; `report(figure)` is the host's
    hook. It holds no reference to the built-ins that call it (they are
    made at each lookup): a cycle would keep every run's arrays alive until
    the cyclic collector ran."""

    def __init__(self, report):
        self.report = report
        self.current: Optional[Figure] = None
        self.figsize: Optional[tuple[float, float]] = None   # d2l.set_figsize's

    # What the host is given -------------------------------------------

    def flush(self) -> None:
        """Hand the current figure over, if it has anything to draw."""
        figure, self.current = self.current, None
        if figure is not None and figure.series:
            self.report(figure)

    def drop(self) -> None:
        self.current = None

    def emit(self, figure: Figure) -> None:
        """A figure made whole by one call (`plot()`, `d2l.plot`): the
        current one goes first, so they are shown in the program's order."""
        self.flush()
        if figure.figsize is None:
            figure.figsize = self.figsize
        if figure.series:
            self.report(figure)

    def _figure(self) -> Figure:
        if self.current is None:
            self.current = Figure(figsize=self.figsize)
        return self.current

    # d2l --------------------------------------------------------------

    def set_figsize(self, figsize=(3.5, 2.5)) -> None:
        """`d2l.set_figsize`: the size of the figures that follow (files only)."""
        self.flush()
        self.figsize = _figsize(figsize)

    def d2l_plot(self, X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None,
                 ylim=None, xscale="linear", yscale="linear", fmts=D2L_FORMATS,
                 figsize=None, axes=None, **kwargs) -> None:
        self.emit(line_figure("d2l.plot", X, Y, xlabel, ylabel, legend, {
            "xlim": xlim, "ylim": ylim, "xscale": xscale, "yscale": yscale, "fmts": fmts,
            "figsize": figsize, **kwargs}))

    # pyplot -----------------------------------------------------------

    def plot(self, *args, **kwargs) -> None:
        """`plt.plot(y)`, `plt.plot(x, y)`, `plt.plot(x, y, 'm--', x2, y2, ...)`,
        `label=`: series added to the current figure; a 2-d y gives one
        series per column, as matplotlib does."""
        label = _text(kwargs.pop("label", None), "d2l.plt.plot(): label")
        _no_more("d2l.plt.plot", kwargs)
        added = []
        for x, y, style in _groups(args):
            ys = numbers(y, "d2l.plt.plot(): y")
            columns = [ys.ravel()] if ys.ndim <= 1 or ys.shape[1] == 1 else list(ys.T)
            xs = None if x is None else numbers(x, "d2l.plt.plot(): x").ravel()
            added += [_series("line", xs, column, label, None, style, "d2l.plt.plot()")
                      for column in columns]
        if not added:
            raise EvalError("d2l.plt.plot() needs the values to plot, e.g. plt.plot(x, y)")
        self._figure().series.extend(added)

    def scatter(self, x, y, s=None, **kwargs) -> None:
        added = scatter_figure("d2l.plt.scatter", x, y, s, kwargs)
        figure = self._figure()
        figure.series.extend(added.series)
        for name in ("title", "xlabel", "ylabel", "xlim", "ylim"):
            if getattr(added, name) is not None:
                setattr(figure, name, getattr(added, name))

    def show(self, *args, **kwargs) -> None:
        self.flush()

    def figure(self, *args, figsize=None, **kwargs) -> None:
        self.flush()
        self.current = Figure(figsize=_figsize(figsize) or self.figsize)

    def close(self, *args, **kwargs) -> None:
        self.drop()

    def legend(self, labels=None, *args, **kwargs) -> None:
        """`plt.legend()` shows the labels given with label=; `plt.legend(
        ['a', 'b'])` labels the series in order."""
        if labels is None:
            return
        series = self._figure().series
        for item, label in zip(series, _labels(labels, len(series), "d2l.plt.legend()")):
            item.label = label

    def gca(self, *args, **kwargs) -> Namespace:
        """The current axes: the current figure, whose `set_NAME` methods
        are pyplot's `NAME` (`plt.gca().set_xlabel('x')`)."""
        return Namespace("d2l.plt axes", None, functools.partial(_axes_member, self))

    def set_text(self, attribute: str, value, *args, **kwargs) -> None:
        setattr(self._figure(), attribute, _text(value, f"d2l.plt.{attribute}()"))

    def set_scale(self, attribute: str, value, *args, **kwargs) -> None:
        setattr(self._figure(), attribute, _scale(value, f"d2l.plt.{attribute}()"))

    def set_limits(self, attribute: str, low=None, high=None, **kwargs) -> None:
        low = kwargs.pop("left", kwargs.pop("bottom", low))
        high = kwargs.pop("right", kwargs.pop("top", high))
        pair = low if high is None else (low, high)
        setattr(self._figure(), attribute, _pair(pair, f"d2l.plt.{attribute}()"))

    def add_line(self, attribute: str, coordinate: str, position=0, *args, **kwargs) -> None:
        """axhline(y) / axvline(x): a line across the figure at `position`."""
        position = kwargs.pop(coordinate, position)
        getattr(self._figure(), attribute).append(
            to_number(position, f"d2l.plt.ax{attribute[0]}line(): {coordinate}"))


# pyplot's functions that gradcli draws, as (method, its first arguments).
_PYPLOT = {
    "plot": (Pyplot.plot, ()), "scatter": (Pyplot.scatter, ()), "show": (Pyplot.show, ()),
    "figure": (Pyplot.figure, ()), "close": (Pyplot.close, ()), "gca": (Pyplot.gca, ()),
    "legend": (Pyplot.legend, ()),
    "xlabel": (Pyplot.set_text, ("xlabel",)), "ylabel": (Pyplot.set_text, ("ylabel",)),
    "title": (Pyplot.set_text, ("title",)),
    "xscale": (Pyplot.set_scale, ("xscale",)), "yscale": (Pyplot.set_scale, ("yscale",)),
    "xlim": (Pyplot.set_limits, ("xlim",)), "ylim": (Pyplot.set_limits, ("ylim",)),
    "axhline": (Pyplot.add_line, ("hlines", "y")), "axvline": (Pyplot.add_line, ("vlines", "x")),
}
# ... and those that only style it, accepted as they are.
_STYLING = frozenset({"grid", "tight_layout", "rc", "rcParams", "style"})


def _pyplot_member(pyplot: Pyplot, name: str, label: Optional[str] = None):
    """`d2l.plt.NAME`: a built-in made at each lookup (see `Pyplot`)."""
    label = label or f"d2l.plt.{name}"
    if name in _PYPLOT:
        method, first = _PYPLOT[name]
        return Builtin(label, functools.partial(method, pyplot, *first))
    if name in _STYLING:
        return Builtin(label, _accept)
    return _skipped(label)


def _axes_member(pyplot: Pyplot, name: str):
    own = name[4:] if name.startswith("set_") else name
    return _pyplot_member(pyplot, own if own in _PYPLOT else name, f"d2l.plt.gca().{name}")


def _groups(args):
    """matplotlib's plot(x, y, fmt, x2, y2, fmt2, ...): (x or None, y, fmt)."""
    args = list(args)
    while args:
        first = args.pop(0)
        if isinstance(first, str):
            raise EvalError("d2l.plt.plot(): a format string must follow the values it styles")
        if args and not isinstance(args[0], str):
            x, y = first, args.pop(0)
        else:
            x, y = None, first
        style = _format(args.pop(0), "d2l.plt.plot(): format") \
            if args and isinstance(args[0], str) else None
        yield x, y, style


def _accept(*args, **kwargs) -> None:
    """pyplot calls that only style the figure (grid, tight_layout)."""


def _skipped(label: str) -> Builtin:
    """A pyplot function gradcli does not draw: accepted, skipped, and said
    once per run, on stderr with the run's other notes."""
    def skip(*args, **kwargs):
        note = f"{label} is not drawn by gradcli: the call is accepted and skipped"
        if note not in MODE.nan_reports:        # the run's side reports (api: warnings)
            MODE.nan_reports.append(note)
    return Builtin(label, skip)


def builtins(pyplot: Pyplot) -> dict:
    """The host-reporting built-ins `plot` and `scatter` of one interpreter."""
    def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, **kwargs):
        pyplot.emit(line_figure("plot", X, Y, xlabel, ylabel, legend, kwargs))

    def scatter(x, y, s=None, **kwargs):
        pyplot.emit(scatter_figure("scatter", x, y, s, kwargs))

    from .builtins import HOOKED    # their help, beside print's
    return {"plot": Builtin("plot", plot, public=HOOKED["plot"]),
            "scatter": Builtin("scatter", scatter, public=HOOKED["scatter"])}


def d2l_members(pyplot: Pyplot) -> dict:
    """D2L's drawing helpers, beside its .ag ones (lang/modules.py: PRELUDES)."""
    return {"plt": Namespace("d2l.plt", None, functools.partial(_pyplot_member, pyplot)),
            "plot": Builtin("d2l.plot", pyplot.d2l_plot),
            "set_figsize": Builtin("d2l.set_figsize", pyplot.set_figsize),
            "use_svg_display": Builtin("d2l.use_svg_display", _accept),
            "show": Builtin("d2l.show", pyplot.show)}
