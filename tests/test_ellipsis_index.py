"""`...` in an index (SPEC 1: `x[..., 0]`), read and written, with gradients."""

import numpy as np
import pytest

from gradcli import api
from gradcli.errors import EvalError, SyntaxProblem
from gradcli.lang import ast, parser


def printed(source):
    result = api.run(api.load(source), None, api.Options())
    return [[v.value for v in line] for line in result.printed]


def test_parses_to_an_ellipsis_item_with_its_span():
    expr = parser.parse("x[..., 0]").body[0].expr
    assert type(expr) is ast.Index
    item = expr.items[0]
    assert type(item) is ast.EllipsisIndex
    assert (item.span.line, item.span.column, item.span.end_column) == (1, 3, 6)


X = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("index, expected", [
    ("...", X), ("..., 0", X[..., 0]), ("0, ...", X[0, ...]), ("1, ..., 2", X[1, ..., 2]),
    ("..., 1:3, -1", X[..., 1:3, -1]), ("..., [0, 0, 3]", X[..., [0, 0, 3]]),
    ("0, 1, 2, ...", X[0, 1, 2, ...]),
])
def test_reads_as_numpy(index, expected):
    (value,), = printed(f"x = arange(24).reshape(2, 3, 4)\nprint(x[{index}])")
    np.testing.assert_array_equal(value, expected)


def test_writes_in_place_as_numpy():
    (value,), = printed("x = zeros(2, 3)\nx[..., 0] = 5\nx[1, ...] = x[1, ...] + 1\nprint(x)")
    expected = np.zeros((2, 3))
    expected[..., 0] = 5
    expected[1, ...] += 1
    np.testing.assert_array_equal(value, expected)


def test_gradient_flows_through_reads_and_recorded_writes():
    (gx, gw), = printed("""
x = arange(6).reshape(2, 3)
w = ones(2)
attach_grad(x)
attach_grad(w)
with record:
    y = x * 1
    y[..., 0] = w * 3
    z = sum(y[..., 1:] * y[..., 0:1])
z.backward()
print(x.grad, w.grad)
""")
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(gx, [[0, 3, 3], [0, 3, 3]])
    np.testing.assert_array_equal(gw, 3 * (x[:, 1] + x[:, 2]))


def test_two_ellipses_are_an_error():
    with pytest.raises(EvalError, match="only one '...'"):
        printed("x = zeros(2, 3)\nprint(x[..., ...])")


def test_an_ellipsis_outside_brackets_is_a_syntax_error():
    with pytest.raises(SyntaxProblem):
        parser.parse("y = ...")
