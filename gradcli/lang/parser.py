"""Parse .ag source text into the frozen AST of `gradcli.lang.ast`.

The only module that imports lark. Lark parses (LALR, grammar/ag.lark) and
calls `_Builder` as it reduces each rule, so our syntax nodes are built
without a lark tree in between; every lark error becomes a `SyntaxProblem`
with a plain-words message and a 1-based span.

Start-up: importing lark pulls in its grammar compiler even when the LALR
tables come from a cache. So a run's first parse has lark write a
stand-alone parser for our grammar (lark's own generator), compiled and kept
in the user's cache directory; later runs load that instead of lark (about
20 ms less per start). That file is code, so it is executed only when
nobody but the user can have written it (`_cache_folder`, `_read_trusted`),
and it is written without following links (`_write_private`). Lark's own
table cache is a pickle and is not used. Any trouble with the cache falls
back to lark itself.
"""

from __future__ import annotations

import bisect
import copy
import io
import itertools
import marshal
import os
import re
import stat
import sys
import threading
import types
import zlib
from pathlib import Path
from typing import Iterator

from ..errors import Span, SyntaxProblem
from . import ast

__all__ = ["parse", "parse_expression"]


# --------------------------------------------------------- the lark runtime

_FORMAT = "gradcli-standalone-1"    # bump when the generated module's use changes


def _grammar_text() -> str:
    import importlib.util

    try:    # an installed package's folder: a plain file read
        spec = importlib.util.find_spec("gradcli.grammar")
        for folder in (spec.submodule_search_locations or ()) if spec else ():
            path = Path(folder) / "ag.lark"
            if path.is_file():
                return path.read_text(encoding="utf-8")
    except (ImportError, OSError, ValueError):
        pass
    try:    # anywhere else (a zip, say); importlib.resources costs ~9 ms to import
        import importlib.resources
        resource = importlib.resources.files("gradcli.grammar").joinpath("ag.lark")
        return resource.read_text(encoding="utf-8")
    except (ImportError, OSError, TypeError):
        # A source checkout that is not installed: grammar/ sits beside gradcli/.
        path = Path(__file__).resolve().parents[2] / "grammar" / "ag.lark"
        return path.read_text(encoding="utf-8")


def _digest(key: bytes) -> str:
    """64 bits naming a cache file: zlib's checksums cost nothing to import,
    where hashlib (OpenSSL) costs ~3 ms of every start-up."""
    return f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"


# Every cache file is opened without following a link (and not inherited
# by child processes).
_NO_LINKS = (os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)) if hasattr(os, "O_NOFOLLOW") else 0
_SHARED = 0o022         # mode bits that let the group or others write


def _cache_folder(create: bool = False) -> int | None:
    """`$XDG_CACHE_HOME/gradcli` (by default ~/.cache/gradcli), opened: a
    directory descriptor that the cache's files are opened relative to, so
    a rename of the path or a link planted in it cannot redirect them.

    None when there is none that can be trusted: it must be a real directory
    (not a link), this user's own, and writable by nobody else. A relative
    XDG_CACHE_HOME is ignored, as the XDG spec asks. With `create` (only a
    run that is about to write), missing directories are made 0700 and an
    older, more open one of ours is narrowed to 0700.
    """
    if not _NO_LINKS or os.open not in os.supports_dir_fd:
        return None             # no safe way to open files here: no cache
    try:
        base = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(base):
            home = os.path.expanduser("~")
            if not os.path.isabs(home):
                return None
            base = os.path.join(home, ".cache")
        path = os.path.join(base, "gradcli")
        if create:
            os.makedirs(base, mode=0o700, exist_ok=True)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
        folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NO_LINKS)
    except (OSError, ValueError):
        return None
    try:
        status = os.fstat(folder)
        if status.st_uid != os.geteuid() or status.st_mode & _SHARED:
            os.close(folder)
            return None
        if create and status.st_mode & 0o077:
            os.fchmod(folder, 0o700)
    except OSError:
        os.close(folder)
        return None
    return folder


