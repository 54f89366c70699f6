"""Python lists of references (SPEC 1 "Lists").

A bracket literal of numbers (0-d values, tracked or not) is an array; one
that holds an array, a function or any other non-number is a plain Python `list`
whose items are the values themselves, so `params = [w, b]` followed by
`for p in params: p -= ...` updates `w` and `b`. Every array operation on a
list stacks it first (`to_tensor`, differentiably). This module holds what
lists need of their own: the literal rule, iteration, indexing, methods and
the built-ins `list`, `enumerate`, `zip` and `shuffle`.
"""

from __future__ import annotations

from ..core import creation, ops
from ..core.tensor import Tensor
from ..errors import EvalError
from .operations import binary, tensor_index, update_in_place
from .values import a_type, to_int, to_tensor


def _is_number(value) -> bool:
    """A single number: a Python one or a 0-d array, tracked or not (were
    tracking to decide, `gradcli grad`, which tracks the inputs, would run
    a program differently from `gradcli eval`)."""
    if isinstance(value, Tensor):
        return value.ndim == 0
    return isinstance(value, (bool, int, float))


def literal(values: list):
    """The value of a bracket literal whose items are `values`: an array of
    numbers (stacked differentiably), else a list of references."""
    if values and all(_is_number(v) for v in values):
        return to_tensor(values, "array literal")
    return values


def items_of(value, what="a loop") -> list:
    """The items of anything a `for` or a comprehension may loop over: a
    list, tuple or range as they are, an array's rows (differentiably)."""
    if isinstance(value, list):
        return value
    if isinstance(value, (tuple, range, str)):
        return list(value)
    if isinstance(value, Tensor):
        if value.ndim == 0:
            raise EvalError(f"{what} cannot loop over a scalar")
        return [ops.getitem(value, (i,)) for i in range(value.shape[0])]
    raise EvalError(f"{what} cannot loop over {a_type(value)}")


def index(target: list, where: tuple):
    """`lst[i]` / `lst[i:j]` as in Python; any other index (`lst[0, 1]`,
    `lst[idx]`) indexes the stacked array."""
    if len(where) == 1 and isinstance(where[0], (int, slice)):
        key = where[0]
        if isinstance(key, slice):
            return target[key]
        if not -len(target) <= key < len(target):
            raise EvalError(f"index {key} is out of range for a list of length {len(target)}")
        return target[key]
    array = to_tensor(target, "indexed list")
    return ops.getitem(array, tensor_index(array, where))


def store(target: list, where: tuple, value) -> None:
    """`lst[i] = v` replaces the item (the old value is left as it was)."""
    if len(where) != 1 or not isinstance(where[0], int):
        raise EvalError("a list item is assigned with a single whole-number index, "
                        "as in lst[0] = v")
    key = where[0]
    if not -len(target) <= key < len(target):
        raise EvalError(f"index {key} is out of range for a list of length {len(target)}")
    target[key] = value


def aug_store(target: list, where: tuple, opname: str, value) -> None:
    """`lst[i] += v`: an array item is updated in place (every name bound
    to it sees it, as `w` does after `params[0] -= ...`); any other item
    is replaced by the result."""
    item = index(target, where)
    if isinstance(item, Tensor) and len(where) == 1 and isinstance(where[0], int):
        update_in_place(item, opname, value, None)
    else:
        store(target, where, binary(opname, item, value))


def _append(lst, value):
    lst.append(value)


def _extend(lst, values):
    lst.extend(items_of(values, "extend()"))


def _insert(lst, i, value):
    lst.insert(to_int(i, "insert position"), value)


def _pop(lst, i=-1):
    if not lst:
        raise EvalError("pop from an empty list")
    i = to_int(i, "pop position")
    if not -len(lst) <= i < len(lst):
        raise EvalError(f"pop index {i} is out of range for a list of length {len(lst)}")
    return lst.pop(i)


# `lst.append(x)` and friends: Python's list methods, in place, returning None
# (pop returns the item). Every other method stacks the list (`lst.sum()`).
METHODS = {"append": _append, "extend": _extend, "insert": _insert, "pop": _pop}


def method(lst: list, name: str, args, kwargs):
    if kwargs:
        raise EvalError(f"list.{name}() takes no keyword arguments")
    try:
        return METHODS[name](lst, *args)
    except TypeError:
        raise EvalError(f"list.{name}() got {len(args)} arguments") from None


# ---------------------------------------------------------------- built-ins

def make_list(value=()):
    """`list(x)`: a new list of the items (an array gives its rows)."""
    return list(items_of(value, "list()"))


def enumerate_(value, start=0):
    """`enumerate(x)`: (index, item) pairs, eagerly, as a list of tuples."""
    start = to_int(start, "enumerate start")
    return [(start + i, item) for i, item in enumerate(items_of(value, "enumerate()"))]


def zip_(*values):
    """`zip(a, b, ...)`: tuples of the items at each position, up to the shortest."""
    return list(zip(*(items_of(v, "zip()") for v in values)))


def shuffle(lst):
    """`random.shuffle(lst)`: reorders the list in place with the run's
    seeded generator (`seed`, `--seed`), returning None as Python does."""
    if not isinstance(lst, list):
        hint = ("; for an array, index it with a permutation: x[permutation(len(x))]"
                if isinstance(lst, Tensor) else "")
        raise EvalError(f"shuffle needs a list, not {a_type(lst)}{hint}")
    if len(lst) > 1:
        order = creation.permutation(len(lst)).data
        lst[:] = [lst[int(i)] for i in order]
