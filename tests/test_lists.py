"""Python lists of references, comprehensions and the list built-ins (SPEC 1 "Lists")."""

import json
import subprocess
import sys

import numpy as np

from gradcli import api
from gradcli.core.tensor import Tensor
from gradcli.errors import EvalError, LimitError
from gradcli.lang import ast as A
from gradcli.lang.parser import parse
from test_interpreter import error_at as error
from test_interpreter import run, values as printed


def result(source, **options):
    return run(source, **options).interp.last_value


def test_a_literal_of_numbers_is_an_array():
    value = result("[1, 2.5, -3]")
    assert isinstance(value, Tensor) and value.shape == (3,)
    n = result("n = len([4, 5])\n[n, n + 1, 2 * 3]")
    assert isinstance(n, Tensor)
    np.testing.assert_array_equal(n.data, [2, 3, 6])


def test_a_literal_holding_arrays_or_tracked_values_is_a_list_of_them():
    interp = run("w = ones(2)\nb = 0.0\nattach_grad(b)\nps = [w, b]\nr = [w]\n"
                 "fs = [exp, 'name', None]\nqs = list((b, 1))").interp
    env = interp.globals.vars
    assert type(env["ps"]) is list and env["ps"][0] is env["w"] and env["ps"][1] is env["b"]
    assert type(env["r"]) is list and env["r"][0] is env["w"]
    assert type(env["fs"]) is list and env["fs"][1] == "name" and env["fs"][2] is None
    assert type(env["qs"]) is list and env["qs"][0] is env["b"]


def test_single_numbers_make_an_array_tracked_or_not():
    # the same program under eval and under grad (which tracks x)
    source = "input x = 1.5\nv = [x, 2 * x]\nu = v\nu += 1\nsum(v)"
    assert float(result(source).data) == 6.5
    graded = api.gradient(api.load(source), None, api.Options())
    np.testing.assert_allclose(graded.value.value, 6.5)
    np.testing.assert_allclose(graded.grads["x"], 3.0)


def test_the_empty_literal_is_an_empty_list():
    assert result("[]") == []
    assert result("a = []\na.append(3)\na") == [3.0]


def test_updating_through_the_list_updates_the_variables():
    # finding F5, in both spellings of the SGD step
    source = ("w = torch.tensor([1.0, 2.0], requires_grad=True)\n"
              "b = torch.zeros(1, requires_grad=True)\n"
              "params = [w, b]\n"
              "(sum(w * w) + 3 * sum(b)).backward()\n"
              "with torch.no_grad():\n"
              "    for p in params:\n"
              "        p -= 0.5 * p.grad\n"
              "    params[1][:] = params[1] - 1\n"
              "    params[0] += 10\n")
    env = run(source).interp.globals.vars
    np.testing.assert_allclose(env["w"].data, [10.0, 10.0])
    np.testing.assert_allclose(env["b"].data, [-2.5])


def test_assigning_an_item_replaces_it():
    env = run("w = ones(2)\nps = [w, w]\nps[1] = zeros(3)\nps[-2] = 7").interp.globals.vars
    assert env["ps"][1].shape == (3,) and env["ps"][0] == 7.0
    np.testing.assert_array_equal(env["w"].data, [1.0, 1.0])


# ------------------------------------------------------- array operations stack

def test_array_operations_stack_a_list_differentiably():
    source = "input x = 1.5\nps = [x, 2 * x]\nsum(ps) + sum(array(ps)) + (ps * ps)[1]"
    grads = api.gradient(api.load(source), None, api.Options()).grads
    np.testing.assert_allclose(grads["x"], 3.0 + 3.0 + 8 * 1.5)


def test_indexing_a_list_by_anything_but_a_number_or_slice_indexes_the_stack():
    assert printed("w = ones(2)\nps = [w, 2 * w]\nprint(ps[1, 0], ps.shape, ps.T.shape)") == \
        [[2.0, (2, 2), (2, 2)]]
    value = result("w = arange(3)\nps = [w, 2 * w]\nps[:, 2]")
    np.testing.assert_array_equal(value.data, [2.0, 4.0])


def test_a_list_of_different_shapes_cannot_be_stacked():
    kind, where, message = error("ps = [ones(2), ones(3)]\nsum(ps)")
    assert kind is EvalError and where == (2, 1)
    assert message == ("argument: the items have different shapes ((2,), (3,)), so they do "
                       "not form an array")


def test_slices_of_a_list_are_lists_and_index_arrays():
    value = result("idx = list(range(6))\nidx[1: 1 + 3]")
    assert value == [1, 2, 3]
    picked = result("x = arange(10) * 10\nidx = list(range(10))\nx[torch.tensor(idx[2:4])]")
    np.testing.assert_array_equal(picked.data, [20.0, 30.0])


