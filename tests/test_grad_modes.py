"""`grad --mode forward` and `grad --order 2` of an elementwise result, on
the command line (issue 14 items 2 and 3): the numbers against closed
forms and reverse mode, the labels, the pass counts, JSON and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradcli import api, forward_mode
from test_cli import gradcli

LEAST_SQUARES = """input X = [[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [3.0, 0.0, -1.0], [1.0, 1.0, 1.0]]
input w = [0.5, -1.0, 2.0]
input t = [1.0, 0.0, 2.0, -1.0]
norm(X @ w - t) ** 2
"""


def _json(*args):
    result = gradcli(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_forward_mode_gives_the_closed_form_of_least_squares_and_counts_passes():
    data = _json("grad", "-e", LEAST_SQUARES, "--wrt", "w", "--mode", "forward", "--json")
    X = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [3.0, 0.0, -1.0], [1.0, 1.0, 1.0]])
    w, t = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, 2.0, -1.0])
    np.testing.assert_allclose(data["grads"]["w"], 2 * X.T @ (X @ w - t), rtol=1e-14)
    assert data["mode"] == "forward"
    assert data["passes"] == {"forward": 3, "reverse": 1}


def test_forward_mode_equals_reverse_mode_for_every_input():
    reverse = _json("grad", "-e", LEAST_SQUARES, "--json")["grads"]
    forward = _json("grad", "-e", LEAST_SQUARES, "--mode", "forward", "--json")
    assert forward["passes"] == {"forward": 12 + 3 + 4, "reverse": 1}
    for name, g in reverse.items():
        np.testing.assert_allclose(forward["grads"][name], g, rtol=1e-13, atol=1e-13)


def test_forward_mode_table_says_what_each_mode_cost():
    result = gradcli("grad", "-e", "input x = [1.0, 2.0, 3.0]\ninput w = [0.5, -1.0, 2.0]\n"
                     "sum((x * w) ** 2) + dot(x, w)", "--mode", "forward")
    assert result.exit_code == 0, result.output
    assert "gradients of result by forward mode" in result.stdout
    assert "│ x    │ (3,)  │ 1  2  3        │ 1  3  26  │" in result.stdout
    assert "│ w    │ (3,)  │ 0.5  -1.0  2.0 │ 2  -6  39 │" in result.stdout
    assert result.stdout.endswith(
        "forward mode: 6 passes, one per element of x (3) and w (3); reverse mode needs "
        "1 backward pass for all of them\n")


def test_forward_mode_jacobian_of_softmax_takes_one_pass_per_input_element():
    data = _json("grad", "-e", "input x = [1.0, 2.0, 3.0]\nsoftmax(x)", "--jacobian",
                 "--mode", "forward", "--json")
    s = np.exp([1.0, 2.0, 3.0]) / np.sum(np.exp([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(data["jacobian"]["x"], np.diag(s) - np.outer(s, s),
                               rtol=1e-14, atol=1e-16)
    assert data["passes"] == {"forward": 3, "reverse": 3}


def test_forward_mode_with_a_head_is_the_vector_jacobian_product():
    data = _json("grad", "-e", "input x = [[1.0, 2.0], [3.0, 4.0]]\n2 * x * x",
                 "--head", "[[10, 1], [0.1, 0.01]]", "--mode", "forward", "--json")
    assert data["grads"]["x"] == [[40.0, 8.0], [1.2000000000000002, 0.16]]
    assert data["head"] == [[10.0, 1.0], [0.1, 0.01]]


def test_forward_mode_by_a_computed_value_seeds_its_last_assignment():
    # SPEC 2.1's intermediate: y rebound twice; the gradient is by the last y.
    source = "input x = [1.0, 2.0]\ny = x * 3\ny = y * x\nsum(y * y)"
    forward = _json("grad", "-e", source, "--wrt", "y", "--mode", "forward", "--json")
    reverse = _json("grad", "-e", source, "--wrt", "y", "--json")
    assert forward["grads"] == reverse["grads"] == {"y": [6.0, 24.0]}


def test_forward_mode_of_a_program_that_runs_its_own_backward():
    source = "input x = [1.0, 2.0]\nattach_grad(x)\nwith record:\n    y = 2 * x * x\ny.backward()\n"
    assert _json("grad", "-e", source, "--mode", "forward", "--json")["grads"] == \
        {"x": [4.0, 8.0]}


def test_forward_mode_follows_only_the_branch_taken():
    source = ("input a = [1.0, 2.0]\ndef f(a):\n    if sum(a) < 15:\n        return a * 2\n"
              "    return a\nf(a)")
    assert _json("grad", "-e", source, "--mode", "forward", "--json")["grads"] == \
        {"a": [2.0, 2.0]}


def test_forward_mode_refuses_a_variable_changed_in_place_after_it_is_assigned():
    result = gradcli("grad", "-e", "input x = [1.0]\ny = x * 2\ny *= 3\nsum(y)", "--wrt", "y",
                     "--mode", "forward")
    assert result.exit_code == 1
    assert result.stderr == ("gradcli: error: --mode forward: 'y' is changed in place after "
                             "it is assigned, so forward mode cannot seed it; use reverse "
                             "mode (drop --mode)\n")


def test_forward_mode_refuses_more_passes_than_its_limit(monkeypatch):
    monkeypatch.setattr(forward_mode, "MAX_PASSES", 5)
    with pytest.raises(Exception) as info:
        forward_mode.gradient(api.load("input x = zeros(6)\nsum(x)"))
    assert info.value.message == ("--mode forward needs one pass per input element: 6 passes, "
                                  "more than 5; reverse mode takes one (drop --mode)")


def test_forward_mode_with_order_2_is_a_usage_error():
    result = gradcli("grad", "-e", "input x = 1.0\nx ** 3", "--order", "2", "--mode", "forward")
    assert result.exit_code == 2
    assert "--order 2 goes by reverse mode: drop --mode" in result.output


def test_order_2_of_an_elementwise_result_is_the_second_derivative_of_each_element():
    x = np.array([0.5, 1.0, 2.0])
    data = _json("grad", "-e", "input x = [0.5, 1.0, 2.0]\nsin(x) * x ** 3", "--order", "2",
                 "--json")
    # (sin x · x³)'' = -sin x · x³ + 6x² cos x + 6x sin x
    exact = -np.sin(x) * x ** 3 + 6 * x ** 2 * np.cos(x) + 6 * x * np.sin(x)
    np.testing.assert_allclose(data["hessian"]["x"]["x"], exact, rtol=1e-14)
    assert data["elementwise"] is True
    table = gradcli("grad", "-e", "input x = [1.0, 2.0]\nx * x", "--order", "2")
    assert ("second derivative of result by x, elementwise (d²result[i]/dx[i]², the "
            "Hessian's diagonal)\n") in table.stdout


def test_order_2_elementwise_needs_one_variable():
    result = gradcli("grad", "-e", "input x = [1.0, 2.0]\ninput w = [3.0, 4.0]\nx * w",
                     "--order", "2")
    assert result.exit_code == 1
    assert "or a result that is elementwise in its one variable, but this result has " \
           "shape (2,); name a single number" in result.stderr


def test_forward_mode_by_an_input_written_under_no_grad():
    # Found by the program fuzzer: reverse mode differentiates by the leaf
    # x whatever a no_grad write did to its numbers; forward mode refused.
    source = "input x = 0.0137\nv1 = 2\nwith no_grad:\n    x += 2\nv1 + x"
    forward = _json("grad", "-e", source, "--mode", "forward", "--json")
    assert forward["grads"] == _json("grad", "-e", source, "--json")["grads"] == {"x": 1.0}


@pytest.mark.parametrize("extra", [[], ["--mode", "forward"], ["--jacobian"], ["--order", "2"]])
def test_grad_of_a_program_with_nothing_to_differentiate_says_so(extra):
    # SPEC 4: "say so and exit 1 rather than print an empty table"
    result = gradcli("grad", "-e", "x = 2\nx * 3", *extra)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == ("gradcli: error: nothing to differentiate with respect to: declare "
                             "an input (`input x`), bind one with --set, or name one with --wrt\n")


def test_forward_mode_of_a_list_result():
    # Found by the program fuzzer (seed 51002): the list result was stacked
    # into an array after the tangents were off, so its tangent was lost.
    source = "input x = 0.0137\n[broadcast_to(x, (3,))]"
    assert _json("grad", "-e", source, "--mode", "forward", "--json")["grads"] == \
        _json("grad", "-e", source, "--json")["grads"] == {"x": 3.0}
