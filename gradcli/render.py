r"""What gradcli shows on the terminal: values as rich tables, error reports.

Numbers: a scalar is written in the shortest form that reads back to the
same float (4.0 -> `4`, 0.1 -> `0.1`); the elements of one array share one
format, as numpy does (`1.50  2.25`, or all scientific), with at most 8
digits after the point (`--precision N`: N). Which elements of an array
show, and how its table fits the output's width, is render_arrays.py's
part; arrays written as one line of text (in lists, explain's steps) are
elided past `EDGE_LIMIT` items of an axis to their first and last `EDGE`.

Text that came from the input (strings, names, source lines, JSON keys) is
shown through `printable`: a control character is spelled out as its
escape (`\x1b`), so the terminal shows it and never obeys it. Such text is
given to rich as `Text`, never parsed as markup.

Rich is imported when something is drawn, not when gradcli starts.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from dataclasses import dataclass, replace
from typing import Iterable, Optional

import numpy as np

from . import jsonio, textin
from .core.tensor import shape_str
from .errors import GradcliError

EDGE_LIMIT = 10        # in one line of text, axes longer than this are elided ...
EDGE = 3               # ... to this many items at each end
ROW_GAP, COL_GAP = "⋮", "…"
SCI_DIGITS = 8         # most digits after the point (numpy's precision)
PIPE_WIDTH = 200       # the width of output that is not a terminal, without COLUMNS
MESSAGE_INDENT = "  "  # the lines after the first of a message broken to a terminal's width


# -------------------------------------------------------------------- text

# C0 controls, DEL, C1 controls (CSI is \x9b), and lone surrogates (bytes
# that were not UTF-8, which would be written back as those raw bytes).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, keep: str = "") -> str:
    r"""`text` with each control character spelled out as Python writes it
    in a string (`\x1b`, `\n`, `\ud800`; `\xff` for the byte 0xff that was
    not UTF-8), except the ones in `keep`."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m[0] if m[0] in keep else _escape(m[0]), text)


def wrap_words(text: str, width: Optional[int], indent: str = "") -> list[str]:
    """`text` in lines of at most `width` characters, broken between words
    only (a longer word stands on a line of its own), the lines after the
    first starting with `indent`; one line without a width."""
    if width is None or len(text) <= width:
        return [text]
    import textwrap
    return textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [""]


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:    # a byte that was not UTF-8: shown as that byte
        code -= 0xDC00
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


# ----------------------------------------------------------------- numbers

def format_scalar(value, precision: Optional[int] = None) -> str:
    """Shortest text that round-trips: 4.0 -> '4', 0.1 -> '0.1', 1e-10 -> '1e-10';
    with `precision`, at most that many digits after the point (of the
    mantissa, in scientific notation), as an array's element would be."""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, np.ndarray):
        return format_scalar(value[()], precision)
    if precision is not None:
        return element_format(np.array([value]), precision)(value)
    as_float = float(value)
    if np.isnan(as_float):
        return "nan"
    if np.isinf(as_float):
        return "inf" if as_float > 0 else "-inf"
    # numpy's str of a float32 is its shortest float32 spelling.
    text = str(value) if isinstance(value, np.floating) and not isinstance(
        value, np.float64) else repr(as_float)
    mantissa, e, exponent = text.partition("e")
    if mantissa.endswith(".0"):
        mantissa = mantissa[:-2]
    return mantissa + e + exponent


def format_elements(values: np.ndarray, precision: Optional[int] = None) -> list[str]:
    """Texts for the elements of one array (flattened), in one shared format."""
    flat = np.asarray(values).ravel()
    write = element_format(flat, precision)
    return [write(v) for v in flat]


