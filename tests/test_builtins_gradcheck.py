"""Every built-in of the language, checked where users call it (SPEC 2.5).

The rows are keyed by the built-in table itself: each distinct built-in
function (aliases share one) needs a row here, or
`test_every_builtin_has_a_row` fails. A row calls the built-in with float64
arrays in its numeric argument positions (plus fixed shapes, axes and the
like); each numeric position is then, one at a time, a tracked input:

- if the built-in's table entry marks the position non-differentiable
  (`Builtin.nondiff`, with a reason), the result must indeed be untracked,
  and docs/language.md must list the built-in among the non-differentiable
  ones;
- otherwise the result must be tracked, and its gradient must match
  central differences in float64 (reverse and forward mode, tests/gradcheck).

A built-in that quietly cuts the graph (as `array([x, 2 * x])` once did)
fails the second rule. Inputs avoid kinks, as in test_core_gradcheck.py.

A built-in that is an op itself, called with tensors only (`erf(x)`,
`logaddexp(x, y)`), needs no row here: without one, it is called with the
inputs of that op's rows in test_core_gradcheck.py (which keep to its
domain), so adding such an op is one entry and one row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import test_core_gradcheck
from gradcheck import Draws, check_grads
from gradcli.core import ops
from gradcli.core.tensor import Node, Tensor, grad_mode
from gradcli.lang.builtins import BUILTINS
from gradcli.lang.values import Builtin

pytestmark = pytest.mark.usefixtures("core_mode")

DRAWS = Draws(20261201)
R = DRAWS.rng
anyv, pos, away, distinct, wellcond = (DRAWS.anyv, DRAWS.pos, DRAWS.away, DRAWS.distinct,
                                       DRAWS.wellcond)
SHAPES = [(), (3,), (3, 4), (1, 4)]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "language.md"


@dataclass
class Row:
    name: str                  # the built-in, by any of its names
    desc: str
    args: tuple                # float64 arrays are the numeric positions
    kwargs: dict = field(default_factory=dict)
    call: object = None        # (builtin, *args) -> value; default builtin(*args, **kwargs)
    order: int = 2             # derivatives checked: 2 includes second order

    @property
    def id(self):
        return f"{self.name}-{self.desc}"

    def run(self, builtin, args):
        if self.call is not None:
            return self.call(builtin, *args)
        return builtin(*args, **self.kwargs)

    def numeric(self):
        return [i for i, a in enumerate(self.args)
                if isinstance(a, np.ndarray) and a.dtype == np.float64]


ROWS: list[Row] = []


def row(name, desc, *args, call=None, order=2, **kwargs):
    ROWS.append(Row(name, desc, args, kwargs, call, order))


def shp(s):
    return "x".join(map(str, s)) if s else "0d"


# ------------------------------------------------------------- elementwise

for name, gen in [("exp", anyv), ("log", pos), ("log1p", lambda s: anyv(s, -0.5, 2.0)),
                  ("sqrt", pos), ("abs", away), ("sin", anyv), ("cos", anyv),
                  ("tan", lambda s: anyv(s, -1.2, 1.2)), ("tanh", anyv), ("sigmoid", anyv),
                  ("relu", away), ("softplus", anyv), ("sign", away)]:
    for s in SHAPES:
        row(name, shp(s), gen(s))

for s, t in [((), ()), ((3,), (3,)), ((3, 4), (4,)), ((1, 4), (3, 1))]:
    d = f"{shp(s)}&{shp(t)}"
    x, y = distinct(s), distinct(t) + 0.011
    row("maximum", d, x, y)
    row("minimum", d, x, y)
    row("pow", d, pos(s), anyv(t))
    row("where", d, R.uniform(size=s) - 0.5, anyv(s), anyv(t))
for s in SHAPES:
    row("clip", f"{shp(s)}-numbers", away(s, 0.2) * 3, -1.5, 1.5)
    row("clip", f"{shp(s)}-tracked-bounds", anyv(s, -3, 3), np.array(-1.01), np.array(1.03))
row("clip", "min-keyword", anyv((3, 4)), call=lambda b, x: b(x, min=0.05))
row("clip", "tracked-high-only", anyv((3,), -3, 3), np.array(0.51),
    call=lambda b, x, h: b(x, max=h))

# -------------------------------------------------------------- reductions

AXES = [((), None, False), ((3,), None, False), ((3, 4), None, False), ((1, 4), None, False),
        ((3, 4), 0, False), ((3, 4), -1, True), ((3, 4), (0, 1), True), ((2, 3, 4), 1, False)]
for name, gen in [("sum", anyv), ("mean", anyv), ("prod", lambda s: away(s, 0.5)),
                  ("max", distinct), ("min", distinct), ("logsumexp", anyv)]:
    for s, ax, kd in AXES:
        row(name, f"{shp(s)}-axis{ax}-keep{kd}", gen(s), axis=ax, keepdims=kd)
row("sum", "dim-keepdim", anyv((3, 4)), dim=1, keepdim=True)
for s, ax in [((3,), None), ((3, 4), None), ((3, 4), 1), ((1, 4), 0)]:
    row("norm", f"l2-{shp(s)}-axis{ax}", anyv(s), axis=ax)
    row("norm", f"l1-{shp(s)}-axis{ax}", away(s), 1, axis=ax)
    for p in (3, 0.5, -1.5, np.inf, -np.inf, 0):
        row("norm", f"p{p}-{shp(s)}-axis{ax}", distinct(s) + 0.05, p, axis=ax)
row("norm", "p-keyword-dim", away((3, 4)), p=4, dim=1, keepdim=True)
row("norm", "ord-inf-string", distinct((3, 4)), ord="inf")
for s, ax in [((), None), ((3,), None), ((3, 4), None), ((3, 4), 1), ((1, 4), 0), ((2, 3, 4), -2)]:
    row("cumsum", f"{shp(s)}-axis{ax}", anyv(s), axis=ax)
    row("std", f"{shp(s)}-axis{ax}", anyv(s), axis=ax)
    row("var", f"{shp(s)}-axis{ax}", anyv(s), axis=ax)
row("cumsum", "dim-keyword", anyv((3, 4)), dim=0)
row("std", "ddof1-keepdims", anyv((3, 4)), 1, ddof=1, keepdims=True)
row("std", "correction-dim-keepdim", anyv((3, 4)), dim=0, correction=1, keepdim=True)
row("var", "unbiased", anyv((3, 4)), unbiased=True)
row("var", "axes-tuple", anyv((2, 3, 4)), axis=(0, 2), ddof=1)
row("std", "one-element", anyv((1,)))
for name in ("softmax", "log_softmax"):
    for s, ax in [((), -1), ((3,), -1), ((3, 4), 0), ((1, 4), -1)]:
        row(name, f"{shp(s)}-axis{ax}", anyv(s), ax)
for name in ("argmax", "argmin"):
    row(name, "flat", distinct((3, 4)))
    row(name, "axis-keepdims", distinct((3, 4)), 1, keepdims=True)
row("any", "3x4", anyv((3, 4)))
row("all", "3x4", away((3, 4)))

# ------------------------------------------------------------------- shape

for s, new in [((3, 4), (2, 6)), ((3, 4), (-1,)), ((), (1, 1)), ((1, 4), (4,))]:
    row("reshape", f"{shp(s)}->{new}", anyv(s), new)
row("reshape", "varargs", anyv((3, 4)), 4, 3)
for s, axes in [((3, 4), ()), ((2, 3, 4), ((-2, -1, 0),)), ((2, 3, 4), (2, 0, 1)), ((3,), ())]:
    row("transpose", f"{shp(s)}-{axes}", anyv(s), *axes)
    row("permute", f"{shp(s)}-{axes}", anyv(s), *axes)
row("permute", "dims-keyword", anyv((2, 3, 4)), dims=(1, 2, 0))
# two separate axes: PyTorch's swap, also on a matrix (numpy would read a permutation)
for s, d0, d1 in [((3, 4), 0, 1), ((2, 3, 4), 0, 2), ((2, 3, 4), -1, 1), ((3,), 0, 0)]:
    row("transpose", f"swap-{shp(s)}-{d0},{d1}", anyv(s), d0, d1)
    row("swapaxes", f"{shp(s)}-{d0},{d1}", anyv(s), d0, d1)
row("flatten", "start_dim", anyv((2, 3, 4)), start_dim=1)
row("flatten", "start-end", anyv((2, 3, 4, 1)), 1, 2)
for s in SHAPES:
    row("square", shp(s), anyv(s))
    row("flip", shp(s), anyv(s))
    row("flatten", shp(s), anyv(s))
    row("expand_dims", shp(s), anyv(s), 0)
    row("broadcast_to", shp(s), anyv(s), (2, 3, 4) if s != (3,) else (4, 3))
row("flip", "axis", anyv((2, 3, 4)), axis=1)
row("take", "float-index-array", anyv((3, 4)), np.array([2.0, 0.0, 2.0]), axis=0)
row("repeat", "float-count-array", anyv((3,)), np.array([2.0, 0.0, 1.0]))
row("flip", "dims-keyword", anyv((2, 3, 4)), dims=(0, -1))
for s, idx, ax in [((3, 4), [0, 5, 5, 11], None), ((3, 4), [[2, 0], [2, 2]], 0),
                   ((3, 4), [-1, 1], 1), ((4,), 2, None), ((2, 3, 4), [1, 1, 0], -1)]:
    row("take", f"{shp(s)}-{idx}-axis{ax}", anyv(s), idx, axis=ax)
for s, k in [((3,), 0), ((3,), 1), ((3,), -2), ((3, 4), 0), ((3, 4), 2), ((3, 4), -1),
             ((1, 4), 0)]:
    row("diag", f"{shp(s)}-k{k}", anyv(s), k)
for s, k in [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 3), 0), ((1, 4), 2)]:
    row("triu", f"{shp(s)}-k{k}", anyv(s), k)
    row("tril", f"{shp(s)}-k{k}", anyv(s), k=k)
row("tril", "diagonal-keyword", anyv((3, 4)), diagonal=1)
for s, reps, ax in [((3, 4), 2, None), ((3, 4), 2, 0), ((3, 4), [1, 0, 3, 2], 1), ((), 3, None),
                    ((1, 4), [2], 0), ((2, 3, 4), [0, 2, 1], -2)]:
    row("repeat", f"{shp(s)}-{reps}-axis{ax}", anyv(s), reps, axis=ax)
for s, reps in [((3, 4), ((2, 1),)), ((3,), (2, 2)), ((), (3,)), ((1, 4), ((2, 1, 3),)),
                ((2, 3, 4), ((2,),))]:
    row("tile", f"{shp(s)}-{reps}", anyv(s), *reps)
row("squeeze", "1x4", anyv((1, 4)))
row("squeeze", "3x1-axis", anyv((3, 1)), axis=-1)
for s, t, ax in [((3, 4), (2, 4), 0), ((3, 4), (3, 1), 1), ((3,), (2,), 0), ((1, 4), (3, 4), -2)]:
    row("concat", f"{shp(s)}&{shp(t)}-axis{ax}", anyv(s), anyv(t),
        call=lambda b, x, y, ax=ax: b((x, y), ax))
row("concat", "varargs", anyv((3,)), anyv((2,)), call=lambda b, x, y: b(x, y))
row("concat", "keyword-axis", anyv((2, 3)), anyv((2, 1)),
    call=lambda b, x, y: b([x, y], axis=1))
for s, ax in [((), 0), ((3,), 1), ((3, 4), -1), ((1, 4), 0)]:
    row("stack", f"{shp(s)}-axis{ax}", anyv(s), anyv(s),
        call=lambda b, x, y, ax=ax: b([x, y], ax))
row("stack", "rows-of-an-array", anyv((3, 4)), call=lambda b, x: b(x))
for s in SHAPES:
    row("shape", shp(s), anyv(s))
    row("size", shp(s), anyv(s))
row("len", "3x4", anyv((3, 4)))

# ---------------------------------------------------------- linear algebra

for sa, sb in [((3,), (3,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)), ((), (3,)),
               ((2, 3, 4), (4,)), ((2, 3, 4), (4, 2)), ((3,), (2, 3, 4)), ((2, 3), (4, 3, 2)),
               ((2, 1, 3), (2, 3, 2))]:
    row("dot", f"{shp(sa)}.{shp(sb)}", anyv(sa), anyv(sb))
for sa, sb in [((3, 4), (4, 2)), ((2, 3, 4), (4,)), ((3,), (3, 2))]:
    row("matmul", f"{shp(sa)}@{shp(sb)}", anyv(sa), anyv(sb))
row("mm", "3x4@4x2", anyv((3, 4)), anyv((4, 2)))
for sa, sb in [((3,), (2,)), ((), (3,)), ((2, 2), (3,))]:
    row("outer", f"{shp(sa)}x{shp(sb)}", anyv(sa), anyv(sb))
for s in [(3, 3), (2, 3, 3)]:
    row("inv", shp(s), wellcond(s))
    row("det", shp(s), wellcond(s))
    row("slogdet", shp(s), wellcond(s), call=lambda b, a: b(a)[1])
row("slogdet", "negative-det", wellcond((3, 3))[[2, 1, 0]], call=lambda b, a: b(a)[1])
row("solve", "3x3\\3", wellcond((3, 3)), anyv((3,)))
row("solve", "3x3\\3x2", wellcond((3, 3)), anyv((3, 2)))
row("trace", "3x4", anyv((3, 4)))
row("trace", "2x3x4-first-two-axes", anyv((2, 3, 4)))
row("trace", "3x3x2x2", anyv((3, 3, 2, 2)))

# ---------------------------------------------------------------- creation

for maker in ("array", "asarray", "tensor"):
    row(maker, "list-of-scalars", anyv(()), anyv(()), call=lambda b, x, y: b([x, y * 2.0]))
row("array", "nested-rows", anyv((2,)), anyv((2,)), call=lambda b, x, y: b([[x, y], [y, x]]))
row("array", "of-an-array", anyv((3, 4)))
row("array", "mixed-with-numbers", anyv(()), call=lambda b, x: b([x, 1.0, 2.0]))
row("linspace", "5", anyv(()), anyv(()), 5)
row("linspace", "1", anyv(()), anyv(()), 1)
row("full", "2x3", (2, 3), anyv(()))
row("full", "0d-shape", (), anyv(()))
row("zeros_like", "3x4", anyv((3, 4)))
row("ones_like", "3x4", anyv((3, 4)))
row("zeros", "2x3", 2, 3)
row("ones", "shape-tuple", (2, 3))
row("eye", "3", 3)
row("arange", "bounds", np.array(1.0), np.array(4.0), np.array(0.5))
row("normal", "parameters", np.array(0.3), np.array(1.7), (3,))
row("uniform", "parameters", np.array(-1.0), np.array(2.0), (3,))
row("randn", "2x3", 2, 3)
row("rand", "2x3", 2, 3)
row("seed", "7", 7)
row("permutation", "5", 5)
row("range", "3", 3)

# ---------------------------------------------------------------- autodiff


def cube_sum(t):
    return ops.sum_(ops.mul(ops.mul(t, t), ops.sin(t)))


def pair(t):
    return ops.stack([ops.mul(ops.sum_(t), ops.sum_(t)), ops.sum_(ops.exp(t))])


row("grad", "second-order", anyv((3,)), call=lambda b, x: b(cube_sum)(x))
row("jacobian", "2-by-3", anyv((3,)), call=lambda b, x: b(pair)(x))
row("hessian", "third-order", anyv((2,)), call=lambda b, x: b(cube_sum)(x))
row("jvp", "value-and-tangent", anyv((3,)), anyv((3,)),
    call=lambda b, x, v: ops.concat([ops.reshape(p, (-1,)) for p in b(pair, x, v)]))
row("copy", "3x4", anyv((3, 4)))
row("detach", "3x4", anyv((3, 4)))
row("numpy", "3x4", anyv((3, 4)))

# ------------------------------------------------------------------- lists


def shuffled(b, x):
    """shuffle reorders a list of x's rows in place and returns None."""
    rows = [ops.getitem(x, (i,)) for i in range(x.shape[0])]
    return b(rows)


