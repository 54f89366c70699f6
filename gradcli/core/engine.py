"""Reverse mode: walk the recorded graph from the outputs to the leaves.

The walk is iterative (a chain of 100,000 ops needs no deep Python stack),
visits each node once in topological order, and sums every gradient back to
its input's shape in one place (`_to_input_shape`).
"""

from __future__ import annotations

import numpy as np

from ..errors import GradError, NumericError, ShapeError
from .ops import sum_to
from .tensor import MODE, Node, Tensor, grad_mode, shape_str, site_str


def topological_order(roots):
    """Nodes reachable from `roots`, each before all of its parents."""
    order, seen = [], set()
    stack = [(node, False) for node in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for parent in node.parents:
            if type(parent) is Node and parent not in seen:
                stack.append((parent, False))
    order.reverse()
    return order


def _start(output: Tensor, head):
    if not output.requires_grad:
        raise GradError(
            "backward: this value is not tracked, so it has no gradient; call "
            "attach_grad(x) on an input before computing from it (and not "
            "inside `with no_grad:`)")
    if head is None:
        head = Tensor(np.ones_like(output.data))   # differentiate sum(y)
    elif head.shape != output.shape:
        raise ShapeError(f"backward: head gradient of shape {shape_str(head.shape)} "
                         f"does not match the output of shape {shape_str(output.shape)}")
    elif head.dtype != output.dtype:
        head = Tensor(head.data.astype(output.dtype), head.node) if head.node else \
            Tensor(np.asarray(head.data, dtype=output.dtype))
    return (output.node or output), head


class _NanWatch:
    """Report (or refuse) NaN/Inf that a VJP creates, naming its op.

    numpy raises its floating-point flags only where a NaN or Inf is made,
    not where one is merely passed on, so this costs nothing on clean runs.
    """

    def __init__(self):
        self.node = None

    def __call__(self, kind, flag):
        node = self.node
        where = f" at {site_str(node.site)}" if node is not None and node.site else ""
        name = node.op.name if node is not None else "backward"
        message = f"{kind} produced a non-finite value (NaN or Inf) in {name}{where}"
        if MODE.detect_nan:
            raise NumericError(message)
        if message not in MODE.nan_reports:
            MODE.nan_reports.append(message)


def run_backward(outputs, heads, *, retain_graph=False, create_graph=False,
                 inputs=None):
    """Propagate `heads` from `outputs` back through the graph.

    With `inputs` (tensors), return their gradients and leave `.grad`
    alone; without, accumulate into every reached leaf's `.grad`.
    """
    grads: dict = {}
    roots = []
    for output, head in zip(outputs, heads):
        key, head = _start(output, head)
        # A first-order pass runs the VJPs on raw arrays (see ops.run).
        _accumulate(grads, key, head if create_graph else head.data)
        if type(key) is Node:
            roots.append(key)
    order = topological_order(roots)
    targets = None if inputs is None else {id(t.node or t): t for t in inputs}
    useful = None if targets is None else _leading_to(order, targets)
    watch = _NanWatch()
    # Underflow makes zeros or subnormals, not NaN/Inf: it is no finding.
    with grad_mode(create_graph), np.errstate(all="call", under="ignore"):
        old_call = np.seterrcall(watch)
        try:
            for node in order:
                grad = grads.pop(node, None)
                if grad is None:
                    continue
                if targets is not None and id(node) in targets:
                    grads[node] = grad      # keep it: it is an answer
                if node.freed:
                    raise GradError(
                        "backward through a graph a second time: its saved values "
                        "were freed by the first backward; pass retain_graph=True "
                        "to the first backward to keep them")
                watch.node = node
                _check_versions(node)
                _propagate(node, grad, grads, useful, create_graph)
                if not retain_graph:
                    node.saved = node.ans = None
                    node.freed = True
        finally:
            np.seterrcall(old_call)
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


def _propagate(node, grad, grads, useful, create_graph):
    op = node.op
    if create_graph:
        ans = Tensor(node.ans, node) if node.ans is not None else None
        saved = node.saved
    else:
        ans = node.ans
        saved = [s.data if type(s) is Tensor else s for s in node.saved]
    params = node.params or {}
    for i, parent in enumerate(node.parents):
        if parent is None or (useful is not None and id(parent) not in useful):
            continue
        if op.variadic:
            g = op.vjps[0](grad, ans, saved[i], index=i, **params)
        else:
            vjp = op.vjps[i]
            if vjp is None:
                continue
            g = vjp(grad, ans, *saved, **params)
        want = node.in_shapes[i]
        if want is None:
            want = np.shape(grad)
        if np.shape(g) != want:
            g = sum_to(g, want)
        _accumulate(grads, parent, g)


def _accumulate(grads, key, g):
    old = grads.get(key)
    grads[key] = g if old is None else old + g


def _write_leaf_grads(grads, create_graph):
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