def _read_trusted(folder: int, name: str) -> bytes | None:
    """The file's bytes, when it is a regular file (not a link), this user's
    own and writable by nobody else; else None, and it is not read at all.
    The checks are made on the opened file, so it cannot be swapped after."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NO_LINKS, dir_fd=folder)
    except OSError:
        return None
    try:
        status = os.fstat(fd)
        if (not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid()
                or status.st_mode & _SHARED):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _write_private(folder: int, name: str, data: bytes) -> None:
    """Put `data` in the folder under `name`, all or nothing: written to a
    new file that only this user can read or write (O_EXCL, so no existing
    file or link is ever opened), then renamed over `name`. On any failure
    the temporary file is removed."""
    for _ in range(5):
        temporary = f".{name}.{os.urandom(8).hex()}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_LINKS,
                         0o600, dir_fd=folder)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no fresh temporary name for {name}")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=folder)
        except OSError:
            pass
        raise


def _standalone_name(grammar: str) -> str:
    """Named after everything it depends on: the grammar, this Python, and
    the installed lark, recognised by its files without importing it (nor
    importlib.metadata, which costs ~30 ms)."""
    import importlib.util
    spec = importlib.util.find_spec("lark")
    origin = os.stat(spec.origin) if spec and spec.origin else None
    stamp = (spec.origin, origin.st_mtime_ns, origin.st_size) if origin else None
    key = f"{_FORMAT}{grammar}{stamp}{sys.version}".encode()
    return f"ag-{_digest(key)}.standalone"


def _generate_standalone(grammar: str, name: str) -> bytes:
    """A stand-alone LALR parser for the grammar, written by lark's own
    generator, compiled and marshalled (so no .pyc machinery is needed)."""
    import lark
    from lark.tools.standalone import gen_standalone

    text = io.StringIO()
    gen_standalone(lark.Lark(grammar, parser="lalr", lexer="basic",
                             maybe_placeholders=True), out=text)
    return marshal.dumps(compile(text.getvalue(), name, "exec"))


def _load_standalone(make: bool = True):
    """The stand-alone parser module kept in the cache, or None.

    Only a file `_read_trusted` accepts, in a folder `_cache_folder` accepts,
    is executed. With `make`, a missing, damaged or untrusted one is made
    again (and put in the cache for later runs); without it nothing is
    written.
    """
    folder = _cache_folder(create=make)
    if folder is None:
        return None
    try:
        grammar = _grammar_text()
        name = _standalone_name(grammar)
        kept = _read_trusted(folder, name)
        if kept is not None:
            try:
                return _exec_standalone(kept)
            except Exception:   # noqa: BLE001 - a damaged cache file: make it again
                pass
        if not make:
            return None
        made = _generate_standalone(grammar, name)
        _write_private(folder, name, made)
        return _exec_standalone(made)
    finally:
        os.close(folder)


def _save_standalone(grammar: str) -> None:
    """Make the stand-alone parser and keep it for later runs (this one has
    imported lark already and parses with it)."""
    folder = _cache_folder(create=True)
    if folder is None:
        return
    try:
        name = _standalone_name(grammar)
        _write_private(folder, name, _generate_standalone(grammar, name))
    finally:
        os.close(folder)


def _exec_standalone(compiled: bytes):
    runtime = types.ModuleType("gradcli._ag_standalone")
    sys.modules[runtime.__name__] = runtime     # its dataclasses look themselves up
    try:
        exec(marshal.loads(compiled), runtime.__dict__)
        runtime.Lark_StandAlone        # the generator's entry point, or fail here
    except BaseException:
        del sys.modules[runtime.__name__]
        raise
    return runtime


def _lark_runtime():
    import lark
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
    from lark.indenter import Indenter
    return types.SimpleNamespace(Lark=lark.Lark, Token=lark.Token, Tree=lark.Tree,
                                 UnexpectedInput=UnexpectedInput,
                                 UnexpectedCharacters=UnexpectedCharacters,
                                 UnexpectedToken=UnexpectedToken,
                                 Indenter=Indenter, lark=lark)


def _runtime():
    """The stand-alone parser if the cache holds one to trust, else lark.
    Importing this module only reads the cache: a run writes it, at its
    first parse (see `_parser`)."""
    try:
        standalone = _load_standalone(make=False)
    except Exception:   # noqa: BLE001 - a cache problem must never stop parsing
        standalone = None
    return standalone or _lark_runtime()


_RUNTIME = _runtime()
Token = _RUNTIME.Token
UnexpectedInput, UnexpectedCharacters = _RUNTIME.UnexpectedInput, _RUNTIME.UnexpectedCharacters
UnexpectedToken = _RUNTIME.UnexpectedToken
Indenter = _RUNTIME.Indenter


def parse(source: str) -> ast.Program:
    """Parse a whole program; raise `SyntaxProblem` for any syntax error."""
    # Normalised so that every line, the last included, ends in "\n"; trailing
    # blank lines are dropped so they cannot open an indented block. Line and
    # column numbers of the remaining text are unchanged.
    text = source.replace("\r\n", "\n").replace("\r", "\n").rstrip() + "\n"
    try:
        return _parse_text(text)
    except SyntaxProblem as problem:
        listing = _numbered_listing(text)
        if listing is None:
            raise _line_number_problem(problem, text) from None
    # Every line starts with its number, as copied from a numbered listing:
    # parsed without them, every place reported where it is in the source.
    stripped, offsets = listing
    try:
        program = _parse_text(stripped)
    except SyntaxProblem as problem:
        raise SyntaxProblem(problem.message, _shifted(problem.span, offsets)) from None
    return _shifted(program, offsets)


_STATEMENT_NAMES = {"Assign": "an assignment", "AugAssign": "an assignment"}


def parse_expression(source: str) -> ast.Expr:
    """One expression, as `check --expect` takes a formula. Unlike `parse`,
    a leading number is never read as a pasted listing's line number: in a
    formula `2 X` is a missing operator, not `X`."""
    text = source.replace("\r\n", "\n").replace("\r", "\n").rstrip() + "\n"
    body = _parse_text(text).body
    if len(body) == 1 and type(body[0]) is ast.ExprStmt:
        return body[0].expr
    if not body:
        raise SyntaxProblem("expected an expression", Span(1, 1, 1, 2))
    what = "several statements" if len(body) > 1 else _STATEMENT_NAMES.get(
        type(body[0]).__name__, "a statement")
    span = body[1].span if len(body) > 1 else body[0].span
    raise SyntaxProblem(f"expected one expression, not {what}", span)


def _parse_text(text: str) -> ast.Program:
    with _LOCK:  # the postlexer keeps per-parse state
        engine = _engine()
        try:
            with ast.collector_paused():
                return engine.parse(text)
        except UnexpectedInput as exc:
            raise _translate(exc, text, engine.indenter) from None
        finally:    # the tokens of a big program would outlive it otherwise
            engine.indenter.tokens, engine.indenter.brackets = [], []


# ------------------------------------------------------------- the parser

_LOCK = threading.Lock()
_PARSER: tuple | None = None


def _parser() -> tuple:
    """The parser and its postlexer, built once per process, lazily."""
    global _PARSER
    if _PARSER is None:
        if hasattr(_RUNTIME, "Lark_StandAlone"):
            indenter = _Indenter()
            standalone = _RUNTIME.Lark_StandAlone(postlex=indenter, transformer=_Builder(),
                                                  tree_class=_Spliced)
            _PARSER = (standalone, indenter)
        else:
            grammar = _grammar_text()
            _PARSER = _new_parser(grammar)
            try:
                _save_standalone(grammar)   # so that later runs need not import lark
            except Exception:   # noqa: BLE001 - a cache problem must never stop parsing
                pass
    return _PARSER


def _new_parser(grammar: str, cache: str | bool = False) -> tuple:
    """A parser made by lark itself (when no stand-alone one can be had).

    Its tables are built afresh (about 0.15 s): lark's own cache file is a
    pickle, and gradcli unpickles nothing. (`cache` is passed to lark as it
    is; gradcli itself never gives one.)
    """
    import lark
    indenter = _Indenter()
    # Nodes are built as lark reduces each rule, with spans taken from the
    # tokens each builder receives: no lark tree, and about twice as fast
    # as building one with propagate_positions.
    parser = lark.Lark(grammar, parser="lalr", lexer="basic", postlex=indenter,
                       transformer=_Builder(), tree_class=_Spliced, maybe_placeholders=True,
                       cache=cache)
    return parser, indenter


# ------------------------------------------------------------- the engine
# Lark's tables and our builders, run by a loop of our own. Lark's LALR loop
# looks every reduction's callback up by its Rule (hashed and compared in
# Python) and runs each unit rule (`?test: or_test`, a dozen between a name
# and its statement) through a callback; its lexer makes a token of every
# run of spaces and counts lines for each token through a method call. Here
# rules are numbered, a unit rule only changes the state, spaces are skipped
# by the token pattern itself, and tokens are plain str subclasses.


class _Token(str):
    """A token of the engine's lexer: the text, its kind (a terminal's name)
    and where it lies, with the attribute names of lark's Token."""

    __slots__ = ("type", "start_pos", "line", "column", "end_line", "end_column", "end_pos")


_ENGINE = None


def _engine() -> "_Engine":
    """The engine for the current parser, made when the parser is."""
    global _ENGINE
    parser, indenter = _parser()
    if _ENGINE is None or _ENGINE.lark is not parser:
        _ENGINE = _Engine(parser, indenter)
    return _ENGINE


