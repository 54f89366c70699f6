"""What users call: backward, and the function transforms grad, jacobian,
hessian and jvp (forward mode: tangents beside the values, forward.py).

Transforms take Python callables of tensors, so the language can hand them
its own functions. Nesting works because each transform builds its result
with recording on whenever the caller is recording, so an outer transform
can differentiate it again.
"""

from __future__ import annotations

import numpy as np

from ..errors import EvalError, ShapeError
from .engine import run_backward
from .forward import SEED, TANGENT_ONLY, has_history, tangent_of, tangents_on
from .ops import reshape, stack
from .tensor import MODE, Tensor, check_size, grad_mode, lift, shape_str


def backward(y: Tensor, head=None, retain_graph=False, create_graph=False) -> list:
    """Accumulate d(head · y)/dx into the `.grad` of every leaf x reached;
    return those leaves."""
    head = None if head is None else lift(head)
    # Inside jvp the gradients are computed with tensors, so that they carry
    # tangents too (a gradient's derivative along v: forward over reverse).
    create_graph = create_graph or bool(MODE.forward)
    return run_backward([y], [head], retain_graph=retain_graph or create_graph,
                        create_graph=create_graph)


def _as_input(x) -> Tensor:
    """The variable a transform differentiates with respect to.

    An input that an outer recording tracks stays connected to it (through
    an identity node), so the transform's result can be differentiated again.
    """
    x = lift(x)
    if x.requires_grad and MODE.grad_enabled and has_history(x):
        from .ops import identity
        return identity(x)
    leaf = Tensor(_floating(x))
    leaf.requires_grad = True
    tangent = tangent_of(x)
    if tangent is not None:     # inside jvp: the variable moves along v too
        leaf.tangent = tangent
    return leaf


def _call_with(f, args, argnum):
    """f called with args[argnum] (or each of a tuple of argnums) as the
    variable(s); returns (the variable or a tuple of them, f's value)."""
    argnums = argnum if isinstance(argnum, tuple) else (argnum,)
    args = list(args)
    for k in argnums:
        if not -len(args) <= k < len(args):
            raise EvalError(f"argnum {k} is out of range for {len(args)} argument(s)")
    if len({k % len(args) for k in argnums}) != len(argnums):
        raise EvalError(f"argnums {argnums} name one argument twice")
    xs = []
    for k in argnums:
        args[k] = _as_input(args[k])
        xs.append(args[k])
    with grad_mode(True):
        y = lift(f(*args))
    return (tuple(xs) if isinstance(argnum, tuple) else xs[0]), y


def _cut_if_local(result, *local) -> Tensor:
    """`result` without its graph when that graph reaches no leaf but the
    transform's own inputs: nothing outside could differentiate it again,
    so keeping it would only hold memory (and show a confusing grad_fn)."""
    if result is None or result.node is None or result.node in (TANGENT_ONLY, SEED):
        return result
    own = {id(t) for t in local}
    stack, seen = [result.node], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for parent in node.parents:
            if isinstance(parent, Tensor):
                if id(parent) not in own:
                    return result      # reaches an outer leaf: keep it
            elif parent is not None:
                stack.append(parent)
    return _without_history(result)


def _without_history(t: Tensor) -> Tensor:
    """t's numbers cut from its graph, keeping its tangent (inside jvp)."""
    tangent = tangent_of(t)
    if tangent is None:
        return Tensor(t.data)
    cut = Tensor(t.data, TANGENT_ONLY)
    cut.tangent = tangent
    return cut


def _zeros(shape) -> Tensor:
    return Tensor(np.zeros(shape, dtype=MODE.dtype))


def grad(f, argnum: int | tuple = 0):
    """grad(f)(*args): the gradient of scalar-valued f w.r.t. args[argnum];
    for a tuple of argnums, a tuple of gradients (one backward pass)."""
    several = isinstance(argnum, tuple)
    argnums = argnum if several else (argnum,)

    def gradient(*args):
        # Inside jvp the backward is taken with tensors, so it carries tangents.
        keep = MODE.grad_enabled or bool(MODE.forward)
        xs, y = _call_with(f, args, argnums)
        if y.size != 1:
            raise ShapeError(f"grad(f): f must return a single number, but it returned "
                             f"shape {shape_str(y.shape)}; use jacobian(f) for vector outputs")
        if y.requires_grad:
            grads = run_backward([y], [None], inputs=list(xs), create_graph=keep,
                                 retain_graph=keep)
        else:
            grads = [None] * len(xs)
        out = tuple(_cut_if_local(g, *xs) if g is not None else _zeros(x.shape)
                    for g, x in zip(grads, xs))
        return out if several else out[0]
    return gradient


