"""Which variables a value was computed from, as far as the program text
tells: enough to name, in the message for `y.backward()` on an untracked
value, the input that needs `attach_grad` (the core knows no names, and an
untracked value keeps no graph to look back through).

`sources` maps each assigned name to the names read where it is assigned
(every assignment to it, `a = ...`, `a, b = ...`, `a += ...`, `for a in
...`), over the whole program; it is worked out only when the error is
being worded.
"""

from __future__ import annotations

from ..core.tensor import Tensor
from ..errors import GradError
from . import ast as A
from .environment import MISSING

UNTRACKED = "backward: this value is not tracked"    # how the core's message starts


def sources(programs) -> dict:
    """Name -> the names it is computed from, over `programs` (a REPL runs
    one per input)."""
    found: dict = {}
    for node in A.walk(list(programs)):
        kind = type(node)
        if kind is A.Assign or kind is A.AugAssign:
            targets, value = node.target, node.value
        elif kind is A.For:
            targets, value = node.var, node.iterable
        else:
            continue
        read = names_in(value)
        for name in _target_names(targets):
            found.setdefault(name, set()).update(read)
    return found


def _target_names(target):
    if isinstance(target, str):
        return (target,)
    if isinstance(target, tuple):
        return target
    if type(target) is A.Name:
        return (target.id,)
    if type(target) is A.TupleLit:
        return tuple(item.id for item in target.items if type(item) is A.Name)
    return ()       # x[i] = ...: x was made elsewhere


def names_in(expr) -> set:
    return {node.id for node in A.walk(expr) if type(node) is A.Name}


def named_untracked(error: GradError, subject, origins: dict, scope) -> GradError:
    """The core's untracked-backward error, reworded with the variable names
    of this program: which value, and which input(s) to attach_grad."""
    label = subject.id if type(subject) is A.Name else None
    roots, tracked = _roots(names_in(subject), origins, scope)
    who = f"'{label}'" if label else "this value"
    if tracked and not roots:
        listed = ", ".join(tracked)
        return GradError(f"backward: {who} is not tracked, so it has no gradient; it is "
                         f"computed from {listed}, tracked but not recorded here: compute it "
                         "outside `with no_grad:` (in an MXNet program, inside "
                         "`with autograd.record():`)", error.span)
    if len(roots) == 1:
        fix = f"call attach_grad({roots[0]}) on an input before computing from it"
    elif roots:
        listed = ", ".join(roots[:-1]) + " or " + roots[-1]
        fix = (f"call attach_grad on the inputs to differentiate by ({listed}) "
               "before computing from them")
    else:
        fix = (f"call attach_grad on the inputs {who} is computed from, "
               "before computing it")
    return GradError(f"backward: {who} is not tracked, so it has no gradient; {fix} "
                     "(and not inside `with no_grad:`)", error.span)


def _roots(start: set, origins: dict, scope) -> tuple[list, list]:
    """The array variables that `start` was computed from and that were not
    themselves computed from other array variables: (the untracked ones,
    the tracked ones), each in name order."""
    def array(name):
        value = scope.lookup(name)
        return value is not MISSING and isinstance(value, Tensor)

    seen, stack, roots, tracked = set(), sorted(start), [], []
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        made_from = [n for n in origins.get(name, ()) if n != name and array(n)]
        if made_from:
            stack.extend(made_from)
        elif array(name):
            (tracked if scope.lookup(name).requires_grad else roots).append(name)
    return sorted(roots, key=str.lower), sorted(tracked, key=str.lower)
