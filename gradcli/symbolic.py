"""The chain rule by variable, for `explain`: the local derivative of each
named value by each named value it was computed from, put together from
the op table's rules along the recorded steps (`dz/dy = 2*y + 1`, from
`y**2` and from `+ y`), then multiplied down to the inputs
(`dz/dx = dz/dy * dy/dx = (2*y + 1)*(2*x)`).

Only formulas compose: a rule given in words (`1 at the maximum`, a
matrix product's `g @ b.T`) ends the summary for the values behind it, so
it speaks of elementwise programs. When sympy is installed, the products
are also multiplied out in the inputs (`= 4*x**3 + 2*x`); without it, the
summary stops at the product. sympy only ever parses the op table's own
rule texts: the program's expressions are converted from the syntax tree,
never handed to a parser that evaluates them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .core import ops
from .core.tensor import Node
from .lang import ast as A
from .lang.interpreter import Site

MAX_TERMS = 12          # paths between two named values before the summary gives up
MAX_TEXT = 160          # characters of a formula worth printing
MAX_OPS = 200           # operations in a formula sympy is asked to simplify
_FORMULA = re.compile(r"[\w.*+\-/() ]+")
_WORDS = re.compile(r"\w\s+\w")


@dataclass
class Link:
    """`dz/dy = 2*y + 1`: one line of the chain rule by variable."""

    derivative: str               # "dz/dy"
    formula: str                  # "2*y + 1", or "dz/dy * dy/dx = (2*y + 1)*(2*x)"
    sources: list[tuple[str, str]]  # (expression, its term) when several paths add up
    expanded: Optional[str]       # the formula multiplied out in the inputs (sympy)
    value: Optional[np.ndarray]   # d(result)/d(value) from this pass, when it is that


@dataclass
class Term:
    factors: list                 # Factor per edge, from the named value down
    via: Node                     # the last step: the expression that used the value
    order: tuple                  # where the value stands in the program's text


@dataclass
class Factor:
    text: str
    sym: object = None            # the same as a sympy expression, or None


def chain_rule(context, observed, result: str) -> list[Link]:
    """The links for the steps of one pass (see the module's doc). sympy
    (slow to import) is asked for only when there is a formula to show."""
    links = _links(context, observed, result, None)
    sympy = _sympy() if links else None
    return links if sympy is None else _links(context, observed, result, sympy)


def _links(context, observed, result, sympy) -> list[Link]:
    steps = {id(node): (number, sent) for number, node, _, sent, _, _ in observed.steps}
    if not steps:
        return []
    root = observed.steps[0][1]
    grads = {id(node): grad for _, node, grad, *_ in observed.steps}
    grads.update((id(flow.key), flow.total) for flow in observed.leaves())
    # A name the program bound twice (y = x + 1; y = x1 + y) would make
    # `dy/dy`: those values are written as expressions instead.
    seen = Counter(context.name_of(node) for _, node, *_ in observed.steps)
    seen.update(context.name_of(flow.key) for flow in observed.leaves())
    seen[result] += 1

    def name_of(value):
        if value is root:
            return result
        name = context.name_of(value)
        return name if name is not None and seen[name] == 1 else None

    named = [(node, name_of(node)) for _, node, *_ in observed.steps]
    named = [(node, name) for node, name in named if name is not None]
    local: dict[int, dict] = {}     # id(V) -> {id(W): (W, name, terms)}
    for node, name in named:
        found = _terms(context, steps, node, root, name_of, sympy)
        if found:
            local[id(node)] = found
    if not local:
        return []
    links = []
    names = {id(node): name for node, name in named}
    # A value the result reaches directly and through other named values
    # too (sum(sin(y) * x) with y = x * w): the direct link is the partial
    # derivative with those held fixed, not the whole gradient, so it is
    # written ∂ and shown without the gradient's numbers.
    feeds = Counter(key for found in local.values() for key in found)
    for node, name in named:
        for key, (target, target_name, terms) in local.get(id(node), {}).items():
            formula, sym = _sum(terms)
            sources = [(_source(context, t.via), _product(t.factors)[0]) for t in terms] \
                if len(terms) > 1 else []
            target_name = name_of(target) or target_name
            partial = node is root and feeds[key] > 1
            links.append(Link((_partial if partial else _d)(name, target_name), formula,
                              sources, _expanded(sympy, sym, formula),
                              grads.get(key) if node is root and not partial else None))
    links.extend(_through(name_of, local, names, root, grads, sympy, context))
    return [link for link in links if len(link.formula) <= MAX_TEXT]


def _terms(context, steps, start, root, name_of, sympy) -> Optional[dict]:
    """d(start)/d(W) for each named W below it, as terms (paths through
    unnamed values); None when a rule on the way is not a formula."""
    out: dict = {}
    stack = [(start, [])]
    count = 0
    while stack:
        node, factors = stack.pop()
        if id(node) not in steps:
            return None         # past the steps kept
        number, sent = steps[id(node)]
        for i, _g in sent:
            parent = node.parents[i]
            factor = _factor(context, node, i, sympy)
            if factor is None:
                return None
            path = factors + [factor]
            name = name_of(parent)
            if type(parent) is not Node or name is not None or parent is root:
                entry = out.setdefault(id(parent), (parent, name or "a leaf", []))
                entry[2].append(Term(path, node, _place(context, node, i, number)))
                count += 1
                if count > MAX_TERMS:
                    return None
            else:
                stack.append((parent, path))
    for entry in out.values():
        entry[2].sort(key=lambda term: term.order)
    return out


def _place(context, node, i, number) -> tuple:
    """Where input i of the node is written in the program (line, column):
    terms are listed in the order the uses stand (`y**2 + y`: 2*y, then 1);
    after them, in the pass's order, the uses that have no text."""
    site = node.site if isinstance(node.site, Site) else None
    operands = context.operands(site.node) if site is not None else None
    if operands is not None and i < len(operands) and operands[i] is not None:
        span = operands[i].span
        return (0, span.line, span.column)
    return (1, number, i)


def _factor(context, node, i, sympy) -> Optional[Factor]:
    """The op table's rule for input i, with the program's operand texts."""
    operands, texts = context.inputs_written(node)
    rule = context.local_rule(node, i, texts)
    if vjp_form(node.op, i) or not symbolic_rule(rule):
        return None
    rule = re.sub(r" ([*/]) ", r"\1", rule)    # x * x as a factor: x*x
    sym = None
    if sympy is not None:
        sym = _rule_sym(sympy, node, i, operands, texts)
    return Factor(rule, sym)


def vjp_form(op, i) -> bool:
    """Whether op's rule for input i is the gradient sent itself (it
    mentions g), not a derivative that multiplies the gradient in."""
    rule = op.rules[0 if op.variadic else i] if op.rules else None
    return isinstance(rule, str) and "{g}" in rule


def symbolic_rule(rule: Optional[str]) -> bool:
    """A rule that is a formula (`2*y`, `cos(x)`), not a sentence (`1 at
    the maximum`) nor a gradient in VJP form (`g @ w.T`, which has @)."""
    return rule is not None and _FORMULA.fullmatch(rule) is not None and \
        _WORDS.search(rule) is None


def _sum(terms) -> tuple[str, object]:
    products = [_product(t.factors) for t in terms]
    text = " + ".join(p for p, _ in products).replace("+ -", "- ")
    syms = [s for _, s in products]
    sym = None if any(s is None for s in syms) else sum(syms[1:], syms[0])
    return text, sym


def _product(factors) -> tuple[str, object]:
    """Factors multiplied: ones dropped, sums bracketed."""
    kept = [f for f in factors if f.text != "1"]
    sign = ""
    if any(f.text == "-1" for f in kept):
        sign = "-" if sum(f.text == "-1" for f in kept) % 2 else ""
        kept = [f for f in kept if f.text != "-1"]
    text = "*".join(_factor_text(f.text, len(kept) > 1 or bool(sign)) for f in kept) or "1"
    syms = [f.sym for f in factors]
    sym = None
    if all(s is not None for s in syms):
        sym = syms[0]
        for s in syms[1:]:
            sym = sym * s
    return sign + text, sym


def _bracketed(text: str) -> str:
    """A formula as one factor of a product written out: (2*x)."""
    if re.fullmatch(r"[\w.]+", text) or _is_bracketed(text):
        return text
    return f"({text})"


def _is_bracketed(text: str) -> bool:
    """`(…)` whose first bracket closes at the end."""
    depth = 0
    for k, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return k == len(text) - 1 and k > 0
    return False


def _factor_text(text: str, among_others: bool) -> str:
    if among_others and _top_level_sum(text):
        return f"({text})"
    return text


def _top_level_sum(text: str) -> bool:
    depth = 0
    for k, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and ch in "+-" and k > 0 and text[k - 1] not in "*/(e":
            return True
    return text.startswith("-")


def _d(of: str, by: str, d: str = "d") -> str:
    def wrap(name):
        return name if name.isidentifier() else f"({name})"
    return f"{d}{wrap(of)}/{d}{wrap(by)}"


def _partial(of: str, by: str) -> str:
    """∂z/∂x: the derivative with the other named values held fixed."""
    return _d(of, by, "∂")


def _source(context, node) -> str:
    return context.source_of(node)


def _through(name_of, local, names, root, grads, sympy, context) -> list[Link]:
    """d(result)/dW for each named W reached through named values:
    the sum over the named values V it feeds of d(result)/dV * dV/dW."""
    into: dict = {}     # id(W) -> [(V, terms)]
    for v_key, found in local.items():
        for w_key, (w, _, terms) in found.items():
            into.setdefault(w_key, (w, []))[1].append(v_key)
    composed = {id(root): ("1", _one(sympy))}

    def total(key):
        if key in composed:
            return composed[key]
        parts = []
        for v_key in into.get(key, (None, []))[1]:
            above, above_sym = total(v_key)
            here, here_sym = _sum(local[v_key][key][2])
            factors = [Factor(_bracketed(above), above_sym), Factor(_bracketed(here), here_sym)]
            parts.append(_product(factors))
        text = " + ".join(p for p, _ in parts).replace("+ -", "- ") or "0"
        syms = [s for _, s in parts]
        sym = None if not syms or any(s is None for s in syms) else sum(syms[1:], syms[0])
        composed[key] = (text, sym)
        return composed[key]

    links = []
    result = names[id(root)]
    for w_key, (w, vs) in into.items():
        if vs == [id(root)] or w_key == id(root):
            continue            # direct from the result: said above
        text, sym = total(w_key)
        w_name = name_of(w) or "a leaf"
        route = " + ".join(f"{_d(result, names[v])} * {_d(names[v], w_name)}"
                           if v != id(root) else _partial(result, w_name) for v in vs)
        links.append(Link(_d(result, w_name), f"{route} = {text}", [],
                          _expanded(sympy, _in_inputs(context, sympy, sym, local, names),
                                    text), grads.get(w_key)))
    return links


# ------------------------------------------------------------------ sympy

def _sympy():
    """sympy, when installed (an optional dependency: `pip install
    gradcli[explain]`); None otherwise."""
    try:
        import sympy
    except ImportError:
        return None
    return sympy


def _one(sympy):
    return None if sympy is None else sympy.Integer(1)


def _expanded(sympy, sym, formula: str) -> Optional[str]:
    """The formula multiplied out, when that says something new."""
    if sympy is None or sym is None:
        return None
    try:
        if sympy.count_ops(sym) > MAX_OPS:
            return None
        symbols = sorted(sym.free_symbols, key=str)
        # A polynomial multiplied out (4*x**3 + 2*x); anything else over
        # one denominator, factored ((x - 7)*(x + 1)/(x - 3)**2).
        simpler = sympy.expand(sym) if sym.is_polynomial(*symbols) else \
            sympy.factor(sympy.together(sym))
        out = sympy.sstr(simpler)
    except Exception:       # noqa: BLE001 - sympy's own limits: no expansion then
        return None
    return None if out.replace(" ", "") == formula.replace(" ", "") else out


def _in_inputs(context, sympy, sym, local, names):
    """`sym` with each named intermediate replaced by its definition
    (y by x**2), until only the inputs are left."""
    if sym is None:
        return None
    definitions = {}
    for key in local:
        node = _node_of(local, key)
        if node is None or not isinstance(node.site, Site):
            continue
        name = names.get(key)
        definition = _ast_sym(sympy, context, node.site.node)
        if name and definition is not None:
            definitions[sympy.Symbol(name)] = definition
    for _ in range(len(definitions) + 1):
        replaced = sym.subs(definitions)
        if replaced == sym:
            break
        sym = replaced
    return sym


def _node_of(local, key):
    for found in local.values():
        for w_key, (w, _, _) in found.items():
            if w_key == key:
                return w
    return None


_FUNCTIONS = ("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt", "sign")


def _rule_sym(sympy, node, i, operands, texts):
    """The rule for input i as sympy: the op table's text parsed with
    placeholders for the inputs, then the operands put in."""
    from sympy.parsing.sympy_parser import parse_expr

    holders = {name: sympy.Symbol(f"_in{k}") for k, name in enumerate(node.op.inputs)}
    rule = ops.rule_text(node.op, i, {name: f"_in{k}" for k, name in enumerate(node.op.inputs)})
    table = {str(s): s for s in holders.values()}
    table.update({name: getattr(sympy, name) for name in _FUNCTIONS})
    table.update(sigmoid=sympy.Function("sigmoid"), pi=sympy.pi)
    try:
        sym = parse_expr(rule, local_dict=table)
    except Exception:       # noqa: BLE001 - a rule sympy cannot read: no formula then
        return None
    values = {}
    for k, name in enumerate(node.op.inputs):
        operand = operands[k] if operands is not None and k < len(operands) else None
        value = _ast_sym(sympy, None, operand) if operand is not None else None
        if value is None and k < len(texts) and texts[k].isidentifier():
            value = sympy.Symbol(texts[k])
        if value is None and k < len(texts):
            try:
                number = float(texts[k])
            except ValueError:
                number = None
            if number is not None:      # 2, not 2.0: x**1 is x
                value = sympy.Integer(int(number)) if number.is_integer() else \
                    sympy.Float(number)
        if value is None and holders[name] in sym.free_symbols:
            return None
        if value is not None:
            values[holders[name]] = value
    return sym.subs(values)


def _ast_sym(sympy, context, expr):
    """An elementwise expression of the program as sympy, built from its
    syntax tree (names become symbols); None for anything else."""
    kind = type(expr)
    if kind is A.Name:
        return sympy.Symbol(expr.id)
    if kind is A.Num:
        value = expr.value
        return sympy.Integer(int(value)) if value == int(value) else sympy.Float(value)
    if kind is A.UnaryOp and expr.op in "-+":
        inner = _ast_sym(sympy, context, expr.operand)
        return None if inner is None else (-inner if expr.op == "-" else inner)
    if kind is A.BinOp and expr.op in ("+", "-", "*", "/", "**"):
        left, right = _ast_sym(sympy, context, expr.left), _ast_sym(sympy, context, expr.right)
        if left is None or right is None:
            return None
        return {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
                "/": lambda: left / right, "**": lambda: left ** right}[expr.op]()
    if kind is A.Call and len(expr.args) == 1 and not expr.keywords:
        func = expr.func
        name = func.name if type(func) is A.Attribute else getattr(func, "id", None)
        arg = _ast_sym(sympy, context, expr.args[0])
        if arg is None:
            return None
        if name in _FUNCTIONS and name != "sign":
            return getattr(sympy, name)(arg)
        if name == "sigmoid":
            return sympy.Function("sigmoid")(arg)
        if name == "square":
            return arg ** 2
    return None
