"""The built-in functions of the language (SPEC section 3).

Each entry adapts the language's loose calling conventions (shapes as
`f(2, 5)` or `f((2, 5))`, whole-number floats as ints, PyTorch and MXNet
keyword aliases) to one core function. `x.f(a)` calls `f(x, a)`.
"""

from __future__ import annotations

import numpy as np

from ..core import autodiff, creation, ops
from ..core.tensor import MODE, Tensor, apply, constant, shape_str
from ..errors import EvalError, GradError
from .values import (Builtin, Context, a_type, to_axis, to_int, to_number, to_shape,
                     to_tensor)

BUILTINS: dict[str, object] = {}


def builtin(*names, nondiff=None):
    """Register `fn` under each name. `nondiff`: {argument position: why
    the result carries no gradient to it}."""
    def register(fn):
        for name in names:
            BUILTINS[name] = Builtin(name, fn, nondiff=nondiff)
        return fn
    return register


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

def creating(*names, nondiff=None):
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
            if tracked:     # PyTorch spelling: gradients accumulate
                out.attach_grad("add")
            return out
        for name in names:
            BUILTINS[name] = Builtin(name, create, nondiff=nondiff)
        return fn
    return register


def _shape_of(args, kwargs, name):
    """`f(2, 3)`, `f((2, 3))`, `f(shape=(2, 3))` or `f(size=(2, 3))`."""
    shape = args or (_pick(kwargs, "shape", "size", default=()),)
    _no_more(name, kwargs)
    return to_shape(shape)


@creating("array", "tensor", "asarray")
def _array(value):
    # Tracked values stay tracked: array([x, 2 * x]) stacks them, and
    # array(x) is a copy that gradients pass through (SPEC 2.5).
    value = to_tensor(value, "array")
    if value.requires_grad:
        return ops.identity(value)
    return Tensor(value.data.astype(MODE.dtype))


@creating("zeros")
def _zeros(*shape, **kwargs):
    return creation.zeros(_shape_of(shape, kwargs, "zeros"))


@creating("ones")
def _ones(*shape, **kwargs):
    return creation.ones(_shape_of(shape, kwargs, "ones"))


@creating("full")
def _full(shape, value):
    shape = to_shape((shape,))
    value = to_tensor(value, "full value")
    if value.size != 1:
        raise EvalError(f"full: the fill value must be a single number, got shape "
                        f"{shape_str(value.shape)}")
    if value.requires_grad:     # every element is the value: its gradient is their sum
        return ops.identity(ops.broadcast_to(ops.reshape(value, ()), shape))
    return creation.full(shape, float(value.data.reshape(())))


@creating("zeros_like", nondiff={0: SHAPE_ONLY})
def _zeros_like(x):
    return creation.zeros(to_tensor(x).shape)


@creating("ones_like", nondiff={0: SHAPE_ONLY})
def _ones_like(x):
    return creation.ones(to_tensor(x).shape)


@creating("eye")
def _eye(n, m=None):
    return creation.eye(to_int(n, "eye size"), None if m is None else to_int(m, "eye size"))


@creating("arange", nondiff=dict.fromkeys(
    (0, 1, 2), "its bounds are numbers, as in numpy and PyTorch (use linspace "
               "for differentiable ends)"))
def _arange(start, stop=None, step=1.0):
    return creation.arange(to_number(start, "arange start"),
                           None if stop is None else to_number(stop, "arange stop"),
                           to_number(step, "arange step"))


@creating("linspace")
def _linspace(start, stop, num=50):
    return ops.linspace(to_tensor(start, "linspace start"), to_tensor(stop, "linspace stop"),
                        to_int(num, "linspace num"))


@creating("randn")
def _randn(*shape, **kwargs):
    return creation.normal(0.0, 1.0, _shape_of(shape, kwargs, "randn"))


@creating("rand")
def _rand(*shape, **kwargs):
    return creation.uniform(0.0, 1.0, _shape_of(shape, kwargs, "rand"))


