"""`gradcli help`: a built-in's entry, and the overview of the commands and
the built-ins by group, in columns that fit the terminal.

The entries are lang/help.py's plain lines; this module only lays them out
and styles them. Rich is imported when something is drawn.
"""

from __future__ import annotations

import textwrap

from .lang.help import SECTIONS

WHERE_HELP = "gradcli help NAME, or help(NAME) in a program"
GAP = 2         # spaces between columns


def print_entry(console, lines: list[str]) -> None:
    """A built-in's entry: its signature and section titles in bold."""
    from rich.text import Text

    for number, line in enumerate(lines):
        bold = number == 0 or line in SECTIONS
        console.print(Text(line, style="bold" if bold else ""), soft_wrap=True)


def print_overview(console, commands: list[tuple[str, str]], groups) -> None:
    from rich.text import Text

    for line, bold in overview(commands, groups, console.width):
        console.print(Text(line, style="bold" if bold else ""), soft_wrap=True)


def overview(commands: list[tuple[str, str]], groups, width: int) -> list[tuple[str, bool]]:
    """(line, is a heading): the commands with their one-line help, then
    every built-in by group, each with its other names (`clip/clamp`), in
    as many columns as `width` holds."""
    def heading(text: str) -> list[tuple[str, bool]]:
        return [(line, True) for line in textwrap.wrap(text, width, subsequent_indent="  ")]

    out = heading("commands (gradcli COMMAND --help)")
    name_width = max(len(name) for name, _ in commands)
    indent = " " * (2 + name_width + GAP)
    for name, what in commands:
        first = f"  {name:<{name_width}}{' ' * GAP}"
        wrapped = textwrap.wrap(what, max(width - len(indent), 20)) or [""]
        out.append((first + wrapped[0], False))
        out += [(indent + rest, False) for rest in wrapped[1:]]
    out += [("", False), *heading(f"built-ins ({WHERE_HELP})")]
    for group, names, note in groups:
        out += heading(f"{group} ({note.replace('`', '')})" if note else group)
        out += [("  " + row, False) for row in columns(["/".join(n) for n in names], width - 2)]
    return out


def columns(cells: list[str], width: int) -> list[str]:
    """`cells` in rows of equal-width columns, as many as fit in `width`
    (at least one), filled row by row."""
    cell = max(len(c) for c in cells)
    count = max(1, (width + GAP) // (cell + GAP))
    rows = [cells[i:i + count] for i in range(0, len(cells), count)]
    return [(" " * GAP).join(c.ljust(cell) for c in row).rstrip() for row in rows]