row("list", "rows-of-an-array", anyv((3, 4)), call=lambda b, x: ops.stack(b(x)))
row("enumerate", "rows", anyv((3,)), call=lambda b, x: ops.stack([v for _, v in b(x)]))
row("zip", "two-arrays", anyv((3,)), anyv((3,)),
    call=lambda b, x, y: ops.stack([ops.mul(p, q) for p, q in b(x, y)]))
row("shuffle", "list-of-rows", anyv((3,)), call=shuffled)
def own_leaf(x):
    """A leaf of the call's own, holding x's numbers (for built-ins that
    need a tracked value whatever the argument under test is)."""
    return Tensor(np.array(x.data)).attach_grad()


# On computed values: the result must be cut from the argument's history.
row("attach_grad", "computed", anyv((3, 4)), call=lambda b, x: b(ops.mul(x, 1.0)))
row("requires_grad_", "computed", anyv((3, 4)), call=lambda b, x: b(ops.mul(x, 1.0)))
row("zero_", "computed", anyv((3,)), call=lambda b, x: b(ops.mul(x, 1.0)))
row("backward", "with-head", anyv((3,)), anyv((3,)),
    call=lambda b, y, head: b(ops.mul(own_leaf(y), y), head))
row("zero_grad", "leaf", anyv((3,)), call=lambda b, x: b(own_leaf(x)))
row("retain_grad", "computed", anyv((3,)), call=lambda b, x: b(ops.mul(own_leaf(x), 2.0)))
row("grad_fn", "3", anyv((3,)))
row("is_training", "no-arguments")
row("item", "1-element", anyv((1,)))
row("float", "0d", anyv(()))
row("int", "0d", np.array(3.0))
row("str", "text-of-a-matrix", anyv((3, 4)))
row("repr", "text-of-a-vector", anyv((4,)))


