"""The api seam: what grad, check and graph differentiate and report."""

import numpy as np
import pytest

from gradcli import api
from gradcli.errors import DataError, GradError

OWN_BACKWARD = """
input x = [[1, 2], [3, 4]]
input head = [[10, 1], [0.1, 0.01]]
attach_grad(x)
with record:
    y = 2 * x * x
y.backward(head)
"""


def test_program_with_its_own_backward_reports_its_output_and_marked_inputs():
    result = api.gradient(api.load(OWN_BACKWARD))
    np.testing.assert_array_equal(result.value.value, [[2, 8], [18, 32]])
    assert list(result.grads) == ["x"]            # `head` was never marked
    np.testing.assert_allclose(result.grads["x"], [[40, 8], [1.2, 0.16]], rtol=1e-15)
    np.testing.assert_array_equal(result.head, [[10, 1], [0.1, 0.01]])


def test_head_option_conflicts_with_the_programs_own_backward():
    with pytest.raises(DataError, match="runs its own backward"):
        api.gradient(api.load(OWN_BACKWARD), head=[[1, 1], [1, 1]])


def test_functional_gradient_of_the_last_expression_with_head():
    program = api.load("input x = [1, 2, 3]\nx * x")
    result = api.gradient(program, head=[1, 0, 2])
    np.testing.assert_array_equal(result.grads["x"], [2, 0, 12])
    np.testing.assert_array_equal(result.value.value, [1, 4, 9])


def test_of_names_the_result_and_wrt_restricts_the_variables():
    program = api.load("input a = 2\ninput b = 3\nc = a * b\nd = c + 1")
    result = api.gradient(program, wrt=["b"], of="c")
    assert list(result.grads) == ["b"] and float(result.grads["b"]) == 2.0


def test_unknown_input_and_untracked_wrt_are_data_errors():
    with pytest.raises(DataError, match="unknown input 'y': the program declares 'x'"):
        api.gradient(api.load("input x\nx * 2"), {"x": 1, "y": 2})
    with pytest.raises(GradError, match="cannot differentiate with respect to 'k'"):
        api.gradient(api.load("input x = 1\nk = 3\nx * k"), wrt=["k"])


def test_bound_values_without_declarations_become_variables():
    result = api.gradient(api.load("sum(x ** 2)"), {"x": [1, 2, 3]})
    np.testing.assert_array_equal(result.grads["x"], [2, 4, 6])


def test_check_uses_the_backward_call_that_made_each_gradient():
    # Two backward calls on unrelated graphs: each variable is checked
    # against the call that produced its gradient.
    program = api.load("""
input a = [1, 2]
input b = 3
attach_grad(a)
attach_grad(b)
sum(a ** 3).backward()
(b * b).backward()
""")
    result = api.check(program)
    assert result.ok
    assert set(result.vars) == {"a", "b"}
    assert all(v["ok"] and v["max_rel_err"] < 1e-6 for v in result.vars.values())


def test_check_finds_a_wrong_gradient():
    # relu'(0) = 0 by convention, but the central difference sees 1/2.
    result = api.check(api.load("input x = [0, 1]\nsum(relu(x))"))
    assert not result.ok and not result.vars["x"]["ok"]
    assert result.vars["x"]["max_abs_err"] == pytest.approx(0.5, rel=1e-6)


# The worst absolute and the worst relative error of y come from different
# elements: exp(20*y[0]) is off by 2e-5 of 8e3 (within rtol), 1e-9*y[1] is off
# by 100% of 1e-9 (within atol). Only the element-wise rule can judge y.
BLAME = "input x = 0; input y = [0.3, 1]; relu(x) + exp(20*y[0]) + 1e-9*y[1]"


def test_check_judges_each_variable_by_its_elements_not_its_worst_errors():
    result = api.check(api.load(BLAME))
    assert {name: row["ok"] for name, row in result.vars.items()} == {"x": False, "y": True}
    assert result.ok is False
    y = result.vars["y"]
    assert y["max_abs_err"] > result.atol and y["max_rel_err"] > result.rtol


