"""What `help` says of a built-in, read from the built-in registry.

`help(sum)` and `help("sum")` in a program, `sum?` and `:help sum` in the
REPL and `gradcli help sum` all show one entry: the signature (with the
PyTorch and numpy keyword spellings it also takes), what it computes, its
derivative (the op table's rules, as `explain` shows them), its convention
at non-differentiable points, the arguments it carries no gradient to and
why, and an example with what it prints. Every part comes from where the
built-in is registered (core.ops.Public: `help=`, `example=`...; the ops'
`rules=` and `convention=`; `nondiff=`), so the entry cannot drift from the
function, and a test runs every example. docs/language.md's table of
built-ins is made here too (`python -m gradcli.lang.help --markdown`).

Entries are plain text lines: rendering is the edge's business.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from typing import Optional

from ..core import ops
from ..core.tensor import Tensor
from ..errors import EvalError
from . import modules
from .builtins import ALIASES, BUILTINS, CONTEXTS, HOOKED, NAMESPACES, hooked
from .control import BUILTINS as CONTROL_BUILTINS
from .environment import MISSING, UserFunction
from .strings import function_text
from .suggest import suggestion
from .values import Builtin, Context, Namespace, a_type

# The groups of `gradcli help` and of docs/language.md's table: (group, the
# main name of each built-in in it, a note). Every built-in is in one.
GROUPS = (
    ("creation", ("array", "zeros", "ones", "full", "arange", "linspace", "eye", "zeros_like",
                  "ones_like", "randn", "rand", "normal", "uniform", "seed", "permutation",
                  "range"), ""),
    ("shape", ("reshape", "transpose", "permute", "swapaxes", "flatten", "squeeze",
               "expand_dims", "broadcast_to", "concat", "stack", "repeat", "tile", "flip", "take",
               "diag", "triu", "tril", "shape", "size", "len"), "`.T` is `transpose(x)`"),
    ("elementwise", ("exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "abs", "sign",
                     "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                     "erf", "square", "sigmoid", "relu", "softplus", "maximum", "minimum",
                     "clip", "where", "pow", "logaddexp"), ""),
    ("reductions", ("sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "norm",
                    "logsumexp", "softmax", "log_softmax", "argmax", "argmin", "any", "all"),
     "with `axis=` or `dim=`, `keepdims=` or `keepdim=`"),
    ("linear algebra", ("dot", "matmul", "outer", "inv", "det", "slogdet", "solve", "trace"),
     "`a @ b` is `matmul(a, b)`"),
    ("autodiff", ("attach_grad", "requires_grad_", "retain_grad", "backward", "detach", "copy",
                  "grad", "jacobian", "hessian", "jvp", "zero_grad", "zero_", "is_training",
                  "grad_fn"), ""),
    ("recording", ("record", "no_grad", "enable_grad"), "blocks: `with record:`"),
    ("scalars", ("asscalar", "float", "int"), ""),
    ("text", ("print", "str", "repr"), ""),
    ("lists", ("list", "enumerate", "zip", "shuffle", "iter", "next"),
     "the methods `append`, `extend`, `insert`, `pop`; `len`, `range` too"),
    ("numpy views", ("numpy",), "also the attribute `x.data`: the same numbers, cut from "
                                "the graph"),
    ("plots", ("plot", "scatter"), "D2L's `d2l.plot` and `d2l.plt` draw too"),
    ("help", ("help",), ""),
)

hooked("help", usage="help(name)",
       help="What a built-in computes, its derivative, its convention at "
            "non-differentiable points and an example: `help(sum)` or `help('sum')`; "
            "without an argument, the list of built-ins.",
       example="help('no_grad')\n# with no_grad:\n#   also: pause, predict_mode\n# ...")


# The titles of an entry's sections, in order (each shown only when it has
# something to say).
SECTIONS = ("derivative", "at non-differentiable points", "no gradient", "example")


@dataclass(frozen=True)
class Entry:
    """One built-in as help shows it; every name it goes by leads to it."""

    public: ops.Public
    fn: Optional[object] = None     # the function the language calls (None: a hooked one)

    @property
    def name(self) -> str:
        return self.public.names[0]


def entries() -> dict[str, Entry]:
    """Every documented built-in by each of its names."""
    found: dict[str, Entry] = {}
    for builtin in [*BUILTINS.values(), *CONTROL_BUILTINS.values()]:
        if isinstance(builtin, Builtin) and builtin.public is not None:
            for name in builtin.public.names:
                found.setdefault(name, Entry(builtin.public, builtin.fn))
    for members in modules.EXTRAS.values():     # autograd.grad, math.sqrt, nd.sum...
        for member in members.values():
            if isinstance(member, Builtin) and member.public is not None:
                for name in member.public.names:
                    found.setdefault(name, Entry(member.public, member.fn))
    for public in HOOKED.values():
        found.setdefault(public.names[0], Entry(public))
    for public in CONTEXTS.values():
        for name in public.names:
            found.setdefault(name, Entry(public))
    return found


def entry(name: str) -> Optional[Entry]:
    """The entry of a built-in by any of its names, also as a program
    reaches it through a module or a prefix of pasted code (`torch.ones`,
    `np.exp`, `torch.manual_seed`, `torch.no_grad`), or None."""
    found = entries()
    if name in found:
        return found[name]
    first, *rest = name.split(".")
    if not rest or not (first in modules.SUBMODULES or first in NAMESPACES):
        return None
    value = Namespace(first, first if first in modules.SUBMODULES else None)
    for part in rest:
        value = _member(value, part)
    if isinstance(value, Builtin) and value.public is not None:
        return Entry(value.public, value.fn)
    if isinstance(value, Context):
        return Entry(CONTEXTS[value.kind])
    return None


def _member(value, part: str):
    """`value.part` as a program reaches it: a module's member, a built-in
    through a module or prefix, a method of an array; MISSING if none."""
    if isinstance(value, Tensor):
        return BUILTINS.get(part, MISSING)
    if not isinstance(value, Namespace):
        return MISSING
    try:
        member = modules.member(value, part)
    except EvalError:               # a module with only its own members (math)
        return MISSING
    if member is MISSING and value.path is None and part in NAMESPACES:
        return Namespace(part)      # nd.random, F.nn...
    if member is MISSING and value.path not in modules.CLOSED:
        return BUILTINS.get(part, MISSING)
    return member


def unknown(name: str) -> str:
    """The message for a name no built-in has: `no built-in 'smu'; did
    you mean 'sum'?`."""
    close = suggestion(name, list(entries()))
    return f"no built-in '{name}'" + (f"; did you mean '{close}'?" if close else
                                      ": help() lists them")


def lookup(name: str) -> Entry:
    """`entry(name)`, or the error saying there is none (with a suggestion)."""
    found = entry(name)
    if found is None:
        raise EvalError(unknown(name))
    return found


# ------------------------------------------------------------------ an entry

def lines(found: Entry) -> list[str]:
    """The entry as text lines: signature, what it computes, derivative,
    convention, arguments without a gradient, example."""
    public = found.public
    out = list(_usages(found))
    others = public.names[1:]
    if others:
        out.append("  also: " + ", ".join(others))
    spellings: dict[str, list[str]] = {}
    for alias, name in _keywords(found).items():
        spellings.setdefault(name, []).append(f"{alias}=")
    if spellings:
        out.append("  keywords: " + "; ".join(f"{', '.join(aliases)} for {name}"
                                               for name, aliases in spellings.items()))
    out += ["", *_paragraph(public.help or "")]
    for title in SECTIONS:
        body = lines_of(found, title)
        if body:
            out += ["", title]
            for line in body:
                # A long rule or reason wraps under itself (an example never does).
                wrapped = [line] if title == "example" else _paragraph(line, 74)
                out += ["  " + wrapped[0], *("    " + rest for rest in wrapped[1:])]
    return out


def lines_of(found: Entry, section: str) -> list[str]:
    """The lines of one of an entry's SECTIONS (none: it has nothing to say)."""
    if section == "derivative":
        return _derivative(found)
    if section == "at non-differentiable points":
        return _convention(found.public)
    if section == "no gradient":
        return _no_gradient(found)
    return (found.public.example or "").splitlines()


