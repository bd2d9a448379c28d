"""Rows that consume other rows' runs (``use: fusion``): their order, checks, and staleness.

A row says which rows it consumes through ``input_rows()`` (``retrievers.fusion``). Then:

* ``plan()`` also selects a selected row's inputs (``--retriever bm25-minilm-l6-rrf`` runs bm25
  and minilm-l6 too) and checks that every input is a row of the same suite, not the row itself,
  and that no chain of inputs leads back to where it started (``input_problems``);
* the runner runs rows in suite order except that a row waits for its inputs (``order_rows``) and
  hands each finished input run to later rows through ``RunContext.runs`` (``finished_run``);
* the leaderboard treats a fused row as stale when an input's record is no longer the run it was
  fused from (``fused_staleness``): its numbers would describe runs nobody can see.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks.messages import did_you_mean, quote
from benchmarks.types import Run


def input_rows(retriever: Any) -> list[str]:
    """The rows whose runs ``retriever`` consumes (none for ordinary retrievers)."""
    get = getattr(retriever, "input_rows", None)
    return list(get()) if callable(get) else []


def order_rows(entries: Sequence[Any], retrievers: dict[str, Any]) -> list[Any]:
    """Suite order, except that a row comes after the rows it consumes. Inputs are checked to be
    acyclic by ``input_problems`` first; a leftover (cycle) keeps suite order rather than vanish."""
    names = {e.name for e in entries}
    done: set[str] = set()
    out: list[Any] = []
    pending = list(entries)
    while pending:
        ready = [e for e in pending
                 if all(r in done or r not in names for r in input_rows(retrievers.get(e.name)))]
        if not ready:
            out += pending
            break
        first = ready[0]  # one at a time: a row that becomes ready goes as early as suite order allows
        out.append(first)
        done.add(first.name)
        pending.remove(first)
    return out


def input_problems(suite: Any, retrievers: dict[str, Any], at: Callable[..., str]) -> list[str]:
    """Inputs that are not rows of this suite, a row consuming itself, and cycles."""
    names = [r.name for r in suite.retrievers]
    problems: list[str] = []
    graph: dict[str, list[str]] = {}
    for i, entry in enumerate(suite.retrievers):
        wanted = input_rows(retrievers.get(entry.name))
        for j, row in enumerate(wanted):
            where = at("retrievers", i, "params", "of", j)
            if row == entry.name:
                problems.append(f"{where}: retriever row {entry.name}: of names the row itself")
            elif row not in names:
                hint = did_you_mean(row, names, known=False)
                problems.append(f"{where}: retriever row {entry.name}: of: {quote(row)} is not a row of suite "
                                f"{suite.name}" + (f"; {hint}" if hint else ""))
        graph[entry.name] = [r for r in wanted if r in names and r != entry.name]
    for cycle in _cycles(graph):
        i = names.index(cycle[0])
        problems.append(f"{at('retrievers', i, 'params', 'of')}: retriever rows consume each other in a circle "
                        f"({' -> '.join([*cycle, cycle[0]])}); no row of it could run first")
    return problems


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One list per cycle found by depth-first search, each starting at its first row in suite order."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):]
                start = min(cycle, key=list(graph).index)
                k = cycle.index(start)
                found.append(cycle[k:] + cycle[:k])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    return found


def finished_run(path: Path, record: dict[str, Any], run: Run) -> dict[str, Any]:
    """What a later row gets of a finished one: the run, the sha256 its run file has in the record
    (the same bytes ``write_record`` writes), its evaluation fingerprint and identity."""
    from benchmarks.records import trec_run_bytes

    stem = path.name[: -len(".json")]
    retriever = record.get("retriever") or {}
    return {
        "run": run,
        "run_sha256": hashlib.sha256(trec_run_bytes(run, tag=stem)).hexdigest(),
        "fingerprint_sha256": (record.get("fingerprint") or {}).get("sha256"),
        "use": retriever.get("use"), "params": retriever.get("params"),
        "compression": (record.get("embedding") or {}).get("compression"),  # a compressed dense input
    }


def fused_staleness(records: Sequence[Any], stale: dict[str, str]) -> dict[str, str]:
    """row -> why, for ok fused rows whose inputs' records are not the runs they were fused from."""
    by_row = {r.row: r for r in records}
    out: dict[str, str] = {}
    for rec in records:
        inputs = (rec.data.get("fusion") or {}).get("inputs") or {}
        if rec.status != "ok" or rec.row in stale or not inputs:
            continue
        reasons = []
        for row, info in inputs.items():
            current = by_row.get(row)
            if current is None or current.status != "ok":
                reasons.append(f"input {row} has no good record")
            elif (current.data.get("run") or {}).get("sha256") != info.get("run_sha256"):
                reasons.append(f"input {row} was re-run since (its run is not the one fused)")
            elif row in stale:
                reasons.append(f"input {row} is stale")
        if reasons:
            out[rec.row] = "fused from other runs than shown: " + "; ".join(reasons)
    return out
