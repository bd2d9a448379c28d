"""The files of one result row on disk: its write lock, and removing what no record names.

Every write to a row (record, failed attempt, sidecars) holds an exclusive ``flock`` on
``.<row>.lock`` beside it, so two processes writing one row cannot interleave; the OS releases
the lock when a process dies, even by kill -9. Garbage (old sidecars, temp files of a killed
writer) is removed only under that lock and never while any record in the folder names it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def row_lock(path: Path) -> Iterator[None]:
    """Exclusive lock for every write to one row (released by the OS if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name[:-len('.json')]}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): content addressing still keeps readers consistent
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _own_files(stem: str) -> re.Pattern[str]:
    """A row's sidecars (content-addressed or legacy) and the temp files a killed writer left."""
    names = r"(?:[0-9a-f]{16}\.)?(?:per_query\.json|run\.gz)"
    row = re.escape(stem)
    return re.compile(rf"^(?:{row}\.{names}|\.{row}\.(?:json|failed\.json|{names})\.\w+\.tmp)$")


def _referenced(folder: Path) -> set[str]:
    """Sidecar names that some record or failed attempt in ``folder`` points at."""
    names: set[str] = set()
    for rec in folder.glob("*.json"):
        if rec.name.endswith(".per_query.json"):
            continue
        try:
            data = json.loads(rec.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            names |= {ref["path"] for key in ("per_query", "run") if isinstance(ref := data.get(key), dict)
                      and isinstance(ref.get("path"), str)}
    return names


def collect_garbage(path: Path) -> None:
    """Remove this row's files that no record names. Caller holds the row lock."""
    pattern, keep = _own_files(path.name[: -len(".json")]), _referenced(path.parent)
    for item in path.parent.iterdir():
        if pattern.match(item.name) and item.name not in keep:
            item.unlink(missing_ok=True)
