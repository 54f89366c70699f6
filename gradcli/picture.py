"""`gradcli graph --out FILE.svg|.png`: the recorded graph as a picture,
without Graphviz.

`scene` turns the graph into what is drawn: a box per node with the texts
of every graph form (`render.graph_label`: the op or leaf, the shape, the
program's names or a constant's numbers), placed by `layout.layered` (the
result at the top, leaves at the bottom, shared nodes once), and each edge
as a curve from a node down to one of its inputs ending in an arrowhead:
the arrows follow the backward pass, as in `--dot`. `svg` writes that as
text, `png` draws the same with matplotlib (the `images` extra, imported
only here, only for a PNG).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from . import layout
from .errors import GradcliError
from .render import graph_dag, graph_label

FONT_PX = 12.0              # text size, in pixels of the SVG (and of the PNG at scale 1)
CHAR_PX = 0.6 * FONT_PX     # advance of a monospace character (DejaVu Sans Mono: 0.602 em)
LINE_PX = 16.0
PAD_X, PAD_Y = 10.0, 6.0
ARROW_PX = 8.0              # length of an arrowhead (its width is 3/4 of that)
CAPTION_PX = 28.0           # room under the graph for the note of a cut graph
PNG_SCALE = 2.0             # PNG pixels per SVG pixel: sharp on high-density screens ...
PNG_MAX_PIXELS = 16_000_000     # ... unless the image would be larger than this,
PNG_MAX_SIDE = 32_000           # or longer (Agg draws at most 2**16 pixels a side)
FONTS = "DejaVu Sans Mono, Menlo, Consolas, monospace"

# kind: fill, stroke, dashed; leaves are pills, ops and constants boxes
STYLES = {"op": ("#dbe9f6", "#3f6e9e", False),
          "leaf": ("#e2f3da", "#4b8a3a", False),
          "constant": ("#f4f4f4", "#8c8c8c", True)}
EDGE_COLOUR = "#555555"
SHAPE_COLOUR = "#666666"
NAME_COLOUR = "#a34a00"
FORMATS = (".svg", ".png")


@dataclass
class Line:
    text: str
    role: str               # "head", "shape" or "names"


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float
    kind: str
    lines: list
    ident: int


@dataclass
class Scene:
    width: float
    height: float
    boxes: list
    edges: list             # per edge: its points (see layout.Edge)
    note: str | None = None
    # The 3 corners of each arrowhead: one per edge that reaches its input
    # (not for one that joins an earlier edge to that input).
    arrows: list = field(default_factory=list)


def scene(root, note: str | None = None) -> Scene:
    """What the picture of the graph under `root` shows, and where."""
    nodes, edges = graph_dag(root)
    texts = {ident: [Line(text, role) for text, role in
                     zip(graph_label(node), ("head", "shape", "names")) if text]
             for ident, node in nodes.items()}
    sizes = {ident: (max(len(line.text) for line in lines) * CHAR_PX + 2 * PAD_X,
                     len(lines) * LINE_PX + 2 * PAD_Y) for ident, lines in texts.items()}
    hanging = {ident for ident, node in nodes.items() if node.kind == "constant"}
    placed = layout.layered(sizes, edges, hanging)
    boxes = [Box(*placed.boxes[ident], nodes[ident].kind, texts[ident], ident) for ident in nodes]
    width, height = placed.width, placed.height
    if note is not None:
        width = max(width, len(note) * CHAR_PX + 2 * layout.MARGIN)
        height += CAPTION_PX
    drawn = Scene(width, height, boxes, [], note)
    for edge in placed.edges:
        if edge.joins:      # it goes on as the line it met, whose arrowhead it shares
            drawn.edges.append(edge.points)
            continue
        *points, (tip_x, tip_y) = edge.points
        points.append((tip_x, tip_y - ARROW_PX))     # the line stops where the arrowhead starts
        half = ARROW_PX * 3 / 8
        drawn.edges.append(points)
        drawn.arrows.append([(tip_x - half, tip_y - ARROW_PX), (tip_x + half, tip_y - ARROW_PX),
                             (tip_x, tip_y)])
    return drawn


def segments(points) -> list:
    """An edge's pieces: ("L", end) straight down through a layer, or
    ("C", c1, c2, end), a curve leaving and arriving vertically."""
    out = []
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        if math.isclose(x1, x2):
            out.append(("L", (x2, y2)))
        else:
            middle = (y1 + y2) / 2
            out.append(("C", (x1, middle), (x2, middle), (x2, y2)))
    return out


def _radius(box: Box) -> float:
    return box.h / 2 if box.kind == "leaf" else 5.0


# --------------------------------------------------------------------- SVG

def svg(drawn: Scene) -> str:
    """The scene as an SVG document: a <rect> per node, a <path> and an
    arrowhead <polygon> per edge, a <text> per node (and the note)."""
    w, h = _number(drawn.width), _number(drawn.height)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" font-family={quoteattr(FONTS)} '
           f'font-size="{_number(FONT_PX)}" style="background-color: #ffffff">',
           "<title>gradcli graph</title>",
           f'<g class="edges" fill="none" stroke="{EDGE_COLOUR}" stroke-width="1.2">']
    for points in drawn.edges:
        d = f"M {_point(points[0])}"
        for kind, *ends in segments(points):
            d += f" {kind} " + " ".join(_point(p) for p in ends)
        out.append(f'<path d="{d}"/>')
    out.append("</g>")
    out.append(f'<g class="arrowheads" fill="{EDGE_COLOUR}">')
    out += [f'<polygon points="{" ".join(_point(p) for p in arrow)}"/>' for arrow in drawn.arrows]
    out.append("</g>")
    out.append('<g class="nodes">')
    for box in drawn.boxes:
        fill, stroke, dashed = STYLES[box.kind]
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(f'<g class="node {box.kind}" id="n{box.ident}">'
                   f'<rect x="{_number(box.x)}" y="{_number(box.y)}" width="{_number(box.w)}" '
                   f'height="{_number(box.h)}" rx="{_number(_radius(box))}" fill="{fill}" '
                   f'stroke="{stroke}"{dash}/>')
        out.append(f'<text text-anchor="middle" x="{_number(box.x + box.w / 2)}">'
                   + "".join(_tspan(box, n, line) for n, line in enumerate(box.lines))
                   + "</text></g>")
    out.append("</g>")
    if drawn.note is not None:
        out.append(f'<text class="note" x="{_number(layout.MARGIN)}" '
                   f'y="{_number(drawn.height - CAPTION_PX / 2 + FONT_PX / 3)}" '
                   f'fill="{SHAPE_COLOUR}">{escape(drawn.note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _tspan(box: Box, n: int, line: Line) -> str:
    style = {"head": ' font-weight="bold"' if box.kind == "op" else "",
             "shape": f' fill="{SHAPE_COLOUR}"',
             "names": f' fill="{NAME_COLOUR}"'}[line.role]
    return (f'<tspan x="{_number(box.x + box.w / 2)}" y="{_number(_baseline(box, n))}"{style}>'
            f"{escape(line.text)}</tspan>")


def _baseline(box: Box, n: int) -> float:
    """y of the baseline of a box's n-th line (a line's text sits a third
    of the font size below its middle)."""
    return box.y + PAD_Y + (n + 0.5) * LINE_PX + FONT_PX / 3


def _point(p) -> str:
    return f"{_number(p[0])},{_number(p[1])}"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------- PNG

def png_size(drawn: Scene) -> tuple[int, int]:
    """The PNG's width and height in pixels."""
    scale = min(PNG_SCALE, math.sqrt(PNG_MAX_PIXELS / (drawn.width * drawn.height)),
                PNG_MAX_SIDE / max(drawn.width, drawn.height))
    return max(1, round(drawn.width * scale)), max(1, round(drawn.height * scale))