def element_format(sample: np.ndarray, precision: Optional[int] = None):
    """One formatting function for an array, chosen from the elements shown:
    whole numbers without a point; else fixed decimals, as many as the most
    precise element needs (up to `precision`, by default 8), or scientific
    notation when the magnitudes are far apart (numpy's rule)."""
    digits_cap = SCI_DIGITS if precision is None else precision
    flat = np.asarray(sample).ravel()
    kind = flat.dtype.kind
    if kind == "b":
        return lambda v: "True" if v else "False"
    if kind in "iu":
        return lambda v: str(int(v))
    if kind != "f":
        return str
    finite = flat[np.isfinite(flat)]
    if not finite.size:
        make = str
    elif np.all(finite == np.round(finite)) and np.max(np.abs(finite)) < 1e16:
        make = lambda v: str(int(v))                       # noqa: E731
    else:
        magnitudes = np.abs(finite[finite != 0]).astype(np.float64)
        big, small = magnitudes.max(), magnitudes.min()
        if big >= 1e8 or small < 1e-4 or big / small > 1e3:
            digits = max(_mantissa_decimals(v, digits_cap) for v in finite)
            make = lambda v: f"{float(v):.{digits}e}"      # noqa: E731
        else:
            digits = max(_decimals(v, digits_cap) for v in finite)
            make = lambda v: f"{float(v):.{digits}f}"      # noqa: E731

    def write(v) -> str:
        if np.isfinite(v):
            return make(v)
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return write


def _decimals(value, cap: int) -> int:
    text = np.format_float_positional(value, precision=cap, unique=True, trim="-")
    return len(text.partition(".")[2])


def _mantissa_decimals(value, cap: int) -> int:
    text = np.format_float_scientific(value, precision=cap, unique=True, trim="-")
    return len(text.partition("e")[0].partition(".")[2])


def plain(value, display=None) -> str:
    """Any value as one line of text: numbers shortest, arrays bracketed
    (`display`: a render_arrays.Display, for `--full` and `--precision`)."""
    precision = getattr(display, "precision", None)
    data = getattr(value, "data", None)          # a tensor inside a tuple
    if isinstance(data, np.ndarray):
        value = data
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return format_scalar(value[()], precision)
        limit = max(value.shape) if getattr(display, "full", False) else EDGE_LIMIT
        axes = [kept(n, limit) for n in value.shape]
        shown = value[np.ix_(*[[i for i in axis if i is not None] for axis in axes])]
        return _nest(axes, iter(format_elements(shown, precision)))
    if isinstance(value, tuple):
        inner = ", ".join(plain(v, display) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):      # a list shows its strings quoted, as Python does
        return "[" + ", ".join(_list_item(v, display) for v in value) + "]"
    if isinstance(value, (bool, int, float, np.generic)):
        return format_scalar(value, precision)
    # As print() writes them, line ends and tabs included.
    return printable(str(value), keep="\n\t")


def _list_item(value, display=None) -> str:
    """An item of a printed list: strings quoted, except the `<function>`
    that stands for a value with no numbers."""
    if isinstance(value, str) and not (value.startswith("<") and value.endswith(">")):
        return repr(value)
    return plain(value, display)


def _nest(axes, texts) -> str:
    """Nested brackets over the kept indices of each axis (None -> '…')."""
    if len(axes) == 1:
        items = [COL_GAP if i is None else next(texts) for i in axes[0]]
    else:
        items = [COL_GAP if i is None else _nest(axes[1:], texts) for i in axes[0]]
    return "[" + ", ".join(items) + "]"


def kept(n: int, limit: int = EDGE_LIMIT) -> list[Optional[int]]:
    """Indices to show along an axis of length n; None marks the gap."""
    if n <= limit:
        return list(range(n))
    return list(range(EDGE)) + [None] + list(range(n - EDGE, n))


# ----------------------------------------------------------------- console

def make_console(full: bool = False, precision: Optional[int] = None):
    """A rich console that writes no escape codes to a pipe or under NO_COLOR,
    with the Display (`--full`, `--precision`) its arrays are shown by.

    On a terminal, or with COLUMNS given, tables follow the width; other
    output is PIPE_WIDTH wide and shows arrays by numpy's threshold (piped
    tables are read by people and diffs, and wrapping would split numbers).
    """
    from rich.console import Console

    from .render_arrays import Display

    stream = sys.stdout
    kwargs: dict = {"file": stream, "highlight": False, "emoji": False, "markup": False}
    if os.environ.get("NO_COLOR"):
        kwargs["color_system"] = None
    fit = True
    if not textin.is_terminal(stream) and not os.environ.get("FORCE_COLOR"):
        kwargs["color_system"] = None
        if not os.environ.get("COLUMNS"):
            kwargs["width"] = PIPE_WIDTH
            fit = False
    console = Console(**kwargs)
    console.gradcli_display = Display(full=full, precision=precision, fit=fit)
    return console


# ------------------------------------------------------------------ values

