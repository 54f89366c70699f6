"""Reverse mode: walk the recorded graph from the outputs to the leaves.

The walk is iterative (a chain of 100,000 ops needs no deep Python stack),
visits each node once in topological order, and sums every gradient back to
its input's shape in one place (`_summed_to`).
"""

from __future__ import annotations

try:
    from sys import getrefcount
except ImportError:         # not CPython: then no array is ever ours alone
    def getrefcount(_):
        return -1

import numpy as np

from ..errors import GradError, NumericError, ShapeError, Span
from .ops import repeated_value, sum_to
from .tensor import MODE, Node, Tensor, check_time, shape_str, site_str


def topological_order(roots):
    """Nodes reachable from `roots`, each before all of its parents
    (Kahn's algorithm: a node is ready once all its children are done)."""
    children = {}
    stack = list(dict.fromkeys(roots))
    expanded = set(stack)   # each node's edges are counted once, roots included
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if type(parent) is Node:
                if parent in children:
                    children[parent] += 1
                else:
                    children[parent] = 1
                    if parent not in expanded:
                        expanded.add(parent)
                        stack.append(parent)
    ready = [r for r in dict.fromkeys(roots) if r not in children]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in node.parents:
            if type(parent) is Node:
                left = children[parent] - 1
                children[parent] = left
                if not left:
                    ready.append(parent)
    return order


def _start(output: Tensor, head):
    if not output.requires_grad:
        raise GradError(
            "backward: this value is not tracked, so it has no gradient; call "
            "attach_grad(x) on an input before computing from it (and not "
            "inside `with no_grad:`)")
    if head is None:    # differentiate sum(y)
        head = Tensor(repeated_one(output.data.shape, output.data.dtype))
    elif head.shape != output.shape:
        raise ShapeError(f"backward: head gradient of shape {shape_str(head.shape)} "
                         f"does not match the output of shape {shape_str(output.shape)}")
    elif head.dtype != output.dtype:
        head = Tensor(head.data.astype(output.dtype), head.node) if head.node else \
            Tensor(np.asarray(head.data, dtype=output.dtype))
    return (output.node or output), head


def _nan_watch(kind, flag):
    """numpy's floating-point callback: report (or refuse) a NaN or Inf that
    a VJP creates, naming its op. In the forward pass a NaN or Inf is just a
    value, unless --detect-nan asks to stop there too (the interpreter then
    gives the error the position of the expression that made it).

    numpy raises its flags only where a NaN or Inf is made, not where one is
    passed on, so watching costs nothing on clean runs.
    """
    node = MODE.backward_node
    if node is None:        # the forward pass: an error only when asked for
        if MODE.detect_nan:
            raise NumericError(f"{kind} produced a non-finite value (NaN or Inf) "
                               "(--detect-nan)")
        return
    where = f" at {site_str(node.site)}" if node.site is not None else ""
    message = f"{kind} produced a non-finite value (NaN or Inf) in {node.op.name}{where}"
    if MODE.detect_nan:
        raise NumericError(message, node.site if isinstance(node.site, Span) else None)
    if message not in MODE.nan_reports:
        MODE.nan_reports.append(message)


def watch_floating_point() -> None:
    """Route numpy's floating-point errors to `_nan_watch` (once per run).
    Underflow makes zeros or subnormals, not NaN/Inf: it is no finding."""
    np.seterr(all="call", under="ignore")
    np.seterrcall(_nan_watch)


def run_backward(outputs, heads, *, retain_graph=False, create_graph=False,
                 inputs=None):
    """Propagate `heads` from `outputs` back through the graph.

    With `inputs` (tensors), return their gradients and leave `.grad`
    alone; without, accumulate into every reached leaf's `.grad`.

    A first-order pass runs the VJPs on raw arrays (see ops.run) and keeps
    each gradient as a number times an array (`_Scaled`); with
    `create_graph` gradients are tensors and the pass is itself recorded.
    """
    grads: dict = {}
    roots = []
    for output, head in zip(outputs, heads):
        key, head = _start(output, head)
        if create_graph:
            _accumulate(grads, key, head)
        else:
            _add(grads, key, *_split(head.data), False)
        if type(key) is Node:
            roots.append(key)
    order = topological_order(roots)
    targets = None if inputs is None else {id(t.node or t): t for t in inputs}
    useful = None if targets is None else _leading_to(order, targets)
    propagate = _propagate_recorded if create_graph else _propagate
    outer = MODE.grad_enabled, MODE.backward_node
    MODE.grad_enabled = create_graph
    try:
        for count, node in enumerate(order):
            if not count & 255:
                check_time()
            grad = grads.pop(node, None)
            if grad is None:
                continue
            if targets is not None and id(node) in targets:
                grads[node] = grad      # keep it: it is an answer
                if not create_graph:
                    grad.owned = False
            if node.freed:
                raise GradError(
                    "backward through a graph a second time: its saved values "
                    "were freed by the first backward; pass retain_graph=True "
                    "to the first backward to keep them")
            MODE.backward_node = node
            if node.versions is not None:
                _check_versions(node)
            propagate(node, grad, grads, useful)
            if not retain_graph:
                node.saved = node.ans = None
                node.freed = True
        if not create_graph:
            for key, grad in grads.items():
                grads[key] = grad.value()
    finally:
        MODE.grad_enabled, MODE.backward_node = outer
    if inputs is not None:
        found = [grads.get(t.node or t) for t in inputs]
        return [g if g is None or type(g) is Tensor else Tensor(np.asarray(g))
                for g in found]
    _write_leaf_grads(grads, create_graph)
    return None


