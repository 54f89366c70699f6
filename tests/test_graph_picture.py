"""`gradcli graph`: the names a program gave its values and the constants
its ops read, in the tree, DOT and JSON; the layered layout; and the
pictures `--out FILE.svg|.png` draws without Graphviz, checked by their
content (counts, labels, PNG header, decoding), not by eye."""

from __future__ import annotations

import ast
import io
import json
import os
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
import zlib
from pathlib import Path

import numpy as np
import pytest

from gradcli import api, layout, picture, render
from gradcli.core import tensor
from test_cli import gradcli, write
from test_repl import make_repl

PROGRAM = "input x = [1, 2]\nc = [3, 4]\ny = x * x\nz = sum(2 * y + c)\nz\n"
TREE = ("SumBackward  ()  z\n"
        "└── AddBackward  (2,)\n"
        "    ├── MulBackward  (2,)\n"
        "    │   ├── const  ()  = 2\n"
        "    │   └── MulBackward  (2,)  y\n"
        "    │       ├── x  (2,)\n"
        "    │       └── x  (2,)  (shown above)\n"
        "    └── const  (2,)  c = [3, 4]\n")
SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LONG_CHAIN = "input x = 1.0\ny = x\nfor i in range(300):\n    y = y * 1.01 + x\ny"


def graph_of(source: str, **options) -> api.GraphNode:
    return api.graph(api.load(source), **options)


# ----------------------------------------------- names and constants

def test_the_tree_names_intermediate_values_and_shows_constants(tmp_path):
    result = gradcli("graph", write(tmp_path, PROGRAM))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == TREE


def test_dot_has_the_names_and_constants_and_the_dag():
    result = gradcli("graph", "-e", PROGRAM, "--dot")
    assert result.exit_code == 0, result.stderr
    nodes = [r'n0 [label="SumBackward\n()\nz", shape=box];',
             r'n1 [label="AddBackward\n(2,)", shape=box];',
             r'n2 [label="MulBackward\n(2,)", shape=box];',
             r'n3 [label="const\n()\n= 2", shape=box, style="dashed"];',
             r'n4 [label="MulBackward\n(2,)\ny", shape=box];',
             r'n5 [label="x\n(2,)", shape=ellipse];',
             r'n6 [label="const\n(2,)\nc = [3, 4]", shape=box, style="dashed"];']
    edges = ["n0 -> n1;", "n1 -> n2;", "n1 -> n6;", "n2 -> n3;", "n2 -> n4;", "n4 -> n5;",
             "n4 -> n5;"]
    assert result.stdout.splitlines() == ["digraph gradcli {", '  node [fontname="monospace"];',
                                          *["  " + line for line in nodes + edges], "}"]


def test_json_has_kinds_names_and_constant_values():
    result = gradcli("graph", "-e", PROGRAM, "--json")
    assert result.exit_code == 0, result.stderr

    def node(label, kind, shape, names, ident, children=(), repeat=False, **value):
        return {"label": label, "kind": kind, "shape": shape, "names": names, "id": ident,
                "repeat": repeat, "children": list(children), **value}
    x = node("x", "leaf", [2], ["x"], 5)
    assert json.loads(result.stdout) == node("SumBackward", "op", [], ["z"], 0, [
        node("AddBackward", "op", [2], [], 1, [
            node("MulBackward", "op", [2], [], 2, [
                node("const", "constant", [], [], 3, value=2.0),
                node("MulBackward", "op", [2], ["y"], 4, [x, {**x, "repeat": True}])]),
            node("const", "constant", [2], ["c"], 6, value=[3.0, 4.0])])])


def test_names_come_from_every_binding_in_order_functions_and_loops_too():
    root = graph_of("input x = [1, 2]\ndef f(a):\n    b = a * 3\n    return b\n"
                    "w = f(x)\nfor i in range(2):\n    w = w + x\nw\n")
    assert (root.label, root.names) == ("AddBackward", ("w",))
    inner = root.children[0]
    assert (inner.label, inner.names) == ("AddBackward", ("w",))
    mul = inner.children[0]
    assert (mul.label, mul.names) == ("MulBackward", ("b", "w"))


