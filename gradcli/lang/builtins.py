"""The built-in functions of the language (SPEC section 3).

Most come from the core's registry (`ops.PUBLIC`: the ops and composites
that name themselves built-ins), adapted in one loop by parameter name
(whole-number floats as ints, PyTorch's keyword spellings). The others
need argument handling of their own (shapes as `f(2, 5)` or `f((2, 5))`,
joining, tracked clip bounds, creation, autodiff) and are written here.
`x.f(a)` calls `f(x, a)`.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from ..core import autodiff, composites, creation, ops
from ..core.engine import run_backward
from ..core.tensor import MODE, Tensor, apply, constant, shape_str
from ..errors import EvalError, GradError
from . import strings
from . import pylist
from .values import (Builtin, Context, a_type, to_axis, to_int, to_number, to_shape,
                     to_tensor)

BUILTINS: dict[str, object] = {}


def _register(name, fn, on_temporary=None, nondiff=None, public=None):
    if name in BUILTINS:     # the core's registry and this file must not both define it
        raise AssertionError(f"built-in {name!r} is defined twice")
    BUILTINS[name] = Builtin(name, fn, on_temporary, nondiff, public)


def builtin(*names, nondiff=None, op=None, **doc):
    """Register `fn` under each name. `nondiff`: {argument position: why
    the result carries no gradient to it}; `op`, the op whose rules are its
    derivative; `doc`, what `help` says of it (help=, example=, rules=,
    convention=, usage=, keywords=: see core.ops.Public)."""
    def register(fn):
        public = ops.Public(names, fn, nondiff, op, **doc)
        for name in names:
            _register(name, fn, nondiff=nondiff, public=public)
        return fn
    return register


# Built-ins that report to the host (print, help): the interpreter makes
# their functions with its hooks for each run; their records are here.
HOOKED: dict[str, ops.Public] = {}


def hooked(name, **doc):
    """Record what `help` says of the hooked built-in `name`."""
    HOOKED[name] = ops.Public((name,), None, **doc)
    return HOOKED[name]


# Reasons shared by several built-ins.
SHAPE_ONLY = "depends only on the shape"
PLAIN_NUMBER = "gives a plain number, cut from the graph (PyTorch's .item())"
NEW_LEAF = "makes a fresh leaf, cut from the history that produced the value"
RANDOM = "a random draw: its parameters are numbers (PyTorch gives them no gradient either)"


def _pick(kwargs, *aliases, default=None):
    """The value of the first alias given (axis/dim, keepdims/keepdim...)."""
    if not kwargs:
        return default
    found = [a for a in aliases if a in kwargs]
    if len(found) > 1:
        raise EvalError(f"give only one of {', '.join(found)}")
    return kwargs.pop(found[0]) if found else default


def _no_more(name, kwargs):
    if kwargs:
        raise EvalError(f"{name}() got an unexpected keyword argument '{next(iter(kwargs))}'")


# ------------------------------------------------------------------ creation

def creating(*names, nondiff=None, op=None, **doc):
    """Register a creation built-in, accepting PyTorch's keywords:
    `requires_grad=True` marks the result (attach_grad), and `dtype=` may
    name the run's dtype (the whole run has one: --dtype)."""
    def register(fn):
        def create(*args, **kwargs):
            tracked = kwargs.pop("requires_grad", False)
            dtype = kwargs.pop("dtype", None)
            if dtype is not None and str(dtype) != np.dtype(MODE.dtype).name:
                raise EvalError(f"dtype={dtype}: this run computes in {np.dtype(MODE.dtype).name} "
                                "throughout (choose with --dtype)")
            out = fn(*args, **kwargs)
            if tracked:     # PyTorch spelling: .grad None, then accumulating
                out.requires_grad_()
            return out
        create.__signature__ = _with_creation_keywords(inspect.signature(fn))
        public = ops.Public(names, create, nondiff, op, **doc)
        for name in names:
            _register(name, create, nondiff=nondiff, public=public)
        return fn
    return register


def _with_creation_keywords(signature):
    """`signature` taking `requires_grad=` and `dtype=` too: what Builtin
    reads to word a call that does not fit (it would name `_array()`)."""
    P = inspect.Parameter
    params = [p for p in signature.parameters.values() if p.kind is not P.VAR_KEYWORD]
    rest = [p for p in signature.parameters.values() if p.kind is P.VAR_KEYWORD]
    extra = [P(n, P.KEYWORD_ONLY, default=d) for n, d in (("requires_grad", False),
                                                           ("dtype", None))
             if n not in signature.parameters]
    return signature.replace(parameters=params + extra + rest)


_SHAPE_KEYWORDS = {"shape": "*shape", "size": "*shape"}


def _shape_of(args, kwargs, name):
    """`f(2, 3)`, `f((2, 3))`, `f(shape=(2, 3))` or `f(size=(2, 3))`."""
    shape = args or (_pick(kwargs, "shape", "size", default=()),)
    _no_more(name, kwargs)
    return to_shape(shape)


@creating("array", "tensor", "asarray", op=ops.IDENTITY,
          help="An array from nested lists of numbers (or of arrays, stacked; tracked ones "
               "stay tracked), in the run's dtype. requires_grad=True marks it (PyTorch).",
          example="x = array([[1, 2], [3, 4]])\nprint(x, x.shape)\n# [[1, 2], [3, 4]] (2, 2)")
