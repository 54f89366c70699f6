"""The op table: every primitive's forward and its vector–Jacobian products.

An entry is one `defop(...)`: the name `grad_fn` shows, the op's spelling
in the language, the forward, one VJP per input, what backward saves, and
for an op the language offers as a built-in its names (`builtin=`) and how
its arguments are checked (`prepare=`). The op returned is its own public
function. A function that checks arguments before one op registers with
`@public`; functions made of several ops, with no gradient code of their
own, live in composites.py. lang/builtins.py builds built-ins from PUBLIC.

Vocabulary of a VJP, as in HIPS autograd: `g` is the incoming gradient,
`ans` the op's output, then the op's inputs, then its static parameters.
Inputs an op does not save arrive as None (or as a `Shape` when only the
shape is needed). A VJP returns the gradient for one input; the engine sums
it back to that input's shape, so VJPs may return broadcast shapes.

An op whose VJPs are all "g times something" (most elementwise ops) gives
that something instead, as `partials=`: per input, the derivative of the
output by it, from (ans, *inputs, **params). `sin` says `cos(x)`, `*` says
`y` and `x`. The engine multiplies by g, and on large arrays chooses where
the product goes (buffers.py). An op whose VJP divides (`g / y`) keeps the
VJP form: g * (1 / y) would round twice.

VJPs and partials are written with the ops of this module, not raw numpy,
so that the backward pass can itself be recorded (higher-order derivatives).
"""

from __future__ import annotations

import inspect
import math
from itertools import repeat

import numpy as np

from ..errors import EvalError, ShapeError
from .tensor import MODE, Tensor, apply, check_size, lift, shape_str


class Op:
    __slots__ = ("name", "label", "forward", "vjps", "partials", "saves", "saves_values",
                 "saves_ans", "variadic", "elementwise", "reads", "numeric", "prepare",
                 "inputs", "rules", "jvp", "convention")

    def __init__(self, name, label, forward, vjps, saves, ans, variadic, reads,
                 numeric, elementwise=False, prepare=None, partials=None, rules=None,
                 jvp=None, convention=None):
        self.name, self.label, self.forward = name, label, forward
        self.vjps, self.partials = vjps, partials
        self.inputs = _input_names(partials or vjps or (), variadic)
        self.rules = rules      # per input: the local derivative, for `explain`
        self.convention = convention    # what the gradient is where none exists (SPEC 2.3)
        self.jvp = jvp          # forward mode: (tangents, ans, inputs, params) -> tangent
        self.saves, self.saves_ans = saves, ans
        self.saves_values = not variadic and any(k is not None for k in saves)
        self.variadic = variadic
        self.reads = reads
        self.numeric = numeric
        self.elementwise = elementwise
        self.prepare = prepare

    def __call__(self, *args, **kwargs):
        """The op as its public function: `prepare` (when given) checks the
        arguments and splits them into inputs and static parameters."""
        if self.prepare is None:
            return run(self, args, kwargs or None)
        inputs, params = self.prepare(*args, **kwargs)
        return run(self, inputs, params)

    def __repr__(self):
        return f"<op {self.name}>"


TABLE: dict[str, Op] = {}


class Public:
    """A function of the core that the language offers as a built-in: its
    language names (the first is the main one), the function, and the
    argument positions it carries no gradient to, each with the reason.
    lang/builtins.py builds the built-in table from these, adapting the
    language's arguments by the function's parameter names.

    What `help(name)` says of it is registered here too, so that it cannot
    drift from the function: `help`, one or two sentences of what it
    computes; `example`, lines of .ag code and then, as `# ` comments, what
    they print (a test runs each one); `op`, the op whose rules give its
    derivative; `rules`, {parameter: rule} for a function whose derivative
    no single op states (a composite), in the op table's notation (see
    `rule_text`); `convention`, its value at non-differentiable points when
    its op does not say; `usage`, the call as text, for a function whose
    Python signature (`*args, **kwargs`) does not show it, and `keywords`,
    {other spelling: parameter} of the keywords such a function takes.
    lang/builtins.py makes these records for its own built-ins too."""

    __slots__ = ("names", "fn", "nondiff", "op", "help", "example", "rules", "convention",
                 "usage", "keywords")

    def __init__(self, names, fn, nondiff=None, op=None, *, help=None, example=None,
                 rules=None, convention=None, usage=None, keywords=None):
        self.names, self.fn, self.nondiff, self.op = names, fn, nondiff or {}, op
        self.help, self.example, self.rules = help, example, rules
        self.convention, self.usage, self.keywords = convention, usage, keywords

    def signature(self) -> inspect.Signature:
        fn = self.fn
        if isinstance(fn, Op):
            if fn.prepare is not None:
                return inspect.signature(fn.prepare)
            # No prepare: the inputs only, as many as it has gradients (or
            # as the ufunc takes), all positional.
            count = len(fn.vjps) if fn.vjps else fn.forward.nin
            return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY)
                                      for n in ("x", "y", "z")[:count]])
        return inspect.signature(fn)

    def __repr__(self):
        return f"<public {'/'.join(self.names)}>"


PUBLIC: list[Public] = []
PIECEWISE_CONSTANT = "piecewise constant: its derivative is 0 where it exists"


def _times_partial(partial):
    """The VJP `g * partial(...)` (what a recorded backward runs; a
    first-order one multiplies in the engine, see buffers.chained)."""
    def vjp(g, ans, *inputs, **params):
        d = partial(ans, *inputs, **params)
        if type(d) is float and abs(d) == 1.0:
            return g if d == 1.0 else neg(g)
        return mul(g, d)
    return vjp


def _input_names(fns, variadic) -> tuple:
    """The names a VJP or partial gives the op's inputs (after `g` and
    `ans`): what a rule's placeholders are called."""
    for fn in fns:
        if fn is not None:
            names = [p for p in inspect.signature(fn).parameters if p not in ("g", "ans")]
            return tuple(names[:1] if variadic else names[:len(fns)])
    return ()


def rule_text(op, i, operands: dict | None = None) -> str | None:
    """Op's local derivative for input i in plain notation, its
    placeholders filled with `operands` (input name -> source text; the
    names themselves by default). A rule that mentions `{g}` is the
    gradient sent to the input; any other is d(output)/d(input), which
    the incoming gradient multiplies (elementwise, or spread back over the
    axes a reduction took). None: no gradient flows to that input."""
    if op.rules is None or i >= len(op.rules) and not op.variadic:
        return None
    rule = op.rules[0 if op.variadic else i]
    if rule is None:
        return None
    texts = {name: name for name in op.inputs}
    texts.update(operands or {})
    texts.setdefault("g", "g")
    return rule(texts) if callable(rule) else rule.format(**texts)


# ------------------------------------------------------------ forward mode
# A JVP rule maps the inputs' tangents (None: no tangent) to the output's,
# as (tangents, ans, inputs, params) -> tangent. Most come from what the
# table already says: an op given by partials is their sum weighted by the
# tangents; a linear op's tangent is the op applied to the tangents. The
# others are written beside their VJPs (`jvps=`, one per input, each
# (t, ans, *inputs, **params) -> that input's share). Like VJPs they are
# written with this module's ops, so a recording can differentiate them.

def _jvp_from_shares(shares):
    """The tangent as the sum of each input's share (None: no share)."""
    def jvp(tangents, ans, inputs, params):
        total = None
        for t, share in zip(tangents, shares):
            if t is not None and share is not None:
                term = share(t, ans, *inputs, **params)
                total = term if total is None else add(total, term)
        return total
    return jvp


def _tangent_times(partial):
    """An input's share from its partial derivative: t times it (the JVP
    twin of `_times_partial`)."""
    def share(t, ans, *inputs, **params):
        d = partial(ans, *inputs, **params)
        return (t if d == 1.0 else neg(t)) if type(d) is float else mul(t, d)
    return share


def _zeros_for(x):
    return np.zeros(x.shape, x.dtype if x.dtype.kind == "f" else MODE.dtype)


def _jvp_linear(op):
    """A linear op (jointly in its differentiable inputs, the others fixed,
    as where's condition): the tangent is the op on the tangents."""
    def jvp(tangents, ans, inputs, params):
        args = []
        for i, (t, x) in enumerate(zip(tangents, inputs)):
            differentiable = op.variadic or op.vjps[i] is not None
            args.append(x if not differentiable else t if t is not None else _zeros_for(x))
        return run(op, args, params)
    return jvp


def _in_place_of(op, i):
    """A product's share for input i: the op with t in that input's place."""
    def share(t, ans, *inputs, **params):
        return run(op, [*inputs[:i], t, *inputs[i + 1:]], params)
    return share


def _through_gradient(vjp, axes):
    """The JVP of an op each of whose output numbers depends on its own
    block of the input (a reduction, a determinant): the VJP of a gradient
    of ones is d(out)/d(x) for every element at once, and the tangent is
    its product with t summed over each block. `axes(x, **params)` gives
    the axes that a block spans and whether the output keeps them."""
    def share(t, ans, x, **params):
        ones = np.ones(np.shape(raw(ans)), raw(ans).dtype)
        d = vjp(ones, ans, x, **params)
        axis, keepdims = axes(x, **params)
        return sum_(mul(t, d), axis=axis, keepdims=keepdims)
    return share


def _reduced(x, axis, keepdims, **_):
    return axis, keepdims


