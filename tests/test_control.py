"""Generators, `for` with several names, and try/except (SPEC 1), with the
limits that must still hold inside them."""

import numpy as np
import pytest

from test_interpreter import error_at as error
from test_interpreter import run, values

from gradcli.errors import EvalError, GradError, LimitError, NumericError, ShapeError
from gradcli.lang.control import python_names


# ------------------------------------------------------------- generators

GEN = """
def gen(n):
    i = 0
    while i < n:
        yield i
        i = i + 1       # not +=: that would change the value just yielded
"""


def test_a_generator_runs_lazily_and_break_leaves_it_unfinished():
    source = GEN + """
def loud():
    print('a')
    yield 1
    print('b')
    yield 2
for v in loud():
    print(v)
    break
"""
    assert values(source) == [["a"], [1.0]]


def test_yield_without_a_value_gives_none_and_a_bare_return_ends():
    source = """
def g():
    yield
    return
    yield 5
for v in g():
    print(v)
"""
    assert values(source) == [[None]]


def test_return_from_inside_a_for_inside_a_generator():
    source = GEN + """
def first_even(n):
    for k in gen(n):
        if k > 0 and k % 2 == 0:
            yield k
            return
print(0)
for v in first_even(10):
    print(v)
"""
    assert values(source) == [[0.0], [2.0]]


def test_a_def_inside_a_generator_is_an_ordinary_function():
    source = """
def outer():
    def inner(x):
        return x * 2
    yield inner(3)
for v in outer():
    print(v)
"""
    assert values(source) == [[6.0]]


def test_generator_arguments_are_checked_at_the_call():
    assert error(GEN + "g = gen()") == (
        EvalError, (7, 5), "gen() missing argument 'n'")


def test_an_error_inside_a_generator_points_into_its_body():
    source = "def g():\n    yield 1\n    yield ones(2) + ones(3)\nfor v in g():\n    pass\n"
    assert error(source) == (ShapeError, (3, 11),
                             "'+': shapes (2,) and (3,) do not broadcast together")


def test_step_budget_applies_inside_a_generator():
    source = "def g():\n    while True:\n        pass\n    yield 1\nfor v in g():\n    pass\n"
    kind, _, message = error(source, max_steps=1000)
    assert kind is LimitError and "1,000 statements" in message


def test_timeout_applies_inside_a_generator_that_never_yields():
    source = ("def g():\n    n = 0\n    while True:\n        n = n + 1\n    yield n\n"
              "for v in g():\n    pass\n")
    kind, _, message = error(source, timeout=0.3, max_steps=10**9)
    assert kind is LimitError and message == "program stopped by --timeout after 0.3 s"


def test_endless_generator_consumed_to_the_end_hits_the_step_budget():
    source = "def g():\n    while True:\n        yield 1\nfor v in g():\n    pass\n"
    kind, _, _ = error(source, max_steps=5000)
    assert kind is LimitError


def test_recursive_generators_stop_at_the_call_depth():
    source = "def g(n):\n    for v in g(n + 1):\n        yield v\nfor v in g(0):\n    pass\n"
    kind, _, message = error(source)
    assert kind is LimitError and message.startswith("recursion too deep: more than 200")


def test_a_generator_is_a_generator_in_messages():
    assert error(GEN + "x = gen(2) + 1")[2] == (
        "left operand of '+' must be a number or an array, not a generator")


def test_for_unpacks_rows_of_an_array_and_reports_a_mismatch():
    assert values("for a, b in [[1, 2], [3, 4]]:\n    print(b - a)") == [[1.0], [1.0]]
    assert error("for a, b in [1, 2]:\n    pass") == (EvalError, (1, 13), "cannot unpack a scalar")


def test_yield_outside_a_function_is_refused_before_running():
    assert error("print(1)\nyield 2") == (EvalError, (2, 1), "'yield' outside a function")


# ------------------------------------------------------------ try / except

def test_except_picks_the_first_handler_that_names_the_error():
    source = """
try:
    y = ones(2) @ ones(3)
except TypeError:
    print('type')
except ValueError as e:
    print('value', e)
except Exception:
    print('generic')
"""
    assert values(source) == [
        ["value", "'@': shapes (2,) and (3,) are not aligned (inner dimensions differ)"]]


def test_caught_message_has_no_location_and_works_in_strings():
    source = "try:\n    z = nope\nexcept NameError as e:\n    print(e)\n"
    assert values(source) == [["name 'nope' is not defined"]]


