"""The .ag parser: AST shapes, spans, and every syntax-error message."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from gradcli.errors import Span, SyntaxProblem
from gradcli.lang import ast
from gradcli.lang import parser as parser_module
from gradcli.lang.parser import parse

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ helpers

def sexp(node) -> str:
    """A compact, span-free rendering of a node, e.g. `(+ a (* b c))`."""
    match node:
        case None:
            return "_"
        case tuple():
            return " ".join(sexp(item) for item in node)
        case ast.Num(value=value):
            return str(int(value)) if value.is_integer() else repr(value)
        case ast.Str(value=value):
            return repr(value)
        case ast.Const(value=value):
            return str(value)
        case ast.Name(id=name):
            return name
        case ast.ListLit(items=items):
            return f"[{sexp(items)}]"
        case ast.TupleLit(items=items):
            return f"(tuple {sexp(items)})".replace(" )", ")")
        case ast.BinOp(op=op, left=left, right=right) | ast.BoolOp(op=op, left=left, right=right):
            return f"({op} {sexp(left)} {sexp(right)})"
        case ast.UnaryOp(op=op, operand=operand):
            return f"({op} {sexp(operand)})"
        case ast.Keyword(name=name, value=value):
            return f"{name}={sexp(value)}"
        case ast.Call(func=func, args=args, keywords=keywords):
            return f"(call {sexp(func)} {sexp(args + keywords)})".replace(" )", ")")
        case ast.Attribute(obj=obj, name=name):
            return f"(. {sexp(obj)} {name})"
        case ast.Slice(start=start, stop=stop, step=step):
            return f"(: {sexp(start)} {sexp(stop)} {sexp(step)})"
        case ast.Index(obj=obj, items=items):
            return f"([] {sexp(obj)} {sexp(items)})"
        case ast.Param(name=name, default=None):
            return name
        case ast.Param(name=name, default=default):
            return f"{name}={sexp(default)}"
        case ast.Lambda(params=params, body=body):
            return f"(lambda ({sexp(params)}) {sexp(body)})"
        case ast.Assign(target=target, value=value):
            return f"(= {sexp(target)} {sexp(value)})"
        case ast.AugAssign(target=target, op=op, value=value):
            return f"({op}= {sexp(target)} {sexp(value)})"
        case ast.InputDecl(name=name, default=default):
            return f"(input {name} {sexp(default)})"
        case ast.ExprStmt(expr=expr):
            return sexp(expr)
        case ast.If(branches=branches, orelse=orelse):
            parts = [f"({sexp(cond)}: {sexp(body)})" for cond, body in branches]
            return f"(if {' '.join(parts)} else: {sexp(orelse)})".replace(" else: )", ")")
        case ast.While(cond=cond, body=body):
            return f"(while {sexp(cond)}: {sexp(body)})"
        case ast.For(var=var, iterable=iterable, body=body):
            return f"(for {var} {sexp(iterable)}: {sexp(body)})"
        case ast.FuncDef(name=name, params=params, body=body):
            return f"(def {name} ({sexp(params)}): {sexp(body)})"
        case ast.Return(value=value):
            return f"(return {sexp(value)})"
        case ast.With(context=context, body=body):
            return f"(with {sexp(context)}: {sexp(body)})"
        case ast.Break():
            return "break"
        case ast.Continue():
            return "continue"
        case ast.Pass():
            return "pass"
    raise AssertionError(f"sexp does not know {node!r}")


def prog(source: str) -> list[str]:
    """One s-expression per top-level statement."""
    return [sexp(stmt) for stmt in parse(source).body]


def expr(source: str) -> str:
    (stmt,) = parse(source).body
    assert isinstance(stmt, ast.ExprStmt)
    return sexp(stmt.expr)


def problem(source: str) -> SyntaxProblem:
    with pytest.raises(SyntaxProblem) as caught:
        parse(source)
    return caught.value


def walk(node):
    """Every node and field value below `node`."""
    yield node
    if isinstance(node, ast.Node):
        for field in node._fields:
            yield from walk(getattr(node, field))
    elif isinstance(node, tuple):
        for item in node:
            yield from walk(item)


# --------------------------------------------------------------- precedence

@pytest.mark.parametrize("source, shape", [
    ("-x**2", "(- (** x 2))"),
    ("2**-1", "(** 2 (- 1))"),
    ("a**b**c", "(** a (** b c))"),
    ("-2*3", "(* (- 2) 3)"),
    ("a+b*c", "(+ a (* b c))"),
    ("a-b-c", "(- (- a b) c)"),
    ("a/b*c", "(* (/ a b) c)"),
    ("a // b % c", "(% (// a b) c)"),
    ("a@b+c", "(+ (@ a b) c)"),
    ("x.T @ x", "(@ (. x T) x)"),
    ("2*x**2", "(* 2 (** x 2))"),
    ("not a == b", "(not (== a b))"),
    ("not a and b", "(and (not a) b)"),
    ("a or b and c", "(or a (and b c))"),
    ("a and b or c", "(or (and a b) c)"),
    ("a < b + 1", "(< a (+ b 1))"),
    ("(a + b) * c", "(* (+ a b) c)"),
    ("+x", "(+ x)"),
    ("--x", "(- (- x))"),
    ("lambda x, y=1: x + y", "(lambda (x y=1) (+ x y))"),
    ("lambda: 1", "(lambda () 1)"),
    ("f(lambda x: x * 2, 3)", "(call f (lambda (x) (* x 2)) 3)"),
])
def test_precedence(source, shape):
    assert expr(source) == shape


@pytest.mark.parametrize("source, shape", [
    ("f(a, b, k=v)", "(call f a b k=v)"),
    ("f()", "(call f)"),
    ("f(a,)", "(call f a)"),
    ("x.f(a, axis=0)", "(call (. x f) a axis=0)"),
    ("y.backward()", "(call (. y backward))"),
    ("autograd.record()", "(call (. autograd record))"),
    ("f(x)(y)", "(call (call f x) y)"),
    ("x.grad.zero_()", "(call (. (. x grad) zero_))"),
    ("arange(10).reshape(2, 5)", "(call (. (call arange 10) reshape) 2 5)"),
    ("x[0]", "([] x 0)"),
    ("x[-1]", "([] x (- 1))"),
    ("x[idx]", "([] x idx)"),
    ("x[:, 1]", "([] x (: _ _ _) 1)"),
    ("x[1:3, ::2]", "([] x (: 1 3 _) (: _ _ 2))"),
    ("x[1:]", "([] x (: 1 _ _))"),
    ("x[:-1]", "([] x (: _ (- 1) _))"),
    ("x[::]", "([] x (: _ _ _))"),
    ("x[a:b:c]", "([] x (: a b c))"),
    ("x[0][1]", "([] ([] x 0) 1)"),
    ("x[i].T", "(. ([] x i) T)"),
    ("(2, 5)", "(tuple 2 5)"),
    ("(2,)", "(tuple 2)"),
    ("()", "(tuple)"),
    ("(2)", "2"),
    ("[[1, 2], [3, 4]]", "[[1 2] [3 4]]"),
    ("[]", "[]"),
    ("[1, 2,]", "[1 2]"),
    ("[(1, 2), x]", "[(tuple 1 2) x]"),
    ("True", "True"),
    ("False", "False"),
    ("None", "None"),
    ("'add'", "'add'"),
    ('"write"', "'write'"),
    (r"'a\'b\n'", repr("a'b\n")),
    ('"a#b"', "'a#b'"),
    ("iffy + input_x + notx", "(+ (+ iffy input_x) notx)"),
])
def test_primaries(source, shape):
    assert expr(source) == shape


@pytest.mark.parametrize("source, value", [
    ("2", 2.0), ("2.5", 2.5), (".5", 0.5), ("1.", 1.0), ("1e-3", 1e-3),
    ("1E+3", 1000.0), ("1_000", 1000.0), ("1.5e2", 150.0),
])
def test_numbers_are_floats(source, value):
    (stmt,) = parse(source).body
    assert stmt.expr == ast.Num(value, Span(1, 1, 1, 1 + len(source)))
    assert type(stmt.expr.value) is float


# --------------------------------------------------------------- statements

def test_assignments():
    assert prog(dedent("""\
        x = 1
        a, b = f(x)
        value, tangent = jvp(f, x, v)
        s = 2, 5
        t = 1,
        x[i] = v
        x[:] = 0
        x[0, 1:3] = v
        x += 1
        x -= lr * x.grad
        w[0] *= 2
        x /= n
        """)) == [
        "(= x 1)",
        "(= (tuple a b) (call f x))",
        "(= (tuple value tangent) (call jvp f x v))",
        "(= s (tuple 2 5))",
        "(= t (tuple 1))",
        "(= ([] x i) v)",
        "(= ([] x (: _ _ _)) 0)",
        "(= ([] x 0 (: 1 3 _)) v)",
        "(+= x 1)",
        "(-= x (* lr (. x grad)))",
        "(*= ([] w 0) 2)",
        "(/= x n)",
    ]


def test_inputs_and_simple_statements():
    assert prog(dedent("""\
        input x
        input w = [[1, 2], [3, 4]]
        input shape = 2, 3
        pass
        print(a, b)
        x.attach_grad()
        """)) == [
        "(input x _)",
        "(input w [[1 2] [3 4]])",
        "(input shape (tuple 2 3))",
        "pass",
        "(call print a b)",
        "(call (. x attach_grad))",
    ]


def test_semicolons_join_simple_statements():
    assert prog("x = 1; y = x ** 2; print(y);\nz = 3") == [
        "(= x 1)", "(= y (** x 2))", "(call print y)", "(= z 3)"]


def test_if_elif_else_nested():
    source = dedent("""\
        if a < 1:
            x = 1
        elif a < 2:
            if b:
                x = 2
            else:
                x = 3
        elif a < 3:
            pass
        else:
            x = 4
            y = 5
        if c: d = 1
        if e: f = 1; g = 2
        else: h = 3
        """)
    assert prog(source) == [
        "(if ((< a 1): (= x 1)) ((< a 2): (if (b: (= x 2)) else: (= x 3)))"
        " ((< a 3): pass) else: (= x 4) (= y 5))",
        "(if (c: (= d 1)))",
        "(if (e: (= f 1) (= g 2)) else: (= h 3))",
    ]


def test_loops_and_with():
    source = dedent("""\
        while norm(b) < 1000:
            b = b * 2
            if done:
                break
            continue
        for i in range(3):
            for j in range(i, 10, 2): total += j
        with record:
            y = 2 * x ** 2
        with autograd.record():
            y = x
        with torch.no_grad():
            w -= lr * w.grad
        with pause: z = y
        """)
    assert prog(source) == [
        "(while (< (call norm b) 1000): (= b (* b 2)) (if (done: break)) continue)",
        "(for i (call range 3): (for j (call range i 10 2): (+= total j)))",
        "(with record: (= y (* 2 (** x 2))))",
        "(with (call (. autograd record)): (= y x))",
        "(with (call (. torch no_grad)): (-= w (* lr (. w grad))))",
        "(with pause: (= z y))",
    ]


def test_functions():
    source = dedent("""\
        def fact(n, acc=1):
            if n <= 1:
                return acc
            return fact(n - 1, acc=acc * n)
        def pair(a, b=2,):
            return a, b
        def nothing():
            return
        """)
    assert prog(source) == [
        "(def fact (n acc=1): (if ((<= n 1): (return acc)))"
        " (return (call fact (- n 1) acc=(* acc n))))",
        "(def pair (a b=2): (return (tuple a b)))",
        "(def nothing (): (return _))",
    ]


def test_comments_and_blank_lines_anywhere():
    source = (
        "# leading comment\n"
        "\n"
        "def f(a):  # header comment\n"
        "\n"
        "    # comment inside the block\n"
        "        # deeper comment lines do not count as indentation\n"
        "    b = a   # trailing\n"
        "\n"
        "# comment at column 1 inside the block\n"
        "    return b\n"
        "  # dedented comment\n"
        "\n"
        "x = [1,   # inside brackets\n"
        "     2]\n"
        "# final comment, no newline"
    )
    assert prog(source) == ["(def f (a): (= b a) (return b))", "(= x [1 2])"]


@pytest.mark.parametrize("source", [
    "", "\n\n", "# only a comment", "  # indented comment\n\n", "   \n  \t \n",
])
def test_empty_programs(source):
    assert parse(source) == ast.Program((), Span(1, 1, 1, 1))


@pytest.mark.parametrize("source", [
    "if x:\n    y = 1\n",        # trailing newline
    "if x:\n    y = 1",          # none
    "if x:\n    y = 1\n\n\n",    # several
    "if x:\n    y = 1\n    ",    # trailing spaces on a last, blank line
    "if x:\r\n    y = 1\r\n",    # Windows line ends
    "if x:\r    y = 1\r",        # old Mac line ends
    "if x:\n\ty = 1\n",          # a tab
])
def test_line_ends_and_layout(source):
    assert prog(source) == ["(if (x: (= y 1)))"]


def test_backslash_continues_a_line():
    assert prog("if x:\n    y = 1 \\\n        + 2\n") == ["(if (x: (= y (+ 1 2))))"]


@pytest.mark.parametrize("path", sorted((ROOT / "samples").glob("*.ag")), ids=lambda p: p.name)
def test_crlf_and_cr_give_the_tree_lf_gives(path):
    text = path.read_text(encoding="utf-8")
    tree = parse(text)
    assert parse(text.replace("\n", "\r\n")) == tree     # spans included
    assert parse(text.replace("\n", "\r")) == tree


def test_tabs_count_as_one_consistent_level():
    assert prog("if a:\n\tif b:\n\t\tx = 1\n\ty = 2\n") == [
        "(if (a: (if (b: (= x 1))) (= y 2)))"]


def test_newlines_inside_brackets_are_ignored():
    assert prog("y = f(1,\n  2,\n\n    k=3\n)\nz = [\n[1],\n]") == [
        "(= y (call f 1 2 k=3))", "(= z [[1]])"]


# -------------------------------------------------------------------- spans

def test_span_of_a_name_on_line_3():
    program = parse("a = 1\nb = 2\nc = foo + 1\n")
    assert program.body[2].value.left == ast.Name("foo", Span(3, 5, 3, 8))
    assert program.body[2].span == Span(3, 1, 3, 12)


def test_span_of_a_call_covers_the_whole_call():
    (stmt,) = parse("y = f(a, (b + 1))").body
    assert stmt.value.span == Span(1, 5, 1, 18)
    assert stmt.value.args[1].span == Span(1, 11, 1, 16)  # parentheses excluded


def test_span_of_a_multiline_call_and_method_call():
    (stmt,) = parse("y = x.reshape(2,\n              5)").body
    assert stmt.value.span == Span(1, 5, 2, 17)
    assert stmt.value.func.span == Span(1, 5, 1, 14)


def test_spans_of_brackets_slices_and_keywords():
    (stmt,) = parse("x[1:, ::2] = (1, 2)").body
    assert stmt.target.span == Span(1, 1, 1, 11)
    assert [item.span for item in stmt.target.items] == [Span(1, 3, 1, 5), Span(1, 7, 1, 10)]
    assert stmt.value.span == Span(1, 14, 1, 20)
    (stmt,) = parse("f(k=[1])").body
    assert stmt.expr.keywords[0].span == Span(1, 3, 1, 8)


def test_compound_statements_end_with_their_last_statement():
    program = parse("if a:\n    b = 1\nelse:\n    c = 22\n\n# done\nd = 3")
    assert program.body[0].span == Span(1, 1, 4, 11)
    assert program.span == Span(1, 1, 7, 6)
    (function,) = parse("def f(x=1):\n    return x\n").body
    assert function.span == Span(1, 1, 2, 13)
    assert function.params[0].span == Span(1, 7, 1, 10)


def test_keyword_statements_have_spans():
    program = parse("while 1:\n    break\n    continue\npass\nreturn\ninput x = 2")
    assert program.body[0].body[0] == ast.Break(Span(2, 5, 2, 10))
    assert program.body[0].body[1] == ast.Continue(Span(3, 5, 3, 13))
    assert program.body[1] == ast.Pass(Span(4, 1, 4, 5))
    assert program.body[2] == ast.Return(None, Span(5, 1, 5, 7))
    assert program.body[3].span == Span(6, 1, 6, 12)


def test_no_lark_objects_leave_the_parser():
    program = parse(sample("13_linear_regression.ag"))
    for value in walk(program):
        assert type(value).__module__.split(".")[0] != "lark", value
        if isinstance(value, str):
            assert type(value) is str


# ------------------------------------------------------------ syntax errors
# Each row: a bad snippet, the exact message, and where it points (line, column).

ERRORS = [
    # a missing colon after a block header
    ("if x > 1\n    y = 2", "expected ':' after if condition", 1, 9),
    ("if x y:\n    y = 2", "expected ':' after if condition", 1, 6),
    ("while x\n  y", "expected ':' after while condition", 1, 8),
    ("for i in range(3)\n  y", "expected ':' after for clause", 1, 18),
    ("def f(a)\n  y", "expected ':' after def signature", 1, 9),
    ("if x:\n  y\nelse\n  y", "expected ':' after else", 3, 5),
    ("if x:\n  y\nelif z  # why\n  y", "expected ':' after elif condition", 3, 7),
    ("with record\n  y", "expected ':' after with clause", 1, 12),
    # brackets
    ("y = [1, 2", "unclosed '['", 1, 5),
    ("y = f(1, 2", "unclosed '('", 1, 6),
    ("y = f(1, [2, 3)", "closing ')' does not match the opening '[' on line 1", 1, 15),
    ("x = [1, 2\ny = 3", "unclosed '['", 1, 5),
    ("def f():\n    x = (1 +\n    return x", "unclosed '('", 2, 9),
    (")", "unmatched ')'", 1, 1),
    ("x = f(1))", "unmatched ')'", 1, 9),
    ("]", "unmatched ']'", 1, 1),
    # indentation
    ("if x:\n    y = 1\n  z = 2", "inconsistent indentation", 3, 3),
    ("x = 1\n    y = 2", "unexpected indent", 2, 5),
    ("  x = 1", "unexpected indent", 1, 3),
    ("# comment\n\n  x = 1", "unexpected indent", 3, 3),
    ("if x:\n\ty = 1\n        z = 2", "inconsistent indentation: tabs and spaces are mixed", 3, 9),
    ("if x:\n        y = 1\n\tz = 2", "inconsistent indentation: tabs and spaces are mixed", 3, 2),
    ("if x:\ny = 1", "expected an indented block after 'if'", 2, 1),
    ("if x:\n", "expected an indented block after 'if'", 1, 6),
    ("while x:\n# nothing\n", "expected an indented block after 'while'", 1, 9),
    ("for i in range(3):\npass", "expected an indented block after 'for'", 2, 1),
    ("def f():\n    if x:\n", "expected an indented block after 'if'", 2, 10),
    ("def f():\nreturn 1", "expected an indented block after 'def'", 2, 1),
    ("if x:\n  pass\nelse:\nz = 1", "expected an indented block after 'else'", 4, 1),
    ("with record:\n", "expected an indented block after 'with'", 1, 13),
    # characters and strings
    ("$", "unexpected character '$'", 1, 1),
    ("x = a ? b", "unexpected character '?'", 1, 7),
    ("x = {1: 2}", "dict and set literals '{...}' are not part of the .ag language; "
                    "use separate variables, or a list", 1, 5),
    ('x = "abc', "unterminated string", 1, 5),
    ("f(x, 'abc)\ny = 2", "unterminated string", 1, 6),
    # missing or misplaced expressions
    ("x = ", "expected an expression after '='", 1, 4),
    ("x = # nothing", "expected an expression after '='", 1, 4),
    ("1 + * 2", "expected an expression after '+'", 1, 5),
    ("x = 3 *\ny = 1", "expected an expression after '*'", 1, 8),
    ("x += ", "expected an expression after '+='", 1, 5),
    ("f(a=)", "expected an expression after '='", 1, 5),
    ("x = [1,,2]", "expected an expression after ','", 1, 8),
    ("if not:\n  y", "expected an expression after 'not'", 1, 7),
    ("* 2", "unexpected '*' at the start of a statement", 1, 1),
    ("x = 1 2", "unexpected '2'; is an operator missing before it?", 1, 7),
    ("print(x y)", "unexpected 'y'; is an operator or a ',' missing before it?", 1, 9),
    ("y = 2x", "a number cannot be followed directly by a name; did you mean '2*x'?", 1, 6),
    # comparisons, assignments, keywords
    ("a < b < c", "chained comparisons like 'a < b < c' are not supported; use 'and'", 1, 7),
    ("if 0 <= x < 1:\n  y",
     "chained comparisons like 'a < b < c' are not supported; use 'and'", 1, 11),
    ("if x = 1:\n  y", "'=' assigns a value; use '==' to compare", 1, 6),
    ("a = b = 1",
     "chained assignment like 'a = b = 1' is not supported; assign one at a time", 1, 7),
    ("input = 3", "'input' is a reserved word and cannot be used as a name", 1, 1),
    ("lambda = 0.1", "'lambda' is a reserved word and cannot be used as a name", 1, 1),
    ("x, in = 1, 2", "'in' is a reserved word and cannot be used as a name", 1, 4),
    ("else:\n  y", "'else' without a matching 'if'", 1, 1),
    ("x = 1\nelif y:\n  z", "'elif' without a matching 'if'", 2, 1),
    ("import numpy as", "unexpected end of line; expected a name", 1, 16),
    ("as = 1", "'as' is a reserved word and cannot be used as a name", 1, 1),
    # found by fuzzing: a bracket opening the line after a block header
    ("with record:\n[1]", "expected an indented block after 'with'", 2, 1),
    ("if x:\n\n[1,\n  2]", "expected an indented block after 'if'", 3, 1),
    ("from mxnet", "unexpected end of line; expected 'import'", 1, 11),
    # checks made while building the tree
    ("f(a=1, b)", "positional argument follows keyword argument", 1, 8),
    ("f(a=1, a=2)", "keyword argument 'a' given twice", 1, 8),
    ("def f(a=1, b):\n  pass", "parameter 'b' without a default follows one with a default", 1, 12),
    ("def f(a, a):\n  pass", "parameter 'a' appears twice", 1, 10),
    ("f(x) = 2", "cannot assign to a function call", 1, 1),
    ("x + 1 = 2", "cannot assign to an expression", 1, 1),
    ("x.shape = 0", "cannot assign to an attribute", 1, 1),
    ("a, b[0] = 1, 2", "cannot unpack into an indexed value; use plain names", 1, 4),
    ("f(x) += 1", "cannot use '+=' on a function call", 1, 1),
    # the fallback lists what would fit, in words
    ("x = 1 :", "unexpected ':'; expected one of: ';', end of line", 1, 7),
    ("x = y.", "unexpected end of line; expected a name", 1, 7),
    ("def (x):\n  pass", "unexpected '('; expected a name", 1, 5),
    ("def f(1):\n  pass", "unexpected '1'; expected one of: a name, ')'", 1, 7),
    ("s = sum(t * t for t in xs)",
     "generator expressions like 'sum(f(x) for x in xs)' are not supported; use a list "
     "comprehension: 'sum([f(x) for x in xs])'", 1, 15),
    ("p = [i, i * i for i in xs]",
     "a list comprehension makes one element per item: write several values as a tuple, "
     "'[(a, b) for ...]'", 1, 15),
    ("x = 1 if y else 2",
     "conditional expressions 'a if c else b' are not part of the .ag language; "
     "use an if statement", 1, 7),
]


@pytest.mark.parametrize("source, message, line, column", ERRORS)
def test_syntax_error_messages(source, message, line, column):
    error = problem(source)
    assert (error.message, error.span.line, error.span.column) == (message, line, column)
    assert error.span.end_line >= line and error.span.end_column > 0


def test_error_spans_cover_the_offending_token():
    assert problem("y = [1, 2").span == Span(1, 5, 1, 6)
    assert problem("x = 1 foo").span == Span(1, 7, 1, 10)
    assert problem('x = "abc  \ny = 1').span == Span(1, 5, 1, 9)  # the open string
    assert problem("x = ").span == Span(1, 4, 1, 5)  # just past the last token
    assert problem("x = (1 +\n\n\n").span == Span(1, 5, 1, 6)


def test_syntax_problem_has_no_lark_context():
    error = problem("x = (1, 2")
    assert error.__cause__ is None and error.__suppress_context__


# ------------------------------------------------------------- the samples

def sample(name: str) -> str:
    return (ROOT / "samples" / name).read_text(encoding="utf-8")


def test_control_flow_example_shape():
    program = parse(sample("06_control_flow_while.ag"))
    (g,) = [stmt for stmt in program.body if isinstance(stmt, ast.FuncDef) and stmt.name == "g"]
    assert sexp(g) == (
        "(def g (a): (= b (* a 2)) (while (< (call norm b) 1000): (= b (* b 2)))"
        " (if ((> (call sum b) 0): (= c b)) else: (= c (* 100 b))) (return c))")


# ------------------------------------------------------- speed and machinery

def test_long_chains_do_not_hit_the_recursion_limit():
    (stmt,) = parse("x = " + " + ".join(["1"] * 5000)).body
    assert stmt.value.op == "+"


def test_every_grammar_rule_has_a_builder():
    # Lark would silently build its own Tree for a rule without a method.
    # Not counted: `_rules` (spliced into their parent) and the one-child
    # alternatives of `?rules` (replaced by that child).
    lark_parser, _ = parser_module._parser()
    names = {str(rule.alias or rule.origin.name) for rule in lark_parser.rules
             if rule.alias or not rule.options.expand1}
    names = {name for name in names if not name.startswith("_")}
    missing = {name for name in names if not hasattr(parser_module._Builder, name)}
    assert not missing


def test_tables_cached_on_disk_give_the_same_parser(tmp_path):
    cache = str(tmp_path / "ag.lark-cache")
    grammar = parser_module._grammar_text()
    fresh, _ = parser_module._new_parser(grammar, cache)
    assert (tmp_path / "ag.lark-cache").stat().st_size > 0
    loaded, _ = parser_module._new_parser(grammar, cache)
    source = sample("13_linear_regression.ag")
    assert fresh.parse(source) == loaded.parse(source) == parse(source)


def test_the_standalone_parser_in_the_cache_is_made_used_and_remade(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runtime = parser_module._load_standalone()
    (made,) = list((tmp_path / "gradcli").glob("*.standalone"))
    assert hasattr(runtime, "Lark_StandAlone")
    made.write_bytes(b"not marshalled code")              # damaged: made again
    again = parser_module._load_standalone()
    assert hasattr(again, "Lark_StandAlone") and made.stat().st_size > 1000
    # The stand-alone parser and lark's own give the same trees.
    grammar = parser_module._grammar_text()
    by_lark, _ = parser_module._new_parser(grammar, False)
    source = sample("13_linear_regression.ag")
    assert by_lark.parse(source) == parse(source)


def test_without_a_cache_directory_lark_itself_parses(monkeypatch):
    monkeypatch.setattr(parser_module, "_cache_folder", lambda: None)
    runtime = parser_module._runtime()
    assert runtime.Lark.__module__.startswith("lark")


# ------------------------------------------------- the engine against lark
# parse() runs lark's tables with a loop and a lexer of its own (about twice
# as fast); lark itself, given the same grammar and builders, is the
# reference for every token, tree, span and error.

BLOCK = dedent("""\
    def f(a, b=2):
        # a comment
        c = a * b + 3 ** -x[1:3, ::2] @ w.T
        if sum(c) < 15 and not done:
            c = c * 2
        elif c[0] >= 1:
            c[0] += 1
        else:
            c = [[1, 2], [3, 4]]
        return c, norm(c, ord=1)
    """)


def golden_programs() -> list[str]:
    """tests/programs/, one behaviour each, but not limits/ (1000 levels
    deep: lark's own parser recurses)."""
    paths = (ROOT / "tests" / "programs").rglob("*.ag")
    return [normal(path.read_text(encoding="utf-8")) for path in sorted(paths)
            if path.parent.name != "limits"]


def corpus() -> list[str]:
    texts = [path.read_text(encoding="utf-8") for path in sorted((ROOT / "samples").glob("*.ag"))]
    texts += [source for source, *_ in ERRORS] + [BLOCK]
    texts += ["x = 1 \\\n  + 2", "s = 'a\\'b' + \"c\"\n\n\n", "\ty = 1", "x = 1\f\n", "",
              "f(x,\n  # comment\n  y)", "x = .5 + 1. + 1e-3 + 1_000 + 2E+4",
              "x = 1 + \\\n" + " " * 300 + "`", "f(" + " \t" * 200 + "$"]
    return [normal(text) for text in texts]


def normal(text: str) -> str:
    """The text as parse() hands it to the parser."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip() + "\n"


def mutants(text: str, most: int = 20) -> list[str]:
    """The text with one token left out, and with one token doubled (for
    `most` tokens spread over the text)."""
    tokens = []
    try:
        tokens.extend(parser_module._engine()._lex(text))
    except parser_module.UnexpectedCharacters:
        pass
    out = []
    for token in tokens[:: max(1, len(tokens) // most)]:
        out.append(text[:token.start_pos] + text[token.end_pos:])
        out.append(text[:token.end_pos] + " " + str(token) + text[token.end_pos:])
    return [normal(text) for text in out]


@pytest.fixture(scope="module")
def by_lark():
    """Parse with lark's own parser and lexer (our builders and postlexer)."""
    import lark.exceptions as lark_errors
    lark_parser, indenter = parser_module._new_parser(parser_module._grammar_text())

    def outcome(text: str):
        try:
            return lark_parser.parse(text)
        except lark_errors.UnexpectedInput as exc:
            with pytest.MonkeyPatch.context() as patch:   # lark's, not the stand-alone's
                patch.setattr(parser_module, "UnexpectedCharacters",
                              lark_errors.UnexpectedCharacters)
                problem = parser_module._translate(exc, text, indenter)
        except SyntaxProblem as exc:
            problem = exc
        return problem.message, problem.span

    outcome.lex = lambda text: lark_parser.lex(text)
    return outcome


def by_engine(text: str):
    # The engine itself: parse() adds what lark knows nothing of (pasted
    # line numbers, tested in test_control.py) on top of it.
    try:
        return parser_module._parse_text(text)
    except SyntaxProblem as exc:
        return exc.message, exc.span


def token_list(tokens):
    try:
        return [(t.type, str(t), t.start_pos, t.end_pos, t.line, t.column, t.end_line,
                 t.end_column) for t in tokens]
    except SyntaxProblem as exc:
        return exc.message, exc.span
    except Exception as exc:    # UnexpectedCharacters, of lark or of the stand-alone parser
        return type(exc).__name__, exc.pos_in_stream, exc.line, exc.column


def test_the_engine_lexes_as_lark_does(by_lark):
    engine = parser_module._engine()
    for text in corpus() + golden_programs():
        ours = token_list(engine.indenter.process(engine._lex(text)))
        assert ours == token_list(by_lark.lex(text)), text


def test_the_engine_parses_and_fails_as_lark_does(by_lark):
    texts = corpus()
    for text in texts[:]:
        if text.count("\n") > 5:
            texts += mutants(text)
    for text in golden_programs():
        texts += [text] + mutants(text, most=3)     # a few each: lark is slow
    assert len(texts) > 1000
    for text in texts:
        assert by_engine(text) == by_lark(text), text


def test_unit_rules_are_skipped_and_every_other_rule_is_built():
    engine = parser_module._engine()
    units = [rule for rule in engine.rules if rule[2] is None]
    assert 5 <= len(units) < len(engine.rules) / 4


def test_an_engine_that_cannot_read_the_tables_lets_lark_parse():
    lark_parser, indenter = parser_module._parser()

    class Unusual:                   # a lark whose insides look different
        lexer_conf = lark_parser.lexer_conf
        parse = lark_parser.parse

    engine = parser_module._Engine(Unusual(), indenter)
    assert engine.parse("x = 1\n") == parse("x = 1")


# ------------------------------------------- array literals read in one go
# A bracket literal of numbers (each perhaps negated) is read by the lexer
# and reaches the parser as one token carrying the ListLit; the tree, every
# span and every error are the ones lark builds from the separate tokens.

ARRAYS = [
    "x = [1, 2, 3]",
    "x = [[1, -2.5], [3e4, 4]]",
    "x = [1_000, .5, 1., 1E-3, 2e+10, -0.0, - 7, -\n 8]",
    "x = []\ny = [[]]\nz = [[], [1,], [[2]]]",
    "x = [\n    [1, 2],\n    [3, 4],\n]\ny = x @ [5, 6]\nz = q",
    "x = [1, 2][0] + [[1, 2], [3, 4]][1][0]",
    "y = f([1, 2], [3, [4, 5]], k=[-1])",
    "x = [x, 1]\ny = [1, x]\nz = [[1, 2], [3, x]]\nw = [[1, 2], x]",
    "x = [[1, 2], [3]]",
    "x = [1, # one\n 2]\ny = [1, \\\n 2]",
    "x = -[1, 2] ** 2\ny = [+1, --2, -(3)]",
    "for p in [1, 2]:\n    y = [p, -p] + [0.5]\nx = y[[0, 1]]",
    "print([1] [0], [2][0])\nx = a [1]",
    "def f(a=[1, 2]):\n    return [[1, 2], [3, 4]]\n",
    "x = [[[[[1]]]], [[[[2, 3]]]]]",
    # errors in and after literals
    "x = [1, 2] 3", "x = [1, 2,, 3]", "x = [1 2]", "x = [1, 2", "x = [1, 2]]",
    "x = [[1, 2], [3, 4]\ny = 1", "x = [1, 2] = 3", "[1, 2] += 1", "x = [1x]",
    "x = [1, 2]\ny = 3 +", "x = [1,\n 2]\n  y = 1", "x = (a < b) + [1, 2] + (lambda x < 1)",
    "if [1, 2]\n    y = 1", "x = [1, 2] if y",
]


def array_tokens(source: str) -> list:
    """The literals of numbers the engine read in one go in `source`
    (`parse` itself drops the tokens once the tree is built)."""
    engine = parser_module._engine()
    engine.parse(normal(source))
    return [t for t in engine.indenter.tokens if isinstance(t, parser_module._Array)]


@pytest.mark.parametrize("source", ARRAYS)
def test_array_literals_give_the_trees_and_errors_lark_gives(by_lark, source):
    text = normal(source)
    assert by_engine(text) == by_lark(text)


def test_only_literals_of_numbers_are_read_in_one_go():
    def read_in_one_go(source):
        return [str(t) for t in array_tokens(source)]
    assert read_in_one_go("x = [[1, -2], [3, 4]] + f([5])\ny = [1, 2][0]") == [
        "[[1, -2], [3, 4]]", "[5]", "[1, 2]"]
    assert read_in_one_go("x = [x, 1] + a[1] + a [2] + f(1)[3] + [1, 2] [0]") == ["[1, 2]"]
    # the complete ones inside still are
    assert read_in_one_go("x = [[1, 2], [3, x], [-4]]") == ["[1, 2]", "[-4]"]


def test_array_literal_values_and_spans():
    source = "x = [[1, -2.5],\n     [3e4, -\n 4]]\ny = z"
    (assign, after) = parse(source).body
    rows = assign.value.items
    one, minus_two_and_a_half = rows[0].items
    assert one == ast.Num(1.0, Span(1, 7, 1, 8))
    assert minus_two_and_a_half == ast.UnaryOp("-", ast.Num(2.5, Span(1, 11, 1, 14)),
                                               Span(1, 10, 1, 14))
    assert rows[1].items[0] == ast.Num(3e4, Span(2, 7, 2, 10))
    assert rows[1].items[1] == ast.UnaryOp("-", ast.Num(4.0, Span(3, 2, 3, 3)), Span(2, 12, 3, 3))
    assert rows[0].span == Span(1, 6, 1, 15) and rows[1].span == Span(2, 6, 3, 4)
    assert assign.value.span == Span(1, 5, 3, 5) and assign.span == Span(1, 1, 3, 5)
    assert after == ast.Assign(ast.Name("y", Span(4, 1, 4, 2)), ast.Name("z", Span(4, 5, 4, 6)),
                               Span(4, 1, 4, 6))


def test_a_ragged_literal_is_an_error_at_the_literal():
    from gradcli import api
    from gradcli.errors import EvalError
    with pytest.raises(EvalError) as caught:
        api.run(api.load("y = 1\nx = [[1, 2],\n     [3]]\nz = 2"), options=api.Options())
    assert "ragged" in caught.value.message and caught.value.span == Span(2, 5, 3, 10)


def test_errors_after_a_literal_point_where_they_are():
    error = problem("x = [1,\n     2] 3\ny = 1")
    assert (error.message, error.span.line, error.span.column) == (
        "unexpected '3'; is an operator missing before it?", 2, 9)
    assert problem("x = [1,\n 2,\n 3]\ny = 2 +").span == Span(4, 8, 4, 9)


def test_a_long_literal_is_one_token_for_the_parser():
    numbers = ", ".join(f"{i % 7 - 3}.5" for i in range(500_000))
    (stmt,) = parse(f"x = [{numbers}]").body
    assert len(stmt.value.items) == 500_000
    (literal,) = array_tokens(f"x = [{numbers}]")
    assert len(parser_module._engine().indenter.tokens) == 4     # x, =, the literal, end of line
    assert stmt.value.items[-1].span == Span(1, 5 + len(numbers) - 2, 1, 5 + len(numbers) + 1)


def test_a_literal_that_is_not_all_numbers_is_read_at_most_twice(by_lark, monkeypatch):
    engine = parser_module._engine()

    class Counting:                 # counts the parts the reader matches
        calls = 0

        def match(self, *args):
            Counting.calls += 1
            return part.match(*args)

    part = engine.array_part
    monkeypatch.setattr(engine, "array_part", Counting())
    depth = 150                     # (Node.__eq__ recurses)
    source = normal("x = " + "[" * depth + "[1, 2], -3, x" + "]" * depth)
    assert by_engine(source) == by_lark(source)
    assert Counting.calls <= depth + 20     # each '[' once, not once per enclosing one
    assert [str(t) for t in array_tokens(source)] == ["[1, 2]"]


def test_a_parse_keeps_no_tokens_and_leaves_the_collector_as_it_was():
    """The tokens of the last program stayed on the engine (208,000 objects
    for a 16,000-line program, walked by every later cycle collection)."""
    import gc
    parse("x = 1\ny = [x, 2] + 3\n")
    assert parser_module._engine().indenter.tokens == []
    assert gc.isenabled()
    gc.disable()
    try:
        parse("x = 1\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(SyntaxProblem):
        parse("x = (1 +\n")
    assert gc.isenabled() and parser_module._engine().indenter.tokens == []
