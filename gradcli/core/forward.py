"""Forward mode: tangents carried beside the values, op by op, with no tape.

While `jvp` runs (MODE.forward > 0), a tensor may carry a `tangent` (a
Tensor of its shape): d(value)/d(input) · v. `apply` hands every op on such
tensors to `dual`, which computes the output's tangent by the op's JVP rule
(ops.py) and attaches it to the output.

Nothing is recorded for the tangents' sake. A value that carries a tangent
but no reverse-mode history still has to count as tracked, because the
interpreter and the built-ins take their differentiable paths only for
tracked values (an indexed write, `x += v`, `copy`); such a value gets the
one shared node `TANGENT_ONLY`, which has no parents, so no chain of nodes
grows: memory stays that of the forward pass alone, as the seed material's
comparison of forward and reverse accumulation says.

Where reverse mode is running too (an outer recording, or `grad` inside a
`jvp`), the real nodes are recorded as usual and the tangents are computed
with tensors, so they can be differentiated in turn.
"""

from __future__ import annotations

import numpy as np

from .tensor import MODE, Node, Tensor, record


class _TangentOnly:
    """The op of the shared nodes: they have no gradient to send anywhere."""

    label = "forward mode"
    vjps = partials = None
    variadic = saves_values = saves_ans = False

    def __init__(self, name):
        self.name = name


# A value computed from the variable, carrying a tangent and no history...
TANGENT_ONLY = Node(_TangentOnly("ForwardTangent"), (), (), None, None, None, ())
# ... and the variable itself (attach_grad on it keeps its tangent, as
# reverse mode's variable stays the variable).
SEED = Node(_TangentOnly("ForwardSeed"), (), (), None, None, None, ())


def tangent_of(t: Tensor):
    return getattr(t, "tangent", None)


def has_history(t: Tensor) -> bool:
    """Tracked by reverse mode itself: a leaf, or a value with real nodes."""
    return t.requires_grad and t.node is not TANGENT_ONLY and t.node is not SEED


def seed(data, tangent: Tensor) -> Tensor:
    """The variable of forward mode: `data` moving along `tangent`."""
    variable = Tensor(data, SEED)
    variable.tangent = tangent
    return variable


def dual(op, args, params, out) -> Tensor:
    """The output of `op` on `args` (its numbers `out`) with its tangent,
    and its node when reverse mode records this op."""
    tangents = [tangent_of(a) for a in args]
    node = None
    if any(has_history(a) for a in args):    # reverse mode records this op too
        node = record(op, [a if has_history(a) else _untracked(a) for a in args], params, out)
    if op.jvp is None or all(t is None for t in tangents):
        return Tensor(out, node) if node is not None else Tensor(out)
    tangent = _tangent(op, args, tangents, params, out, node)
    result = Tensor(out, node if node is not None else TANGENT_ONLY)
    if tangent is not None:
        result.tangent = tangent
        if node is not None:
            node.tangent = tangent      # a recorded backward reads ans with it
    return result


def _untracked(a: Tensor) -> Tensor:
    """A tangent-only operand as reverse mode sees it: a constant."""
    if not a.requires_grad:
        return a
    plain = Tensor(a.data)
    plain._version = a._version
    return plain


def _tangent(op, args, tangents, params, out, node):
    """The op's JVP rule run on arrays, or on tensors when reverse mode
    needs to differentiate the tangent (recorded nodes, tracked tangents)."""
    with_tensors = node is not None or any(
        t is not None and t.requires_grad for t in tangents)
    if with_tensors:
        inputs = [a if has_history(a) else Tensor(a.data) for a in args]
        ans = Tensor(out, node) if node is not None else Tensor(out)
        ts = tangents
    else:
        inputs = [a.data for a in args]
        ans = out
        ts = [None if t is None else t.data for t in tangents]
    depth = MODE.forward
    MODE.forward = 0        # the rule's own ops carry no tangents
    try:
        t = op.jvp(ts, ans, inputs, params or {})
    finally:
        MODE.forward = depth
    if t is None:
        return None
    if type(t) is not Tensor:
        t = Tensor(np.asarray(t))
    if t.shape != out.shape or t.dtype != out.dtype:
        t = _fitted(t, out)
    return t


def _fitted(t: Tensor, out) -> Tensor:
    """A tangent of a broadcast operand, spread to the output's shape."""
    from .ops import broadcast_to
    depth = MODE.forward
    MODE.forward = 0
    try:
        if t.shape != out.shape:
            t = broadcast_to(t, out.shape)
            if type(t) is not Tensor:
                t = Tensor(t)
        if t.dtype != out.dtype:
            t = Tensor(t.data.astype(out.dtype), t.node)
    finally:
        MODE.forward = depth
    return t


class tangents_on:
    """`with tangents_on():` the ops run inside carry tangents."""

    __slots__ = ()

    def __enter__(self):
        MODE.forward += 1

    def __exit__(self, *exc):
        MODE.forward -= 1
