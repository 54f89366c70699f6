"""Imports (SPEC 1, lang/modules.py) and the framework-faithful semantics of
SPEC 2.1: every error's exact text and place, and what the prints say."""

import io

import numpy as np
import pytest
from rich.console import Console

from gradcli import api, render, repl
from gradcli.errors import EvalError, GradError, GradcliError


def run(source, **options):
    return api.run(api.load(source), None, api.Options(**options))


def values(source):
    return [[v.value for v in line] for line in run(source).printed]


def error(source):
    with pytest.raises(GradcliError) as info:
        run(source)
    exc = info.value
    return type(exc), (exc.span.line, exc.span.column), exc.message


TOP = "gradcli offers only d2l, math, mxnet, numpy, random and torch"
MXNET = "gradcli's mxnet has autograd, nd, ndarray, np, npx, numpy, random, sym"


# ------------------------------------------------------------ errors

@pytest.mark.parametrize("source, place, message", [
    ("import pandas", (1, 8), f"no module named 'pandas': {TOP}"),
    ("import numpy as np, scipy", (1, 21), f"no module named 'scipy': {TOP}"),
    ("from sklearn import datasets", (1, 6), f"no module named 'sklearn': {TOP}"),
    ("import torch.optim as optim", (1, 8),
     "no module named 'torch.optim': gradcli's torch has autograd, linalg, nn and random"),
    ("import mxnet.gluon", (1, 8), f"no module named 'mxnet.gluon': {MXNET} and symbol"),
    ("from torch import nn, optim", (1, 23),
     "cannot import 'optim' from 'torch': gradcli's torch has autograd, linalg, manual_seed, "
     "nn, random and the built-ins"),
    ("from mxnet import gluon as g", (1, 19),
     f"cannot import 'gluon' from 'mxnet': {MXNET}, symbol and the built-ins"),
    ("from math import pi, sum", (1, 22),
     "cannot import 'sum' from 'math': gradcli's math has acos, asin, atan, atan2, ceil, cos, "
     "cosh, e, erf, exp, expm1, fabs, factorial, floor, hypot, inf, isfinite, isinf, isnan, "
     "log, log10, log1p, log2, nan, pi, pow, sin, sinh, sqrt, tan, tanh, tau and trunc"),
])
def test_an_unknown_module_or_name_is_an_error_at_it(source, place, message):
    assert error(source) == (EvalError, place, message)


def test_an_import_is_checked_before_the_program_runs():
    # Nothing is printed: the program stops where Python would not even start.
    with pytest.raises(EvalError):
        run("print(1)\nimport pandas")
    result = api.run(api.load("print(1)"))
    assert [[v.value for v in line] for line in result.printed] == [[1.0]]


def test_members_of_math_are_its_own_and_members_of_others_lead_to_built_ins():
    assert error("import math\nmath.sum(1)") == (
        EvalError, (2, 1), error("from math import sum")[2].replace(
            "cannot import 'sum' from 'math'", "'math.sum' is not available"))
    assert error("import torch\ntorch.nothing(1)") == (
        EvalError, (2, 1), "'torch.nothing' is not a gradcli built-in")
    assert error("import mxnet.autograd as ag\nag.nothing()") == (
        EvalError, (2, 1), "'ag.nothing' is not a gradcli built-in")


def test_math_on_an_array_says_to_use_the_built_in():
    assert error("import math\nmath.sqrt([1, 4])") == (
        EvalError, (2, 1), "math.sqrt works on single numbers, not an array of shape (2,); "
                           "use sqrt(x) for arrays")


def test_autograd_grad_refuses_an_untracked_target():
    source = "from mxnet import autograd\nx = [1.0]\ny = x * 2\nautograd.grad(y, [x])"
    kind, place, message = error(source)
    assert (kind, place) == (GradError, (4, 1))
    assert message.startswith("autograd.grad: a value to differentiate with respect to is "
                              "not tracked")


def test_import_words_are_reserved():
    assert error("as = 1")[2] == "'as' is a reserved word and cannot be used as a name"
    assert error("from = 1")[2] == "'from' is a reserved word and cannot be used as a name"


# ------------------------------------------------------------ binding

def test_names_bind_in_the_scope_of_the_import():
    source = """
def f(x):
    import math
    return math.sqrt(x)
print(f(9))
print(math)
"""
    kind, place, message = error(source)
    assert (kind, place) == (EvalError, (6, 7)) and message.startswith("name 'math' is not defined")


