"""MXNet's explicit graph construction (SPEC 1): `sym.var('a')` declares a
symbolic input; graph draws an expression over symbols without values, and
eval / grad take the values from --set."""

import json

from test_cli import gradcli, write

SYMBOLS = "from mxnet import sym\na = sym.var('a')\nb = sym.var('b')\nc = 2 * a + b\nc\n"


def test_graph_draws_an_expression_over_symbols_without_values(tmp_path):
    result = gradcli("graph", write(tmp_path, SYMBOLS))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "AddBackward  ()  c",
        "├── MulBackward  ()",
        "│   ├── const  ()  = 2",
        "│   └── a  ()",
        "└── b  ()",
    ]


def test_grad_differentiates_by_each_symbol_given_with_set(tmp_path):
    result = gradcli("grad", write(tmp_path, SYMBOLS), "--set", "a=1", "--set", "b=2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"value": 4.0, "grads": {"a": 2.0, "b": 1.0}}


def test_mx_sym_var_and_arrays_as_values(tmp_path):
    source = "import mxnet as mx\nx = mx.sym.Variable('x')\nsum(x * x)\n"
    result = gradcli("grad", write(tmp_path, source), "--set", "x=[1,2]", "--json")
    assert json.loads(result.output) == {"value": 5.0, "grads": {"x": [2.0, 4.0]}}


def test_eval_of_a_symbol_without_a_value_says_how_to_give_one(tmp_path):
    result = gradcli("eval", write(tmp_path, SYMBOLS))
    assert result.exit_code == 1
    assert "prog.ag:2:5: error: symbol 'a' has no value: give one with --set a=JSON" in \
        result.output


def test_a_symbol_needs_a_name_as_in_mxnet(tmp_path):
    source = "from mxnet import sym\ntry:\n    a = sym.var()\nexcept TypeError as e:\n    print(e)\n"
    result = gradcli("eval", write(tmp_path, source))
    assert result.exit_code == 0, result.output
    assert result.output == "sym.var(): missing required argument 'name'\n"