def png(drawn: Scene) -> bytes:
    """The scene drawn by matplotlib (Agg) as PNG bytes, `png_size` big."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch, PathPatch, Polygon
        from matplotlib.path import Path as Curve
    except ImportError:
        raise GradcliError("a PNG is drawn with matplotlib, which is not installed: "
                           "pip install 'gradcli[images]' (an .svg needs nothing)") from None
    width, height = png_size(drawn)
    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, drawn.width)
    axes.set_ylim(drawn.height, 0)      # y down, as in the SVG
    axes.set_axis_off()
    points_per_px = 72 / dpi * width / drawn.width     # a scene pixel, in points
    codes = {"L": [Curve.LINETO], "C": [Curve.CURVE4] * 3}
    # add_artist, not add_patch: the limits are set, and updating them from
    # every curve's extrema takes seconds on a large graph.
    for points in drawn.edges:
        vertices, kinds = [points[0]], [Curve.MOVETO]
        for kind, *ends in segments(points):
            vertices += ends
            kinds += codes[kind]
        axes.add_artist(PathPatch(Curve(vertices, kinds), fill=False, edgecolor=EDGE_COLOUR,
                                  linewidth=1.2 * points_per_px))
    for arrow in drawn.arrows:
        axes.add_artist(Polygon(arrow, closed=True, facecolor=EDGE_COLOUR, edgecolor="none"))
    for box in drawn.boxes:
        fill, stroke, dashed = STYLES[box.kind]
        axes.add_artist(FancyBboxPatch(
            (box.x, box.y), box.w, box.h, facecolor=fill, edgecolor=stroke,
            boxstyle=f"round,pad=0,rounding_size={_radius(box)}",
            linewidth=points_per_px, linestyle=(0, (4, 3)) if dashed else "solid"))
        for n, line in enumerate(box.lines):
            colour = {"head": "black", "shape": SHAPE_COLOUR, "names": NAME_COLOUR}[line.role]
            bold = line.role == "head" and box.kind == "op"
            axes.text(box.x + box.w / 2, _baseline(box, n), line.text, ha="center",
                      va="baseline", family="monospace", fontsize=FONT_PX * points_per_px,
                      color=colour, weight="bold" if bold else "normal")
    if drawn.note is not None:
        axes.text(layout.MARGIN, drawn.height - CAPTION_PX / 2 + FONT_PX / 3, drawn.note,
                  va="baseline", family="monospace", fontsize=FONT_PX * points_per_px,
                  color=SHAPE_COLOUR)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white",
                   metadata={"Software": "gradcli"})
    return buffer.getvalue()


# ------------------------------------------------------------------- files

def known_format(path: str) -> bool:
    return Path(path).suffix.lower() in FORMATS


def write(root, path: str, note: str | None = None) -> Scene:
    """Draw the graph under `root` into `path` (.svg or .png, by its suffix)."""
    drawn = scene(root, note)
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot draw a {suffix or 'file without a suffix'}")
    data = svg(drawn).encode() if suffix == ".svg" else png(drawn)
    try:
        with open(path, "wb") as out:
            out.write(data)
    except OSError as exc:
        raise GradcliError(f"cannot write {path}: {exc.strerror or exc}") from None
    return drawn