def public(*names, nondiff=None, op=None, **doc):
    """Offer the decorated function to the language under `names`; `op`,
    the one op it applies (for an op itself, the op), and `doc` (help=,
    example=...) as `Public` has them."""
    def register(fn):
        PUBLIC.append(Public(names, fn, nondiff, fn if isinstance(fn, Op) else op, **doc))
        return fn
    return register


def defop(name, label, forward, *vjps, partials=None, saves=(), ans=False, variadic=False,
          reads=None, numeric=True, elementwise=False, builtin=(), prepare=None, nondiff=None,
          rules=None, linear=False, jvps=None, convention=None, **doc):
    """Register a primitive and return it; the op is its own public
    function (`call` it with arrays or tensors).

    `name` is what `grad_fn` shows (PyTorch's node names); `label` is how
    the language spells the op, in messages. `vjps` has one entry per
    input (None: no gradient flows to it); no vjps at all makes the op
    non-differentiable. An op whose VJPs are all `g * d` gives `partials`
    instead: per input, `d` as a function of (ans, *inputs, **params), a
    new array, an input or ans as it is, or the float 1.0 or -1.0; then
    the engine does the multiplying, into d's buffer when d is new.
    `saves` says per input what the VJPs read: "value", "shape" or None.
    `reads`, per VJP, which inputs' values it reads (default: all it
    saves): a value is kept only when the VJP of a tracked input reads
    it, so writing in place into one nobody will read is no error.
    A variadic op has one VJP that also receives `index=i`.
    `numeric=False`: the op moves elements without computing with them
    (reshape, indexing), so boolean arrays stay boolean; every other op
    counts a boolean operand as 0/1 in the run's dtype.
    `elementwise=True`: the op works number by number, with no parameters
    (broadcast operands may be computed once per repeated number).
    `builtin`: the language name(s) it goes by as a built-in function;
    `prepare(*args, **kwargs) -> (inputs, params)` checks the public
    arguments (its parameter names are the built-in's); `nondiff`:
    {position: why} for a built-in that carries no gradient there
    (default for an op without VJPs: every position, piecewise constant).
    `rules`: per input, the local derivative in plain notation (see
    `rule_text`); `explain` shows it. `convention`: its gradient where the
    derivative does not exist (a kink, a tie), as PyTorch has it; `help`
    shows it. Forward mode: an op given by
    partials needs nothing more; `linear=True` (jointly linear in its
    differentiable inputs) or "each" (linear in each, as products) derives
    the JVP from the forward; otherwise `jvps` gives one share per input.
    `doc`: for a built-in, what `help` says of it (help=, example=, see
    `Public`)."""
    if partials is not None:
        vjps = tuple(None if p is None else _times_partial(p) for p in partials)
    if variadic:
        saves = repeat(saves[0])
    elif not saves:
        saves = (None,) * len(vjps)
    op = Op(name, label, forward, vjps or None, saves, ans, variadic, reads, numeric,
            elementwise, prepare, partials, rules, convention=convention)
    if partials is not None:
        op.jvp = _jvp_from_shares(tuple(None if p is None else _tangent_times(p)
                                        for p in partials))
    elif linear == "each":
        op.jvp = _jvp_from_shares(tuple(_in_place_of(op, i) for i in range(len(vjps))))
    elif linear:
        op.jvp = _jvp_linear(op)
    elif jvps is not None:
        op.jvp = _jvp_from_shares(jvps)
    TABLE[name] = op
    if builtin:
        names = (builtin,) if isinstance(builtin, str) else tuple(builtin)
        if nondiff is None and not vjps:
            nondiff = {0: PIECEWISE_CONSTANT}
        PUBLIC.append(Public(names, op, nondiff, op, **doc))
    return op


def run(op, args, params=None):
    """Apply `op` to tensors (recording), or to raw arrays when no argument
    is a tensor: first-order backward passes run the VJPs on raw numpy."""
    if len(args) == 1 and type(args[0]) is Tensor:     # the common case: no comprehension
        return apply(op, args, params)
    for a in args:
        if type(a) is Tensor:
            return apply(op, [lift(b) for b in args], params)
    if op.elementwise:
        return _elementwise_raw(op, args)
    return op.forward(*args, **params) if params else op.forward(*args)


def repeated_value(a):
    """The one number a broadcast view repeats (all strides 0), else None."""
    if type(a) is np.ndarray and a.ndim and a.size and not any(a.strides):
        return a[(0,) * a.ndim]
    return None


def _elementwise_raw(op, args):
    """Elementwise ops on raw arrays, keeping repeated numbers cheap.

    The gradient of a sum or mean arrives as a broadcast of one number; an
    op whose array arguments all repeat one number is computed once and
    broadcast again, and multiplying by a repeated 1 returns the other
    operand itself. Exact, and it saves whole passes over large arrays."""
    for a in args:
        if type(a) is np.ndarray and a.ndim and not any(a.strides) and a.size:
            break       # this one repeats one number
    else:
        return op.forward(*args)
    shapes, values = [], []
    for a in args:
        value = repeated_value(a)
        if value is None:
            if type(a) is np.ndarray and a.ndim:
                if op is MUL and len(args) == 2:
                    return _times_one(args)
                return op.forward(*args)
            value = a
        else:
            shapes.append(a.shape)
        values.append(value)
    if not shapes:
        return op.forward(*args)
    return np.broadcast_to(op.forward(*values), np.broadcast_shapes(*shapes))


def _times_one(args):
    x, y = args
    for one, other in ((x, y), (y, x)):
        value = repeated_value(one)
        if (value is not None and value == 1 and type(other) is np.ndarray
                and other.shape == np.broadcast_shapes(one.shape, other.shape)
                and other.dtype == np.result_type(one, other)):
            return other
    return np.multiply(x, y)


def call(op, *args, **params):
    return run(op, args, params)


def operand(x):
    """A tensor or raw array as it is; a Python number as a raw array."""
    if type(x) is Tensor or isinstance(x, (np.ndarray, np.generic)):
        return x
    return np.asarray(x, dtype=MODE.dtype)


def raw(x):
    return x.data if type(x) is Tensor else x


# ------------------------------------------------------------------- helpers

def norm_axis(axis, ndim):
    """None, or a sorted tuple of non-negative axes; errors name the axis."""
    if axis is None:
        return None
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ShapeError(f"axis {a} is out of range for a value with {ndim} "
                             f"dimension{'s' if ndim != 1 else ''}")
        if ndim:    # a 0-d value has no axes: reducing "along" it is the identity
            out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {tuple(axes)}")
    return tuple(sorted(out))


def kept_shape(shape, axis):
    """The shape a reduction over `axis` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


def unreduce(g, shape, axis, keepdims):
    """Spread a reduction's gradient back over the reduced axes."""
    if not keepdims:
        g = reshape(g, kept_shape(shape, axis))
    return broadcast_to(g, shape)


def swap_last(x):
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, tuple(axes))