class _Engine:
    """Lexes and parses as lark would with the parser it is made from (same
    tokens, same reductions, same callbacks, same errors), in about half the
    time."""

    busy = False                # an f-string's own parser, in use (`_parse_expression`)

    def __init__(self, lark_parser, indenter: "_Indenter"):
        self.lark, self.indenter = lark_parser, indenter
        try:
            self._lexer(lark_parser.lexer_conf)
            self._tables(lark_parser.parser.parser.parser)  # frontend -> LALR -> loop
        except (AttributeError, KeyError, TypeError, ValueError):
            self.parse = lark_parser.parse      # a lark whose insides differ: its own loop

    def _lexer(self, conf) -> None:
        """One pattern for all terminals, in the order lark's basic lexer tries
        them, with one run of an ignored terminal that cannot hold a newline
        (spaces) skipped in front. Once only: `(?:[ ]+)*` would try every way
        of splitting a run of spaces before it gave up on what follows."""
        terminals = sorted(conf.terminals, key=lambda t: (
            -t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
        # Keywords: a string that a pattern such as NAME matches in full is
        # matched as that pattern and renamed, as lark does.
        self.renames: dict[str, dict[str, str]] = {}
        embedded = set()
        for pattern in (t for t in terminals if t.pattern.type == "re"):
            regex = re.compile(pattern.pattern.to_regexp())
            for word in (t for t in terminals if t.pattern.type == "str"):
                if word.priority == pattern.priority and regex.fullmatch(word.pattern.value):
                    self.renames.setdefault(pattern.name, {})[word.pattern.value] = word.name
                    if set(word.pattern.flags) <= set(pattern.pattern.flags):
                        embedded.add(word.name)
        self.multiline = {t.name for t in terminals if _may_hold_newline(t.pattern.to_regexp())}
        skipped = [t for t in terminals if t.name in conf.ignore and t.name not in self.multiline]
        self.ignored = set(conf.ignore)
        self.skip = re.compile("(?:%s)?" % "|".join(t.pattern.to_regexp() for t in skipped))
        alternatives = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals
                                if t.name not in embedded and t not in skipped)
        self.token_pattern = re.compile(f"{self.skip.pattern}(?:{alternatives})")
        self.array_part = _array_part(conf.terminals_by_name["NUMBER"].pattern.to_regexp())

    def _tables(self, loop) -> None:
        """The parse table as lists: a state's row maps a symbol to the next
        state (shift, or goto after a reduction) or to ~n for rule n."""
        table = loop.parse_table
        callbacks = loop.callbacks
        if any(name.isupper() for name in callbacks if isinstance(name, str)):
            raise ValueError("terminal callbacks are not supported")
        numbers: dict = {}
        self.rules: list[tuple] = []
        self.table: list[dict] = [{} for _ in range(max(table.states) + 1)]
        for state, actions in table.states.items():
            row = self.table[state]
            for symbol, (_, target) in actions.items():
                if isinstance(target, int):
                    row[symbol] = target
                    continue
                if target not in numbers:
                    numbers[target] = len(self.rules)
                    self.rules.append((len(target.expansion), target.origin.name,
                                       None if _is_unit(target) else callbacks[target]))
                row[symbol] = ~numbers[target]
        (self.start,) = table.start_states.values()
        (self.end,) = table.end_states.values()

    def parse(self, text: str):
        arrays = _ArrayReader(self.array_part, text)
        try:
            return self._parse(text, arrays)
        except UnexpectedInput:
            if not arrays.used:
                raise
        # A syntax error is explained from the tokens lark itself would read.
        return self._parse(text, None)

    def _parse(self, text: str, arrays: "_ArrayReader | None"):
        tokens = self.indenter.process(self._lex(text, arrays))
        return self._run(itertools.chain(tokens, self._end()))

    def _end(self) -> Iterator:
        """Lark's '$END' token, placed on the last token the parser got
        (chain() asks for it only once the others are all read)."""
        passed = self.indenter.tokens
        yield Token.new_borrow_pos("$END", "", passed[-1]) if passed else Token("$END", "", 0, 1, 1)

    def _lex(self, text: str, arrays: "_ArrayReader | None" = None) -> Iterator[_Token]:
        match, renames, multiline, ignored = (self.token_pattern.match, self.renames,
                                              self.multiline, self.ignored)
        new = str.__new__
        pos, size, line, line_start = 0, len(text), 1, 0
        previous = None
        while pos < size:
            found = match(text, pos)
            if found is None:
                skipped = self.skip.match(text, pos).end()
                if skipped > pos:       # another ignored run (of a different terminal)
                    pos = skipped
                    continue
                raise UnexpectedCharacters(text, pos, line, pos - line_start + 1)
            kind = found.lastgroup
            start, pos = found.span(kind)
            if kind == "LSQB" and arrays is not None and previous not in _OPERAND_ENDS:
                array = arrays(start, line, line_start)
                if array is not None:
                    token, line, line_start = array
                    pos, previous = token.end_pos, token.type
                    yield token
                    continue
            token = new(_Token, text[start:pos])
            token.type = renames[kind].get(token, kind) if kind in renames else kind
            token.start_pos, token.end_pos = start, pos
            token.line, token.column = line, start - line_start + 1
            if kind in multiline and "\n" in token:
                line += token.count("\n")
                line_start = start + token.rindex("\n") + 1
            token.end_line, token.end_column = line, pos - line_start + 1
            if kind not in ignored:
                previous = token.type
                yield token

    def _run(self, tokens: Iterator) -> object:
        """Lark's LALR loop (lark/parsers/lalr_parser_state.py, feed_token)."""
        table, rules, end = self.table, self.rules, self.end
        states, values = [self.start], []
        push_state, push_value = states.append, values.append
        row = table[self.start]
        for token in tokens:
            kind = token.type
            while True:
                try:
                    action = row[kind]
                except KeyError:
                    raise self._unexpected(token, states) from None
                if action >= 0:
                    push_state(action)
                    push_value(token)
                    row = table[action]
                    break
                size, origin, build = rules[~action]
                if build is None:   # a unit rule: its one child is its value
                    state = states[-1] = table[states[-2]][origin]
                else:
                    if size:
                        children = values[-size:]
                        del values[-size:], states[-size:]
                    else:
                        children = []
                    push_value(build(children))
                    state = table[states[-1]][origin]
                    if state == end:
                        return values[-1]
                    push_state(state)
                row = table[state]
        raise AssertionError("the parser ended without reaching its end state")

    def _unexpected(self, token, states: list[int]) -> Exception:
        """Lark's error: the token, and the terminals that the parser would
        have shifted after its reductions (lark's `accepts`), or, when none
        would, all those its state has actions for."""
        expected = {symbol for symbol in self.table[states[-1]] if symbol.isupper()}
        accepts = {kind for kind in expected if self._shifts(list(states), kind)}
        return UnexpectedToken(token, accepts or expected)

    def _shifts(self, states: list[int], kind: str) -> bool:
        while True:
            action = self.table[states[-1]].get(kind)
            if action is None:
                return False
            if action >= 0:
                return True
            size, origin, _ = self.rules[~action]
            del states[len(states) - size:]
            states.append(self.table[states[-1]][origin])


class _Array(_Token):
    """A bracket literal made only of numbers, read by the lexer in one go
    (`_ArrayReader`) and passed on as one NUMBER token carrying the ListLit
    that the parser would have built from its tokens. To the parser a list
    and a number are the same kind of atom, so it parses the same."""

    __slots__ = ("node",)


# After one of these a '[' indexes (x[0], f(x)[0], [1, 2][0]): never an array.
_OPERAND_ENDS = {"NAME", "NUMBER", "STRING", "FSTRING", "TRUE", "FALSE", "NONE", "RPAR", "RSQB"}


def _array_part(number: str) -> re.Pattern:
    """One part of an array literal: a number, a negated one, '[', ']' or
    ',', after any spaces and line breaks (inside brackets they do not
    count)."""
    layout = r"[\t \f\n]*"
    return re.compile(f"{layout}(?:(?P<number>{number})|(?P<negative>-{layout}"
                      f"(?P<negated>{number}))|(?P<open>\\[)|(?P<close>\\])|(?P<comma>,))")


class _ArrayReader:
    """Reads literals like `[[1, -2.5], [3e4, 4]]` (numbers, each perhaps
    negated, commas, brackets, spaces and line breaks) for one parse, several
    times faster than the parser reads their tokens. When anything else is
    in the brackets (a name, a comment, a '+') the parser reads the literal;
    the complete literals inside it that were read on the way are kept for
    it, so no text is read more than twice."""

    def __init__(self, part: re.Pattern, text: str):
        self.match, self.text = part.match, text
        self.used = False
        self.failed_before = -1     # every '[' before it that is not in `inner` fails
        self.inner: dict[int, tuple] = {}

    def __call__(self, pos: int, line: int, line_start: int) -> tuple | None:
        """The literal whose '[' is text[pos], as a token, with the line and
        the position of its start after it; or None."""
        if pos < self.failed_before:
            return self.inner.get(pos)
        text, match, Num = self.text, self.match, ast.Num
        next_newline = text.find("\n", pos)     # the text ends with one
        read: dict[int, tuple] = {}
        lists: list[tuple] = []                 # the open ones: (items, '[' position, line, column)
        items: list = []
        want_item = True                        # after '[' or ','
        while found := match(text, pos):
            kind = found.lastgroup
            start, pos = found.span(kind)
            if start > next_newline:            # line breaks before this part
                line += text.count("\n", next_newline, start)
                line_start = text.rindex("\n", next_newline, start) + 1
                next_newline = text.find("\n", start)
            if kind == "number" and want_item:
                items.append(Num(float(text[start:pos]), Span(
                    line, start - line_start + 1, line, pos - line_start + 1)))
                want_item = False
            elif kind == "comma" and not want_item:
                want_item = True
            elif kind == "close":
                items, opened, line_, column = lists.pop()
                token = _array_token(text, ast.ListLit(tuple(items), Span(
                    line_, column, line, pos - line_start + 1)), opened, line_, column,
                    pos, line, pos - line_start + 1)
                read[opened] = token, line, line_start
                if not lists:
                    self.used = True
                    return read[opened]
                items = lists[-1][0]
                items.append(token.node)
                want_item = False
            elif kind == "open" and want_item:
                items = []
                lists.append((items, start, line, start - line_start + 1))
            elif kind == "negative" and want_item:
                minus = line, start - line_start + 1
                start = found.start("negated")
                if start > next_newline:        # '-', a line break, the number
                    line += text.count("\n", next_newline, start)
                    line_start = text.rindex("\n", next_newline, start) + 1
                    next_newline = text.find("\n", start)
                end = pos - line_start + 1
                number = Num(float(text[start:pos]), Span(line, start - line_start + 1, line, end))
                items.append(ast.UnaryOp("-", number, Span(*minus, line, end)))
                want_item = False
            else:
                pos = start
                break
        self.failed_before, self.inner = pos, read
        return None


def _array_token(text, node, start, line, column, end, end_line, end_column) -> _Array:
    token = str.__new__(_Array, text[start:end])
    token.type, token.node = "NUMBER", node
    token.start_pos, token.line, token.column = start, line, column
    token.end_pos, token.end_line, token.end_column = end, end_line, end_column
    return token


def _is_unit(rule) -> bool:
    """A `?rule` alternative of one symbol that lark replaces by its child."""
    (symbol, *more) = rule.expansion or (None, None)
    empty = rule.options.empty_indices
    return (rule.options.expand1 and not rule.alias and not more and not any(empty or ())
            and not rule.options.keep_all_tokens
            and not (symbol.is_term and symbol.filter_out)
            and not (not symbol.is_term and symbol.name.startswith("_")))


def _may_hold_newline(regexp: str) -> bool:
    """Whether a terminal's match may contain a newline (lark's own test)."""
    return any(sign in regexp for sign in ("\n", "\\n", "\\s", "[^", "."))


# ---------------------------------------------------------- the postlexer

_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB"}
_CLOSERS = {"RPAR", "RSQB"}
_LAYOUT = {"_NEWLINE", "_INDENT", "_DEDENT"}


class _Indenter(Indenter):
    """Lark's Indenter, reworked for error reporting: it records the tokens it
    passes on and the open brackets, places _INDENT/_DEDENT at the first
    character of the new line, applies Python 3's tab rule, and raises
    `SyntaxProblem` itself for indentation and bracket errors."""

    NL_type = "_NEWLINE"
    OPEN_PAREN_types = list(_OPENERS)
    CLOSE_PAREN_types = list(_CLOSERS)
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def process(self, stream):
        self.tokens: list[Token] = []      # everything passed to the parser
        self.brackets: list[Token] = []    # open brackets, innermost last
        # Each level is the indentation width with tabs to multiples of 8
        # and with tabs as 1: Python 3 rejects text where the two disagree.
        self.levels: list[tuple[int, int]] = [(0, 0)]
        return self._process(stream)

    def _process(self, stream):
        last = None
        record, brackets = self.tokens.append, self.brackets
        for token in stream:
            kind = token.type
            if last is None and kind != "_NEWLINE" and token.column > 1:
                raise _problem("unexpected indent", token)
            last = token
            if kind == "_NEWLINE":
                if not brackets:  # newlines inside brackets do not count
                    yield from self.handle_NL(token)
                continue
            if kind in _OPENERS:
                brackets.append(token)
            elif kind in _CLOSERS:
                if not brackets:
                    raise _problem(f"unmatched '{token}'", token)
                opener = brackets.pop()
                if _OPENERS[opener.type] != kind:
                    raise _problem(f"closing '{token}' does not match the opening "
                                   f"'{opener}' on line {opener.line}", token)
            record(token)
            yield token
        while len(self.levels) > 1:  # close the blocks still open at the end
            self.levels.pop()
            yield self._record(Token.new_borrow_pos(self.DEDENT_type, "", _after(last)))

    def handle_NL(self, token: Token) -> Iterator[Token]:
        yield self._record(token)
        here = _after(token)  # the first character of the next line
        width = _widths(token.rsplit("\n", 1)[1])
        if width[0] > self.levels[-1][0]:
            if width[1] <= self.levels[-1][1]:
                raise _problem(_TABS, here)
            self.levels.append(width)
            yield self._record(Token.new_borrow_pos(self.INDENT_type, "", here))
            return
        while width[0] < self.levels[-1][0]:
            self.levels.pop()
            yield self._record(Token.new_borrow_pos(self.DEDENT_type, "", here))
        if width[0] != self.levels[-1][0]:
            raise _problem("inconsistent indentation", here)
        if width[1] != self.levels[-1][1]:
            raise _problem(_TABS, here)

    def _record(self, token: Token) -> Token:
        self.tokens.append(token)
        return token


def _after(token: Token) -> Token:
    """An empty token just after `token`."""
    return Token("", "", token.end_pos, token.end_line, token.end_column,
                 token.end_line, token.end_column, token.end_pos)


_TABS = "inconsistent indentation: tabs and spaces are mixed"


def _widths(indent: str) -> tuple[int, int]:
    """Indentation width with tabs to the next multiple of 8, and with tabs as 1."""
    indent = indent.rsplit("\f", 1)[-1]  # a form feed resets the count, as in Python
    eight = 0
    for char in indent:
        eight = (eight // 8 + 1) * 8 if char == "\t" else eight + 1
    return eight, len(indent)


# -------------------------------------------------------- building the AST

def _cover(children: list) -> Span:
    """From the start of the first child to the end of the last one. Children
    are tokens, nodes, None for a missing optional part, or tuples of these
    (a block, an elif branch)."""
    first, last = _edge(children, 0), _edge(children, -1)
    if first is None:
        return Span(1, 1, 1, 1)  # an empty program
    return Span(first.line, first.column, last.end_line, last.end_column)


def _edge(children, end: int):
    """The first (end 0) or last (end -1) token or node span in `children`."""
    if children:
        child = children[end]    # most often the edge itself
        if isinstance(child, ast.Node):
            return child.span
        if isinstance(child, str):     # a token (of any lark runtime, or ours)
            return child
    for child in children if end == 0 else reversed(children):
        if isinstance(child, (tuple, list)):
            child = _edge(child, end)
        if isinstance(child, str):
            return child
        if child is not None:
            return getattr(child, "span", child)
    return None


def _token_span(token) -> Span:
    return Span(token.line, token.column, token.end_line, token.end_column)


class _Spliced:
    """Lark's tree class here: what a rule without a builder reduces to. Only
    rules named `_x` and lark's helpers for `*` and `+` have none (a test
    checks), and lark splices their children into the parent's. (A lark
    Tree, or a __default__ builder making one, costs twice as much.)"""

    __slots__ = ("children",)

    def __init__(self, data: str, children: list):
        self.children = children


def _items(children: list) -> tuple:
    """The nodes among `children`, without brackets and missing parts."""
    return tuple(child for child in children
                 if child is not None and not isinstance(child, str))


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}


class _Builder:
    """Lark calls the method named after each rule or alias as it reduces it,
    bottom-up and without recursion, with the children already built. Tokens
    stay lark Tokens until their parent converts them; a missing optional
    part is None. Only nodes are built here, nothing is evaluated."""

    # ---- statements

    def start(self, c):
        return ast.Program(_items(c), _cover(c))

    def suite(self, c):
        return _items(c)

    def expr_stmt(self, c):
        return ast.ExprStmt(c[0], _cover(c))

    def assign(self, c):
        target, value = c
        if isinstance(target, ast.TupleLit):
            for item in target.items:
                if not isinstance(item, ast.Name):
                    raise SyntaxProblem(f"cannot unpack into {_describe(item)}; "
                                        "use plain names", item.span)
        elif not isinstance(target, (ast.Name, ast.Index)) and not (
                isinstance(target, ast.Attribute) and target.name == "grad"):
            raise SyntaxProblem(f"cannot assign to {_describe(target)}", target.span)
        return ast.Assign(target, value, _cover(c))

    def aug_assign(self, c):
        target, op, value = c
        if not isinstance(target, (ast.Name, ast.Index)):
            raise SyntaxProblem(f"cannot use '{op}' on {_describe(target)}", target.span)
        return ast.AugAssign(target, op[0], value, _cover(c))

    def input_decl(self, c):
        return ast.InputDecl(str(c[1]), c[2], _cover(c))

    def pass_stmt(self, c):
        return ast.Pass(_cover(c))

    def break_stmt(self, c):
        return ast.Break(_cover(c))

    def continue_stmt(self, c):
        return ast.Continue(_cover(c))

    def return_stmt(self, c):
        return ast.Return(c[1], _cover(c))

    def import_stmt(self, c):
        return ast.Import("", _token_span(c[0]), _items(c), _cover(c))

    def from_import(self, c):
        return ast.Import(c[1].id, c[1].span, _items(c[2:]), _cover(c))

    def import_alias(self, c):
        # The span is the module's name: what an error about it points at.
        return ast.ImportItem(c[0].id, "" if c[2] is None else str(c[2]), c[0].span)

    def import_name(self, c):
        return ast.ImportItem(str(c[0]), "" if c[2] is None else str(c[2]), _token_span(c[0]))

    def dotted_name(self, c):
        return ast.Name(".".join(str(t) for t in c), _cover(c))

    def if_stmt(self, c):
        # IF cond body, one (cond, body) per elif, then the else body or None.
        branches = ((c[1], c[2]), *c[3:-1])
        return ast.If(branches, c[-1] or (), _cover(c))

    def elif_clause(self, c):
        return c[0], c[1]

    def else_clause(self, c):
        return c[0]

    def while_stmt(self, c):
        return ast.While(c[1], c[2], _cover(c))

    def for_stmt(self, c):
        return ast.For(_target(c[1]), c[2], c[3], _cover(c))

    def for_names(self, c):
        return tuple(str(t) for t in c if t is not None)

    def list_comp(self, c):
        return ast.ListComp(c[1], tuple(c[2:-1]), _cover(c))

    def comp_for(self, c):
        return ast.CompFor(_target(c[1]), c[2], tuple(c[3:]), _cover(c))

    def comp_if(self, c):
        return c[1]

    def with_stmt(self, c):
        return ast.With(c[1], c[2], _cover(c))

    def funcdef(self, c):
        return ast.FuncDef(str(c[1]), c[2] or (), c[3], _cover(c))

    def params(self, c):
        params = _items(c)
        seen, defaulted = set(), False
        for param in params:
            if param.name in seen:
                raise SyntaxProblem(f"parameter '{param.name}' appears twice", param.span)
            if defaulted and param.default is None:
                raise SyntaxProblem(f"parameter '{param.name}' without a default "
                                    "follows one with a default", param.span)
            seen.add(param.name)
            defaulted = param.default is not None
        return params

    # ---- generators and try (SPEC 1)

    def yield_stmt(self, c):
        return ast.Yield(c[1], _cover(c))

    def try_stmt(self, c):
        # TRY body, the except clauses, then the else and finally bodies (or None).
        body, rest = c[1], list(c[2:])
        handlers = tuple(x for x in rest if isinstance(x, ast.ExceptHandler))
        tail = [x for x in rest if not isinstance(x, ast.ExceptHandler)]
        if not handlers:                    # TRY ":" suite finally_clause
            orelse, final = None, tail[0]
        else:
            orelse, final = (tail + [None, None])[:2]
        return ast.Try(body, handlers, orelse or (), final or (), _cover(c))

    def except_clause(self, c):
        _, types, name, body = c
        return ast.ExceptHandler(types, None if name is None else str(name), body, _cover(c))

    def finally_clause(self, c):
        return c[0]

    def param(self, c):
        return ast.Param(str(c[0]), c[1], _cover(c))

    # ---- expressions

    def lambdef(self, c):
        return ast.Lambda(c[1] or (), c[2], _cover(c))

    def or_op(self, c):
        return ast.BoolOp("or", c[0], c[1], _cover(c))

    def and_op(self, c):
        return ast.BoolOp("and", c[0], c[1], _cover(c))

    def not_op(self, c):
        return ast.UnaryOp("not", c[1], _cover(c))

    def binop(self, c):
        left, op, right = c
        return ast.BinOp(str(op), left, right, _cover(c))

    def unary(self, c):
        return ast.UnaryOp(str(c[0]), c[1], _cover(c))

    def call(self, c):
        func, arguments, _ = c
        args, keywords, names = [], [], set()
        for argument in arguments or ():
            if isinstance(argument, ast.Keyword):
                if argument.name in names:
                    raise SyntaxProblem(f"keyword argument '{argument.name}' given twice",
                                        argument.span)
                names.add(argument.name)
                keywords.append(argument)
            elif keywords:
                raise SyntaxProblem("positional argument follows keyword argument",
                                    argument.span)
            else:
                args.append(argument)
        return ast.Call(func, tuple(args), tuple(keywords), _cover(c))

    def arguments(self, c):
        return _items(c)

    def keyword(self, c):
        return ast.Keyword(str(c[0]), c[1], _cover(c))

    def attribute(self, c):
        return ast.Attribute(c[0], str(c[1]), _cover(c))

    def index(self, c):
        return ast.Index(c[0], c[1], _cover(c))

    def subscripts(self, c):
        return _items(c)

    def ellipsis(self, c):
        return ast.EllipsisIndex(_token_span(c[0]))

    def slice(self, c):
        # Parts and ':' tokens, e.g. [None, ':', None, ':', step] for `::step`.
        parts: list = [None]
        for child in c:
            if isinstance(child, str):
                parts.append(None)
            elif child is not None:
                parts[-1] = child
        parts += [None] * (3 - len(parts))
        return ast.Slice(*parts, _cover(c))

    def name(self, c):
        return ast.Name(str(c[0]), _token_span(c[0]))

    def number(self, c):
        if type(c[0]) is _Array:    # a whole literal of numbers, read by the lexer
            return c[0].node
        return ast.Num(float(c[0]), _token_span(c[0]))  # float() takes `1_000`, `.5`, `1.`

    def string(self, c):
        text = str(c[0])
        quotes = 3 if text[:3] in _TRIPLE_QUOTES else 1
        return ast.Str(_unescape(text[quotes:-quotes]), _cover(c))

    def true(self, c):
        return ast.Const(True, _cover(c))

    def false(self, c):
        return ast.Const(False, _cover(c))

    def none(self, c):
        return ast.Const(None, _cover(c))

    def tuple(self, c):
        return ast.TupleLit(_items(c), _cover(c))

    def list(self, c):
        return ast.ListLit(_items(c), _cover(c))

    # ---- strings: `is not`, f-strings

    def is_not_op(self, c):
        return ast.BinOp("is not", c[0], c[3], _cover(c))

    def fstring(self, c):
        return _fstring(c[0])


def _target(target):
    """A loop's target: a name (a token) or a tuple of names."""
    return target if isinstance(target, tuple) else str(target)


def _describe(node) -> str:
    """How an assignment-target error names the expression."""
    kinds = {ast.Call: "a function call", ast.Attribute: "an attribute",
             ast.Num: "a number", ast.Str: "a string", ast.Const: "a constant",
             ast.ListLit: "a list", ast.TupleLit: "a tuple", ast.Lambda: "a lambda",
             ast.FString: "an f-string",
             ast.Index: "an indexed value"}
    return kinds.get(type(node), "an expression")


# ---------------------------------------------------------- syntax errors
# Lark reports the token it could not use and the tokens it would accept.
# The rules below read that, plus the tokens before it (recorded by the
# postlexer), and say what is wrong in plain words. Each message is tested
# with a bad snippet in tests/test_parser.py.

_COMPARISONS = {"LT", "LE", "GT", "GE", "EQ", "NE"}
_BINARY = {"STAR", "SLASH", "DSLASH", "PERCENT", "AT", "DSTAR", "PLUS", "MINUS",
           "AND", "OR", "IS"} | _COMPARISONS
_EXPRESSION_START = {"NAME", "NUMBER", "STRING", "FSTRING", "TRUE", "FALSE", "NONE", "LPAR",
                     "LSQB", "MINUS", "PLUS", "NOT", "LAMBDA"}
_OPERAND = {"NAME", "NUMBER", "STRING", "FSTRING", "TRUE", "FALSE", "NONE"}
_STATEMENT_START = {"IF", "WHILE", "FOR", "DEF", "WITH", "RETURN", "PASS", "BREAK",
                    "CONTINUE", "INPUT", "IMPORT", "FROM", "YIELD", "TRY"}
_KEYWORDS = _STATEMENT_START | {"ELIF", "ELSE", "IN", "AND", "OR", "NOT", "IS", "LAMBDA", "AS",
                                "TRUE", "FALSE", "NONE", "EXCEPT", "FINALLY"}
_HEADERS = {"IF": "if condition", "ELIF": "elif condition", "WHILE": "while condition",
            "FOR": "for clause", "DEF": "def signature", "ELSE": "else",
            "WITH": "with clause", "TRY": "try", "EXCEPT": "except clause"}
_WORDS = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string",
          "FSTRING": "an f-string",
          "_NEWLINE": "end of line", "$END": "end of input",
          "_INDENT": "an indented block", "_DEDENT": "end of block"}


