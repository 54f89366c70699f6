"""JSON in and out for the command line (SPEC section 5).

Out: arrays become nested lists, non-finite numbers the strings "nan",
"inf", "-inf". In: one JSON document or JSON Lines, read line by line so a
stream (`tail -f data.jsonl | gradcli grad ...`) is answered as it arrives.
Imports only numpy and the error family, so it is cheap and testable alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

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
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _located(exc, text, origin, first_line) from None


def read_records(stream: Iterable[str], origin: str = "<stdin>") -> Iterator[Record]:
    """JSON documents from a line stream: JSON Lines, or one document that
    may span lines (a pretty-printed object).

    Each line is parsed as soon as it arrives; a line that only *starts* a
    document (the parse ran off its end) waits for the next one. Blank lines
    between documents are skipped. Nothing is read ahead.
    """
    pending: list[str] = []
    start = 0
    for number_, line in enumerate(stream, 1):
        if not pending and not line.strip():
            continue
        if not pending:
            start = number_
        pending.append(line)
        text = "".join(pending)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.pos >= len(text.rstrip()):
                continue            # unfinished: a document spread over lines
            raise _located(exc, text, origin, start) from None
        yield Record(parsed, start, text)
        pending = []
    if pending:
        text = "".join(pending)
        yield Record(parse_text(text, origin, start), start, text)


def _located(exc: json.JSONDecodeError, text: str, origin: str, first_line: int):
    body = text.rstrip()
    lines = body.splitlines() or [""]
    if exc.pos >= len(body):
        # Ran off the end: point just after the last character written.
        line, column = len(lines), len(lines[-1]) + 1
        message = f"invalid JSON: unexpected end of input ({exc.msg[0].lower()}{exc.msg[1:]})"
    else:
        line, column, message = exc.lineno, exc.colno, f"invalid JSON: {exc.msg}"
    return JsonInputError(message, origin, first_line + line - 1, column, lines[line - 1])


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