def _leading_to(order, targets):
    """Ids of nodes and leaves from which some target can be reached."""
    useful = set(targets)
    for node in reversed(order):    # parents before children
        if id(node) in useful or any(
                p is not None and id(p) in useful for p in node.parents):
            useful.add(id(node))
    return useful


def _check_versions(node):
    """A value the node saved was changed in place since: refuse to use it."""
    for value, version in zip(node.saved, node.versions):
        if version is not None and value._version != version:
            write_site, label = value._written
            who = f"'{label}'" if label else "a value"
            used = f" at {site_str(node.site)}" if node.site is not None else ""
            now = f" at {site_str(MODE.site)}" if MODE.site is not None else ""
            raise GradError(
                f"{who} was changed in place after {node.op.name}{used} saved it for "
                f"the gradient, so the backward{now} would be wrong; change it after "
                "backward, or compute a new value instead of writing in place",
                write_site)


def _propagate_recorded(node, grad, grads, useful):
    """One node's VJPs on tensors, recording them (create_graph)."""
    op = node.op
    ans = Tensor(node.ans, node) if node.ans is not None else None
    saved, params = node.saved, node.params
    for i, parent in enumerate(node.parents):
        if parent is None or (useful is not None and id(parent) not in useful):
            continue
        if op.variadic:
            g = op.vjps[0](grad, ans, saved[i], index=i, **params)
        else:
            vjp = op.vjps[i]
            if vjp is None:
                continue
            g = vjp(grad, ans, *saved, **params) if params else vjp(grad, ans, *saved)
        g = _summed_to(node, i, g, grad.shape)
        old = grads.get(parent)
        grads[parent] = g if old is None else old + g


def _propagate(node, grad, grads, useful):
    """One node's VJPs on raw arrays (a first-order backward).

    The incoming gradient is `factor * array`; VJPs are linear in it, so
    they run on the array alone and the factor rides along. An op whose VJP
    only multiplies by a number (`scales`: +, -, negation, times a scalar)
    needs no VJP call at all: its parent gets the same array, a new factor.
    """
    op = node.op
    ans, params, scales, in_shapes = node.ans, node.params, op.scales, node.in_shapes
    saved = node.saved
    if op.saves_values:
        saved = [s.data if type(s) is Tensor else s for s in saved]
    factor, array = grad.factor, grad.array
    parents = node.parents
    for i, parent in enumerate(parents):
        if parent is None or (useful is not None and id(parent) not in useful):
            continue
        vjp = op.vjps[0] if op.variadic else op.vjps[i]
        if vjp is None:
            continue
        k = factor
        scale = None if scales is None else scales[i]
        if scale is not None and type(scale) is not float:
            scale = scale(*saved)
        if scale is not None:
            k *= scale
            if in_shapes[i] is None:    # hand the array on; ours only for a sole heir
                _add(grads, parent, k, array, grad.owned and _sole_heir(parents))
                continue
            g = array
        elif op.variadic:
            g = vjp(array, ans, saved[i], index=i, **params)
        else:
            g = vjp(array, ans, *saved, **params) if params else vjp(array, ans, *saved)
        if g.shape != (array.shape if in_shapes[i] is None else in_shapes[i]):
            g = _summed_to(node, i, g, array.shape)
        if type(g) is np.ndarray and g.base is None:   # not a view: no repeated number
            owned = _alone(g)
        else:       # perhaps one repeated number: carry it as a factor
            k2, g = _split(g)
            k *= k2
            owned = False
        _add(grads, parent, k, g, owned)


def _sole_heir(parents) -> bool:
    return len(parents) == 1 or sum(p is not None for p in parents) == 1


def _summed_to(node, i, g, out_shape):
    """`g` summed back to the shape of the node's input i (un-broadcasting
    happens here and only here)."""
    want = node.in_shapes[i]
    if want is None:
        want = out_shape
    if g.shape != want:
        g = sum_to(g, want)
        if g.shape != want:     # a VJP broke the contract: name it
            raise AssertionError(f"{node.op.name}: gradient for input {i} has shape "
                                 f"{g.shape}, expected {want}")
    return g