def _usages(found: Entry) -> list[str]:
    public = found.public
    if public.usage is not None:
        return public.usage.splitlines()
    return [f"{found.name}{_signature_text(found.fn)}"]


def _signature_text(fn) -> str:
    """`(x, axis=None, keepdims=False)`: the Python signature without the
    markers the language has no use for (`/`, `**kwargs`)."""
    signature = inspect.signature(fn)
    P = inspect.Parameter
    shown = [p.replace(kind=P.POSITIONAL_OR_KEYWORD) if p.kind is P.POSITIONAL_ONLY else p
             for p in signature.parameters.values() if p.kind is not P.VAR_KEYWORD]
    return str(signature.replace(parameters=shown, return_annotation=signature.empty))


def parameters(found: Entry) -> list[str]:
    """The names of the positional parameters, in order: what argument
    positions (nondiff) and op inputs are called."""
    public = found.public
    if public.usage is not None:
        inside = public.usage.splitlines()[0].partition("(")[2].rpartition(")")[0]
        names = [re.match(r"\**(\w*)", part.strip()).group(1) for part in inside.split(",")]
        return [n for n in names if n]
    if found.fn is None:
        return []
    P = inspect.Parameter
    return [p.name for p in inspect.signature(found.fn).parameters.values()
            if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL)]


