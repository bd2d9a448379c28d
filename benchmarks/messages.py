"""Pieces of user-facing error messages: bounded quoting of values and "did you mean".

Every message that shows a user-supplied value goes through :func:`quote`: a suite of a few
hundred bytes can hold a YAML alias bomb or a megabyte-long name, and an error message must
stay a message (a 351 MB one was observed) and must not build the huge value to print it.

Example:
    >>> quote("x" * 500)[-11:]
    '(500 chars)'
    >>> did_you_mean("hitt", ["hit_rate", "hit", "hitrate"], canonical=lambda c: "hit_rate")
    'did you mean hit_rate?'
"""
from __future__ import annotations

import difflib
import reprlib
from typing import Any, Callable, Iterable

QUOTE_LIMIT = 200  # characters of a quoted value
LIST_LIMIT = 20  # names in a "known: ..." list
MESSAGE_LINES = 50  # problems listed in one message; the rest are counted

# reprlib never walks more than a few levels or items, so a shared-reference structure that
# would expand to gigabytes costs only a few hundred characters to show.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset, _REPR.maxdict = 3, 8, 8, 8, 8
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = QUOTE_LIMIT


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message, at most about ``limit`` characters ("… (N chars)" after)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value)} chars)"
    text = _REPR.repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… (truncated)"


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """A string shown as is (a name, a path), cut to ``limit`` characters."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def listing(names: Iterable[str], limit: int = LIST_LIMIT) -> str:
    """``a, b, c`` for a message, the first ``limit`` names and a count of the rest."""
    items = [clip(str(n)) for n in names]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def close_matches(word: str, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.5,
                  canonical: Callable[[str], str] | None = None) -> list[str]:
    """The choices closest to ``word``, best first, each listed once (after ``canonical``:
    aliases of one name must not read as three suggestions)."""
    pool = list(dict.fromkeys(choices))
    # difflib is quadratic in the word's length; a name that long matches nothing anyway.
    if not isinstance(word, str) or len(word) > 2 * QUOTE_LIMIT:
        return []
    out: list[str] = []
    for match in difflib.get_close_matches(word, pool, n=len(pool) or 1, cutoff=cutoff):
        name = canonical(match) if canonical else match
        if name not in out:
            out.append(name)
    return out[:n]


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.5,
                 canonical: Callable[[str], str] | None = None, show: Callable[[str], str] = str,
                 known: bool = True) -> str:
    """``did you mean a or b?``, else ``known: ...`` (or "" with ``known=False``)."""
    pool = list(dict.fromkeys(choices))
    close = close_matches(word, pool, n=n, cutoff=cutoff, canonical=canonical)
    if close:
        return "did you mean " + " or ".join(show(c) for c in close) + "?"
    if not known:
        return ""
    names = sorted(dict.fromkeys(canonical(c) for c in pool)) if canonical else sorted(pool)
    return f"known: {listing(names) or 'none'}"


def problem_list(problems: list[str], limit: int = MESSAGE_LINES) -> str:
    """Problems one per indented line; past ``limit`` only their count."""
    shown = problems[:limit]
    more = [f"... and {len(problems) - limit} more"] if len(problems) > limit else []
    return "\n  " + "\n  ".join([*shown, *more])
