"""`gradcli explain`: the backward pass step by step, as it runs.

A run for explain keeps, on every recorded node, the expression that made
it (the interpreter's `explain` mode, lang/interpreter.py `Site`), and the
backward pass tells an observer what each node received and what it sent
to each input (engine.run_backward's `observe`). This module turns those
observations into plain data: per step the operation, its line and
expression, the gradient in (and, when a value was used several times, the
gradients that were summed into it), the local rule of each input — from
the op table (`ops.rule_text`), with the program's own operand texts — and
the gradient sent. Then each named value's total, the chain rule by
variable, and what was left out past `max_nodes`.

Programs that run their own backward (`z.backward()`) are explained from
it (the last one, if several); otherwise the result is differentiated as
`gradcli grad` does. Nothing here prints (render_explain.py draws it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import api, symbolic
from .core import defaults, ops
from .core.engine import run_backward, topological_order
from .core.tensor import MODE, Node, Tensor, shape_str
from .errors import DataError, GradError, ShapeError
from .lang import ast as A
from .lang.ast import calls_backward, declared_inputs
from .lang.builtins import NAMESPACES
from .lang.interpreter import Site
from .lang.unparse import text
from .lang.values import to_tensor

PARTS_KEPT = 8          # gradients summed into one value that are shown one by one


# ------------------------------------------------------------------ results

@dataclass
class Part:
    """One gradient summed into a value: from step `step` (0: the head)."""

    step: int
    source: str                   # the sending step's expression (or "head")
    grad: np.ndarray


@dataclass
class Sent:
    """What a step sent to one of its inputs."""

    index: int                    # the input's position
    to: str                       # the value it reached, in the program's words
    written: str                  # how the expression writes that input (a, for x in f(x))
    rule: Optional[str]           # `d(y**2)/dy = 2*y`, or the gradient itself (`g @ b.T`)
    grad: np.ndarray


@dataclass
class Step:
    number: int
    op: str                       # MulBackward
    line: Optional[int]
    source: Optional[str]         # the expression that made the value
    inside: Optional[str]         # the op's spelling, when it is one step of a larger call
    name: Optional[str]           # the variable that holds the value
    grad_in: np.ndarray
    parts: list[Part]             # the gradients summed into grad_in, when several
    parts_count: int
    sent: list[Sent]
    notes: list[str]              # constants (detach), ties, where's split


@dataclass
class Total:
    """A leaf's gradient from this pass, and what it was summed from."""

    name: str
    grad: np.ndarray
    parts: list[Part]
    parts_count: int


@dataclass
class Explanation:
    result: str                   # what was differentiated, in the program's words
    shape: tuple
    head: Optional[np.ndarray]    # None: the head of sum(result), ones
    head_from: Optional[str]      # where the head came from ("--head", "backward(head)")
    origin: Optional[str]         # "the program's backward at line 8", or None
    steps: list[Step]
    total_steps: int
    left_out: dict                # op name -> steps past max_nodes
    leaves: list[Total]
    chain: list[str]              # the chain rule by variable
    notes: list[str]              # control flow, several backward calls
    partials: int                 # numbers of the gradients this one pass gave
    warnings: list[str] = field(default_factory=list)

    @property
    def differentiated(self) -> str:
        """What the pass differentiates: the result, sum(result), head · result."""
        if self.head is not None:
            return f"head · {_bracketed(self.result)}"
        return self.result if not self.shape else f"sum({self.result})"


# ---------------------------------------------------------------- observing

class Flow:
    """The gradients one value (a node, or a leaf) has received so far."""

    __slots__ = ("key", "parts", "count", "total")

    def __init__(self, key):
        self.key = key
        self.parts: list = []       # (step, node, grad), the first PARTS_KEPT
        self.count = 0
        self.total = None           # a leaf's running sum (nodes get theirs from the engine)

    def add(self, step, node, grad, leaf: bool) -> None:
        self.count += 1
        if len(self.parts) < PARTS_KEPT:
            self.parts.append((step, node, grad))
        if leaf:    # summed in the order the engine sums, so the numbers agree
            self.total = grad if self.total is None else self.total + grad


