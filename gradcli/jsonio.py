"""JSON in and out for the command line (SPEC section 5).

Out: arrays become nested lists, non-finite numbers the strings "nan",
"inf", "-inf". In: one JSON document or JSON Lines, read line by line so a
stream (`tail -f data.jsonl | gradcli grad ...`) is answered as it arrives.
Imports only numpy and the error family, so it is cheap and testable alone.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from . import textin
from .errors import DataError, Span


class JsonInputError(DataError):
    """Invalid or unusable JSON, located in its own text (not the program's)."""

    def __init__(self, message: str, origin: str, line: int, column: int,
                 line_text: str | None = None, end_column: int | None = None):
        super().__init__(message, Span(line, column, line,
                                       end_column if end_column else column + 1))
        self.origin = origin
        self.line_text = line_text


# ------------------------------------------------------------------ output

def dumps(obj) -> str:
    """One line of JSON, default separators (what `json.dumps` gives)."""
    return json.dumps(obj, allow_nan=False)


def number(value: float):
    """A finite float as itself; NaN and infinities as SPEC's strings."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def array(data) -> object:
    """An ndarray as nested lists; a 0-d array as a single number.

    Float arrays give floats (float32 values keep their shortest float32
    spelling, so 0.1 stays 0.1); integer arrays (argmax, permutation) give
    integers; boolean arrays give true/false.
    """
    data = np.asarray(data)
    kind = data.dtype.kind
    if kind == "b":
        return data.tolist()
    if kind in "iu":
        return data.tolist()
    if kind == "c":
        raise TypeError("complex values cannot be written as JSON")
    if data.dtype == np.float64 and np.isfinite(data).all():
        return data.tolist()
    # float32 goes element by element: tolist() would widen it to float64 and
    # spell 0.1f as 0.10000000149011612.
    convert = number if data.dtype == np.float64 else _narrow_float
    if data.ndim == 0:
        return convert(data[()])
    flat = np.empty(data.size, dtype=object)
    flat[:] = [convert(v) for v in data.ravel()]
    return flat.reshape(data.shape).tolist()     # object arrays keep their items


def _narrow_float(value) -> object:
    as_float = float(value)
    if not math.isfinite(as_float):
        return number(as_float)
    return float(str(value))


def value(shown_value) -> object:
    """Any value the language can print, as JSON.

    Arrays (and tensors inside tuples) go through `array`; bool -> true/false,
    None -> null, str -> string, tuples -> lists; anything else is its text.
    """
    if isinstance(shown_value, np.ndarray):
        return array(shown_value)
    data = getattr(shown_value, "data", None)   # a Tensor inside a tuple
    if isinstance(data, np.ndarray):
        return array(data)
    if shown_value is None or isinstance(shown_value, (bool, str, int)):
        return shown_value
    if isinstance(shown_value, np.generic):
        return value(shown_value.item())
    if isinstance(shown_value, float):
        return number(shown_value)
    if isinstance(shown_value, (tuple, list)):
        return [value(v) for v in shown_value]
    return str(shown_value)


def printed(shown_values) -> object:
    """One print of `eval --json`'s "printed": the list of its values; a
    print given another `sep` or `end` than Python's defaults is
    `{"values": [...], "sep": ..., "end": ...}`."""
    values = [value(s.value) for s in shown_values]
    sep, end = getattr(shown_values, "sep", " "), getattr(shown_values, "end", "\n")
    if (sep, end) == (" ", "\n"):
        return values
    return {"values": values, "sep": sep, "end": end}


def figure(drawn) -> dict:
    """A figure a program drew (lang/plots.py) in `eval --json`'s "plots":
    its kind, title and axis labels, each series' kind, label and numbers,
    and what else the program gave (limits, log scales, lines across)."""
    out = {"kind": drawn.kind, "title": drawn.title, "xlabel": drawn.xlabel,
           "ylabel": drawn.ylabel, "series": [
               {"kind": s.kind, "label": s.label, "x": array(s.x), "y": array(s.y),
                **({"size": s.size} if s.size is not None else {})} for s in drawn.series]}
    for name in ("xlim", "ylim"):
        if getattr(drawn, name) is not None:
            out[name] = [number(v) for v in getattr(drawn, name)]
    for name in ("xscale", "yscale"):
        if getattr(drawn, name) != "linear":
            out[name] = getattr(drawn, name)
    for name in ("hlines", "vlines"):
        if getattr(drawn, name):
            out[name] = [number(v) for v in getattr(drawn, name)]
    return out


# ------------------------------------------------------------------ input

@dataclass
class Record:
    """One JSON document read from a stream, and where it started."""

    value: object
    line: int
    text: str


def parse_text(text: str, origin: str, first_line: int = 1):
    """Parse one JSON document; errors name the line and column."""
    try:
        return decode(text)
    except json.JSONDecodeError as exc:
        raise _located(exc, text, origin, first_line) from None


MAX_DEPTH = 500          # nested arrays/objects; Python's decoder recurses per level
_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _BadNumber(ValueError):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def _number(text: str):
    """A JSON number as Python's decoder would give it, but bounded: up to
    18 digits an int, beyond that a float (whose decoding has no digit
    limit), and one that overflows to inf is refused."""
    if len(text) <= 18 and text.lstrip("-").isdigit():
        return int(text)
    value = float(text)
    if math.isinf(value):
        raise _BadNumber(text)
    return value


def decode(text: str):
    """json.loads, with SPEC 7's bounds: nesting deeper than MAX_DEPTH and
    numbers too large for a float are JSON errors with a position."""
    if text.startswith("\ufeff"):      # a byte order mark, as Python's own files allow
        text = " " + text[1:]          # (a space keeps every column where it was)
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(text)
    try:
        return json.loads(text, parse_int=_number, parse_float=_number)
    except _BadNumber as bad:
        where = re.search(r"(?<![\w.+-])" + re.escape(bad.text) + r"(?![\w.])", text)
        raise json.JSONDecodeError(f"the number {bad.text} is too large (it would be inf)",
                                   text, where.start() if where else 0) from None


def _check_depth(text: str) -> None:
    depth = 0
    for match in _BRACKETS.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise json.JSONDecodeError(f"arrays and objects nested deeper than "
                                           f"{MAX_DEPTH} levels", text, match.start())
        elif bracket in "]}":
            depth -= 1


def read_records(stream: Iterable[str], origin: str = "<stdin>") -> Iterator[Record]:
    """JSON documents from a line stream: JSON Lines, or one document that
    may span lines (a pretty-printed object).

    Each line is handled as soon as it arrives and nothing is read ahead, so
    a stream is answered line by line. Blank lines between documents are
    skipped. A line holding a byte that was not UTF-8 (see `textin`) is an
    error at that byte. A document's text is decoded only when it may be complete (its
    brackets balance at the end of a line), while it is one or two lines
    long (so a bad or truncated JSON Lines record is reported when it or the
    next line arrives), when a line leaves a string open (never valid), or
    when it has doubled since the last try: the decoding work stays linear
    in the input, where retrying after every line was quadratic.
    """
    document: _Document | None = None
    for number_, line in enumerate(stream, 1):
        bad = textin.not_utf8(line, number_)
        if bad is not None:
            raise JsonInputError(bad.message, origin, number_, bad.span.column,
                                 line.rstrip("\r\n"))
        if document is None:
            if not line.strip():
                continue
            document = _Document(number_)
        if document.add(line):
            record = document.decode(origin)
            if record is not None:
                yield record
                document = None
    if document is not None:
        yield document.decode(origin, at_end=True)


# The strings of one line of JSON (they cannot span lines), escapes included,
# so that brackets inside them are not counted.
_STRING = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')     # unrolled: linear


class _Document:
    """The lines of a JSON document still being read, and whether to try
    decoding them now."""

    def __init__(self, start: int):
        self.start = start           # its first line's number in the stream
        self.lines: list[str] = []
        self.size = 0                # characters in `lines`
        self.tried_at = 0            # `size` when last decoded
        self.filled = 0              # lines that are not blank
        self.depth = 0               # open brackets at the end of the last line
        self.open_string = False     # the last line ended inside a string

    def add(self, line: str) -> bool:
        """Take the next line; say whether the document should be decoded."""
        self.lines.append(line)
        self.size += len(line)
        if line.strip():
            self.filled += 1
        outside = _STRING.sub("", line) if '"' in line else line
        self.open_string = '"' in outside
        self.depth += (outside.count("{") + outside.count("[")
                       - outside.count("}") - outside.count("]"))
        if (self.depth <= 0 or self.open_string or self.filled <= 2
                or self.size >= 2 * self.tried_at):
            self.tried_at = self.size
            return True
        return False

    def decode(self, origin: str, at_end: bool = False) -> Record | None:
        """The document as a Record; None when it only stops short and later
        lines may complete it (never `at_end`, the stream's end)."""
        text = "".join(self.lines)
        try:
            return Record(decode(text), self.start, text)
        except json.JSONDecodeError as exc:
            error = self._failure(exc, text, origin, at_end)
        if error is None:
            return None
        raise error

    def _failure(self, exc: json.JSONDecodeError, text: str, origin: str,
                 at_end: bool) -> JsonInputError | None:
        if self.open_string:
            # A string left open at the end of a line: no later line can close
            # it. Decoded without the line break, the error names the string.
            try:
                json.loads(text.rstrip())
            except json.JSONDecodeError as cut:
                if cut.pos < len(text.rstrip()):
                    return _located(cut, text, origin, self.start)
        if exc.pos >= len(text.rstrip()):
            return _located(exc, text, origin, self.start) if at_end else None
        return (self._truncated_record(exc, text, origin)
                or _located(exc, text, origin, self.start))

    def _truncated_record(self, exc: json.JSONDecodeError, text: str,
                          origin: str) -> JsonInputError | None:
        """A one-line record cut short, then the next record: the error is
        the first one's, at its end, not the second's at its start.

        That is so when the decoder stopped at the first character of the
        document's second non-blank line and that line, alone, is a document
        or the start of one.
        """
        lines = text.split("\n")
        first, here = lines[0], lines[exc.lineno - 1]
        if (exc.lineno == 1 or any(line.strip() for line in lines[1:exc.lineno - 1])
                or exc.colno != len(here) - len(here.lstrip()) + 1
                or not _starts_document(here)):
            return None
        try:
            json.loads(first)
        except json.JSONDecodeError as cut:
            if cut.pos >= len(first.rstrip()):
                return _located(cut, first, origin, self.start)
        return None


def _starts_document(text: str) -> bool:
    """Whether the text alone is a JSON document or the start of one."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.pos >= len(text.rstrip())
    return True


def _located(exc: json.JSONDecodeError, text: str, origin: str, first_line: int):
    body = text.rstrip()
    # Lines as the decoder counts them (only "\n" ends one; a JSON string may
    # hold U+2028, which `splitlines` would take for a line end).
    lines = body.split("\n")
    if exc.pos >= len(body):
        # Ran off the end: point just after the last character written.
        line, column = len(lines), len(lines[-1]) + 1
        message = f"invalid JSON: unexpected end of input ({exc.msg[0].lower()}{exc.msg[1:]})"
    else:
        line, column, message = exc.lineno, exc.colno, f"invalid JSON: {exc.msg}"
    return JsonInputError(message, origin, first_line + line - 1, column,
                          lines[line - 1].rstrip("\r"))


def bind(record_value, declared: list[str], origin: str = "<stdin>",
         line: int = 1, line_text: str | None = None) -> dict:
    """The inputs a JSON value binds: an object by name, anything else (a
    bare array or number) to the program's single declared input."""
    if isinstance(record_value, dict):
        return record_value
    if isinstance(record_value, (list, int, float)) and not isinstance(record_value, bool):
        if len(declared) == 1:
            return {declared[0]: record_value}
        have = ("declares no inputs" if not declared else
                "declares " + ", ".join(f"'{n}'" for n in declared))
        raise JsonInputError(f"a bare JSON array binds the program's single input, but the "
                             f"program {have}; give an object such as "
                             f'{{"name": [...]}}', origin, line, 1, line_text)
    raise JsonInputError("expected a JSON object of inputs ({\"name\": value, ...}) or an "
                         f"array, got {_json_type(record_value)}", origin, line, 1, line_text)


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