def test_an_in_place_update_names_the_new_node():
    root = graph_of("input x = [1, 2]\ny = x * 2\ny += 1\ny\n")
    assert (root.label, root.names) == ("AddBackward", ("y",))
    assert root.children[1].value == 1


def test_a_large_constant_shows_its_shape_and_name_not_its_numbers():
    root = graph_of("input w = [1, 2]\nX = ones(10, 2)\nsum(X @ w)\n")
    matmul = root.children[0]
    const = matmul.children[0]
    assert (const.kind, const.shape, const.names, const.value) == \
        ("constant", (10, 2), ("X",), None)
    assert render.graph_label(const) == ("const", "(10, 2)", "X")
    as_json = render.graph_json(root)["children"][0]["children"][0]
    assert as_json["value"] is None and as_json["names"] == ["X"]


def test_a_constant_used_twice_is_one_node():
    root = graph_of("input x = [1, 2]\nc = [3, 4]\nsum(x * c + c)\n")
    nodes, edges = render.graph_dag(root)
    consts = [ident for ident, node in nodes.items() if node.kind == "constant"]
    assert len(consts) == 1
    assert sum(target == consts[0] for _, target in edges) == 2


def test_the_numbers_of_a_constant_are_those_it_had_when_read():
    # backward freed what the op saved, then c changed: the graph still shows 3.
    root = graph_of("input x = [1, 2]\nc = 3\ny = x * c\nsum(y).backward()\n"
                    "with no_grad:\n    c += 1\ny\n")
    assert render.graph_label(root.children[1]) == ("const", "()", "c = 3")


def test_an_untracked_result_is_a_constant():
    root = graph_of("x = [1, 2]\nx\n")
    assert (root.kind, root.label, root.value.tolist()) == \
        ("constant", "const (untracked)", [1.0, 2.0])
    assert render.graph_label(root)[2] == "x = [1, 2]"


def test_numbers_are_written_nested_in_one_format():
    assert render.numbers_text(np.array(2.0)) == "2"
    assert render.numbers_text(np.array([[0.5], [2.0]])) == "[[0.5], [2.0]]"
    assert render.numbers_text(np.array([True, False])) == "[True, False]"
    assert render.numbers_text(np.zeros((2, 0))) == "[[], []]"


def test_ordinary_runs_keep_no_notes():
    """Only graph (and the REPL) note constants and names; `record` is
    the plain one again after noting, even when the run fails."""
    run = api.run(api.load("input x = [1, 2]\nx.attach_grad()\ny = x * 2\ny\n"))
    assert getattr(run.interp.globals.vars["y"].node, "notes", None) is None
    assert tensor.record is tensor._record
    with pytest.raises(ZeroDivisionError):
        with tensor.noting_inputs():
            assert tensor.record is not tensor._record
            1 / 0
    assert tensor.record is tensor._record


def test_the_repl_graph_has_names_and_constants():
    session, out, err = make_repl()
    session.execute("x = ones(2)\nattach_grad(x)\ny = x * 3\nz = sum(y + y)")
    assert session.execute(":graph z") is True
    assert out.getvalue() == ("SumBackward  ()  z\n"
                              "└── AddBackward  (2,)\n"
                              "    ├── MulBackward  (2,)  y\n"
                              "    │   ├── x  (2,)\n"
                              "    │   └── const  ()  = 3\n"
                              "    └── MulBackward  (2,)  y  (shown above)\n")
    assert err.getvalue() == ""


# ------------------------------------------------------------- layout

def laid_out(source: str, **options):
    root = graph_of(source, **options)
    drawn = picture.scene(root)
    nodes, edges = render.graph_dag(root)
    hanging = {ident for ident, node in nodes.items() if node.kind == "constant"}
    sizes = {box.ident: (box.w, box.h) for box in drawn.boxes}
    return nodes, edges, layout.layered(sizes, edges, hanging)


def test_layers_put_the_result_on_top_leaves_at_the_bottom_constants_under_their_user():
    nodes, edges, placed = laid_out(PROGRAM)
    by_label = {(node.label, node.names): placed.layer[ident] for ident, node in nodes.items()}
    assert by_label == {("SumBackward", ("z",)): 0, ("AddBackward", ()): 1,
                        ("MulBackward", ()): 2, ("const", ()): 3,      # the 2, under its Mul
                        ("MulBackward", ("y",)): 3, ("x", ("x",)): 4,
                        ("const", ("c",)): 2}                          # c, under the Add
    for source, target in edges:
        assert placed.layer[source] < placed.layer[target]