class Pass:
    """The observer of one backward pass (engine.run_backward's `observe`):
    the first `limit` steps in full, the rest counted by op."""

    def __init__(self, limit: int):
        self.limit = limit
        self.steps: list = []       # (number, node, grad_in, sent, flow, notes)
        self.count = 0
        self.left_out: Counter = Counter()
        self.flows: dict[int, Flow] = {}
        self.sites: dict = {}       # id(syntax node) -> its line, for every step's site
        self.constants: dict = {}   # id(node) -> {input: its number}, for the steps kept
        self.site = None            # where the backward call stands, for a program's own
        self.call = None            # which of the run's backward calls it observes

    def __call__(self, node, grad, sent) -> None:
        self.count += 1
        number = self.count
        flow = self.flows.pop(id(node), None)
        if isinstance(node.site, Site):
            self.sites[id(node.site.node)] = node.site.line
        if number <= self.limit:
            # The node's saved values are freed once it has run: read them now.
            self.steps.append((number, node, grad, sent, flow, _conventions(node)))
            self.constants[id(node)] = _constants(node)
        else:
            self.left_out[node.op.name] += 1
        for i, g in sent:
            parent = node.parents[i]
            into = self.flows.get(id(parent))
            if into is None:
                into = self.flows[id(parent)] = Flow(parent)
            into.add(number, node, g, type(parent) is not Node)

    def leaves(self) -> list[Flow]:
        return [flow for flow in self.flows.values() if type(flow.key) is not Node]