def _sum_to_forward(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    out = np.sum(x, axis=axes) if axes else x
    return np.reshape(out, shape)


# -------------------------------------------------------------- arithmetic

ADD = defop("AddBackward", "'+'", np.add,
            partials=(lambda ans, x, y: 1.0, lambda ans, x, y: 1.0), elementwise=True,
            rules=("1", "1"))
SUB = defop("SubBackward", "'-'", np.subtract,
            partials=(lambda ans, x, y: 1.0, lambda ans, x, y: -1.0), elementwise=True,
            rules=("1", "-1"))
MUL = defop("MulBackward", "'*'", np.multiply,
            partials=(lambda ans, x, y: y, lambda ans, x, y: x),
            saves=("value", "value"), reads=((1,), (0,)), elementwise=True,
            rules=("{y}", "{x}"))
DIV = defop("DivBackward", "'/'", np.true_divide,
            lambda g, ans, x, y: g / y,
            lambda g, ans, x, y: neg(g * x) / (y * y),
            saves=("value", "value"), reads=((1,), (0, 1)), elementwise=True,
            rules=("1/{y}", "-{x}/{y}**2"),
            jvps=(lambda t, ans, x, y: t / y, lambda t, ans, x, y: neg(t * x) / (y * y)))
NEG = defop("NegBackward", "unary '-'", np.negative, partials=(lambda ans, x: -1.0,),
            elementwise=True, rules=("-1",))


def _pow_base_partial(ans, x, y):
    # d/dx x**y = y x**(y-1), taken as 0 where y == 0 (PyTorch): x**0 is 1
    # even at x = 0. The exponent y - 1 becomes 0 there rather than -1, so
    # no 0 * inf is ever formed, not even when this is differentiated again.
    return y * x ** (where(y == 0, 1.0, y) - 1.0)


def _pow_exponent_partial(ans, x, y):
    # d/dy x**y = x**y log x. At x == 0, PyTorch gives 0 for y >= 0 and
    # -inf for y < 0; NaN for x < 0 (no real logarithm).
    positive = x > 0     # elsewhere both factors are masked: no inf * 0 is formed
    slope = where(positive, ans, 1.0) * log(where(positive, x, 1.0))
    at_zero = where(y >= 0, 0.0, -np.inf)
    return where(positive, slope, where(x == 0, at_zero, np.nan))


def _pow_base_rule(texts):
    """y*x**(y-1), worked out when the exponent is a number: d(x**2)/dx = 2*x."""
    x, y = texts["x"], texts["y"]
    try:
        n = float(y)
    except ValueError:
        return f"{y}*{x}**({y}-1)"
    if n in (0.0, 1.0):
        return "0" if n == 0.0 else "1"
    less = f"{n - 1:g}"
    return f"{y}*{x}" if less == "1" else f"{y}*{x}**{less if n - 1 >= 0 else f'({less})'}"


POW = defop("PowBackward", "'**'", np.power,
            partials=(_pow_base_partial, _pow_exponent_partial),
            saves=("value", "value"), ans=True, elementwise=True,
            rules=(_pow_base_rule, "{x}**{y}*log({x})"),
            convention="by x: 0 where y = 0, even at x = 0 (x ** 0 is 1); inf at x = 0 for "
                       "0 < y < 1. By y: at x = 0, 0 for y >= 0 and -inf for y < 0; NaN for "
                       "x < 0 (PyTorch)")


def _share(x, y):
    """x's share of maximum(x, y)'s gradient: half at a tie (PyTorch), none
    where y is larger; all of it otherwise, so with a NaN on either side
    both operands get the whole gradient, as in PyTorch."""
    return where(x == y, 0.5, where(x < y, 0.0, 1.0))


_AT_A_TIE = ("at a tie (x = y) each gets half of the gradient; where either is NaN, each "
             "gets all of it (PyTorch)")
MAXIMUM = defop("MaximumBackward", "maximum", np.maximum,
                partials=(lambda ans, x, y: _share(x, y), lambda ans, x, y: _share(y, x)),
                saves=("value", "value"), elementwise=True,
                rules=("1 where {x} > {y}, 0 where {x} < {y}, 1/2 at a tie",
                       "1 where {y} > {x}, 0 where {y} < {x}, 1/2 at a tie"),
                convention=_AT_A_TIE)
MINIMUM = defop("MinimumBackward", "minimum", np.minimum,
                partials=(lambda ans, x, y: _share(y, x), lambda ans, x, y: _share(x, y)),
                saves=("value", "value"), elementwise=True,
                rules=("1 where {x} < {y}, 0 where {x} > {y}, 1/2 at a tie",
                       "1 where {y} < {x}, 0 where {y} > {x}, 1/2 at a tie"),
                convention=_AT_A_TIE)

# Not differentiable (no VJPs): their results are never tracked.
FLOORDIV = defop("FloorDivide", "'//'", np.floor_divide, elementwise=True)
LESS = defop("Less", "'<'", np.less, numeric=False, elementwise=True)
LESS_EQUAL = defop("LessEqual", "'<='", np.less_equal, numeric=False, elementwise=True)
GREATER = defop("Greater", "'>'", np.greater, numeric=False, elementwise=True)
GREATER_EQUAL = defop("GreaterEqual", "'>='", np.greater_equal, numeric=False, elementwise=True)
EQUAL = defop("Equal", "'=='", np.equal, numeric=False, elementwise=True)
NOT_EQUAL = defop("NotEqual", "'!='", np.not_equal, numeric=False, elementwise=True)
SIGN = defop("Sign", "sign", np.sign, elementwise=True, builtin="sign",
             help="The sign of each element: -1, 0 or 1 (0 at 0).",
             example="sign([-2, 0, 3])\n# [-1, 0, 1]")

# a % b = a - b * floor(a / b), with floor's derivative 0 (as PyTorch).
MOD = defop("RemainderBackward", "'%'", np.mod,
            partials=(lambda ans, x, y: 1.0, lambda ans, x, y: neg(call(FLOORDIV, x, y))),
            saves=("value", "value"), reads=((), (0, 1)),
            elementwise=True, rules=("1", "-floor({x}/{y})"))


add, sub, mul, div, neg, power, sign = ADD, SUB, MUL, DIV, NEG, POW, SIGN
maximum = public("maximum", help="The larger of x and y, element by element (they broadcast).",
                 example="x = [1, 2]\nprint(maximum(x, 1.5))\n"
                         "print(grad(lambda t: sum(maximum(t, 1)))(x))\n# [1.5, 2]\n# [0.5, 1]")(MAXIMUM)
minimum = public("minimum", help="The smaller of x and y, element by element (they broadcast).",
                 example="x = [1, 2]\nprint(minimum(x, 1.5))\n"
                         "print(grad(lambda t: sum(minimum(t, 2)))(x))\n# [1, 1.5]\n# [1, 0.5]")(MINIMUM)
public("pow", "power", help="x to the power y, element by element: x ** y (they broadcast).",
       example="pow([1, 2, 3], 2)\n# [1, 4, 9]")(POW)


def _binary(op):
    def apply_op(x, y):
        if type(x) is Tensor and type(y) is Tensor:   # the interpreter's case
            return apply(op, (x, y))
        return call(op, x, y)
    return apply_op


# Comparisons give boolean arrays; arithmetic on them counts them as 0/1.
less, less_equal = _binary(LESS), _binary(LESS_EQUAL)
greater, greater_equal = _binary(GREATER), _binary(GREATER_EQUAL)
equal, not_equal = _binary(EQUAL), _binary(NOT_EQUAL)
floordiv, mod = _binary(FLOORDIV), _binary(MOD)


# --------------------------------------------------------------- elementwise

def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _clip(x, low, high):
    return np.clip(x, low, high)


EXP = defop("ExpBackward", "exp", np.exp, partials=(lambda ans, x: ans,), ans=True,
            elementwise=True, builtin="exp", rules=("exp({x})",),
            help="e to the power x, element by element.", example="exp([0, 1])\n"
                                                                  "# [1, 2.718281828459045]")
LOG = defop("LogBackward", "log", np.log, lambda g, ans, x: g / x, saves=("value",),
            elementwise=True, builtin="log", rules=("1/{x}",),
            jvps=(lambda t, ans, x: t / x,),
            help="The natural logarithm of each element (-inf at 0, NaN below 0).",
            example="log([1, 2.718281828459045])\n# [0, 1]")
LOG1P = defop("Log1PBackward", "log1p", np.log1p,
              lambda g, ans, x: g / (x + 1.0), saves=("value",), elementwise=True, builtin="log1p",
              rules=("1/(1+{x})",), jvps=(lambda t, ans, x: t / (x + 1.0),),
              help="log(1 + x) of each element, exact also where x is tiny (where 1 + x "
                   "would round to 1).",
              example="print(log1p(1e-20), log(1 + 1e-20))\n# 1e-20 0")
SQRT = defop("SqrtBackward", "sqrt", np.sqrt, lambda g, ans, x: g / (ans * 2.0), ans=True,
             elementwise=True, builtin="sqrt", rules=("1/(2*sqrt({x}))",),
             jvps=(lambda t, ans, x: t / (ans * 2.0),), convention="sqrt'(0) = inf (PyTorch)",
             help="The square root of each element (NaN below 0).",
             example="sqrt([4, 9, 2])\n# [2, 3, 1.4142135623730951]")
ABS = defop("AbsBackward", "abs", np.abs, partials=(lambda ans, x: sign(x),),
            saves=("value",), elementwise=True, builtin="abs", rules=("sign({x})",),
            convention="abs'(0) = 0 (PyTorch)", help="The absolute value of each element.",
            example="x = [-2, 0, 3]\nprint(abs(x), grad(lambda t: sum(abs(t)))(x))\n"
                    "# [2, 0, 3] [-1, 0, 1]")
SIN = defop("SinBackward", "sin", np.sin, partials=(lambda ans, x: cos(x),),
            saves=("value",), elementwise=True, builtin="sin", rules=("cos({x})",),
            help="The sine of each element (in radians).", example="sin([0, 0.5])\n"
                                                                   "# [0, 0.479425538604203]")
COS = defop("CosBackward", "cos", np.cos, partials=(lambda ans, x: neg(sin(x)),),
            saves=("value",), elementwise=True, builtin="cos", rules=("-sin({x})",),
            help="The cosine of each element (in radians).", example="cos([0, 0.5])\n"
                                                                     "# [1, 0.8775825618903728]")
TAN = defop("TanBackward", "tan", np.tan,
            partials=(lambda ans, x: ans * ans + 1.0,), ans=True,
            elementwise=True, builtin="tan", rules=("1+tan({x})**2",),
            help="The tangent of each element (in radians).", example="tan([0, 0.5])\n"
                                                                      "# [0, 0.5463024898437905]")
TANH = defop("TanhBackward", "tanh", np.tanh,
             partials=(lambda ans, x: 1.0 - ans * ans,), ans=True,
             elementwise=True, builtin="tanh", rules=("1-tanh({x})**2",),
             help="The hyperbolic tangent of each element, from -1 to 1.",
             example="tanh([0, 0.5])\n# [0, 0.46211715726000974]")
SIGMOID = defop("SigmoidBackward", "sigmoid", _sigmoid,
                partials=(lambda ans, x: ans * (1.0 - ans),), ans=True,
                elementwise=True, builtin="sigmoid",
                rules=("sigmoid({x})*(1-sigmoid({x}))",),
                help="The logistic function 1 / (1 + exp(-x)) of each element, from 0 to 1.",
                example="sigmoid([0, 2])\n# [0.5, 0.8807970779778823]")
RELU = defop("ReluBackward", "relu", lambda x: np.maximum(x, 0),
             partials=(lambda ans, x: ans > 0,), ans=True,
             elementwise=True, builtin="relu",
             rules=("1 where {x} > 0, else 0",), convention="relu'(0) = 0 (PyTorch)",
             help="max(x, 0) of each element: the rectified linear unit.",
             example="x = [-1, 0, 2]\nprint(relu(x), grad(lambda t: sum(relu(t)))(x))\n"
                     "# [0, 0, 2] [0, 0, 1]")
SOFTPLUS = defop("SoftplusBackward", "softplus", lambda x: np.logaddexp(0, x),
                 partials=(lambda ans, x: sigmoid(x),), saves=("value",),
                 elementwise=True, builtin="softplus", rules=("sigmoid({x})",),
                 help="log(1 + exp(x)) of each element: a smooth relu.",
                 example="softplus([0, 50])\n# [0.6931471805599453, 50]")
CLIP = defop("ClampBackward", "clip", _clip,
             partials=(lambda ans, x, low, high: _inside(x, low, high),), saves=("value",),
             rules=("1 where low <= {x} <= high, else 0",),
             convention="at x = low or x = high the gradient goes to x (the boundary counts "
                        "as inside); a tracked bound gets it where x is beyond that bound")


def _inside(x, low, high):
    mask = np.ones(x.shape, dtype=bool)
    if low is not None:
        mask &= raw(x) >= low
    if high is not None:
        mask &= raw(x) <= high
    return mask


exp, log, log1p, sqrt, absolute = EXP, LOG, LOG1P, SQRT, ABS
sin, cos, tan, tanh, sigmoid, relu, softplus = SIN, COS, TAN, TANH, SIGMOID, RELU, SOFTPLUS


def _erf(x):
    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[x.dtype])(x)   # numpy has no erf


