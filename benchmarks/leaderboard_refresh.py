"""The leaderboard after a run: regenerated unless nothing it is made from has changed.

A suite re-run that changes no record (``records._same_record`` leaves such records untouched)
would rebuild the same leaderboard, at the cost of pandas, every table, test and plot. So the run
remembers (``benchmarks/memo.py``) what it wrote for which inputs, and skips the rebuild when the
inputs are the same and the leaderboard and its plots are still exactly what it wrote. The inputs
are everything the leaderboard reads: every record and attempt file under the results dir
(sidecars by name, which holds their content hash), the suite files (staleness is judged against
them), and the harness's own code. ``harness.py leaderboard`` always rebuilds.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

from benchmarks.memo import remembered

PACKAGE = Path(__file__).resolve().parent
PLOTS_DIR = "plots"  # the leaderboard's plots, next to its file (benchmarks/report.py draws them)
# Sidecars named by their content's sha256 (an older record's <row>.per_query.json is read instead).
HASHED_NAME = re.compile(r"\.[0-9a-f]{16}\.(per_query\.json|run\.gz)$")


def _inputs(results_dir: Path, leaderboard: Path) -> list[bytes]:
    from benchmarks.suites import suite_dirs

    # as resolved and as spelled: the leaderboard's text names the results dir as it was given
    parts = [str(results_dir.resolve()).encode(), str(leaderboard.resolve()).encode(), str(results_dir).encode()]
    if results_dir.is_dir():
        for path in sorted(p for p in results_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(results_dir).as_posix().encode()
            parts.append(rel if HASHED_NAME.search(path.name) else rel + b"\0" + _bytes(path))
    for d in suite_dirs():
        if d.is_dir():
            parts += [str(p.resolve()).encode() + b"\0" + _bytes(p) for p in sorted(d.glob("*.yaml"))]
    code = sorted(p for p in PACKAGE.rglob("*.py") if "perf" not in p.relative_to(PACKAGE).parts)
    parts += [p.relative_to(PACKAGE).as_posix().encode() + b"\0" + p.read_bytes() for p in code]
    return [hashlib.sha256(part).digest() for part in parts]


def _bytes(path: Path) -> bytes:
    """A file's bytes; one that cannot be read gives bytes no earlier run saw, so nothing is skipped."""
    try:
        return path.read_bytes()
    except OSError:
        return os.urandom(32)


def _outputs(leaderboard: Path) -> list[list[str]]:
    """The leaderboard file and every plot beside it, by content: what a skip would leave as is."""
    files = [leaderboard] + sorted((leaderboard.resolve().parent / PLOTS_DIR).rglob("*"))
    return [[str(p), hashlib.sha256(_bytes(p)).hexdigest()] for p in files if p.is_file()] \
        if leaderboard.is_file() else []


def refresh_leaderboard(results_dir: Path, leaderboard: Path) -> bool:
    """``write_leaderboard(results_dir, leaderboard)`` unless its inputs and outputs are as it left
    them; returns whether it was written."""
    results_dir, leaderboard = Path(results_dir), Path(leaderboard)
    written: list[bool] = []

    inputs = _inputs(results_dir, leaderboard)

    def write() -> list[list[str]]:
        from benchmarks.report import write_leaderboard

        write_leaderboard(results_dir, leaderboard)
        written.append(True)
        # Remembered only if nothing changed while it was built (another job writing a record):
        # an empty answer never counts as a match, so the next run rebuilds.
        return _outputs(leaderboard) if _inputs(results_dir, leaderboard) == inputs else []

    remembered("leaderboard", sys.modules[__name__], inputs, write,
               valid=lambda outputs: bool(outputs) and outputs == _outputs(leaderboard))
    return bool(written)