class Recorder:
    """Gives each backward call of a run its own `Pass`, and keeps the last
    two: the last that ran to its end is one of them (a call that failed
    may have come after it)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept: list[Pass] = []

    def start(self, call: int) -> Pass:
        """The observer of backward call number `call` (from 0), starting."""
        observed = Pass(self.limit)
        observed.call = call
        observed.site = MODE.site      # the backward call's own (explained runs site calls)
        self.kept = self.kept[-1:] + [observed]
        return observed

    def finished(self, book) -> Optional[Pass]:
        """The pass of the last backward call that ran to its end."""
        for observed in self.kept:
            if observed.call == book.backward_count - 1:
                return observed
        return None


def _conventions(node) -> list[str]:
    """How the op split its gradient at this node, where a convention of
    SPEC 2.3 decided it: ties of max/min and maximum/minimum, where's
    branches, the elements an indexed assignment wrote."""
    op, saved = node.op, node.saved
    values = [s.data if type(s) is Tensor else None for s in saved or ()]
    with np.errstate(all="ignore"):
        if op is ops.MAX or op is ops.MIN:
            return _reduction_ties(node, values[0], "maximum" if op is ops.MAX else "minimum")
        if op is ops.MAXIMUM or op is ops.MINIMUM:
            if values[0] is None or values[1] is None:
                return []
            ties = int(np.count_nonzero(np.broadcast_to(values[0] == values[1],
                                                        np.broadcast_shapes(values[0].shape,
                                                                            values[1].shape))))
            if ties:
                return [f"the operands of {op.label} tie at {ties} element{_s(ties)}: each gets "
                        "half of the gradient there (PyTorch's convention)"]
            return []
        if op is ops.WHERE or op is ops.COPY_SLICES:
            cond = values[0]
            if cond is None:
                return []
            chosen, size = int(np.count_nonzero(cond)), int(cond.size)
            if op is ops.WHERE:
                return [f"the condition holds at {chosen} of {size} element{_s(size)}: the first "
                        "branch gets the gradient there and exactly 0 elsewhere, the second the "
                        "rest (where sends exactly 0 into the branch not taken, even if it holds "
                        "NaN or inf)"]
            return [f"{chosen} of {size} element{_s(size)} were written: the value written gets "
                    "the gradient there, the old value everywhere else"]
    return []


def _constants(node) -> dict:
    """The inputs that are not tracked and that the node kept, when they are
    single numbers: the 2 of `2 * x` where no operand text tells it."""
    found = {}
    for i, (parent, saved) in enumerate(zip(node.parents, node.saved or ())):
        if parent is None and type(saved) is Tensor and saved.data.size == 1:
            value = float(saved.data.reshape(()))
            found[i] = str(int(value)) if value == int(value) else repr(value)
    return found


def _reduction_ties(node, x, what) -> list[str]:
    if x is None or node.ans is None:
        return []
    params = node.params or {}
    best = np.asarray(ops.unreduce(node.ans, x.shape, params.get("axis"),
                                   params.get("keepdims", False)))
    hits = np.sum(x == best, axis=params.get("axis"), keepdims=True)
    tied = int(np.count_nonzero(hits > 1))
    if not tied:
        return []
    most = int(hits.max())
    where = "" if hits.size == 1 else f" in {tied} of {hits.size} slices"
    return [f"{most} elements tie for the {what}{where}: they share the gradient evenly, "
            f"1/{most} each (PyTorch's convention)"]


def _s(n: int) -> str:
    return "" if n == 1 else "s"


# --------------------------------------------------------------- the program

def explain(program: A.Program, inputs=None, options: api.Options | None = None,
            wrt=None, of=None, head=None, max_nodes: int = defaults.EXPLAIN_STEPS
            ) -> Explanation:
    """The backward pass of the program, step by step: from the program's
    own (last) backward call, or, as `gradcli grad` differentiates, of the
    result (`of`, else the last top-level expression) by `wrt`."""
    options = options or api.Options()
    declared = declared_inputs(program)
    names = api._wrt_names(declared, inputs, wrt)
    own = calls_backward(program) and of is None
    track = () if own else api._tracked(names, declared)
    recorder = Recorder(max_nodes)
    interp, book = api._prepare(program, inputs, options, track, observer=recorder.start)
    interp.run(program)
    result = api._result_tensor(interp, of)
    context = Context(interp, book)
    if book.backward_ran and of is None:
        if head is not None:
            raise DataError("--head cannot be used: the program runs its own backward "
                            "(remove the backward call, or its head argument)")
        done = recorder.finished(book)
        output, used = book.last_backward
        notes = []
        if book.backward_count > 1:
            notes.append(f"the program runs backward {book.backward_count} times: this is "
                         "the last of them")
        head_data = None if used is None else np.asarray(to_tensor(used).data)
        return context.explanation(done, to_tensor(output), head_data,
                                   "the program's backward(head)" if used is not None else None,
                                   context.backward_site(done), notes,
                                   label=context.backward_subject(done))
    targets = api._targets(interp, book, names, result)
    head_t = None
    if head is not None:
        head_t = api.input_array("--head", head)
        if head_t.shape != result.shape:
            raise ShapeError(f"--head has shape {shape_str(head_t.shape)} but the result has "
                             f"shape {shape_str(result.shape)}")
    observed = None
    if result.requires_grad:
        observed = Pass(max_nodes)
        run_backward([result], [head_t], inputs=list(targets.values()), observe=observed)
    return context.explanation(observed, result, None if head_t is None else head_t.data,
                               "--head" if head_t is not None else None, None, [],
                               label=of, partials=sum(t.size for t in targets.values()))


def explain_value(session: api.Session, name: str,
                  max_nodes: int = defaults.EXPLAIN_STEPS) -> Explanation:
    """The REPL's `:explain NAME`: the backward of sum(NAME) by the tracked
    leaves it depends on; after `NAME.backward(...)`, that backward itself
    (its graph is freed by then), as the session observed it."""
    value = session._tensor(name)
    context = Context(session.interp, session.book)
    done = session.recorder.finished(session.book)
    last = session.book.last_backward
    if last is not None and last[0] is value and done is not None:
        used = last[1]
        head = None if used is None else np.asarray(to_tensor(used).data)
        return context.explanation(done, value, head, None if head is None else "backward(head)",
                                   context.backward_site(done), [], label=name)
    if value.requires_grad and value.node is None:
        raise GradError(f"'{name}' is a tracked leaf: backward ends there, with no step to "
                        f"show; :explain a value computed from {name}")
    if not value.requires_grad:
        raise GradError(f"'{name}' is not computed from a tracked value, so no gradient flows "
                        f"back from it: attach_grad an input and compute {name} from it")
    leaves = _leaves_of(value.node)
    observed = Pass(max_nodes)
    try:
        # The graph stays as it was: the session's own backward may come next.
        run_backward([value], [None], inputs=leaves, retain_graph=True, observe=observed)
    except GradError as exc:
        raise GradError(f"'{name}': {exc.message}") from None
    return context.explanation(observed, value, None, None, None, [], label=name,
                               partials=sum(t.size for t in leaves))


def _leaves_of(root) -> list[Tensor]:
    """The tracked leaves a graph reaches, each once."""
    found: dict[int, Tensor] = {}
    for node in topological_order([root]):
        for parent in node.parents:
            if parent is not None and type(parent) is not Node:
                found.setdefault(id(parent), parent)
    return list(found.values())


# ------------------------------------------------------------------ wording

_DETACHING = {"detach", "numpy", "asnumpy"}


class Context:
    """What a run lets explain say about its nodes: the program's syntax
    (which assignment named a value, which names are modules, where a
    value was detached, the control flow) and the variables at the end."""

    def __init__(self, interp, book):
        self.interp, self.book = interp, book
        programs = list(interp._programs)
        self.assigned: dict[int, str] = {}         # id(expression) -> the name it was bound to
        self.detached: dict[str, A.Node] = {}      # name -> `name = x.detach()`
        self.modules = set(NAMESPACES) | {"d2l"}
        self.control: list = []                    # every if, while and for
        # Where code stands, by identity (REPL inputs all count lines from
        # 1): each def's and each program's syntax nodes.
        self.regions = [{id(n) for n in A.walk(node.body)} for node in A.walk(programs)
                        if type(node) is A.FuncDef] + \
            [{id(n) for n in A.walk(program)} for program in programs]
        for node in A.walk(programs):
            kind = type(node)
            if kind is A.Assign and type(node.target) is A.Name:
                self.assigned[id(node.value)] = node.target.id
                if _detaching(node.value) is not None:
                    self.detached[node.target.id] = node
            elif kind is A.AugAssign and type(node.target) is A.Name:
                self.assigned[id(node)] = node.target.id
            elif kind is A.Import:
                self.modules.update(item.alias or item.path.split(".")[0] for item in node.items)
            elif kind in (A.If, A.While, A.For):
                self.control.append(node)
        variables = {**book.input_values, **interp.globals.vars}
        self.leaf_names: dict[int, str] = {}        # the first name a leaf was bound to
        for n, v in variables.items():
            if isinstance(v, Tensor):
                self.leaf_names.setdefault(id(v), n)
        self.node_names = {id(v.node): n for n, v in interp.globals.vars.items()
                           if isinstance(v, Tensor) and v.node is not None}
        self.constants: dict = {}                  # Pass.constants of the pass explained

    def backward_subject(self, observed: Optional[Pass]) -> Optional[str]:
        """The text of what a backward call ran from: the y of y.backward()
        or of autograd.backward(y)."""
        site = None if observed is None else observed.site
        if not isinstance(site, Site) or type(site.node) is not A.Call:
            return None
        func, args = site.node.func, site.node.args
        if type(func) is A.Attribute and not self._module(func.obj):
            return text(func.obj)
        return text(args[0]) if args else None

    @staticmethod
    def backward_site(observed: Optional[Pass]) -> Optional[str]:
        """Where the program's backward call is, in words."""
        site = None if observed is None else observed.site
        if not isinstance(site, Site):
            return "the program's backward"
        return f"{text(site.node)} (line {site.line})"

    # ------------------------------------------------------------ values

    def name_of(self, value) -> Optional[str]:
        """The program's variable for a node or a leaf, if it has one."""
        if type(value) is not Node:
            return self.leaf_names.get(id(value))
        name = self.node_names.get(id(value))
        site = value.site
        if name is None and isinstance(site, Site) and _own_op(value.op, site.node):
            name = self.assigned.get(id(site.node))     # `y = x**2` named the value
        return name

    def label(self, value, within=None) -> str:
        """A node or a leaf in words: its variable, else its expression (an
        inner value of a call `within` is written from its op)."""
        name = self.name_of(value)
        if name is not None:
            return name
        if type(value) is not Node:
            return "a leaf"
        if isinstance(value.site, Site) and (within is None or value.site.node is not within):
            return text(value.site.node)
        return self.written(value, within, 3)

    def written(self, node, within, depth) -> str:
        """An inner node of a call (a step of `std(x)`), as its op applied
        to its inputs: `x - mean(x)`."""
        args = []
        for i, parent in enumerate(node.parents):
            if parent is None:
                args.append(self.constant_text(node, i))
            elif type(parent) is Node and depth and isinstance(parent.site, Site) and \
                    parent.site.node is within and self.name_of(parent) is None:
                args.append(self.written(parent, within, depth - 1))
            elif type(parent) is Node and depth == 0:
                args.append("…")
            else:
                args.append(self.label(parent, within))
        return _spelled(node.op, args)

    # ------------------------------------------------------------- steps

    def operands(self, expr) -> Optional[list]:
        """The syntax of an expression's operands, in the order its op takes
        them (None: not known)."""
        kind = type(expr)
        if kind is A.BinOp:
            return [expr.left, expr.right]
        if kind is A.UnaryOp:
            return [expr.operand]
        if kind is A.Call:
            func = expr.func
            receiver = [func.obj] if type(func) is A.Attribute and not self._module(func.obj) \
                else []
            return receiver + list(expr.args)
        if kind in (A.Index, A.Attribute):
            return [expr.obj]
        if kind is A.ListLit:
            return list(expr.items)
        if kind is A.AugAssign:
            return [expr.target, expr.value]
        if kind is A.Assign and type(expr.target) is A.Index:
            return [None, expr.value, expr.target.obj]
        return None

    def _module(self, expr) -> bool:
        while type(expr) is A.Attribute:
            expr = expr.obj
        return type(expr) is A.Name and expr.id in self.modules

    def step(self, number, node, grad, sent, flow, notes) -> Step:
        site = node.site if isinstance(node.site, Site) else None
        expr = site.node if site is not None else None
        inside = None if expr is None or _own_op(node.op, expr) else _spelling(node.op)
        operands, texts = self.inputs_written(node)
        whole = text(expr) if expr is not None and inside is None else \
            self.written(node, expr, 2)
        sends = []
        for i, g in sent:
            rule = self.local_rule(node, i, texts)
            if rule is not None and not symbolic.vjp_form(node.op, i):
                rule = f"d({whole})/{_d(texts[i])} = {rule}"
            elif rule is not None:
                rule = rule.replace(".T.T", "")     # (b.T).T is b
            sends.append(Sent(i, self.label(node.parents[i], expr), texts[i], rule, g))
        notes = list(notes)
        for i, parent in enumerate(node.parents):
            if parent is None and ops.rule_text(node.op, i) is not None:    # differentiable there
                note = self.constant_note(operands[i] if operands and i < len(operands) else None)
                if note is not None:
                    notes.append(note)
        parts = [] if flow is None else [Part(s, self.source_of(n), g) for s, n, g in flow.parts]
        return Step(number, node.op.name, getattr(node.site, "line", None),
                    None if expr is None else text(expr), inside, self.name_of(node), grad,
                    parts, 0 if flow is None else flow.count, sends, notes)

    def inputs_written(self, node) -> tuple[Optional[list], list[str]]:
        """The operands' syntax (None: not known, as for one step of a larger
        call) and the text of each input."""
        expr = node.site.node if isinstance(node.site, Site) else None
        operands = self.operands(expr) if expr is not None and _own_op(node.op, expr) else None
        return operands, [self.operand_text(node, i, expr, operands)
                          for i in range(len(node.parents))]

    @staticmethod
    def local_rule(node, i, texts) -> Optional[str]:
        """The op table's rule for input i, in the program's texts (an
        operand that is not one name or call is bracketed in it)."""
        factors = [_bracketed(t) for t in texts]
        rule = ops.rule_text(node.op, i, dict(zip(node.op.inputs, factors)))
        if rule in factors and rule not in texts:      # the rule is an operand alone
            return texts[factors.index(rule)]
        for factor, written in zip(factors, texts):
            if rule is not None and factor != written:    # f((a + b)) is f(a + b)
                rule = rule.replace(f"({factor})", f"({written})")
        return rule

    def operand_text(self, node, i, expr, operands) -> str:
        """How the program wrote input i of the node: its operand in the
        expression, when the node is that expression's own op and the
        operand is what reached it; else the value in words."""
        parent = node.parents[i]
        if operands is not None and i < len(operands) and operands[i] is not None and (
                parent is None or self._reached_by(parent, operands[i], expr)):
            return text(operands[i])
        if parent is None:
            return self.constant_text(node, i)
        return self.label(parent, expr)

    def constant_text(self, node, i) -> str:
        """An input that is not tracked: its number, when the node kept it."""
        return self.constants.get(id(node), {}).get(i, "c")

    def _reached_by(self, parent, operand, expr) -> bool:
        """Could `operand` (syntax) be the value `parent`? Not when the value
        was made inside the same call (a composite's inner step), nor when
        it was made by another of the expression's operands."""
        if type(parent) is not Node or not isinstance(parent.site, Site):
            return True
        made_by = parent.site.node
        if made_by is operand:
            return True
        return made_by is not expr and not any(made_by is o for o in self.operands(expr) or ())

    def source_of(self, node) -> str:
        if isinstance(node.site, Site):
            return text(node.site.node)
        return node.op.name

    def constant_note(self, operand) -> Optional[str]:
        """Why no gradient flows to an operand that is not tracked."""
        if operand is None or type(operand) in (A.Num, A.Str, A.Const):
            return None
        inner = _detaching(operand)
        if inner is not None:
            return (f"{text(operand)} is detached: a constant to the graph, so no gradient "
                    f"flows through it into {text(inner)}")
        if type(operand) is A.Name and operand.id in self.detached:
            assign = self.detached[operand.id]
            inner = _detaching(assign.value)
            return (f"{operand.id} = {text(assign.value)} (line {assign.span.line}) is "
                    f"detached: a constant to the graph, so no gradient flows through it into "
                    f"{text(inner)}")
        return f"{text(operand)} is not tracked: a constant here, it gets no gradient"

    # --------------------------------------------------------- the whole

    def explanation(self, observed: Optional[Pass], output: Tensor, head, head_from, origin,
                    notes, label=None, partials=None) -> Explanation:
        key = id(output.node) if output.node is not None else id(output)
        result = label or self.node_names.get(key) or self.leaf_names.get(key) or \
            self._last_expression() or self.name_of(output.node or output) or "the result"
        if observed is None or output.node is None:
            return self._no_steps(output, result, head, head_from, origin, notes)
        self.constants = observed.constants
        steps = [self.step(*raw) for raw in observed.steps]
        if steps and head is not None:
            steps[0].parts = [Part(0, head_from, head)]
            steps[0].parts_count = 1
        leaves = [Total(self.name_of(flow.key) or "a leaf", flow.total,
                        [Part(s, self.source_of(n), g) for s, n, g in flow.parts], flow.count)
                  for flow in observed.leaves()]
        if partials is None:
            partials = sum(int(np.size(flow.total)) for flow in observed.leaves())
        chain = [] if observed.left_out else symbolic.chain_rule(self, observed, result)
        return Explanation(result, tuple(output.shape), head, head_from, origin, steps,
                           observed.count, dict(observed.left_out), leaves, chain,
                           notes + self.control_notes(observed.sites), partials,
                           api._warnings())

    def _no_steps(self, output, result, head, head_from, origin, notes) -> Explanation:
        """A pass without steps: from a leaf (its gradient is the head), or
        from a value that depends on nothing tracked."""
        shape = tuple(output.shape)
        leaves, partials = [], 0
        if output.requires_grad:
            grad = head if head is not None else np.ones(shape, output.dtype)
            name = self.name_of(output) or "a leaf"
            leaves = [Total(name, grad, [Part(0, head_from or "head", grad)], 1)]
            partials = output.size
            why = (f"{result} is the leaf {name} itself: its gradient is the head, with no "
                   "step in between" if name != result else
                   f"{result} is a leaf: its gradient is the head, with no step in between")
        else:
            why = f"{result} does not depend on any tracked value: no gradient flows back"
        return Explanation(result, shape, head, head_from, origin, [], 0, {}, leaves, [],
                           notes + [why] + self.control_notes({}), partials,
                           api._warnings())

    def _last_expression(self) -> Optional[str]:
        programs = self.interp._programs
        body = programs[-1].body if programs else ()
        if body and type(body[-1]) is A.ExprStmt:
            return text(body[-1].expr)
        return None

    def control_notes(self, sites: dict) -> list[str]:
        """What the recorded graph says of the program's if/while/for: only
        what ran was recorded. `sites`: id(syntax node) -> line, of the
        expressions that made the steps."""
        notes = []
        for node in self.control:
            if type(node) is A.If:
                notes.extend(self._if_note(node, sites))
                continue
            body = _ids(node.body)
            inside = [line for key, line in sites.items() if key in body]
            if inside:
                word = "while" if type(node) is A.While else "for"
                notes.append(f"line {node.span.line}: the {word} loop's body was recorded anew on "
                             f"each pass that ran: the graph is the loop unrolled (steps from "
                             f"line{_s(len(set(inside)))} {_lines(inside)})")
        return notes

    def _if_note(self, node, sites) -> list[str]:
        bodies = [(body[0].span.line, _ids(body)) for _, body in node.branches]
        if node.orelse:
            bodies.append((node.orelse[0].span.line, _ids(node.orelse)))
        taken = [line for line, body in bodies if any(key in body for key in sites)]
        if not taken:
            if not self._ran_around(node, sites):
                return []
            return [f"line {node.span.line}: no branch of this if recorded a step: the branch "
                    "taken only passed values on; only the branch taken is ever recorded"]
        others = [str(line) for line, _ in bodies if line not in taken]
        rest = (f"; nothing of the branch{'es' if len(others) > 1 else ''} at line"
                f"{_s(len(others))} {', '.join(others)} is in the graph") if others else ""
        return [f"line {node.span.line}: only the branch taken (line {taken[0]}) was recorded"
                f"{rest}: another input may take another path"]

    def _ran_around(self, node, sites) -> bool:
        """Did the code around `node` (its def, else its program) record a
        step in this pass? Then `node` most likely ran too."""
        around = [region for region in self.regions if id(node) in region]
        if not around:
            return False
        innermost = min(around, key=len)
        return any(key in innermost for key in sites)


