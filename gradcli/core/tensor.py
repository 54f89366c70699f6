"""Tensors that record the operations applied to them.

A `Tensor` wraps a numpy array. When recording is on and an operand is
tracked, `apply` adds one `Node` to the graph: the op, the parents to send
gradients to, and only the values its VJP needs. Leaves (tensors marked with
`attach_grad`) are parents themselves; nothing else refers back to tensors,
so a graph dies with the last tensor that reaches it.
"""

from __future__ import annotations


import math
import os
import time

import numpy as np

from ..errors import GradError, LimitError, NumericError, ShapeError, Span
from .defaults import MAX_ELEMENTS
from .heap import keep_freed_memory


class Mode:
    """Process-wide switches of the core (one run of a program at a time)."""

    grad_enabled = True      # record ops on tracked values
    training = False         # is_training(): true only inside `with record:`
    dtype = np.float64       # dtype of new arrays
    max_elements = MAX_ELEMENTS
    site = None              # opaque tag of the code now running, kept on nodes
    detect_nan = False
    nan_reports: list = []   # messages about non-finite values made in backward
    backward_node = None     # the node whose VJPs are running, if any
    max_memory = None        # bytes of process memory a run may use (None: no limit)
    deadline = None          # time.monotonic() by which a run must end (None: none)
    timeout = None           # the --timeout it came from, for the message
    forward = 0              # > 0 while jvp runs: ops carry tangents (forward.py)


MODE = Mode()


class Shape:
    """Stands in for an input whose VJP needs only its shape and dtype."""

    __slots__ = ("shape", "ndim", "dtype")

    def __init__(self, data):
        self.shape = data.shape
        self.ndim = data.ndim
        self.dtype = data.dtype


class Node:
    """One recorded application of an op: what backward needs from it."""

    # `tangent` (forward mode, set only then): the output's tangent, which a
    # recorded backward needs beside `ans`. `notes` (set only under
    # `noting_inputs`, for `gradcli graph`): a `Notes`. Unset slots cost no
    # time, and read with getattr(node, "notes", None).
    __slots__ = ("op", "parents", "saved", "versions", "params", "ans",
                 "in_shapes", "freed", "site", "retained", "tangent", "notes")

    def __init__(self, op, parents, saved, versions, params, ans, in_shapes):
        self.op = op
        self.parents = parents      # per input: Node, leaf Tensor, or None
        self.saved = saved          # per input: Tensor, Shape, or None
        self.versions = versions    # per saved Tensor: its version when saved
        self.params = params        # static keyword arguments of the op
        self.ans = ans              # output array, kept only if the VJP uses it
        self.in_shapes = in_shapes  # per input: shape to sum the gradient to
        self.freed = False
        self.site = MODE.site
        self.retained = None        # retain_grad(): True, then the gradient (a Tensor)

    @property
    def name(self) -> str:
        return self.op.name