@creating("normal", nondiff={0: RANDOM, 1: RANDOM})
def _normal(*args, **kwargs):
    mean = _pick(kwargs, "mean", "loc", default=args[0] if len(args) > 0 else 0.0)
    std = _pick(kwargs, "std", "scale", default=args[1] if len(args) > 1 else 1.0)
    shape = _pick(kwargs, "shape", "size", default=args[2] if len(args) > 2 else ())
    _no_more("normal", kwargs)
    return creation.normal(to_number(mean, "mean"), to_number(std, "std"), to_shape((shape,)))


@creating("uniform", nondiff={0: RANDOM, 1: RANDOM})
def _uniform(*args, **kwargs):
    low = _pick(kwargs, "low", default=args[0] if len(args) > 0 else 0.0)
    high = _pick(kwargs, "high", default=args[1] if len(args) > 1 else 1.0)
    shape = _pick(kwargs, "shape", "size", default=args[2] if len(args) > 2 else ())
    _no_more("uniform", kwargs)
    return creation.uniform(to_number(low, "low"), to_number(high, "high"), to_shape((shape,)))


@builtin("seed")
def _seed(n):
    creation.seed(to_int(n, "seed"))


@builtin("permutation", "randperm")
def _permutation(n):
    return creation.permutation(to_int(n, "permutation size"))


@builtin("range")
def _range(*args):
    if not 1 <= len(args) <= 3:
        raise EvalError(f"range() takes 1 to 3 arguments, got {len(args)}")
    bounds = [to_int(a, "range bound") for a in args]
    if len(bounds) == 3 and bounds[2] == 0:
        raise EvalError("range() step must not be zero")
    return range(*bounds)


# --------------------------------------------------------------------- shape

@builtin("reshape", "view")
def _reshape(x, *shape, **kwargs):
    shape = shape or (_pick(kwargs, "shape", "newshape"),)
    if shape == (None,):
        raise EvalError("reshape needs a shape, e.g. reshape(x, 2, 5) or x.reshape((2, 5))")
    return ops.reshape(to_tensor(x), to_shape(shape))


@builtin("transpose", "permute")
def _transpose(x, *axes, **kwargs):
    axes = axes or (_pick(kwargs, "axes", "dims"),)
    _no_more("transpose", kwargs)
    if axes == (None,):
        return ops.transpose(to_tensor(x))
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return ops.transpose(to_tensor(x), to_axis(tuple(axes), "axes"))


@builtin("flatten", "ravel")
def _flatten(x):
    return ops.flatten(to_tensor(x))


@builtin("squeeze")
def _squeeze(x, axis=None, **kwargs):
    axis = _pick(kwargs, "dim", default=axis)
    return ops.squeeze(to_tensor(x), to_axis(axis))


@builtin("expand_dims", "unsqueeze")
def _expand_dims(x, axis=None, **kwargs):
    axis = _pick(kwargs, "dim", default=axis)
    if axis is None:
        raise EvalError("expand_dims needs an axis")
    return ops.expand_dims(to_tensor(x), to_int(axis, "axis"))


@builtin("broadcast_to", "expand")
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


@builtin("concat", "concatenate", "cat")
def _concat(*items, **kwargs):
    return ops.concat(*_sequence(items, kwargs, "concat"))


@builtin("stack")
def _stack(*items, **kwargs):
    return ops.stack(*_sequence(items, kwargs, "stack"))


@builtin("shape", nondiff={0: SHAPE_ONLY})
def _shape(x):
    return tuple(to_tensor(x).shape)


@builtin("size", "numel", nondiff={0: SHAPE_ONLY})
def _size(x):
    return int(to_tensor(x).size)


@builtin("len", nondiff={0: SHAPE_ONLY})
def _len(x):
    if isinstance(x, (tuple, list, str)):
        return len(x)
    return len(to_tensor(x))


# --------------------------------------------------------------- elementwise

def _unary(fn):
    return lambda x: fn(to_tensor(x))


def _elementwise(op):
    def plain(x):
        return ops.call(op, to_tensor(x))

    def on_temporary(x):
        return apply(op, [x], consumable=True) if type(x) is Tensor else plain(x)
    nondiff = None if op.vjps else {0: "piecewise constant: its derivative is 0 where it exists"}
    return Builtin(op.label, plain, on_temporary, nondiff)