def _ids(body) -> set:
    return {id(n) for n in A.walk(body)}


def _lines(lines: list[int]) -> str:
    unique = sorted(set(lines))
    return ", ".join(str(n) for n in unique[:6]) + (", …" if len(unique) > 6 else "")


def _call_name(node) -> Optional[str]:
    func = node.func
    return func.name if type(func) is A.Attribute else getattr(func, "id", None)


def _detaching(expr) -> Optional[A.Node]:
    """For `x.detach()`, `detach(x)`, `x.numpy()`, `x.data`: the x."""
    if type(expr) is A.Attribute and expr.name == "data":
        return expr.obj
    if type(expr) is A.Call and _call_name(expr) in _DETACHING:
        if type(expr.func) is A.Attribute and not expr.args:
            return expr.func.obj
        return expr.args[0] if expr.args else None
    return None


def _d(text_: str) -> str:
    """`dx`, `d(x * x)`: "by" in a derivative."""
    return f"d{text_}" if text_.isidentifier() else f"d({text_})"


def _own_op(op, expr) -> bool:
    """Is `op` the expression's own operation (not one step of a call)?"""
    kind = type(expr)
    if kind is A.BinOp or kind is A.AugAssign:
        return op.label == f"'{expr.op}'"
    if kind is A.UnaryOp:
        return op is ops.NEG
    if kind is A.Call:
        name = _call_name(expr)
        return name == op.label or any(name in p.names for p in ops.PUBLIC if p.op is op)
    if kind is A.Index:
        return op is ops.GETITEM
    if kind is A.Attribute:
        return op.label == "transpose"
    if kind is A.ListLit:
        return op.label == "stack"
    if kind is A.Assign:
        return op is ops.COPY_SLICES
    return False


def _spelling(op) -> str:
    return op.label.strip("'") if op.label.startswith("'") else op.label


def _spelled(op, args) -> str:
    """An op applied to argument texts: `a - b`, `-a`, `mean(a)`."""
    label = op.label
    if label.startswith("'") and len(args) == 2:
        infix = label.strip("'")
        left, right = _bracketed(args[0]), _bracketed(args[1])
        return f"{left}**{right}" if infix == "**" else f"{left} {infix} {right}"
    if op is ops.NEG:
        return f"-{_bracketed(args[0])}"
    return f"{label}({', '.join(args)})"


def _bracketed(text_: str) -> str:
    """Text safe to stand as one factor: bracketed unless nothing but
    brackets holds an operator or a space (a name, a number, a call)."""
    depth = 0
    for k, ch in enumerate(text_):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (ch in " +*/@%<>=!,-" and not (ch == "-" and k and text_[k - 1] == "e")
                             or ch == "-" and k == 0):
            return f"({text_})"
    return text_


