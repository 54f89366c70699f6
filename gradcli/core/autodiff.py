"""What users call: backward, and the function transforms grad, jacobian,
hessian and jvp (forward mode, by the double-VJP trick).

Transforms take Python callables of tensors, so the language can hand them
its own functions. Nesting works because each transform builds its result
with recording on whenever the caller is recording, so an outer transform
can differentiate it again.
"""

from __future__ import annotations

import numpy as np

from ..errors import EvalError, ShapeError
from .engine import run_backward
from .ops import reshape, stack
from .tensor import MODE, Tensor, check_size, grad_mode, lift, shape_str


def backward(y: Tensor, head=None, retain_graph=False, create_graph=False) -> list:
    """Accumulate d(head · y)/dx into the `.grad` of every leaf x reached;
    return those leaves."""
    head = None if head is None else lift(head)
    return run_backward([y], [head], retain_graph=retain_graph or create_graph,
                        create_graph=create_graph)


def _as_input(x) -> Tensor:
    """The variable a transform differentiates with respect to.

    An input that an outer recording tracks stays connected to it (through
    an identity node), so the transform's result can be differentiated again.
    """
    x = lift(x)
    if x.requires_grad and MODE.grad_enabled:
        from .ops import identity
        return identity(x)
    data = x.data if np.issubdtype(x.dtype, np.floating) else x.data.astype(MODE.dtype)
    leaf = Tensor(data)
    leaf.requires_grad = True
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
    if result is None or result.node is None:
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
    return Tensor(result.data)


def _zeros(shape) -> Tensor:
    return Tensor(np.zeros(shape, dtype=MODE.dtype))


def grad(f, argnum: int | tuple = 0):
    """grad(f)(*args): the gradient of scalar-valued f w.r.t. args[argnum];
    for a tuple of argnums, a tuple of gradients (one backward pass)."""
    several = isinstance(argnum, tuple)
    argnums = argnum if several else (argnum,)

    def gradient(*args):
        keep = MODE.grad_enabled
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
        keep = MODE.grad_enabled
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
    """(f(x), J v): the Jacobian-vector product, by differentiating the
    (linear in u) vector–Jacobian product u·J with respect to u."""
    keep = MODE.grad_enabled
    v = lift(v)
    x_in, y = _call_with(f, (x,), 0)
    if v.shape != x_in.shape:
        raise ShapeError(f"jvp: tangent of shape {shape_str(v.shape)} does not match "
                         f"the input of shape {shape_str(x_in.shape)}")
    value = y if keep else Tensor(y.data)
    if not y.requires_grad:
        return _cut_if_local(value, x_in), _zeros(y.shape)
    u = _zeros(y.shape)
    u.requires_grad = True
    (ujac,) = run_backward([y], [u], inputs=[x_in], create_graph=True, retain_graph=True)
    if ujac is None or not ujac.requires_grad:
        return _cut_if_local(value, x_in), _zeros(y.shape)
    (tangent,) = run_backward([ujac], [v], inputs=[u], create_graph=keep, retain_graph=keep)
    if tangent is None:
        return _cut_if_local(value, x_in), _zeros(y.shape)
    if tangent is v:        # f is the identity plus constants: J v is v, as a new value
        from .ops import identity
        tangent = identity(v) if v.requires_grad and MODE.grad_enabled else Tensor(v.data)
    return _cut_if_local(value, x_in), _cut_if_local(tangent, x_in, u)