def _problem(message: str, token: Token) -> SyntaxProblem:
    """A SyntaxProblem at `token`, at least one character wide."""
    end_column = token.end_column if token.end_line > token.line else max(
        token.end_column, token.column + 1)
    return SyntaxProblem(message, Span(token.line, token.column, token.end_line, end_column))


def _translate(exc: UnexpectedInput, text: str, indenter: _Indenter) -> SyntaxProblem:
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream]
        if char in "'\"":
            unterminated = _unterminated(text, exc.pos_in_stream, exc.line, exc.column)
            if unterminated is not None:
                return unterminated
            rest = text[exc.pos_in_stream:text.index("\n", exc.pos_in_stream)].rstrip()
            span = Span(exc.line, exc.column, exc.line, exc.column + len(rest))
            return SyntaxProblem("unterminated string", span)
        shown = char if char.isprintable() else repr(char)[1:-1]
        return SyntaxProblem(_OUTSIDE_CHARACTERS.get(char, f"unexpected character '{shown}'"),
                             Span(exc.line, exc.column, exc.line, exc.column + 1))
    token = getattr(exc, "token", None)
    if token is None:  # UnexpectedEOF (lark's LALR reports a '$END' token instead)
        token = Token("$END", "")
    expected = set(getattr(exc, "accepts", None) or getattr(exc, "expected", ()) or ())
    context = _Context(token, text, indenter)
    return (_own_quote_in_fstring(context.prev) or _open_triple_quote(context)
            or _problem(*_explain(token, expected, context)))


