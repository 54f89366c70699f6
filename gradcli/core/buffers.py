"""Where a first-order backward puts its arrays: the engine's one speed seam.

On large arrays a pass over fresh memory (page faults, cache misses) costs
as much as the arithmetic, so the backward writes into arrays it made
itself and nothing else holds, decided by identity (`is_new`), never by
reference counts. Three places do it: the chain rule through an op given by
partial derivatives (`chained`), the sum of two gradients (`accumulate`),
and the head of `sum(y)` (`ones_like_output`). Measured by bench/ (elem_1e6,
elem_1e7): without them the elementwise chain's backward makes three more
arrays of 1e7 numbers, 1.2x instead of about 1.08x the hand-written numpy.
Small arrays skip all of it: below `LARGE` numbers a new array is cheaper
than the choosing.
"""

from __future__ import annotations

import math

import numpy as np

from .ops import MUL, NEG, repeated_value, run
from .tensor import Tensor

LARGE = 4096


def is_new(g, grad, ans, saved) -> bool:
    """Did a VJP or partial just make `g`, so that nothing else holds it?
    They hand back the incoming gradient, ans or a saved input as they are,
    and a view has a base; any other plain array is new. (Tensors, in a
    recorded pass, never are.)"""
    if type(g) is not np.ndarray or g.base is not None or g is grad or g is ans:
        return False
    for s in saved:
        if g is s:
            return False
    return True


def chained(g, d, consumable, ans, saved):
    """g * d on large arrays, the chain rule through one input of an op
    given by partials (`d` its derivative there). The product goes into d
    when the partial made it, else into g when g is `consumable`, else into
    a new array (ops.run: a repeated g costs no pass)."""
    if type(d) is float:    # 1.0 or -1.0
        if d == 1.0:
            return g
        if consumable and type(g) is np.ndarray:
            return np.negative(g, out=g)
        return run(NEG, (g,))
    if type(d) is np.ndarray and d.shape == g.shape and d.dtype == g.dtype and \
            is_new(d, g, ans, saved) and d.flags.writeable:
        if repeated_value(g) == 1:
            return d
        return np.multiply(g, d, out=d)
    if consumable and type(g) is np.ndarray and np.result_type(g, d) == g.dtype:
        return np.multiply(g, d, out=g)
    return run(MUL, (g, d))


def accumulate(grads, owned, key, g, made):
    """grads[key] += g, as HIPS autograd's `add_outgrads`: the first gradient
    is kept as it is; a sum goes into an array this pass made and nothing
    else holds (`owned`, by key; `made`: g is one) when there is one, else
    into a new array, which this pass then owns."""
    old = grads.get(key)
    if old is None:
        grads[key] = g
        if made:
            owned.add(key)
    elif key in owned and old.shape == g.shape and old.dtype == g.dtype:
        np.add(old, g, out=old)
    elif made and old.shape == g.shape and old.dtype == g.dtype:
        grads[key] = np.add(g, old, out=g)
        owned.add(key)
    elif type(old) is Tensor or type(g) is Tensor:     # recorded: so is the sum
        grads[key] = old + g
    else:
        grads[key] = np.asarray(old + g)    # numpy gives a 0-d sum as a scalar
        owned.add(key)


def ones_like_output(shape, dtype):
    """The head of sum(y). On a large output, a broadcast 1 that takes no
    memory and that ops.run treats as the one number it repeats, saving a
    pass over the array per op; on a small one, where that detour costs more
    than the arithmetic (the tiny-op loop ran 40% slower), plain ones."""
    if math.prod(shape) < LARGE:
        return np.ones(shape, dtype)
    return np.broadcast_to(np.ones((), dtype), shape)
