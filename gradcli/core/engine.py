"""Reverse mode: walk the recorded graph from the outputs to the leaves.

The walk is iterative (a chain of 100,000 ops needs no deep Python stack),
visits each node once in topological order, and sums every gradient back to
its input's shape in one place (`_summed_to`). One loop serves both kinds
of pass: a first-order backward runs the VJPs on raw arrays (see ops.run);
with `create_graph` gradients are tensors and the pass is itself recorded.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradError, ShapeError
from .buffers import LARGE, accumulate, chained, is_new, ones_like_output
from .ops import sum_to
from .tensor import (MODE, Node, Tensor, check_time, check_versions, shape_str,
                     take_tangent, watching_floating_point)


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
        head = Tensor(ones_like_output(output.data.shape, output.data.dtype))
    elif head.shape != output.shape:
        raise ShapeError(f"backward: head gradient of shape {shape_str(head.shape)} "
                         f"does not match the output of shape {shape_str(output.shape)}")
    elif head.dtype != output.dtype:
        head = Tensor(head.data.astype(output.dtype), head.node) if head.node else \
            Tensor(np.asarray(head.data, dtype=output.dtype))
    return (output.node or output), head


def run_backward(outputs, heads, *, retain_graph=False, create_graph=False,
                 inputs=None, observe=None):
    """Propagate `heads` from `outputs` back through the graph.

    With `inputs` (tensors), return their gradients and leave `.grad`
    alone; without, accumulate into every reached leaf's `.grad` and return
    the leaves written. `observe(node, grad, sent)`, when given, is called
    once per node, in the order the walk runs, with copies of the gradient
    that reached it and of what it sent: (input index, gradient) pairs
    (`gradcli explain`); the node's saved values are still there then.
    """
    grads: dict = {}
    owned: set = set()      # keys whose gradient this pass made (buffers.py)
    roots = []
    for output, head in zip(outputs, heads):
        key, head = _start(output, head)
        accumulate(grads, owned, key, head if create_graph else head.data, False)
        if type(key) is Node:
            roots.append(key)
    order = topological_order(roots)
    targets = None if inputs is None else {id(t.node or t): t for t in inputs}
    useful = None if targets is None else _leading_to(order, targets)
    outer = MODE.grad_enabled, MODE.backward_node
    MODE.grad_enabled = create_graph
    try:
        with watching_floating_point():
            for count, node in enumerate(order):
                if not count & 255:
                    check_time()
                grad = grads.pop(node, None)
                if grad is None:
                    continue
                if node.retained is not None and targets is None:
                    _retain(node, grad, create_graph)
                # The VJPs read it from here on; one may write into it if
                # this pass made it and it is not also an answer.
                consumable = node in owned
                owned.discard(node)
                if targets is not None and id(node) in targets:
                    grads[node] = grad      # keep it: it is an answer
                    consumable = False
                if node.freed:
                    raise GradError(
                        "backward through a graph a second time: its saved values "
                        "were freed by the first backward; pass retain_graph=True "
                        "to the first backward to keep them")
                MODE.backward_node = node
                if node.versions is not None:
                    check_versions(node)
                if observe is None:
                    _propagate(node, grad, grads, owned, useful, create_graph, consumable)
                else:
                    _observed(observe, node, grad, grads, owned, useful, create_graph,
                              consumable)
                if not retain_graph and _holds_values(node):
                    # A node that saved no values has nothing to free: a
                    # later backward may run through it again (PyTorch).
                    node.saved = node.ans = None
                    node.freed = True
    finally:
        MODE.grad_enabled, MODE.backward_node = outer
    if inputs is not None:
        found = [grads.get(t.node or t) for t in inputs]
        return [g if g is None or type(g) is Tensor else Tensor(np.asarray(g))
                for g in found]
    return _write_leaf_grads(grads, create_graph)


def _holds_values(node) -> bool:
    """Whether the node keeps an input's value or its output (a version is
    recorded for each saved value, None for a shape)."""
    versions = node.versions
    return node.ans is not None or (
        versions is not None and versions.count(None) != len(versions))


def _retain(node, grad, create_graph) -> None:
    """retain_grad(): keep a copy of the node's gradient (the VJPs may write
    into `grad`), summed over backward calls as PyTorch does."""
    kept = grad if create_graph else Tensor(np.array(grad))
    if node.retained is not True:
        kept = Tensor(node.retained.data + kept.data) if not create_graph else \
            node.retained + kept
    node.retained = kept


def _leading_to(order, targets):
    """Ids of nodes and leaves from which some target can be reached."""
    useful = set(targets)
    for node in reversed(order):    # parents before children
        if id(node) in useful or any(
                p is not None and id(p) in useful for p in node.parents):
            useful.add(id(node))
    return useful


def _propagate(node, grad, grads, owned, useful, create_graph, consumable):
    """Run one node's VJPs on its gradient and hand each result to its parent.
    `consumable`: the last of them may write into `grad`."""
    op, params, parents = node.op, node.params or {}, node.parents
    if create_graph:    # tensors: the VJPs are recorded, through ans too
        ans, saved = (None if node.ans is None else Tensor(node.ans, node)), node.saved
        if ans is not None and MODE.forward:    # inside jvp: ans moves along v too
            take_tangent(ans, node)
        partials = None
    else:
        ans, saved = node.ans, node.saved
        if op.saves_values:
            saved = [s.data if type(s) is Tensor else s for s in saved]
        partials = op.partials
    # Buffers are chosen (and ownership tracked) on large arrays only: on a
    # small one the bookkeeping costs more than a new array (the control-flow
    # benchmark's backward ran 1.6x slower with it).
    large = partials is not None and type(grad) is np.ndarray and grad.size >= LARGE
    last = _last_reader(node, useful) if consumable and large else -1
    for i, parent in enumerate(parents):
        if parent is None or (useful is not None and id(parent) not in useful):
            continue
        if partials is not None:
            partial = partials[i]
            if partial is None:
                continue
            d = partial(ans, *saved, **params)
            if large:
                g = chained(grad, d, i == last, ans, saved)
                if g is grad and i != last:
                    last = -1       # a parent holds grad as it is: nobody may write into it
            elif type(d) is float:  # 1.0 or -1.0
                g = grad if d == 1.0 else np.negative(grad)
            else:
                g = np.multiply(grad, d)
        elif op.variadic:
            g = op.vjps[0](grad, ans, saved[i], index=i, **params)
        elif op.vjps[i] is None:
            continue
        else:
            g = op.vjps[i](grad, ans, *saved, **params)
        # The parent may own g if this pass made it, or if it is `grad`
        # handed on (or written into) by the last VJP to read grad.
        summed = _summed_to(node, i, g, grad.shape)
        if summed is not g:
            made = type(summed) is np.ndarray and summed.base is None
        elif partials is not None and not large:
            made = False
        else:
            made = (g is grad and i == last) or is_new(g, grad, ans, saved)
        accumulate(grads, owned, parent, summed, made)


class _ByInput:
    """A node as `_propagate` reads it, but with a token of its own in place
    of each parent: what it sends then lands under one key per input, so
    the gradients to each input are seen apart (x * x sends two to x)."""

    def __init__(self, node, tokens):
        self.node, self.parents = node, tokens

    def __getattr__(self, name):
        return getattr(self.node, name)


def _observed(observe, node, grad, grads, owned, useful, create_graph, consumable):
    """`_propagate`, telling `observe` what the node received and sent. The
    sends are handed on to the parents in the order `_propagate` makes
    them, with the same ownership, so the numbers are those of a pass
    without an observer."""
    received = _copy(grad)          # a VJP may write into grad
    tokens = tuple(None if p is None else object() for p in node.parents)
    if useful is not None:
        useful = {id(t) for t, p in zip(tokens, node.parents) if t is not None and id(p) in useful}
    sent, made = {}, set()
    _propagate(_ByInput(node, tokens), grad, sent, made, useful, create_graph, consumable)
    pairs = []
    for i, token in enumerate(tokens):
        if token in sent:
            g = sent[token]
            pairs.append((i, _copy(g)))     # a later sum may be written into g
            accumulate(grads, owned, node.parents[i], g, token in made)
    observe(node, received, pairs)


def _copy(g) -> np.ndarray:
    return np.array(g.data if type(g) is Tensor else g)


def _last_reader(node, useful) -> int:
    """The input whose VJP runs last (-1: none)."""
    op = node.op
    for i in range(len(node.parents) - 1, -1, -1):
        parent = node.parents[i]
        if parent is not None and (useful is None or id(parent) in useful) and \
                op.vjps[0 if op.variadic else i] is not None:
            return i
    return -1


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


def _write_leaf_grads(grads, create_graph) -> list:
    """Write each reached leaf's .grad; return the leaves written."""
    written = []
    for key, g in grads.items():
        if type(key) is not Tensor or key.node is not None:
            continue
        leaf = key
        if leaf.grad_req is None or leaf.grad_req == "null":
            continue
        if np.shape(g) != leaf.shape:    # the engine's contract; a bug if it fails
            raise AssertionError(f"gradient of shape {np.shape(g)} for a leaf of shape {leaf.shape}")
        box = leaf._grad
        if box is None:     # the first backward to reach a PyTorch-marked leaf
            box = leaf._grad = Tensor(None)
        elif leaf.grad_req == "add":
            g = box + g if create_graph else box.data + g
        box.data = np.asarray(g.data if create_graph else g, dtype=leaf.dtype)
        box.node = g.node if create_graph else None
        box.requires_grad = box.node is not None
        if MODE.forward and create_graph:     # inside jvp: the gradient's own tangent
            take_tangent(box, g)
        written.append(leaf)
    return written