def caption(shape, dtype, grad_fn: Optional[str] = None, requires_grad: bool = False) -> str:
    parts = [f"shape {shape_str(shape)}", str(dtype)]
    if grad_fn:
        parts.append(f"grad_fn={grad_fn}")
    if requires_grad:
        parts.append("requires_grad=True")
    return " · ".join(parts)


def inline_text(shown, display=None) -> str:
    """A value written as text; a tracked scalar keeps its caption's
    tracking part, as PyTorch's `tensor(6., grad_fn=<SumBackward0>)` does."""
    text = plain(shown.value, display)
    if getattr(shown, "grad_fn", None):
        return f"{text} (grad_fn={shown.grad_fn})"
    if getattr(shown, "requires_grad", False):
        return f"{text} (requires_grad=True)"
    return text


def is_inline(shown) -> bool:
    """Scalars and non-array values are written as text, not tables."""
    value = shown.value
    return not (shown.is_array and isinstance(value, np.ndarray) and value.ndim > 0)


def value_view(shown, *, name: str = "", display=None):
    """Any shown value: arrays as tables, everything else as plain text."""
    from rich.text import Text

    from .render_arrays import ArrayView

    if is_inline(shown):
        return Text(inline_text(shown, display))
    return ArrayView(shown.value, name=name, grad_fn=shown.grad_fn,
                     requires_grad=getattr(shown, "requires_grad", False))


def print_values(console, shown_values: list) -> None:
    """One `print(a, b, ...)`: all-scalar prints are one line of text, like
    Python's; otherwise the values are laid out side by side, the texts
    between the tables joined as Python joins them."""
    from rich.text import Text

    from .render_arrays import SideBySide, display_of

    display = display_of(console)
    # `print(..., sep=, end=)` (api.Printed): sep joins values written as text.
    sep, end = getattr(shown_values, "sep", " "), getattr(shown_values, "end", "\n")
    if all(is_inline(s) for s in shown_values):
        console.print(Text(sep.join(inline_text(s, display) for s in shown_values)),
                      soft_wrap=True, end=end)
        return
    blocks: list = []
    for shown in shown_values:
        if is_inline(shown) and blocks and blocks[-1][1]:
            blocks[-1] = (blocks[-1][0] + sep + inline_text(shown, display), True)
        elif is_inline(shown):
            blocks.append((inline_text(shown, display), True))
        else:
            blocks.append((value_view(shown), False))
    views = [Text(view) if is_text else view for view, is_text in blocks]
    if len(views) == 1:
        console.print(views[0])
    elif "\n" in sep:           # each value on lines of its own, as Python's print
        for view in views:
            console.print(view)
    else:
        console.print(SideBySide(list(zip(views, (t for _, t in blocks))), sep))
    if end != "\n":        # a table ends its own last line; `end` follows it
        console.print(Text(end), soft_wrap=True, end="")


def titled(console, name: str, shown) -> None:
    """A named value: `name = 5`, or a table titled `name`."""
    from rich.text import Text

    from .render_arrays import display_of

    if is_inline(shown):
        console.print(Text(f"{printable(name)} = {plain(shown.value, display_of(console))}"),
                      soft_wrap=True)
    else:
        console.print(value_view(shown, name=name))


def fitted(wide, narrow):
    """`wide` (a table) when it fits the output's width, else `narrow`."""
    from .render_arrays import Fitted
    return Fitted(wide, narrow)


def pass_counts(passes: dict, values: dict, jacobian: bool) -> str:
    """What each mode cost: forward mode one pass per input element,
    reverse mode one per element of the result it differentiates."""
    sizes = " and ".join(f"{name} ({np.size(v)})" for name, v in values.items())
    forward, reverse = passes["forward"], passes["reverse"]
    if jacobian:
        back = f"{reverse} backward pass{'es' if reverse != 1 else ''}, one per element of the result"
    else:
        back = "1 backward pass for all of them"
    return (f"forward mode: {forward} pass{'es' if forward != 1 else ''}, one per element of "
            f"{sizes}; reverse mode needs {back}")


def gradient_table(rows: Iterable, *, title: Optional[str] = None):
    """Variables beside their gradients: rows of (name, value, gradient),
    value and gradient ndarrays, or render_arrays.GradientRow."""
    from .render_arrays import GradientTable
    return GradientTable(rows, title)


def check_table(result):
    """The gradient check: per variable, worst errors and the api's verdict."""
    return _verdict_table("checked", [
        (name, f"{row.get('checked', '?')}/{row.get('size', '?')}", row)
        for name, row in result.vars.items()])


