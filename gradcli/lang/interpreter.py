"""Runs a parsed program on the tensor core.

Each AST node is compiled once into a Python closure, so running a loop
body costs closure calls, not re-inspection of nodes. Statements return a
status (None, BREAK, CONTINUE or RETURN) instead of raising, keeping loops
cheap. Errors get the span of the innermost node being evaluated, stamped
in `_stamped` and in the statement runner.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np

from ..core import ops
from ..core.defaults import MAX_STEPS
from ..core.tensor import (MODE, Tensor, apply, check_memory, check_time, grad_mode,
                           watching_floating_point)
from ..errors import EvalError, GradcliError, GradError, LimitError, Span, SyntaxProblem
from . import ast as A
from . import modules
from . import plots
from . import pylist
from .builtins import BUILTINS, HOOKED, NAMESPACES, backward_into_grads, observed_backward
from .operations import (BINARY_OPS, COMPARISONS, index_value, tensor_index,
                         update_in_place, write_index)
from .strings import binary, formatted, text
from .control import BUILTINS as CONTROL_BUILTINS
from .control import (CaughtError, Generator, GeneratorFunction, python_names,
                      unknown_exception_name)
from .environment import BREAK, CONTINUE, MISSING, RETURN, CallDepth, Scope, UserFunction
from .help import help_builtin
from .parser import parse
from .provenance import UNTRACKED, named_untracked, sources
from .suggest import hint
from .values import (Builtin, Context, Namespace, a_type, to_int, to_tensor, truth,
                     type_name)

_MODES = {"record": (True, True), "enable_grad": (True, None), "no_grad": (False, False)}
_BACKWARD = BUILTINS["backward"]


class Hooks:
    """What a run tells its host, and asks of it. The api passes its own
    (recording inputs, prints and backward calls for `grad` and `check`);
    these defaults suit a bare run: prints go nowhere, inputs take their
    defaults, backward calls are not remembered."""

    def print(self, values: list, sep: str = " ", end: str = "\n") -> None:
        """A `print(...)` call's values (`sep` and `end` are passed only
        when the call gives other ones than these)."""

    def input(self, name: str, default):
        """The value of `input name [= default]`; `default()` evaluates the
        default, None when there is none."""
        if default is None:
            raise EvalError(f"input '{name}' has no default and no value was given "
                            f"(pass --set {name}=JSON or pipe JSON on stdin)")
        return default()

    def backward(self, output, head, written: list) -> None:
        """A backward call ran from `output` with `head` (None: ones) and
        wrote the .grad of the leaves in `written`."""

    # Whether the host wants `bound` calls: read when a program is compiled,
    # so that a run whose host does not pays nothing for them.
    reports_bindings = False

    def bound(self, name: str, value) -> None:
        """`name = value` (or `name += ...`, or unpacking) just ran."""

    def backward_observer(self):
        """Asked as a backward call starts: None, or a callable to tell
        each step of it (engine.run_backward's `observe`; explain)."""
        return None

    def symbol(self, name: str):
        """The value of MXNet's symbolic input `sym.var(name)`."""
        raise EvalError(f"symbol '{name}' has no value: give one with --set {name}=JSON "
                        "(gradcli evaluates symbols; graph draws them without values)")

    def plot(self, figure: plots.Figure) -> None:
        """A figure the program drew (`plot()`, `scatter()`, D2L's plotting),
        as plain numbers (lang/plots.py); the host draws it, or not."""


class Interpreter:
    """One program's state: globals persist across `run` calls (the REPL)."""

    def __init__(self, *, max_steps=MAX_STEPS, hooks: Hooks | None = None,
                 record_everywhere=False, explain=False):
        self.globals = Scope({})
        self.max_steps = max_steps
        self.steps = 0
        self.calls = CallDepth()
        self.hooks = hooks or Hooks()
        self.last_value = None           # last top-level expression's value
        # Whether it is MXNet code, which records only inside `with record:`
        # (SPEC 2.1; a REPL session stays so once it has used record). A host
        # that differentiates the result itself (`gradcli grad`) asks for
        # recording everywhere instead: the result may lie outside a block.
        self.records_in_blocks = False
        self._programs: list = []        # what ran, read again only to word an error
        self._preludes: dict = {}        # d2l edition -> its helpers, once run
        self._symbol_var = Builtin("sym.var", _symbol_var(self.hooks))
        self.record_everywhere = record_everywhere
        # For `gradcli explain`: each operator, call, index and statement
        # sets MODE.site to a `Site` of its own while it runs, so that every
        # recorded node knows the expression that made it. Chosen when the
        # closures are compiled: a run without it pays nothing.
        self.explain = explain
        # D2L's pyplot figure, which `d2l.plt` dresses and which is handed to
        # the host when finished (lang/plots.py).
        self.pyplot = plots.Pyplot(self.hooks.plot)
        # The built-ins, with those that report to the host made here. They
        # hold the hooks, not the interpreter: a cycle through `self` would
        # keep every run's arrays alive until the cyclic collector ran.
        self.builtins = {**BUILTINS, **CONTROL_BUILTINS, **plots.builtins(self.pyplot),
                         "print": Builtin("print", _printer(self.hooks, self.pyplot),
                                          public=HOOKED["print"]),
                         "help": Builtin("help", help_builtin(self.hooks), public=HOOKED["help"]),
                         "backward": Builtin("backward", self._backward_builtin(),
                                             nondiff=_BACKWARD.nondiff, public=_BACKWARD.public)}

    # ------------------------------------------------------------ running

    def run(self, program: A.Program):
        self._loops = self._functions = 0
        problem = A.nesting_problem(program)
        if problem is not None:
            raise SyntaxProblem(*problem)
        # Compiling and running recurse on the program's nesting, a user
        # call costs a handful of Python frames, and MAX_CALL_DEPTH and the
        # nesting limits are what users see: Python's own limit must sit
        # well above all of them.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
        self._programs.append(program)
        with watching_floating_point():     # NaN/Inf are values, or with --detect-nan errors
            try:
                with A.collector_paused():
                    code = self._block(program.body, top=True)
            except RecursionError:
                raise LimitError("program nested too deeply to compile", program.span) from None
            if not (self.records_in_blocks or self.record_everywhere) and \
                    A.uses_record(program):
                self.records_in_blocks = True
            try:
                if self.records_in_blocks:
                    with grad_mode(False):
                        code(self.globals)
                else:
                    code(self.globals)
            except KeyboardInterrupt:
                self.pyplot.drop()
                raise
            except BaseException:
                self.pyplot.flush()     # what was drawn before the error is shown
                raise
            self.pyplot.flush()         # a figure still open when the program ends

    def _block(self, stmts, top=False):
        compiled = tuple((self._stmt(s, top), s.span) for s in stmts)
        interp = self

        def run_block(scope):
            for code, span in compiled:
                interp.steps += 1
                if interp.steps > interp.max_steps:
                    raise _out_of_steps(interp.max_steps, span)
                if not interp.steps & 1023:
                    _budgets(span)
                MODE.site = span
                try:
                    status = code(scope)
                except GradcliError as exc:
                    raise exc.at(span)
                except RecursionError:
                    raise LimitError("expression nested too deeply", span) from None
                except MemoryError:
                    raise LimitError("out of memory (try a smaller array)", span) from None
                if status is not None:
                    return status
            return None
        return run_block

    # ---------------------------------------------------------- statements

    def _stmt(self, node, top):
        method = getattr(self, "_stmt_" + type(node).__name__)
        code = method(node, top) if type(node) is A.ExprStmt else method(node)
        return _sited(code, node) if self.explain else code

    def _stmt_ExprStmt(self, node, top):
        expr = self._expr(node.expr)
        if not top:
            def run(scope):
                expr(scope)
            return run
        interp = self

        def run_top(scope):
            interp.last_value = expr(scope)
        return run_top

    def _stmt_Assign(self, node):
        value = self._expr(node.value)
        target = node.target
        if type(target) is A.Name:
            name = target.id

            def assign(scope):
                scope.vars[name] = value(scope)
            return self._binding(assign, (name,))
        if type(target) is A.TupleLit:
            return self._unpack(target, value)
        if type(target) is A.Index:
            store = self._index_store(target)
            return lambda scope: store(scope, value(scope))
        if type(target) is A.Attribute:     # `x.grad = None` (the parser allows no other)
            obj = self._expr(target.obj)

            def set_grad(scope):
                t = obj(scope)
                if not isinstance(t, Tensor):
                    raise EvalError(f"cannot set the gradient of {a_type(t)}", target.span)
                new = value(scope)
                t.set_grad(None if new is None else to_tensor(new, "gradient"))
            return set_grad
        raise EvalError("cannot assign to this expression", target.span)

    def _unpack(self, target, value):
        names = []
        for item in target.items:
            if type(item) is not A.Name:
                raise EvalError("tuple assignment needs plain names on the left", item.span)
            names.append(item.id)

        def unpack(scope):
            scope.vars.update(zip(names, _unpacked(value(scope), names)))
        return self._binding(unpack, names)

    def _stmt_AugAssign(self, node):
        value = self._expr(node.value)
        opname = node.op
        target = node.target
        if type(target) is A.Name:
            load = self._expr(target)
            name = target.id

            def aug_name(scope):
                old = load(scope)
                new = value(scope)
                if isinstance(old, Tensor):
                    update_in_place(old, opname, new, name)
                else:
                    scope.vars[name] = binary(opname, old, new)
            return self._binding(aug_name, (name,))
        if type(target) is A.Index:
            load = self._expr(target)
            store = self._index_store(target)
            container = self._expr(target.obj)
            index = self._index_items(target.items)

            def aug_index(scope):
                items = container(scope)
                if isinstance(items, list):     # lst[i] += v: the item itself, in place
                    return pylist.aug_store(items, index(scope), opname, value(scope))
                return store(scope, binary(opname, load(scope), value(scope)))
            return aug_index
        raise EvalError("cannot assign to this expression", target.span)

    def _binding(self, run, names):
        """The statement `run`, which binds `names`, telling the host each
        binding (Hooks.bound) only when it asks: others pay nothing."""
        return _reported(run, names, self.hooks) if self.hooks.reports_bindings else run

    def _index_store(self, target):
        obj = self._expr(target.obj)
        index = self._index_items(target.items)
        name = target.obj.id if type(target.obj) is A.Name else None

        def store(scope, value):
            dest = obj(scope)
            if isinstance(dest, list):
                return pylist.store(dest, index(scope), value)
            if not isinstance(dest, Tensor):
                raise EvalError(f"cannot assign into {a_type(dest)}")
            write_index(dest, index(scope), to_tensor(value, "assigned value"), name)
        return store

    def _stmt_InputDecl(self, node):
        name = node.name
        default = self._expr(node.default) if node.default is not None else None
        hooks = self.hooks

        def declare(scope):
            given = None if default is None else (lambda: default(scope))
            scope.vars[name] = hooks.input(name, given)
        return declare

    def _stmt_Import(self, node):
        """The names an import binds, worked out (and refused) before the
        program runs: an unknown module is an error at its name."""
        if node.module:
            modules.module(node.module, node.where)
        bound = []
        for item in node.items:
            if node.module:
                value = modules.imported(node.module, item.path, self.builtins, item.span,
                                         item.alias)
            else:
                path = modules.module(item.path, item.span).path
                # `import mxnet.autograd` binds `mxnet`, as in Python
                value = modules.module(path, None, item.alias) if item.alias else \
                    modules.module(path.split(".")[0])
            bound.append((item.alias or item.path.split(".")[0], value))
        bound = tuple(bound)

        interp = self

        def bind(scope):
            scope.vars.update((name, interp._with_prelude(value)) for name, value in bound)
        return bind

    def _with_prelude(self, value):
        """An imported d2l edition carries its helpers (modules.PRELUDES):
        their .ag source runs once per interpreter, when first imported."""
        if not (isinstance(value, Namespace) and value.path in modules.PRELUDES):
            return value
        members = self._preludes.get(value.path)
        if members is None:
            members = self._preludes[value.path] = self._run_prelude(value.path)
        return Namespace(value.name, value.path, members)

    def _run_prelude(self, path):
        program = parse(modules.prelude_source(path))
        scope = Scope({})
        # Explained, a helper's steps belong to the program's call of it:
        # its own lines are not the program's.
        explain, self.explain = self.explain, False
        try:
            with A.collector_paused():
                code = self._block(program.body)
        finally:
            self.explain = explain
        code(scope)
        members = {name: _helper(fn, f"d2l.{name}") for name, fn in scope.vars.items()
                   if isinstance(fn, UserFunction)}
        members.update(plots.d2l_members(self.pyplot))
        return members

    def _stmt_If(self, node):
        branches = tuple((self._expr(c), self._block(b)) for c, b in node.branches)
        spans = tuple(c.span for c, _ in node.branches)
        orelse = self._block(node.orelse) if node.orelse else None

        def run_if(scope):
            for (cond, body), span in zip(branches, spans):
                if _condition(cond(scope), "if condition", span):
                    return body(scope)
            if orelse is not None:
                return orelse(scope)
            return None
        return run_if

    def _loop_body(self, stmts, block=None):
        self._loops += 1
        try:
            return (block or self._block)(stmts)
        finally:
            self._loops -= 1

    def _stmt_While(self, node):
        cond = self._expr(node.cond)
        body = self._loop_body(node.body)
        span = node.cond.span
        interp = self

        def passes(scope):
            while _condition(cond(scope), "while condition", span):
                interp.steps += 1     # an empty-bodied spin still spends the budget
                if not interp.steps & 1023:
                    _budgets(span)
                yield None

        return lambda scope: _loop(passes(scope), None, body, scope)

    def _stmt_For(self, node):
        iterable = self._expr(node.iterable)
        body = self._loop_body(node.body)
        var = node.var

        span = node.iterable.span
        if type(var) is tuple:          # `for a, b in ...`
            def run_unpacking(scope):
                items = _unpacking(_iteration(iterable(scope), span), var, scope, span)
                return _loop(items, None, body, scope)
            return run_unpacking

        def run_for(scope):
            return _loop(_iteration(iterable(scope), span), var, body, scope)
        return run_for

    def _stmt_Break(self, node):
        if not self._loops:
            raise EvalError("'break' outside a loop", node.span)
        return lambda scope: BREAK

    def _stmt_Continue(self, node):
        if not self._loops:
            raise EvalError("'continue' outside a loop", node.span)
        return lambda scope: CONTINUE

    def _stmt_Pass(self, node):
        return lambda scope: None

    def _function_body(self, stmts, block=None):
        saved = self._loops, self._functions
        self._loops, self._functions = 0, self._functions + 1
        try:
            return (block or self._block)(stmts)
        finally:
            self._loops, self._functions = saved

    def _stmt_FuncDef(self, node):
        if _suspends(node.body):        # a generator function
            body = self._function_body(node.body, self._gen_block)
            make = self._function(node.name, node.params, body, GeneratorFunction)
        else:
            make = self._function(node.name, node.params, self._function_body(node.body))
        name = node.name

        def define(scope):
            scope.vars[name] = make(scope)
        return define

    def _function(self, name, params, body, kind=UserFunction):
        defaults = tuple(self._expr(p.default) if p.default is not None else None
                         for p in params)
        names = tuple(p.name for p in params)
        calls = self.calls

        def make(scope):
            values = tuple(MISSING if d is None else d(scope) for d in defaults)
            return kind(calls, name, names, values, body, scope)
        return make

    def _stmt_Return(self, node):
        if not self._functions:
            raise EvalError("'return' outside a function", node.span)
        value = self._expr(node.value) if node.value is not None else (lambda scope: None)

        def ret(scope):
            scope.ret = value(scope)
            return RETURN
        return ret

    def _stmt_With(self, node):
        context = self._expr(node.context)
        body = self._block(node.body)
        span = node.context.span

        def run_with(scope):
            # A fresh grad_mode: withs nest.
            with grad_mode(*_MODES[_context_kind(context(scope), span)]):
                return body(scope)
        return run_with

    # ------------------------------------------- generators and try/except
    # A def whose body holds a `yield` is compiled a second way: each
    # statement that can reach a `yield` becomes a Python generator function
    # (`_gen_*`) that the block runs with `yield from`; the others are the
    # ordinary closures. Statuses (BREAK, RETURN...) are the generators'
    # return values, so loops, `break` and `return` work as elsewhere.

    def _stmt_Yield(self, node):
        raise EvalError("'yield' outside a function", node.span)

    def _gen_block(self, stmts):
        # Runs of statements that cannot suspend are ordinary blocks.
        parts, plain = [], []
        for stmt in stmts:
            if not _suspends((stmt,)):
                plain.append(stmt)
                continue
            if plain:
                parts.append((self._block(plain), None))
                plain = []
            parts.append((self._gen_stmt(stmt), stmt.span))
        if plain:
            parts.append((self._block(plain), None))
        interp = self

        def run_block(scope):
            for code, span in parts:
                if span is None:
                    status = code(scope)
                else:
                    _count_step(interp, span)
                    try:
                        status = yield from code(scope)
                    except GradcliError as exc:
                        raise exc.at(span)
                if status is not None:
                    return status
            return None
        return run_block

    def _gen_stmt(self, node):
        return getattr(self, "_gen_" + type(node).__name__)(node)

    def _gen_Yield(self, node):
        value = self._expr(node.value) if node.value is not None else (lambda scope: None)

        def run_yield(scope):
            yield value(scope)
        return run_yield

    def _gen_If(self, node):
        branches = tuple((self._expr(c), self._gen_block(b), c.span) for c, b in node.branches)
        orelse = self._gen_block(node.orelse)

        def run_if(scope):
            for cond, body, span in branches:
                if _condition(cond(scope), "if condition", span):
                    return (yield from body(scope))
            return (yield from orelse(scope))
        return run_if

    def _gen_While(self, node):
        cond = self._expr(node.cond)
        body = self._loop_body(node.body, self._gen_block)
        span = node.cond.span
        interp = self

        def passes(scope):
            while _condition(cond(scope), "while condition", span):
                _count_step(interp, span)
                yield None
        return lambda scope: _gen_loop(passes(scope), None, body, scope)

    def _gen_For(self, node):
        iterable = self._expr(node.iterable)
        body = self._loop_body(node.body, self._gen_block)
        var, span = node.var, node.iterable.span
        return lambda scope: _gen_loop(_iteration(iterable(scope), span), var, body, scope)

    def _gen_With(self, node):
        context = self._expr(node.context)
        body = self._gen_block(node.body)
        span = node.context.span

        def run_with(scope):
            with grad_mode(*_MODES[_context_kind(context(scope), span)]):
                return (yield from body(scope))
        return run_with

    def _stmt_Try(self, node):
        body, handlers, orelse, final = self._try_parts(node, self._block)

        def attempt(scope):
            try:
                status = body(scope)
            except GradcliError as exc:
                run = _handler(handlers, exc, scope)
                if run is None:
                    raise
                return run(scope)
            return orelse(scope) if orelse is not None else status

        if final is None:
            return attempt

        def run_try(scope):
            try:
                status = attempt(scope)
            except LimitError:
                raise                   # a limit stops the program: no finally
            except Exception:
                ending = final(scope)
                if ending is not None:  # return/break in finally wins, as in Python
                    return ending
                raise
            ending = final(scope)
            return status if ending is None else ending
        return run_try

    def _gen_Try(self, node):
        body, handlers, orelse, final = self._try_parts(node, self._gen_block)

        def attempt(scope):
            try:
                status = yield from body(scope)
            except GradcliError as exc:
                run = _handler(handlers, exc, scope)
                if run is None:
                    raise
                return (yield from run(scope))
            return (yield from orelse(scope)) if orelse is not None else status

        def run_try(scope):
            try:
                status = yield from attempt(scope)
            except LimitError:
                raise
            except Exception:
                if final is not None:
                    ending = yield from final(scope)
                    if ending is not None:
                        return ending
                raise
            if final is None:
                return status
            ending = yield from final(scope)
            return status if ending is None else ending
        return run_try

    def _try_parts(self, node, block):
        """The compiled body, handlers ((names or None, bound name, body)),
        else and finally blocks (None when absent) of a `try`."""
        handlers = []
        for handler in node.handlers:
            names = None
            if handler.types is not None:
                names = frozenset(_exception_names(handler.types))
            handlers.append((names, handler.name, block(handler.body)))
        return (block(node.body), tuple(handlers),
                block(node.orelse) if node.orelse else None,
                block(node.finalbody) if node.finalbody else None)

    # --------------------------------------------------------- expressions

    def _expr(self, node):
        code = getattr(self, "_expr_" + type(node).__name__)(node)
        return _sited(code, node) if self.explain and type(node) in _SITED else code

    def _expr_Num(self, node):
        # errstate only where a literal can overflow: entering it costs more
        # than the conversion (numpy keeps it in a context variable).
        if abs(node.value) <= np.finfo(MODE.dtype).max:
            data = np.asarray(node.value, dtype=MODE.dtype)
        else:
            with np.errstate(over="ignore"):
                data = np.asarray(node.value, dtype=MODE.dtype)
        if np.isinf(data):      # the language has no inf literal: it overflowed
            raise EvalError(f"this number is too large for {np.dtype(MODE.dtype).name}: "
                            "it would be inf", node.span)
        return lambda scope: Tensor(data)

    def _expr_Str(self, node):
        value = node.value
        return lambda scope: value

    def _expr_Const(self, node):
        value = node.value
        return lambda scope: value

    def _expr_Name(self, node):
        name = node.id
        span = node.span
        interp = self
        builtin = self.builtins.get(name, MISSING)

        def load(scope):
            value = scope.vars.get(name, MISSING)
            if value is MISSING:
                outer = scope.parent
                while outer is not None and value is MISSING:
                    value = outer.vars.get(name, MISSING)
                    outer = outer.parent
                if value is MISSING:   # not a variable: a built-in, or an error
                    value = builtin if builtin is not MISSING else interp._global_name(name, span)
            return value
        return load

    def _global_name(self, name, span):
        if name in NAMESPACES:
            return Namespace(name)
        known = list(self.globals.vars) + list(self.builtins)
        raise EvalError(f"name '{name}' is not defined{hint(name, known)}", span)

    def _backward_builtin(self):
        """`backward` as the program calls it, the host told what ran."""
        hooks = self.hooks

        @functools.wraps(backward_into_grads)     # its signature, for call errors
        def backward(*args, **kwargs):
            written = observed_backward(hooks.backward_observer(), *args, **kwargs)
            head = args[1] if len(args) > 1 else kwargs.get("head")
            hooks.backward(args[0] if args else None, head, written)
        return backward

    def _expr_ListLit(self, node):
        if _is_constant_list(node):
            try:
                data = np.array(_literal_values(node), dtype=MODE.dtype)
            except ValueError:
                raise EvalError("array literal is ragged: every row must have the "
                                "same length", node.span) from None
            return lambda scope: Tensor(data)
        items = tuple(self._expr(i) for i in node.items)
        span = node.span

        def make_list(scope):
            return pylist.literal([item(scope) for item in items])
        return _stamped(make_list, span)

    def _expr_TupleLit(self, node):
        items = tuple(self._expr(i) for i in node.items)
        return lambda scope: tuple(item(scope) for item in items)

    def _expr_BinOp(self, node):
        left, right = self._expr(node.left), self._expr(node.right)
        opname = node.op
        if opname in ("is", "is not"):
            return _identity(left, right, opname == "is")
        fast = BINARY_OPS.get(opname)
        span = node.span
        temporary = _is_temporary(node.left)
        if fast is not None:
            def run_fast(scope):      # _stamped, inlined: the hottest closure
                a, b = left(scope), right(scope)
                try:
                    if type(a) is Tensor and type(b) is Tensor:
                        return apply(fast, (a, b), None, temporary)
                    return binary(opname, a, b)
                except GradcliError as exc:
                    raise exc.at(span)
                except (TypeError, ValueError, ArithmeticError, IndexError) as exc:
                    raise EvalError(str(exc), span) from exc
            return run_fast

        compare = COMPARISONS.get(opname)
        if compare is not None:
            def run_compare(scope):
                a, b = left(scope), right(scope)
                if type(a) is Tensor and type(b) is Tensor:
                    return compare(a, b)
                return binary(opname, a, b)
            return _stamped(run_compare, span)

        def run(scope):
            return binary(opname, left(scope), right(scope))
        return _stamped(run, span)

    def _expr_UnaryOp(self, node):
        operand = self._expr(node.operand)
        span = node.span
        if node.op == "not":
            return lambda scope: not _condition(operand(scope), "operand of 'not'", span)
        if node.op == "+":
            return operand

        def negate(scope):
            value = operand(scope)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
            return ops.neg(to_tensor(value, "operand of '-'"))
        return _stamped(negate, span)

    def _expr_BoolOp(self, node):
        left, right = self._expr(node.left), self._expr(node.right)
        span = node.span
        what = f"operand of '{node.op}'"
        if node.op == "and":
            def run_and(scope):
                a = left(scope)
                return right(scope) if _condition(a, what, span) else a
            return run_and

        def run_or(scope):
            a = left(scope)
            return a if _condition(a, what, span) else right(scope)
        return run_or

    def _expr_Call(self, node):
        call = self._plain_call(node)
        subjects = _backward_subjects(node)
        if subjects is None:
            return call
        # y.backward() on an untracked y: the core's message, with the
        # program's own names (lang/provenance.py).
        programs = self._programs

        def run_backward(scope):
            try:
                return call(scope)
            except GradError as exc:
                if not exc.message.startswith(UNTRACKED):
                    raise
                subject = _backward_subject(subjects, scope)
                raise named_untracked(exc, subject, sources(programs), scope) from None
        return run_backward

    def _plain_call(self, node):
        args = tuple(self._expr(a) for a in node.args)
        keywords = tuple((k.name, self._expr(k.value)) for k in node.keywords)
        span = node.span
        func = node.func
        if type(func) is A.Attribute:
            return _stamped(self._method_call(func, args, keywords), span)
        callee = self._expr(func)
        what = func.id if type(func) is A.Name else "this value"
        # `exp(-x * x)`: the argument is a temporary the call may overwrite.
        temporary = len(args) == 1 and not keywords and _is_temporary(node.args[0])

        def run_call(scope):
            fn = callee(scope)
            if not callable(fn) or isinstance(fn, Tensor):
                raise EvalError(f"{what} is {a_type(fn)}, not a function")
            values = [a(scope) for a in args]
            if temporary and type(fn) is Builtin and fn.on_temporary is not None:
                return fn.on_temporary(values[0])
            if keywords:
                return fn(*values, **{k: v(scope) for k, v in keywords})
            return fn(*values)
        return _stamped(run_call, span)

    def _method_call(self, func, args, keywords):
        obj = self._expr(func.obj)
        name = func.name
        interp = self
        # Every built-in is a method too (SPEC 1), print aside: it is a statement's.
        method = self.builtins.get(name) if name != "print" else None

        def run_method(scope):
            target = obj(scope)
            values = [a(scope) for a in args]
            kwargs = {k: v(scope) for k, v in keywords} if keywords else {}
            if isinstance(target, Namespace):
                return interp._namespace_member(target, name, func.span)(*values, **kwargs)
            if isinstance(target, list) and name in pylist.METHODS:
                return pylist.method(target, name, values, kwargs)
            if isinstance(method, Builtin):
                return method(target, *values, **kwargs)
            raise EvalError(_no_method_message(target, name), func.span)
        return run_method

    def _namespace_member(self, namespace, name, span):
        if namespace.path == "mxnet.symbol" and name in ("var", "Variable"):
            return self._symbol_var
        found = modules.member(namespace, name, span)
        if found is not modules.MISSING:
            return found
        if namespace.path is None and name in NAMESPACES:
            return Namespace(name)
        if name in self.builtins:
            return self.builtins[name]
        raise EvalError(f"'{namespace.name}.{name}' is not a gradcli built-in"
                        f"{hint(name, list(self.builtins) + list(NAMESPACES))}", span)

    def _expr_Attribute(self, node):
        obj = self._expr(node.obj)
        name = node.name
        label = node.obj.id if type(node.obj) is A.Name else None
        interp = self

        def attribute(scope):
            target = obj(scope)
            if isinstance(target, Namespace):
                return interp._namespace_member(target, name, node.span)
            if isinstance(target, list) and name in _ATTRIBUTES:
                target = to_tensor(target, f"list (for .{name})")   # an array operation
            if isinstance(target, Tensor):
                getter = _ATTRIBUTES.get(name)
                if getter is not None:
                    return getter(target, label)
                if isinstance(BUILTINS.get(name), Builtin):
                    raise EvalError(f"'{name}' is a method: call it as .{name}()")
            raise EvalError(_no_method_message(target, name, attribute=True))
        return _stamped(attribute, node.span)

    def _expr_Index(self, node):
        obj = self._expr(node.obj)
        index = self._index_items(node.items)

        def run_index(scope):
            target = obj(scope)
            where = index(scope)
            if isinstance(target, list):
                return pylist.index(target, where)
            if isinstance(target, (tuple, str, range)):
                if len(where) != 1 or not isinstance(where[0], (int, slice)):
                    raise EvalError(f"{a_type(target)} takes a single index")
                try:
                    return target[where[0]]
                except IndexError:
                    raise EvalError(f"index {where[0]} is out of range for a "
                                    f"{type_name(target)} of length {len(target)}") from None
            if not isinstance(target, Tensor):
                raise EvalError(f"{a_type(target)} cannot be indexed")
            return ops.getitem(target, tensor_index(target, where))
        return _stamped(run_index, node.span)

    def _index_items(self, items):
        parts = []
        for item in items:
            if type(item) is A.Slice:
                bounds = tuple(None if p is None else self._expr(p)
                               for p in (item.start, item.stop, item.step))
                parts.append(("slice", bounds))
            elif type(item) is A.EllipsisIndex:
                parts.append(("item", lambda scope: Ellipsis))
            else:
                parts.append(("item", self._expr(item)))
        parts = tuple(parts)

        def index(scope):
            out = []
            for kind, part in parts:
                if kind == "slice":
                    out.append(slice(*(None if p is None else to_int(p(scope), "slice bound")
                                       for p in part)))
                else:
                    out.append(index_value(part(scope)))
            return tuple(out)
        return index

    def _expr_FString(self, node):
        parts = tuple(self._fstring_part(p) for p in node.parts)
        return lambda scope: "".join([part(scope) for part in parts])

    def _fstring_part(self, part):
        if type(part) is A.Str:
            value = part.value
            return lambda scope: value
        value = self._expr(part.value)
        spec = self._expr_FString(part.spec) if part.spec is not None else None
        conversion = part.conversion
        if spec is None and not conversion:
            return _stamped(lambda scope: text(value(scope)), part.span)
        return _stamped(lambda scope: formatted(value(scope), spec(scope) if spec else "",
                                                conversion), part.span)

    def _expr_ListComp(self, node):
        """Python 3's scoping: the loop names live in a scope of the
        comprehension's own, the first iterable is evaluated outside it."""
        clauses = tuple((c.target, self._expr(c.iterable), tuple(self._expr(e) for e in c.conds),
                         c.iterable.span, c.span) for c in node.clauses)
        element = self._expr(node.element)
        interp = self
        span = node.span

        def fill(out, local, level):
            target, iterable, conds, where, clause_span = clauses[level]
            try:
                items = pylist.items_of(iterable(local), "a comprehension")
            except GradcliError as exc:
                raise exc.at(where)
            last = level == len(clauses) - 1
            for item in items:
                interp.steps += 1       # each item spends the statement budget
                if interp.steps > interp.max_steps:
                    raise _out_of_steps(interp.max_steps, span)
                if not interp.steps & 1023:
                    _budgets(span)
                if type(target) is tuple:
                    local.vars.update(zip(target, _unpack_item(item, target, clause_span)))
                else:
                    local.vars[target] = item
                if all(_condition(c(local), "comprehension condition", clause_span)
                       for c in conds):
                    if last:
                        out.append(element(local))
                    else:
                        fill(out, local, level + 1)

        def comprehension(scope):
            out = []
            fill(out, Scope({}, scope), 0)
            return out
        return _stamped(comprehension, span)

    def _expr_Lambda(self, node):
        body = self._function_body((A.Return(node.body, node.body.span),))
        return self._function("<lambda>", node.params, body)


# ------------------------------------------------------------------ helpers

def _gen_loop(items, var, body, scope):
    """`_loop` in a generator: `body` may suspend."""
    if type(var) is tuple:
        items, var = _unpacking(items, var, scope), None
    variables = scope.vars
    for item in items:
        if var is not None:
            variables[var] = item
        status = yield from body(scope)
        if status is BREAK or status is RETURN:     # continue goes on
            return status if status is RETURN else None
    return None


def _iteration(items, span):
    """What a `for` loop walks through: rows of an array, or the items of a
    range, tuple, list or generator."""
    if isinstance(items, Tensor):
        if items.ndim == 0:
            raise EvalError("cannot loop over a scalar", span)
        return _rows(items)
    if not isinstance(items, (range, tuple, list, Generator)):
        raise EvalError(f"cannot loop over {a_type(items)}", span)
    return items


def _reported(run, names, hooks):
    """The statement `run`, which binds `names`, then the host told each
    binding (Hooks.bound)."""
    def run_reported(scope):
        run(scope)
        for name in names:
            where = scope
            while name not in where.vars:    # `x += 1` on a variable of an outer scope
                where = where.parent
            hooks.bound(name, where.vars[name])
    return run_reported


def _unpacked(items, names):
    """`items` as a sequence of len(names) values, for tuple assignment."""
    if isinstance(items, Tensor):
        if items.ndim == 0:
            raise EvalError("cannot unpack a scalar")
        items = [ops.getitem(items, (i,)) for i in range(items.shape[0])]
    elif not isinstance(items, (tuple, list)):
        raise EvalError(f"cannot unpack {a_type(items)}")
    if len(items) != len(names):
        raise EvalError(f"cannot unpack {len(items)} values into {len(names)} names")
    return items


def _unpacking(items, names, scope, span):
    """The items of `for a, b in ...`, each unpacked into the names as it
    is reached (the loop itself binds nothing); errors point at `span`."""
    variables = scope.vars
    for item in items:
        try:
            variables.update(zip(names, _unpacked(item, names)))
        except GradcliError as exc:
            raise exc.at(span)
        yield None


def _loop(items, var, body, scope):
    """Run `body` once per item (bound to `var` unless None), honouring
    break and passing a return on."""
    variables = scope.vars
    for item in items:
        if var is not None:
            variables[var] = item
        status = body(scope)
        if status is not None:
            if status is BREAK:
                return None
            if status is RETURN:
                return status
    return None


def _unpack_item(item, names, span):
    """The values of one loop item for the names of `for a, b in ...`."""
    if isinstance(item, Tensor) and item.ndim:
        item = [ops.getitem(item, (i,)) for i in range(item.shape[0])]
    elif not isinstance(item, (tuple, list)):
        raise EvalError(f"cannot unpack {a_type(item)} into {len(names)} names", span)
    if len(item) != len(names):
        raise EvalError(f"cannot unpack {len(item)} values into {len(names)} names", span)
    return item


def _out_of_steps(max_steps, span):
    return LimitError(f"program stopped after {max_steps:,} statements (a runaway loop?); "
                      "raise the budget with --max-steps", span)
def _context_kind(ctx, span):
    if not isinstance(ctx, Context):
        raise EvalError(f"with: expected record, no_grad or pause, got a "
                        f"{type_name(ctx)}", span)
    return ctx.kind


def _count_step(interp, span):
    """One statement's share of the budgets, as `_block` counts it."""
    interp.steps += 1
    if interp.steps > interp.max_steps:
        raise LimitError(f"program stopped after {interp.max_steps:,} statements "
                         "(a runaway loop?); raise the budget with --max-steps", span)
    if not interp.steps & 1023:
        _budgets(span)
    MODE.site = span


def _suspends(stmts) -> bool:
    """Whether a `yield` is among `stmts`, outside any nested def."""
    stack = list(stmts)
    while stack:
        item = stack.pop()
        if type(item) is A.Yield:
            return True
        if isinstance(item, A.Node) and type(item) is not A.FuncDef:
            stack.extend(getattr(item, f) for f in item._links)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
    return False


def _backward_subjects(node):
    """For a call of `backward`, the nodes that may be the value it runs
    from: (receiver, first argument); None for any other call."""
    func = node.func
    first = node.args[0] if node.args else None
    if type(func) is A.Name and func.id == "backward":
        return None, first
    if type(func) is A.Attribute and func.name == "backward":
        return func.obj, first      # y.backward(), or autograd.backward(y)
    return None


def _backward_subject(subjects, scope):
    """Which of the subjects the call ran from: the receiver unless it is a
    namespace (autograd.backward(y)) rather than a value."""
    receiver, first = subjects
    if receiver is not None and not (type(receiver) is A.Name
                                     and scope.lookup(receiver.id) is MISSING):
        return receiver
    return first if first is not None else receiver


def _exception_names(node):
    """The names an `except` clause lists: `Name`, `mx.base.MXNetError`
    (its last part counts) or a tuple of those, each checked."""
    items = node.items if type(node) is A.TupleLit else (node,)
    for item in items:
        if type(item) is A.Name:
            name = item.id
        elif type(item) is A.Attribute:
            name = item.name
        else:
            raise EvalError("except needs an error class name, such as Exception or "
                            "RuntimeError", item.span)
        problem = unknown_exception_name(name)
        if problem is not None:
            raise EvalError(problem, item.span)
        yield name


def _handler(handlers, error, scope):
    """The body of the first handler that catches `error`, its `as` name
    bound; None when none does (or `error` is a limit)."""
    caught = python_names(error)
    if not caught:
        return None
    for names, name, body in handlers:
        if names is None or names & caught:
            if name is not None:
                scope.vars[name] = CaughtError(error)
            return body
    return None


def _budgets(span):
    """Every 1024 statements: the wall clock (--timeout) and the memory in
    use (--max-memory), which grows with the recorded graph too."""
    try:
        check_time()
        check_memory()
    except GradcliError as exc:
        raise exc.at(span)


def _rows(array):
    """The slices of an array along its first axis, one at a time."""
    for i in range(array.shape[0]):
        yield ops.getitem(array, (i,))


@dataclass(frozen=True, slots=True, eq=False)
class Site(Span):
    """Where a recorded node was made, in an explained run: the span of the
    expression (or statement) and the syntax node itself. A Span, so that
    messages and errors that name a node's place read it as one."""

    node: A.Node


# What can record a node: operators, calls, indexing, `x.T`, a list of
# tracked values stacked.
_SITED = frozenset({A.BinOp, A.UnaryOp, A.Call, A.Index, A.Attribute, A.ListLit})


def _sited(code, node):
    """`code` run with MODE.site set to `node`'s Site (explain)."""
    span = node.span
    site = Site(span.line, span.column, span.end_line, span.end_column, node)

    def run(scope):
        outer = MODE.site
        MODE.site = site
        try:
            return code(scope)
        finally:
            MODE.site = outer
    return run


def _stamped(fn, span):
    """Give errors raised inside `fn` the span of its node (innermost wins)."""
    def run(scope):
        try:
            return fn(scope)
        except GradcliError as exc:
            raise exc.at(span)
        except (TypeError, ValueError, ArithmeticError, IndexError) as exc:
            raise EvalError(str(exc), span) from exc
    return run


def _symbol_var(hooks):
    """MXNet's `sym.var(name)`: a symbolic input, the value the host gives
    for `name` (api: --set name=..., tracked for grad; a placeholder 0 when
    graph draws the expression without values)."""
    def var(name, shape=None, dtype=None, **attrs):
        if not isinstance(name, str):
            raise EvalError(f"sym.var: the name must be a string, not {a_type(name)}")
        return hooks.symbol(name)
    return var


def _helper(fn, label):
    """A d2l helper as the program calls it: an error inside it is reported
    at the program's call, naming the helper (not at a line of its source)."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LimitError:
            raise
        except GradcliError as exc:
            exc.span = None
            exc.message = f"{label}: {exc.message}"
            raise
    return Builtin(label, call)


def _printer(hooks, pyplot):
    def print_(*values, sep=None, end=None, file=None, flush=False):
        if file is not None:
            raise EvalError("print(): file= is not supported; prints go to the output")
        sep, end = _print_text(sep, "sep", " "), _print_text(end, "end", "\n")
        pyplot.flush()          # a figure being dressed is shown before what follows it
        if sep == " " and end == "\n":
            hooks.print(list(values))
        else:
            hooks.print(list(values), sep=sep, end=end)
    return print_


def _print_text(value, what, default):
    if value is None:
        return default
    if not isinstance(value, str):
        raise EvalError(f"print(): {what} must be None or a string, not {a_type(value)}")
    return value


def _identity(left, right, same):
    """`a is b` / `a is not b`: the same value (`x.grad is None`)."""
    return lambda scope: (left(scope) is right(scope)) is same


def _is_temporary(expr) -> bool:
    """Is the value of `expr` new and held by nobody else? True of what an
    operator makes (unary '+' hands back its operand, so not that)."""
    return type(expr) is A.BinOp or (type(expr) is A.UnaryOp and expr.op == "-")


def _condition(value, what, span):
    try:
        return truth(value, what)
    except GradcliError as exc:
        raise exc.at(span)


def _is_constant_list(node):
    return bool(node.items) and all(type(i) is A.Num or (type(i) is A.ListLit and _is_constant_list(i))
               or (type(i) is A.UnaryOp and i.op == "-" and type(i.operand) is A.Num)
               for i in node.items)


def _literal_values(node):
    if type(node) is A.Num:
        return node.value
    if type(node) is A.UnaryOp:
        return -node.operand.value
    return [_literal_values(i) for i in node.items]


def _no_method_message(target, name, attribute=False):
    kind = type_name(target)
    kind = ("an " if kind[0] in "aeiou" else "a ") + kind
    known = list(_ATTRIBUTES) + [n for n, b in BUILTINS.items() if isinstance(b, Builtin)]
    what = "attribute" if attribute else "method"
    return f"{kind} has no {what} '{name}'{hint(name, known)}"


def _grad_attribute(t: Tensor, label):
    if t._grad is not None or t.keeps_grad:     # None until a backward reaches it
        return t.grad
    who = f"'{label}'" if label else "this value"
    if t.node is not None:
        raise GradError(f"{who} is computed, not a leaf, so it keeps no gradient; "
                        f"call {label or 'y'}.retain_grad() before backward to keep it, "
                        f"attach_grad({label or 'x'}) to make it a leaf, or use grad(f)")
    raise GradError(f"{who} is not tracked, so it has no gradient; call "
                    f"attach_grad({label or 'x'}) (or {label or 'x'}.attach_grad()) "
                    "before computing with it")


_ATTRIBUTES = {
    "T": lambda t, label: ops.transpose(t),
    "shape": lambda t, label: tuple(t.shape),
    "size": lambda t, label: int(t.size),
    "ndim": lambda t, label: int(t.ndim),
    "dtype": lambda t, label: np.dtype(t.dtype).name,
    "grad": _grad_attribute,
    "grad_fn": lambda t, label: t.grad_fn,
    "data": lambda t, label: t.detach(),       # PyTorch's / MXNet's numbers, cut from the graph
    "is_leaf": lambda t, label: t.node is None,
    "requires_grad": lambda t, label: t.requires_grad,
}

ATTRIBUTE_NAMES = tuple(_ATTRIBUTES)
