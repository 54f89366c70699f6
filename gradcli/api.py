"""The seam between the language and the terminal edge.

Run a program with inputs and get plain results back: printed values,
variables, gradients, finite-difference checks, the recorded graph. Nothing
here prints; errors are `GradcliError`s carrying spans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .core import autodiff, creation, defaults, engine
from .core.tensor import (MODE, NOTED_NUMBERS, Node, Tensor, check_size, noting_inputs,
                          physical_memory, shape_str, watching_floating_point)
from .errors import DataError, EvalError, GradError, NumericError, ShapeError
from .lang import ast as A
from .lang import help as lang_help
from .lang import strings
from .lang.builtins import BUILTINS, HOOKED, NAMESPACES
from .lang.ast import calls_backward, declared_inputs
from .lang.interpreter import ATTRIBUTE_NAMES, Hooks, Interpreter
from .lang.modules import top_level as importable_modules
from .lang.plots import NAMES as PLOT_BUILTINS
from .lang.plots import Figure
from .lang.parser import parse
from .lang.values import Builtin, a_type, to_tensor, type_name

DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass
class Options:
    """How to run a program. The limits' defaults are in `core.defaults`,
    which the core and the command line read too."""

    dtype: str = defaults.DTYPE
    seed: int = creation.DEFAULT_SEED
    max_steps: int = defaults.MAX_STEPS
    max_elements: int = defaults.MAX_ELEMENTS
    detect_nan: bool = False
    max_memory: Optional[int] = defaults.MAX_MEMORY
    timeout: Optional[float] = defaults.TIMEOUT


@dataclass
class Shown:
    """A value as it was when shown: arrays are snapshots."""

    value: object                 # np.ndarray for arrays, else a plain value
    grad_fn: Optional[str] = None
    is_array: bool = False
    # A leaf whose gradients accumulate (PyTorch's requires_grad_()): its
    # print says so, as PyTorch's does.
    requires_grad: bool = False


class Printed(list):
    """One `print(...)`: its values as `Shown`, with the `sep` written
    between them and the `end` written after (Python's defaults unless the
    call gave others)."""

    sep = " "
    end = "\n"


@dataclass
class Kept:
    """A value whose gradient is kept, once, under every name bound to it
    (`y = x` makes y another name of x)."""

    names: list[str]
    value: np.ndarray
    grad: Optional[np.ndarray]    # None: a PyTorch leaf that no backward has reached


@dataclass
class RunResult:
    interp: Interpreter
    book: "Bookkeeping"
    printed: list[list[Shown]]
    variables: dict[str, Shown]
    grads: dict[str, np.ndarray]
    result: Optional[Shown]
    warnings: list[str]
    plots: list[Figure] = field(default_factory=list)    # what the program drew, in order

    @property
    def kept(self) -> list[Kept]:
        return kept_gradients(self.interp)


@dataclass
class GradResult:
    value: Optional[Shown]
    values: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    head: Optional[np.ndarray]
    warnings: list[str] = field(default_factory=list)
    # For a program that runs its own backward: which backward call (index
    # into the program's backward calls) produced each variable's gradient.
    backward_index: dict[str, int] = field(default_factory=dict)


@dataclass
class CheckResult:
    """Verdicts decided once, per element (`err > atol + rtol * scale` fails):
    the worst errors alone cannot tell, so render and the CLI show `ok` as is."""

    ok: bool                      # every variable's ok
    vars: dict[str, dict]         # name -> ok, max_abs_err, max_rel_err, checked, size
    rtol: float
    atol: float


@dataclass
class GraphNode:
    label: str                    # op name (MulBackward), leaf's variable name, or "const"
    shape: tuple
    children: list["GraphNode"]
    ident: int                    # stable id within one graph
    repeat: bool = False          # already shown elsewhere in the tree
    kind: str = "op"              # "op", "leaf" (tracked, no history), "constant" (untracked)
    names: tuple = ()             # the program's variable names for this value
    value: Optional[np.ndarray] = None    # a constant's numbers, when it has few


def builtin_names() -> list[str]:
    """Every built-in function, context and namespace name, and the modules
    a program may import (for completion)."""
    return sorted(set(BUILTINS) | set(HOOKED) | NAMESPACES | set(importable_modules())
                  | set(PLOT_BUILTINS))


def help_entry(name: str) -> list[str]:
    """`gradcli help NAME`: the lines of a built-in's help (lang/help.py);
    an unknown name is an EvalError that suggests the closest one."""
    return lang_help.lines(lang_help.lookup(name))


def help_groups() -> list[tuple[str, list[list[str]], str]]:
    """The built-ins by group: (group, the names of each built-in, note)."""
    return lang_help.grouped()


def method_names() -> list[str]:
    """Names usable after a dot: built-ins with method sugar, and attributes."""
    return sorted({n for n, b in BUILTINS.items() if isinstance(b, Builtin)}
                  | set(ATTRIBUTE_NAMES))


def configure(options: Options) -> None:
    if options.dtype not in DTYPES:
        raise DataError(f"unknown dtype '{options.dtype}' (use float32 or float64)")
    MODE.dtype = DTYPES[options.dtype]
    MODE.max_elements = options.max_elements
    MODE.detect_nan = options.detect_nan
    MODE.max_memory = options.max_memory or default_max_memory()
    MODE.timeout = options.timeout
    MODE.deadline = None if options.timeout is None else time.monotonic() + options.timeout
    MODE.grad_enabled, MODE.training = True, False
    MODE.nan_reports = []
    creation.seed(options.seed)


def default_max_memory() -> Optional[int]:
    """A quarter of physical memory (SPEC 4), or no limit where unknown."""
    total = physical_memory()
    return None if total is None else total // 4


def load(source: str) -> A.Program:
    if source.startswith("\ufeff"):    # a UTF-8 byte order mark, as Python accepts
        source = source[1:]
    return parse(source)


def snapshot(value) -> Shown:
    if isinstance(value, Tensor):
        return Shown(np.asarray(value.data), value.grad_fn, True,
                     value.node is None and value.grad_req == "add")
    if isinstance(value, (np.generic,)):
        return Shown(value.item())
    if isinstance(value, list):      # a list of references: its items as they are now
        return Shown([_list_item(v) for v in value])
    if isinstance(value, tuple):     # likewise: `print((2, sum(x)))` shows numbers
        return Shown(tuple(_list_item(v) for v in value))
    if callable(value) and not isinstance(value, (str, bool, int, float, tuple)):
        return Shown(strings.text(value))      # <built-in sum>, <function f(a, b=2)>
    return Shown(value)


def _list_item(value):
    """An item of a shown list: arrays as numpy snapshots, lists recursively."""
    if isinstance(value, Tensor):
        return np.array(value.data)
    if isinstance(value, list):
        return [_list_item(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_list_item(v) for v in value)
    return snapshot(value).value


def input_array(name: str, value) -> Tensor:
    """A JSON value bound to an input: a number or a nested list of numbers
    (in the run's dtype), or of booleans only (a mask stays a mask)."""
    try:
        if _all_booleans(value):
            return Tensor(np.asarray(value, dtype=bool))
        data = np.asarray(_decode_non_finite(value), dtype=MODE.dtype)
    except (ValueError, TypeError):
        raise DataError(f"input '{name}': expected a number or a (rectangular) nested "
                        "list of numbers") from None
    return Tensor(data)


def _all_booleans(value) -> bool:
    """true/false, or a nested list of them only (a mask, given as JSON)."""
    if isinstance(value, list):
        return bool(value) and all(_all_booleans(v) for v in value)
    return isinstance(value, bool)


def _decode_non_finite(value):
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, str) and value in ("nan", "inf", "-inf", "Infinity", "-Infinity", "NaN"):
        return float(value.replace("Infinity", "inf").replace("NaN", "nan"))
    if isinstance(value, list):
        return [_decode_non_finite(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError
    return value


class Bookkeeping(Hooks):
    """What `grad`, `check` and `graph` need to know of a run, gathered as
    the interpreter reports it: the inputs (given, or their defaults) and
    the program's own backward calls."""

    def __init__(self, given: dict, track=(), on_print=None, keep_call=None,
                 placeholders=False, observer=None, note_names=False, on_plot=None):
        self.given = given                  # input values from outside, by name
        self.observer = observer            # explain: call number -> its observer
        self.placeholders = placeholders    # graph: symbols without values are 0
        # graph: each value's variable names go into its node's notes
        # (under core.tensor.noting_inputs, which gives nodes notes)
        self.reports_bindings = note_names
        self.track = set(track)             # inputs to make leaves with a gradient
        self.on_print = on_print
        self.on_plot = on_plot
        self.input_values: dict = {}        # the input tensors, as declared
        self.input_data: dict = {}          # their numbers at declaration
        # Backward calls: how many, the last (output, head), the one numbered
        # `keep_call` if asked, and for each leaf the call that last wrote it.
        self.backward_count = 0
        self.last_backward = None
        self.keep_call = keep_call
        self.kept_backward = None
        self.leaf_call: dict[int, int] = {}

    @property
    def backward_ran(self) -> bool:
        return self.backward_count > 0

    def print(self, values, sep=" ", end="\n"):
        if self.on_print is not None:
            shown = Printed(snapshot(v) for v in values)
            if (sep, end) != (" ", "\n"):
                shown.sep, shown.end = sep, end
            self.on_print(shown)

    def plot(self, figure):
        if self.on_plot is not None:
            self.on_plot(figure)

    def input(self, name, default):
        value = self.given[name] if name in self.given else super().input(name, default)
        data = to_tensor(value, f"input '{name}'").data
        if MODE.detect_nan and not np.all(np.isfinite(data)):
            raise NumericError(f"input '{name}' holds a NaN or Inf (--detect-nan)")
        if name in self.track and data.dtype.kind == "f":   # a mask or an index has no gradient
            value = Tensor(data).attach_grad()
        self.input_values[name] = value
        self.input_data[name] = data
        return value

    def bound(self, name, value):
        notes = getattr(value.node, "notes", None) if isinstance(value, Tensor) else None
        if notes is not None and name not in notes.names:
            notes.names.append(name)

    def symbol(self, name):
        if name not in self.given and self.placeholders:
            return self.input(name, lambda: 0.0)
        if name not in self.given:
            return super().symbol(name)
        return self.input(name, None)

    def backward(self, output, head, written):
        k = self.backward_count
        self.backward_count += 1
        self.last_backward = (output, head)
        if k == self.keep_call:
            self.kept_backward = self.last_backward
        for leaf in written:
            self.leaf_call[id(leaf)] = k

    def backward_observer(self):
        return None if self.observer is None else self.observer(self.backward_count)


def _prepare(program, inputs, options, track, on_print=None, keep_call=None,
             placeholders=False, record_everywhere=None, observer=None,
             note_names=False, on_plot=None):
    """A fresh interpreter for one run, and the bookkeeping it reports to.
    `record_everywhere` (default: when tracking) records outside record
    blocks too; with `observer` (explain) the run keeps each node's
    expression, and `observer(k)` gives the observer of its backward call k
    (from 0); `note_names`: see Bookkeeping."""
    configure(options)
    declared = declared_inputs(program)
    given = {name: input_array(name, value) for name, value in (inputs or {}).items()}
    if declared:
        unknown = [n for n in given if n not in declared]
        if unknown:
            raise DataError(f"unknown input '{unknown[0]}': the program declares "
                            f"{_names(declared)}")
        book = Bookkeeping(given, track, on_print, keep_call, placeholders, observer,
                           note_names, on_plot)
    else:       # no `input` lines: given values are plain variables
        book = Bookkeeping({}, (), on_print, keep_call, observer=observer,
                           note_names=note_names, on_plot=on_plot)
    # Tracking inputs, the api differentiates the result itself: the
    # program's whole computation is recorded, record blocks or not.
    if record_everywhere is None:
        record_everywhere = bool(track)
    interp = Interpreter(max_steps=options.max_steps, hooks=book,
                         record_everywhere=record_everywhere, explain=observer is not None)
    if not declared:
        for name, value in given.items():
            tracked = name in track and value.dtype.kind == "f"     # a mask stays a mask
            interp.globals.vars[name] = value.attach_grad() if tracked else value
            book.input_values[name] = value
    return interp, book


def _names(names):
    return ", ".join(f"'{n}'" for n in names) if names else "no inputs"


def _warnings() -> list[str]:
    """What this run reported on the side: NaN/Inf made during backward."""
    return list(MODE.nan_reports)


def run(program: A.Program, inputs=None, options: Options | None = None,
        on_print: Callable[[list[Shown]], None] | None = None,
        on_plot: Callable[[Figure], None] | None = None) -> RunResult:
    """Run a program; `on_print` receives each print as it happens, and
    `on_plot` each figure the program draws (lang/plots.py)."""
    options = options or Options()
    printed: list[list[Shown]] = []
    plots: list[Figure] = []

    def record_print(shown):
        printed.append(shown)
        if on_print is not None:
            on_print(shown)

    def record_plot(figure):
        plots.append(figure)
        if on_plot is not None:
            on_plot(figure)

    interp, book = _prepare(program, inputs, options, (), record_print, on_plot=record_plot)
    interp.run(program)
    return RunResult(interp, book, printed, variables_of(interp), grads_of(interp),
                     final_value(program, interp), _warnings(), plots)


def final_value(program: A.Program, interp: Interpreter) -> Optional[Shown]:
    """The value of the final statement when it is an expression with one
    (not `print(...)`, `y.backward()`, ...): what eval and the REPL show."""
    if not program.body or type(program.body[-1]) is not A.ExprStmt:
        return None
    return None if interp.last_value is None else snapshot(interp.last_value)


def variables_of(interp) -> dict[str, Shown]:
    out = {}
    for name, value in interp.globals.vars.items():
        if isinstance(value, (Tensor, int, float, bool, tuple)) and not name.startswith("_"):
            out[name] = snapshot(value)
    return out


def grads_of(interp) -> dict[str, np.ndarray]:
    """Every variable that keeps a gradient (a leaf with attach_grad)."""
    return {name: np.asarray(value._grad.data)
            for name, value in interp.globals.vars.items()
            if isinstance(value, Tensor) and value._grad is not None}


def kept_gradients(interp) -> list[Kept]:
    """Every value that keeps a gradient (a marked leaf, or a computed value
    after retain_grad), in the order of its first name."""
    by_value: dict[int, Kept] = {}
    for name, value in interp.globals.vars.items():
        if not isinstance(value, Tensor) or not value.keeps_grad or name.startswith("_"):
            continue
        if id(value) in by_value:
            by_value[id(value)].names.append(name)
            continue
        grad = value.grad
        by_value[id(value)] = Kept([name], np.asarray(value.data),
                                   None if grad is None else np.asarray(grad.data))
    return list(by_value.values())


def _wrt_names(declared, inputs, wrt):
    if wrt:
        return list(wrt)
    if declared:
        return list(declared)
    return list(inputs or {})


def _result_tensor(interp, of):
    if of:
        if of not in interp.globals.vars:
            raise DataError(f"--of: the program has no variable '{of}'")
        return to_tensor(interp.globals.vars[of], f"--of {of}")
    if interp.last_value is not None:
        return to_tensor(interp.last_value, "the program's result")
    return None


def _own_backward(interp, book, result, wrt, head) -> GradResult:
    """The gradients a program's own backward calls left in `.grad`.

    Without --wrt: every input (or, failing that, variable) that keeps a
    gradient. Each is reported with the backward call that last reached it.
    """
    if head is not None:
        raise DataError("--head cannot be used: the program runs its own backward "
                        "(remove the backward call, or its head argument)")
    if wrt is None:
        pool = book.input_values if any(
            isinstance(v, Tensor) and v._grad is not None
            for v in book.input_values.values()) else interp.globals.vars
        wrt = [n for n, v in pool.items() if isinstance(v, Tensor) and v._grad is not None]
    targets = {name: _wrt_tensor(interp, book, name) for name in wrt}
    grads = {}
    for name, t in targets.items():
        if t._grad is None:
            raise GradError(f"'{name}' has no gradient: the program never calls "
                            f"attach_grad({name})")
        grads[name] = np.asarray(t._grad.data)
    which = {name: book.leaf_call[id(t)] for name, t in targets.items()
             if id(t) in book.leaf_call}
    output, used_head = book.last_backward
    value = result if result is not None else output
    return GradResult(snapshot(value) if value is not None else None,
                      {n: np.asarray(t.data) for n, t in targets.items()}, grads,
                      None if used_head is None else to_tensor(used_head).data,
                      _warnings(), which)


def _wrt_tensor(interp, book, name) -> Tensor:
    value = book.input_values.get(name)
    if value is None:
        value = interp.globals.vars.get(name)
    if value is None:
        raise DataError(f"--wrt: the program has no variable or input '{name}'")
    if not isinstance(value, Tensor):
        raise DataError(f"--wrt: '{name}' is {a_type(value)}, not an array")
    return value


def gradient(program: A.Program, inputs=None, options: Options | None = None,
             wrt=None, of=None, head=None,
             after_run: Callable[[Interpreter], None] | None = None) -> GradResult:
    """d(head · result)/d(each wrt variable).

    A program that runs its own backward (MXNet style) reports the gradients
    that backward left in `.grad`; otherwise the result — `--of NAME` or the
    last top-level expression — is differentiated here. `after_run` is
    called with the interpreter once the program has run and its result is
    taken, before anything is differentiated here (`check --expect`
    evaluates its formulas there, in the program's final scope).
    """
    options = options or Options()
    declared = declared_inputs(program)
    names = _wrt_names(declared, inputs, wrt)
    # A program that runs its own backward marks what it differentiates.
    track = () if calls_backward(program) and of is None else _tracked(names, declared)
    interp, book = _prepare(program, inputs, options, track)
    interp.run(program)
    result = _result_tensor(interp, of)
    if after_run is not None:
        after_run(interp)
    if book.backward_ran and of is None:
        return _own_backward(interp, book, result, names if wrt else None, head)
    targets = _targets(interp, book, names, result, explicit=bool(wrt))
    head_t = None
    if head is not None:
        head_t = input_array("--head", head)
        if head_t.shape != result.shape:
            raise ShapeError(f"--head has shape {shape_str(head_t.shape)} but the result "
                             f"has shape {shape_str(result.shape)}")
    if result.requires_grad:
        found = engine.run_backward([result], [head_t], inputs=list(targets.values()))
    else:
        found = [None] * len(targets)
    grads = {name: (np.asarray(g.data) if g is not None else np.zeros_like(t.data))
             for (name, t), g in zip(targets.items(), found)}
    return GradResult(snapshot(result), {n: np.asarray(t.data) for n, t in targets.items()},
                      grads, None if head_t is None else head_t.data, _warnings())


NOTHING_TO_DIFFERENTIATE = ("nothing to differentiate with respect to: declare an input "
                            "(`input x`), bind one with --set, or name one with --wrt")


def _targets(interp, book, names, result, explicit=True) -> dict:
    """The variables to differentiate by, each checked to be tracked. Not
    `explicit` (every declared input by default), a boolean or integer
    input is left out: a mask or an index, it has no gradient."""
    targets = {name: _wrt_tensor(interp, book, name) for name in names}
    for name, t in list(targets.items()):
        if t.dtype.kind in "biu":
            if explicit:
                kind = "booleans" if t.dtype.kind == "b" else "integers"
                raise GradError(f"cannot differentiate with respect to '{name}': it holds "
                                f"{kind}, which have no gradient")
            del targets[name]
    if not targets:
        raise EvalError(NOTHING_TO_DIFFERENTIATE)
    if result is None:
        raise EvalError("nothing to differentiate: the program ends without an expression; "
                        "end it with the value to differentiate or name it with --of")
    untracked = [n for n, t in targets.items() if not t.requires_grad]
    if untracked:
        raise GradError(f"cannot differentiate with respect to '{untracked[0]}': it is not "
                        "tracked; declare it with `input` or call attach_grad on it")
    return targets


def _result_and_targets(program, inputs, options, wrt, of):
    """Run the program with the wrt inputs tracked (the whole run recorded):
    its result, and the variables to differentiate it by."""
    options = options or Options()
    declared = declared_inputs(program)
    names = _wrt_names(declared, inputs, wrt)
    interp, book = _prepare(program, inputs, options, _tracked(names, declared))
    interp.run(program)
    result = _result_tensor(interp, of)
    return result, _targets(interp, book, names, result, explicit=bool(wrt))


def _tracked(names, declared) -> list:
    """What a run differentiated here tracks: the wrt names and every
    declared input, so that `--wrt y` may name a value computed from the
    inputs (SPEC 2.1), not only an input itself."""
    return list(dict.fromkeys(list(names) + list(declared)))


@dataclass
class JacobianResult:
    value: Shown
    values: dict[str, np.ndarray]
    jacobians: dict[str, np.ndarray]       # name -> shape result.shape + x.shape
    warnings: list[str]


def jacobian(program: A.Program, inputs=None, options: Options | None = None,
             wrt=None, of=None) -> JacobianResult:
    """The full Jacobian of the result by each wrt variable, one backward
    pass per element of the result (`grad --jacobian`)."""
    result, targets = _result_and_targets(program, inputs, options, wrt, of)
    xs = list(targets.values())
    check_size(result.size * sum(x.size for x in xs), "the Jacobian")
    rows = autodiff.jacobian_rows(result, xs)
    jacobians = {name: _stacked(row, result.shape + x.shape)
                 for (name, x), row in zip(targets.items(), rows)}
    return JacobianResult(snapshot(result), {n: np.asarray(t.data) for n, t in targets.items()},
                          jacobians, _warnings())


def _stacked(row, shape) -> np.ndarray:
    """Rows of a Jacobian (tensors) as one array of `shape`."""
    return np.array([np.asarray(g.data) for g in row]).reshape(shape)


@dataclass
class HessianResult:
    value: Shown
    values: dict[str, np.ndarray]
    # [a][b]: shape a.shape + b.shape; elementwise, [x][x] has x's shape
    hessians: dict[str, dict[str, np.ndarray]]
    warnings: list[str]
    elementwise: bool = False     # d²result_i/dx_i², for an elementwise result


def hessian(program: A.Program, inputs=None, options: Options | None = None,
            wrt=None, of=None) -> HessianResult:
    """Second derivatives (`grad --order 2`): of a single-number result,
    per pair of wrt variables (the gradient is recorded, create_graph, then
    differentiated once per element of each variable); of a result that is
    elementwise in its one variable, d²result_i/dx_i² for each element."""
    result, targets = _result_and_targets(program, inputs, options, wrt, of)
    if result.size != 1:
        return _elementwise_second(result, targets)
    xs = list(targets.values())
    check_size(sum(x.size for x in xs) ** 2, "the Hessian")
    firsts = engine.run_backward([result], [None], inputs=xs, create_graph=True,
                                 retain_graph=True) if result.requires_grad else [None] * len(xs)
    hessians: dict = {}
    for (a, xa), ga in zip(targets.items(), firsts):
        if ga is None:          # the result does not reach xa: its gradient is 0
            ga = Tensor(np.zeros(xa.shape, xa.dtype))
        rows = autodiff.jacobian_rows(ga, xs)
        hessians[a] = {b: _stacked(row, xa.shape + xb.shape)
                       for (b, xb), row in zip(targets.items(), rows)}
    return HessianResult(snapshot(result), {n: np.asarray(t.data) for n, t in targets.items()},
                         hessians, _warnings())


def _elementwise_second(result, targets) -> HessianResult:
    """d²y_i/dx_i² for y elementwise in x: the gradient of sum(y) is then
    dy_i/dx_i element by element, and the gradient of its sum is the second
    derivative, element by element (two backward passes)."""
    (name, x), = targets.items() if len(targets) == 1 else [(None, None)]
    if x is None or not _elementwise_in(result, x):
        raise ShapeError(
            f"--order 2 needs a single-number result, or a result that is elementwise in "
            f"its one variable, but this result has shape {shape_str(result.shape)}"
            + ("" if x is None else f" and is not elementwise in '{name}'")
            + "; name a single number with --of, or use --jacobian")
    second = np.zeros(x.shape, x.dtype)
    if result.requires_grad:
        (first,) = engine.run_backward([result], [None], inputs=[x], create_graph=True,
                                       retain_graph=True)
        if first is not None and first.requires_grad:
            (found,) = engine.run_backward([first], [None], inputs=[x])
            if found is not None:
                second = np.asarray(found.data)
    return HessianResult(snapshot(result), {name: np.asarray(x.data)}, {name: {name: second}},
                         _warnings(), elementwise=True)


def _elementwise_in(result: Tensor, x: Tensor) -> bool:
    """Whether element i of `result` depends on element i of `x` alone: it
    has x's shape, and every op between them works number by number on
    operands of that shape (a broadcast or a reduction would mix elements)."""
    if result.shape != x.shape:
        return False
    if result.node is None:
        return result is x
    order = engine.topological_order([result.node])
    target = x.node or x
    useful = engine._leading_to(order, {id(target): target})
    for node in order:
        if id(node) not in useful or node is target:
            continue
        if not node.op.elementwise:
            return False
        for parent, shape in zip(node.parents, node.in_shapes):
            if parent is not None and id(parent) in useful and shape is not None:
                return False
    return True


# ------------------------------------------------------------------ check

# Default tolerances of `check`, by the dtype autodiff ran in. Differences
# are always taken in float64 (step 6e-6 relative, about the cube root of
# float64's epsilon), so a float32 run is judged only for its own rounding:
# about 1e-7 per op, hence a looser rtol, rather than false failures.
CHECK_TOLERANCES = {"float64": (1e-5, 1e-6), "float32": (1e-4, 1e-5)}   # (rtol, atol)


def check(program: A.Program, inputs=None, options: Options | None = None,
          wrt=None, of=None, head=None, rtol: float | None = None, atol: float | None = None,
          max_points: int = 256) -> CheckResult:
    """Autodiff gradients against central finite differences in float64.

    Finite differences re-run the whole program with one input element moved
    by ±h, so only inputs can be checked; inputs with more than
    `max_points` elements are checked at that many random elements. Each
    variable's row names its worst element (the one furthest past, or
    nearest to, its tolerance) with both numbers there.
    """
    options = options or Options()
    rtol, atol = check_tolerances(options.dtype, rtol, atol)
    ad = gradient(program, inputs, options, wrt, of, head)
    wide = Options(**{**options.__dict__, "dtype": "float64"})
    base = {name: np.array(data, dtype=np.float64)
            for name, data in input_values(program, inputs, wide).items()}
    names = list(ad.grads)
    for name in names:
        if name not in base:
            raise DataError(f"check: '{name}' is not an input of the program; finite "
                            "differences can only move inputs")
    rng = np.random.default_rng(0)
    report = {}
    for name in names:
        x = base[name]
        auto = np.asarray(ad.grads[name], dtype=np.float64)
        points = np.arange(x.size) if x.size <= max_points else \
            np.sort(rng.choice(x.size, max_points, replace=False))
        worst_abs = worst_rel = 0.0
        var_ok = True
        worst, worst_badness = None, -1.0
        for flat in points:
            step = 6e-6 * max(1.0, abs(float(x.flat[flat])))
            plus, minus = x.copy(), x.copy()
            plus.flat[flat] += step
            minus.flat[flat] -= step
            k = ad.backward_index.get(name)
            f_plus = _objective(program, {**base, name: plus}, wide, of, head, k)
            f_minus = _objective(program, {**base, name: minus}, wide, of, head, k)
            numeric = (f_plus - f_minus) / (2 * step)
            exact = float(auto.flat[flat])
            err = abs(exact - numeric)
            scale = max(abs(exact), abs(numeric))
            if not np.isfinite(err) or err > atol + rtol * scale:
                var_ok = False
            badness = err / (atol + rtol * scale) if np.isfinite(err) else float("inf")
            if badness > worst_badness or (np.isnan(badness) and worst_badness == -1.0):
                worst_badness = badness
                worst = {"index": [int(i) for i in np.unravel_index(flat, x.shape)],
                         "autodiff": exact, "numeric": float(numeric)}
            worst_abs = max(worst_abs, err) if np.isfinite(err) else float("inf")
            rel = err / scale if scale > 0 else 0.0
            worst_rel = max(worst_rel, rel) if np.isfinite(rel) else float("inf")
        report[name] = {"max_abs_err": worst_abs, "max_rel_err": worst_rel,
                        "checked": int(len(points)), "size": int(x.size), "ok": var_ok,
                        "worst": worst}
    return CheckResult(all(row["ok"] for row in report.values()), report, rtol, atol)


def check_tolerances(dtype: str, rtol: float | None = None,
                     atol: float | None = None) -> tuple[float, float]:
    """(rtol, atol) of a check: those given, else the defaults for `dtype`."""
    default_rtol, default_atol = CHECK_TOLERANCES.get(dtype, CHECK_TOLERANCES["float64"])
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


def input_values(program: A.Program, inputs=None,
                 options: Options | None = None) -> dict[str, np.ndarray]:
    """Every input's numbers, in their own dtype: given ones, and defaults
    as the program made them (a program without `input` lines: the values
    given to it)."""
    interp, book = _prepare(program, inputs, options or Options(), ())
    interp.run(program)
    declared = declared_inputs(program)
    if declared:
        return {n: np.array(book.input_data[n]) for n in declared if n in book.input_data}
    return {n: np.array(t.data) for n, t in book.input_values.items()}


def _objective(program, inputs, options, of, head, backward_index=None) -> float:
    """sum(head * output): the scalar whose gradient backward computes.

    For a program with its own backward, the output is that of the backward
    call that produced the gradient being checked."""
    interp, book = _prepare(program, inputs, options, (), keep_call=backward_index)
    interp.run(program)
    output, used_head = None, head
    if book.backward_ran and of is None:
        call = book.kept_backward if backward_index is not None else None
        output, program_head = call or book.last_backward
        used_head = None if program_head is None else to_tensor(program_head).data
    if output is None:
        output = _result_tensor(interp, of)
    if output is None:
        raise EvalError("nothing to check: the program ends without an expression")
    value = to_tensor(output).data.astype(np.float64)
    with watching_floating_point():     # as in the run: NaN/Inf are values
        if used_head is None:
            return float(np.sum(value))
        return float(np.sum(np.asarray(used_head, dtype=np.float64) * value))


# ------------------------------------------------------------------ graph

def graph(program: A.Program, inputs=None, options: Options | None = None,
          wrt=None, of=None, max_nodes: int = defaults.GRAPH_NODES) -> GraphNode:
    """The recorded graph of the result, as a tree from the result down.

    A node reached a second time is listed again with `repeat=True` and no
    children, so shared subgraphs are shown once.
    """
    options = options or Options()
    names = _wrt_names(declared_inputs(program), inputs, wrt)
    interp, book = _prepare(program, inputs, options, names, placeholders=True,
                            note_names=True)
    with noting_inputs():
        interp.run(program)
    result = _result_tensor(interp, of)
    if result is None and book.last_backward is not None:
        result = book.last_backward[0]
    if result is None:
        raise EvalError("no result to draw: end the program with an expression "
                        "or name a variable with --of")
    return graph_of(result, {**book.input_values, **interp.globals.vars}, max_nodes)


def graph_of(result: Tensor, names: dict, max_nodes: int = defaults.GRAPH_NODES) -> GraphNode:
    """The graph that produced `result`: its ops, the leaves they reach and,
    as children of kind "constant", each op's untracked inputs.

    Values are named by `names` (name: value, the program's variables at
    its end, the first name of a value winning) and, for nodes recorded
    under `noting_inputs`, by every variable they were bound to while the
    program ran; such nodes also kept their constants' numbers when few.
    """
    first: dict[int, str] = {}      # id of a named tensor, and of its node: the name
    for name, value in names.items():
        if isinstance(value, Tensor):
            first.setdefault(id(value), name)
            if value.node is not None:
                first.setdefault(id(value.node), name)
    if result.node is None:
        return _value_node(result, first)
    count, ids = 0, {}
    root = GraphNode(result.node.op.name, tuple(result.shape), [], 0,
                     names=_node_names(result.node, first))
    stack = [(result.node, root)]
    while stack:            # depth first, children in order; no recursion
        item, shown = stack.pop()
        key = None if item is None else (id(item), shown.kind)
        if key in ids:
            shown.repeat = True
            shown.ident = ids[key]
            continue
        shown.ident = count
        count += 1
        if key is not None:
            ids[key] = shown.ident
        if type(item) is not Node or count > max_nodes:
            continue
        inputs = _node_inputs(item, shown.shape, first)
        shown.children = [child for _, child in inputs]
        stack.extend(reversed(inputs))
    return root


def _node_inputs(node: Node, shape: tuple, first: dict) -> list:
    """(what to expand, its GraphNode) for each input of `node`: a node, a
    leaf tensor, or a constant's tensor (None when it was not noted)."""
    notes = getattr(node, "notes", None)
    inputs = []
    for i, parent in enumerate(node.parents):
        in_shape = node.in_shapes[i]
        in_shape = shape if in_shape is None else tuple(in_shape)
        if parent is None:
            tensor, numbers = (notes.constants[i] if notes is not None else None) or (None, None)
            named = first.get(id(tensor)) if tensor is not None else None
            inputs.append((tensor, GraphNode("const", in_shape, [], -1, kind="constant",
                                             names=(named,) if named else (), value=numbers)))
        elif type(parent) is Node:
            inputs.append((parent, GraphNode(parent.op.name, in_shape, [], -1,
                                             names=_node_names(parent, first))))
        else:
            named = first.get(id(parent))
            inputs.append((parent, GraphNode(named or "leaf", tuple(parent.shape), [], -1,
                                             kind="leaf", names=(named,) if named else ())))
    return inputs


def _node_names(node: Node, first: dict) -> tuple:
    """The names the program bound `node`'s value to, in the order it did."""
    notes = getattr(node, "notes", None)
    found = list(notes.names) if notes is not None else []
    last = first.get(id(node))
    if last is not None and last not in found:
        found.append(last)
    return tuple(found)


def _value_node(result: Tensor, first: dict) -> GraphNode:
    """The whole graph of a result that no op recorded: a leaf, or an
    untracked value (with its numbers, if few)."""
    named = first.get(id(result))
    names = (named,) if named else ()
    if result.requires_grad:
        return GraphNode(named or "value", tuple(result.shape), [], 0, kind="leaf", names=names)
    numbers = np.array(result.data) if result.size <= NOTED_NUMBERS else None
    return GraphNode("const (untracked)", tuple(result.shape), [], 0,
                     kind="constant", names=names, value=numbers)


# ---------------------------------------------------------------- session

class Session:
    """One interpreter kept across inputs (the REPL): variables persist,
    and an error in one input leaves the others' results intact."""

    def __init__(self, options: Options | None = None,
                 on_print: Callable[[list[Shown]], None] | None = None,
                 on_plot: Callable[[Figure], None] | None = None):
        self.options = options or Options()
        self.on_print = on_print
        self.on_plot = on_plot
        self.reset()

    def reset(self) -> None:
        from .explain import Recorder      # explain builds on this module

        configure(self.options)
        # `:explain` may be asked about any value, after its backward too:
        # the session keeps each node's expression and watches its backward
        # calls (interactive work, where that costs nothing noticeable);
        # `:graph` names values and shows constants as `gradcli graph` does.
        self.recorder = Recorder(defaults.EXPLAIN_STEPS)
        self.book = Bookkeeping({}, (), self.on_print, observer=self.recorder.start,
                                note_names=True, on_plot=self.on_plot)
        self.interp = Interpreter(max_steps=self.options.max_steps, hooks=self.book,
                                  explain=True)

    def execute(self, source: str) -> Optional[Shown]:
        """Run `source`; return the value of a final expression, if any."""
        program = parse(source)
        interp = self.interp
        interp.last_value = None
        interp.steps = 0
        MODE.nan_reports = []
        with noting_inputs():
            interp.run(program)
        return final_value(program, interp)

    def warnings(self) -> list[str]:
        return _warnings()

    def names(self) -> list[str]:
        return list(self.interp.globals.vars)

    def variables(self) -> list[dict]:
        """name, shape, dtype, tracked, has_grad for every array variable."""
        rows = []
        for name, value in self.interp.globals.vars.items():
            if isinstance(value, Tensor):
                rows.append({"name": name, "shape": tuple(value.shape),
                             "dtype": np.dtype(value.dtype).name,
                             "tracked": value.requires_grad,
                             "has_grad": value._grad is not None})
            else:
                rows.append({"name": name, "shape": None, "dtype": type_name(value),
                             "tracked": False, "has_grad": False})
        return rows

    def kept_gradients(self) -> list[Kept]:
        return kept_gradients(self.interp)

    def _tensor(self, name) -> Tensor:
        value = self.interp.globals.vars.get(name)
        if value is None:
            raise EvalError(f"no variable named '{name}'")
        if not isinstance(value, Tensor):
            raise EvalError(f"'{name}' is {a_type(value)}, not an array")
        return value

    def grad(self, name) -> tuple[Shown, Shown]:
        """The value of `name` and its gradient."""
        value = self._tensor(name)
        if value._grad is None:
            raise GradError(f"'{name}' has no gradient: call attach_grad({name}) and "
                            "run backward first")
        return snapshot(value), Shown(np.asarray(value._grad.data), None, True)

    def graph(self, name, max_nodes: int = defaults.GRAPH_NODES) -> GraphNode:
        return graph_of(self._tensor(name), self.interp.globals.vars, max_nodes)

    def help(self, name) -> list[str]:
        """`:help NAME`: what help(NAME) says, NAME being a variable holding a
        function or a module, or a built-in."""
        return lang_help.describe(name, self.interp.globals.vars).splitlines()

    def explain(self, name):
        """`:explain NAME` (see explain.explain_value)."""
        from .explain import explain_value
        return explain_value(self, name, self.recorder.limit)