# ------------------------------------------- ops taking tensors only


def rows_from_the_op_table():
    """Rows for built-ins that are ops without argument handling of their
    own and have no row above: the op's rows of the core table, called by
    the built-in's name."""
    named = {r.name for r in ROWS}
    for public in ops.PUBLIC:
        op = public.op
        if op is None or public.fn is not op or op.prepare is not None:
            continue
        if named & set(public.names):
            continue
        for case in test_core_gradcheck.CASES:
            if case.op == op.name and case.f is op:
                row(public.names[0], f"core-{case.desc}", *case.args)


rows_from_the_op_table()


# ------------------------------------------------------------------ tests

def distinct_builtins() -> dict[object, list[str]]:
    """Each built-in function with all the names it goes by."""
    names: dict[object, list[str]] = {}
    for name, b in BUILTINS.items():
        if isinstance(b, Builtin):
            names.setdefault(b.fn, []).append(name)
    return names


def test_every_builtin_has_a_row():
    covered = {BUILTINS[r.name].fn for r in ROWS}
    missing = [names for fn, names in distinct_builtins().items() if fn not in covered]
    assert not missing, f"built-ins without a gradient-check row: {missing}"
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)), "row ids must be unique"


def test_nondiff_marks_name_real_positions_with_a_reason():
    for name, b in BUILTINS.items():
        if isinstance(b, Builtin):
            for position, reason in b.nondiff.items():
                assert isinstance(position, int) and position >= 0, name
                assert reason and reason[0].islower(), (name, reason)