def check_layout(placed):
    """Rows in order without overlaps; each edge joins adjacent layers
    through its dummies, going down, from its source's bottom."""
    width = {item: placed.boxes[item][2] if item in placed.boxes else 0.0
             for row in placed.rows for item in row}
    for row in placed.rows:
        for a, b in zip(row, row[1:]):
            assert placed.x[b] - placed.x[a] >= layout._gap(a, b, width) - 1e-6
    for ident, (x, y, w, h) in placed.boxes.items():
        assert x >= 0 and y >= 0 and x + w <= placed.width and y + h <= placed.height
        assert ident in placed.rows[placed.layer[ident]]
    assert sum(len(row) for row in placed.rows) == len({i for row in placed.rows for i in row})
    item_layer = {item: n for n, row in enumerate(placed.rows) for item in row}
    for edge in placed.edges:
        layers = [item_layer[item] for item in edge.path]
        assert layers == list(range(layers[0], layers[-1] + 1))
        assert all(isinstance(item, layout.Dummy) for item in edge.path[1:-1])
        ys = [y for _, y in edge.points]
        assert ys == sorted(ys)
        x, y, w, h = placed.boxes[edge.source]
        assert ys[0] == y + h and x <= edge.points[0][0] <= x + w


def test_the_layout_has_no_overlaps_and_edges_join_adjacent_layers():
    for source in (PROGRAM, LONG_CHAIN.replace("300", "12"),
                   "input a = [1, 2]\ninput b = [3, 4]\nc = a * b\nd = c + a\ne = d * c\n"
                   "f = exp(e) - b\nsum(f * a + d)\n"):
        check_layout(laid_out(source)[2])


def test_edges_to_one_input_share_their_dummies():
    """x, read at every level of a chain, gets one line down to it: one
    dummy per layer, and each later edge joins that line."""
    nodes, edges, placed = laid_out(LONG_CHAIN.replace("300", "12"))
    dummies = {item for row in placed.rows for item in row if isinstance(item, layout.Dummy)}
    assert len(dummies) == len(placed.rows) - 2
    arriving = [edge for edge in placed.edges if not edge.joins]
    to_x = [edge for edge in arriving if nodes[edge.target].label == "x"]
    assert len(to_x) == 2       # the first Mul reads x itself; the shared line
    assert all(nodes[edge.target].label == "x" for edge in placed.edges if edge.joins)


def test_a_chain_runs_straight_down():
    nodes, _, placed = laid_out(LONG_CHAIN.replace("300", "12"))
    xs = {round(placed.x[ident]) for ident, node in nodes.items() if node.kind == "op"}
    assert len(xs) <= 2         # the result, centred over its two inputs; the chain


def test_layout_is_deterministic_and_fast_at_the_node_cap():
    start = time.perf_counter()
    first = laid_out(LONG_CHAIN)[2]
    assert time.perf_counter() - start < 5
    again = laid_out(LONG_CHAIN)[2]
    assert (first.boxes, [e.points for e in first.edges]) == \
        (again.boxes, [e.points for e in again.edges])
    check_layout(first)


def test_layout_of_plain_nodes_and_a_cycle():
    placed = layout.layered({"a": (10, 10), "b": (10, 10)}, [("a", "b"), ("a", "b")])
    assert placed.layer == {"a": 0, "b": 1} and len(placed.edges) == 2
    assert placed.edges[0].points[-1] != placed.edges[1].points[-1]    # two ports on b
    assert layout.layered({}, []).boxes == {}
    with pytest.raises(ValueError, match="cycle"):
        layout.layered({"a": (1, 1), "b": (1, 1)}, [("a", "b"), ("b", "a")])


def test_layout_imports_only_the_standard_library():
    tree = ast.parse(Path(layout.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert imported <= set(sys.stdlib_module_names)
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))


# ---------------------------------------------------------------- SVG

