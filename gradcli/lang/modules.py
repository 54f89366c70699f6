"""The modules a program may import (SPEC 1), and what each one holds.

`import torch`, `import mxnet.autograd as ag`, `from mxnet import nd`:
each module is a `Namespace` that leads to gradcli's built-ins, with its
submodules (`torch.nn.functional`) and the few members of its own that a
tutorial calls (`npx.set_np()`, `autograd.grad(y, [x])`, `math.pi`). Code
without imports keeps the flat prefixes of builtins.NAMESPACES (`nd.array`
works in a program that never imports mxnet); a prefix that names one of
these modules' short names (`autograd`, `npx`) finds its members too.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from ..core import ops
from ..core.engine import run_backward
from ..core.tensor import Tensor
from ..errors import EvalError, GradError
from .builtins import BUILTINS
from .environment import MISSING
from .values import Builtin, Namespace, a_type, to_tensor

# Module path -> its submodules, by the name they have in it.
SUBMODULES: dict[str, dict[str, str]] = {
    "mxnet": {"nd": "mxnet.ndarray", "ndarray": "mxnet.ndarray", "autograd": "mxnet.autograd",
              "np": "mxnet.numpy", "numpy": "mxnet.numpy", "npx": "mxnet.npx",
              "sym": "mxnet.symbol", "symbol": "mxnet.symbol", "random": "mxnet.random"},
    "mxnet.ndarray": {"random": "mxnet.random", "linalg": "mxnet.ndarray.linalg"},
    "mxnet.numpy": {"random": "mxnet.random", "linalg": "mxnet.numpy.linalg"},
    "mxnet.autograd": {}, "mxnet.npx": {}, "mxnet.symbol": {}, "mxnet.random": {},
    "mxnet.ndarray.linalg": {}, "mxnet.numpy.linalg": {},
    "torch": {"nn": "torch.nn", "autograd": "torch.autograd", "linalg": "torch.linalg",
              "random": "torch.random"},
    "torch.nn": {"functional": "torch.nn.functional"},
    "torch.nn.functional": {}, "torch.autograd": {}, "torch.linalg": {}, "torch.random": {},
    "numpy": {"random": "numpy.random", "linalg": "numpy.linalg"},
    "numpy.random": {}, "numpy.linalg": {},
    "random": {},
    "math": {},
    # D2L's helpers (PRELUDES), then the built-ins, as the frameworks do.
    "d2l": {"torch": "d2l.torch", "mxnet": "d2l.mxnet"},
    "d2l.torch": {}, "d2l.mxnet": {},
}

# Modules whose members are their own only (Python's math is not an array
# library: `math.sum` is not a thing). The others also lead to the built-ins.
CLOSED = frozenset({"math"})


def _set_up(*args, **kwargs):
    """`npx.set_np()` and similar set-up calls: gradcli is always in numpy
    mode, so they do nothing."""


def _listed(inputs) -> list:
    """The tensors of `autograd.grad(y, inputs)`: a list or tuple of them, or
    one tensor. A bracket literal of tracked arrays is stacked into one
    array by the interpreter (SPEC 1 lists of references are not built yet
    where this was written); its rows are the tensors listed, so they are
    taken back from the stack node."""
    if isinstance(inputs, (list, tuple)):
        items = list(inputs)
    elif isinstance(inputs, Tensor) and inputs.node is not None and \
            inputs.node.op is ops.STACK and inputs.node.params == {"axis": 0}:
        row = np.zeros(inputs.shape[1:], inputs.dtype)    # a computed row: its node is the key
        items = [p if isinstance(p, Tensor) or p is None else Tensor(row, p)
                 for p in inputs.node.parents]
        if any(p is None for p in items):
            raise GradError("autograd.grad: every value listed must be tracked")
    else:
        items = [inputs]
    for item in items:
        if not isinstance(item, Tensor):
            raise EvalError(f"autograd.grad: the values to differentiate with respect to "
                            f"must be arrays, not {a_type(item)}")
        if not item.requires_grad:
            raise GradError("autograd.grad: a value to differentiate with respect to is not "
                            "tracked (mark it with attach_grad() or requires_grad_()); a "
                            "bracket list made where nothing is recorded is a new array: "
                            "pass (x,) or x itself")
    return items


def framework_grad(heads, variables=None, head_grads=None, retain_graph=None,
                   create_graph=False, **kwargs):
    """MXNet's `autograd.grad(heads, variables)` and PyTorch's
    `torch.autograd.grad(outputs, inputs)`: the gradients of an already
    computed value, as a list, leaving every `.grad` alone. Given a
    function instead, it is gradcli's transform `grad(f)`."""
    if callable(heads) and not isinstance(heads, Tensor):
        return BUILTINS["grad"](heads, *([] if variables is None else [variables]), **kwargs)
    head_grads = kwargs.pop("grad_outputs", head_grads)
    kwargs.pop("allow_unused", None)
    kwargs.pop("train_mode", None)
    if kwargs:
        raise EvalError(f"autograd.grad() got an unexpected keyword argument "
                        f"'{next(iter(kwargs))}'")
    if variables is None:
        raise EvalError("autograd.grad() needs the values to differentiate with respect "
                        "to, e.g. autograd.grad(y, [x])")
    outputs = _listed(heads) if isinstance(heads, (list, tuple)) else [heads]
    targets = _listed(variables)
    if head_grads is None:
        heads_in = [None] * len(outputs)
    else:
        given = head_grads if isinstance(head_grads, (list, tuple)) else [head_grads]
        heads_in = [None if h is None else to_tensor(h, "head gradient") for h in given]
    for output in outputs:
        if not isinstance(output, Tensor):
            raise EvalError(f"autograd.grad needs an array to differentiate, not "
                            f"{a_type(output)}")
    keep = bool(create_graph) if retain_graph is None else bool(retain_graph)
    found = run_backward(outputs, heads_in, inputs=targets, retain_graph=keep,
                         create_graph=bool(create_graph))
    # A value the outputs do not depend on: zeros (MXNet; PyTorch's
    # allow_unused=True would give None).
    return [Tensor(np.zeros(t.shape, t.dtype)) if g is None else g
            for g, t in zip(found, targets)]


