"""The .ag syntax tree: frozen records, each carrying its source span.

The parser is the only producer; lark objects never appear here.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Optional, Union

from ..errors import Span


@contextlib.contextmanager
def collector_paused():
    """Building a syntax tree, or the closures compiled from it, makes only
    objects that outlive the build and no garbage cycles; a cycle collection
    in between finds nothing yet walks everything built so far, which made a
    long program's parse and compile superlinear (a 16,000-line program
    spent 4 of its 8 s in full collections). The collector is restored as
    it was."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


class Node:
    """Base of every syntax node: immutable, compared and hashed by fields."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _links: tuple[str, ...] = ()       # the fields that can hold nodes

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    __delattr__ = __setattr__

    def __eq__(self, other):
        return type(self) is type(other) and all(
            getattr(self, f) == getattr(other, f) for f in self._fields)

    def __hash__(self):
        return hash((type(self),) + tuple(getattr(self, f) for f in self._fields))

    def __repr__(self):
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


def node(cls):
    """Make `cls` a frozen record of its annotated fields, with slots.

    What dataclass(frozen=True, slots=True) gives, without its cost: it
    compiles six methods per class, ~20 ms of every start-up for this
    module; here every class shares eq/hash/repr and gets an __init__ made
    from a closure (`_initializer`), nothing compiled."""
    annotations = cls.__dict__.get("__annotations__", {})
    fields = tuple(annotations)
    links = tuple(f for f in fields if f != "span" and annotations[f] not in _NOT_NODES)
    made = type(cls.__name__, (Node,), {
        "__slots__": fields, "_fields": fields, "_links": links, "__match_args__": fields,
        "__doc__": cls.__doc__,
        "__module__": cls.__module__, "__qualname__": cls.__qualname__,
        "__annotations__": cls.__dict__.get("__annotations__", {})})
    made.__init__ = _initializer(*(getattr(made, field).__set__ for field in fields))
    return made


# Field types that never hold a node (annotations are strings here): walks
# skip them, so a number, a name or a string is a leaf.
_NOT_NODES = {"str", "float", "Optional[bool]", "Span"}


def _initializer(*setters):
    """An __init__ that stores its arguments through the slots' own setters
    (no loop, no lookup by name: a parse builds a node for every third
    token, and a list literal one per number)."""
    if len(setters) == 1:
        (a,) = setters

        def __init__(self, x):
            a(self, x)
    elif len(setters) == 2:
        a, b = setters

        def __init__(self, x, y):
            a(self, x)
            b(self, y)
    elif len(setters) == 3:
        a, b, c = setters

        def __init__(self, x, y, z):
            a(self, x)
            b(self, y)
            c(self, z)
    elif len(setters) == 4:
        a, b, c, d = setters

        def __init__(self, x, y, z, w):
            a(self, x)
            b(self, y)
            c(self, z)
            d(self, w)
    else:
        def __init__(self, *values):
            for setter, value in zip(setters, values, strict=True):
                setter(self, value)
    return __init__


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
class EllipsisIndex:
    """`...` inside brackets: full slices for the axes the other items leave."""

    span: Span


@node
class Index:
    """`obj[i, j:k]`: items are expressions, Slices or an EllipsisIndex."""

    obj: "Expr"
    items: tuple[Union["Expr", Slice, EllipsisIndex], ...]
    span: Span


@node
class Lambda:
    params: tuple["Param", ...]
    body: "Expr"
    span: Span


# ------------------------------------------------------------------ f-strings

@node
class FormattedValue:
    """`{value!conversion:spec}` inside an f-string: conversion is "", "r",
    "s" or "a"; spec (after ':') is itself an f-string's parts, or None."""

    value: "Expr"
    conversion: str
    spec: Optional["FString"]
    span: Span


# ------------------------------------------------------------ comprehensions

@node
class CompFor:
    """`for target in iterable if cond ...`, one clause of a comprehension;
    target is a name or a tuple of names to unpack into."""

    target: "Union[str, tuple[str, ...]]"
    iterable: "Expr"
    conds: tuple["Expr", ...]
    span: Span


@node
class FString:
    """`f'text {expr:spec} text'`: its parts are Str and FormattedValue."""

    parts: tuple[Union[Str, FormattedValue], ...]
    span: Span


def shifted(item, lines: int, columns: int):
    """`item` (a node, a tuple of them, a Span) as if its text had been
    `lines` lines further down and, on its first line, `columns` further
    right: how an expression parsed on its own out of an f-string is put
    back where it stands in the program."""
    if isinstance(item, Span):
        start = item.column + columns if item.line == 1 else item.column
        end = item.end_column + columns if item.end_line == 1 else item.end_column
        return Span(item.line + lines, start, item.end_line + lines, end)
    if isinstance(item, Node):
        return type(item)(*[shifted(getattr(item, f), lines, columns) for f in item._fields])
    if isinstance(item, tuple):
        return tuple(shifted(i, lines, columns) for i in item)
    return item


@node
class ListComp:
    """`[element for ... in ... if ...]`: a list, in a scope of its own."""

    element: "Expr"
    clauses: tuple[CompFor, ...]
    span: Span


Expr = Union[Num, Str, Const, Name, ListLit, TupleLit, BinOp, UnaryOp, BoolOp,
             Call, Attribute, Index, Lambda, FString, ListComp]


# ----------------------------------------------------------------- statements