# ------------------------------------------------------------- built-ins

def test_list_enumerate_zip_and_range_as_values():
    assert result("list(range(2, 5))") == [2, 3, 4]
    rows = result("list(arange(4).reshape(2, 2))")
    assert [r.data.tolist() for r in rows] == [[0.0, 1.0], [2.0, 3.0]]
    assert result("r = range(3)\nlen(r)") == 3
    assert [(i, float(v.data)) for i, v in result("enumerate([5.0, 6.0])")] == [(0, 5.0), (1, 6.0)]
    assert result("list(zip(range(3), range(10, 12)))") == [(0, 10), (1, 11)]


def test_shuffle_reorders_in_place_from_the_seeded_generator():
    source = "a = list(range(8))\nrandom.shuffle(a)\na"
    first, again = result(source), result(source)
    assert first == again and sorted(first) == list(range(8)) and first != list(range(8))
    assert result(source, seed=5) != first
    assert result("seed(5)\n" + source) == result(source, seed=5)


def test_list_methods():
    assert result("a = [ones(1), 2]\na.pop(0)\na.insert(0, 9)\na.extend(range(2))\na") == \
        [9.0, 2.0, 0, 1]
    kind, where, message = error("a = []\na.pop()")
    assert (kind, where, message) == (EvalError, (2, 1), "pop from an empty list")


def test_an_index_past_the_end_says_the_length():
    assert error("a = [ones(2)]\na[3]") == (EvalError, (2, 1),
                                            "index 3 is out of range for a list of length 1")


# ------------------------------------------------------------ comprehensions

def test_comprehension_parses_to_its_node():
    (stmt,) = parse("[i * j for i in range(3) if i > 0 for j in xs]").body
    comp = stmt.expr
    assert type(comp) is A.ListComp and len(comp.clauses) == 2
    assert comp.clauses[0].target == "i" and len(comp.clauses[0].conds) == 1
    (loop,) = parse("for a, b in zip(x, y):\n    pass").body
    assert loop.var == ("a", "b")


def test_comprehension_names_do_not_leak_and_see_the_enclosing_scope():
    assert result("def f(k):\n    return [k * i for i in range(3)]\nf(2)") == [0.0, 2.0, 4.0]
    kind, where, message = error("s = [t for t in range(3)]\nt")
    assert kind is EvalError and where == (2, 1) and message.startswith("name 't' is not defined")
    assert result("i = 7\nq = [i for i in range(2)]\ni") == 7.0


def test_comprehension_gradient():
    source = "input x = [1.0, 2.0]\nsum([t * t for t in [x, 2 * x]])"
    grads = api.gradient(api.load(source), None, api.Options()).grads
    np.testing.assert_allclose(grads["x"], [10.0, 20.0])


def test_a_long_comprehension_spends_the_statement_budget():
    kind, where, message = error("a = [i for i in range(100000)]", max_steps=1000)
    assert kind is LimitError and where == (1, 5)
    assert message.startswith("program stopped after 1,000 statements")


# --------------------------------------------------------------- printing

def test_a_printed_list_is_a_snapshot_written_like_python():
    out = printed("w = ones(2)\nps = [w, 3, 'a']\nprint(ps)\nw += 1")
    (value,) = out[0]
    assert value[1] == 3.0 and value[2] == "a"
    np.testing.assert_array_equal(value[0], [1.0, 1.0])


def test_cli_prints_a_list_on_one_line_and_as_json():
    source = "w = ones(2)\nprint([w, 0.5, 'a'])\n"
    text = subprocess.run([sys.executable, "-m", "gradcli", "eval", "-e", source],
                          capture_output=True, text=True, check=True).stdout
    assert text.splitlines()[0] == "[[1, 1], 0.5, 'a']"
    data = subprocess.run([sys.executable, "-m", "gradcli", "eval", "--json", "-e", source],
                          capture_output=True, text=True, check=True).stdout
    assert json.loads(data)["printed"] == [[[[1.0, 1.0], 0.5, "a"]]]


def test_numpy_spellings_cut_the_graph():
    env = run("x = torch.tensor([1.0, 2.0], requires_grad=True)\ny = x * x\n"
              "a = y.numpy()\nb = y.data\nc = y.detach().numpy()\nd = x.asnumpy()").interp.globals.vars
    for name in "abcd":
        assert not env[name].requires_grad
    np.testing.assert_array_equal(env["b"].data, [1.0, 4.0])


def test_a_printed_list_of_other_values_reads_like_python():
    from gradcli.render import plain
    (line,) = run("print([exp, 'a', None, True, lambda t: t, (1, 2)])").printed
    assert plain(line[0].value) == ("[<built-in exp>, 'a', None, True, <function <lambda>(t)>, "
                                     "(1, 2)]")