_TWO_OVER_ROOT_PI = 2.0 / math.sqrt(math.pi)

erf = defop("ErfBackward", "erf", _erf,
            partials=(lambda ans, x: exp(neg(x * x)) * _TWO_OVER_ROOT_PI,),
            saves=("value",), elementwise=True, builtin="erf",
            rules=("2/sqrt(pi)*exp(-{x}**2)",),
            help="The error function of each element, from -1 to 1.",
            example="erf([0, 1])\n# [0, 0.8427007929497149]")
expm1 = defop("Expm1Backward", "expm1", np.expm1, partials=(lambda ans, x: ans + 1.0,), ans=True,
              elementwise=True, builtin="expm1", rules=("exp({x})",),
              help="exp(x) - 1 of each element, exact also where x is tiny.",
              example="print(expm1(1e-20), exp(1e-20) - 1)\n# 1e-20 0")
log2 = defop("Log2Backward", "log2", np.log2, lambda g, ans, x: g / (x * math.log(2.0)),
             saves=("value",), elementwise=True, builtin="log2", rules=("1/({x}*log(2))",),
             jvps=(lambda t, ans, x: t / (x * math.log(2.0)),),
             help="The base-2 logarithm of each element.", example="log2([1, 8])\n# [0, 3]")
log10 = defop("Log10Backward", "log10", np.log10, lambda g, ans, x: g / (x * math.log(10.0)),
              saves=("value",), elementwise=True, builtin="log10", rules=("1/({x}*log(10))",),
              jvps=(lambda t, ans, x: t / (x * math.log(10.0)),),
              help="The base-10 logarithm of each element.", example="log10([1, 1000])\n# [0, 3]")
# arcsin' and arccos' are infinite at ±1 (as in PyTorch), NaN beyond.
_INFINITE_AT_ONE = "infinite at x = ±1, NaN beyond (where the function is NaN), as PyTorch"
arcsin = defop("AsinBackward", "arcsin", np.arcsin,
               lambda g, ans, x: g / sqrt(1.0 - x * x),
               saves=("value",), elementwise=True, builtin=("arcsin", "asin"),
               rules=("1/sqrt(1-{x}**2)",), jvps=(lambda t, ans, x: t / sqrt(1.0 - x * x),),
               convention=_INFINITE_AT_ONE,
               help="The inverse sine of each element, in radians (NaN outside -1..1).",
               example="arcsin([0, 1])\n# [0, 1.5707963267948966]")
arccos = defop("AcosBackward", "arccos", np.arccos,
               lambda g, ans, x: neg(g) / sqrt(1.0 - x * x),
               saves=("value",), elementwise=True, builtin=("arccos", "acos"),
               rules=("-1/sqrt(1-{x}**2)",),
               jvps=(lambda t, ans, x: neg(t) / sqrt(1.0 - x * x),),
               convention=_INFINITE_AT_ONE,
               help="The inverse cosine of each element, in radians (NaN outside -1..1).",
               example="arccos([1, 0])\n# [0, 1.5707963267948966]")
arctan = defop("AtanBackward", "arctan", np.arctan, lambda g, ans, x: g / (x * x + 1.0),
               saves=("value",), elementwise=True, builtin=("arctan", "atan"),
               rules=("1/(1+{x}**2)",), jvps=(lambda t, ans, x: t / (x * x + 1.0),),
               help="The inverse tangent of each element, in radians.",
               example="arctan([0, 1])\n# [0, 0.7853981633974483]")
sinh = defop("SinhBackward", "sinh", np.sinh, partials=(lambda ans, x: cosh(x),),
             saves=("value",), elementwise=True, builtin="sinh", rules=("cosh({x})",),
             help="The hyperbolic sine of each element.", example="sinh([0, 1])\n"
                                                                  "# [0, 1.1752011936438014]")
cosh = defop("CoshBackward", "cosh", np.cosh, partials=(lambda ans, x: sinh(x),),
             saves=("value",), elementwise=True, builtin="cosh", rules=("sinh({x})",),
             help="The hyperbolic cosine of each element.", example="cosh([0, 1])\n"
                                                                    "# [1, 1.5430806348152437]")
# log(e^x + e^y): each side's share is its softmax weight, exp(x - ans).
logaddexp = defop("LogaddexpBackward", "logaddexp", np.logaddexp,
                  partials=(lambda ans, x, y: exp(x - ans), lambda ans, x, y: exp(y - ans)),
                  saves=("value", "value"), ans=True, elementwise=True, builtin="logaddexp",
                  rules=("exp({x}-logaddexp({x},{y}))", "exp({y}-logaddexp({x},{y}))"),
                  help="log(exp(x) + exp(y)) element by element, without overflow where x "
                       "or y is large.",
                  example="logaddexp([0, 1000], [0, 1000])\n"
                          "# [0.6931471805599453, 1000.6931471805599]")


def clip(x, low=None, high=None):
    if low is None and high is None:
        raise EvalError("clip needs at least one of low and high")
    return call(CLIP, x, low=low, high=high)


def _where_forward(cond, x, y):
    return np.where(cond, x, y)


def _chosen(g, ans, c, x, y):
    return where(c, g, 0.0)


def _not_chosen(g, ans, c, x, y):
    return where(c, 0.0, g)


WHERE = defop("WhereBackward", "where", _where_forward, None, _chosen, _not_chosen,
              saves=("value", None, None), linear=True,
              rules=(None, "1 where {c}, 0 elsewhere", "0 where {c}, 1 elsewhere"),
              convention="exactly 0 gradient goes to the branch not taken, even where it "
                         "holds NaN or inf (but what that branch computed for itself still "
                         "runs its own backward: keep the unsafe input away from the kink)")
# `x[i] = v` while recording: the written elements from v, the rest from
# the old x (PyTorch's name for it).
COPY_SLICES = defop("CopySlices", "indexed assignment", _where_forward,
                    None, _chosen, _not_chosen, saves=("value", None, None), linear=True,
                    rules=(None, "1 at the elements written, 0 elsewhere",
                           "0 at the elements written, 1 elsewhere"))


def where(cond, x, y, op=WHERE):
    cond = raw(operand(cond))
    if cond.dtype != bool:
        cond = cond != 0
    return run(op, [cond, operand(x), operand(y)])


@public("where", nondiff={0: "the condition selects; it is not differentiated"}, op=WHERE,
        help="x where cond is true, y where it is false, element by element (the three "
             "broadcast).",
        example="x = [-1, 2]\nwhere(x > 0, x, 0)\n# [0, 2]")
def select(cond, x, y):
    return where(cond, x, y)


# ----------------------------------------------------------------- reductions

# Reductions call the ufuncs' reduce directly: numpy's np.sum/np.max
# wrappers cost more than the reduction itself on small arrays.

def _sum(x, axis, keepdims):
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


def _mean(x, axis, keepdims):
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis)


def _count(shape, axis):
    return math.prod(shape[a] for a in axis) if axis is not None else math.prod(shape)


def _extreme_vjp(g, ans, x, axis, keepdims):
    # Ties share the gradient evenly (PyTorch's convention for max/min). A
    # NaN wins: where the result is NaN, the NaNs share it (PyTorch's max).
    x, best = raw(x), np.asarray(unreduce(raw(ans), x.shape, axis, keepdims))
    hits = (x == best) | (np.isnan(x) & np.isnan(best))
    count = np.sum(hits, axis=axis, keepdims=True, dtype=x.dtype)   # not int64: float32 stays
    return unreduce(g, x.shape, axis, keepdims) * hits / count


def _prod_vjp(g, ans, x, axis, keepdims):
    if not np.any(raw(x) == 0):
        return unreduce(g, x.shape, axis, keepdims) * unreduce(ans, x.shape, axis, keepdims) / x
    # With zeros, ans / x is undefined: multiply the other factors directly.
    if MODE.grad_enabled:   # a recorded backward (higher order) needs them as ops
        others = _product_of_others_recorded(x, axis)
    else:
        others = _product_of_others(raw(x), axis)
    return unreduce(g, x.shape, axis, keepdims) * others


def _product_of_others_recorded(x, axis):
    """`_product_of_others` from recorded ops: every factor's block with that
    factor replaced by 1, multiplied out (m² numbers for blocks of m)."""
    axes = axis if axis is not None else tuple(range(x.ndim))
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    perm = rest + tuple(axes)
    moved = transpose(x, perm)
    m = _count(x.shape, axis)
    flat = reshape(moved, moved.shape[:len(rest)] + (m,))
    rows = where(np.eye(m, dtype=bool), 1.0, expand_dims(flat, -2))
    return transpose(reshape(prod(rows, axis=-1), moved.shape), tuple(np.argsort(perm)))