@node
class Assign:
    """`target = value`; target is a Name, an Index, a TupleLit of Names, or
    the Attribute `x.grad` (PyTorch's `x.grad = None`)."""

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
    """`for var in iterable:` (iterable is usually `range(...)`); var is a
    name, or a tuple of names to unpack each item into."""

    var: "Union[str, tuple[str, ...]]"
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


@node
class ImportItem:
    """One imported name: `mxnet.autograd as ag` (path "mxnet.autograd",
    alias "ag"), or after `from M import`, `nd` (path "nd", alias "")."""

    path: str
    alias: str
    span: Span


@node
class Yield:
    """`yield value`: makes the enclosing def a generator."""

    value: Optional[Expr]
    span: Span


@node
class Import:
    """`import a.b as c, d` (module "") or `from M import a, b as c`
    (module "M", `where` its span)."""

    module: str
    where: Span
    items: tuple[ImportItem, ...]
    span: Span


@node
class ExceptHandler:
    """`except [TYPES [as name]]:`; `types` is None (catch all), a name, a
    dotted name or a tuple of those."""

    types: Optional[Expr]
    name: str
    body: tuple["Stmt", ...]
    span: Span


@node
class Try:
    body: tuple["Stmt", ...]
    handlers: tuple[ExceptHandler, ...]
    orelse: tuple["Stmt", ...]
    finalbody: tuple["Stmt", ...]
    span: Span


Stmt = Union[Assign, AugAssign, InputDecl, ExprStmt, If, While, For, Break,
             Continue, Pass, FuncDef, Return, With, Import, Yield, Try]


@node
class Program:
    body: tuple[Stmt, ...]
    span: Span


def walk(root):
    """Every node under `root` (itself included), without recursion."""
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            yield item
            if item._links:
                stack.extend([getattr(item, f) for f in item._links][::-1])
        elif isinstance(item, (tuple, list)):
            stack.extend(reversed(item))


def declared_inputs(program: Program) -> list[str]:
    """Names of the program's `input` declarations and MXNet symbols
    (`sym.var('a')`: an input named by its string), in source order."""
    names: list[str] = []
    for node in walk(program):
        name = node.name if type(node) is InputDecl else symbol_name(node)
        if name is not None and name not in names:
            names.append(name)
    return names


_SYMBOL_MODULES = {"sym", "symbol"}


def symbol_name(node) -> Optional[str]:
    """'a' for `sym.var('a')` (also `mx.sym.var`, `sym.Variable`), else None."""
    if type(node) is not Call or type(node.func) is not Attribute or \
            node.func.name not in ("var", "Variable") or not node.args or \
            type(node.args[0]) is not Str:
        return None
    obj = node.func.obj
    module = obj.id if type(obj) is Name else obj.name if type(obj) is Attribute else None
    return node.args[0].value if module in _SYMBOL_MODULES else None


def calls_backward(program: Program) -> bool:
    """Whether the program runs backward itself (MXNet / PyTorch style)."""
    for node in walk(program):
        if type(node) is Call:
            func = node.func
            name = func.name if type(func) is Attribute else getattr(func, "id", None)
            if name == "backward":
                return True
    return False


def uses_record(program: Program) -> bool:
    """Whether the program uses MXNet's `record` (`with record:`,
    `with autograd.record():`, `train_mode`): then it is MXNet code, which
    records only inside those blocks (SPEC 2.1)."""
    for node in walk(program):
        if (type(node) is Name and node.id in _RECORDING) or (
                type(node) is Attribute and node.name in _RECORDING):
            return True
    return False


_RECORDING = frozenset({"record", "train_mode"})


MAX_BLOCK_DEPTH = 200          # nested if/while/for/def/with bodies
MAX_EXPRESSION_DEPTH = 1000    # nested brackets, operators, calls, indexing

_COMPOUND = (If, While, For, FuncDef, With, Try, ExceptHandler)
_LEAVES = {Num, Str, Const, Name}
_STATEMENTS = (Assign, AugAssign, InputDecl, ExprStmt, Break, Continue, Pass, Return,
               Import, Yield) + _COMPOUND


def nesting_problem(program: Program):
    """A (message, span) for the first place nested deeper than the
    interpreter's recursion allows, or None. Iterative, so a program of any
    depth can be measured."""
    stack = [(program.body, 0, 0)]      # (item, block depth, expression depth)
    while stack:
        item, blocks, exprs = stack.pop()
        if isinstance(item, (tuple, list)):
            children, inner = item, blocks
        elif not isinstance(item, Node):
            continue
        else:
            if isinstance(item, _STATEMENTS):
                exprs = 0
                if blocks > MAX_BLOCK_DEPTH:
                    return (f"blocks nested too deeply: more than {MAX_BLOCK_DEPTH} levels",
                            item.span)
                inner = blocks + 1 if isinstance(item, _COMPOUND) else blocks
            else:
                exprs += 1
                if exprs > MAX_EXPRESSION_DEPTH:
                    return (f"expressions nested too deeply: more than "
                            f"{MAX_EXPRESSION_DEPTH} levels of brackets, operators, calls "
                            "or indexing", item.span)
                inner = blocks
            children = [getattr(item, f) for f in item._links]
        # A number or a name is one level deeper and has nothing below: unless
        # that level is too deep, it need not be visited (a literal of 500,000
        # numbers).
        deep = exprs >= MAX_EXPRESSION_DEPTH
        stack.extend((child, inner, exprs) for child in children
                     if deep or type(child) not in _LEAVES)
    return None