def test_check_overall_verdict_is_every_variables_verdict():
    result = api.check(api.load(BLAME), wrt=["y"])
    assert result.ok is True and result.vars["y"]["ok"] is True


def test_check_samples_large_inputs():
    result = api.check(api.load("input x = arange(1000) / 1000\nsum(sin(x))"), max_points=20)
    assert result.ok and result.vars["x"]["checked"] == 20 and result.vars["x"]["size"] == 1000


def test_graph_shares_repeated_nodes():
    root = api.graph(api.load("input x = [1, 2]\ny = x * x\ny + y"))
    assert root.label == "AddBackward"
    first, second = root.children
    assert first.label == second.label == "MulBackward"
    assert not first.repeat and second.repeat and first.ident == second.ident
    assert [c.label for c in first.children] == ["x", "x"]


def test_session_keeps_variables_between_inputs():
    shown = []
    session = api.Session(on_print=shown.append)
    session.execute("x = array([1, 2])\nattach_grad(x)")
    session.execute("sum(x * x).backward()")
    value, grad = session.grad("x")
    np.testing.assert_array_equal(grad.value, [2, 4])
    assert session.execute("x * 10").value.tolist() == [10, 20]
    assert [r["name"] for r in session.variables()] == ["x"]


def test_a_run_without_functions_leaves_no_reference_cycle():
    # The interpreter's print built-in once held the interpreter itself:
    # every run's arrays then waited for the cyclic collector, and a loop of
    # runs on 8 MB arrays grew to 190 MB and page-faulted on each run.
    import gc
    source = ("input x\nattach_grad(x)\nwith record:\n    s = sum(sin(x) * x)\n"
              "print(s)\ns.backward()\n")
    program = api.load(source)
    api.run(program, inputs={"x": np.ones(3)})
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        result = api.run(program, inputs={"x": np.ones(3)})
        assert result.grads["x"].shape == (3,)
        del result
        found = gc.collect()
        kinds = sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found == 0, kinds


# A boolean (or integer) input is a mask or an index, never a variable: a
# tracked run once turned it into floats, and `x[m]` then gathered x[1],
# x[0] instead of masking (value -5 and gradient [5, 5], silently).
MASKED = "input x = [1, -2]\ninput m = x > 0\nsum(x[m] * 5)"


def test_a_boolean_input_stays_a_mask_in_a_tracked_run():
    result = api.gradient(api.load(MASKED))
    assert result.value.value == 5.0
    assert {n: g.tolist() for n, g in result.grads.items()} == {"x": [5.0, 0.0]}


def test_a_boolean_input_given_as_json_stays_boolean():
    program = api.load("input x = [1, -2]\ninput m\nsum(x[m] * 5)")
    result = api.gradient(program, {"m": [True, False]})
    assert result.value.value == 5.0
    assert result.grads["x"].tolist() == [5.0, 0.0]
    assert api.run(program, {"m": [False, True]}).result.value == -10.0


def test_differentiating_by_a_boolean_input_says_why_it_cannot():
    with pytest.raises(GradError) as info:
        api.gradient(api.load(MASKED), wrt=["m"])
    assert info.value.message == ("cannot differentiate with respect to 'm': it holds "
                                  "booleans, which have no gradient")


def test_forward_mode_leaves_a_boolean_input_alone_too():
    from gradcli import forward_mode
    result = forward_mode.gradient(api.load(MASKED))
    assert {n: g.tolist() for n, g in result.grads.items()} == {"x": [5.0, 0.0]}


def test_a_boolean_value_given_to_a_program_without_inputs_stays_a_mask():
    # The same bug through `-e` with --set: given values were all attach_grad'ed.
    result = api.gradient(api.load("sum(x[m] * 5)"), {"x": [1, -2], "m": [True, False]})
    assert result.value.value == 5.0
    assert {n: g.tolist() for n, g in result.grads.items()} == {"x": [5.0, 0.0]}
