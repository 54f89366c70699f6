"""`grad --mode forward`: the same gradients as reverse mode, by forward mode.

Forward mode moves one direction at a time: a pass seeds the tangent e_k
(one element of one variable) and runs the whole program with tangents
beside the values (core/forward.py); the result's tangent is the column
∂result/∂x_k of the Jacobian, and head · column is element k of the
gradient. So n input elements take n passes, where one reverse pass gives
all n partial derivatives of a single number: the cost argument of forward
against reverse accumulation, counted in `passes`.

The variable is seeded where the program binds it: an input when it is
declared (or given), a computed value at its last assignment, found by a
plain run first. Nothing is taped for the tangents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import api
from .core.forward import SEED, seed, tangent_of, tangents_on
from .core.tensor import Tensor, shape_str
from .errors import DataError, EvalError, LimitError, ShapeError
from .lang.ast import calls_backward, declared_inputs
from .lang.values import a_type, to_tensor

# Forward mode re-runs the program once per input element.
MAX_PASSES = 10_000


@dataclass
class ForwardResult:
    value: Optional[api.Shown]
    values: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]          # or, with jacobian=True, the Jacobians
    head: Optional[np.ndarray]
    passes: dict[str, int]                # "forward": n input elements; "reverse": ...
    warnings: list[str] = field(default_factory=list)


class _Seeding(dict):
    """A program's globals that count the bindings of one name and, at the
    `at`-th, replace the value with the variable of forward mode."""

    def __init__(self, given: dict, name: str, at: int = 0, tangent=None):
        super().__init__()
        self.name, self.at, self.tangent = name, at, tangent
        self.count = 0
        self.seeded = None
        for key, value in given.items():
            self[key] = value

    def __setitem__(self, key, value):
        if key == self.name:
            self.count += 1
            if self.count == self.at:
                value = self._seed(value)
        dict.__setitem__(self, key, value)

    def _seed(self, value):
        data = to_tensor(value, f"--wrt {self.name}").data
        if data.dtype.kind != "f":
            data = data.astype(api.MODE.dtype)
        self.seeded = seed(data, Tensor(self.tangent.reshape(data.shape).astype(data.dtype)))
        return self.seeded


def _run(program, inputs, options, of, name, at=0, tangent=None):
    """One run with `name`'s `at`-th binding seeded (at 0: none, a plain
    run that counts bindings); returns (interp, book, globals, output, head).
    The output is found with tangents still on: making it may compute (a
    list result is stacked into an array)."""
    # Tangents flow where reverse mode would record: everywhere, unless the
    # program runs its own backward (then inside its record blocks, MXNet).
    everywhere = not calls_backward(program)
    interp, book = api._prepare(program, inputs, options, (), record_everywhere=everywhere)
    scope = _Seeding(interp.globals.vars, name, at, tangent)
    interp.globals.vars = scope
    with tangents_on():
        interp.run(program)
        output, head = _output(interp, book, of)
    return interp, book, scope, output, head


def _output(interp, book, of):
    """The value differentiated and its head: --of, else the program's own
    backward call's output, else its last expression (as reverse mode)."""
    if book.backward_ran and of is None:
        if book.backward_count > 1:
            raise EvalError(f"--mode forward differentiates one result, but the program runs "
                            f"backward {book.backward_count} times; name the value with --of, "
                            "or use reverse mode (drop --mode)")
        output, head = book.last_backward
        return to_tensor(output), None if head is None else to_tensor(head).data
    result = api._result_tensor(interp, of)
    if result is None:
        raise EvalError("nothing to differentiate: the program ends without an expression; "
                        "end it with the value to differentiate or name it with --of")
    return result, None


def gradient(program, inputs=None, options: api.Options | None = None, wrt=None, of=None,
             head=None, jacobian=False) -> ForwardResult:
    """d(head · result)/d(each wrt variable), or with `jacobian` the full
    Jacobian, one forward pass per element of the variables."""
    options = options or api.Options()
    names = api._wrt_names(declared_inputs(program), inputs, wrt)
    if not names:
        raise EvalError(api.NOTHING_TO_DIFFERENTIATE)
    counts, values = {}, {}
    for name in names:      # a plain run per name counts its bindings
        interp, book, scope, output, program_head = _run(program, inputs, options, of, name)
        if not values:
            result, head_data = output, _head(head, program_head, output)
        if scope.count == 0:
            raise DataError(f"--wrt: the program has no variable or input '{name}'")
        value = scope[name]
        if not isinstance(value, Tensor) and not isinstance(value, (int, float)):
            raise DataError(f"--wrt: '{name}' is {a_type(value)}, not an array")
        data = to_tensor(value).data
        if data.dtype.kind in "biu":     # a mask or an index: as reverse mode decides
            if wrt:
                api._targets(interp, book, [name], result)      # says why it cannot
            continue
        counts[name] = scope.count
        values[name] = np.array(data, dtype=float)
    if not values:
        raise EvalError(api.NOTHING_TO_DIFFERENTIATE)
    total = sum(v.size for v in values.values())
    if total > MAX_PASSES:
        raise LimitError(f"--mode forward needs one pass per input element: {total:,} passes, "
                         f"more than {MAX_PASSES:,}; reverse mode takes one (drop --mode)")
    answers = {}
    for name, x in values.items():
        columns = [_column(program, inputs, options, of, name, counts[name], k, x)
                   for k in range(x.size)]
        answers[name] = _assembled(columns, result.shape, x.shape, head_data, jacobian,
                                   result.dtype)
    reverse = result.size if jacobian else 1
    return ForwardResult(api.snapshot(result), values, answers,
                         None if head is None else head_data,
                         {"forward": total, "reverse": reverse}, api._warnings())


def _head(head, program_head, result):
    if head is None:
        return program_head
    head_t = api.input_array("--head", head)
    if head_t.shape != result.shape:
        raise ShapeError(f"--head has shape {shape_str(head_t.shape)} but the result "
                         f"has shape {shape_str(result.shape)}")
    return head_t.data


def _column(program, inputs, options, of, name, at, k, x) -> np.ndarray:
    """∂result/∂x_k: the result's tangent in a pass seeded with e_k."""
    direction = np.zeros(x.size)
    direction[k] = 1.0
    _, _, scope, output, _ = _run(program, inputs, options, of, name, at, direction)
    final = dict.get(scope, name)
    # A recorded in-place update (`y *= 3`) gives the variable a history of
    # its own, and reverse mode differentiates by its value after it; a
    # write under no_grad, or attach_grad, leaves it the variable.
    if final is not scope.seeded or final.node not in (SEED, None):
        raise EvalError(f"--mode forward: '{name}' is changed in place after it is "
                        "assigned, so forward mode cannot seed it; use reverse mode "
                        "(drop --mode)")
    tangent = tangent_of(output)
    if tangent is None:
        return np.zeros(output.shape)
    return np.asarray(tangent.data, dtype=np.float64)


def _assembled(columns, result_shape, x_shape, head, jacobian, dtype) -> np.ndarray:
    """The Jacobian (result.shape + x.shape) from its columns, or its
    product with the head (ones by default), the gradient of x's shape."""
    jac = np.stack(columns, axis=-1).reshape(tuple(result_shape) + tuple(x_shape))
    if jacobian:
        return jac.astype(dtype)
    weights = np.ones(result_shape) if head is None else np.asarray(head, dtype=np.float64)
    axes = len(result_shape)
    return np.tensordot(weights, jac, axes=(tuple(range(axes)), tuple(range(axes)))) \
        .reshape(x_shape).astype(dtype)