def _array(value):
    # Tracked values stay tracked: array([x, 2 * x]) stacks them, and
    # array(x) is a copy that gradients pass through (SPEC 2.5).
    value = to_tensor(value, "array")
    if value.requires_grad:
        return ops.identity(value)
    return Tensor(value.data.astype(MODE.dtype))


@creating("zeros", keywords=_SHAPE_KEYWORDS,
          help="An array of zeros of the given shape: zeros(2, 3), zeros((2, 3)) or "
               "zeros(shape=(2, 3)).",
          example="print(zeros(2, 3).shape, zeros(2), zeros(size=(1, 2)))\n"
                  "# (2, 3) [0, 0] [[0, 0]]")
def _zeros(*shape, **kwargs):
    return creation.zeros(_shape_of(shape, kwargs, "zeros"))


@creating("ones", keywords=_SHAPE_KEYWORDS,
          help="An array of ones of the given shape: ones(2, 3), ones((2, 3)) or "
               "ones(shape=(2, 3)).",
          example="print(ones(2, 2), ones((3,)).shape)\n# [[1, 1], [1, 1]] (3,)")
def _ones(*shape, **kwargs):
    return creation.ones(_shape_of(shape, kwargs, "ones"))


@creating("full", rules={"value": "the sum of {g} (every element is the value)"},
          help="An array of the given shape with every element equal to value.",
          example="full((2, 3), 7)\n# [[7, 7, 7], [7, 7, 7]]")
def _full(shape, value):
    shape = to_shape((shape,))
    value = to_tensor(value, "full value")
    if value.size != 1:
        raise EvalError(f"full: the fill value must be a single number, got shape "
                        f"{shape_str(value.shape)}")
    if value.requires_grad:     # every element is the value: its gradient is their sum
        return ops.identity(ops.broadcast_to(ops.reshape(value, ()), shape))
    return creation.full(shape, float(value.data.reshape(())))


@creating("zeros_like", nondiff={0: SHAPE_ONLY},
          help="An array of zeros of x's shape.", example="zeros_like([[1, 2]])\n# [[0, 0]]")
def _zeros_like(x):
    return creation.zeros(to_tensor(x).shape)


@creating("ones_like", nondiff={0: SHAPE_ONLY},
          help="An array of ones of x's shape.", example="ones_like([[1, 2]])\n# [[1, 1]]")
def _ones_like(x):
    return creation.ones(to_tensor(x).shape)


@creating("eye", help="The n x n identity matrix (n x m with m given).",
          example="print(eye(2), eye(2, 3).shape)\n# [[1, 0], [0, 1]] (2, 3)")
def _eye(n, m=None):
    return creation.eye(to_int(n, "eye size"), None if m is None else to_int(m, "eye size"))


@creating("arange", nondiff=dict.fromkeys(
    (0, 1, 2), "its bounds are numbers, as in numpy and PyTorch (use linspace "
               "for differentiable ends)"),
          help="The numbers from start (0 by default) up to stop, not included, step apart, "
               "as numpy's arange: arange(4), arange(1, 2, 0.25).",
          example="print(arange(4), arange(1, 2, 0.25))\n# [0, 1, 2, 3] [1, 1.25, 1.5, 1.75]")
def _arange(start, stop=None, step=1.0):
    return creation.arange(to_number(start, "arange start"),
                           None if stop is None else to_number(stop, "arange stop"),
                           to_number(step, "arange step"))


@creating("linspace", op=ops.LINSPACE,
          help="num evenly spaced numbers from start to stop, both included.",
          example="linspace(0, 1, 5)\n# [0, 0.25, 0.5, 0.75, 1]")
def _linspace(start, stop, num=50):
    return ops.linspace(to_tensor(start, "linspace start"), to_tensor(stop, "linspace stop"),
                        to_int(num, "linspace num"))


@creating("randn", keywords=_SHAPE_KEYWORDS,
          help="An array of the given shape drawn from the standard normal distribution, "
               "from the run's seeded generator (seed(n), --seed).",
          example="print(randn(2, 3).shape)\n# (2, 3)")
def _randn(*shape, **kwargs):
    return creation.normal(0.0, 1.0, _shape_of(shape, kwargs, "randn"))


@creating("rand", keywords=_SHAPE_KEYWORDS,
          help="An array of the given shape drawn uniformly from [0, 1), from the run's seeded "
               "generator.",
          example="x = rand(100)\nprint(x.shape, min(x) >= 0, max(x) < 1)\n# (100,) True True")
def _rand(*shape, **kwargs):
    return creation.uniform(0.0, 1.0, _shape_of(shape, kwargs, "rand"))


@creating("normal", nondiff={0: RANDOM, 1: RANDOM},
          usage="normal(mean=0, std=1, shape=(), requires_grad=False, dtype=None)",
          keywords={"loc": "mean", "scale": "std", "size": "shape"},
          help="An array of the given shape drawn from the normal distribution, from the "
               "run's seeded generator (MXNet's and numpy's normal(loc, scale, size) too).",
          example="x = normal(10, 0.1, (1000,))\nprint(x.shape, abs(mean(x) - 10) < 0.05)\n"
                  "# (1000,) True")
def _normal(*args, **kwargs):
    mean = _pick(kwargs, "mean", "loc", default=args[0] if len(args) > 0 else 0.0)
    std = _pick(kwargs, "std", "scale", default=args[1] if len(args) > 1 else 1.0)
    shape = _pick(kwargs, "shape", "size", default=args[2] if len(args) > 2 else ())
    _no_more("normal", kwargs)
    return creation.normal(to_number(mean, "mean"), to_number(std, "std"), to_shape((shape,)))