class _Context:
    """The tokens before the offending one, sliced the ways the rules need."""

    def __init__(self, token: Token, source: str, indenter: _Indenter):
        self.source = source
        tokens = indenter.tokens
        self.before = tokens[:-1] if tokens and tokens[-1] is token else tokens
        # Lark's '$END' and the _DEDENTs closing the last blocks sit at the end.
        self.at_end = token.type == "$END" or token.start_pos >= len(source)
        self.brackets = indenter.brackets
        self.last_real = next((t for t in reversed(self.before) if t.type not in _LAYOUT),
                              None)
        self.prev = self.before[-1] if self.before else None

    def line(self, tokens: list[Token]) -> list[Token]:
        """The tokens of the logical line that `tokens` ends in."""
        start = len(tokens)
        while start and tokens[start - 1].type not in _LAYOUT:
            start -= 1
        return tokens[start:]

    def statement(self) -> list[Token]:
        """The current line's tokens after its last top-level ';'."""
        line, depth, start = self.line(self.before), 0, 0
        for i, t in enumerate(line):
            depth += (t.type in _OPENERS) - (t.type in _CLOSERS)
            if t.type == "SEMICOLON" and depth == 0:
                start = i + 1
        return line[start:]

    def where(self, token: Token) -> Token:
        """Where to point: the token itself, or just past the last real token
        when the problem is a line or the input that ended too soon."""
        cut_short = token.type in {"_NEWLINE", "$END"} or (self.at_end and token.type in _LAYOUT)
        if cut_short and self.last_real is not None:
            return _after(self.last_real)
        return token


