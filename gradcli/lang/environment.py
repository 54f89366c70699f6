"""Where a running program keeps its names: scopes chained lexically, and the
functions a `def` or `lambda` makes, which close over the scope they were
made in (Crafting Interpreters' Environment and LoxFunction).
"""

from __future__ import annotations

from ..errors import EvalError, LimitError

# What running a statement returns besides None: loops and calls look at it
# instead of catching an exception, which keeps loops cheap.
BREAK, CONTINUE, RETURN = "break", "continue", "return"
MAX_CALL_DEPTH = 200
MISSING = object()      # a name with no value (None is a value)


class Scope:
    """Variables of one function call (or the program), chained lexically."""

    __slots__ = ("vars", "parent", "ret")

    def __init__(self, vars, parent=None):
        self.vars, self.parent, self.ret = vars, parent, None

    def lookup(self, name):
        """The value of `name` here or in an enclosing scope, else MISSING."""
        scope = self
        while scope is not None:
            value = scope.vars.get(name, MISSING)
            if value is not MISSING:
                return value
            scope = scope.parent
        return MISSING


class CallDepth:
    """How many user function calls are under way, shared by a program's
    functions, so that runaway recursion stops at MAX_CALL_DEPTH with its
    own message rather than at Python's stack limit."""

    __slots__ = ("depth",)

    def __init__(self):
        self.depth = 0

    def enter(self, name):
        """Count one more call under way (of `name`), or stop at the limit."""
        if self.depth >= MAX_CALL_DEPTH:
            raise LimitError(f"recursion too deep: more than {MAX_CALL_DEPTH} nested "
                             f"function calls (in {name})")
        self.depth += 1


class UserFunction:
    """A `def` or `lambda`: callable from Python, so grad(f) can take it.
    `body` runs a compiled block in a scope and returns its status."""

    def __init__(self, calls: CallDepth, name, params, defaults, body, closure):
        self.calls, self.name, self.params = calls, name, params
        self.defaults, self.body, self.closure = defaults, body, closure

    def __call__(self, *args, **kwargs):
        local = self._bind(args, kwargs)
        calls = self.calls
        calls.enter(self.name)
        try:
            scope = Scope(local, self.closure)
            status = self.body(scope)
        finally:
            calls.depth -= 1
        return scope.ret if status is RETURN else None

    def _bind(self, args, kwargs) -> dict:
        """The call's arguments by parameter name, defaults filled in."""
        params = self.params
        if len(args) > len(params):
            raise EvalError(f"{self.name}() takes {len(params)} argument(s) but "
                            f"{len(args)} were given")
        local = dict(zip(params, args))
        for key, value in kwargs.items():
            if key not in params:
                raise EvalError(f"{self.name}() got an unexpected keyword argument '{key}'")
            if key in local:
                raise EvalError(f"{self.name}() got multiple values for argument '{key}'")
            local[key] = value
        for name, default in zip(params, self.defaults):
            if name not in local:
                if default is MISSING:
                    raise EvalError(f"{self.name}() missing argument '{name}'")
                local[name] = default
        return local

    def __repr__(self):
        return f"<function {self.name}>"