def _math_function(name, fn, builtin):
    """`math.NAME`: Python's function on a single number (a Python number
    comes back, as in Python); on a tracked single number, the built-in
    of the same meaning, so the gradient is not silently cut (SPEC 2.5)."""
    def call(*args):
        numbers = []
        for arg in args:
            if isinstance(arg, Tensor):
                if arg.size != 1:
                    raise EvalError(f"math.{name} works on single numbers, not "
                                    f"{a_type(arg)}; use {builtin or name}(x) for arrays")
                if arg.requires_grad and builtin is not None:
                    return BUILTINS[builtin](*args)
                numbers.append(arg.data.reshape(()).item())
            elif isinstance(arg, (bool, int, float)):
                numbers.append(arg)
            else:
                raise EvalError(f"math.{name} needs a number, not {a_type(arg)}")
        try:
            return fn(*numbers)
        except (ValueError, OverflowError) as exc:
            raise EvalError(f"math.{name}: {exc}") from None
    inputs = _MATH_INPUTS.get(name, "x")
    gradient = (f"on a tracked number, the built-in {builtin}(x) of the same meaning (its "
                "gradient)" if builtin else "no gradient (a plain number)")
    return Builtin(f"math.{name}", call, public=ops.Public(
        (f"math.{name}",), call, usage=f"math.{name}({inputs})",
        help=f"Python's math.{name} of single numbers, giving a plain number; {gradient}. "
             "An array is an error.", example=_MATH_EXAMPLE))


# math's functions, with the built-in that differentiates each (None: none).
_MATH_FUNCTIONS = {
    "sqrt": "sqrt", "exp": "exp", "log": None, "log2": "log2", "log10": "log10",
    "log1p": "log1p", "expm1": "expm1", "sin": "sin", "cos": "cos", "tan": "tan",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "fabs": "abs", "pow": "power", "floor": None, "ceil": None,
    "trunc": None, "isnan": None, "isinf": None, "isfinite": None, "erf": None,
    "hypot": None, "atan2": None, "factorial": None,
}

_MATH_EXAMPLE = ("import math\nprint(math.floor(2.5), math.sqrt(4), math.pi)\n"
                 "# 2 2 3.141592653589793")
_MATH_INPUTS = {"pow": "x, y", "atan2": "y, x", "hypot": "x, y", "factorial": "n"}


def _legacy_reduction(name):
    """MXNet's legacy `nd.sum(x)` (no axis) has shape (1,), not (): in a
    program that imports mxnet's nd, `nd.NAME` of the whole array gives
    one element of shape (1,), as MXNet prints it."""
    builtin = BUILTINS[name]

    def reduce(*args, **kwargs):
        out = builtin(*args, **kwargs)
        if isinstance(out, Tensor) and out.ndim == 0:
            return ops.reshape(out, (1,))
        return out
    base = builtin.public
    return Builtin(f"nd.{name}", reduce, public=ops.Public(
        (f"nd.{name}",), reduce, base.nondiff, base.op, rules=base.rules,
        usage=f"nd.{name}{inspect.signature(builtin.fn)}",
        convention=base.convention,
        help=f"MXNet's legacy nd.{name} (after `from mxnet import nd`): {name}, except that "
             "a result of shape () has shape (1,), as MXNet's NDArray prints it "
             f"(help({name}) for the rest).",
        example=f"from mxnet import nd\nprint(nd.{name}(nd.array([1, 2])), {name}([1, 2]))\n"
                f"# [{_LEGACY_SHOWS[name]}] {_LEGACY_SHOWS[name]}"))


_LEGACY_REDUCTIONS = ("sum", "mean", "max", "min", "prod", "norm")
# What each gives of [1, 2], for its help's example.
_LEGACY_SHOWS = {"sum": "3", "mean": "1.5", "max": "2", "min": "1", "prod": "2",
                 "norm": "2.23606797749979"}