def test_import_of_a_dotted_name_binds_its_first_part():
    (printed,) = values("import mxnet.autograd\nprint(mxnet.autograd.is_training(), mxnet)")
    assert [printed[0], repr(printed[1])] == [False, "<namespace mxnet>"]


def test_prefixes_without_imports_still_lead_to_the_built_ins():
    printed = values("x = nd.array([1, 2])\nprint(torch.sum(x), npx.set_np())")
    assert printed == [[3.0, None]]


def test_math_gives_python_numbers_and_keeps_a_tracked_value_differentiable():
    assert values("import math\nprint(math.sqrt(2), math.floor(2.5))") == [[2 ** 0.5, 2]]
    source = """
import math
x = array(4.0)
x.requires_grad_()
y = math.sqrt(x)
y.backward()
print(y, x.grad)
"""
    assert values(source) == [[2.0, 0.25]]


def test_legacy_nd_sum_is_of_shape_one_only_when_nd_is_imported():
    assert values("from mxnet import nd\nprint(nd.sum(nd.ones(3)).shape)") == [[(1,)]]
    assert values("print(nd.sum(nd.ones(3)).shape)") == [[()]]


def test_autograd_grad_of_a_function_is_the_transform():
    assert values("from mxnet import autograd\nprint(autograd.grad(lambda v: v * v)(3))") == [[6.0]]


# ------------------------------------------------ framework semantics

def test_a_repl_session_that_used_record_stays_mxnet_code():
    session = repl.Repl(api.Options(), console=Console(file=io.StringIO()),
                        errors=io.StringIO())
    for line in ["x = array([1.0, 2.0])", "x.attach_grad()", "z = x * 2",
                 "with record: y = x * x", "w = x * 2"]:
        assert session.execute(line) is True
    variables = session.session.interp.globals.vars
    assert variables["z"].grad_fn == "MulBackward"   # before record: PyTorch's rule
    assert variables["y"].grad_fn == "MulBackward"
    assert variables["w"].grad_fn is None            # after: recorded only inside record


def test_a_run_that_used_record_leaves_recording_on_for_the_host():
    from gradcli.core.tensor import MODE
    run("x = [1.0]\nattach_grad(x)\nwith record:\n    y = x * 2\n")
    assert MODE.grad_enabled is True


def test_a_pytorch_leaf_gets_its_grad_at_the_first_backward_that_reaches_it():
    source = """
a = ones(2, requires_grad=True)
b = ones(2, requires_grad=True)
sum(a * 2).backward()
print(a.grad, b.grad)
zero_grad(b)
print(b.grad)
"""
    (first, second) = values(source)
    assert first[0].tolist() == [2.0, 2.0] and first[1] is None and second == [None]


# ------------------------------------------------------------ printing

def shown_text(source):
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, highlight=False)
    for line in run(source).printed:
        render.print_values(console, line)
    return out.getvalue()


def test_a_pytorch_leaf_prints_that_it_requires_grad_and_a_computed_value_its_grad_fn():
    text = shown_text("x = tensor([1.0, 2.0], requires_grad=True)\nprint(x)\nprint(x * 2)\n"
                      "print(sum(x * 2), 3)\ny = [1.0, 2.0]\ny.attach_grad()\nprint(y)")
    assert text.splitlines() == [
        "╭───┬───╮", "│ 1 │ 2 │", "╰───┴───╯", "shape (2,) · float64 · requires_grad=True",
        "╭───┬───╮", "│ 2 │ 4 │", "╰───┴───╯", "shape (2,) · float64 · grad_fn=MulBackward",
        "6 (grad_fn=SumBackward) 3",
        "╭───┬───╮", "│ 1 │ 2 │", "╰───┴───╯", "shape (2,) · float64"]


def test_a_tracked_scalar_leaf_says_so_inline():
    assert shown_text("x = tensor(2.0, requires_grad=True)\nprint(x, x.detach())") == \
        "2 (requires_grad=True) 2\n"


def test_comparisons_print_true_and_false():
    text = shown_text("import torch\nx = torch.tensor([1.0, 2.0])\nprint(x > 1)")
    assert "│ False │ True │" in text and "bool" in text
    assert np.asarray(values("print(array(1.0) < 2)")[0][0]).dtype == bool


def test_gradcli_grad_differentiates_a_result_outside_the_record_block():
    # The api differentiates the result itself, so it records everywhere.
    program = api.load("input x = 2\nwith record:\n    y = x * x\ny * 3\n")
    result = api.gradient(program)
    assert result.grads["x"].tolist() == 12.0