for _op in [ops.EXP, ops.LOG, ops.LOG1P, ops.SQRT, ops.ABS, ops.SIGN, ops.SIN, ops.COS,
            ops.TAN, ops.TANH, ops.SIGMOID, ops.RELU, ops.SOFTPLUS]:
    BUILTINS[_op.label] = _elementwise(_op)


@builtin("maximum")
def _maximum(x, y):
    return ops.maximum(to_tensor(x), to_tensor(y))


@builtin("minimum")
def _minimum(x, y):
    return ops.minimum(to_tensor(x), to_tensor(y))


@builtin("pow", "power")
def _pow(x, y):
    return ops.power(to_tensor(x), to_tensor(y))


@builtin("clip", "clamp")
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


@builtin("where", nondiff={0: "the condition selects; it is not differentiated"})
def _where(cond, x, y):
    return ops.where(to_tensor(cond), to_tensor(x), to_tensor(y))


# ---------------------------------------------------------------- reductions

def _reducer(fn, name):
    def reduce(x, axis=None, keepdims=False, **kwargs):
        axis = _pick(kwargs, "dim", default=axis)
        keepdims = _pick(kwargs, "keepdim", default=keepdims)
        _no_more(name, kwargs)
        return fn(to_tensor(x), to_axis(axis), bool(keepdims))
    return reduce


for _name, _fn in [("sum", ops.sum_), ("mean", ops.mean), ("prod", ops.prod),
                   ("max", ops.max_), ("min", ops.min_), ("logsumexp", ops.logsumexp)]:
    BUILTINS[_name] = Builtin(_name, _reducer(_fn, _name))


@builtin("norm")
def _norm(x, ord=2, axis=None, keepdims=False, **kwargs):
    ord = _pick(kwargs, "p", default=ord)
    axis = _pick(kwargs, "dim", default=axis)
    keepdims = _pick(kwargs, "keepdim", default=keepdims)
    _no_more("norm", kwargs)
    ord = ord if type(ord) is int else to_number(ord, "ord")
    return ops.norm(to_tensor(x), ord, to_axis(axis), bool(keepdims))


def _along(fn, name):
    def run(x, axis=-1, **kwargs):
        axis = _pick(kwargs, "dim", default=axis)
        _no_more(name, kwargs)
        return fn(to_tensor(x), to_int(axis, "axis"))
    return run


BUILTINS["softmax"] = Builtin("softmax", _along(ops.softmax, "softmax"))
BUILTINS["log_softmax"] = Builtin("log_softmax", _along(ops.log_softmax, "log_softmax"))


def _arg_extreme(fn, name):
    def run(x, axis=None, keepdims=False, **kwargs):
        axis = _pick(kwargs, "dim", default=axis)
        keepdims = _pick(kwargs, "keepdim", default=keepdims)
        _no_more(name, kwargs)
        return fn(to_tensor(x), None if axis is None else to_int(axis, "axis"), bool(keepdims))
    return run


AN_INDEX = "an index: piecewise constant"
BUILTINS["argmax"] = Builtin("argmax", _arg_extreme(ops.argmax, "argmax"), nondiff={0: AN_INDEX})
BUILTINS["argmin"] = Builtin("argmin", _arg_extreme(ops.argmin, "argmin"), nondiff={0: AN_INDEX})

A_TRUTH = "a truth value: piecewise constant"


@builtin("any", nondiff={0: A_TRUTH})
def _any(x):
    return constant(float(np.any(to_tensor(x).data)))


@builtin("all", nondiff={0: A_TRUTH})
def _all(x):
    return constant(float(np.all(to_tensor(x).data)))


# ------------------------------------------------------------ linear algebra

for _name, _fn in [("dot", ops.dot), ("matmul", ops.matmul), ("mm", ops.matmul),
                   ("outer", ops.outer), ("solve", ops.solve)]:
    BUILTINS[_name] = Builtin(_name, (lambda f: lambda a, b: f(to_tensor(a), to_tensor(b)))(_fn))

for _name, _fn in [("inv", ops.inv), ("det", ops.det), ("trace", ops.trace)]:
    BUILTINS[_name] = Builtin(_name, _unary(_fn))


# ------------------------------------------------------------------ autodiff

def _tensor_arg(x, name) -> Tensor:
    if not isinstance(x, Tensor):
        raise EvalError(f"{name} needs an array, not {a_type(x)}")
    return x