def test_an_uncaught_error_keeps_its_span():
    source = "try:\n    z = nope\nexcept ValueError:\n    pass\n"
    assert error(source) == (EvalError, (2, 9), "name 'nope' is not defined")


def test_limits_escape_every_handler_and_skip_finally():
    source = """
try:
    n = 0
    while True:
        n += 1
except:
    print('caught')
finally:
    print('finally')
"""
    with pytest.raises(LimitError):
        run(source, max_steps=500)
    assert python_names(LimitError("x")) == frozenset()


def test_timeout_is_not_caught_by_a_bare_except():
    source = "try:\n    while True:\n        pass\nexcept:\n    print('swallowed')\n"
    kind, _, message = error(source, timeout=0.3, max_steps=10**9)
    assert kind is LimitError and "--timeout" in message


def test_return_and_break_in_finally_win_as_in_python():
    source = """
def f():
    try:
        return 1
    finally:
        return 2
print(f())
for i in range(5):
    try:
        q = ones(2) + ones(3)
    finally:
        break
print(i)
"""
    assert values(source) == [[2.0], [0]]


def test_try_in_a_generator_catches_around_a_yield():
    source = """
def g():
    try:
        yield 1
        yield ones(2) + ones(3)
    except ValueError:
        yield 'recovered'
    finally:
        print('closing')
for v in g():
    print(v)
"""
    assert values(source) == [[1.0], ["recovered"], ["closing"]]


def test_except_with_a_dotted_name_uses_its_last_part():
    source = "try:\n    y = ones(2) + ones(3)\nexcept mx.base.MXNetError:\n    print('mx')\n"
    assert values(source) == [["mx"]]


@pytest.mark.parametrize("error_, names", [
    (ShapeError("s"), {"RuntimeError", "ValueError", "MXNetError", "ShapeError", "EvalError"}),
    (GradError("g"), {"RuntimeError", "MXNetError", "GradError", "EvalError"}),
    (NumericError("n"), {"RuntimeError", "FloatingPointError", "MXNetError"}),
    (EvalError("bad argument"), {"TypeError", "ValueError", "MXNetError"}),
    (EvalError("name 'q' is not defined"), {"NameError"}),
    (EvalError("index 3 is out of range for a list of length 2"), {"IndexError"}),
])
def test_which_python_names_catch_which_errors(error_, names):
    caught = python_names(error_)
    assert names <= caught and {"Exception", "GradcliError"} <= caught


# ------------------------------------------- what is outside the language

from gradcli.errors import SyntaxProblem  # noqa: E402
from gradcli.lang.parser import parse  # noqa: E402
from gradcli.lang.suggest import suggestion  # noqa: E402


def syntax(source):
    with pytest.raises(SyntaxProblem) as info:
        parse(source)
    span = info.value.span
    return info.value.message, (span.line, span.column, span.end_column)


@pytest.mark.parametrize("source, message, where", [
    ("class Model:\n    pass\n", "classes are not part of the .ag language", (1, 1, 6)),
    ("class Model(Base):\n    pass\n", "classes are not part of the .ag language", (1, 1, 6)),
    ("d = {}\n", "dict and set literals '{...}' are not part of the .ag language; use "
     "separate variables, or a list", (1, 5, 6)),
    ("y = x ^ 2\n", "'^' is not an operator in the .ag language; did you mean '**' (power)?",
     (1, 7, 8)),
    ("m = a | b\n", "bitwise operators are not part of the .ag language; for conditions "
     "use 'or'", (1, 7, 8)),
    ("print x\n", "print needs parentheses: print(x)", (1, 1, 6)),
    ("raise ValueError('no')\n", "'raise' statements are not part of the .ag language",
     (1, 1, 6)),
    ("assert n > 0\n", "'assert' statements are not part of the .ag language", (1, 1, 7)),
    ("y = 1 if c else 2\n", "conditional expressions 'a if c else b' are not part of the "
     ".ag language; use an if statement", (1, 7, 9)),
    ("if 1:\n    print 'loss', l  # note\n", "print needs parentheses: print('loss', l)",
     (2, 5, 10)),
    ("x = 1\n7 y = 2\n", "this line starts with a line number, as pages with numbered "
     "listings show; remove the numbers", (2, 1, 2)),
    ("1 x = 1\n3 y = 2\n", "this line starts with a line number, as pages with numbered "
     "listings show; remove the numbers", (1, 1, 2)),
])
def test_python_outside_the_language_is_named(source, message, where):
    assert syntax(source) == (message, where)


