"""Markdown pipe tables read back as cells, so tests compare each cell's text exactly whatever the
column padding tabulate chose."""
from __future__ import annotations

import re


def split_row(line: str) -> list[str]:
    """'| a | b \\| c |' -> ['a', 'b \\| c']: escaped pipes stay inside their cell."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def table_rows(text: str) -> list[list[str]]:
    """Every header and body row of every pipe table in the text (separator lines left out)."""
    return [split_row(line) for line in text.splitlines()
            if line.startswith("|") and line.rstrip().endswith("|") and not set(line) <= set("|-: ")]


def table_row(text: str, name: str) -> list[str]:
    """The cells of the first table row whose first cell starts with name."""
    rows = [r for r in table_rows(text) if r[0].startswith(name)]
    assert rows, f"no table row starting with {name!r}"
    return rows[0]
