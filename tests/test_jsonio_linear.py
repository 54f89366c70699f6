"""Reading JSON from stdin (`jsonio.read_records`): linear work, nothing read
ahead, and every bad document blamed on its own line.

Linearity is asserted by counting what is handed to the JSON decoder, never
by timing.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gradcli.jsonio import JsonInputError, read_records


def split_lines(text: str) -> list[str]:
    """Lines as a text stream gives them: ended by "\\n" only."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return lines + ([parts[-1]] if parts[-1] else [])


class Stream:
    """A line stream that counts the lines taken from it."""

    def __init__(self, text: str):
        self.lines = split_lines(text)
        self.taken = 0

    def __iter__(self):
        for line in self.lines:
            self.taken += 1
            yield line


@pytest.fixture
def decoded(monkeypatch):
    """The texts handed to `json.loads` while the test runs."""
    seen: list[str] = []
    loads = json.loads

    def counting(text, *args, **kwargs):
        seen.append(text)
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    return seen


def blame(text: str) -> tuple[int, int, str]:
    with pytest.raises(JsonInputError) as caught:
        list(read_records(Stream(text)))
    error = caught.value
    return error.span.line, error.span.column, error.message


# ------------------------------------------------------------ linear work

PRETTY = json.dumps({"x": [1.5] * 20000}, indent=1)      # 140 KB, 20,003 lines


def test_a_pretty_printed_20000_line_document_is_one_record(decoded):
    records = list(read_records(Stream(PRETTY)))
    assert [r.value for r in records] == [{"x": [1.5] * 20000}]
    assert records[0].line == 1 and records[0].text == PRETTY
    # Retried after every line this was 20,003 decodings of up to 140 KB each.
    assert len(decoded) < 40
    assert sum(map(len, decoded)) <= 4 * len(PRETTY)


@pytest.mark.parametrize("size", [1000, 4000, 16000])
def test_decoding_work_grows_with_the_input_not_its_square(decoded, size):
    pretty = json.dumps({"x": [[0.5, "]"]] * size, "y": "{"}, indent=2)
    list(read_records(Stream(pretty)))
    assert sum(map(len, decoded)) <= 4 * len(pretty)


def test_a_broken_long_document_is_also_read_in_linear_work(decoded):
    # The brackets never balance, so only the doubling retries find the error.
    broken = PRETTY.replace(" 1.5,", " {1.5,", 1)
    stream = Stream(broken)
    with pytest.raises(JsonInputError) as caught:
        list(read_records(stream))
    error = caught.value
    assert (error.span.line, error.span.column) == (3, 4)
    assert error.message == "invalid JSON: Expecting property name enclosed in double quotes"
    assert stream.taken <= 2 * 3 + 2      # found long before the end
    assert sum(map(len, decoded)) <= 4 * 8 * len("  1.5,\n")


def test_json_lines_are_each_decoded_once(decoded):
    stream = "".join(json.dumps({"x": [i, i + 0.5], "s": "[{"}) + "\n" for i in range(5000))
    records = list(read_records(Stream(stream)))
    assert [r.line for r in records] == list(range(1, 5001))
    assert len(decoded) == 5000


# ------------------------------------------------------ streams, promptly

def test_each_record_is_yielded_before_the_next_line_is_read():
    docs = ['{"x": [1, 2]}', json.dumps({"x": [3, {"a": "}]\\\"["}]}, indent=2), "",
            "[4]", json.dumps([[5, 6], []], indent=1)]
    stream = Stream("\n".join(docs) + "\n")
    records = read_records(stream)
    ends = []
    for record in records:
        ends.append((record.line, stream.taken))
    assert ends == [(1, 1), (2, 9), (11, 11), (12, 18)]


def test_brackets_and_escaped_quotes_inside_strings_are_not_counted(decoded):
    value = {"k[": ["\\", "\"]", "}}}", "\\\"{{", "a\\\\\"b["], "{": {"]": "\\"}}
    text = json.dumps(value, indent=1) + "\n" + json.dumps(value) + "\n"
    stream = Stream(text)
    records = read_records(stream)
    first = next(records)
    assert first.value == value and stream.taken == text.count("\n") - 1
    assert [r.value for r in records] == [value]


