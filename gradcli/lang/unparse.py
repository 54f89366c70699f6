"""The text of a syntax node, written back from the tree: what `explain`
shows for the expression that made each recorded value.

Written from the tree rather than cut from the source, so that it needs no
source (a REPL session runs many inputs, each its own line 1) and reads the
same however the program was spaced: one space around each operator but
`**` (`2 * x**2 + y`), brackets only where precedence needs them. A long
array literal keeps its first items and `…`.
"""

from __future__ import annotations

from . import ast as A

# Binding strength, loosest first (docs/language.md, Expressions).
_LAMBDA, _OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _POWER, _ATOM = range(10)
_BINARY = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "//": _PRODUCT, "%": _PRODUCT,
           "@": _PRODUCT, "**": _POWER}
_LITERAL_ITEMS = 6      # items of an array literal written out before `…`


def text(node) -> str:
    """`node` (an expression or a simple statement) as source text."""
    return _text(node)[0]


def _text(node) -> tuple[str, int]:
    """The text and how tightly it binds."""
    kind = type(node)
    write = _WRITERS.get(kind)
    if write is not None:
        return write(node)
    return f"<{kind.__name__.lower()}>", _ATOM


def _wrapped(node, tighter_than: int) -> str:
    """`node`'s text, bracketed unless it binds tighter than `tighter_than`."""
    out, strength = _text(node)
    return out if strength > tighter_than else f"({out})"


def _binop(node):
    strength = _BINARY.get(node.op, _COMPARE)
    if node.op == "**":     # right-associative: (a**b)**c, a**b**c
        return f"{_wrapped(node.left, strength)}**{_wrapped(node.right, strength - 1)}", strength
    return (f"{_wrapped(node.left, strength - 1)} {node.op} {_wrapped(node.right, strength)}",
            strength)


def _unary(node):
    if node.op == "not":
        return f"not {_wrapped(node.operand, _NOT - 1)}", _NOT
    return f"{node.op}{_wrapped(node.operand, _UNARY - 1)}", _UNARY


def _boolop(node):
    strength = _AND if node.op == "and" else _OR
    return f"{_wrapped(node.left, strength - 1)} {node.op} {_wrapped(node.right, strength)}", \
        strength


def _call(node):
    args = [text(a) for a in node.args] + [f"{k.name}={text(k.value)}" for k in node.keywords]
    return f"{_wrapped(node.func, _ATOM - 1)}({', '.join(args)})", _ATOM


def _index(node):
    return f"{_wrapped(node.obj, _ATOM - 1)}[{', '.join(text(i) for i in node.items)}]", _ATOM


def _slice(node):
    parts = ["" if p is None else text(p) for p in (node.start, node.stop, node.step)]
    if node.step is None:
        parts.pop()
    return ":".join(parts), _ATOM


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _list(node):
    items = [text(i) for i in node.items[:_LITERAL_ITEMS]]
    if len(node.items) > _LITERAL_ITEMS:
        items.append("…")
    return f"[{', '.join(items)}]", _ATOM


def _tuple(node):
    items = [text(i) for i in node.items]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})", _ATOM


def _lambda(node):
    return f"lambda {', '.join(p.name for p in node.params)}: {text(node.body)}", _LAMBDA


def _comprehension(node):
    clauses = " ".join(f"for {c.target if isinstance(c.target, str) else ', '.join(c.target)}"
                       f" in {text(c.iterable)}" for c in node.clauses)
    return f"[{text(node.element)} {clauses}]", _ATOM


def _target(var) -> str:
    return var if isinstance(var, str) else ", ".join(var)


_WRITERS = {
    A.Num: lambda n: (_number(n.value), _ATOM),
    A.Str: lambda n: (repr(n.value), _ATOM),
    A.Const: lambda n: (repr(n.value), _ATOM),
    A.Name: lambda n: (n.id, _ATOM),
    A.ListLit: _list,
    A.TupleLit: _tuple,
    A.BinOp: _binop,
    A.UnaryOp: _unary,
    A.BoolOp: _boolop,
    A.Call: _call,
    A.Attribute: lambda n: (f"{_wrapped(n.obj, _ATOM - 1)}.{n.name}", _ATOM),
    A.Index: _index,
    A.Slice: _slice,
    A.EllipsisIndex: lambda n: ("...", _ATOM),
    A.Lambda: _lambda,
    A.FString: lambda n: ("f'…'", _ATOM),
    A.ListComp: _comprehension,
    # statements that record nodes themselves
    A.Assign: lambda n: (f"{text(n.target)} = {text(n.value)}", _LAMBDA),
    A.AugAssign: lambda n: (f"{text(n.target)} {n.op}= {text(n.value)}", _LAMBDA),
    A.ExprStmt: lambda n: _text(n.expr),
    A.For: lambda n: (f"for {_target(n.var)} in {text(n.iterable)}", _LAMBDA),
    A.Return: lambda n: (f"return {text(n.value)}" if n.value is not None else "return",
                         _LAMBDA),
}