def documented_nondifferentiable() -> set[str]:
    """Names in docs/language.md's table of non-differentiable built-ins."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Non-differentiable built-ins", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`([a-z_0-9]+)", section))


def documented_builtins() -> set[str]:
    """Names in docs/language.md's "## Built-ins" section."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Built-ins\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Za-z_0-9]+)", section))


def test_docs_list_every_builtin_by_every_name():
    listed = documented_builtins()
    missing = sorted(name for name, b in BUILTINS.items()
                     if isinstance(b, Builtin) and name not in listed)
    assert not missing, f"docs/language.md's Built-ins table does not list {missing}"


def test_docs_list_every_nondifferentiable_builtin():
    listed = documented_nondifferentiable()
    for fn, names in distinct_builtins().items():
        if BUILTINS[names[0]].nondiff:
            assert listed & set(names), f"docs/language.md does not list {names}"


def reaches(value, leaf) -> bool:
    """Can a gradient flow from `value` (a tensor, or tuple of them) back
    to `leaf` through the recorded graph?"""
    if isinstance(value, (tuple, list)):
        return any(reaches(v, leaf) for v in value)
    if not isinstance(value, Tensor) or not value.requires_grad:
        return False
    if value is leaf:
        return True
    stack, seen = [value.node], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for parent in node.parents:
            if parent is leaf:
                return True
            if isinstance(parent, Node):
                stack.append(parent)
    return False


