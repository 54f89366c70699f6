"""`gradcli explain` and `:explain` (SPEC 4-6): the steps of a backward pass
and their numbers for the examples of SPEC 8, the engine's observer and the
interpreter's explain mode it rests on, the text, the JSON and the REPL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from gradcli import api, explain, symbolic
from gradcli.core import engine, ops
from gradcli.core.tensor import Tensor
from gradcli.errors import Span
from gradcli.lang.interpreter import Interpreter, Site
from gradcli.lang.unparse import text
from gradcli.render_explain import explanation_lines

from test_cli import gradcli, write
from test_repl import run_lines

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
README = Path(__file__).resolve().parents[1] / "README.md"


def explained(source: str, **kwargs) -> explain.Explanation:
    return explain.explain(api.load(source), **kwargs)


def sample(name: str, **kwargs) -> explain.Explanation:
    return explained((SAMPLES / name).read_text(), **kwargs)


def sends(step) -> list[tuple]:
    """(to, rule, gradient) of each input a step sent to."""
    return [(s.to, s.rule, s.grad.tolist()) for s in step.sent]


def links(e) -> dict:
    return {link.derivative: link for link in e.chain}


# ----------------------------------------------------- the SPEC's examples

def test_chain_rule_step_by_step():
    """SPEC 8.4: y = x**2; z = y**2 + y. The reader sees dz/dy = 2*y + 1 and
    dy/dx = 2*x multiplied into 4x³ + 2x."""
    e = sample("04_chain_rule.ag")
    assert e.result == "z" and e.differentiated == "sum(z)" and e.head is None
    assert e.origin == "z.backward() (line 8)"
    assert [(s.number, s.op, s.line, s.source, s.name) for s in e.steps] == [
        (1, "AddBackward", 7, "y**2 + y", "z"),
        (2, "PowBackward", 7, "y**2", None),
        (3, "PowBackward", 6, "x**2", "y")]
    first, second, third = e.steps
    assert first.grad_in.tolist() == [[1, 1], [1, 1]]
    assert sends(first) == [("y**2", "d(y**2 + y)/d(y**2) = 1", [[1, 1], [1, 1]]),
                            ("y", "d(y**2 + y)/dy = 1", [[1, 1], [1, 1]])]
    assert sends(second) == [("y", "d(y**2)/dy = 2*y", [[2, 8], [18, 32]])]
    # y was used twice: what it received is summed, the multivariable chain rule
    assert third.grad_in.tolist() == [[3, 9], [19, 33]]
    assert [(p.step, p.source, p.grad.tolist()) for p in third.parts] == [
        (1, "y**2 + y", [[1, 1], [1, 1]]), (2, "y**2", [[2, 8], [18, 32]])]
    assert sends(third) == [("x", "d(x**2)/dx = 2*x", [[6, 36], [114, 264]])]
    [x] = e.leaves
    assert (x.name, x.grad.tolist(), x.parts_count) == ("x", [[6, 36], [114, 264]], 1)
    chain = links(e)
    assert chain["dz/dy"].formula == "2*y + 1"
    assert chain["dz/dy"].sources == [("y**2", "2*y"), ("y**2 + y", "1")]
    assert chain["dz/dy"].value.tolist() == [[3, 9], [19, 33]]
    assert chain["dy/dx"].formula == "2*x"
    assert chain["dz/dx"].formula == "dz/dy * dy/dx = (2*y + 1)*(2*x)"
    assert chain["dz/dx"].expanded == "4*x**3 + 2*x"
    assert chain["dz/dx"].value.tolist() == [[6, 36], [114, 264]]
    assert e.partials == 4 and e.total_steps == 3 and not e.left_out


def test_a_value_reached_directly_and_through_another_has_a_partial_link():
    """x feeds the result directly and through y = x * w: the direct link is
    ∂/∂x with y held fixed (its numbers are not the gradient's), the total
    adds the path through y. It once showed x's whole gradient beside sin(y)."""
    e = explained("input x = [1., 2.]\ninput w = [3., -1.]\ny = x * w\nz = sum(sin(y) * x)\nz")
    chain = links(e)
    assert chain["∂z/∂x"].formula == "sin(y)" and chain["∂z/∂x"].value is None
    assert "dz/dx" not in [d for d in chain if chain[d].formula == "sin(y)"]
    assert chain["dz/dx"].formula == "∂z/∂x + dz/dy * dy/dx = (sin(y)) + (x*cos(y))*w"
    x, w = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(chain["dz/dx"].value, np.sin(x * w) + x * w * np.cos(x * w),
                               rtol=1e-15)
    np.testing.assert_allclose(chain["dz/dy"].value, x * np.cos(x * w), rtol=1e-15)


def test_without_sympy_the_chain_rule_stops_at_the_product(monkeypatch):
    monkeypatch.setattr(symbolic, "_sympy", lambda: None)
    chain = links(sample("04_chain_rule.ag"))
    assert chain["dz/dx"].formula == "dz/dy * dy/dx = (2*y + 1)*(2*x)"
    assert all(link.expanded is None for link in chain.values())


def test_head_gradient_of_the_programs_backward():
    """SPEC 8.3: y = 2*x*x, y.backward(head): the head is the first gradient in."""
    e = sample("03_head_gradient.ag")
    head = [[10, 1], [0.1, 0.01]]
    assert e.head.tolist() == head and e.head_from == "the program's backward(head)"
    assert e.differentiated == "head · y"
    first, second = e.steps
    assert first.grad_in.tolist() == head
    assert [(p.step, p.source) for p in first.parts] == [(0, "the program's backward(head)")]
    assert [(s.to, s.rule) for s in first.sent] == [("2 * x", "d(2 * x * x)/d(2 * x) = x"),
                                                    ("x", "d(2 * x * x)/dx = 2 * x")]
    assert np.allclose(first.sent[0].grad, [[10, 2], [0.3, 0.04]])
    assert np.allclose(first.sent[1].grad, [[20, 4], [0.6, 0.08]])
    assert second.source == "2 * x" and np.allclose(second.grad_in, [[10, 2], [0.3, 0.04]])
    assert np.allclose(second.sent[0].grad, [[20, 4], [0.6, 0.08]])
    [x] = e.leaves
    assert np.allclose(x.grad, [[40, 8], [1.2, 0.16]]) and x.parts_count == 2


def test_head_gradient_from_the_command_line():
    e = explained("input x = [1, 2]\ny = x * x\ny * 3", head=[10, 0.1])
    assert e.head_from == "--head" and e.differentiated == "head · (y * 3)"
    assert e.steps[0].grad_in.tolist() == [10, 0.1]
    assert sends(e.steps[0]) == [("y", "d(y * 3)/dy = 3", [30, pytest.approx(0.3)])]
    assert np.allclose(e.leaves[0].grad, [60, 1.2])


def test_detach_stops_the_flow_and_says_why():
    """SPEC 8.9: x1 = x.detach(); y = x + 1; y = x1 + y: x1 gets nothing."""
    e = sample("09_detach.ag")
    first, second = e.steps
    assert first.source == "x1 + y"
    assert sends(first) == [("y", "d(x1 + y)/dy = 1", [[1, 1], [1, 1]])]    # none to x1
    assert first.notes == ["x1 = x.detach() (line 6) is detached: a constant to the graph, "
                           "so no gradient flows through it into x"]
    assert second.source == "x + 1" and sends(second) == [
        ("x", "d(x + 1)/dx = 1", [[1, 1], [1, 1]])]
    assert [(t.name, t.grad.tolist()) for t in e.leaves] == [("x", [[1, 1], [1, 1]])]


def test_detach_inline_and_from_a_computed_value():
    """SPEC 8.12: u = detach(x*x); z = u*x: dz/dx = u, nothing through x*x."""
    e = sample("12_dot_accumulate_detach.ag")
    [step] = e.steps
    assert sends(step) == [("x", "d(u * x)/dx = u", [0, 1, 4, 9])]
    assert step.notes == ["u = detach(x * x) (line 26) is detached: a constant to the graph, "
                          "so no gradient flows through it into x * x"]
    assert "the program runs backward 4 times: this is the last of them" in e.notes
    e = explained("input x = [1, 2]\nsum(x.detach() * x)")
    assert e.steps[1].notes == ["x.detach() is detached: a constant to the graph, so no "
                                "gradient flows through it into x"]


def test_repeated_use_shows_each_contribution_and_their_sum():
    """SPEC 8.1: z = x*x*x*2: x receives three gradients, summed to 6x²."""
    e = sample("01_cube_gradient.ag")
    assert [(s.op, s.source) for s in e.steps] == [
        ("MulBackward", "x * x * x * 2"), ("MulBackward", "x * x * x"), ("MulBackward", "x * x")]
    assert sends(e.steps[2]) == [("x", "d(x * x)/dx = x", [[2, 8], [18, 32]])] * 2
    [x] = e.leaves
    assert x.grad.tolist() == [[6, 24], [54, 96]] and x.parts_count == 3
    assert [(p.step, p.source, p.grad.tolist()) for p in x.parts] == [
        (2, "x * x * x", [[2, 8], [18, 32]]), (3, "x * x", [[2, 8], [18, 32]]),
        (3, "x * x", [[2, 8], [18, 32]])]
    assert links(e)["dz/dx"].expanded == "6*x**2"


def test_control_flow_only_the_branch_taken_was_recorded(tmp_path):
    """SPEC 8.5, as grad differentiates it: sum(a) < 15 takes the first branch."""
    source = ("def f(a):\n    if sum(a) < 15:\n        b = a * 2\n    else:\n        b = a * 3\n"
              "    return b\n\ninput x = [[1, 2], [3, 4]]\nf(x)\n")
    e = explained(source)
    [step] = e.steps
    assert (step.op, step.line, step.source, step.name) == ("MulBackward", 3, "a * 2", "b")
    assert [(s.to, s.written, s.rule) for s in step.sent] == [("x", "a", "d(a * 2)/da = 2")]
    assert e.leaves[0].grad.tolist() == [[2, 2], [2, 2]]
    assert e.notes == ["line 2: only the branch taken (line 3) was recorded; nothing of the "
                       "branch at line 5 is in the graph: another input may take another path"]
    other = explained(source, inputs={"x": [[2, 4], [6, 8]]})
    assert other.steps[0].source == "a * 3" and "(line 5) was recorded" in other.notes[0]


def test_control_flow_a_loop_is_recorded_unrolled():
    """SPEC 8.6's PyTorch variant: b doubles until its norm reaches 1000."""
    e = sample("06_control_flow_while.ag")
    assert [s.source for s in e.steps] == ["b * 2"] * 12 + ["a * 2"]     # b = a * 2 first
    assert [s.grad_in.tolist() for s in e.steps] == [2.0 ** k for k in range(13)]
    assert e.leaves[0].name == "s" and e.leaves[0].grad.tolist() == 8192
    assert e.notes == [
        "the program runs backward 2 times: this is the last of them",
        "line 24: the while loop's body was recorded anew on each pass that ran: the graph "
        "is the loop unrolled (steps from line 25)",
        "line 26: no branch of this if recorded a step: the branch taken only passed values "
        "on; only the branch taken is ever recorded"]


def test_a_backward_from_a_leaf_has_no_steps():
    """SPEC 8.5's second half: f(x2) takes the branch b = a, so y2 is x2."""
    e = sample("05_control_flow_if.ag")
    assert e.steps == [] and e.result == "y2"
    assert [(t.name, t.grad.tolist()) for t in e.leaves] == [("x2", [[1, 1], [1, 1]])]
    assert "y2 is the leaf x2 itself: its gradient is the head, with no step in between" \
        in e.notes


def test_max_and_maximum_ties_say_how_the_gradient_was_split():
    e = explained("input x = [1, 4, 4, 2]\nmax(x) + sum(maximum(x, 2))")
    by_op = {s.op: s for s in e.steps}
    assert by_op["MaxBackward"].sent[0].grad.tolist() == [0, 0.5, 0.5, 0]
    assert by_op["MaxBackward"].notes == [
        "2 elements tie for the maximum: they share the gradient evenly, 1/2 each "
        "(PyTorch's convention)"]
    assert by_op["MaximumBackward"].sent[0].grad.tolist() == [0, 1, 1, 0.5]
    assert by_op["MaximumBackward"].notes == [
        "the operands of maximum tie at 1 element: each gets half of the gradient there "
        "(PyTorch's convention)"]
    assert by_op["MaximumBackward"].sent[0].rule == \
        "d(maximum(x, 2))/dx = 1 where x > 2, 0 where x < 2, 1/2 at a tie"


def test_where_says_which_branch_got_the_gradient():
    e = explained("input x = [-1, 2, 0]\nsum(where(x > 0, x * 3, x * x))")
    step = e.steps[1]
    assert step.op == "WhereBackward"
    assert sends(step) == [("x * 3", "d(where(x > 0, x * 3, x * x))/d(x * 3) = 1 where (x > 0), "
                                     "0 elsewhere", [0, 1, 0]),
                           ("x * x", "d(where(x > 0, x * 3, x * x))/d(x * x) = 0 where (x > 0), "
                                     "1 elsewhere", [1, 0, 1])]
    assert step.notes[0].startswith("the condition holds at 1 of 3 elements: the first branch "
                                    "gets the gradient there")
    assert e.leaves[0].grad.tolist() == [-2, 3, 0]


def test_a_composite_call_shows_its_steps_under_its_own_text():
    e = explained("input x = [1, 2, 3]\nstd(x)")
    assert [(s.op, s.source, s.inside) for s in e.steps] == [
        ("DivBackward", "std(x)", "/"), ("NormBackward", "std(x)", "norm"),
        ("SubBackward", "std(x)", "-"), ("MeanBackward", "std(x)", "mean")]
    sub = e.steps[2]
    assert [(s.to, s.rule) for s in sub.sent] == [
        ("x", "d(x - mean(x))/dx = 1"), ("mean(x)", "d(x - mean(x))/d(mean(x)) = -1")]
    assert np.allclose(e.leaves[0].grad, np.array([-1, 0, 1]) / np.sqrt(6))


def test_a_matrix_product_gives_the_gradient_sent_in_vjp_form():
    e = explained("input x = [[1, 2], [3, 4]]\ninput w = [[1], [-1]]\nsum(x @ w)")
    step = e.steps[1]
    assert step.op == "MmBackward"
    assert [(s.to, s.rule, s.grad.tolist()) for s in step.sent] == [
        ("x", "g @ w.T (outer(g, w) if w is a vector; g*w if both are)", [[1, -1], [1, -1]]),
        ("w", "x.T @ g (outer(x, g) if x is a vector; g*x if both are)", [[4], [6]])]
    assert e.chain == []        # a rule in VJP form is not a formula to compose


def test_max_nodes_shows_the_first_steps_and_counts_the_rest():
    source = "input x = 1.5\ns = x\nfor i in range(30):\n    s = s * x + 1\ns\n"
    e = explained(source, max_nodes=3)
    assert [s.op for s in e.steps] == ["AddBackward", "MulBackward", "AddBackward"]
    assert e.total_steps == 60 and e.left_out == {"MulBackward": 29, "AddBackward": 28}
    assert e.chain == []
    full = api.gradient(api.load(source))
    assert e.leaves[0].grad == full.grads["x"]         # every step counts in the total
    assert e.leaves[0].parts_count == 31 and len(e.leaves[0].parts) == explain.PARTS_KEPT
    assert e.notes == ["line 3: the for loop's body was recorded anew on each pass that ran: "
                       "the graph is the loop unrolled (steps from line 4)"]


def test_wrt_of_and_the_cost_of_forward_mode():
    source = "input x = [1, 2, 3]\ninput w = 2\ny = w * x\nz = sum(y * y)\nz + 1\n"
    e = explained(source, of="z", wrt=["x"])
    assert e.result == "z" and e.steps[0].source == "sum(y * y)"
    assert [t.name for t in e.leaves] == ["x"] and e.partials == 3
    assert explanation_lines(e)[-1] == (
        "this one reverse pass gave all 3 partial derivatives of z; forward mode would need 3 "
        "passes, one per input element (gradcli grad --mode forward shows it)")
    e = explained(source)
    assert e.partials == 4 and {t.name for t in e.leaves} == {"x", "w"}


def test_the_numbers_are_those_of_grad():
    source = ("input x = [[0.5, -1.5], [2, 3]]\ninput w = [0.25, -2]\n"
              "h = tanh(x * w + 1)\nsum(h * h / (1 + exp(-h)))\n")
    e = explained(source)
    grads = api.gradient(api.load(source)).grads
    assert {t.name: t.grad.tolist() for t in e.leaves} == \
        {name: g.tolist() for name, g in grads.items()}


def test_nothing_tracked_and_nothing_to_differentiate():
    e = explained("input x = 2\n3 + 0 * 1")
    assert e.steps == [] and e.notes == [
        "3 + 0 * 1 does not depend on any tracked value: no gradient flows back"]
    with pytest.raises(api.EvalError, match="nothing to differentiate with respect to"):
        explained("3")


# ------------------------------------------------ what explain is built on

def _graph(size):
    x = Tensor(np.linspace(-1.0, 2.0, size)).attach_grad()
    w = Tensor(np.linspace(0.5, 1.5, size)).attach_grad()
    y = ops.mul(x, x)
    z = ops.sum_(ops.add(ops.mul(ops.sin(y), w), ops.mul(y, x)))
    return x, w, z


@pytest.mark.parametrize("size", [5, 5000])     # below and above buffers.LARGE
def test_an_observed_pass_gives_the_same_numbers(size):
    x, w, z = _graph(size)
    plain = engine.run_backward([z], [None], inputs=[x, w], retain_graph=True)
    seen = []
    observed = engine.run_backward([z], [None], inputs=[x, w],
                                   observe=lambda *args: seen.append(args))
    for a, b in zip(plain, observed):
        assert np.array_equal(a.data, b.data)
    order = engine.topological_order([z.node])
    assert [node for node, _, _ in seen] == order       # once per node, in walk order
    node, grad, sent = seen[-1]                         # y = x * x: two gradients to x
    assert node.op is ops.MUL and [i for i, _ in sent] == [0, 1]
    assert np.array_equal(sent[0][1], sent[1][1])


def test_explain_mode_sites_every_expression_and_plain_runs_do_not():
    program = api.load("input x = [1, 2]\ny = x * 2 + 1\n")
    for flag, kind in ((True, Site), (False, Span)):
        book = api.Bookkeeping({}, ["x"])
        interp = Interpreter(hooks=book, explain=flag)
        interp.run(program)
        node = interp.globals.vars["y"].node
        assert type(node.site) is kind and node.site.line == 2
        if flag:
            assert text(node.site.node) == "x * 2 + 1"
            assert text(node.parents[0].site.node) == "x * 2"


@pytest.mark.parametrize("source", [
    "y**2 + y", "-x**2 + (a - b) - (c - d)", "2**(-1) * (a + b) @ c.T", "(x**2)**3 + x**2**3",
    "sum(x, axis=0)[1:, ::2, ...] + x.sum()", "(-x)**2 + (1,) + f(not a and b or c)",
    "x.detach()", "lambda t: t * 2", "[1, 2, 3, 4, 5, 6, …]",
])
def test_unparse_writes_expressions_back(source):
    program = api.load(f"v = {source.replace('…', '7')}")
    assert text(program.body[0].value) == source


# ------------------------------------------------------ text, CLI and JSON

def test_the_text_of_the_chain_rule_example():
    lines = explanation_lines(sample("04_chain_rule.ag"))
    assert lines[0] == ("the backward pass of z.backward() (line 8): z is not a single number, "
                        "so it differentiates sum(z), starting from a gradient of ones")
    assert "step 3  PowBackward  line 6  y = x**2" in lines
    assert "  to x  d(x**2)/dx = 2*x  →  [[6, 36], [114, 264]]" in lines
    assert "      + [[2, 8], [18, 32]]  from step 2 (y**2)" in lines
    assert ("  dz/dx = dz/dy * dy/dx = (2*y + 1)*(2*x) = 4*x**3 + 2*x   = [[6, 36], [114, 264]]"
            in lines)


def test_cli_explain_prints_the_steps():
    result = gradcli("explain", SAMPLES / "04_chain_rule.ag")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == explanation_lines(sample("04_chain_rule.ag"))


def test_the_readme_shows_a_real_run():
    block = re.search(r"```console\n\$ gradcli explain (.*?)\n(.*?)```", README.read_text(),
                      re.S)
    assert block is not None
    args = block[1].replace("'", "").split(" ", 1)
    result = gradcli("explain", *args) if args[0] != "-e" else \
        gradcli("explain", "-e", args[1])
    assert result.exit_code == 0
    assert result.stdout == block[2]


def test_cli_explain_json_has_spec_5s_shape():
    result = gradcli("explain", "-e", "input x = [1, 2]; y = x**2; sum(y**2 + y)", "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert [(s["op"], s["line"], s["source"]) for s in out["steps"]] == [
        ("SumBackward", 1, "sum(y**2 + y)"), ("AddBackward", 1, "y**2 + y"),
        ("PowBackward", 1, "y**2"), ("PowBackward", 1, "x**2")]
    for step in out["steps"]:
        assert {"op", "line", "source", "grad_in", "rule", "grad_out"} <= set(step)
    last = out["steps"][3]
    assert last["grad_in"] == [3.0, 9.0] and last["rule"] == "d(x**2)/dx = 2*x"
    assert last["grad_out"] == [{"to": "x", "written": "x", "input": 0,
                                 "rule": "d(x**2)/dx = 2*x", "grad": [6.0, 36.0]}]
    assert [part["from_step"] for part in last["sum"]] == [2, 3]
    assert out["grads"] == {"x": [6.0, 36.0]} and out["partials"] == 2
    assert out["chain"][-1]["expanded"] == "4*x**3 + 2*x"


def test_cli_explain_json_writes_non_finite_numbers_as_strings():
    result = gradcli("explain", "-e", "input x = [0, 4]; sum(sqrt(x))", "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["steps"][1]["grad_out"][0]["grad"] == ["inf", 0.25]


def test_cli_explain_max_nodes_and_usage(tmp_path):
    path = write(tmp_path, "input x = 1.5\ns = x\nfor i in range(30):\n    s = s * x + 1\ns\n")
    result = gradcli("explain", path, "--max-nodes", "2")
    assert result.exit_code == 0
    assert ("… 58 more steps not shown (--max-nodes 2 shows the first 2): 29 AddBackward, "
            "29 MulBackward") in result.stdout
    assert gradcli("explain", path, "--max-nodes", "0").exit_code == 2
    assert gradcli("explain", tmp_path / "missing.ag").exit_code == 2
    assert "Example:" in gradcli("explain", "--help").stdout


def test_cli_explain_errors_exit_1():
    for args, message in [
            (["-e", "3"], "nothing to differentiate with respect to"),
            (["-e", "input x = [1, 2]; x * 2", "--head", "[1, 2, 3]"],
             "--head has shape (3,) but the result has shape (2,)"),
            (["-e", "input x = [1, 2]; x * 2", "--wrt", "q"], "no variable or input 'q'"),
            (["-e", "input x = 1; attach_grad(x); y = x * 2; y.backward(); y",
              "--head", "[1]"], "--head cannot be used")]:
        result = gradcli("explain", *args)
        assert result.exit_code == 1 and message in result.stderr, args


# ------------------------------------------------------------------ REPL

CHAIN = ["x = array([[1, 2], [3, 4]])", "attach_grad(x)", "with record:", "    y = x ** 2",
         "    z = y ** 2 + y", ""]


def test_repl_explain_before_and_after_backward():
    status, out, err, _ = run_lines(CHAIN + [":explain z", "z.backward()", ":grad x",
                                             ":explain z"])
    assert status == 0 and err == ""
    first, after = out.split("│ name", 1)[0], out.rsplit("╯", 1)[1]
    assert first.startswith("the backward pass of z: z is not a single number")
    assert "  dz/dx = dz/dy * dy/dx = (2*y + 1)*(2*x) = 4*x**3 + 2*x" in first
    assert "  x = [[6, 36], [114, 264]]  (from step 3)" in first
    # the explanation before did not use the graph up: the backward after it worked
    assert after.lstrip().startswith("the backward pass of z.backward() (line 1)")
    assert "step 3  PowBackward  line 2  y = x**2" in after


def test_repl_explain_errors_name_the_argument():
    status, out, err, _ = run_lines(CHAIN + [":explain q", ":explain x", ":explain"])
    assert status == 1
    assert "error: no variable named 'q'" in err
    assert "'x' is a tracked leaf: backward ends there" in err
    assert "usage: :explain NAME" in err


def test_repl_completes_and_lists_explain():
    _, out, _, session = run_lines(CHAIN + [":help"])
    assert ":explain NAME" in out
    assert session.completions(":explain ") == ["x", "y", "z"]
