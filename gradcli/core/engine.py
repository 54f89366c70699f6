"""Reverse mode: walk the recorded graph from the outputs to the leaves.

The walk is iterative (a chain of 100,000 ops needs no deep Python stack),
visits each node once in topological order, and sums every gradient back to
its input's shape in one place (`_propagate`).
"""

from __future__ import annotations

import numpy as np

from ..errors import GradError, NumericError, ShapeError
from .ops import sum_to
from .tensor import MODE, Node, Tensor, shape_str, site_str


def topological_order(roots):
    """Nodes reachable from `roots`, each before all of its parents
    (Kahn's algorithm: a node is ready once all its children are done)."""
    children = {}
    stack = list(roots)
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if type(parent) is Node:
                if parent in children:
                    children[parent] += 1
                else:
                    children[parent] = 1
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
        head = Tensor(np.broadcast_to(np.ones((), output.data.dtype), output.data.shape))
    elif head.shape != output.shape:
        raise ShapeError(f"backward: head gradient of shape {shape_str(head.shape)} "
                         f"does not match the output of shape {shape_str(output.shape)}")
    elif head.dtype != output.dtype:
        head = Tensor(head.data.astype(output.dtype), head.node) if head.node else \
            Tensor(np.asarray(head.data, dtype=output.dtype))
    return (output.node or output), head


def _nan_watch(kind, flag):
    """numpy's floating-point callback: report (or refuse) a NaN or Inf that
    a VJP creates, naming its op. Forward arithmetic is left alone: there a
    NaN or Inf is just a value.

    numpy raises its flags only where a NaN or Inf is made, not where one is
    passed on, so watching costs nothing on clean runs.
    """
    node = MODE.backward_node
    if node is None:
        return
    where = f" at {site_str(node.site)}" if node.site is not None else ""
    message = f"{kind} produced a non-finite value (NaN or Inf) in {node.op.name}{where}"
    if MODE.detect_nan:
        raise NumericError(message)
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
    outer = MODE.grad_enabled, MODE.backward_node
    MODE.grad_enabled = create_graph
    try:
        for node in order:
            grad = grads.pop(node, None)
            if grad is None:
                continue
            if type(grad) is _Sum:      # passed on, it may be shared: no longer ours
                grad = grad.view(np.ndarray)
            if targets is not None and id(node) in targets:
                grads[node] = grad      # keep it: it is an answer
            if node.freed:
                raise GradError(
                    "backward through a graph a second time: its saved values "
                    "were freed by the first backward; pass retain_graph=True "
                    "to the first backward to keep them")
            MODE.backward_node = node
            _check_versions(node)
            _propagate(node, grad, grads, useful, create_graph)
            if not retain_graph:
                node.saved = node.ans = None
                node.freed = True
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
    if node.versions is None:
        return
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
    params = node.params
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
        want = node.in_shapes[i]
        if want is None:
            want = grad.shape
        if g.shape != want:
            g = sum_to(g, want)
            if g.shape != want:     # a VJP broke the contract: name it
                raise AssertionError(f"{op.name}: gradient for input {i} has shape "
                                     f"{g.shape}, expected {want}")
        old = grads.get(parent)
        if old is None:
            grads[parent] = g
        elif type(old) is _Sum:     # a sum this backward owns: add in place
            np.add(old, g, out=old)
        elif create_graph or type(old) is not np.ndarray or old.shape != g.shape:
            grads[parent] = old + g
        else:
            grads[parent] = np.add(old, g, out=np.empty_like(old).view(_Sum))


class _Sum(np.ndarray):
    """A gradient sum allocated by the engine itself, so nothing else holds
    it and further contributions can be added in place (a VJP's result may
    be shared: add passes one array to both inputs)."""


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