def jacobian(f, argnum: int = 0):
    """jacobian(f)(*args): array of shape f's shape + the argument's shape."""
    def jac(*args):
        keep = MODE.grad_enabled or bool(MODE.forward)
        x, y = _call_with(f, args, argnum)
        check_size(y.size * x.size, "the result of jacobian")
        if not y.requires_grad:
            return _zeros(y.shape + x.shape)
        (rows,) = jacobian_rows(y, [x], create_graph=keep)
        with grad_mode(keep):
            return _cut_if_local(reshape(stack(rows), y.shape + x.shape), x)
    return jac


def jacobian_rows(y: Tensor, xs: list, create_graph=False) -> list:
    """Per x in xs, the gradients of each element of y by x, in y's order
    (zeros where y does not reach x): one backward pass per element of y,
    over a retained graph. jacobian(f), and the api's --jacobian and
    --order 2, are these rows stacked."""
    rows = [[] for _ in xs]
    for i in range(y.size):
        if y.requires_grad:
            head = np.zeros(y.size, dtype=y.dtype)
            head[i] = 1
            found = run_backward([y], [Tensor(head.reshape(y.shape))], inputs=list(xs),
                                 create_graph=create_graph, retain_graph=True)
        else:
            found = [None] * len(xs)
        for row, x, g in zip(rows, xs, found):
            row.append(g if g is not None else Tensor(np.zeros(x.shape, x.dtype)))
    return rows


def hessian(f, argnum: int = 0):
    return jacobian(grad(f, argnum), argnum)


def jvp(f, x, v):
    """(f(x), J v) by forward mode: f runs once, each op carrying the
    tangent of its output beside the value (forward.py). Nothing is taped
    for it, so memory does not grow with the number of ops. Under an outer
    recording both results can be differentiated again."""
    x, v = lift(x), lift(v)
    if v.shape != x.shape:
        raise ShapeError(f"jvp: tangent of shape {shape_str(v.shape)} does not match "
                         f"the input of shape {shape_str(x.shape)}")
    if MODE.forward:    # a tensor carries one tangent: the inner jvp goes by reverse mode
        return _jvp_by_reverse(f, x, v)
    x_in = _dual_input(x)
    x_in.tangent = v if v.dtype == x_in.dtype else Tensor(v.data.astype(x_in.dtype), v.node)
    with tangents_on(), grad_mode(True):
        y = lift(f(x_in))
    tangent = tangent_of(y)
    if tangent is None:
        tangent = _zeros(y.shape)
    elif tangent is v and not v.requires_grad:    # f is the identity: J v is v, as a new value
        tangent = Tensor(v.data)
    value = y if has_history(y) else Tensor(y.data)
    return _cut_if_local(value, x_in), _cut_if_local(tangent, x_in)


def _dual_input(x: Tensor) -> Tensor:
    """The variable of a jvp: x itself to an outer recording that tracks it
    (through an identity node), else its numbers, marked as carrying a tangent."""
    if x.requires_grad and MODE.grad_enabled:
        from .ops import identity
        return identity(x)
    return Tensor(_floating(x), SEED)


def _floating(x: Tensor):
    """x's numbers as a variable has them: integers and booleans in the run's dtype."""
    return x.data if np.issubdtype(x.dtype, np.floating) else x.data.astype(MODE.dtype)


def _jvp_by_reverse(f, x, v):
    """J v for a jvp inside another: u·J is linear in u, so J v is the
    gradient of (u·J)·v with respect to u. Two recorded backward passes
    instead of one forward; the outer jvp's tangents flow through both."""
    x_in, y = _call_with(f, (x,), 0)
    if not y.requires_grad:
        return _cut_if_local(y, x_in), _zeros(y.shape)
    u = _zeros(y.shape)
    u.requires_grad = True
    (ujac,) = run_backward([y], [u], inputs=[x_in], create_graph=True, retain_graph=True)
    if ujac is None or not ujac.requires_grad:
        return _cut_if_local(y, x_in), _zeros(y.shape)
    (tangent,) = run_backward([ujac], [v], inputs=[u], create_graph=True, retain_graph=True)
    if tangent is None:
        return _cut_if_local(y, x_in), _zeros(y.shape)
    return _cut_if_local(y, x_in), _cut_if_local(tangent, x_in, u)