@creating("uniform", nondiff={0: RANDOM, 1: RANDOM},
          usage="uniform(low=0, high=1, shape=(), requires_grad=False, dtype=None)",
          keywords={"size": "shape"},
          help="An array of the given shape drawn uniformly from [low, high), from the run's "
               "seeded generator.",
          example="x = uniform(-1, 1, (100,))\nprint(min(x) >= -1, max(x) < 1)\n# True True")
def _uniform(*args, **kwargs):
    low = _pick(kwargs, "low", default=args[0] if len(args) > 0 else 0.0)
    high = _pick(kwargs, "high", default=args[1] if len(args) > 1 else 1.0)
    shape = _pick(kwargs, "shape", "size", default=args[2] if len(args) > 2 else ())
    _no_more("uniform", kwargs)
    return creation.uniform(to_number(low, "low"), to_number(high, "high"), to_shape((shape,)))


@builtin("seed", help="Restart the run's random generator from the seed n, so that the draws "
                      "that follow repeat (every run starts from seed 0, or from --seed).",
         example="seed(3)\na = randn(2)\nseed(3)\nprint(randn(2) == a)\n# [True, True]")
def _seed(n):
    creation.seed(to_int(n, "seed"))


@builtin("permutation", "randperm",
         help="The whole numbers 0 to n - 1 in a random order, from the run's seeded "
              "generator: an index array (x[permutation(len(x))] shuffles the rows of x).",
         example="x = [10, 20, 30, 40]\nidx = permutation(4)\nprint(idx, x[idx])\n"
                 "# [2, 0, 1, 3] [30, 10, 20, 40]")
def _permutation(n):
    return creation.permutation(to_int(n, "permutation size"))


@builtin("range", usage="range(stop) or range(start, stop, step=1)",
         help="Python's range of whole numbers from start (0) up to stop, not included: for "
              "loops, list(range(n)), len(range(...)).",
         example="list(range(1, 7, 2))\n# [1, 3, 5]")
def _range(*args):
    if not 1 <= len(args) <= 3:
        raise EvalError(f"range() takes 1 to 3 arguments, got {len(args)}")
    bounds = [to_int(a, "range bound") for a in args]
    if len(bounds) == 3 and bounds[2] == 0:
        raise EvalError("range() step must not be zero")
    return range(*bounds)


# --------------------------------------------------------------------- shape

@builtin("reshape", "view", op=ops.RESHAPE, usage="reshape(x, *shape)",
         keywords={"shape": "*shape", "newshape": "*shape"},
         help="x's elements in a new shape with as many elements: reshape(x, 2, 3) or "
              "reshape(x, (2, 3)); one dimension may be -1 (worked out).",
         example="x = arange(6)\nprint(reshape(x, 2, 3), x.view(-1, 2).shape)\n"
                 "# [[0, 1, 2], [3, 4, 5]] (3, 2)")
def _reshape(x, *shape, **kwargs):
    shape = shape or (_pick(kwargs, "shape", "newshape"),)
    if shape == (None,):
        raise EvalError("reshape needs a shape, e.g. reshape(x, 2, 5) or x.reshape((2, 5))")
    return ops.reshape(to_tensor(x), to_shape(shape))


@builtin("transpose", op=ops.TRANSPOSE, usage="transpose(x, *axes)",
         keywords={"axes": "*axes", "dims": "*axes"},
         help="x with its axes reversed (x.T), or permuted by axes (numpy); two separate "
              "axes transpose(x, d0, d1) are swapped (PyTorch).",
         example="x = [[1, 2, 3], [4, 5, 6]]\n"
                 "print(transpose(x), ones(2, 3, 4).transpose(0, 2).shape)\n"
                 "# [[1, 4], [2, 5], [3, 6]] (4, 3, 2)")
def _transpose(x, *axes, **kwargs):
    """numpy's transpose(x, axes) permutes; two separate axes are PyTorch's
    transpose(x, d0, d1), which swaps them (also on a matrix: x.transpose(0, 1)
    is x.T, as in PyTorch)."""
    if len(axes) == 2 and not kwargs and all(_is_single(a) for a in axes):
        return composites.swapaxes(to_tensor(x), to_int(axes[0], "dim0"), to_int(axes[1], "dim1"))
    return _permute(x, *axes, **kwargs)


@builtin("permute", op=ops.TRANSPOSE, usage="permute(x, *axes)",
         keywords={"axes": "*axes", "dims": "*axes"},
         help="x with its axes in the order given (negative axes count from the end).",
         example="print(permute(ones(2, 3, 4), 2, 0, 1).shape)\n# (4, 2, 3)")
def _permute(x, *axes, **kwargs):
    axes = axes or (_pick(kwargs, "axes", "dims"),)
    _no_more("transpose", kwargs)
    if axes == (None,):
        return ops.transpose(to_tensor(x))
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return ops.transpose(to_tensor(x), to_axis(tuple(axes), "axes"))


@builtin("broadcast_to", "expand", op=ops.BROADCAST_TO, usage="broadcast_to(x, *shape)",
         keywords={"shape": "*shape"},
         help="x repeated along new or length-1 axes to the given shape, as broadcasting "
              "does.",
         example="broadcast_to([1, 2], 3, 2)\n# [[1, 2], [1, 2], [1, 2]]")