def _explain(token: Token, expected: set[str], ctx: _Context) -> tuple[str, Token]:
    """A plain-words message for an unexpected token, and where to point.
    The first rule that fits wins."""
    kind, prev, here = token.type, ctx.prev, ctx.where(token)
    if ctx.brackets and (ctx.at_end or _left_open(token, ctx)):
        opener = ctx.brackets[-1]
        return f"unclosed '{opener}'", opener
    if kind == "_INDENT":
        return "unexpected indent", here
    if "_INDENT" in expected:
        keyword = ctx.line(_strip_layout(ctx.before))[0]  # starts the header line
        return f"expected an indented block after '{keyword}'", here
    if {"EXCEPT", "FINALLY"} <= expected and not expected & {"NAME", "IF"}:
        return "'try' needs an 'except' or 'finally' clause after its block", here
    statement = ctx.statement()
    depth = _depth(statement)
    first = statement[0] if statement else None
    outside = _outside_the_language(token, statement, ctx)
    if outside is not None:
        return outside
    if kind in _COMPARISONS and _compared_before(statement):
        return "chained comparisons like 'a < b < c' are not supported; use 'and'", here
    if kind == "EQUAL" and depth == 0 and any(t.type == "EQUAL" for t in statement):
        return ("chained assignment like 'a = b = 1' is not supported; "
                "assign one at a time", here)
    if kind == "EQUAL" and prev is not None and prev.type in _KEYWORDS:
        return f"'{prev}' is a reserved word and cannot be used as a name", prev
    if kind in _KEYWORDS and "NAME" in expected and _assigned(token, ctx):
        return f"'{token}' is a reserved word and cannot be used as a name", here
    header = first is not None and first.type in _HEADERS and depth == 0
    if header and kind == "EQUAL" and first.type in {"IF", "ELIF", "WHILE"}:
        return "'=' assigns a value; use '==' to compare", here
    if header and "COLON" in expected and not any(t.type == "COLON" for t in statement):
        return f"expected ':' after {_HEADERS[first.type]}", here
    if {"NAME", "NUMBER"} <= expected and not expected & {"STAR", "SLASH"}:
        # An expression (or a statement) must start here.
        if prev is not None and prev.type not in _LAYOUT:
            return f"expected an expression after '{prev}'", here
        if kind in {"ELSE", "ELIF"}:
            return f"'{token}' without a matching 'if'", here
        if kind in {"EXCEPT", "FINALLY"}:
            return f"'{token}' without a matching 'try'", here
        return f"unexpected {_describe_token(token)} at the start of a statement", here
    if kind in _OPERAND and "STAR" in expected and prev is not None:
        # Two operands in a row.
        if prev.type == "NUMBER" and kind == "NAME" and prev.end_pos == token.start_pos:
            return ("a number cannot be followed directly by a name; "
                    f"did you mean '{prev}*{token}'?", here)
        missing = "an operator or a ','" if depth else "an operator"
        return f"unexpected {_describe_token(token)}; is {missing} missing before it?", here
    if kind == "FOR" and ctx.brackets and ctx.brackets[-1].type == "LPAR":
        return ("generator expressions like 'sum(f(x) for x in xs)' are not supported; "
                "use a list comprehension: 'sum([f(x) for x in xs])'", here)
    if kind == "FOR" and ctx.brackets and ctx.brackets[-1].type == "LSQB" and not _indexes(
            ctx.brackets[-1], ctx.before):
        return ("a list comprehension makes one element per item: write several "
                "values as a tuple, '[(a, b) for ...]'", here)
    return f"unexpected {_describe_token(token)}; {_expected_words(expected)}", here


# What Python has and .ag does not, named instead of guessed at.
_OUTSIDE_CHARACTERS = {
    "{": "dict and set literals '{...}' are not part of the .ag language; "
         "use separate variables, or a list",
    "^": "'^' is not an operator in the .ag language; did you mean '**' (power)?",
    "&": "bitwise operators are not part of the .ag language; for conditions use 'and'",
    "|": "bitwise operators are not part of the .ag language; for conditions use 'or'",
    "~": "bitwise operators are not part of the .ag language; for conditions use 'not'",
}
_PYTHON_STATEMENTS = {"raise", "assert", "del", "global", "nonlocal", "async", "await"}
_LINE_NUMBER = ("this line starts with a line number, as pages with numbered listings "
                "show; remove the numbers")