def _product_of_others(x, axis):
    axes = axis if axis is not None else tuple(range(x.ndim))
    moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
    left = np.cumprod(np.concatenate([np.ones_like(flat[..., :1]), flat[..., :-1]], -1), -1)
    right = np.flip(np.cumprod(np.concatenate(
        [np.ones_like(flat[..., :1]), np.flip(flat, -1)[..., :-1]], -1), -1), -1)
    out = (left * right).reshape(moved.shape)
    return np.moveaxis(out, tuple(range(-len(axes), 0)), axes)


def _norm_forward(x, axis, keepdims, ord):
    if ord == 1:
        return np.add.reduce(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 2:
        return np.sqrt(np.add.reduce(x * x, axis=axis, keepdims=keepdims))
    if ord == math.inf:
        return np.maximum.reduce(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return np.minimum.reduce(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.add.reduce((x != 0).astype(x.dtype), axis=axis, keepdims=keepdims)
    return np.add.reduce(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _norm_vjp(g, ans, x, axis, keepdims, ord):
    if ord == 1:
        return unreduce(g, x.shape, axis, keepdims) * sign(x)
    if ord == 0:     # a count: piecewise constant
        return unreduce(g, x.shape, axis, keepdims) * 0.0
    if math.isinf(ord):
        # max |x| (min |x|): ties share the gradient evenly, as max does.
        best = np.asarray(unreduce(raw(ans), x.shape, axis, keepdims))
        hits = np.abs(raw(x)) == best
        count = np.sum(hits, axis=axis, keepdims=True, dtype=x.dtype)
        return unreduce(g, x.shape, axis, keepdims) * (hits / count) * sign(x)
    # The gradient sign(x) |x|^(p-1) / norm^(p-1) is taken as 0 where the
    # norm is 0 (PyTorch), and, for p < 1, where x is 0.
    zero = raw(ans) == 0
    if ord == 2:
        ratio = g / where(zero, 1.0, ans) * ~zero
        return unreduce(ratio, x.shape, axis, keepdims) * x
    ratio = g / where(zero, 1.0, ans) ** (ord - 1.0) * ~zero
    nonzero = raw(x) != 0
    scaled = sign(x) * where(nonzero, absolute(x), 1.0) ** (ord - 1.0) * nonzero
    return unreduce(ratio, x.shape, axis, keepdims) * scaled


def _logsumexp_forward(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.reshape(out, np.sum(x, axis=axis).shape)


def _softmax_forward(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_forward(x, axis):
    return x - _logsumexp_forward(x, axis, True)


def _logsumexp_vjp(g, ans, x, axis, keepdims):
    return unreduce(g, x.shape, axis, keepdims) * exp(x - unreduce(ans, x.shape, axis, keepdims))


SUM = defop("SumBackward", "sum", _sum,
            lambda g, ans, x, axis, keepdims: unreduce(g, x.shape, axis, keepdims),
            saves=("shape",), linear=True, rules=("1",))
MEAN = defop("MeanBackward", "mean", _mean,
             lambda g, ans, x, axis, keepdims:
                 unreduce(g, x.shape, axis, keepdims) / float(_count(x.shape, axis)),
             saves=("shape",), linear=True, rules=("1/n (n: the number of elements averaged)",))
PROD = defop("ProdBackward", "prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
             _prod_vjp, saves=("value",), ans=True,
             rules=("the product of the other factors (prod({x})/{x} where {x} is not 0)",),
             jvps=(_through_gradient(_prod_vjp, _reduced),),
             convention="where x holds zeros, each element's gradient is still the product "
                        "of the others")
_TIES = ("tied elements share the gradient evenly; where a slice holds NaN the result is "
         "NaN and the NaNs share it (PyTorch)")
MAX = defop("MaxBackward", "max",
            lambda x, axis, keepdims: np.maximum.reduce(x, axis=axis, keepdims=keepdims),
            _extreme_vjp, saves=("value",), ans=True,
            rules=("1 at the maximum, 0 elsewhere (ties share it evenly)",),
            jvps=(_through_gradient(_extreme_vjp, _reduced),), convention=_TIES)
MIN = defop("MinBackward", "min",
            lambda x, axis, keepdims: np.minimum.reduce(x, axis=axis, keepdims=keepdims),
            _extreme_vjp, saves=("value",), ans=True,
            rules=("1 at the minimum, 0 elsewhere (ties share it evenly)",),
            jvps=(_through_gradient(_extreme_vjp, _reduced),), convention=_TIES)
NORM = defop("NormBackward", "norm", _norm_forward, _norm_vjp, saves=("value",), ans=True,
             rules=("{x}/norm({x}) for ord=2; sign({x})*|{x}|**(p-1)/norm({x})**(p-1) "
                    "for ord=p",),
             jvps=(_through_gradient(_norm_vjp, _reduced),),
             convention="0 where the norm is 0, for every ord (and for ord < 1 also at each "
                        "zero element); ord=inf and -inf split ties of the largest (smallest) "
                        "|x| evenly; ord=0 (a count) has gradient 0")
LOGSUMEXP = defop("LogsumexpBackward", "logsumexp", _logsumexp_forward, _logsumexp_vjp,
                  saves=("value",), ans=True, rules=("softmax({x})",),
                  jvps=(_through_gradient(_logsumexp_vjp, _reduced),))
# Softmax's outputs share their inputs: its JVP is written out, s*(t - sum(s*t)).
SOFTMAX = defop("SoftmaxBackward", "softmax", _softmax_forward,
                lambda g, ans, x, axis: ans * (g - sum_(g * ans, axis=axis, keepdims=True)),
                ans=True, rules=("s*({g} - sum({g}*s)), s = softmax({x})",),
                jvps=(lambda t, ans, x, axis: ans * (t - sum_(t * ans, axis=axis, keepdims=True)),))
LOG_SOFTMAX = defop("LogSoftmaxBackward", "log_softmax", _log_softmax_forward,
                    lambda g, ans, x, axis:
                        g - exp(ans) * sum_(g, axis=axis, keepdims=True),
                    ans=True, rules=("{g} - softmax({x})*sum({g})",),
                    jvps=(lambda t, ans, x, axis:
                          t - sum_(t * exp(ans), axis=axis, keepdims=True),))
ARGMAX = defop("Argmax", "argmax",
               lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims))
ARGMIN = defop("Argmin", "argmin",
               lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims))


def _reduction(op):
    def reduce(x, axis=None, keepdims=False):
        x = operand(x)
        if op is not SUM and op is not MEAN and x.size == 0:
            raise ShapeError(f"{op.label} of an empty value")
        return run(op, [x], {"axis": norm_axis(axis, x.ndim), "keepdims": bool(keepdims)})
    reduce.__name__ = op.label
    return reduce


_MATRIX = "x = [[1, 2], [3, 4]]\n"
sum_ = public("sum", op=SUM, help="The sum of the elements of x: all of them, or along axis "
                                  "(a tuple of axes too); keepdims=True keeps the summed axes "
                                  "with length 1.",
              example=_MATRIX + "print(sum(x), sum(x, axis=0), x.sum(dim=1, keepdim=True))\n"
                                "# 10 [4, 6] [[3], [7]]")(_reduction(SUM))
mean = public("mean", op=MEAN, help="The mean of the elements of x: all of them, or along axis.",
              example=_MATRIX + "print(mean(x), mean(x, axis=0))\n# 2.5 [2, 3]")(_reduction(MEAN))
prod = public("prod", op=PROD, help="The product of the elements of x: all of them, or along "
                                    "axis.",
              example=_MATRIX + "print(prod(x), prod(x, axis=1))\n# 24 [2, 12]")(_reduction(PROD))
max_ = public("max", op=MAX, help="The largest element of x: of all of them, or along axis. "
                                  "Of two or more single numbers, max(a, b) is Python's: the "
                                  "larger argument itself.",
              example=_MATRIX + "print(max(x), max(x, axis=0), max(3, 5))\n"
                                "print(grad(lambda t: max(t))([1, 3, 3]))\n"
                                "# 4 [3, 4] 5\n# [0, 0.5, 0.5]")(_reduction(MAX))
min_ = public("min", op=MIN, help="The smallest element of x: of all of them, or along axis. "
                                  "Of two or more single numbers, min(a, b) is Python's: the "
                                  "smaller argument itself.",
              example=_MATRIX + "print(min(x), min(x, axis=0), min(3, 5))\n"
                                "# 1 [1, 2] 3")(_reduction(MIN))
logsumexp = public("logsumexp", op=LOGSUMEXP,
                   help="log(sum(exp(x))) over all elements or along axis, without overflow.",
                   example="logsumexp([1000, 1000])\n# 1000.6931471805599")(_reduction(LOGSUMEXP))


@public("norm", op=NORM, help="The vector p-norm of x, (sum |x|**ord)**(1/ord), over all its "
                             "elements or along axis: ord=2 by default, any number, inf or -inf "
                             "(the largest or smallest |x|), 0 (the count of nonzeros).",
        example="import math\nx = [3, -4]\nprint(norm(x), norm(x, 1), norm(x, math.inf))\n"
                "# 5 7 4")
def norm(x, ord=2, axis=None, keepdims=False):
    """The vector p-norm over `axis` (all elements by default, as PyTorch's
    torch.norm): ord any number, inf or -inf (largest, smallest |x|), 0
    (the count of nonzeros, no gradient)."""
    x = operand(x)
    ord = float(ord)
    if math.isnan(ord):
        raise EvalError("norm: ord must be a number, not NaN")
    if x.size == 0 and math.isinf(ord):
        raise ShapeError(f"norm with ord={ord:g} of an empty value")
    return run(NORM, [x], {"axis": norm_axis(axis, x.ndim),
                             "keepdims": bool(keepdims), "ord": ord})


def _single_axis(x, axis):
    axes = norm_axis(axis, x.ndim) if x.ndim else (0,)
    if len(axes) != 1:
        raise ShapeError(f"needs a single axis, got {axis}")
    return axes[0]


@public("softmax", op=SOFTMAX, help="exp(x) / sum(exp(x)) along axis (the last by default): "
                                   "positive numbers that sum to 1.",
        example="softmax([0, 0, 0, 0])\n# [0.25, 0.25, 0.25, 0.25]")
def softmax(x, axis=-1):
    x = operand(x)
    return run(SOFTMAX, [x], {"axis": _single_axis(x, axis)})


@public("log_softmax", op=LOG_SOFTMAX, help="log(softmax(x)) along axis (the last by default), "
                                           "computed without overflow.",
        example="log_softmax([0, 0])\n# [-0.6931471805599453, -0.6931471805599453]")
def log_softmax(x, axis=-1):
    x = operand(x)
    return run(LOG_SOFTMAX, [x], {"axis": _single_axis(x, axis)})


def _cumsum_args(x, axis=None):
    """numpy's cumsum: along `axis`, or over the flattened value by default."""
    x = operand(x)
    if axis is None or x.ndim == 0:
        return [flatten(x)], {"axis": 0}
    return [x], {"axis": _single_axis(x, axis)}


def _reversed_along(g, axis):
    return getitem(g, _slice_along(g.ndim, axis, slice(None, None, -1)))


# Each element feeds every later partial sum: the gradient is the sum of
# g from the end backwards.
cumsum = defop("CumsumBackward", "cumsum", lambda x, axis: np.cumsum(x, axis=axis),
               lambda g, ans, x, axis: _reversed_along(cumsum(_reversed_along(g, axis), axis),
                                                       axis),
               builtin="cumsum", prepare=_cumsum_args, linear=True,
               rules=("{g} summed from the end backwards (a reversed cumsum)",),
               help="The running sums of x along axis; without an axis, of its elements in "
                    "order (flattened, as numpy).",
               example="cumsum([1, 2, 3, 4])\n# [1, 3, 6, 10]")


AN_INDEX = {0: "an index: piecewise constant"}


@public("argmax", nondiff=AN_INDEX, help="The index of the largest element (of the flattened x, "
                                         "or along axis): an integer, usable as an index.",
        example="x = [[1, 5], [7, 2]]\nprint(argmax(x), argmax(x, axis=1))\n# 2 [1, 0]")
def argmax(x, axis=None, keepdims=False):
    x = operand(x)
    return run(ARGMAX, [x], {"axis": None if axis is None else _single_axis(x, axis),
                             "keepdims": bool(keepdims)})


@public("argmin", nondiff=AN_INDEX, help="The index of the smallest element (of the flattened "
                                         "x, or along axis): an integer, usable as an index.",
        example="x = [[1, 5], [7, 2]]\nprint(argmin(x), argmin(x, axis=1))\n# 0 [0, 1]")
def argmin(x, axis=None, keepdims=False):
    x = operand(x)
    return run(ARGMIN, [x], {"axis": None if axis is None else _single_axis(x, axis),
                             "keepdims": bool(keepdims)})


# -------------------------------------------------------------------- shapes

SUM_TO = defop("SumToBackward", "sum_to", _sum_to_forward,
               lambda g, ans, x, shape: broadcast_to(g, x.shape), saves=("shape",),
               linear=True, rules=("{g} spread back over the summed axes",))
BROADCAST_TO = defop("ExpandBackward", "broadcast_to", np.broadcast_to,
                     lambda g, ans, x, shape: sum_to(g, x.shape), saves=("shape",), numeric=False,
                     linear=True, rules=("{g} summed over the broadcast axes",))
RESHAPE = defop("ReshapeBackward", "reshape", lambda x, shape: np.reshape(x, shape),
                lambda g, ans, x, shape: reshape(g, x.shape), saves=("shape",), numeric=False,
                linear=True, rules=("{g} reshaped back to the shape of {x}",))
TRANSPOSE = defop("TransposeBackward", "transpose", np.transpose,
                  lambda g, ans, x, axes: transpose(g, tuple(np.argsort(axes))), numeric=False,
                  linear=True, rules=("{g} with its axes put back",))
IDENTITY = defop("AliasBackward", "identity", lambda x: x, lambda g, ans, x: g, numeric=False,
                 linear=True, rules=("1",))


def sum_to(x, shape):
    x = operand(x)
    shape = tuple(shape)
    return x if x.shape == shape else run(SUM_TO, [x], {"shape": shape})


def broadcast_to(x, shape):
    x = operand(x)
    shape = tuple(int(n) for n in shape)
    if x.shape == shape:
        return x
    check_size(math.prod(shape), "broadcast_to result")
    return run(BROADCAST_TO, [x], {"shape": shape})


def reshape(x, shape):
    x = operand(x)
    shape = tuple(int(n) for n in shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one dimension can be -1, got {shape_str(shape)}")
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape and known and x.size % known == 0:
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if math.prod(shape) != x.size or any(n < 0 for n in shape):
        raise ShapeError(f"reshape: cannot reshape a value of shape {shape_str(x.shape)} "
                         f"({x.size} elements) into shape {shape_str(shape)}")
    return x if x.shape == shape else run(RESHAPE, [x], {"shape": shape})


def transpose(x, axes=None):
    x = operand(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    for a in axes:
        if not -x.ndim <= int(a) < x.ndim:
            raise ShapeError(f"transpose: axis {int(a)} is out of range for a value with "
                             f"{x.ndim} dimension{'s' if x.ndim != 1 else ''}")
    axes = tuple(int(a) % x.ndim for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the "
                         f"{x.ndim} axes of a value of shape {shape_str(x.shape)}")
    return run(TRANSPOSE, [x], {"axes": axes})


def identity(x):
    return run(IDENTITY, [x])


@public("flatten", "ravel", op=RESHAPE,
        help="x with the axes start_dim to end_dim (all by default) merged into one "
             "(PyTorch's flatten).",
        example="x = ones(2, 3, 4)\nprint(flatten(x).shape, flatten(x, start_dim=1).shape)\n"
                "# (24,) (2, 12)")
def flatten(x, start_dim=0, end_dim=-1):
    """The axes start_dim..end_dim (all by default) merged into one (PyTorch)."""
    x = operand(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    first, last = _single_axis(x, start_dim), _single_axis(x, end_dim)
    if first > last:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for a value of shape {shape_str(x.shape)}")
    merged = math.prod(x.shape[first:last + 1])
    return reshape(x, x.shape[:first] + (merged,) + x.shape[last + 1:])


@public("squeeze", op=RESHAPE, help="x without its axes of length 1 (or only the ones given).",
        example="print(squeeze(ones(1, 3, 1)).shape)\n# (3,)")
def squeeze(x, axis=None):
    x = operand(x)
    axes = norm_axis(axis, x.ndim)
    if axes is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} of shape {shape_str(x.shape)} "
                             f"has length {x.shape[a]}, not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


@public("expand_dims", "unsqueeze", op=RESHAPE,
        help="x with a new axis of length 1 at position axis.",
        example="x = [1, 2, 3]\nprint(expand_dims(x, 0).shape, unsqueeze(x, -1).shape)\n"
                "# (1, 3) (3, 1)")
def expand_dims(x, axis):
    x = operand(x)
    ndim = x.ndim + 1
    a = int(axis)
    if not -ndim <= a < ndim:
        raise ShapeError(f"expand_dims: axis {a} is out of range for the result's {ndim} dimensions")
    shape = list(x.shape)
    shape.insert(a % ndim, 1)
    return reshape(x, tuple(shape))


def _slice_along(ndim, axis, index):
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


CONCAT = defop("CatBackward", "concat", lambda *xs, axis, offsets: np.concatenate(xs, axis=axis),
               lambda g, ans, x, axis, offsets, index:
                   getitem(g, _slice_along(g.ndim, axis, slice(offsets[index], offsets[index + 1]))),
               saves=(None,), variadic=True, numeric=False, linear=True,
               rules=("the slice of {g} where {x} was placed",))
STACK = defop("StackBackward", "stack", lambda *xs, axis: np.stack(xs, axis=axis),
              lambda g, ans, x, axis, index: getitem(g, _slice_along(g.ndim, axis, index)),
              saves=(None,), variadic=True, numeric=False, linear=True,
              rules=("the slice of {g} where {x} was placed",))


def concat(xs, axis=0):
    xs = [operand(x) for x in xs]
    if not xs:
        raise EvalError("concat needs at least one value")
    if any(x.ndim == 0 for x in xs):
        raise ShapeError("concat: scalars (0-d values) cannot be joined; use stack")
    check_size(sum(x.size for x in xs), "the result of concat")
    axis = _single_axis(xs[0], axis)
    offsets = tuple(np.cumsum([0] + [x.shape[axis] if x.ndim > axis else 0 for x in xs]).tolist())
    return run(CONCAT, xs, {"axis": axis, "offsets": offsets})


def stack(xs, axis=0):
    xs = [operand(x) for x in xs]
    if not xs:
        raise EvalError("stack needs at least one value")
    ndim = xs[0].ndim + 1
    a = int(axis)
    if not -ndim <= a < ndim:
        raise ShapeError(f"stack: axis {a} is out of range for the result's {ndim} dimensions")
    check_size(sum(x.size for x in xs), "the result of stack")
    return run(STACK, xs, {"axis": a % ndim})


# ------------------------------------------------------------------ creation

def _linspace_weights(g, num):
    """How much each point moves with the stop: i / (num - 1), numpy's
    spacing (the start moves each point by 1 minus that)."""
    return np.arange(num, dtype=g.dtype) / (num - 1) if num > 1 else np.zeros(1, g.dtype)


LINSPACE = defop("LinspaceBackward", "linspace",
                 lambda start, stop, num: np.linspace(start, stop, num, dtype=MODE.dtype),
                 lambda g, ans, start, stop, num: sum_(g * (1.0 - _linspace_weights(g, num))),
                 lambda g, ans, start, stop, num: sum_(g * _linspace_weights(g, num)),
                 linear=True, rules=("1 - i/(num-1) for point i", "i/(num-1) for point i"))


def linspace(start, stop, num=50):
    """`num` evenly spaced numbers from start to stop, both included;
    differentiable in both ends."""
    ends = []
    for end, what in ((start, "start"), (stop, "stop")):
        end = operand(end)
        if end.size != 1:
            raise ShapeError(f"linspace: {what} must be a single number, got shape "
                             f"{shape_str(end.shape)}")
        ends.append(reshape(end, ()))
    if num < 0:
        raise EvalError(f"linspace: num must not be negative, got {num}")
    check_size(num, "linspace result")
    return run(LINSPACE, ends, {"num": int(num)})


# ------------------------------------------------------------------ indexing

def _scatter_forward(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    # add.at takes every index form (a bare int or array, a tuple, a mask)
    # and adds up repeated indices, where `out[index] = g` keeps the last.
    np.add.at(out, index, g)
    return out


GETITEM = defop("IndexBackward", "indexing", lambda x, index: x[index],
                lambda g, ans, x, index: scatter(g, index, x.shape), saves=("shape",), numeric=False,
                linear=True, rules=("{g} put back where the elements were taken (repeats add up)",))
SCATTER = defop("IndexPutBackward", "index scatter", _scatter_forward,
                lambda g, ans, x, index, shape: getitem(g, index), linear=True,
                rules=("{g} at the index",))


def _gathered_size(shape, index) -> int:
    """How many elements `x[index]` has, from the shapes alone: index arrays
    broadcast together (a mask counts as its number of True elements), and
    slices and untouched axes multiply in."""
    items = index if isinstance(index, tuple) else (index,)
    advanced, size, axis = [], 1, 0
    taken = sum(w.ndim if _is_mask(w) else 1 for w in items
                if w is not None and w is not Ellipsis)
    for w in items:
        if w is None:
            continue
        if w is Ellipsis:
            size *= math.prod(shape[axis:axis + len(shape) - taken])
            axis += len(shape) - taken
        elif _is_mask(w):
            advanced.append((int(np.count_nonzero(w)),))
            axis += w.ndim
        elif isinstance(w, np.ndarray):
            advanced.append(w.shape)
            axis += 1
        elif isinstance(w, slice):
            size *= len(range(*w.indices(shape[axis])))
            axis += 1
        else:
            axis += 1
    size *= math.prod(shape[axis:])
    return size * math.prod(np.broadcast_shapes(*advanced))


def _is_mask(w) -> bool:
    return isinstance(w, np.ndarray) and w.dtype.kind == "b"


def getitem(x, index):
    """`x[index]` where index is a tuple of ints, slices and integer/bool arrays."""
    x = operand(x)
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(w, np.ndarray) for w in items):   # a gather can outgrow x
        try:
            check_size(_gathered_size(x.shape, index), "the result of indexing")
        except (ValueError, IndexError):
            pass        # index arrays that do not broadcast: numpy says so below
    try:
        return run(GETITEM, [x], {"index": index})
    except IndexError as exc:
        raise ShapeError(f"index out of range for shape {shape_str(x.shape)}: {exc}") from None


def scatter(g, index, shape):
    return run(SCATTER, [operand(g)], {"index": index, "shape": tuple(shape)})


# ------------------------------------------------------------ linear algebra

def _matmul_vjp_a(g, ans, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if a.ndim == 1:
        return squeeze(matmul(b, expand_dims(g, -1)), -1)
    if b.ndim == 1:
        return expand_dims(g, -1) * b
    return matmul(g, swap_last(b))


def _matmul_vjp_b(g, ans, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        return expand_dims(a, -1) * expand_dims(g, -2)
    if b.ndim == 1:
        return squeeze(matmul(swap_last(a), expand_dims(g, -1)), -1)
    return matmul(swap_last(a), g)


def _product_shape(a, b):
    """The shape of matmul(a, b), from the shapes (None if they do not fit:
    numpy then says why)."""
    sa, sb = a.shape, b.shape
    rows = sa[-2:-1] if len(sa) >= 2 else ()
    cols = sb[-1:] if len(sb) >= 2 else ()
    try:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        return None
    return batch + rows + cols


def _check_aligned(label, a, b):
    """A product's inner dimensions must agree: said here from the shapes,
    not read from numpy's message."""
    if a.ndim == 0 or b.ndim == 0:
        if label == "dot":
            return      # np.dot of a number scales
        raise ShapeError(f"{label}: shapes {shape_str(a.shape)} and {shape_str(b.shape)} "
                         "are not aligned (inner dimensions differ)")
    inner = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if a.shape[-1] != inner:
        raise ShapeError(f"{label}: shapes {shape_str(a.shape)} and {shape_str(b.shape)} "
                         "are not aligned (inner dimensions differ)")


def _matmul_forward(a, b):
    _check_aligned("'@'", a, b)
    shape = _product_shape(a, b)
    if shape is not None:
        check_size(math.prod(shape), "the result of '@'")
    return np.matmul(a, b)


def _dot_forward(a, b):
    _check_aligned("dot", a, b)
    rows = a.shape[:-1]
    cols = b.shape[:-2] + b.shape[-1:] if b.ndim >= 2 else ()
    check_size(math.prod(rows + cols), "the result of dot")
    return np.dot(a, b)


_PRODUCT_RULES = ("{g} @ {b}.T (outer({g}, {b}) if {b} is a vector; {g}*{b} if both are)",
                  "{a}.T @ {g} (outer({a}, {g}) if {a} is a vector; {g}*{a} if both are)")
MATMUL = defop("MmBackward", "'@'", _matmul_forward, _matmul_vjp_a, _matmul_vjp_b,
               saves=("value", "value"), reads=((1,), (0,)), linear="each", rules=_PRODUCT_RULES)
DOT = defop("DotBackward", "dot", _dot_forward, _matmul_vjp_a, _matmul_vjp_b,
            saves=("value", "value"), reads=((1,), (0,)), linear="each", rules=_PRODUCT_RULES)
OUTER = defop("OuterBackward", "outer", np.outer,
              lambda g, ans, a, b: reshape(matmul(g, flatten(b)), a.shape),
              lambda g, ans, a, b: reshape(matmul(transpose(g), flatten(a)), b.shape),
              saves=("value", "value"), reads=((1,), (0,)), linear="each",
              rules=("{g} @ {b}", "{g}.T @ {a}"))


@public("matmul", "mm", op=MATMUL,
        help="The matrix product a @ b, with numpy's meaning for vectors (a 1-d operand is a "
             "row or a column) and for stacks of matrices (the leading axes broadcast).",
        example="a = [[1, 2], [3, 4]]\nprint(matmul(a, [1, 1]), a @ a)\n"
                "# [3, 7] [[7, 10], [15, 22]]")
def matmul(a, b):
    a, b = operand(a), operand(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"'@': operands must have at least 1 dimension, got shapes "
                         f"{shape_str(a.shape)} and {shape_str(b.shape)} (use '*' for scalars)")
    return run(MATMUL, [a, b])


@public("dot", op=DOT, help="numpy's dot: the inner product of two vectors, the matrix "
                           "product of matrices; for N-d values the sum over a's last axis and "
                           "b's second-to-last.",
        example="print(dot([1, 2, 3], [4, 5, 6]))\n# 32")
def dot(a, b):
    """numpy's dot: for N-d values, the sum over a's last axis and b's
    second-to-last (b's only axis when it is 1-d)."""
    a, b = operand(a), operand(b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return run(DOT, [a, b])
    if b.ndim == 1:
        return matmul(a, b)
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"dot: shapes {shape_str(a.shape)} and {shape_str(b.shape)} are "
                         f"not aligned: {a.shape[-1]} (last axis) != {b.shape[-2]} "
                         "(second-to-last axis)")
    # As one matrix product: a's rows against b's columns, b's other axes
    # moved behind its contracted one.
    n = a.shape[-1]
    rows = reshape(a, (-1, n))
    cols = reshape(transpose(b, (b.ndim - 2,) + tuple(range(b.ndim - 2)) + (b.ndim - 1,)),
                   (n, -1))
    return reshape(matmul(rows, cols), a.shape[:-1] + b.shape[:-2] + b.shape[-1:])


@public("outer", op=OUTER, help="The outer product: the matrix of a[i] * b[j] (both flattened).",
        example="outer([1, 2], [1, 10, 100])\n# [[1, 10, 100], [2, 20, 200]]")
def outer(a, b):
    a, b = operand(a), operand(b)
    check_size(a.size * b.size, "the result of outer")
    return run(OUTER, [a, b])


def _square_matrix(name, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{name}: needs a square matrix, got shape {shape_str(a.shape)}")


def _linalg(name, fn):
    def forward(*args):
        try:
            return fn(*args)
        except np.linalg.LinAlgError as exc:
            raise EvalError(f"{name}: the matrix is singular" if "ingular" in str(exc)
                            else f"{name}: {exc}") from None
    return forward


def _det_vjp(g, ans, a):
    # d det(a)/da is the cofactor matrix: det(a) inv(a)ᵀ where a is
    # invertible; from the adjugate itself where it is not (PyTorch).
    g = expand_dims(expand_dims(g, -1), -1)
    try:
        np.linalg.inv(raw(a))
    except np.linalg.LinAlgError:
        return g * _cofactors(a)
    return g * expand_dims(expand_dims(ans, -1), -1) * swap_last(inv(a))


def _cofactors(a):
    """The cofactor matrix of (a batch of) square matrices, singular ones
    included: entry (i, j) is (-1)^(i+j) times the determinant of a without
    row i and column j. All n² minors go to det at once, as one gather, so a
    recorded backward can differentiate it again. A large raw one takes the
    SVD a = U S Vᵀ instead: det(U) det(V) U diag(∏_{j≠i} s_j) Vᵀ."""
    n = a.shape[-1]
    if type(a) is not Tensor and n > 16:    # n⁴ numbers of minors: too many
        u, s, vt = np.linalg.svd(a)
        sign = np.linalg.det(u) * np.linalg.det(vt)
        others = _product_of_others(s, (s.ndim - 1,))
        return (sign[..., None, None] * u * others[..., None, :]) @ vt
    rest = np.array([[k for k in range(n) if k != i] for i in range(n)], dtype=np.intp)
    rest = rest.reshape(n, n - 1)
    minors = getitem(a, (Ellipsis, rest[:, None, :, None], rest[None, :, None, :]))
    signs = (-1.0) ** np.add.outer(np.arange(n), np.arange(n))
    return det(minors) * signs.astype(a.dtype)


def _solve_transposed(g, a, b):
    """The gradient for b: solve(aᵀ, g). A vector b solved against a batch
    of matrices gives a batch of vectors, which solve would read as one
    matrix, so those go in as columns."""
    if b.ndim == 1 and a.ndim > 2:
        return squeeze(solve(swap_last(a), expand_dims(g, -1)), -1)
    return solve(swap_last(a), g)


def _solve_vjp_a(g, ans, a, b):
    gb = _solve_transposed(g, a, b)
    if b.ndim == 1:
        return neg(expand_dims(gb, -1) * expand_dims(ans, -2))
    return neg(matmul(gb, swap_last(ans)))


def _matrix_block(a, **_):
    return (a.ndim - 2, a.ndim - 1), False


def _solve_jvp_a(t, ans, a, b):
    # d solve(a, b) = -solve(a, da @ x), x = solve(a, b)
    if b.ndim == 1:     # x as a column, so a batch of them is not read as one matrix
        return neg(squeeze(solve(a, matmul(t, expand_dims(ans, -1))), -1))
    return neg(solve(a, matmul(t, ans)))


INV = defop("InverseBackward", "inv", _linalg("inv", np.linalg.inv),
            lambda g, ans, a: neg(matmul(swap_last(ans), matmul(g, swap_last(ans)))), ans=True,
            rules=("-inv({a}).T @ {g} @ inv({a}).T",),
            jvps=(lambda t, ans, a: neg(matmul(ans, matmul(t, ans))),))
DET = defop("DetBackward", "det", _linalg("det", np.linalg.det), _det_vjp,
            saves=("value",), ans=True, rules=("det({a})*inv({a}).T (the cofactors)",),
            jvps=(_through_gradient(_det_vjp, _matrix_block),))
SOLVE = defop("SolveBackward", "solve", _linalg("solve", np.linalg.solve),
              _solve_vjp_a, lambda g, ans, a, b: _solve_transposed(g, a, b),
              saves=("value", "shape"), ans=True,
              rules=("-solve({a}.T, {g}) @ solve({a}, {b}).T", "solve({a}.T, {g})"),
              jvps=(_solve_jvp_a, lambda t, ans, a, b: solve(a, t)))
TRACE = defop("TraceBackward", "trace", np.trace,
              lambda g, ans, a: g * np.eye(*a.shape, dtype=a.dtype), saves=("shape",),
              linear=True, rules=("1 on the diagonal, 0 elsewhere",))


def _logabsdet_vjp(g, ans, a):
    # d log|det a| / da = inv(a)ᵀ; at a singular matrix there is none.
    return expand_dims(expand_dims(g, -1), -1) * swap_last(inv(a))


LOGABSDET = defop("SlogdetBackward", "slogdet",
                  lambda a: _linalg("slogdet", np.linalg.slogdet)(a)[1], _logabsdet_vjp,
                  saves=("value",), rules=("inv({a}).T",),
                  jvps=(_through_gradient(_logabsdet_vjp, _matrix_block),))


@public("slogdet", op=LOGABSDET,
        help="(sign, logabsdet): the sign of the determinant of a square matrix and the "
             "logarithm of its absolute value (numpy, PyTorch). The sign has no gradient.",
        convention="at a singular matrix (logabsdet = -inf) the gradient is an error",
        example="sign, logdet = slogdet([[2, 0], [0, 3]])\nprint(sign, logdet)\n"
                "# 1 1.791759469228055")
def slogdet(a):
    """(sign, log|det a|), numpy's and PyTorch's: the sign is a constant
    (piecewise constant, no gradient); the gradient flows through the log."""
    a = operand(a)
    _square_matrix("slogdet", a)
    sign = np.linalg.slogdet(raw(a))[0]
    return (Tensor(sign) if type(a) is Tensor else sign), run(LOGABSDET, [a])


@public("inv", op=INV, help="The inverse of a square matrix (of each one, for a stack); a "
                           "singular matrix is an error.",
        example="inv([[2, 0], [0, 4]])\n# [[0.5, 0], [0, 0.25]]")
def inv(a):
    a = operand(a)
    _square_matrix("inv", a)
    return run(INV, [a])


@public("det", op=DET, help="The determinant of a square matrix (of each one, for a stack).",
        convention="at a singular matrix the gradient is still the matrix of cofactors "
                   "(PyTorch)",
        example="det([[1, 2], [3, 4]])\n# -2.0000000000000004")
def det(a):
    a = operand(a)
    _square_matrix("det", a)
    return run(DET, [a])


@public("solve", op=SOLVE, help="x such that a @ x = b, for a square matrix a: faster and more "
                               "exact than inv(a) @ b.",
        example="solve([[2, 0], [0, 4]], [2, 2])\n# [1, 0.5]")
def solve(a, b):
    a, b = operand(a), operand(b)
    _square_matrix("solve", a)
    if b.shape[0 if b.ndim == 1 else -2:][:1] != a.shape[-1:]:
        raise ShapeError(f"solve: right-hand side of shape {shape_str(b.shape)} does not "
                         f"match the matrix of shape {shape_str(a.shape)}")
    return run(SOLVE, [a, b])


@public("trace", op=TRACE, help="The sum of the diagonal of a matrix; for N-d values numpy's: "
                               "of the diagonals along the first two axes.",
        example="trace([[1, 2], [3, 4]])\n# 5")
def trace(a):
    """The sum of the diagonal; for N-d values numpy's meaning: the
    diagonals of the 2-d slices along the first two axes, shape a.shape[2:]."""
    a = operand(a)
    if a.ndim < 2:
        raise ShapeError(f"trace: needs at least 2 dimensions, got shape {shape_str(a.shape)}")
    if a.ndim == 2:
        return run(TRACE, [a])
    n = min(a.shape[0], a.shape[1])
    moved = transpose(a, tuple(range(2, a.ndim)) + (0, 1))
    diagonal = getitem(moved, (Ellipsis, np.arange(n), np.arange(n)))
    return sum_(diagonal, axis=-1)


# ------------------------------------------------- operator sugar for VJPs

Tensor.__add__ = lambda a, b: call(ADD, a, b)
Tensor.__radd__ = lambda a, b: call(ADD, b, a)
Tensor.__sub__ = lambda a, b: call(SUB, a, b)
Tensor.__rsub__ = lambda a, b: call(SUB, b, a)
Tensor.__mul__ = lambda a, b: call(MUL, a, b)
Tensor.__rmul__ = lambda a, b: call(MUL, b, a)
Tensor.__truediv__ = lambda a, b: call(DIV, a, b)
Tensor.__rtruediv__ = lambda a, b: call(DIV, b, a)
Tensor.__pow__ = lambda a, b: call(POW, a, b)
Tensor.__rpow__ = lambda a, b: call(POW, b, a)
Tensor.__matmul__ = lambda a, b: matmul(a, b)
Tensor.__neg__ = lambda a: call(NEG, a)
Tensor.__gt__ = lambda a, b: greater(a, b)
Tensor.__lt__ = lambda a, b: less(a, b)
Tensor.__ge__ = lambda a, b: greater_equal(a, b)
Tensor.__le__ = lambda a, b: less_equal(a, b)
Tensor.__eq__ = lambda a, b: equal(a, b)
Tensor.__ne__ = lambda a, b: not_equal(a, b)
Tensor.__hash__ = object.__hash__