_SET_UP = ops.Public(
    ("npx.set_np", "npx.reset_np"), _set_up,
    help="MXNet's set-up calls: accepted, and they do nothing (gradcli is always in numpy "
         "mode).",
    example="from mxnet import npx\nnpx.set_np()\nprint('ready')\n# ready")
_FRAMEWORK_GRAD = ops.Public(
    ("autograd.grad", "torch.autograd.grad"), framework_grad,
    keywords={"grad_outputs": "head_grads"},
    help="The gradients of an already computed heads by each of variables, as a list, "
         "leaving every .grad alone (MXNet's autograd.grad, PyTorch's torch.autograd.grad; "
         "create_graph=True records them for a further backward). Of a function, the "
         "transform grad(f).",
    example="import torch\nx = torch.tensor([1., 2.], requires_grad=True)\n"
            "g = torch.autograd.grad(sum(x * x), [x])\nprint(g, x.grad)\n# [[2, 4]] None")

EXTRAS: dict[str, dict[str, object]] = {
    "mxnet.ndarray": {name: _legacy_reduction(name) for name in _LEGACY_REDUCTIONS},
    "mxnet.npx": {"set_np": Builtin("npx.set_np", _set_up, public=_SET_UP),
                  "reset_np": Builtin("npx.reset_np", _set_up, public=_SET_UP)},
    "mxnet.autograd": {"grad": Builtin("autograd.grad", framework_grad, public=_FRAMEWORK_GRAD)},
    "torch.autograd": {"grad": Builtin("torch.autograd.grad", framework_grad,
                                       public=_FRAMEWORK_GRAD)},
    "torch": {"manual_seed": BUILTINS["seed"]},
    "math": {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan,
             **{name: _math_function(name, getattr(math, name),
                                     builtin if builtin in BUILTINS else None)
                for name, builtin in _MATH_FUNCTIONS.items()}},
}

# D2L's helpers for each edition: .ag programs shipped beside this module,
# run when the program imports them; their functions are the module's
# members (`d2l.sgd`). Its drawing helpers are lang/plots.py's.
PRELUDES = {"d2l.torch": "d2l_torch.ag", "d2l.mxnet": "d2l_mxnet.ag"}


def prelude_source(path: str) -> str:
    from importlib.resources import files
    return files(__package__).joinpath(PRELUDES[path]).read_text(encoding="utf-8")


# Flat prefixes (code without imports) that stand for one of these modules.
PREFIXES = {"autograd": "mxnet.autograd", "npx": "mxnet.npx", "torch": "torch"}


def top_level() -> list[str]:
    return sorted(p for p in SUBMODULES if "." not in p)


def _offers(path: str) -> str:
    """What module `path` has, in words, for an error."""
    names = sorted(set(SUBMODULES[path]) | set(EXTRAS.get(path, {})))
    if path not in CLOSED:
        names.append("the built-ins")
    return _words(names)


def _words(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names) or "nothing"
    return ", ".join(names[:-1]) + " and " + names[-1]


def module(path: str, span=None, written: str | None = None) -> Namespace:
    """The namespace of the module `path`, or the error for one gradcli
    does not offer."""
    if path not in SUBMODULES:
        parent, _, last = path.rpartition(".")
        while parent and parent not in SUBMODULES:
            parent, _, last = parent.rpartition(".")
        if not parent:
            raise EvalError(f"no module named '{path}': gradcli offers only "
                            f"{_words(top_level())}", span)
        raise EvalError(f"no module named '{path}': gradcli's {parent} has "
                        f"{_words(sorted(SUBMODULES[parent]))}", span)
    return Namespace(written or path, path)


def member(namespace: Namespace, name: str, span=None):
    """`namespace.name`, for a module or a flat prefix; MISSING if none."""
    members = namespace.members
    if members is not None:
        found = members(name) if callable(members) else members.get(name, MISSING)
        if found is not MISSING:
            return found
    path = namespace.path if namespace.path is not None else PREFIXES.get(namespace.name)
    if path is not None:
        sub = SUBMODULES.get(path, {}).get(name)
        if sub is not None and namespace.path is not None:
            return Namespace(f"{namespace.name}.{name}", sub)
        extra = EXTRAS.get(path, {}).get(name, MISSING)
        if extra is not MISSING:
            return extra
        if path in CLOSED:
            raise EvalError(f"'{namespace.name}.{name}' is not available: gradcli's "
                            f"{path} has {_offers(path)}", span)
    return MISSING


def imported(path: str, name: str, builtins: dict, span=None, written: str = ""):
    """What `from path import name [as written]` binds, or the error for a
    name the module does not have."""
    namespace = module(path)
    sub = SUBMODULES[path].get(name)
    if sub is not None:
        return Namespace(written or name, sub)
    extra = EXTRAS.get(path, {}).get(name, MISSING)
    if extra is not MISSING:
        return extra
    if path not in CLOSED and name in builtins:
        return builtins[name]
    raise EvalError(f"cannot import '{name}' from '{namespace.path}': gradcli's {path} "
                    f"has {_offers(path)}", span)

