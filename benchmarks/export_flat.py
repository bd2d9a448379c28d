"""The leaderboard as one flat table (CSV or JSON): a row per (suite, dataset, retriever), the numbers as
the records hold them.

Floats are written with repr (the shortest text that reads back to the same double), so
``pandas.read_csv(path)`` / ``pandas.read_json(path, precise_float=True)`` give back exactly the
records' numbers, not rounded ones (read_json's default parser may be one ulp off).
Columns: suite, dataset, split, retriever, the status columns, then per metric ``m``, ``m:ci_low``,
``m:ci_high``, ``m:sig`` (▲/▼ against the baseline, else empty), then any extra columns. A metric a
table does not have is empty (NaN once read).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.leaderboard_tables import META_COLUMNS, Leaderboard

KEY_COLUMNS = ["suite", "dataset", "split", "retriever"]
STATUS_COLUMNS = [c for c in META_COLUMNS if c != "label"]  # the label only joins tags for display


def flat_frame(board: Leaderboard) -> pd.DataFrame:
    parts, metric_columns, extra_columns = [], {}, {}
    for table in board.tables():
        frame = table.frame.reset_index()
        frame.insert(0, "split", table.split)
        frame.insert(0, "dataset", table.dataset)
        frame.insert(0, "suite", table.suite)
        parts.append(frame)
        for m in table.metrics:
            metric_columns.update(dict.fromkeys([m, f"{m}:ci_low", f"{m}:ci_high", f"{m}:sig"]))
        extra_columns.update(dict.fromkeys(c.name for c in table.extras))
    columns = KEY_COLUMNS + STATUS_COLUMNS + list(metric_columns) + list(extra_columns)
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).reindex(columns=columns)


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN as null."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def to_csv(board: Leaderboard, path: Path) -> bytes:
    text = flat_frame(board).to_csv(index=False, lineterminator="\n", float_format=lambda x: repr(float(x)))
    return text.encode("utf-8")


def to_json(board: Leaderboard, path: Path) -> bytes:
    """A list of row objects (``pandas.read_json(path, precise_float=True)`` reads it into the CSV's table)."""
    frame = flat_frame(board)
    rows = [{c: _plain(v) for c, v in zip(frame.columns, values)} for values in frame.itertuples(index=False)]
    return (json.dumps(rows, ensure_ascii=False, allow_nan=False, indent=1) + "\n").encode("utf-8")
