"""'Did you mean' for unknown names and methods: only names a user plausibly
meant. A different case of a known name (`true` -> `True`, `Print` ->
`print`) comes first, then a few spellings from other languages (`null` ->
`None`), then a name at most one or two edits away (a missing, extra,
changed or swapped character: `sqr` -> `sqrt`, `arrange` -> `arange`;
for names of four letters or fewer a changed letter does not count). A
name that only shares some letters (`numpy` and `numel`, `data` and
`detach`, `math` and `matmul`) gets no suggestion at all.
"""

from __future__ import annotations

# Python's constants, which are keywords in .ag, plus spellings of them
# from other languages.
CONSTANTS = ("True", "False", "None")
_ALIASES = {"null": "None", "nil": "None", "NULL": "None", "nullptr": "None",
            "undefined": "None"}


def suggestion(name: str, known) -> str | None:
    """The known name `name` most plausibly misspells, or None."""
    known = list(dict.fromkeys(known))
    for candidate in list(CONSTANTS) + known:
        if candidate != name and candidate.lower() == name.lower():
            return candidate
    if name in _ALIASES:
        return _ALIASES[name]
    allowed = _edits_allowed(name)
    best, best_distance = None, allowed + 1
    for candidate in known:
        if candidate == name or abs(len(candidate) - len(name)) > allowed:
            continue
        distance = _distance(name.lower(), candidate.lower(), best_distance)
        if distance < best_distance and not _swapped_letter(name, candidate):
            best, best_distance = candidate, distance
    return best


def hint(name: str, known) -> str:
    """`; did you mean 'X'?`, or nothing."""
    found = suggestion(name, known)
    return f"; did you mean '{found}'?" if found else ""


def _swapped_letter(name: str, candidate: str) -> bool:
    """A short name that differs from the candidate in one letter (`dat`
    and `cat`, `exq` and `exp`): too many names are that close."""
    return (len(name) <= 4 and len(candidate) == len(name)
            and sorted(name.lower()) != sorted(candidate.lower()))


def _edits_allowed(name: str) -> int:
    """Short names are close to many others: one edit up to 5 characters
    (and none for 1 or 2), two up to 10, three beyond."""
    size = len(name)
    if size <= 2:
        return 0
    return 1 if size <= 5 else 2 if size <= 10 else 3


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent swaps),
    or `limit` once it is clear that it is at least that."""
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if (previous2 is not None and i > 1 and j > 1 and ca == b[j - 2]
                    and a[i - 2] == cb):
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) >= limit:
            return limit
        previous2, previous = previous, row
    return min(previous[-1], limit)