# -------------------------------------------------------- where the blame goes

def test_a_truncated_record_is_blamed_on_its_own_line():
    text = '{"x": [1]}\n{"x": [2]}\n{"x": [1, 2]\n{"x": [3]}\n{"x": [4]}\n'
    stream = Stream(text)
    records = read_records(stream)
    assert [next(records).value, next(records).value] == [{"x": [1]}, {"x": [2]}]
    with pytest.raises(JsonInputError) as caught:
        next(records)
    error = caught.value
    assert (error.span.line, error.span.column) == (3, 13)
    assert error.message == "invalid JSON: unexpected end of input (expecting ',' delimiter)"
    assert error.line_text == '{"x": [1, 2]'
    assert stream.taken == 4          # found when the next record arrived, no later


@pytest.mark.parametrize("text, expected", [
    # blank lines between the cut record and the next one
    ('{"x": [1\n\n\n{"x": 2}\n', (1, 9, "invalid JSON: unexpected end of input "
                                        "(expecting ',' delimiter)")),
    # the next record is pretty-printed
    ('{"x": 1\n{\n "x": 2\n}\n', (1, 8, "invalid JSON: unexpected end of input "
                                       "(expecting ',' delimiter)")),
    # a line that continues no document and starts none stays to blame
    ('{"a": 1\n"b": 2}\n', (2, 1, "invalid JSON: Expecting ',' delimiter")),
    ('[\n 1\n 2\n]\n', (3, 2, "invalid JSON: Expecting ',' delimiter")),
    # a string left open: no later line can close it, so it is reported at once
    ('{"a": "xy\n{"b": 1}\n', (1, 7, "invalid JSON: Unterminated string starting at")),
    ('{"x": [1,,2]}\n', (1, 10, "invalid JSON: Expecting value")),
    ('{"x": [1, 2]', (1, 13, "invalid JSON: unexpected end of input "
                            "(expecting ',' delimiter)")),
])
def test_blame(text, expected):
    assert blame(text) == expected


def test_an_open_string_is_reported_without_reading_on():
    stream = Stream('{"a": 1}\n{"a": "}\n{"a": 2}\n')
    records = read_records(stream)
    next(records)
    with pytest.raises(JsonInputError) as caught:
        next(records)
    assert (caught.value.span.line, caught.value.span.column) == (2, 7)
    assert stream.taken == 2


def test_lines_are_counted_as_the_decoder_counts_them():
    # U+2028 inside a string ends no line, for JSON or for a text stream.
    assert blame('{"s": "a\u2028b"}\n{"s": 1 2}\n') == (
        2, 9, "invalid JSON: Expecting ',' delimiter")
    with pytest.raises(JsonInputError) as caught:
        list(read_records(Stream('{"s": "a\u2028b" 1}\n')))
    assert caught.value.line_text == '{"s": "a\u2028b" 1}'


# ----------------------------------------------- agreement with json.loads

SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(st.sampled_from('ab {}[]",:\\/\u00e9\u2028\t'), max_size=6))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(st.sampled_from('k[]{}"\\'), max_size=3),
                                        inner, max_size=3), max_leaves=6)
CONTAINERS = st.lists(VALUES, max_size=4) | st.dictionaries(st.text(max_size=3), VALUES,
                                                            max_size=4)


@st.composite
def documents(draw):
    """(text, value): one JSON document, compact on one line or pretty-printed."""
    value = draw(CONTAINERS | VALUES)
    indent = draw(st.sampled_from([None, None, 0, 1, 2]))
    return json.dumps(value, indent=indent, ensure_ascii=draw(st.booleans())), value


@st.composite
def bad_documents(draw):
    """(text, kind, where): a document spoiled in one of three ways."""
    kind = draw(st.sampled_from(["cut", "at", "quote"]))
    if kind == "cut":        # a JSON Lines record cut short
        text = json.dumps(draw(CONTAINERS))
        cut = draw(st.integers(1, len(text) - 1))
        return text[:cut], kind, None
    text, _ = draw(documents())
    where = draw(st.integers(0, len(text)))
    return text[:where] + ("@" if kind == "at" else '"') + text[where:], kind, where