@builtin("attach_grad", nondiff={0: NEW_LEAF})
def _attach_grad(x, grad_req="write"):
    _tensor_arg(x, "attach_grad").attach_grad(str(grad_req))    # MXNet returns None


@builtin("requires_grad_", nondiff={0: NEW_LEAF})
def _requires_grad_(x, requires_grad=True):
    x = _tensor_arg(x, "requires_grad_")   # PyTorch returns the tensor itself
    return x.attach_grad("add") if requires_grad else x     # and accumulates


@builtin("backward", nondiff=dict.fromkeys(
    (0, 1), "runs the backward pass into .grad and returns nothing"))
def _backward(y, head=None, retain_graph=False, create_graph=False, **kwargs):
    head = _pick(kwargs, "out_grad", "gradient", "head_grads", default=head)
    _no_more("backward", kwargs)
    autodiff.backward(_tensor_arg(y, "backward"), None if head is None else to_tensor(head, "head"),
                      retain_graph=bool(retain_graph), create_graph=bool(create_graph))


@builtin("detach", nondiff={0: "its meaning: the same numbers, cut from the graph"})
def _detach(x):
    return to_tensor(x).detach()


@builtin("copy", "clone")
def _copy(x):
    x = to_tensor(x)
    return ops.identity(x) if x.requires_grad else Tensor(x.data)


@builtin("zero_grad", nondiff={0: "resets .grad and returns nothing"})
def _zero_grad(x):
    x = _tensor_arg(x, "zero_grad")
    if x.grad is None:
        raise GradError("zero_grad: this value has no gradient; call attach_grad on it first")
    x.zero_grad()


@builtin("zero_", nondiff={0: "sets the value to zeros, in place"})
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
    return Builtin(f"{name}({getattr(f, 'name', None) or 'f'})",
                   make(f, to_int(argnum, "argnum")))


@builtin("grad")
def _grad(f, argnum=0):
    return _derived("grad", f, argnum, autodiff.grad)


@builtin("jacobian")
def _jacobian(f, argnum=0):
    return _derived("jacobian", f, argnum, autodiff.jacobian)


@builtin("hessian")
def _hessian(f, argnum=0):
    return _derived("hessian", f, argnum, autodiff.hessian)


@builtin("jvp")
def _jvp(f, x, v):
    return autodiff.jvp(_function_arg(f, "jvp"), to_tensor(x, "jvp point"),
                        to_tensor(v, "jvp tangent"))


@builtin("is_training")
def _is_training():
    return MODE.training


@builtin("grad_fn", nondiff={0: "the name of the node that made the value"})
def _grad_fn(y):
    return _tensor_arg(y, "grad_fn").grad_fn


# ------------------------------------------------------------------- scalars

@builtin("asscalar", "item", nondiff={0: PLAIN_NUMBER})
def _item(x):
    x = to_tensor(x)
    if x.size != 1:
        raise EvalError(f"item: needs exactly one element, got shape {tuple(x.shape)}")
    return x.data.reshape(()).item()


@builtin("float", nondiff={0: PLAIN_NUMBER})
def _float(x):
    return float(to_number(x, "float"))


@builtin("int", nondiff={0: PLAIN_NUMBER})
def _int(x):
    number = to_number(x, "int")
    if not -2.0 ** 63 <= number < 2.0 ** 63:    # also NaN
        raise EvalError(f"int(): {number:g} is too large (or not a number) to be a whole "
                        "number here; whole numbers go up to 2**63")
    return int(number)


# dtype names, for `dtype=torch.float32` and the like
BUILTINS["float32"], BUILTINS["float64"] = "float32", "float64"

BUILTINS["record"] = Context("record")
BUILTINS["train_mode"] = Context("record")
BUILTINS["no_grad"] = Context("no_grad")
BUILTINS["pause"] = Context("no_grad")
BUILTINS["predict_mode"] = Context("no_grad")
BUILTINS["enable_grad"] = Context("enable_grad")

# Prefixes of pasted MXNet / PyTorch / numpy code, all leading to BUILTINS.
NAMESPACES = frozenset({"np", "nd", "mx", "torch", "autograd", "random", "linalg",
                        "F", "npx", "functional", "nn"})
