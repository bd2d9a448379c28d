"""Answers of pure, slow functions remembered under the cache dir (``<cache>/memo/<name>/``).

Every leaderboard rewrite recomputes the same paired tests and power figures from the same
records; remembered, a warm run skips them (and the scipy import the power figure needs). The
``llamaindex`` rows remember LlamaIndex's own rankings the same way (they bypass the embedding cache),
and a run remembers which leaderboard it wrote from which inputs (``leaderboard_refresh.py``). A
memo is keyed by its inputs and by the bytes of the module that computes it, so editing that
code forgets every answer it gave; a damaged or unwritable memo costs time, never the answer.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from benchmarks.context import cache_root
from benchmarks.fsutil import atomic_write_json


def remembered(name: str, code: ModuleType, inputs: list[bytes], compute: Callable[[], Any],
               valid: Callable[[Any], bool] = lambda value: True) -> Any:
    """``compute()`` (a JSON value), or what it returned before for the same ``inputs`` and ``code``."""
    key = hashlib.sha256(b"\0".join([name.encode(), Path(code.__file__ or "").read_bytes(), *inputs])).hexdigest()
    path = cache_root() / "memo" / name / key[:2] / f"{key}.json"
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
        if memo.get("key") == key and "value" in memo and valid(memo["value"]):
            return memo["value"]
    except (OSError, ValueError, AttributeError, RecursionError):
        pass  # absent or damaged: compute it again
    value = compute()
    try:
        atomic_write_json(path, {"key": key, "value": value})
    except (OSError, ValueError, TypeError):
        pass  # a read-only cache, or a value JSON cannot hold (NaN): not remembered
    return value


def remembered_float(name: str, code: ModuleType, inputs: list[bytes], compute: Callable[[], float],
                     valid: Callable[[float], bool] = lambda value: True) -> float:
    """``remembered`` for a float answer (a paired test's p-value, a power figure)."""
    return remembered(name, code, inputs, compute, lambda value: isinstance(value, float) and valid(value))