def line_of(stream: str, position: int) -> int:
    return stream.count("\n", 0, position) + 1


def expected_outcome(text: str, start: int, stream: str):
    """What reading `stream` must give at the bad document `text`, which
    starts at `start`: (its value, None) when it is good after all, else
    (None, (line, column, message)) and the stream, shortened when the next
    document could continue a cut one (JSON alone cannot tell those apart)."""
    try:
        return json.loads(text), None, stream
    except json.JSONDecodeError as exc:
        first_line = line_of(stream, start)
        if exc.pos < len(text.rstrip()):
            return None, (first_line + exc.lineno - 1, exc.colno,
                          f"invalid JSON: {exc.msg}"), stream
        rest = stream[start + len(text):]
        next_start = len(text) + len(rest) - len(rest.lstrip())
        try:
            json.loads(text + rest)
            continued = True
        except json.JSONDecodeError as whole:
            continued = whole.pos > next_start
        if continued and rest.strip():
            stream = stream[:start + len(text) + 1]
        return None, (first_line, len(text.rstrip()) + 1,
                      "invalid JSON: unexpected end of input "
                      f"({exc.msg[0].lower()}{exc.msg[1:]})"), stream


def joined(pieces: list[str], blanks: list[str]) -> tuple[str, list[int]]:
    """The documents one after another, each after its blank line if one
    was drawn; and where each starts."""
    stream, starts = "", []
    for i, piece in enumerate(pieces):
        stream += "".join(blank + "\n" for blank in blanks[i:i + 1])
        starts.append(len(stream))
        stream += piece + "\n"
    return stream, starts


def read_promptly(stream: Stream, values: list) -> None:
    """Read the stream into `values`, checking that each document came as
    soon as its last line did."""
    for record in read_records(stream):
        values.append(record.value)
        assert stream.taken == record.line + record.text.rstrip("\n").count("\n")


BLANKS = st.lists(st.sampled_from(["", " ", "\t"]), max_size=6)
# Derandomized: the same examples on every run. Generating them is the slow
# part, which a busy CI machine must not turn into a failure.
SETTINGS = settings(max_examples=120, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(documents(), max_size=4), BLANKS)
def test_good_documents_come_back_as_json_loads_reads_them(docs, blanks):
    stream_text, _ = joined([text for text, _ in docs], blanks)
    values: list = []
    read_promptly(Stream(stream_text), values)
    assert values == [value for _, value in docs]


@SETTINGS
@given(st.lists(documents(), max_size=2), bad_documents(),
       st.lists(documents(), min_size=1, max_size=2), BLANKS)
def test_a_bad_document_is_blamed_where_json_loads_puts_the_error(good, bad, after, blanks):
    """The documents before the bad one come back; the bad one is blamed
    where json.loads puts its error or, when it is cut short, at its end
    (not at the start of the next document)."""
    text, kind, where = bad
    stream_text, starts = joined([t for t, _ in good] + [text] + [t for t, _ in after], blanks)
    start = starts[len(good)]
    value, error_at, stream_text = expected_outcome(text, start, stream_text)
    values: list = []
    stream = Stream(stream_text)
    if error_at is None:                # the spoiling left a valid document
        read_promptly(stream, values)
        assert values == [v for _, v in good] + [value] + [v for _, v in after]
        return
    if kind == "quote":     # the line of the stray quote; the column depends on its pairing
        error_at = (line_of(stream_text, start + where),)
    with pytest.raises(JsonInputError) as caught:
        read_promptly(stream, values)
    error = caught.value
    assert (error.span.line, error.span.column, error.message)[:len(error_at)] == error_at
    assert values == [v for _, v in good]
    following = starts[len(good) + 1]
    if kind == "cut" and following < len(stream_text):
        # A record on one line is judged by the time the next one arrives.
        assert stream.taken <= line_of(stream_text, following)