def _broadcast_to(x, *shape, **kwargs):
    shape = shape or (_pick(kwargs, "shape"),)
    if shape == (None,):
        raise EvalError("broadcast_to needs a shape, e.g. broadcast_to(x, 3, 4)")
    return ops.broadcast_to(to_tensor(x), to_shape(shape))


def _sequence(items, kwargs, name):
    """The arrays to join and the axis: numpy's `concatenate((x, y), 1)`,
    an array's rows, or gradcli's `x.concat(y)` (arrays as arguments). A
    trailing single number after one sequence is the axis, never an array:
    a 0-d value could not be joined to the others anyway."""
    axis = _pick(kwargs, "axis", "dim")
    _no_more(name, kwargs)
    first = items[0] if items else None
    sequence = isinstance(first, (list, tuple)) or (
        isinstance(first, Tensor) and first.ndim and len(items) == 2 and _is_single(items[1]))
    if sequence and len(items) == 2:
        if axis is not None:
            raise EvalError(f"{name}() got the axis twice (positional and keyword)")
        items, axis = items[:1], items[1]
    elif sequence and len(items) > 2:
        raise EvalError(f"{name}() takes a sequence of arrays and an axis, "
                        f"got {len(items)} arguments")
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = items[0]
    elif len(items) == 1 and isinstance(items[0], Tensor):
        x = items[0]
        if x.ndim == 0:
            raise EvalError(f"{name} needs a list of arrays, not a scalar")
        items = [ops.getitem(x, (i,)) for i in range(x.shape[0])]
    arrays = [to_tensor(v, f"{name} item") for v in items]
    return arrays, 0 if axis is None else to_int(axis, "axis")


def _is_single(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
        isinstance(value, Tensor) and value.ndim == 0)


@builtin("concat", "concatenate", "cat", op=ops.CONCAT, usage="concat(arrays, axis=0)",
         keywords={"dim": "axis"},
         help="The arrays joined along an existing axis: concat([a, b]), concat((a, b), 1), "
              "or a.concat(b).",
         example="a = [[1, 2]]\nprint(concat([a, a]), cat((a, a), dim=1))\n"
                 "# [[1, 2], [1, 2]] [[1, 2, 1, 2]]")
def _concat(*items, **kwargs):
    return ops.concat(*_sequence(items, kwargs, "concat"))


@builtin("stack", op=ops.STACK, usage="stack(arrays, axis=0)", keywords={"dim": "axis"},
         help="The arrays (of one shape) joined along a new axis.",
         example="a = [1, 2]\nb = [3, 4]\nprint(stack([a, b]), stack([a, b], axis=1))\n"
                 "# [[1, 2], [3, 4]] [[1, 3], [2, 4]]")
def _stack(*items, **kwargs):
    return ops.stack(*_sequence(items, kwargs, "stack"))


@builtin("shape", nondiff={0: SHAPE_ONLY}, help="The shape of x, a tuple (also x.shape).",
         example="shape(ones(2, 3))\n# (2, 3)")
def _shape(x):
    return tuple(to_tensor(x).shape)


@builtin("size", "numel", nondiff={0: SHAPE_ONLY},
         help="The number of elements of x (also x.size).", example="size(ones(2, 3))\n# 6")
def _size(x):
    return int(to_tensor(x).size)


@builtin("len", nondiff={0: SHAPE_ONLY},
         help="The length of x's first axis; of a list, tuple, string or range, its number "
              "of items.",
         example="print(len(ones(4, 2)), len('abc'), len(range(5)))\n# 4 3 5")
def _len(x):
    if isinstance(x, (tuple, list, str, range)):
        return len(x)
    return len(to_tensor(x))


# ------------------------------------------------ from the core's registry

# The core's functions take tensors, ints and tuples under a small vocabulary
# of parameter names; the language's looser arguments (whole-number floats,
# 1-element arrays, PyTorch's spellings) are adapted by those names.
ALIASES = {"dim": "axis", "keepdim": "keepdims", "p": "ord", "correction": "ddof",
           "diagonal": "k", "dims": "axis"}
TENSORS = frozenset({"x", "y", "z", "a", "b", "cond"})


def _ord(value, what):
    if isinstance(value, str) and value.lstrip("+-") == "inf":
        return -np.inf if value.startswith("-") else np.inf
    return value if type(value) is int else to_number(value, what)


def _counts(value, what):
    """One count for all (a number), or one per element (an array)."""
    if isinstance(value, (list, tuple)) or isinstance(value, Tensor) and value.ndim:
        return to_tensor(value, what)
    return to_int(value, what)


COERCE = {
    "axis": to_axis, "axis1": to_int, "axis2": to_int, "start_dim": to_int,
    "end_dim": to_int, "k": to_int, "offset": to_int, "keepdims": lambda v, what: bool(v),
    "ord": _ord, "ddof": to_number, "indices": to_tensor, "repeats": _counts,
    "reps": to_shape,    # tile(x, 2, 3) or tile(x, (2, 3)): the varargs tuple
}


def _converter(name):
    """How an argument given for the parameter `name` is converted (as the
    loop over bound arguments in `_adapted` does)."""
    if name in TENSORS:
        return to_tensor
    coerce = COERCE.get(name)
    if coerce is None:
        return lambda value: value
    return lambda value: value if value is None else coerce(value, name)