def svg_of(root, note=None) -> tuple[str, picture.Scene]:
    drawn = picture.scene(root, note)
    return picture.svg(drawn), drawn


def test_svg_has_a_box_per_node_a_path_per_edge_and_the_labels():
    text, drawn = svg_of(graph_of(PROGRAM))
    document = ElementTree.fromstring(text)
    assert document.tag == f"{SVG_NS}svg"
    assert document.get("viewBox") == f"0 0 {document.get('width')} {document.get('height')}"
    assert len(document.findall(f".//{SVG_NS}rect")) == text.count("<rect") == 7
    assert len(document.findall(f".//{SVG_NS}path")) == text.count("<path") == 7
    assert len(document.findall(f".//{SVG_NS}polygon")) == 7       # every edge arrives
    lines = ["".join(span.itertext()) for span in document.iter(f"{SVG_NS}tspan")]
    assert lines == ["SumBackward", "()", "z", "AddBackward", "(2,)", "MulBackward", "(2,)",
                     "const", "()", "= 2", "MulBackward", "(2,)", "y", "x", "(2,)",
                     "const", "(2,)", "c = [3, 4]"]
    kinds = [group.get("class") for group in document.iter(f"{SVG_NS}g")
             if group.get("id", "").startswith("n")]
    assert kinds == ["node op"] * 3 + ["node constant", "node op", "node leaf", "node constant"]


def test_svg_escapes_labels():
    root = api.GraphNode("a<b&\"c\"", (2,), [api.GraphNode("x>y", (2,), [], 1, kind="leaf")], 0,
                         names=("n&m",))
    text, _ = svg_of(root, note="cut <here> & there")
    assert "a&lt;b&amp;\"c\"" in text and "x&gt;y" in text and "n&amp;m" in text
    assert "cut &lt;here&gt; &amp; there" in text
    assert "a<b" not in text and "x>y" not in text
    document = ElementTree.fromstring(text)
    assert {"".join(span.itertext()) for span in document.iter(f"{SVG_NS}tspan")} >= \
        {'a<b&"c"', "x>y", "n&m"}


def test_a_joining_edge_has_no_arrowhead_of_its_own():
    root = graph_of(LONG_CHAIN.replace("300", "12"))
    text, drawn = svg_of(root)
    joined = sum(edge.joins for edge in laid_out(LONG_CHAIN.replace("300", "12"))[2].edges)
    assert joined == 11         # each Add but the last reads x through the shared line
    assert text.count("<path") == len(drawn.edges) == len(render.graph_dag(root)[1])
    assert text.count("<polygon") == len(drawn.arrows) == len(drawn.edges) - joined


# ---------------------------------------------------------------- PNG

