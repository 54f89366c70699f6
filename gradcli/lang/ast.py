"""The .ag syntax tree: frozen dataclasses, each carrying its source span.

The parser is the only producer; lark objects never appear here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ..errors import Span

node = dataclass(frozen=True, slots=True)


# ---------------------------------------------------------------- expressions

@node
class Num:
    value: float
    span: Span


@node
class Str:
    value: str
    span: Span


@node
class Const:
    """`True`, `False` or `None`."""

    value: Optional[bool]
    span: Span


@node
class Name:
    id: str
    span: Span


@node
class ListLit:
    """`[a, b, ...]`: an array literal (nested lists make higher ranks)."""

    items: tuple["Expr", ...]
    span: Span


@node
class TupleLit:
    """`(a, b)` or `a, b`: a tuple, e.g. a shape."""

    items: tuple["Expr", ...]
    span: Span


@node
class BinOp:
    """Arithmetic `+ - * / // % ** @` and comparisons `< <= > >= == !=`."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@node
class UnaryOp:
    """`-x`, `+x`, `not x`."""

    op: str
    operand: "Expr"
    span: Span


@node
class BoolOp:
    """`a and b`, `a or b` (short-circuit)."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@node
class Keyword:
    name: str
    value: "Expr"
    span: Span


@node
class Call:
    """`f(args, name=value)`; `x.f(a)` is a Call whose func is an Attribute."""

    func: "Expr"
    args: tuple["Expr", ...]
    keywords: tuple[Keyword, ...]
    span: Span


@node
class Attribute:
    obj: "Expr"
    name: str
    span: Span


@node
class Slice:
    """`start:stop:step` inside brackets; each part may be None."""

    start: Optional["Expr"]
    stop: Optional["Expr"]
    step: Optional["Expr"]
    span: Span


@node
class Index:
    """`obj[i, j:k]`: items are expressions or Slices."""

    obj: "Expr"
    items: tuple[Union["Expr", Slice], ...]
    span: Span


@node
class Lambda:
    params: tuple["Param", ...]
    body: "Expr"
    span: Span


Expr = Union[Num, Str, Const, Name, ListLit, TupleLit, BinOp, UnaryOp, BoolOp,
             Call, Attribute, Index, Lambda]


# ----------------------------------------------------------------- statements

@node
class Assign:
    """`target = value`; target is a Name, an Index, or a TupleLit of Names."""

    target: Expr
    value: Expr
    span: Span


@node
class AugAssign:
    """`target op= value` with op one of `+ - * /`; target a Name or Index."""

    target: Expr
    op: str
    value: Expr
    span: Span


@node
class InputDecl:
    """`input NAME` or `input NAME = default`."""

    name: str
    default: Optional[Expr]
    span: Span


@node
class ExprStmt:
    expr: Expr
    span: Span


@node
class If:
    """`if`/`elif` chains: one (condition, body) per branch, then else."""

    branches: tuple[tuple[Expr, tuple["Stmt", ...]], ...]
    orelse: tuple["Stmt", ...]
    span: Span


@node
class While:
    cond: Expr
    body: tuple["Stmt", ...]
    span: Span


@node
class For:
    """`for var in iterable:` (iterable is usually `range(...)`)."""

    var: str
    iterable: Expr
    body: tuple["Stmt", ...]
    span: Span


@node
class Break:
    span: Span


@node
class Continue:
    span: Span


@node
class Pass:
    span: Span


@node
class Param:
    name: str
    default: Optional[Expr]
    span: Span


@node
class FuncDef:
    name: str
    params: tuple[Param, ...]
    body: tuple["Stmt", ...]
    span: Span


@node
class Return:
    value: Optional[Expr]
    span: Span


@node
class With:
    """`with CONTEXT:` where CONTEXT is e.g. `record`, `no_grad`,
    `autograd.record()`, `torch.no_grad()`."""

    context: Expr
    body: tuple["Stmt", ...]
    span: Span


Stmt = Union[Assign, AugAssign, InputDecl, ExprStmt, If, While, For, Break,
             Continue, Pass, FuncDef, Return, With]


@node
class Program:
    body: tuple[Stmt, ...]
    span: Span


def walk(root):
    """Every node under `root` (itself included), without recursion."""
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(reversed(item))
        elif hasattr(item, "__dataclass_fields__") and not isinstance(item, Span):
            yield item
            stack.extend(reversed([getattr(item, f) for f in item.__dataclass_fields__
                                   if f != "span"]))
