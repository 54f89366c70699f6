"""Imports flow one way: errors <- core <- lang <- api <- render/cli/repl."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gradcli"
TERMINAL = {"rich", "typer", "click", "prompt_toolkit"}

# For each layer: the gradcli modules it may import, and third-party
# packages it must not.
ALLOWED = {
    "errors": ({"errors"}, TERMINAL | {"numpy", "lark"}),
    "core": ({"errors", "core"}, TERMINAL | {"lark"}),
    "lang": ({"errors", "core", "lang"}, TERMINAL),
    "api": ({"errors", "core", "lang", "api", "explain"}, TERMINAL),
    "expect": ({"errors", "core", "lang", "api"}, TERMINAL),     # check --expect, on the api
    "forward_mode": ({"errors", "core", "lang", "api"}, TERMINAL),   # grad --mode forward
    "plotting": ({"errors", "core", "lang", "api"}, TERMINAL),   # plot's sampling, on the api
}
# explain.py and symbolic.py are the api layer too (gradcli explain's logic).
ALLOWED["explain"] = ALLOWED["symbolic"] = (ALLOWED["api"][0] | {"symbolic"}, TERMINAL)


def imports_of(path: Path):
    """(gradcli module top names, third-party top names) imported by a file."""
    tree = ast.parse(path.read_text())
    ours, theirs = set(), set()
    depth = len(path.relative_to(PACKAGE).parts) - 1
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                # resolve `from ..core import x` relative to the file's package
                base = list(path.relative_to(PACKAGE).parts[:-1])[:depth - node.level + 1]
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts[0]] if parts else [a.name for a in node.names]
                ours.update(names)
            elif node.module.split(".")[0] == "gradcli":
                ours.add(node.module.split(".")[1] if "." in node.module else "gradcli")
            else:
                theirs.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                (ours if top == "gradcli" else theirs).add(top)
    return {n.removesuffix(".py") for n in ours}, theirs


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


FILES = sorted(p for p in PACKAGE.rglob("*.py") if layer_of(p) in ALLOWED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    allowed, forbidden = ALLOWED[layer_of(path)]
    ours, theirs = imports_of(path)
    assert ours <= allowed, f"{path.name} imports {ours - allowed}"
    assert not theirs & forbidden, f"{path.name} imports {theirs & forbidden}"


def test_only_the_parser_imports_lark():
    importers = {p.name for p in PACKAGE.rglob("*.py") if "lark" in imports_of(p)[1]}
    assert importers == {"parser.py"}


def test_only_the_drawing_modules_import_the_plotting_libraries():
    """plotext and matplotlib are drawing, at the edge, and imported only
    there (and only when something is drawn: start-up stays as it was):
    draw.py for plots, picture.py for graph --out's PNG."""
    importers = {p.name for p in PACKAGE.rglob("*.py")
                 if imports_of(p)[1] & {"plotext", "matplotlib"}}
    assert importers == {"draw.py", "picture.py"}