class Tensor:
    # `tangent` is set only in forward mode (forward.py); read it with
    # getattr(t, "tangent", None), so that no other tensor pays for it.
    __slots__ = ("data", "node", "requires_grad", "grad_req", "_grad",
                 "_version", "_written", "tangent")

    __array_ufunc__ = None      # numpy defers `ndarray * Tensor` to our operators

    def __init__(self, data, node=None):
        self.data = data
        self.node = node
        self.requires_grad = node is not None
        self.grad_req = None
        self._grad = None
        self._version = 0           # bumped by every in-place write
        self._written = None        # (site, name) of the last in-place write

    # -- facts about the value
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    @property
    def is_leaf(self) -> bool:
        return self.node is None

    @property
    def grad_fn(self) -> str | None:
        return self.node.op.name if self.node is not None else None

    @property
    def grad(self) -> "Tensor | None":
        if self._grad is None and self.node is not None and self.node.retained is not None:
            kept = self.node.retained
            return None if kept is True else kept
        return self._grad

    @property
    def keeps_grad(self) -> bool:
        """Whether `.grad` is this value's to have, even while it is None: a
        marked leaf (None until the first backward, PyTorch's spelling), or
        a computed value after retain_grad()."""
        return self.grad_req is not None or (
            self.node is not None and self.node.retained is not None)

    def __repr__(self) -> str:
        tag = f", grad_fn={self.grad_fn}" if self.node else ""
        return f"Tensor({self.data!r}{tag})"

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise ShapeError("len() of a scalar (0-d value)")
        return self.data.shape[0]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ShapeError(
                f"the truth value of a value of shape {shape_str(self.shape)} "
                "is ambiguous: a condition must hold exactly one element "
                "(use any(), all(), sum() or an index)")
        return bool(self.data.reshape(()))

    # -- marking
    def attach_grad(self, grad_req: str = "write") -> "Tensor":
        """Make this a leaf whose gradient is kept, cut from any history."""
        if grad_req not in ("write", "add", "null"):
            raise GradError(f"grad_req must be 'write', 'add' or 'null', not {grad_req!r}")
        if not np.issubdtype(self.data.dtype, np.floating):
            self.data = self.data.astype(MODE.dtype)
        if MODE.forward:
            _cut_tangent(self)
        self.node = None
        self.requires_grad = grad_req != "null"
        self.grad_req = grad_req
        # A read-only broadcast zero: no memory until a backward writes it
        # (gradients are always replaced, never written into).
        self._grad = Tensor(np.broadcast_to(np.zeros((), self.data.dtype), self.data.shape))
        return self

    def requires_grad_(self) -> "Tensor":
        """PyTorch's marking: a leaf whose `.grad` is None until the first
        backward reaches it; gradients then accumulate (grad_req "add")."""
        if self.node is None and self.requires_grad and self.grad_req == "add":
            return self     # already so: its gradient stays
        self.attach_grad("add")
        self._grad = None
        return self

    def retain_grad(self) -> None:
        """Keep the gradient that backward computes for this computed value
        (PyTorch's retain_grad); a leaf keeps its own anyway."""
        if not self.requires_grad:
            raise GradError("retain_grad: this value is not tracked, so it gets no gradient; "
                            "compute it from a value marked with requires_grad_() or "
                            "attach_grad()")
        if self.node is not None and self.node.retained is None:
            self.node.retained = True

    def set_grad(self, value: "Tensor | None") -> None:
        """`x.grad = None` (the next backward starts it afresh) or
        `x.grad = g`, on a value whose gradient is kept (PyTorch)."""
        if not self.keeps_grad:
            raise GradError("this value keeps no gradient to set: mark it with "
                            "requires_grad_() or attach_grad() first")
        if value is not None and value.shape != self.shape:
            raise ShapeError(f"a gradient of shape {shape_str(value.shape)} for a value of "
                             f"shape {shape_str(self.shape)}")
        kept = None if value is None else Tensor(value.data.astype(self.dtype))
        if self.node is not None:
            self.node.retained = True if kept is None else kept
        else:
            self._grad = kept

    def detach(self) -> "Tensor":
        return Tensor(self.data)

    def zero_grad(self) -> None:
        if self._grad is not None:
            self._grad.zero_()

    def zero_(self) -> "Tensor":
        check_writable(self)
        self.data = np.zeros_like(self.data)
        if MODE.grad_enabled and self.node is not None:
            # Recorded, the zeros are a constant: nothing flows back through
            # the history (PyTorch's ZeroBackward).
            self.node, self.requires_grad = None, False
        mark_written(self)
        return self

    # -- in place
    def current(self) -> "Tensor":
        """A tensor for this one's numbers and history as they are now: the
        operand of an in-place update recorded as a new op (`x += v`)."""
        now = Tensor(self.data, self.node)
        now.requires_grad = self.requires_grad
        if MODE.forward:
            take_tangent(now, self)
        return now

    def become(self, result: "Tensor", label: str | None = None) -> None:
        """Take `result`'s numbers and history, keeping this tensor's
        identity (every name bound to it sees the update, as in PyTorch)."""
        if result.shape != self.shape:
            raise ShapeError(
                f"in-place update: result of shape {shape_str(result.shape)} "
                f"does not fit the target of shape {shape_str(self.shape)}")
        self.data = result.data.astype(self.dtype, copy=False)
        self.node, self.requires_grad = result.node, result.requires_grad
        if MODE.forward:
            take_tangent(self, result)
        mark_written(self, label)

    def assign(self, new_data, label: str | None = None) -> None:
        """Replace the numbers of this tensor, keeping its identity.

        Arrays are never shared between tensors through a write: the new
        numbers are a fresh array, so views and saved values stay intact.
        """
        check_writable(self)
        new_data = np.asarray(new_data)
        if new_data.shape != self.data.shape:
            raise ShapeError(
                f"in-place update: result of shape {shape_str(new_data.shape)} "
                f"does not fit the target of shape {shape_str(self.data.shape)}")
        # The history stays as it was (a write under no_grad is invisible to
        # the graph, as in PyTorch), and so does the tangent: forward mode
        # agrees with reverse.
        self.data = new_data.astype(self.data.dtype, copy=False)
        mark_written(self, label)