def expect_table(result):
    """`check --expect`: per variable, the points checked, worst errors and
    the verdict the api decided."""
    return _verdict_table("points", [(name, str(row["points"]), row)
                                     for name, row in result.expect.items()])


def _verdict_table(count_heading: str, rows: list[tuple]):
    """Rows of (name, count text, row with max_abs_err, max_rel_err, ok)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.ROUNDED)
    for heading, justify in (("variable", "left"), (count_heading, "right"),
                             ("max abs err", "right"), ("max rel err", "right"),
                             ("", "left")):
        table.add_column(heading, justify=justify, no_wrap=True)
    lines = []
    for name, count, row in rows:
        verdict = (Text("ok", style="green") if row["ok"]
                   else Text("MISMATCH", style="bold red"))
        table.add_row(Text(printable(name)), count, _err(row["max_abs_err"]),
                      _err(row["max_rel_err"]), verdict)
        lines.append(Text.assemble(
            printable(name), f": {count_heading} {count}, max abs err {_err(row['max_abs_err'])}"
            f", max rel err {_err(row['max_rel_err'])}, ", verdict))
    return fitted(table, lines)


def check_worst(result) -> list[str]:
    """Under the table, per variable its worst element with both numbers:
    `x[1, 0]: autodiff 2.5, differences 2.500000001`, to 10 significant
    digits, enough to see where the two part (--json has every digit)."""
    lines = []
    for name, row in result.vars.items():
        worst = row.get("worst")
        if worst is not None:
            lines.append(f"worst element {_element(name, worst['index'])}: autodiff "
                         f"{worst['autodiff']:.10g}, differences {worst['numeric']:.10g}")
    return lines


def expect_worst(result) -> list[str]:
    """Under the `check --expect` table, per variable its worst element, the
    point it is at and both numbers, as `check_worst` writes them."""
    lines = []
    for name, row in result.expect.items():
        worst = row.get("worst")
        if worst is not None:
            point = worst["point"]
            where = f"random point {point}" if point else "the given inputs"
            lines.append(f"worst element {_element(name, worst['index'])} at {where}: "
                         f"expected {worst['expected']:.10g}, autodiff {worst['autodiff']:.10g}")
    return lines


def expect_summary(result) -> str:
    """The last line of `check --expect`: the verdict, the points, the tolerances."""
    tolerance = f"rtol={result.rtol:g}, atol={result.atol:g}"
    several = len(result.expect) > 1
    if result.ok:
        points = f"{result.points} point" + ("s" if result.points > 1 else "")
        return (f"ok: the hand-derived gradient{'s agree' if several else ' agrees'} with "
                f"autodiff at {points} ({tolerance})")
    return (f"MISMATCH: the hand-derived gradient{'s' if several else ''} and autodiff "
            f"disagree ({tolerance})")


def _element(name: str, index: list) -> str:
    """`x[1, 0]`; `x` for a single number's gradient."""
    return printable(name) + ("[" + ", ".join(str(i) for i in index) + "]" if index else "")


def _err(value: float) -> str:
    if not np.isfinite(value):
        return format_scalar(value)
    return "0" if value == 0 else f"{value:.2e}"


# ------------------------------------------------------------------- graph

def graph_cut(root, max_nodes: int) -> bool:
    """Whether the api stopped expanding `root`'s graph at `max_nodes`: it
    numbers the nodes it meets, and expands only the first `max_nodes`."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        seen.add(node.ident)
        stack.extend(node.children)
    return len(seen) > max_nodes


def cut_note(max_nodes: int) -> str:
    return f"graph cut at {max_nodes} nodes: the nodes past them are drawn without their inputs"


def print_graph(console, root, note: Optional[str] = None) -> None:
    """The recorded graph as a tree, one line per node, nodes met again
    marked; then `note` (the graph was cut), if any. Lines are as wide as
    the depth needs: rich's Tree would leave out, without a word, every
    node too deep for the terminal's width."""
    console.print(graph_tree(root, note), soft_wrap=True)


def graph_label(node) -> tuple[str, str, str]:
    """A node's texts, in every form of the graph: what it is (the op, the
    leaf's name, `const`), its shape, and what the program called it (a
    constant's numbers too, when few: `= 2`, `c = [1, 1]`; else empty)."""
    names = ", ".join(node.names) if node.kind != "leaf" else ""
    if node.value is not None:
        names = f"{names} = {numbers_text(node.value)}".lstrip()
    return printable(node.label), shape_str(node.shape), printable(names)


