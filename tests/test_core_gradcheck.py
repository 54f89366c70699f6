"""One gradient-check row per differentiable op of `ops.TABLE`.

Every row is checked to second order against central differences in
float64 (see gradcheck.py), and must actually record the op it claims to
cover. Adding an op to the table without a row here fails
`test_every_differentiable_op_has_a_row`.

Inputs stay away from kinks: positive where the op needs it (log, sqrt,
pow's base), away from 0 for abs/relu/sign-like ops, pairwise distinct for
max/min/maximum/minimum, away from the bounds for clip, well-conditioned
matrices for inv/det/solve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from gradcheck import Draws, check_grads
from gradcli.core import ops
from gradcli.core.tensor import Node, Tensor, grad_mode

pytestmark = pytest.mark.usefixtures("core_mode")

DRAWS = Draws(20240611)
R = DRAWS.rng
anyv, pos, away, distinct, wellcond = (DRAWS.anyv, DRAWS.pos, DRAWS.away, DRAWS.distinct,
                                       DRAWS.wellcond)

# ------------------------------------------------------------------ inputs


def apart_pair(sx, sy, gap=0.05):
    """x, y that differ by at least `gap` wherever they broadcast together."""
    while True:
        x, y = anyv(sx), anyv(sy)
        if np.min(np.abs(x - y), initial=np.inf) > gap:
            return x, y


def away_from(shape, points, gap=0.05):
    while True:
        x = anyv(shape)
        if all(np.min(np.abs(x - p), initial=np.inf) > gap for p in points):
            return x


# ------------------------------------------------------------------- rows

@dataclass
class Case:
    op: str             # the TABLE name this row covers
    desc: str
    f: object
    args: tuple
    kw: dict = field(default_factory=dict)

    @property
    def id(self):
        return f"{self.op}-{self.desc}"


def shp(s):
    return "x".join(map(str, s)) if s else "0d"


CASES: list[Case] = []


def row(op, desc, f, *args, **kw):
    args = tuple(np.asarray(a) if isinstance(a, (float, np.floating)) else a for a in args)
    CASES.append(Case(op, desc, f, args, kw))


SHAPES = [(), (4,), (3, 4), (1, 4)]
BROADCAST = [((3, 4), (4,)), ((3, 1), (1, 4)), ((), (3, 4)), ((1, 4), (3, 4))]
PAIRS = [(s, s) for s in SHAPES] + BROADCAST + [(b, a) for a, b in BROADCAST]

# binary arithmetic, with numpy broadcasting in both orders
for sx, sy in PAIRS:
    d = f"{shp(sx)}&{shp(sy)}"
    row("AddBackward", d, ops.add, anyv(sx), anyv(sy))
    row("SubBackward", d, ops.sub, anyv(sx), anyv(sy))
    row("MulBackward", d, ops.mul, anyv(sx), anyv(sy))
    row("DivBackward", d, ops.div, anyv(sx), away(sy, 0.5))
    row("PowBackward", d, ops.power, pos(sx), anyv(sy))     # tracked exponent
    row("MaximumBackward", d, ops.maximum, *apart_pair(sx, sy))
    row("MinimumBackward", d, ops.minimum, *apart_pair(sx, sy))
    row("LogaddexpBackward", d, ops.logaddexp, anyv(sx, -3, 3), anyv(sy, -3, 3))
row("LogaddexpBackward", "far-apart", ops.logaddexp, np.array([-300.0, 0.0, 40.0]),
    np.array([2.0, 700.0, -40.0]))

def remainder_pair(sx, sy):
    """a, b with a / b at least 0.2 away from a whole number: % jumps there."""
    b = away(sy, 0.5)
    whole = R.integers(-3, 4, np.broadcast_shapes(sx, sy))
    a = b * (whole + R.uniform(0.2, 0.8, whole.shape))
    return a if a.shape == sx else np.ones(sx) * a.flat[0], b


for sx, sy in [((3, 4), (3, 4)), ((3, 4), ()), ((4,), (4,)), ((), ())]:
    row("RemainderBackward", f"{shp(sx)}&{shp(sy)}", ops.mod, *remainder_pair(sx, sy))
for n in (5, 2, 1):
    row("LinspaceBackward", f"num{n}", lambda a, b, n=n: ops.linspace(a, b, n),
        anyv(()), anyv(()))

row("PowBackward", "neg-base-cube", lambda x: x ** 3.0, anyv((3, 4)))
row("PowBackward", "int-exponent-neg-base", lambda x: x ** -2.0, away((4,), 0.5))
row("PowBackward", "sqrt-as-pow", lambda x: x ** 0.5, pos((3, 4)))
row("PowBackward", "rpow-2**x", lambda x: 2.0 ** x, anyv((4,)))
row("MulBackward", "x*x", lambda x: x * x, anyv((3, 4)))
row("DivBackward", "rdiv-1/x", lambda x: 1.0 / x, away((3, 4), 0.5))

# unary elementwise
UNARY = [
    ("NegBackward", ops.neg, anyv),
    ("ExpBackward", ops.exp, anyv),
    ("LogBackward", ops.log, pos),
    ("Log1PBackward", ops.log1p, lambda s: anyv(s, -0.5, 2.0)),
    ("SqrtBackward", ops.sqrt, pos),
    ("AbsBackward", ops.absolute, away),
    ("SinBackward", ops.sin, lambda s: anyv(s, -3.0, 3.0)),
    ("CosBackward", ops.cos, lambda s: anyv(s, -3.0, 3.0)),
    ("TanBackward", ops.tan, lambda s: anyv(s, -1.2, 1.2)),
    ("TanhBackward", ops.tanh, anyv),
    ("SigmoidBackward", ops.sigmoid, lambda s: anyv(s, -4.0, 4.0)),
    ("ReluBackward", ops.relu, away),
    ("SoftplusBackward", ops.softplus, lambda s: anyv(s, -4.0, 4.0)),
    ("ErfBackward", ops.erf, lambda s: anyv(s, -2.5, 2.5)),
    ("Expm1Backward", ops.expm1, anyv),
    ("Log2Backward", ops.log2, pos),
    ("Log10Backward", ops.log10, pos),
    ("AsinBackward", ops.arcsin, lambda s: anyv(s, -0.9, 0.9)),
    ("AcosBackward", ops.arccos, lambda s: anyv(s, -0.9, 0.9)),
    ("AtanBackward", ops.arctan, lambda s: anyv(s, -3.0, 3.0)),
    ("SinhBackward", ops.sinh, anyv),
    ("CoshBackward", ops.cosh, anyv),
]
for name, fn, gen in UNARY:
    for s in SHAPES:
        row(name, shp(s), fn, gen(s))
row("SigmoidBackward", "saturated", ops.sigmoid, np.array([-30.0, -12.0, 12.0, 30.0]))
row("SoftplusBackward", "large", ops.softplus, np.array([-40.0, -15.0, 15.0, 40.0]))
row("ExpBackward", "composed-exp-sin", lambda x: ops.exp(ops.sin(x)), anyv((3, 4)))

for s in SHAPES:
    x = away_from(s, (-0.5, 0.7))
    row("ClampBackward", f"both-{shp(s)}", lambda x: ops.clip(x, -0.5, 0.7), x)
row("ClampBackward", "low-only", lambda x: ops.clip(x, low=0.2), away_from((3, 4), (0.2,)))
row("ClampBackward", "high-only", lambda x: ops.clip(x, high=-0.1), away_from((3, 4), (-0.1,)))

# where: the condition is data, both branches tracked, with broadcasting
for sc, sx, sy in [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ()), ((4,), (3, 4), (3, 1)),
                   ((), (4,), (4,)), ((1, 4), (3, 1), (1, 4)), ((), (), ())]:
    cond = R.uniform(size=sc) > 0.5
    row("WhereBackward", f"{shp(sc)}|{shp(sx)}|{shp(sy)}", ops.where, cond, anyv(sx), anyv(sy))
row("CopySlices", "3x4", lambda c, x, y: ops.where(c, x, y, op=ops.COPY_SLICES),
    R.uniform(size=(3, 4)) > 0.5, anyv((3, 4)), anyv((3, 4)))

# reductions
REDUCTIONS = [
    ("SumBackward", ops.sum_, anyv),
    ("MeanBackward", ops.mean, anyv),
    ("ProdBackward", ops.prod, lambda s: away(s, 0.5)),
    ("MaxBackward", ops.max_, distinct),
    ("MinBackward", ops.min_, distinct),
    ("LogsumexpBackward", ops.logsumexp, anyv),
    ("NormBackward", lambda x, **k: ops.norm(x, 2, **k), anyv),
    ("NormBackward", lambda x, **k: ops.norm(x, 1, **k), away),
]
AXES = ([(s, None, False) for s in SHAPES]
        + [((3, 4), ax, kd) for ax in (0, -1, (0, 1)) for kd in (False, True)]
        + [((3, 4), None, True)]
        + [((1, 4), 0, False), ((2, 3, 4), 1, False), ((2, 3, 4), (0, 2), True),
           ((2, 3, 4), -1, True), ((), 0, False)])
for k, (name, fn, gen) in enumerate(REDUCTIONS):
    tag = "ord1-" if k == 7 else ""
    for s, ax, kd in AXES:
        row(name, f"{tag}{shp(s)}-axis{ax}-keep{kd}",
            lambda x, fn=fn, ax=ax, kd=kd: fn(x, axis=ax, keepdims=kd), gen(s))
# prod is a polynomial: zeros are no kink, and second order must hold there too
for desc, ax, x in [("one-zero", None, [2.0, 0.0, 3.0]), ("two-zeros", None, [0.0, -1.5, 0.0]),
                    ("rows-axis1", 1, [[2.0, 0.0, 3.0], [0.0, 1.5, 0.0]]),
                    ("axis(0,1)", (0, 1), [[2.0, 0.0, 3.0], [1.0, 1.5, -1.0]]),
                    ("cols-axis0", 0, [[2.0, 0.0, 3.0], [0.0, 1.5, 0.7]]), ("0d", None, 0.0)]:
    row("ProdBackward", f"zeros-{desc}",
        lambda x, ax=ax: ops.prod(x, axis=ax, keepdims=True), np.array(x))
row("LogsumexpBackward", "large-values", lambda x: ops.logsumexp(x, axis=-1),
    anyv((3, 4)) + 700.0)

for s, ax in [((), None), ((4,), None), ((4,), 0), ((3, 4), None), ((3, 4), 0), ((3, 4), -1),
              ((1, 4), 0), ((2, 3, 4), 1)]:
    row("CumsumBackward", f"{shp(s)}-axis{ax}", lambda x, ax=ax: ops.cumsum(x, ax), anyv(s))

for name, fn in [("SoftmaxBackward", ops.softmax), ("LogSoftmaxBackward", ops.log_softmax)]:
    for s, ax in [((), -1), ((4,), -1), ((1, 4), -1), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1)]:
        row(name, f"{shp(s)}-axis{ax}", lambda x, fn=fn, ax=ax: fn(x, axis=ax), anyv(s, -3, 3))
    row(name, "large-values", lambda x, fn=fn: fn(x), anyv((4,)) + 800.0)

# shapes
for src, dst in [((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((3, 4), ()),
                 ((2, 3, 4), (3, 1)), ((1, 4), (4,))]:
    row("SumToBackward", f"{shp(src)}->{shp(dst)}", lambda x, d=dst: ops.sum_to(x, d), anyv(src))
for src, dst in [((4,), (3, 4)), ((), (3, 4)), ((3, 1), (3, 4)), ((1, 4), (2, 3, 4)), ((), (4,))]:
    row("ExpandBackward", f"{shp(src)}->{shp(dst)}",
        lambda x, d=dst: ops.broadcast_to(x, d), anyv(src))
for src, dst in [((3, 4), (2, 6)), ((3, 4), (12,)), ((3, 4), (2, -1)), ((), (1, 1)),
                 ((4,), (2, 2)), ((1, 4), (4,))]:
    row("ReshapeBackward", f"{shp(src)}->{dst}", lambda x, d=dst: ops.reshape(x, d), anyv(src))
row("ReshapeBackward", "flatten", ops.flatten, anyv((3, 4)))
row("ReshapeBackward", "squeeze-all", ops.squeeze, anyv((1, 4)))
row("ReshapeBackward", "squeeze-axis", lambda x: ops.squeeze(x, -1), anyv((3, 1)))
row("ReshapeBackward", "expand_dims-0", lambda x: ops.expand_dims(x, 0), anyv((3, 4)))
row("ReshapeBackward", "expand_dims--1", lambda x: ops.expand_dims(x, -1), anyv((4,)))
row("ReshapeBackward", "expand_dims-0d", lambda x: ops.expand_dims(x, 0), anyv(()))
for s, axes in [((3, 4), None), ((1, 4), None), ((4,), None), ((), None),
                ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (-1, 0, 1))]:
    row("TransposeBackward", f"{shp(s)}-{axes}", lambda x, a=axes: ops.transpose(x, a), anyv(s))
for s in SHAPES:
    row("AliasBackward", shp(s), ops.identity, anyv(s))

for shapes, ax in [([(3, 4), (2, 4)], 0), ([(3, 4), (3, 1), (3, 2)], 1), ([(4,), (2,)], 0),
                   ([(3, 4), (3, 4)], -1), ([(1, 4), (3, 4)], 0)]:
    row("CatBackward", "&".join(map(shp, shapes)) + f"-axis{ax}",
        lambda *xs, ax=ax: ops.concat(list(xs), axis=ax), *[anyv(s) for s in shapes])
for shapes, ax in [([(4,), (4,)], 0), ([(4,), (4,)], -1), ([(), ()], 0),
                   ([(3, 4)] * 3, 1), ([(1, 4), (1, 4)], 2)]:
    row("StackBackward", "&".join(map(shp, shapes)) + f"-axis{ax}",
        lambda *xs, ax=ax: ops.stack(list(xs), axis=ax), *[anyv(s) for s in shapes])

# indexing: ints, slices, negatives, repeated integer arrays, masks
MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
INDEXES = [
    ((3, 4), "int", (1,)),
    ((3, 4), "neg-int", (-1,)),
    ((3, 4), "bare-int", 2),
    ((3, 4), "col", (slice(None), 1)),
    ((3, 4), "slices-step", (slice(1, 3), slice(None, None, 2))),
    ((3, 4), "reversed", (slice(None, None, -1),)),
    ((3, 4), "neg-slice-neg-int", (slice(-2, None), -1)),
    ((3, 4), "int-array-repeats", (np.array([0, 2, 0, 0]),)),
    ((3, 4), "bare-int-array-repeats", np.array([2, 0, 2])),
    ((3, 4), "col-array-repeats", (slice(None), np.array([3, 3, 1, 3]))),
    ((3, 4), "two-arrays", (np.array([0, 2, 2]), np.array([1, 1, 3]))),
    ((3, 4), "mask-2d", (MASK,)),
    ((3, 4), "mask-rows", (np.array([True, False, True]),)),
    ((3, 4), "ellipsis", (Ellipsis, -2)),
    ((4,), "to-0d", (2,)),
    ((4,), "neg-array", (np.array([-1, -1, 0]),)),
    ((), "empty-tuple", ()),
    ((1, 4), "int-and-slice", (0, slice(1, 3))),
    ((2, 3, 4), "mixed", (1, np.array([0, 0, 2]), slice(None))),
]
for s, desc, index in INDEXES:
    row("IndexBackward", desc, lambda x, i=index: ops.getitem(x, i), anyv(s))

for gs, index, shape in [((3,), (np.array([0, 2, 0]),), (4,)),
                         ((3, 4), (np.array([1, 1, 4]),), (5, 4)),
                         ((2,), (1, slice(1, 3)), (3, 4)),
                         ((), (2,), (4,))]:
    row("IndexPutBackward", f"{shp(gs)}->{shp(shape)}",
        lambda g, i=index, s=shape: ops.scatter(g, i, s), anyv(gs))

# linear algebra
for sa, sb in [((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((3, 4), (4, 2)),
               ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)),
               ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((1, 3, 4), (2, 4, 2)), ((3, 4), (4, 1))]:
    row("MmBackward", f"{shp(sa)}@{shp(sb)}", ops.matmul, anyv(sa), anyv(sb))
for sa, sb in [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 3)), ((3, 4), (4, 2))]:
    row("DotBackward", f"{shp(sa)}.{shp(sb)}", ops.dot, anyv(sa), anyv(sb))
row("MulBackward", "dot-with-scalar", ops.dot, anyv(()), anyv((4,)))
for sa, sb in [((4,), (3,)), ((), (3,)), ((2, 2), (3,)), ((1,), (1,))]:
    row("OuterBackward", f"{shp(sa)}x{shp(sb)}", ops.outer, anyv(sa), anyv(sb))
for s in [(3, 3), (1, 1), (2, 3, 3)]:
    row("InverseBackward", shp(s), ops.inv, wellcond(s))
for s in [(3, 3), (2, 2), (1, 1), (2, 3, 3)]:
    row("DetBackward", shp(s), ops.det, wellcond(s))
    row("SlogdetBackward", shp(s), lambda a: ops.slogdet(a)[1], wellcond(s))
row("SlogdetBackward", "negative-det", lambda a: ops.slogdet(a)[1], wellcond((3, 3))[[1, 0, 2]])
row("DetBackward", "negative-det", ops.det, wellcond((3, 3))[[1, 0, 2]])
# det is a polynomial: singular matrices are no kink (the adjugate path)
row("DetBackward", "singular-rank2", ops.det, np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0],
                                                          [1.0, 0.0, 1.0]]))
row("DetBackward", "singular-batch", ops.det, np.array([[[1.0, 2.0], [2.0, 4.0]],
                                                         [[0.0, 0.0], [0.0, 0.0]]]))
for sa, sb in [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 2)), ((2, 3, 3), (3,)),
               ((1, 1), (1,))]:
    row("SolveBackward", f"{shp(sa)}\\{shp(sb)}", ops.solve, wellcond(sa), anyv(sb))
for s in [(3, 3), (3, 4), (4, 2), (1, 1)]:
    row("TraceBackward", shp(s), ops.trace, anyv(s))


# ------------------------------------------------------------------ tests

def recorded_ops(out: Tensor) -> set[str]:
    names, stack, seen = set(), [out.node] if out.node else [], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        names.add(node.op.name)
        stack.extend(p for p in node.parents if type(p) is Node)
    return names


def differentiable_ops() -> set[str]:
    return {name for name, op in ops.TABLE.items() if op.vjps}


def test_every_differentiable_op_has_a_row():
    assert {c.op for c in CASES} == differentiable_ops()
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "row ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradcheck(case):
    leaves = [Tensor(np.array(a, dtype=np.float64)).attach_grad()
              if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in case.args]
    with grad_mode(True):
        out = case.f(*leaves)
    assert case.op in recorded_ops(out), f"row does not record {case.op}"
    check_grads(case.f, *case.args, order=2, **case.kw)


# non-differentiable ops: results are never tracked, whatever their inputs
NONDIFF = {
    "FloorDivide": lambda x: ops.floordiv(x, 0.7),
    "Less": lambda x: ops.less(x, 0.1),
    "LessEqual": lambda x: ops.less_equal(x, 0.1),
    "Greater": lambda x: ops.greater(x, 0.1),
    "GreaterEqual": lambda x: ops.greater_equal(x, 0.1),
    "Equal": lambda x: ops.equal(x, x),
    "NotEqual": lambda x: ops.not_equal(x, 0.1),
    "Sign": ops.sign,
    "Argmax": lambda x: ops.argmax(x, axis=-1),
    "Argmin": ops.argmin,
}


def test_nondifferentiable_ops_are_listed():
    assert set(NONDIFF) == set(ops.TABLE) - differentiable_ops()


@pytest.mark.parametrize("name", sorted(NONDIFF))
def test_nondifferentiable_op_is_not_recorded(name):
    x = Tensor(distinct((3, 4))).attach_grad()
    out = NONDIFF[name](x)
    assert out.node is None and not out.requires_grad