def test_a_numbered_listing_is_read_without_its_numbers():
    source = " 9 def f(x):\n10     return x * 3\n11\n12 print(f(2))\n"
    assert values(source) == [[6.0]]
    # Places stay those of the file as written.
    assert parse(source).body[1].span.column == 4


def test_a_numbered_listing_reports_errors_where_they_are_in_the_file():
    assert syntax("1 x = 1\n2 y = (x +\n3 z = 2\n")[1][0] in (2, 3)
    assert syntax("1 x = 1\n2 y = x +\n") == ("expected an expression after '+'", (2, 10, 11))


def test_code_that_starts_with_numbers_is_left_alone():
    # Lines that parse as they are keep their numbers, even when they count up.
    assert values("print(1 + 1)\n1 + 1\n2 + 2\n") == [[2.0]]
    assert run("1 + 1\n2 + 2\n").printed == []
    # Numbers followed by an operator are code, not line numbers.
    assert syntax("1 + 1\n2 +\n") == ("expected an expression after '+'", (2, 4, 5))
    assert syntax("1 if c else 2\n")[0].startswith("conditional expressions")


@pytest.mark.parametrize("typed, known, meant", [
    ("true", ["trace"], "True"),
    ("false", [], "False"),
    ("null", [], "None"),
    ("Print", ["print"], "print"),
    ("sqr", ["sqrt"], "sqrt"),
    ("arrange", ["arange", "range"], "arange"),
    ("backwards", ["backward"], "backward"),
    ("atach_grad", ["attach_grad"], "attach_grad"),
    ("nump", ["numel"], None),
    ("numpy", ["numel"], None),
    ("dat", ["cat", "data_"], None),
    ("math", ["matmul"], None),
    ("appendd", ["rand"], None),
    ("retian", ["requires_grad"], None),
])
def test_suggestions_are_only_plausible_names(typed, known, meant):
    assert suggestion(typed, known) == meant


def test_name_error_suggests_true_for_lowercase_true():
    assert error("x = true")[2] == "name 'true' is not defined; did you mean 'True'?"


def test_the_repl_waits_for_except_after_a_try_block():
    from gradcli.repl import needs_more
    assert needs_more("try:\n    x = 1")
    assert needs_more("try:\n    x = 1\nexcept ValueError:")
    assert needs_more("try:\n    x = 1\nexcept ValueError:\n    pass")
    assert not needs_more("try:\n    x = 1\nexcept ValueError:\n    pass\n")
    assert needs_more("def g():\n    yield 1")


def test_try_and_yield_build_their_nodes():
    from gradcli.lang import ast
    (try_,) = parse("try:\n    x = 1\nexcept (A, b.C) as e:\n    pass\nelse:\n    y = 2\n"
                    "finally:\n    z = 3\n").body
    assert type(try_) is ast.Try and len(try_.handlers) == 1
    handler = try_.handlers[0]
    assert handler.name == "e" and type(handler.types) is ast.TupleLit
    assert len(try_.orelse) == 1 and len(try_.finalbody) == 1
    (func,) = parse("def g():\n    yield 1, 2\n").body
    assert type(func.body[0]) is ast.Yield and type(func.body[0].value) is ast.TupleLit
    assert parse("for a, b in x:\n    pass\n").body[0].var == ("a", "b")
    assert parse("for a, in x:\n    pass\n").body[0].var == ("a",)


def test_next_and_iter_take_the_first_minibatch():
    source = GEN + """
def batches(n):
    for i in gen(n):
        yield i, i + 10
X, y = next(iter(batches(3)))
print(X, y)
g = gen(1)
print(next(g), next(g, 'none left'))
try:
    next(g)
except StopIteration:
    print('exhausted')
print(next(iter([7, 8])))
for row in iter(ones(2, 3)):
    print(row)
"""
    shown = [[v if isinstance(v, str) else np.asarray(v).tolist() for v in line]
             for line in values(source)]
    assert shown == [[0.0, 10.0], [0.0, "none left"], ["exhausted"], [7.0],
                     [[1.0, 1.0, 1.0]], [[1.0, 1.0, 1.0]]]


def test_next_of_an_exhausted_generator_says_so():
    assert error(GEN + "g = gen(0)\nnext(g)") == (
        EvalError, (8, 1), "next(): gen has no more values (StopIteration)")
    assert error("next([1, 2])")[2] == (
        "next() needs a generator (or iter(...)), not an array of shape (2,)")