def png_header(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, its CRC checked."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    body = data[16:16 + length]
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert zlib.crc32(kind + body) == crc
    return struct.unpack(">II", body[:8])


def test_png_has_the_signature_the_size_and_decodes():
    from matplotlib import image

    drawn = picture.scene(graph_of(PROGRAM))
    data = picture.png(drawn)
    width, height = png_header(data)
    assert (width, height) == picture.png_size(drawn) == \
        (round(drawn.width * picture.PNG_SCALE), round(drawn.height * picture.PNG_SCALE))
    pixels = image.imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (height, width)
    assert pixels[0, 0, :3].tolist() == [1.0, 1.0, 1.0]         # a white background
    assert (pixels[..., :3] < 0.4).any()                         # and something dark on it


def test_a_large_png_is_scaled_down_to_the_limits():
    drawn = picture.Scene(40_000.0, 500.0, [], [])
    width, height = picture.png_size(drawn)
    assert width <= picture.PNG_MAX_SIDE and width * height <= picture.PNG_MAX_PIXELS * 1.01


def test_png_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = gradcli("graph", "-e", PROGRAM, "--out", tmp_path / "g.png")
    assert result.exit_code == 1
    assert "pip install 'gradcli[images]'" in result.stderr
    assert not (tmp_path / "g.png").exists()


# ------------------------------------------------------- graph --out

def test_out_writes_an_svg_and_says_so(tmp_path):
    target = tmp_path / "graph.svg"
    result = gradcli("graph", "-e", PROGRAM, "--out", target)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == f"wrote {target}: 7 nodes, 7 edges\n"
    assert ElementTree.fromstring(target.read_text()).tag == f"{SVG_NS}svg"


def test_out_of_a_single_value_counts_in_the_singular(tmp_path):
    target = tmp_path / "x.svg"
    result = gradcli("graph", "-e", "input x = [1, 2]\nx", "--out", target)
    assert result.stdout == f"wrote {target}: 1 node, 0 edges\n"
    assert target.read_text().count("<rect") == 1


def test_out_with_an_upper_case_suffix_writes_that_format(tmp_path):
    target = tmp_path / "graph.PNG"
    assert gradcli("graph", "-e", PROGRAM, "--out", target).exit_code == 0
    assert target.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("args, message", [
    (["--out", "graph.pdf"], "--out: cannot draw 'graph.pdf': name a .svg or .png file"),
    (["--out", "graph"], "--out: cannot draw 'graph': name a .svg or .png file"),
    (["--out", "g.svg", "--dot"], "--dot and --out cannot be used together"),
    (["--out", "g.svg", "--json"], "--json and --out cannot be used together"),
])
def test_out_usage_errors_exit_2(tmp_path, args, message):
    result = gradcli("graph", "-e", PROGRAM, *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[0] == f"gradcli: error: {message}"


def test_out_into_an_unwritable_place_exits_1(tmp_path):
    target = tmp_path / "missing" / "graph.svg"
    result = gradcli("graph", "-e", PROGRAM, "--out", target)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"gradcli: error: cannot write {target}: No such file or directory\n"


def test_out_of_a_cut_graph_warns_and_captions_the_picture(tmp_path):
    target = tmp_path / "long.svg"
    result = gradcli("graph", "-e", LONG_CHAIN, "--out", target)
    assert result.exit_code == 0
    note = render.cut_note(500) + " (--max-nodes N draws more)"
    assert result.stderr == f"gradcli: warning: {note}\n"
    document = ElementTree.fromstring(target.read_text())
    assert [t.text for t in document.iter(f"{SVG_NS}text") if t.get("class") == "note"] == [note]


def test_out_draws_without_graphviz(tmp_path):
    """A real process whose PATH holds only a fake `dot` that leaves a mark
    when run: both formats are written, and the mark is never made."""
    fake = tmp_path / "bin"
    fake.mkdir()
    mark = tmp_path / "dot-was-called"
    (fake / "dot").write_text(f"#!/bin/sh\ntouch '{mark}'\nexit 1\n")
    (fake / "dot").chmod(0o755)
    env = {**os.environ, "PATH": str(fake)}
    for name in ("graph.svg", "graph.png"):
        target = tmp_path / name
        result = subprocess.run(
            [sys.executable, "-m", "gradcli", "graph", "-e", PROGRAM, "--out", str(target)],
            capture_output=True, text=True, env=env, timeout=120,
            stdin=subprocess.DEVNULL)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == f"wrote {target}: 7 nodes, 7 edges\n"
        assert target.stat().st_size > 0
    assert png_header((tmp_path / "graph.png").read_bytes())[0] > 0
    assert "<rect" in (tmp_path / "graph.svg").read_text()
    assert not mark.exists()


def test_the_readme_tree_with_names_and_constants_is_real():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    command = "$ gradcli graph -e 'input x = [1, 2]; c = [3, 4]; y = x * x; z = sum(2 * y + c); z'"
    shown = readme.split(command + "\n", 1)[1].split("```", 1)[0]
    result = gradcli("graph", "-e", command.split("'")[1])
    assert (result.exit_code, result.stdout) == (0, shown) == (0, TREE)


def test_the_readme_picture_is_what_graph_out_draws(tmp_path):
    """docs/graph.svg is committed beside the command that made it."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    target = tmp_path / "graph.svg"
    result = gradcli("graph", docs.parent / "samples" / "10_mean_grad_fn.ag", "--out", target)
    assert result.exit_code == 0, result.stderr
    assert target.read_text() == (docs / "graph.svg").read_text()
    readme = (docs.parent / "README.md").read_text()
    assert "gradcli graph samples/10_mean_grad_fn.ag --out docs/graph.svg" in readme
    assert "](docs/graph.svg)" in readme