def _outside_the_language(token: Token, statement: list[Token], ctx: _Context):
    """(message, where) when the statement uses Python the language does not
    have (`class`, `print x`) or starts with a pasted line number; else None."""
    if not statement or token.line != statement[0].line:
        return None
    first = statement[0]
    if first.type == "NAME" and first == "class" and len(statement) == 1:
        return "classes are not part of the .ag language", first
    if first.type == "NAME" and first in _PYTHON_STATEMENTS and len(statement) == 1:
        return f"'{first}' statements are not part of the .ag language", first
    if token.type == "IF" and token is not first and len(statement) > 0:
        return ("conditional expressions 'a if c else b' are not part of the .ag language; "
                "use an if statement", token)
    if first.type == "NAME" and first == "print" and len(statement) == 1 and \
            token.type in _OPERAND:
        rest = ctx.source[token.start_pos:ctx.source.index("\n", token.start_pos)]
        rest = re.sub(r"\s*#[^'\"]*$", "", rest).strip()     # a comment after it
        return f"print needs parentheses: print({rest})", first
    return None


# A pasted line number: digits at the start of a line, then a space or tab
# and what a line of code starts with (not an operator: `1 + 2`, `1 if c`),
# or nothing more. In a line that fails to parse, followed by a name.
_OPERATOR_WORD = r"(?!(?:and|or|if|else|not|in|is|for)\b)"
_NUMBERED = re.compile(rf"[ \t]*(\d+)(?:[ \t](?=[ \t]*(?:$|{_OPERATOR_WORD}[^\W\d]|[#'\"(\[\d]))"
                       r"|$)")
_NUMBER_THEN_NAME = re.compile(rf"[ \t]*(\d+)[ \t]+{_OPERATOR_WORD}[^\W\d]")


def _numbered_listing(text: str):
    """(the text without its line numbers, {line: characters removed}) when
    every non-blank line starts with its number, counting up by one line by
    line (blank lines may go without); else None. After the numbers, the
    indentation all lines share is removed too."""
    lines = text.split("\n")[:-1]
    rests, first = {}, None
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        found = _NUMBERED.match(line)
        if found is None:
            return None
        if first is None:
            first = int(found[1]) - index
        elif int(found[1]) != first + index:
            return None
        rests[index] = found.end()
    if not rests:
        return None
    codes = [lines[i][cut:] for i, cut in rests.items() if lines[i][cut:].strip()]
    common = min((len(code) - len(code.lstrip(" \t")) for code in codes), default=0)
    offsets, out = {}, []
    for index, line in enumerate(lines):
        cut = rests.get(index, 0)
        cut += common if line[cut:].strip() else len(line) - cut
        offsets[index + 1] = cut
        out.append(line[cut:])
    return "\n".join(out) + "\n", offsets


def _shifted(item, offsets: dict):
    """A syntax node (or span, or tuple of them) with every column moved
    right by what was cut from the start of its line."""
    if isinstance(item, Span):
        return Span(item.line, item.column + offsets.get(item.line, 0),
                    item.end_line, item.end_column + offsets.get(item.end_line, 0))
    if isinstance(item, ast.Node):
        return type(item)(*[_shifted(getattr(item, f), offsets) for f in item._fields])
    if isinstance(item, tuple):
        return tuple(_shifted(part, offsets) for part in item)
    return item


def _line_number_problem(problem: SyntaxProblem, text: str) -> SyntaxProblem:
    """The problem, or, when its line starts with a number and a name (a
    line number pasted with the code), that message, at the number."""
    span = problem.span
    if span is None:
        return problem
    line = text.split("\n")[span.line - 1] if span.line <= text.count("\n") else ""
    found = _NUMBER_THEN_NAME.match(line)
    if found is None:
        return problem
    return SyntaxProblem(_LINE_NUMBER, Span(span.line, found.start(1) + 1,
                                            span.line, found.end(1) + 1))


def _indexes(opener: Token, before: list[Token]) -> bool:
    """Whether the '[' `opener` starts an index (`x[...]`), not a list."""
    for i in range(len(before) - 1, 0, -1):
        if before[i] is opener:
            return before[i - 1].type in _OPERAND_ENDS
    return False


def _strip_layout(tokens: list[Token]) -> list[Token]:
    end = len(tokens)
    while end and tokens[end - 1].type in _LAYOUT:
        end -= 1
    return tokens[:end]


def _depth(tokens: list[Token]) -> int:
    return sum((t.type in _OPENERS) - (t.type in _CLOSERS) for t in tokens)


def _compared_before(statement: list[Token]) -> bool:
    """Whether the expression the parser is in already has a comparison at
    this bracket depth (so the current operator would chain it)."""
    depth, level, seen = _depth(statement), 0, False
    for t in statement:
        if t.type in _CLOSERS:
            level -= 1
        if level == depth:
            if t.type in _COMPARISONS:
                seen = True
            elif t.type in {"AND", "OR", "NOT", "COMMA", "EQUAL", "COLON"}:
                seen = False
        if t.type in _OPENERS:
            level += 1
    return seen


def _left_open(token: Token, ctx: _Context) -> bool:
    """A bracket probably left open: the parser stumbled on a new line that
    is indented no deeper than the line with the bracket."""
    opener, last = ctx.brackets[-1], ctx.last_real
    if last is None or token.line <= last.line or opener.line >= token.line:
        return False
    line_start = [t for t in ctx.before if t.line == opener.line and t.type not in _LAYOUT]
    return token.column <= (line_start or [opener])[0].column


def _assigned(token: Token, ctx: _Context) -> bool:
    """Whether `token` is followed by a lone '=' (so it was meant as a name)."""
    return bool(re.match(r"[ \t]*=(?!=)", ctx.source[token.end_pos:token.end_pos + 40]))


def _describe_token(token: Token) -> str:
    if token.type in _LAYOUT or token.type == "$END":
        return _WORDS[token.type]
    return f"'{token}'"


def _expected_words(expected: set[str]) -> str:
    words, rest = [], set(expected)
    if {"NAME", "NUMBER", "LPAR", "LSQB"} <= rest:
        words.append("an expression")
        rest -= _EXPRESSION_START
    if {"STAR", "SLASH", "LT"} <= rest:
        words.append("an operator")
        rest -= _BINARY | {"LPAR", "LSQB", "DOT", "PLUSEQ", "MINUSEQ", "STAREQ", "SLASHEQ"}
    if {"IF", "WHILE", "DEF"} <= rest:
        words.append("a statement")
        rest -= _KEYWORDS
    parser, _ = _parser()
    # Kinds of token (a name...) first, then punctuation, then ends of things.
    for name in sorted(rest, key=lambda n: (2 if n[0] in "_$" else n not in _WORDS, n)):
        if name in _WORDS:
            words.append(_WORDS[name])
        else:
            words.append(f"'{parser.get_terminal(name).pattern.value}'")
    if len(words) == 1:
        return f"expected {words[0]}"
    return "expected one of: " + ", ".join(words)


# ---------------------------------------------------------------- strings
# A string token's text becomes its value here. An f-string is one token
# (FSTRING); its literal parts and the expressions in its braces are read
# apart here, each expression parsed on its own by a parser of its own and
# moved to where it stands in the program, so its nodes and its errors
# carry their true line and column.

_TRIPLE_QUOTES = ('"""', "'''")


def _unescape(body: str) -> str:
    """A string literal's text with its escapes replaced; a backslash before
    a line break continues the line, as in Python."""
    return re.sub(r"\\([\s\S])", lambda m: "" if m[1] == "\n" else _ESCAPES.get(m[1], m[0]),
                  body)


def _unterminated(text: str, pos: int, line: int, column: int) -> SyntaxProblem | None:
    """The error for a string that does not end, when it is an f-string or a
    triple-quoted one (the lexer stops at its last quote or its 'f')."""
    start, col = pos, column
    triple = text[pos - 2:pos] == text[pos] * 2 and text[pos - 3:pos - 2] != text[pos]
    if triple:
        start, col = pos - 2, column - 2
    if start and text[start - 1] in "fF" and (start < 2 or not (
            text[start - 2].isalnum() or text[start - 2] == "_")):
        start, col = start - 1, col - 1
    if start == pos:
        return None
    end = text.find("\n", pos)
    kind = "triple-quoted string" if triple else "f-string"
    return SyntaxProblem(f"unterminated {kind}",
                         Span(line, col, line, col + len(text[start:end].rstrip())))


