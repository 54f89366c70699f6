"""The op table's declarations hold: what an entry says about itself is true.

`elementwise=True` lets a first-order backward compute an op once per
repeated number; an op that does work number by number but is not marked
only loses that, silently, so the marking is checked here both ways.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcli.core import ops
from gradcli.lang.builtins import BUILTINS

ELEMENTWISE = sorted(name for name, op in ops.TABLE.items() if op.elementwise)


def test_every_ufunc_op_without_parameters_is_marked_elementwise():
    unmarked = [name for name, op in ops.TABLE.items()
                if isinstance(op.forward, np.ufunc) and not op.elementwise
                and op.prepare is None]
    assert not unmarked, f"ops computed number by number but not marked elementwise: {unmarked}"


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_an_op_marked_elementwise_computes_number_by_number(name):
    op = ops.TABLE[name]
    rng = np.random.default_rng(0)
    arity = len(op.vjps) if op.vjps else op.forward.nin
    args = [rng.uniform(0.1, 0.9, (3, 4)) for _ in range(arity)]
    whole = op.forward(*args)
    one_by_one = np.array([[op.forward(*[a[i, j] for a in args]) for j in range(4)]
                           for i in range(3)])
    np.testing.assert_array_equal(whole, one_by_one)


def test_every_public_function_is_a_builtin_under_each_name():
    for public in ops.PUBLIC:
        for name in public.names:
            assert BUILTINS[name].fn is BUILTINS[public.names[0]].fn, name