def _adapted(public):
    """A built-in calling `public.fn`, its arguments adapted by name."""
    fn, signature = public.fn, public.signature()
    params = signature.parameters
    if all(p.kind is p.POSITIONAL_ONLY and p.name in TENSORS for p in params.values()):
        count = len(params)     # tensors only: the common case, kept quick

        def tensors(*args):
            if len(args) != count:     # Builtin words it from the signature
                raise TypeError("the arguments do not fit")
            return fn(*[to_tensor(a) for a in args])
        tensors.__signature__ = signature
        return tensors

    # Positional arguments alone (`sum(x)`, `norm(b)`): each is converted by
    # its parameter's name without Signature.bind, which cost half the time
    # of the control-flow benchmark's calls.
    P = inspect.Parameter
    plain = [p for p in params.values() if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    starred = any(p.kind is P.VAR_POSITIONAL for p in params.values())
    converters = [_converter(p.name) for p in plain]

    first = converters[0] if converters else None

    def adapted(*args, **kwargs):
        if not kwargs and not starred and len(args) <= len(converters):
            if len(args) == 1:      # `norm(b)`, `sum(x)`: no comprehension frame
                return fn(first(args[0]))
            return fn(*[convert(a) for convert, a in zip(converters, args)])
        for alias, name in ALIASES.items():
            if alias in kwargs and name in params:
                if name in kwargs:
                    raise EvalError(f"give only one of {name}, {alias}")
                kwargs[name] = kwargs.pop(alias)
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name in TENSORS:
                bound.arguments[name] = to_tensor(value)
            elif name in COERCE and value is not None:
                bound.arguments[name] = COERCE[name](value, name)
        return fn(*bound.args, **bound.kwargs)
    adapted.__signature__ = signature     # what Builtin reads when a call does not fit
    return adapted


def _on_temporary(op, plain):
    def on_temporary(x):
        return apply(op, [x], consumable=True) if type(x) is Tensor else plain(x)
    return on_temporary


for _public in ops.PUBLIC:
    _fn = _adapted(_public)
    _op = _public.op
    # A call of a one-input ufunc on a temporary may reuse its buffer
    # (`apply` decides whether it can).
    _unary_ufunc = (_op is not None and _op.prepare is None
                    and isinstance(_op.forward, np.ufunc) and _op.forward.nin == 1)
    _temporary = _on_temporary(_op, _fn) if _unary_ufunc else None
    for _name in _public.names:
        _register(_name, _fn, _temporary, _public.nondiff, _public)


# --------------------------------------------------------------- elementwise

@builtin("clip", "clamp", op=ops.CLIP, usage="clip(x, low=None, high=None)",
         keywords={"min": "low", "a_min": "low", "max": "high", "a_max": "high"},
         rules={"x": "1 where {low} <= {x} <= {high}, else 0",
                "low": "1 where {x} < {low}, else 0 (a tracked bound)",
                "high": "1 where {x} > {high}, else 0 (a tracked bound)"},
         help="x with each element limited to low..high (either may be left out); the bounds "
              "may be numbers or tracked arrays.",
         example="print(clip([-2, 0.5, 3], 0, 1), clamp([-2, 3], min=0))\n# [0, 0.5, 1] [0, 3]")
def _clip(x, low=None, high=None, **kwargs):
    low = _pick(kwargs, "min", "a_min", default=low)
    high = _pick(kwargs, "max", "a_max", default=high)
    _no_more("clip", kwargs)
    x = to_tensor(x)
    bounds = [None if b is None else to_tensor(b, f"clip {what}")
              for b, what in ((low, "low"), (high, "high"))]
    if any(b is not None and b.requires_grad for b in bounds):
        # Tracked bounds (PyTorch's clamp with tensor bounds): a bound gets
        # the gradient where it is the result; x keeps it on the boundary.
        low, high = bounds
        if low is not None:
            x = ops.where(ops.less(x, low), low, x)
        if high is not None:
            x = ops.where(ops.greater(x, high), high, x)
        return x
    return ops.clip(x, *[None if b is None else to_number(b, "clip bound") for b in bounds])


# ---------------------------------------------------------------- reductions

A_TRUTH = "a truth value: piecewise constant"


@builtin("any", nondiff={0: A_TRUTH},
         help="1 if any element of x is nonzero (True), else 0.",
         example="x = [0, 1]\nprint(any(x > 0), any(x > 1))\n# 1 0")
def _any(x):
    return constant(float(np.any(to_tensor(x).data)))


@builtin("all", nondiff={0: A_TRUTH},
         help="1 if every element of x is nonzero (True), else 0.",
         example="x = [0, 1]\nprint(all(x >= 0), all(x > 0))\n# 1 0")
def _all(x):
    return constant(float(np.all(to_tensor(x).data)))


# ------------------------------------------------------------------ autodiff

def _tensor_arg(x, name) -> Tensor:
    if not isinstance(x, Tensor):
        raise EvalError(f"{name} needs an array, not {a_type(x)}")
    return x


@builtin("attach_grad", nondiff={0: NEW_LEAF},
         help="Track x (MXNet): x.grad becomes zeros, and each backward overwrites it "
              "(grad_req='add' accumulates instead). On a computed value, a fresh leaf.",
         example="x = array([1, 2, 3])\nattach_grad(x)\nwith record:\n    y = sum(x * x)\n"
                 "y.backward()\nprint(x.grad)\n# [2, 4, 6]")
def _attach_grad(x, grad_req="write"):
    _tensor_arg(x, "attach_grad").attach_grad(str(grad_req))    # MXNet returns None


@builtin("requires_grad_", nondiff={0: NEW_LEAF},
         help="Track x (PyTorch): x.grad is None until the first backward reaches x, then "
              "gradients add up across backward calls. Returns x.",
         example="x = array([1, 2, 3]).requires_grad_()\nprint(x.grad)\n"
                 "sum(x * x).backward()\nsum(x).backward()\nprint(x.grad)\n# None\n# [3, 5, 7]")
def _requires_grad_(x, requires_grad=True):
    x = _tensor_arg(x, "requires_grad_")   # PyTorch returns the tensor itself
    return x.requires_grad_() if requires_grad else x     # and accumulates


@builtin("retain_grad", nondiff={0: "marks the value; returns nothing"},
         help="Keep the gradient of a computed value y in y.grad (PyTorch keeps only the "
              "leaves' by default).",
         example="x = array([1, 2]).requires_grad_()\ny = x * x\ny.retain_grad()\n"
                 "sum(3 * y).backward()\nprint(y.grad, x.grad)\n# [3, 3] [6, 12]")
def _retain_grad(x):
    _tensor_arg(x, "retain_grad").retain_grad()


def backward_into_grads(y, head=None, retain_graph=False, create_graph=False, **kwargs):
    """`y.backward(head)` with MXNet's and PyTorch's keywords; returns the
    leaves whose .grad it wrote (the interpreter tells its host)."""
    return observed_backward(None, y, head, retain_graph, create_graph, **kwargs)


def observed_backward(observe, y, head=None, retain_graph=False, create_graph=False, **kwargs):
    """`backward_into_grads`, with `observe` (None, or the callable that
    `gradcli explain` gives engine.run_backward) told each step."""
    head = _pick(kwargs, "out_grad", "gradient", "head_grads", default=head)
    _no_more("backward", kwargs)
    y = _tensor_arg(y, "backward")
    head = None if head is None else to_tensor(head, "head")
    if observe is None:
        return autodiff.backward(y, head, retain_graph=bool(retain_graph),
                                 create_graph=bool(create_graph))
    # autodiff.backward, with the observer passed on
    return run_backward([y], [head], retain_graph=bool(retain_graph or create_graph),
                        create_graph=bool(create_graph), observe=observe)


@builtin("backward", nondiff=dict.fromkeys(
    (0, 1), "runs the backward pass into .grad and returns nothing"),
    usage="backward(y, head=None, retain_graph=False, create_graph=False)",
    keywords={"gradient": "head", "out_grad": "head", "head_grads": "head"},
    help="Differentiate y by every tracked leaf it depends on, into their .grad: of sum(y) "
         "for a non-scalar y (MXNet), or head · y with a head of y's shape (a "
         "vector-Jacobian product). It frees the graph unless retain_graph=True.",
    example="x = array([1, 2]).requires_grad_()\ny = x * x\ny.backward(array([1, 0.5]))\n"
            "print(x.grad)\n# [2, 2]")
@functools.wraps(backward_into_grads)
def _backward(*args, **kwargs):
    backward_into_grads(*args, **kwargs)


@builtin("detach", nondiff={0: "its meaning: the same numbers, cut from the graph"},
         help="The same numbers as x, cut from the graph: a constant to backward.",
         example="x = array([1, 2]).requires_grad_()\nu = detach(x * x)\n"
                 "sum(u * x).backward()\nprint(x.grad)\n# [1, 4]")
def _detach(x):
    return to_tensor(x).detach()


@builtin("copy", "clone", op=ops.IDENTITY,
         help="A copy of x (a new value: writing into one does not change the other); "
              "gradients pass through it.",
         example="x = array([1, 2]).requires_grad_()\ny = copy(x)\nsum(3 * y).backward()\n"
                 "print(x.grad)\n# [3, 3]")
def _copy(x):
    x = to_tensor(x)
    return ops.identity(x) if x.requires_grad else Tensor(x.data)


@builtin("zero_grad", nondiff={0: "resets .grad and returns nothing"},
         help="Set x.grad to zeros (before the next accumulating backward).",
         example="x = array([1, 2]).requires_grad_()\nsum(x).backward()\nsum(x).backward()\n"
                 "print(x.grad)\nzero_grad(x)\nprint(x.grad)\n# [2, 2]\n# [0, 0]")
def _zero_grad(x):
    x = _tensor_arg(x, "zero_grad")
    if x.grad is None and not x.keeps_grad:
        raise GradError("zero_grad: this value has no gradient; call attach_grad on it first")
    x.zero_grad()


@builtin("zero_", nondiff={0: "sets the value to zeros, in place"},
         help="Set every element of x to 0, in place (PyTorch's x.grad.zero_()); returns x.",
         example="x = array([1, 2]).requires_grad_()\nsum(x).backward()\nx.grad.zero_()\n"
                 "print(x.grad)\n# [0, 0]")
def _zero_(x):
    _tensor_arg(x, "zero_").zero_()
    return x


def _function_arg(f, name):
    if not callable(f) or isinstance(f, (Tensor, Context)):
        raise EvalError(f"{name} needs a function, not {a_type(f)}")
    return f


def _derived(name, f, argnum, make):
    """The function `name(f)` returns, as a built-in of that name: a wrong
    call to it is reported as `grad(f)(): ...` like any built-in's."""
    f = _function_arg(f, name)
    return Builtin(f"{name}({getattr(f, 'name', None) or 'f'})", make(f, argnum))


@builtin("grad", rules="grad(f)(x) is differentiable again: grad(grad(f)) and hessian nest",
         help="The gradient function of f, whose value is a single number: grad(f)(x) is "
              "df/dx. grad(f, 1) differentiates by the second argument; grad(f, (0, 1)) "
              "gives a tuple of gradients.",
         example="f = lambda x: sum(x ** 3)\n"
                 "print(grad(f)([1, 2]), grad(grad(lambda t: t ** 3))(2))\n"
                 "# [3, 12] 12")
def _grad(f, argnum=0):
    """grad(f, (0, 1)): a tuple of gradients, one per argument named (JAX)."""
    if isinstance(argnum, tuple):
        if not argnum:
            raise EvalError("grad: argnum (0, 1)-style needs at least one position")
        argnum = tuple(to_int(k, "argnum") for k in argnum)
    else:
        argnum = to_int(argnum, "argnum")
    return _derived("grad", f, argnum, autodiff.grad)


@builtin("jacobian", rules="jacobian(f)(x) is differentiable again (hessian is "
                           "jacobian(grad(f)))",
         help="The Jacobian function of f: jacobian(f)(x) has shape f(x).shape + x.shape.",
         example="jacobian(lambda x: x * x)([1, 2])\n# [[2, 0], [0, 4]]")
def _jacobian(f, argnum=0):
    return _derived("jacobian", f, to_int(argnum, "argnum"), autodiff.jacobian)


@builtin("hessian", rules="hessian(f)(x) is differentiable again",
         help="The Hessian function of f (a single number): hessian(f)(x) is "
              "jacobian(grad(f))(x), of shape x.shape + x.shape.",
         example="hessian(lambda x: sum(x ** 3))([1, 2])\n# [[6, 0], [0, 12]]")
def _hessian(f, argnum=0):
    return _derived("hessian", f, to_int(argnum, "argnum"), autodiff.hessian)


@builtin("jvp", rules="the tangent J·v is differentiable again (jvp(grad(f), x, v) is the "
                      "Hessian times v)",
         help="(f(x), J·v) by forward mode: the derivative of f at x in the direction v, "
              "carried forward op by op beside the values, with no tape.",
         example="value, tangent = jvp(lambda x: x ** 2, [1, 2], [1, 0])\nprint(value, tangent)\n"
                 "# [1, 4] [2, 0]")
def _jvp(f, x, v):
    return autodiff.jvp(_function_arg(f, "jvp"), to_tensor(x, "jvp point"),
                        to_tensor(v, "jvp tangent"))


@builtin("is_training", help="True inside `with record:` (MXNet's autograd.is_training()), "
                             "else False.",
         example="print(is_training())\nwith record:\n    print(is_training())\n# False\n# True")
def _is_training():
    return MODE.training


@builtin("grad_fn", nondiff={0: "the name of the node that made the value"},
         help="The name of the recorded operation that made y (PyTorch's y.grad_fn), None "
              "for a leaf or an untracked value.",
         example="x = ones(2).requires_grad_()\n"
                 "print(grad_fn(x + 2), grad_fn(sum(x)), grad_fn(x))\n"
                 "# AddBackward SumBackward None")
def _grad_fn(y):
    return _tensor_arg(y, "grad_fn").grad_fn


# ------------------------------------------------------------------- scalars

@builtin("asscalar", "item", nondiff={0: PLAIN_NUMBER},
         help="The one element of x as a plain number (x must hold exactly one).",
         example="print(item(sum([1, 2])), array([[2.5]]).item())\n# 3 2.5")
def _item(x):
    x = to_tensor(x)
    if x.size != 1:
        raise EvalError(f"item: needs exactly one element, got shape {tuple(x.shape)}")
    return x.data.reshape(()).item()


@builtin("float", nondiff={0: PLAIN_NUMBER},
         help="The single number x as a plain float (as Python's float).",
         example="print(float([2.5]), float(3))\n# 2.5 3")
def _float(x):
    return float(to_number(x, "float"))


@builtin("int", nondiff={0: PLAIN_NUMBER},
         help="The single number x as a whole number, rounded toward 0 (as Python's int).",
         example="print(int(2.7), int(-2.7))\n# 2 -2")
def _int(x):
    number = to_number(x, "int")
    if not -2.0 ** 63 <= number < 2.0 ** 63:    # also NaN
        raise EvalError(f"int(): {number:g} is too large (or not a number) to be a whole "
                        "number here; whole numbers go up to 2**63")
    return int(number)


# --------------------------------------------------- lists (lang/pylist.py)

_ITEMS = "the items themselves: their gradients flow through unchanged"
builtin("list", rules=_ITEMS,
        help="A list of the items of a list, tuple, range or generator, or of the rows of "
             "an array.",
        example="print(list(range(3)), len(list(ones(4, 2))))\n# [0, 1, 2] 4")(pylist.make_list)
builtin("enumerate", rules=_ITEMS,
        help="A list of (index, item) tuples, counting from start (0).",
        example="list(enumerate(['a', 'b'], 1))\n# [(1, 'a'), (2, 'b')]")(pylist.enumerate_)
builtin("zip", rules=_ITEMS,
        help="A list of tuples of the items at each position, as long as the shortest.",
        example="list(zip([1, 2], ['a', 'b']))\n# [(1, 'a'), (2, 'b')]")(pylist.zip_)
builtin("shuffle", nondiff={0: "reorders a list in place and returns nothing"},
        help="Reorder the list in place, from the run's seeded generator (also "
             "random.shuffle); returns None.",
        example="xs = list(range(4))\nshuffle(xs)\nprint(xs)\n# [2, 0, 1, 3]")(pylist.shuffle)


# ------------------------------------------------- numpy views of an array

@builtin("numpy", "asnumpy", nondiff={
    0: "its meaning: the same numbers as a numpy array, cut from the graph"},
    help="The same numbers as x, cut from the graph (x.numpy(), x.asnumpy(), as x.data "
         "and x.detach().numpy()): there is no separate numpy type.",
    example="x = array([1, 2]).requires_grad_()\ny = (x * 2).numpy()\nprint(y, y.requires_grad)\n"
            "# [2, 4] False")
def _numpy(x):
    return to_tensor(x).detach()


# dtype names, for `dtype=torch.float32` and the like
BUILTINS["float32"], BUILTINS["float64"] = "float32", "float64"

# The recording scopes, `with record:`: kind -> what help says of them.
CONTEXTS: dict[str, ops.Public] = {}


def _context(kind, *names, **doc):
    CONTEXTS[kind] = ops.Public(names, None, **doc)
    for name in names:
        BUILTINS[name] = Context(kind)


_context("record", "record", "train_mode", usage="with record:",
         help="Record the operations inside the block for backward (MXNet's "
              "autograd.record(); is_training() is True inside). A program that uses record "
              "records only inside such blocks.",
         example="x = array([1, 2])\nattach_grad(x)\nwith record:\n    y = x * x\n"
                 "y.backward()\nprint(x.grad)\n# [2, 4]")
_context("no_grad", "no_grad", "pause", "predict_mode", usage="with no_grad:",
         help="Record nothing inside the block (PyTorch's torch.no_grad(), MXNet's "
              "autograd.pause()): the place for an SGD step on tracked parameters.",
         example="w = array([1, 2]).requires_grad_()\nsum(w * w).backward()\n"
                 "with no_grad:\n    w -= 0.25 * w.grad\nprint(w, grad_fn(w))\n# [0.5, 1] None")
_context("enable_grad", "enable_grad", usage="with enable_grad:",
         help="Record again inside a no_grad block (PyTorch's torch.enable_grad()).",
         example="x = array([1, 2]).requires_grad_()\nwith no_grad:\n"
                 "    with enable_grad:\n        y = x * 2\nprint(grad_fn(y))\n# MulBackward")

# Prefixes of pasted MXNet / PyTorch / numpy code, all leading to BUILTINS.
NAMESPACES = frozenset({"np", "nd", "mx", "torch", "autograd", "random", "linalg",
                        "F", "npx", "functional", "nn"})


# ------------------------------------------------------ text; Python's min/max

hooked("plot", usage="plot(X, Y=None, xlabel=None, ylabel=None, legend=None, ...)",
       help="Draw Y against X as lines (D2L's d2l.plot arguments; a 2-d Y gives one line per "
            "row): in the terminal during eval, or into files with --plots DIR; eval --json "
            "lists the numbers under \"plots\". The values are copied: nothing is recorded.",
       example="x = arange(4)\nplot(x, x * x, xlabel='x')\nprint(len(x))\n# 4")
hooked("scatter", usage="scatter(x, y, s=None, ...)",
       help="Draw the points (x[i], y[i]) (pyplot's scatter, s their size): as plot draws "
            "its lines.",
       example="scatter([1, 2, 3], [3, 1, 2])\nprint('drawn')\n# drawn")
hooked("print", usage="print(*values, sep=' ', end='\\n')",
       help="Show the values: numbers and strings as text joined by sep, arrays as tables "
            "(eval --json lists them under \"printed\").",
       example="print('loss', 0.25, sep=': ')\n# loss: 0.25")


@builtin("str", nondiff={0: "text, not a number"},
         help="The text of a value, as print writes it: a number without a needless point, "
              "an array as nested brackets.",
         example="str([1, 2.5]) + '!'\n# [1, 2.5]!")
def _str(value=""):
    return strings.text(value)


@builtin("repr", nondiff={0: "text, not a number"},
         help="The text of a value with a string quoted (Python's repr).",
         example="print(repr('a'), repr(2))\n# 'a' 2")
def _repr(value):
    return strings.representation(value)


def _python_extreme(name, pick):
    """`max(a, b)` of single numbers is Python's (D2L's `min(i + batch_size,
    n)`): the argument itself that is largest (the first, among ties), so a
    tracked one keeps its graph, as Python's builtin on PyTorch tensors. Any
    other call is the reduction (`max(x, 1)`: numpy's axis 1)."""
    reduction = BUILTINS[name]

    @functools.wraps(reduction.fn)
    def extreme(*args, **kwargs):
        if len(args) >= 2 and not kwargs and all(_is_single(a) for a in args):
            return pick(args, key=lambda a: to_number(a, name))
        return reduction.fn(*args, **kwargs)
    BUILTINS[name] = Builtin(name, extreme, reduction.on_temporary, reduction.nondiff,
                             reduction.public)


_python_extreme("max", max)
_python_extreme("min", min)