CHECKS = [(r, i) for r in ROWS for i in r.numeric()]


@pytest.mark.parametrize("case, position", CHECKS, ids=[f"{r.id}-arg{i}" for r, i in CHECKS])
def test_builtin_gradient(case, position):
    builtin = BUILTINS[case.name]
    args = list(case.args)

    def with_tracked(value):
        """The row's call with `value` at the position under test, the
        other numeric arguments as constants."""
        return case.run(builtin, [value if j == position else
                                  (Tensor(a.copy()) if j in case.numeric() else a)
                                  for j, a in enumerate(args)])

    leaf = Tensor(args[position].copy()).attach_grad()
    with grad_mode(True):
        out = with_tracked(leaf)
    reason = builtin.nondiff.get(position)
    if reason is not None:
        assert not reaches(out, leaf), (f"{case.name} argument {position} is marked "
                                        f"non-differentiable ({reason}), but its result "
                                        "carries a gradient back to it")
        return
    assert reaches(out, leaf), (f"{case.name} returns a value cut from its tracked argument "
                          f"{position}: differentiate it, or mark the position in the "
                          "built-in table (nondiff=) and list it in docs/language.md")
    check_grads(with_tracked, args[position], order=case.order,
                _label=f"{case.name}[{position}]")


@pytest.mark.parametrize("case", [r for r in ROWS if not r.numeric()],
                         ids=[r.id for r in ROWS if not r.numeric()])
def test_builtin_without_numeric_arguments_runs(case):
    out = case.run(BUILTINS[case.name], list(case.args))
    assert not (isinstance(out, Tensor) and out.requires_grad)