def _own_quote_in_fstring(token) -> SyntaxProblem | None:
    """The error when an f-string ended inside one of its fields, at a
    quote like its own (`f"{d["k"]}"`): the parser stumbles just after."""
    if token is None or token.type != "FSTRING":
        return None
    try:
        _fstring(token)
    except SyntaxProblem as exc:
        if exc.message == "f-string: expected '}' to close the '{'":
            return SyntaxProblem("f-string: an expression in '{}' cannot use the f-string's "
                                 "own quote; use the other one",
                                 Span(token.end_line, token.end_column - 1,
                                      token.end_line, token.end_column))
    return None


def _open_triple_quote(context) -> SyntaxProblem | None:
    """The error for a triple quote that never closes, when the text after it
    lexed as other tokens (it holds a quote): the lexer read its first two
    quotes as an empty string."""
    source = context.source
    for token in context.before:
        if (token.type in ("STRING", "FSTRING") and token[-2:] in ('""', "''")
                and len(token) <= 3 and source[token.end_pos:token.end_pos + 1] == token[-1]):
            end = source.find("\n", token.start_pos)
            return SyntaxProblem("unterminated triple-quoted string", Span(
                token.line, token.column, token.line,
                token.column + len(source[token.start_pos:end].rstrip())))
    return None


class _FStringText:
    """The body of one f-string token (between its quotes), and where each of
    its characters stands in the program."""

    def __init__(self, token):
        text = str(token)
        quotes = 3 if text[1:4] in _TRIPLE_QUOTES else 1
        self.body = text[1 + quotes:-quotes]
        self.line, self.column = token.line, token.column + 1 + quotes
        self.breaks = [m.start() for m in re.finditer("\n", self.body)]

    def where(self, k: int) -> tuple[int, int]:
        before = bisect.bisect_left(self.breaks, k)
        if not before:
            return self.line, self.column + k
        return self.line + before, k - self.breaks[before - 1]

    def span(self, start: int, end: int | None = None) -> Span:
        return Span(*self.where(start), *self.where(start + 1 if end is None else end))

    def problem(self, message: str, start: int, end: int | None = None) -> SyntaxProblem:
        return SyntaxProblem(f"f-string: {message}", self.span(start, end))


def _fstring(token) -> ast.FString:
    text = _FStringText(token)
    parts, _ = _fstring_parts(text, 0, in_spec=False)
    return ast.FString(parts, _token_span(token))


def _fstring_parts(text: _FStringText, i: int, in_spec: bool) -> tuple[tuple, int]:
    """The parts from body[i] on, up to the end (or, in a format spec, up to
    the '}' closing its field); and where they stop."""
    body, parts, literal, start = text.body, [], [], i

    def flush(end):
        if literal:
            parts.append(ast.Str(_unescape("".join(literal)), text.span(start, end)))
            literal.clear()

    while i < len(body):
        char = body[i]
        if char == "\\" and body[i + 1:i + 2] not in ("{", "}", ""):
            literal.append(body[i:i + 2])
            i += 2
        elif char == "{" and body.startswith("{{", i) and not in_spec:
            literal.append("{")
            i += 2
        elif char == "{":
            flush(i)
            fields, i = _fstring_field(text, i)
            parts.extend(fields)
            start = i
        elif char == "}" and in_spec:
            break
        elif char == "}":
            if not body.startswith("}}", i):
                raise text.problem("single '}' is not allowed (write '}}' for a brace)", i)
            literal.append("}")
            i += 2
        else:
            literal.append(char)
            i += 1
    flush(i)
    return tuple(parts), i


def _fstring_field(text: _FStringText, i: int) -> tuple[tuple, int]:
    """The replacement field whose '{' is body[i] (after its text, for a
    self-documenting `{x=}`), and where it ends."""
    body, j, depth = text.body, i + 1, 0
    while j < len(body):
        char = body[j]
        if char in "'\"":
            quote = body[j:j + 3] if body.startswith(char * 3, j) else char
            j = _string_end(body, j + len(quote), quote)
            if j < 0:
                raise text.problem("unterminated string in an expression", i)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if not depth and char == "}":
                break
            if not depth:
                raise text.problem(f"unmatched '{char}'", j)
            depth -= 1
        elif not depth and (char == ":" or (char == "!" and body[j + 1:j + 2] != "=")):
            break
        elif char == "#":
            raise text.problem("an expression cannot hold a comment ('#')", j)
        j += 1
    if j >= len(body):
        raise text.problem("expected '}' to close the '{'", i)
    source = body[i + 1:j]
    if not source.strip():
        raise text.problem("empty expression in '{}'", i, j + 1)
    # `{x = }` writes its own text, then the value (Python 3.8's debugging form).
    raw, stripped = source, source.rstrip()
    echo = stripped.endswith("=") and not stripped.endswith(("==", "!=", "<=", ">="))
    if echo:
        source = stripped[:-1]
    value = _parse_expression(source, *text.where(i + 1))
    conversion, spec = "", None
    if body[j] == "!":
        conversion = body[j + 1:j + 2]
        if conversion not in ("r", "s", "a"):
            raise text.problem("expected 'r', 's' or 'a' after '!'", j + 1)
        j += 2
    if body[j:j + 1] == ":":
        parts, end = _fstring_parts(text, j + 1, in_spec=True)
        spec = ast.FString(parts, text.span(j + 1, end))
        j = end
    if body[j:j + 1] != "}":
        raise text.problem("expected '}' to close the '{'", i)
    field = ast.FormattedValue(value, conversion or ("r" if echo and spec is None else ""),
                               spec, text.span(i, j + 1))
    if not echo:
        return (field,), j + 1
    return (ast.Str(raw, text.span(i + 1, i + 1 + len(raw))), field), j + 1


def _string_end(body: str, j: int, quote: str) -> int:
    """Just past the `quote` that ends a string whose text starts at body[j],
    or -1."""
    while j < len(body):
        if body[j] == "\\":
            j += 2
        elif body.startswith(quote, j):
            return j + len(quote)
        else:
            j += 1
    return -1


# One parser per level of f-strings inside f-strings: the outer parse is
# still running (its postlexer holds its state) while an inner one is made.
_NESTED: list = []
_NESTED_FOR: list = [None]       # the engine the nested ones were made beside


def _parse_expression(source: str, line: int, column: int) -> ast.Node:
    """The expression `source`, which stands at line:column of the program.
    Parsed in brackets, so that line breaks in it do not count."""
    main = _engine()
    if _NESTED_FOR[0] is not main:
        _NESTED.clear()
        _NESTED_FOR[0] = main
    depth = sum(1 for engine in _NESTED if engine.busy)
    if depth == len(_NESTED):
        if "parse" in vars(main):       # lark's own loop and postlexer: a parser of its own
            engine = _Engine(*_new_parser(_grammar_text()))
        else:
            engine = copy.copy(main)
            engine.indenter = _Indenter()
        _NESTED.append(engine)
    engine = _NESTED[depth]
    text = f"({source})\n"
    lines, columns = line - 1, column - 2       # where "(" would stand
    engine.busy = True
    try:
        program = engine.parse(text)
    except UnexpectedInput as exc:
        problem = _translate(exc, text, engine.indenter)
        raise SyntaxProblem(problem.message, ast.shifted(problem.span, lines, columns)) from None
    except SyntaxProblem as exc:
        raise SyntaxProblem(exc.message, ast.shifted(exc.span, lines, columns)) from None
    finally:
        engine.busy = False
        engine.indenter.tokens, engine.indenter.brackets = [], []
    statement = program.body[0] if len(program.body) == 1 else None
    if type(statement) is not ast.ExprStmt:
        raise SyntaxProblem("f-string: expected an expression in '{}'",
                            Span(line, column, line, column + len(source)))
    return ast.shifted(statement.expr, lines, columns)