def _keywords(found: Entry) -> dict[str, str]:
    """The other spellings of keywords it takes: for a built-in adapted
    from the core's registry, builtins.ALIASES of its parameters; for
    another, what its record says (`keywords=`)."""
    public = found.public
    if public.keywords is not None:
        return public.keywords
    if found.fn is None:
        return {}
    params = inspect.signature(found.fn).parameters
    return {alias: name for alias, name in ALIASES.items()
            if name in params and alias not in params}


def _paragraph(text: str, width: int = 76) -> list[str]:
    """`text` in lines of at most `width` characters (a longer word alone)."""
    words, out, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return out + ([line] if line else [])


def _derivative(found: Entry) -> list[str]:
    """Each differentiable input's rule: `d(exp(x))/dx = exp(x)`, or, for a
    rule that names g (the gradient flowing in), what the input receives."""
    public = found.public
    if isinstance(public.rules, str):       # said in words (grad(f): a function)
        return [public.rules]
    params = parameters(found)
    rules = []
    if public.rules is not None:
        names = _Names()
        rules = [(name, rule.format_map(names)) for name, rule in public.rules.items()]
    elif public.op is not None and public.op.rules is not None:
        op = public.op
        if op.variadic:
            rules = [("each array", ops.rule_text(op, 0, {op.inputs[0]: "each array"}))]
        else:
            operands = dict(zip(op.inputs, params))
            rules = [(operands.get(name, name), ops.rule_text(op, i, operands))
                     for i, name in enumerate(op.inputs)]
    call = f"{found.name}({', '.join(name for name, _ in rules)})"
    out, names_g = [], False
    for name, rule in rules:
        if rule is None:
            continue
        if re.search(r"\bg\b", rule):
            out.append(f"to {name}: {rule}")
            names_g = True
        else:
            by = name if name.isidentifier() else f"({name})"
            out.append(f"d({call})/d{by} = {rule}")
    if names_g:
        out.append("(g: the gradient flowing in)")
    return out


class _Names(dict):
    """A rule's placeholders: each parameter by its own name, g as g."""

    def __missing__(self, key):
        return key


def _convention(public: ops.Public) -> list[str]:
    text = public.convention or (public.op.convention if public.op is not None else None)
    return [text] if text else []


def _no_gradient(found: Entry) -> list[str]:
    """`x: why` for each argument it carries no gradient to (several
    arguments with one reason on one line)."""
    params = parameters(found)
    reasons: dict[str, list[str]] = {}
    for position, why in sorted(found.public.nondiff.items()):
        name = params[position] if position < len(params) else f"argument {position + 1}"
        reasons.setdefault(why, []).append(name)
    return [f"{', '.join(names)}: {why}" for why, names in reasons.items()]


