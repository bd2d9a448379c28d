"""Helpers every loader shares: error messages that point at a line, and JSON Lines reading."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.cards import DatasetCard
from benchmarks.errors import DataError

# How many offending ids or reasons a message or note shows: enough to find the pattern,
# short enough to read.
SHOW = 5


def data_error(card: DatasetCard, path: Path, line: int | None, what: str, todo: str) -> DataError:
    """``<file>:<line>: <what>. <todo> (dataset card <card>)`` as one DataError."""
    at = f":{line}" if line is not None else ""  # file:line, as compilers and editors expect
    return DataError(f"{path}{at}: {what}. {todo} (dataset card {card.card_label})")


def few(items: list[str] | set[str]) -> str:
    """The first few ids of a collection, quoted, for a message."""
    shown = sorted(items)[:SHOW] if isinstance(items, set) else list(items)[:SHOW]
    more = f" and {len(items) - SHOW} more" if len(items) > SHOW else ""
    return ", ".join(repr(i) for i in shown) + more


def decode_line(card: DatasetCard, path: Path, raw: bytes, lineno: int, offset: int, encoding: str) -> str:
    """Decode one line; a bad byte becomes a DataError with line and absolute byte offset."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise data_error(
            card, path, lineno,
            f"not valid {encoding} at byte offset {offset + exc.start} ({exc.reason}, byte "
            f"{raw[exc.start:exc.start + 1]!r})",
            "Re-save the file as UTF-8",
        ) from None


def iter_jsonl(card: DatasetCard, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; malformed lines raise with their number."""
    offset = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            text = decode_line(card, path, raw, lineno, offset, "utf-8")
            offset += len(raw)
            if not text.strip():
                continue  # a trailing newline or blank separator carries no record
            try:
                obj = json.loads(text.rstrip("\r\n"))  # so the column is within this line
            except json.JSONDecodeError as exc:
                raise data_error(
                    card, path, lineno, f"malformed JSON at column {exc.colno}: {exc.msg}",
                    "Each line of a .jsonl file must be one complete JSON object",
                ) from None
            if not isinstance(obj, dict):
                raise data_error(card, path, lineno, f"expected a JSON object, got {type(obj).__name__}",
                                 "Each line of a .jsonl file must be one JSON object")
            yield lineno, obj


def id_field(card: DatasetCard, path: Path, lineno: int, obj: dict[str, Any], key: str) -> str:
    """A record's id as a string; BEIR ids are strings, but some exports write numbers."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise data_error(card, path, lineno, f"missing or invalid {key!r} (got {value!r})",
                         f"Every record needs a non-empty string {key!r}")
    return str(value)


def text_field(card: DatasetCard, path: Path, lineno: int, obj: dict[str, Any], key: str,
               required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise data_error(card, path, lineno, f"field {key!r} must be a string (got {value!r})",
                         "Fix the record")
    return value