def _cut_tangent(t: Tensor) -> None:
    """attach_grad in forward mode: a value computed from the variable is
    cut from its history, tangent included; the variable keeps its own."""
    from .forward import SEED
    if t.node is not SEED:
        _drop_tangent(t)


def take_tangent(t: Tensor, source) -> None:
    """t carries source's tangent (a Tensor's, or a Node's: its output's), or none."""
    tangent = getattr(source, "tangent", None)
    if tangent is not None:
        t.tangent = tangent
    else:
        _drop_tangent(t)


def _drop_tangent(t: Tensor) -> None:
    try:
        del t.tangent
    except AttributeError:
        pass


def shape_str(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def check_writable(t: Tensor, label: str | None = None) -> None:
    """Refuse to change a tracked leaf while recording (PyTorch's rule);
    `label` names it in the message.

    Writes into values a graph saved are caught later, by backward, through
    the version counter (see `mark_written`): the graph may never be used.
    """
    if t.requires_grad and t.node is None and MODE.grad_enabled:
        who = f"'{label}', a leaf" if label else "a leaf"
        raise GradError(
            f"cannot update {who} that has a gradient attached while recording; "
            "do it inside `with no_grad:`")


def mark_written(t: Tensor, label: str | None = None) -> None:
    t._version += 1
    t._written = (MODE.site, label)


def check_versions(node):
    """Backward's half of the version counter: a value the node saved was
    changed in place since (`mark_written`), so refuse to use it."""
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


def site_str(site) -> str:
    line = getattr(site, "line", None)
    return f"line {line}" if line is not None else str(site)


def check_size(n: int, what: str = "array") -> None:
    if n > MODE.max_elements:
        raise LimitError(
            f"{what} of {n:,} elements exceeds the limit of "
            f"{MODE.max_elements:,} (raise it with --max-elements)")
    if MODE.max_memory is not None and n >= _BIG:
        check_memory(n * np.dtype(MODE.dtype).itemsize, what)


_BIG = 1 << 18      # arrays of this many numbers and more are checked against --max-memory
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def memory_in_use() -> int | None:
    """This process's resident memory in bytes (None where it cannot be read):
    every live array and the recorded graph are in it."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def gigabytes(n: int) -> str:
    return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"


def check_memory(more: int = 0, what: str | None = None) -> None:
    """Refuse to go past --max-memory: memory in use now, plus `more` bytes
    that `what` is about to allocate."""
    limit, used = MODE.max_memory, memory_in_use()
    if limit is None or used is None or used + more <= limit:
        return
    if more:
        raise LimitError(f"{what} would need {gigabytes(more)} more memory, taking the run to "
                         f"{gigabytes(used + more)}, over the --max-memory limit of "
                         f"{gigabytes(limit)} (raise it with --max-memory)")
    raise LimitError(f"memory in use reached {gigabytes(used)}, over the --max-memory limit "
                     f"of {gigabytes(limit)}: live arrays and the recorded graph of every "
                     "operation on tracked values count; keep fewer values, compute under "
                     "`with no_grad:`, or raise --max-memory")


_TIMED = 1 << 14    # an op on this many numbers takes ~10 µs or more: the clock is looked at


def _after_big_op(size: int) -> None:
    """The budgets an op on many numbers may have used up: --timeout (the
    statement counter looks at it only every 1024 statements, too seldom
    for a loop of costly ones) and, past `_BIG`, --max-memory. The first
    one also tells the C heap to keep freed arrays' memory (heap.py)."""
    keep_freed_memory()
    check_time()
    if size >= _BIG and MODE.max_memory is not None:
        check_memory()


def check_time() -> None:
    if MODE.deadline is not None and time.monotonic() > MODE.deadline:
        raise LimitError(f"program stopped by --timeout after {MODE.timeout:g} s")


def _nan_watch(kind, flag):
    """numpy's floating-point callback: report (or refuse) a NaN or Inf that
    a VJP creates, naming its op. In the forward pass a NaN or Inf is just a
    value, unless --detect-nan asks to stop there too (the interpreter then
    gives the error the position of the expression that made it).

    numpy raises its flags only where a NaN or Inf is made, not where one is
    passed on, so watching costs nothing on clean runs.
    """
    node = MODE.backward_node
    if node is None:        # the forward pass: an error only when asked for
        if MODE.detect_nan:
            raise NumericError(f"{kind} produced a non-finite value (NaN or Inf) "
                               "(--detect-nan)")
        return
    where = f" at {site_str(node.site)}" if node.site is not None else ""
    message = f"{kind} produced a non-finite value (NaN or Inf) in {node.op.name}{where}"
    if MODE.detect_nan:
        raise NumericError(message, node.site if isinstance(node.site, Span) else None)
    if message not in MODE.nan_reports:
        MODE.nan_reports.append(message)


class watching_floating_point:
    """`with watching_floating_point():` a run, or a backward: inside, numpy's
    floating-point errors go to `_nan_watch`; numpy's own setting is back on
    exit. Underflow makes zeros or subnormals, not NaN/Inf: it is no finding.
    Nested (a backward inside a run) it does nothing, because numpy's
    errstate costs about 3 µs, a tenth of a small program's backward."""

    __slots__ = ("state",)
    active = False

    def __enter__(self):
        cls = watching_floating_point
        self.state = None if cls.active else np.errstate(all="call", under="ignore",
                                                         call=_nan_watch)
        if self.state is not None:
            self.state.__enter__()
            cls.active = True

    def __exit__(self, *exc):
        if self.state is not None:
            watching_floating_point.active = False
            self.state.__exit__(*exc)


_BOOL = np.dtype(bool)


def _counted(args):
    """Boolean operands as 0/1 in the run's dtype (SPEC 1), for ops that
    compute with their operands' numbers."""
    return [Tensor(a.data.astype(MODE.dtype)) if a.data.dtype is _BOOL else a for a in args]


def apply(op, args, params=None, consumable=False):
    """Run `op` forward on tensors `args`, recording a node if needed.

    `consumable`: args[0] is a temporary nobody else holds (the result of
    an operator just evaluated, as in `exp(-x * x)` or `s * x + e`); the op
    may then write its result into that buffer (see `_into_first`), as
    numpy does for its own temporaries."""
    # One and two operands spelled out: this is the interpreter's hot path,
    # and a loop or comprehension costs a frame.
    count = len(args)
    if count == 2:
        data = (args[0].data, args[1].data)
        if op.numeric and (data[0].dtype is _BOOL or data[1].dtype is _BOOL):
            args, consumable = _counted(args), False
            data = (args[0].data, args[1].data)
        if data[0].size * data[1].size > MODE.max_elements:     # a cheap bound first
            _check_broadcast(op, *args)
    elif count == 1:
        if op.numeric and args[0].data.dtype is _BOOL:
            args, consumable = _counted(args), False
        data = (args[0].data,)
    else:
        if op.numeric:
            args = _counted(args)
        data = [a.data for a in args]
        if math.prod(d.size for d in data) > MODE.max_elements:
            _check_broadcast(op, *args)
    try:
        if consumable and not params and _into_first(op, args):
            out = op.forward(*data, out=data[0])
        elif params:
            out = op.forward(*data, **params)
        else:
            out = op.forward(*data)
    except ValueError as exc:
        raise op_shape_error(op, args, exc) from None
    except MemoryError:
        raise LimitError(f"{op.label}: the result does not fit in memory") from None
    if out.size > MODE.max_elements:
        check_size(out.size, f"the result of {op.label}")
    if out.size >= _TIMED or data[0].size >= _TIMED:
        _after_big_op(out.size)
    if MODE.grad_enabled and op.vjps is not None:
        if MODE.forward:
            from .forward import dual
            return dual(op, args, params, out)
        if count == 2:
            if args[0].requires_grad or args[1].requires_grad:
                return Tensor(out, record(op, args, params, out))
            return Tensor(out)
        for a in args:
            if a.requires_grad:
                return Tensor(out, record(op, args, params, out))
    return Tensor(out)


def _into_first(op, args):
    """May `op` write its result over args[0]'s buffer? Its forward must be a
    ufunc (they take `out=`) that keeps neither that input for its VJP nor,
    through the op that made it, as an `ans`; the buffer must be its own
    memory, and the result must have its shape and dtype. It is what keeps
    the peak memory of `sum(sin(x)*x + exp(-x*x)*3)` at 1.25x numpy's (1.5x
    without). Below 4096 numbers a new array costs less than these checks."""
    data = args[0].data
    node = args[0].node
    if (type(data) is not np.ndarray or data.size < 4096 or data.base is not None
            or not data.flags.writeable or data.dtype.kind != "f"
            or not isinstance(op.forward, np.ufunc) or op.variadic or not op.numeric
            or (op.saves and op.saves[0] == "value")     # no VJP: it saves nothing
            or (node is not None and node.ans is not None)):
        return False
    for b in args[1:]:
        other = b.data
        if other.dtype != data.dtype or (other.shape != data.shape and other.ndim):
            return False
    return True


def _check_broadcast(op, *args):
    """Refuse a broadcast result over the limit before numpy allocates it."""
    try:
        shape = np.broadcast_shapes(*[a.data.shape for a in args])
    except ValueError:
        return                  # the op itself reports the mismatch
    size = 1
    for n in shape:
        size *= n
    check_size(size, f"the result of {op.label}")


_NO_SAVES = [(None,) * n for n in range(8)]


def record(op, args, params, out):
    oshape = out.shape
    if len(args) == 2:      # most ops: spelled out, no comprehension frames
        a, b = args
        sa, sb = a.data.shape, b.data.shape
        parents = ((a.node or a) if a.requires_grad else None,
                   (b.node or b) if b.requires_grad else None)
        in_shapes = (None if sa == oshape else sa, None if sb == oshape else sb)
    elif len(args) == 1:
        a = args[0]
        sa = a.data.shape
        parents = ((a.node or a) if a.requires_grad else None,)
        in_shapes = (None if sa == oshape else sa,)
    else:
        parents = tuple([(a.node or a) if a.requires_grad else None for a in args])
        in_shapes = tuple([None if a.data.shape == oshape else a.data.shape for a in args])
    if not op.saves_values and len(args) < 8:
        saved = _NO_SAVES[len(args)]
        versions = None
    else:
        read = _read_by(op, parents)
        saved, versions = [], []
        for i, (a, keep) in enumerate(zip(args, op.saves)):
            if keep == "value" and (read is None or i in read):
                saved.append(a)
                versions.append(a._version)
            else:   # a value no VJP that will run reads: its shape suffices
                saved.append(Shape(a.data) if keep is not None else None)
                versions.append(None)
    return Node(op, parents, saved, versions, params,
                out if op.saves_ans else None, in_shapes)


# ------------------------------------------------- drawing the graph
# `gradcli graph` shows what backward never needs: the untracked inputs of
# each op (a literal `2`, an untracked array: constants) and the names the
# program gave the values. Recording them costs time and keeps constants
# alive, so it happens only inside `noting_inputs`, which swaps the
# `record` that `apply` calls for one that also writes `node.notes`: other
# runs execute exactly the code they did before.

NOTED_NUMBERS = 6       # a constant with this many numbers or fewer keeps a copy


class Notes:
    """What graph mode keeps of a node beyond what backward needs."""

    __slots__ = ("constants", "names")

    def __init__(self, constants):
        # Per input: None for a tracked one, else (the tensor, for its
        # identity and name; a copy of its numbers if it has at most
        # NOTED_NUMBERS of them, else None). The copy is taken now: an
        # in-place write may give the tensor other numbers later.
        self.constants = constants
        self.names = []     # variable names the host saw bound to the output


def _record_noting_inputs(op, args, params, out):
    node = _record(op, args, params, out)
    node.notes = Notes(tuple(
        None if parent is not None else
        (a, a.data.copy() if a.data.size <= NOTED_NUMBERS else None)
        for parent, a in zip(node.parents, args)))
    return node


_record = record


class noting_inputs:
    """`with noting_inputs():` nodes recorded inside carry `Notes` (see
    above). Forward mode's nodes (forward.py) do not."""

    __slots__ = ("old",)

    def __enter__(self):
        global record
        self.old, record = record, _record_noting_inputs

    def __exit__(self, *exc):
        global record
        record = self.old


def _read_by(op, parents):
    """Inputs whose values the VJPs of the tracked inputs read (None: all)."""
    if op.reads is None:
        return None
    read = set()
    for reads, parent in zip(op.reads, parents):
        if parent is not None:
            read.update(reads)
    return read


def op_shape_error(op, args, exc) -> ShapeError:
    """The ShapeError for numpy's ValueError from `op`, decided from the
    shapes (products check their inner dimensions themselves, in ops)."""
    shapes = [a.data.shape for a in args]
    named = " and ".join(shape_str(s) for s in shapes)
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return ShapeError(f"{op.label}: shapes {named} do not broadcast together")
    return ShapeError(f"{op.label} on shapes {named}: {exc}")


class grad_mode:
    """`with no_grad:` (False) / `with record:` (True, training).

    A plain class: entering it sits on the interpreter's hot path, where a
    generator-based context manager costs several times more."""

    __slots__ = ("enabled", "training", "old")

    def __init__(self, enabled: bool, training: bool | None = None):
        self.enabled, self.training = enabled, training

    def __enter__(self):
        self.old = MODE.grad_enabled, MODE.training
        MODE.grad_enabled = self.enabled
        if self.training is not None:
            MODE.training = self.training

    def __exit__(self, *exc):
        MODE.grad_enabled, MODE.training = self.old


def constant(value, dtype=None) -> Tensor:
    """An untracked tensor holding `value` in the run's dtype."""
    return Tensor(np.asarray(value, dtype=dtype or MODE.dtype))


def lift(value) -> Tensor:
    return value if isinstance(value, Tensor) else constant(value)