# ------------------------------------------------------------ help(value)

def text(value=MISSING) -> str:
    """What `help(value)` prints: the entry of a built-in (given itself or
    by name), a user function's signature, a module's contents; without a
    value, the list of built-ins."""
    if value is MISSING:
        return "\n".join(overview_lines())
    if isinstance(value, str):
        return "\n".join(lines(lookup(value)))
    if isinstance(value, Builtin):
        if value.public is not None:
            return "\n".join(lines(Entry(value.public, value.fn)))
        return _derived(value)
    if isinstance(value, Context):
        public = CONTEXTS[value.kind]
        return "\n".join(lines(Entry(public)))
    if isinstance(value, UserFunction):
        return f"{function_text(value)}: a function of the program"
    if isinstance(value, Namespace):
        return _namespace(value)
    raise EvalError(f"help() takes a built-in, a function or a name in quotes "
                    f"(help(sum), help('sum')), not {a_type(value)}")


def _derived(value: Builtin) -> str:
    """A function a transform made (`grad(f)`), or a helper of D2L's."""
    made_by, paren, _ = value.name.partition("(")
    if paren:
        return (f"<built-in {value.name}>: the function {made_by}() made; "
                f"help({made_by}) says what it computes")
    return f"<built-in {value.name}>: one of D2L's helpers (docs/language.md, \"D2L's helpers\")"


def _namespace(value: Namespace) -> str:
    path = value.path or modules.PREFIXES.get(value.name)
    own = sorted(set(modules.SUBMODULES.get(path, {})) | set(modules.EXTRAS.get(path, {})))
    if path in modules.CLOSED:
        has = f"only its own members: {', '.join(own)}"
    else:
        has = "the built-ins" + (f", and {', '.join(own)}" if own else "")
    what = f"the module {path}" if path else "a prefix of pasted code"
    said = f"{value.name}: {what}; it has {has}."
    if path not in modules.CLOSED:
        said += (f" {value.name}.NAME is the built-in NAME where there is no member of that "
                 f"name: help({value.name}.ones) is help(ones).")
    return "\n".join(_paragraph(said))


def describe(name: str, variables: dict) -> str:
    """`help` of a name typed in the REPL (`:help f`, `f?`): a function,
    module or built-in the session's variables hold (`F.relu` after
    `import torch.nn.functional as F`), else the built-in of that name."""
    first, *rest = name.split(".")
    value = variables.get(first, MISSING)
    for part in rest:
        value = _member(value, part)
    if isinstance(value, (Builtin, UserFunction, Namespace, Context)):
        return text(value)
    return "\n".join(lines(lookup(name)))


def help_builtin(hooks):
    """The `help` built-in of a run: prints through the run's print hook."""
    def help_(value=MISSING):
        hooks.print([text(value)])
    return help_


# ---------------------------------------------------------------- overview

def grouped() -> list[tuple[str, list[list[str]], str]]:
    """(group, the names of each built-in in it, note), in GROUPS order."""
    found = entries()
    return [(group, [list(found[name].public.names) for name in names], note)
            for group, names, note in GROUPS]


def overview_lines(width: int = 76) -> list[str]:
    """`help()` in a program: the built-ins by group, as text."""
    out = ["built-ins (help(NAME) for one of them):"]
    for group, names, _ in grouped():
        out += textwrap.wrap(f"{group}: " + ", ".join(n[0] for n in names), width,
                             subsequent_indent="    ")
    return out


def markdown_table() -> str:
    """docs/language.md's table of built-ins, every name of each."""
    rows = ["| group | functions |", "|---|---|"]
    for group, names, note in grouped():
        cells = ", ".join(" / ".join(f"`{n}`" for n in each) for each in names)
        rows.append(f"| {group} | {cells}{' — ' + note if note else ''} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    """`python -m gradcli.lang.help --markdown`: docs/language.md's table."""
    if argv != ["--markdown"]:
        sys.stderr.write("usage: python -m gradcli.lang.help --markdown\n")
        return 2
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