def numbers_text(value) -> str:
    """A few numbers, nested as their array is: `2`, `[1, 1]`, `[[1], [2]]`."""
    value = np.asarray(value)
    if value.ndim == 0:
        return format_scalar(value)
    texts = iter(format_elements(value))

    def nested(shape):
        items = [next(texts) if len(shape) == 1 else nested(shape[1:]) for _ in range(shape[0])]
        return "[" + ", ".join(items) + "]"
    return nested(value.shape)


def graph_tree(root, note: Optional[str] = None):
    """The text `print_graph` prints."""
    from rich.text import Text

    out = Text()
    stack = [(root, "", "")]  # node, guides before it, guides before its inputs
    while stack:              # no recursion: graphs can be thousands deep
        node, guides, inner = stack.pop()
        if out:
            out.append("\n")
        head, shape, names = graph_label(node)
        out.append(guides)
        out.append(head, style="bold" if node.children else "")
        out.append(f"  {shape}", style="dim")
        if names:
            out.append(f"  {names}", style="cyan")
        if node.repeat:
            out.append("  (shown above)", style="dim italic")
        last = len(node.children) - 1
        for i in range(last, -1, -1):
            stack.append((node.children[i], inner + ("└── " if i == last else "├── "),
                          inner + ("    " if i == last else "│   ")))
    if note is not None:
        out.append("\n" + note)
    return out


def print_written(console, path: str, drawn) -> None:
    """The one line `graph --out` prints: which file, how much is in it."""
    from rich.text import Text

    def counted(n, what):
        return f"{n} {what}" + ("" if n == 1 else "s")
    console.print(Text(f"wrote {printable(path)}: {counted(len(drawn.boxes), 'node')}, "
                       f"{counted(len(drawn.edges), 'edge')}"), soft_wrap=True)


