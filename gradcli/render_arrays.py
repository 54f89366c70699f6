"""How arrays fit the output: which slices, rows and columns show, the
grids that draw them, prints laid side by side, and the table of values
beside their gradients (render.py's numbers, formats and captions).

Which elements show (`Display`, one per console):
- `--full`: every element.
- Output with a width to follow (a terminal, or COLUMNS given): as many
  columns as fit it, the first and last alike; rows, and the 2-d slices of
  a higher-rank array, as numpy shows them: all of an array of up to
  THRESHOLD elements, of a larger one the first and last EDGE.
- Other output (a pipe, a file): numpy's rule on every axis.
A grid is never wider than the width given to it while a narrower one can
show: columns that must all show (`--full`, or numpy's rule) are split into
bands of columns, one under the other; a table of values and gradients that
cannot stand side by side shows each value above its gradient. Whatever is
left out is said in the caption, with the number shown and the number there.

Rich draws the grids; each is sized here, before rich sees it, so that rich
never has to shorten a cell (and would fold it rather than cut it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import numpy as np

from .core.tensor import shape_str
from .render import COL_GAP, ROW_GAP, caption, element_format, format_scalar, printable

THRESHOLD = 1000     # numpy: an array with more elements is summarized ...
EDGE = 3             # ... to this many items at each end of each long axis
MAX_SLICES = 24      # 2-d slices of a summarized array, half from each end
FULL_HINT = "--full shows all"
BOXED_BORDERS, GRID_GAP = 3, 2     # per column: "│ " + " " of a box; the grid's gap


@dataclass(frozen=True)
class Display:
    """How a console shows arrays. `fit`: the output has a width to follow;
    `full`: every element; `precision`: most digits after the point."""

    full: bool = False
    precision: Optional[int] = None
    fit: bool = True


def display_of(console) -> Display:
    """The console's Display (render.make_console sets one; any other
    console fits its width)."""
    return getattr(console, "gradcli_display", None) or Display()


# ------------------------------------------------------------------ plans

def _edges(n: int, k: int) -> list[Optional[int]]:
    """The first and last k of n indices, None between them."""
    return list(range(k)) + [None] + list(range(n - k, n))


def _shown(indices) -> list[int]:
    return [i for i in indices if i is not None]


class Part:
    """What of one array (rank >= 1) can show: its 2-d slices and their
    rows (by numpy's rule), the columns a layout may choose among, and
    those columns' texts in one shared format.

    A vector is one row; a higher-rank array a stack of 2-d slices that
    show the same rows and columns. `grid_width(columns)` and `choose(cost,
    budget)` let a layout pick the columns; `hidden(columns)` says what
    they leave out."""

    def __init__(self, data: np.ndarray, display: Display, budget: int):
        self.data = data
        self.display = display
        self.vector = data.ndim == 1
        n_rows, self.n_cols = (1, data.shape[0]) if self.vector else data.shape[-2:]
        self.n_rows = n_rows
        self.summarized = data.size > THRESHOLD and not display.full
        lead_shape = data.shape[:-2]
        self.n_slices = int(np.prod(lead_shape)) if lead_shape else 1
        self.leads = _slices(lead_shape, self.summarized) if lead_shape else [()]
        self.rows = _edges(n_rows, EDGE) if self.summarized and n_rows > 2 * EDGE \
            else list(range(n_rows))
        # No column is narrower than one character and its gap: more than
        # `reach` columns from each end never fit the budget.
        self.reach = max(1, min(self.n_cols, budget // (1 + GRID_GAP) + 1))
        if display.fit and not display.full:
            self.candidates = sorted(set(range(self.reach))
                                     | set(range(self.n_cols - self.reach, self.n_cols)))
        else:
            self.candidates = _shown(self.policy_columns())
        self._format(self.candidates)

    def matrix(self, lead) -> np.ndarray:
        return self.data.reshape(1, -1) if self.vector else self.data[lead]

    def policy_columns(self) -> list[Optional[int]]:
        """The columns numpy's rule shows (all, unless summarized)."""
        if self.summarized and self.n_cols > 2 * EDGE:
            return _edges(self.n_cols, EDGE)
        return list(range(self.n_cols))

    def _format(self, columns: list[int]) -> None:
        """One format for the elements of `columns` in the shown rows and
        slices; each column's width in it."""
        rows = _shown(self.rows)
        region = np.stack([self.matrix(lead)[np.ix_(rows, columns)]
                           for lead in _shown(self.leads)])
        self.write = element_format(region, self.display.precision)
        self.column_width = {c: max(len(self.write(v)) for v in region[:, :, i].ravel())
                      for i, c in enumerate(columns)}

    def grid_width(self, columns, boxed: bool) -> int:
        """How wide a grid of these columns is."""
        # A column never formatted is beyond `reach`: counted at its least.
        cells = [1 if c is None else self.column_width.get(c, 1) for c in columns]
        if boxed:
            return 1 + sum(w + BOXED_BORDERS for w in cells)
        return sum(cells) + GRID_GAP * (len(cells) - 1)

    def choose(self, cost: Callable[[list], int], budget: int) -> Optional[list[Optional[int]]]:
        """The columns to show within `budget` by `cost(columns)`: all, or
        (when the width is followed) the first and last k for the largest k
        that fits; None when not even the first and last one fit. Under
        numpy's rule, or `--full`, the policy's columns whatever the cost."""
        if not self.display.fit or self.display.full:
            return self.policy_columns()
        every = list(range(self.n_cols))
        if cost(every) <= budget:
            return every
        best, k = None, 1
        while 2 * k < self.n_cols and k <= self.reach and cost(_edges(self.n_cols, k)) <= budget:
            best, k = _edges(self.n_cols, k), k + 1
        return best

    def fewest(self) -> list[Optional[int]]:
        """What shows when nothing fits: the first and last column."""
        return list(range(self.n_cols)) if self.n_cols <= 2 else _edges(self.n_cols, 1)

    def settle(self, columns, cost: Callable[[list], int], budget: int) -> None:
        """Format from the columns chosen alone (as numpy formats what it
        shows), unless that makes them wider than the budget (fewer
        elements can call for scientific notation)."""
        before = self.write, self.column_width
        self._format(_shown(columns))
        if cost(columns) > budget:
            self.write, self.column_width = before

    def hidden(self, columns) -> list[str]:
        """What these columns, the rows and the slices leave out, as
        `6 of 50 rows`."""
        out = []
        if None in self.leads:
            out.append(f"{len(_shown(self.leads))} of {self.n_slices} slices")
        if None in self.rows:
            out.append(f"{len(_shown(self.rows))} of {self.n_rows} rows")
        if None in columns:
            unit = "values" if self.vector else "columns"
            out.append(f"{len(_shown(columns))} of {self.n_cols} {unit}")
        return out


def _slices(lead_shape, summarized: bool) -> list:
    """Leading index tuples of a rank>2 array, with None where elided:
    every one, or for a summarized array the first and last EDGE of each
    leading axis, at most MAX_SLICES in all."""
    out: list = [()]
    for n in lead_shape:
        axis = _edges(n, EDGE) if summarized and n > 2 * EDGE else list(range(n))
        grown: list = []
        for prefix in out:
            for i in ([None] if prefix is None else axis):
                if i is None or prefix is None:
                    if not (grown and grown[-1] is None):
                        grown.append(None)
                else:
                    grown.append(prefix + (i,))
        out = grown
    if not summarized:
        return out
    leads = _shown(out)
    if len(leads) <= MAX_SLICES:
        return out
    half = MAX_SLICES // 2
    return leads[:half] + [None] + leads[-half:]


def bands(part: Part, columns, boxed: bool, budget: int) -> list[list]:
    """`columns` split into runs that each fit `budget` (one column at the
    least): one run when they all fit."""
    out: list[list] = [[]]
    for c in columns:       # the gap of elided columns stays with the run before it
        if c is not None and out[-1] and part.grid_width(out[-1] + [c], boxed) > budget:
            out.append([])
        out[-1].append(c)
    # As many runs, of even lengths, when those fit too (5 and 5, not 9 and 1).
    size = -(-len(columns) // len(out))
    even = [columns[i:i + size] for i in range(0, len(columns), size)]
    if len(even) == len(out) and all(_shown(run) and part.grid_width(run, boxed) <= budget
                                     for run in even):
        return even
    return out


def hidden_note(hidden: list[str]) -> str:
    return f"showing {', '.join(hidden)}; {FULL_HINT}"


def note(text: str, width: int):
    """A dim line of text, wrapped between words to `width`."""
    from rich.text import Text
    return wrapped(Text(printable(text), style="dim"), width)


def wrapped(text, width: int):
    """A rich Text broken between words into lines of at most `width`
    (rich would leave a space at the end of each line it breaks); a word
    longer than that stands on a line of its own."""
    from rich.text import Text

    plain = text.plain
    cuts, start, space = [], 0, None
    for i, char in enumerate(plain):
        if char == " ":
            space = i
        if i - start >= width and space is not None and space > start:
            cuts.append(space + 1)
            start, space = space + 1, None
    if not cuts:
        return text
    lines = text.divide(cuts)
    for line in lines:
        line.rstrip()
    return Text("\n").join(lines)


# ------------------------------------------------------------------ grids

def grid(matrix: np.ndarray, rows, columns, write, boxed: bool):
    """A rich table of the chosen rows and columns of a 2-d array,
    right-aligned, with ⋮ … ⋱ where rows or columns are left out."""
    from rich import box
    from rich.table import Table

    if boxed:
        table = Table(show_header=False, box=box.ROUNDED, padding=(0, 1), pad_edge=True)
    else:
        table = Table.grid(padding=(0, GRID_GAP))
    for _ in columns:
        table.add_column(justify="right", overflow="fold")
    for r in rows:
        if r is None:
            table.add_row(*[ROW_GAP if c is not None else "⋱" for c in columns])
        else:
            table.add_row(*[COL_GAP if c is None else write(matrix[r, c]) for c in columns])
    return table


def _pieces(part: Part, columns, boxed: bool, budget: int, name: str, labels: bool):
    """The renderables of an array: per 2-d slice its label, then its grid,
    or its bands of columns, each under a label."""
    from rich.text import Text

    runs = bands(part, columns, boxed, budget)
    unit = "values" if part.vector else "columns"
    out = []
    for lead in part.leads:
        if lead is None:
            out.append(Text(ROW_GAP))
            continue
        if lead:
            index = ", ".join(str(i) for i in lead) + ", :, :"
            out.append(Text(printable(f"{name}[{index}]"),
                            style="bold" if labels else "dim"))
        for run in runs:
            if len(runs) > 1:
                shown = _shown(run)
                span = f"{unit} {shown[0]}–{shown[-1]}" if len(shown) > 1 else \
                    f"{unit[:-1]} {shown[0]}"
                out.append(Text(span, style="dim"))
            out.append(grid(part.matrix(lead), part.rows, run, part.write, boxed))
    return out


class ArrayView:
    """An array of rank >= 1 on its own: its name (if any), grids and caption."""

    def __init__(self, data: np.ndarray, *, name: str = "", grad_fn: Optional[str] = None,
                 requires_grad: bool = False):
        self.data, self.name = data, name
        self.grad_fn, self.requires_grad = grad_fn, requires_grad

    def __rich_console__(self, console, options):
        from rich.text import Text

        data = self.data
        label = caption(data.shape, data.dtype, self.grad_fn, self.requires_grad)
        if data.size == 0:
            yield Text("(empty)")
            yield note(label, options.max_width)
            return
        budget = options.max_width
        part = Part(data, display_of(console), budget)

        def cost(columns):
            return part.grid_width(columns, boxed=True)

        columns = part.choose(cost, budget) or part.fewest()
        part.settle(columns, cost, budget)
        hidden = part.hidden(columns)
        if hidden:
            label += " · " + hidden_note(hidden)
        if self.name:
            yield Text(printable(self.name), style="bold")
        yield from _pieces(part, columns, True, budget, self.name, labels=True)
        yield note(label, budget)


# ------------------------------------------------------ prints side by side

class SideBySide:
    """One print's values in a row, as wide as the output allows, further
    values on the next rows: `blocks` are (renderable, is_text). A text
    stands beside a table on its first row of numbers; `sep` (Python's
    print separator) stands after a text, two spaces between tables. No
    line ends in spaces."""

    def __init__(self, blocks: list[tuple], sep: str = " "):
        self.blocks, self.sep = blocks, sep

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        width = options.max_width
        drawn = []
        for renderable, is_text in self.blocks:
            lines = console.render_lines(renderable, options.update(width=width), pad=False)
            drawn.append((lines, max(Segment.get_line_length(line) for line in lines), is_text))
        row: list = []
        used = 0
        for block in drawn:
            gap = len(self._gap(row[-1], block)) if row else 0
            if row and used + gap + block[1] > width:
                yield from self._row(row)
                row, used, gap = [], 0, 0
            row.append(block)
            used += gap + block[1]
        if row:
            yield from self._row(row)

    def _gap(self, left, right) -> str:
        return self.sep if left[2] or right[2] else "  "

    def _row(self, row):
        from rich.segment import Segment

        tables = [lines for lines, _, is_text in row if not is_text]
        numbers = next((i for i, line in enumerate(tables[0])
                        if "".join(s.text for s in line).startswith("│")), 0) if tables else 0
        placed = [(lines, width, numbers if is_text else 0, is_text)
                  for lines, width, is_text in row]
        height = max(len(lines) + offset for lines, _, offset, _ in placed)
        for y in range(height):
            segments: list = []
            for k, (lines, width, offset, is_text) in enumerate(placed):
                line = lines[y - offset] if 0 <= y - offset < len(lines) else []
                if k:
                    gap = self._gap(row[k - 1], row[k])
                    # The separator stands on the line of the text it follows or precedes.
                    beside = (is_text and line) or (placed[k - 1][3] and 0 <= y - placed[k - 1][2]
                                                    < len(placed[k - 1][0]))
                    segments.append(Segment(gap if beside else " " * len(gap)))
                segments.extend(line)
                segments.append(Segment(" " * (width - Segment.get_line_length(line))))
            yield from _rstrip(segments)
            yield Segment.line()


def _rstrip(segments: list) -> list:
    """The segments of a line without the spaces at its end."""
    from rich.segment import Segment

    out = list(segments)
    while out and not out[-1].control and not out[-1].text.rstrip():
        out.pop()
    if out and not out[-1].control:
        last = out[-1]
        out[-1] = Segment(last.text.rstrip(), last.style)
    return out


# ------------------------------------------------------- values and gradients

@dataclass
class GradientRow:
    """A variable in the gradient table: its value and gradient (None: a
    PyTorch leaf that no backward reached), and other names of the same
    value, shown under its own."""

    name: str
    value: np.ndarray
    grad: Optional[np.ndarray]
    aliases: tuple = ()

    @property
    def lines(self) -> list[str]:
        """The name cell: the name, then `y (same as x)` for each other name."""
        return [printable(self.name)] + [printable(f"{alias} (same as {self.name})")
                                         for alias in self.aliases]


class GradientTable:
    """Variables beside their gradients: name, shape, value, gradient in
    one table when every row fits side by side, showing all its columns or
    at least the first and last EDGE; else each value above its gradient.
    Under the table, what each row leaves out."""

    def __init__(self, rows: Iterable, title: Optional[str] = None):
        self.rows = [row if isinstance(row, GradientRow) else GradientRow(*row) for row in rows]
        for row in self.rows:
            row.value = np.asarray(row.value)
            row.grad = None if row.grad is None else np.asarray(row.grad)
        self.title = title

    def __rich_console__(self, console, options):
        from rich.text import Text

        display = display_of(console)
        width = options.max_width
        if self.title:
            yield Text(printable(self.title), style="bold")
        laid = self._side_by_side(display, width)
        table, notes = laid if laid is not None else self._stacked(display, width)
        yield table
        for name, hidden in notes:
            yield note(f"{name}: {hidden_note(hidden)}", width)

    # Four columns and their borders: │ name │ shape │ value │ gradient │
    def _fixed(self) -> tuple[int, int]:
        name = max([len("name")] + [len(line) for row in self.rows for line in row.lines])
        shape = max([len("shape")] + [len(shape_str(row.value.shape)) for row in self.rows])
        return name, shape

    def _side_by_side(self, display: Display, width: int):
        name_w, shape_w = self._fixed()
        budget = width - (1 + 4 * BOXED_BORDERS) - name_w - shape_w
        cells = [_RowCells(row, display, budget) for row in self.rows]
        if not all(cell.start() for cell in cells):
            return None
        while True:
            value_w = max([len("value")] + [cell.value_width() for cell in cells])
            grad_w = max([len("gradient")] + [cell.grad_width() for cell in cells])
            if value_w + grad_w <= budget:
                break
            # Narrow a row that makes one of the two columns as wide as it is.
            widest = [cell for cell in cells if cell.can_narrow() and (
                cell.value_width() == value_w or cell.grad_width() == grad_w)]
            if not widest:
                return None
            max(widest, key=lambda c: c.value_width() + c.grad_width()).narrower()
        return self._table(cells, budget), [(c.row.name, c.hidden()) for c in cells if c.hidden()]

    def _table(self, cells, budget):
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.ROUNDED, show_lines=True)
        table.add_column("name", no_wrap=True)
        table.add_column("shape", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_column("gradient", overflow="fold")
        for cell in cells:
            table.add_row(Text("\n".join(cell.row.lines)), shape_str(cell.row.value.shape),
                          cell.value_view(budget), cell.grad_view(budget))
        return table

    def _stacked(self, display: Display, width: int):
        from rich import box
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        budget = width - (1 + BOXED_BORDERS)
        table = Table(box=box.ROUNDED, show_lines=True, show_header=False)
        table.add_column(overflow="fold")
        notes = []
        for row in self.rows:
            cell = _RowCells(row, display, budget)
            cell.alone()
            name, *aliases = row.lines
            head = Text(name, style="bold")
            head.append(f"  {shape_str(row.value.shape)}")
            for alias in aliases:
                head.append("\n" + alias)
            table.add_row(Group(head, Text("value", style="dim"), cell.value_view(budget, "left"),
                                Text("gradient", style="dim"), cell.grad_view(budget, "left")))
            if cell.hidden():
                notes.append((row.name, cell.hidden()))
        return table, notes


class _RowCells:
    """The value and gradient cells of one row, showing the same columns."""

    def __init__(self, row: GradientRow, display: Display, budget: int):
        self.row = row
        self.display = display
        self.budget = budget
        arrays = row.value.ndim > 0 and row.value.size > 0
        self.value = Part(row.value, display, budget) if arrays else None
        self.grad = Part(row.grad, display, budget) \
            if arrays and row.grad is not None and row.grad.shape == row.value.shape else None
        self.columns = None
        self._choices: list = []

    def _cost(self, columns) -> int:
        return self._width(self.value, columns) + self._width(self.grad, columns)

    @staticmethod
    def _width(part, columns) -> int:
        return 0 if part is None else part.grid_width(columns, boxed=False)

    def start(self) -> bool:
        """The widest columns that fit side by side, showing at least the
        first and last EDGE; False when those do not fit."""
        if self.value is None:
            return True
        part = self.value
        if not part.display.fit or part.display.full:
            self.columns = part.policy_columns()
            self._settle(self._cost)
            return True
        every = list(range(part.n_cols))
        self._choices = [every] + [_edges(part.n_cols, k) for k in
                                   range(min((part.n_cols - 1) // 2, part.reach), EDGE - 1, -1)]
        while self._choices and self._cost(self._choices[0]) > self.budget:
            self._choices.pop(0)
        if not self._choices:
            return False
        self.columns = self._choices[0]
        self._settle(self._cost)
        return True

    def can_narrow(self) -> bool:
        return len(self._choices) > 1

    def narrower(self) -> None:
        """Show the next fewer columns."""
        self._choices.pop(0)
        self.columns = self._choices[0]

    def alone(self) -> None:
        """Columns for value and gradient one above the other: each within
        the budget, as many as fit."""
        if self.value is None:
            return

        def cost(columns):
            return max(self._width(self.value, columns), self._width(self.grad, columns))
        self.columns = self.value.choose(cost, self.budget) or self.value.fewest()
        self._settle(cost)

    def _settle(self, cost) -> None:
        for part in (self.value, self.grad):
            if part is not None:
                part.settle(self.columns, cost, self.budget)

    def value_width(self) -> int:
        if self.value is None:
            return len(self._scalar(self.row.value))
        return self._width(self.value, self.columns)

    def grad_width(self) -> int:
        if self.grad is None:
            return len(self._scalar(self.row.grad))
        return self._width(self.grad, self.columns)

    def _scalar(self, data) -> str:
        if data is None:
            return "None"
        if data.size == 0:
            return "(empty)"
        return format_scalar(data[()] if data.ndim == 0 else data, self.display.precision)

    def hidden(self) -> list[str]:
        return [] if self.value is None else self.value.hidden(self.columns)

    def value_view(self, budget, justify: str = "right"):
        return self._view(self.value, self.row.value, self.row.name, budget, justify)

    def grad_view(self, budget, justify: str = "right"):
        return self._view(self.grad, self.row.grad, f"{self.row.name}.grad", budget, justify)

    def _view(self, part, data, name, budget, justify):
        """A cell: the grids of an array, else a number (in a column of
        numbers to the right) or None (to the left, as words are)."""
        from rich.console import Group
        from rich.text import Text

        if part is None:
            return Text(self._scalar(data), justify="left" if data is None else justify)
        return Group(*_pieces(part, self.columns, False, budget, name, labels=False))


class Fitted:
    """`wide` (a table) when its natural width fits the output, else
    `narrow`: rich Texts, one a line, broken between words."""

    def __init__(self, wide, narrow):
        self.wide, self.narrow = wide, narrow

    def __rich_console__(self, console, options):
        from rich.measure import Measurement

        width = options.max_width
        natural = Measurement.get(console, options.update_width(1 << 20), self.wide).maximum
        if natural <= width:
            yield self.wide
        else:
            yield from (wrapped(line, width) for line in self.narrow)