def _alone_refcount():
    a = np.empty(0)
    return getrefcount(a)


_ALONE = _alone_refcount()     # what getrefcount says of an array one local holds


def _alone(a) -> bool:
    """Did a VJP just make `a` (an ndarray that is not a view), so that
    nothing else holds it (the caller's one local reference aside)? Then it
    may be written in place."""
    return a.flags.writeable and getrefcount(a) == _ALONE + 1


class _Scaled:
    """A first-order gradient kept as `factor * array`.

    A head of 3, a negation or `y * 2` contributes a number, not a pass over
    a whole array: the number is multiplied in only where two gradients
    meet, or at the end. `owned`: this backward made `array` and nothing
    else holds it, so it may be updated in place.
    """

    __slots__ = ("factor", "array", "owned")

    def __init__(self, factor, array, owned):
        self.factor, self.array, self.owned = factor, array, owned

    def value(self):
        k, a = self.factor, self.array
        if k == 1.0:
            return a
        if self.owned:
            return np.multiply(a, k, out=a)
        v = repeated_value(a) if a.size > 4096 else None
        if v is not None:                           # one repeated number: keep it so
            return np.broadcast_to(np.multiply(v, k), a.shape)
        return np.asarray(np.multiply(a, k))


_ONES: dict = {}


def repeated_one(shape, dtype):
    """A read-only array of ones that takes no memory (all strides 0).
    Kept per shape and dtype: small loops ask for the same one each time."""
    key = (shape, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 256:
            _ONES.clear()
        ones = _ONES[key] = np.broadcast_to(np.ones((), dtype), shape)
    return ones


def _split(a):
    """An array that repeats one number (the gradient of a sum, a head of
    3s) as (that number, a repeated 1); anything else as (1, itself)."""
    v = repeated_value(a)
    if v is not None and v != 1 and v and np.isfinite(v) and a.dtype.kind == "f":
        return float(v), repeated_one(a.shape, a.dtype)
    return 1.0, a


def _add(grads, key, k, a, owned):
    """grads[key] += k * a, writing into an array this backward owns
    whenever there is one, else into one new array."""
    old = grads.get(key)
    if old is None:
        grads[key] = _Scaled(k, a, owned)
        return
    k1, a1 = old.factor, old.array
    if a1.shape != a.shape or a1.dtype != a.dtype:   # mixed: plain arithmetic
        grads[key] = _Scaled(1.0, np.asarray(old.value() + _Scaled(k, a, owned).value()),
                             False)
        return
    if a1 is a:
        total = k1 + k
        # 0 * a, not zeros: an infinite gradient times 0 stays NaN. asarray:
        # numpy returns a 0-d product as a scalar, which takes no `out=`.
        grads[key] = (_Scaled(total, a, False) if total
                      else _Scaled(1.0, np.asarray(a * 0.0), True))
        return
    if owned and not old.owned:     # write into the one we own
        k1, a1, k, a, owned = k, a, k1, a1, False
    elif not old.owned:             # neither: the first operation makes one
        if k == k1:
            out = np.add(a1, a)
        elif k == -k1:
            out = np.subtract(a1, a)
        else:
            out, k1 = a1 * k1 + (a if k == 1.0 else a * k), 1.0
        grads[key] = _Scaled(k1, np.asarray(out), True)   # 0-d sums come back as scalars
        return
    if k == k1:
        np.add(a1, a, out=a1)
    elif k == -k1:
        np.subtract(a1, a, out=a1)
    else:
        if k1 != 1.0:
            np.multiply(a1, k1, out=a1)
            k1 = 1.0
        if k != 1.0:
            a = np.multiply(a, k, out=a) if owned else a * k
        np.add(a1, a, out=a1)
    grads[key] = _Scaled(k1, a1, True)


def _accumulate(grads, key, g):
    old = grads.get(key)
    grads[key] = g if old is None else old + g


def _write_leaf_grads(grads, create_graph):
    written = MODE.written_leaves = []
    for key, g in grads.items():
        if type(key) is not Tensor or key.node is not None:
            continue
        leaf = key
        if leaf.grad_req == "null" or leaf._grad is None:
            continue
        if np.shape(g) != leaf.shape:    # the engine's contract; a bug if it fails
            raise AssertionError(f"gradient of shape {np.shape(g)} for a leaf of shape {leaf.shape}")
        box = leaf._grad
        if leaf.grad_req == "add":
            g = box + g if create_graph else box.data + g
        box.data = np.asarray(g.data if create_graph else g, dtype=leaf.dtype)
        box.node = g.node if create_graph else None
        box.requires_grad = box.node is not None
        written.append(leaf)


watch_floating_point()