def graph_dag(root) -> tuple[dict, list]:
    """The tree as the DAG it stands for: each node once by `ident` (where
    it was expanded), and an edge (node, input) per input, in order, so that
    x*x has two edges to x."""
    nodes: dict = {}
    edges: list[tuple[int, int]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if not node.repeat:
            nodes.setdefault(node.ident, node)
        edges.extend((node.ident, child.ident) for child in node.children)
        stack.extend(reversed(node.children))
    return nodes, edges


_DOT_SHAPES = {"op": "box", "leaf": "ellipse", "constant": 'box, style="dashed"'}


def graph_dot(root, note: Optional[str] = None) -> str:
    """Graphviz DOT: one node per `ident` (ops boxes, leaves ellipses,
    constants dashed boxes), an edge from each node to each of its inputs
    (so x*x draws two edges to x); a `note` is the graph's label."""
    lines = ["digraph gradcli {",
             '  node [fontname="monospace"];']
    if note is not None:
        lines.append(f"  label={_dot_string(note)};")
    nodes, edges = graph_dag(root)
    for ident, node in nodes.items():
        text = _dot_string("\n".join(part for part in graph_label(node) if part))
        lines.append(f"  n{ident} [label={text}, shape={_DOT_SHAPES[node.kind]}];")
    lines += [f"  n{node} -> n{child};" for node, child in edges]
    return "\n".join(lines + ["}"]) + "\n"


def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{printable(escaped)}"'


def graph_json(root, cut: bool = False) -> dict:
    """The tree as nested objects: label, kind, shape, names, id, repeat,
    children, and a constant's `value` (null when it has too many numbers);
    at the top `"truncated": true` when the graph was cut."""
    def node_dict(node):
        out = {"label": node.label, "kind": node.kind, "shape": list(node.shape),
               "names": list(node.names), "id": node.ident, "repeat": node.repeat,
               "children": []}
        if node.kind == "constant":
            out["value"] = None if node.value is None else jsonio.array(node.value)
        return out

    out = node_dict(root)
    stack = [(root, out)]
    while stack:
        node, shown = stack.pop()
        for child in node.children:
            child_dict = node_dict(child)
            shown["children"].append(child_dict)
            stack.append((child, child_dict))
    if cut:
        out["truncated"] = True
    return out


# ------------------------------------------------------------------ errors

@dataclass
class Located:
    """Where a message points: FILE, 1-based line and column, and the text."""

    origin: str
    line: int
    column: int
    end_line: int
    end_column: int
    line_text: Optional[str]


def report(exc: BaseException, origin: str, source: Optional[str], *, errors=None,
           debug: bool = False, first_line: int = 1) -> None:
    """What went wrong, on `errors` (stderr): a GradcliError at its place in
    `source`, whose lines are counted from `first_line` (a chunk of a
    stream), or in its own JSON text; any other exception as an internal
    error. `debug` writes the traceback first."""
    errors = sys.stderr if errors is None else errors
    width = terminal_width(errors)
    if debug:
        traceback.print_exception(exc, file=errors)
    if not isinstance(exc, GradcliError):
        say(f"{type(exc).__name__}: {exc}", "internal error", errors)
        if not debug:
            errors.write("(this is a bug in gradcli; --debug shows the traceback)\n")
    elif exc.origin is not None and exc.span is not None:    # in its own text (JSON, --expect)
        span = exc.span
        errors.write(error_report(exc.message, Located(
            exc.origin, span.line, span.column, span.end_line, span.end_column, exc.line_text),
            width=width))
    else:
        where = locate(exc.span, origin, source)
        if where is not None and first_line != 1:
            shift = first_line - 1
            where = replace(where, line=where.line + shift, end_line=where.end_line + shift)
        errors.write(error_report(exc.message, where, width=width))
    errors.flush()


def say(message: str, kind: Optional[str] = "error", errors=None) -> None:
    """`gradcli: KIND: message` on `errors` (stderr), for what has no place
    in a program to point at."""
    errors = sys.stderr if errors is None else errors
    errors.write(message_line(message, kind, terminal_width(errors)))


def warn(warnings: Iterable[str], errors=None) -> None:
    for text in warnings or ():
        say(text, "warning", errors)


def message_line(message: str, kind: Optional[str] = "error",
                 width: Optional[int] = None) -> str:
    """`gradcli: KIND: message`, or `gradcli: message` without a kind;
    what it quotes from the input escaped; broken between words to `width`."""
    text = f"gradcli: {kind + ': ' if kind else ''}{printable(message)}"
    return "\n".join(wrap_words(text, width, MESSAGE_INDENT)) + "\n"


def terminal_width(stream) -> Optional[int]:
    """The width messages on `stream` wrap at: a terminal's (COLUMNS when
    given). None for a pipe or a file, where each message stays one line
    for the editors and scripts that read `FILE:LINE:COL: error:`."""
    if not textin.is_terminal(stream):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None


def error_report(message: str, where: Optional[Located], kind: str = "error",
                 width: Optional[int] = None) -> str:
    """`FILE:LINE:COL: error: message` (broken between words to `width`),
    the source line and a caret line; or `gradcli: error: message` when
    there is no place to point at. Escapes widen the line; the caret and
    its tildes stay under the span."""
    if where is None:
        return message_line(message, kind, width)
    message = printable(message)
    head = f"{printable(where.origin)}:{where.line}:{where.column}: {kind}: {message}"
    out = wrap_words(head, width, MESSAGE_INDENT)
    if where.line_text is not None:
        # Each character as shown; tabs are kept, so that the caret line,
        # made of the same tabs, lines up under any tab width.
        shown = [printable(ch, keep="\t") for ch in where.line_text.rstrip("\r\n")]
        start = where.column - 1
        stop = (where.end_column - 1 if where.end_line == where.line else start + 1)
        stop = max(stop, start + 1)
        lead = "".join("\t" if ch == "\t" else " " * len(ch) for ch in shown[:start])
        lead += " " * max(0, start - len(shown))
        width = sum(len(ch) for ch in shown[start:stop]) + max(0, stop - max(start, len(shown)))
        out += ["".join(shown), lead + "^" + "~" * (width - 1)]
    return "\n".join(out) + "\n"


def locate(span, origin: str, source: Optional[str]) -> Optional[Located]:
    """A span in `source` (the program text) as a Located, if it has one."""
    if span is None:
        return None
    line_text = None
    if source is not None:
        # Lines as the parser counts them: CR LF and CR are line feeds, and
        # nothing else ends a line (str.splitlines would split at \x0c, \x1c,
        # \x85, U+2028 ...).
        lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if 1 <= span.line <= len(lines):
            line_text = lines[span.line - 1]
    return Located(origin, span.line, span.column, span.end_line, span.end_column, line_text)
