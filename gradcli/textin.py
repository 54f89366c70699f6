"""Text coming in: programs from files and stdin, stdin a line at a time.

Everything is read as UTF-8 with bytes that are not UTF-8 kept as lone
surrogates (Python's "surrogateescape", which is also what it does itself
under a C locale), so that a bad byte is an error at its own line and
column instead of a decoding exception that loses the rest of the stream.
Reads are bounded (SPEC section 7): a program over `MAX_PROGRAM_CHARS` or a
stdin line over `MAX_LINE_CHARS` is "too large", so `/dev/zero` or a
100 MB document is refused after reading one bound's worth, not read until
memory runs out.
"""

from __future__ import annotations

import io
import re
from typing import Iterator, Optional, TextIO

from .errors import DataError, LimitError, Span

MAX_PROGRAM_CHARS = 16 * 2 ** 20        # 16 MiB: a 50,000-line program is ~1.5 MB
MAX_LINE_CHARS = 64 * 2 ** 20           # one stdin line (a JSON document on one line)

# What surrogateescape makes of a byte that is not UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def utf8(stream: Optional[TextIO]) -> Optional[TextIO]:
    """`stream` decoding UTF-8 with surrogateescape, whatever the locale."""
    if stream is None:
        return None
    try:
        stream.reconfigure(encoding="utf-8", errors="surrogateescape")
    except (AttributeError, ValueError, io.UnsupportedOperation):
        pass        # not a TextIOWrapper, or already read from: decoded as it is
    return stream


def not_utf8(text: str, first_line: int = 1) -> Optional[DataError]:
    """The error for the first byte of `text` that was not UTF-8, if any."""
    found = _NOT_UTF8.search(text)
    if found is None:
        return None
    start = found.start()
    line = first_line + text.count("\n", 0, start)
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    byte = ord(found[0]) - 0xDC00
    return DataError(f"not UTF-8 text: byte {byte:#04x}",
                     Span(line, column, line, column + 1))


def read_program(stream: TextIO, origin: str) -> str:
    """All of `stream` (a file or stdin), within MAX_PROGRAM_CHARS."""
    text = stream.read(MAX_PROGRAM_CHARS + 1)
    if len(text) > MAX_PROGRAM_CHARS:
        raise LimitError(f"{origin} is too large: a program may have at most "
                         f"{MAX_PROGRAM_CHARS:,} characters")
    return text         # bytes that were not UTF-8 in it: see `not_utf8`


class Unreadable(DataError):
    """A program file that cannot be read, the reason said in words."""


def read_file(path, shown: Optional[str] = None) -> str:
    """The program in the file at `path`. A file that cannot be read is an
    `Unreadable` naming it as `shown` (the path as the user wrote it)."""
    shown = str(path) if shown is None else shown
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as stream:
            return read_program(stream, f"'{path}'")
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "it is a directory"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except ValueError:              # a NUL in the name
        reason = "not a valid file name"
    raise Unreadable(f"cannot read '{shown}': {reason}")


def is_terminal(stream) -> bool:
    """Is `stream` (maybe None, closed or not a file) a terminal?"""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def lines(stream: TextIO) -> Iterator[str]:
    """The lines of `stream` as they arrive (a line is returned as soon as
    its newline is read), each within MAX_LINE_CHARS characters. A byte that is
    not UTF-8 stays in its line as a lone surrogate (see `not_utf8`)."""
    number, limit = 0, MAX_LINE_CHARS
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise LimitError(f"line {number} of stdin is too large: a line may have at "
                             f"most {limit:,} characters")
        yield line
