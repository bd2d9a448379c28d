"""The leaderboard's view of compressed rows: bytes per vector, and the paired test of each
compressed row against the row whose float vectors it compresses.

A compressed row and its uncompressed row are paired only like for like: both in the section's
comparable rows (same evaluation fingerprint: same queries, qrels, corpus and settings) and with
the same embedding fingerprint (``record["embedding"]["fingerprint_sha256"]``: the same cached
float vectors), so the difference is the compression alone.
"""
from __future__ import annotations

from typing import Any, Sequence

from benchmarks.records import LoadedRecord
from benchmarks.significance import paired_tests  # where the leaderboard's paired tests live


def bytes_per_vector(record: dict[str, Any]) -> int | None:
    """Bytes one stored passage vector of the row takes (None: not a dense row, or an older record)."""
    value = (record.get("embedding") or {}).get("bytes_per_vector")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _compression(record: dict[str, Any]) -> dict[str, Any] | None:
    return (record.get("embedding") or {}).get("compression")


def _describe(comp: dict[str, Any]) -> str:
    parts = []
    if comp.get("truncate_dim"):
        parts.append(f"first {comp['truncate_dim']} dims")
    if comp.get("quantize"):
        parts.append(comp["quantize"])
    if comp.get("rescore"):
        parts.append(f"top {comp['rescore']} rescored by float")
    return ", ".join(parts)


def uncompressed_row(rec: LoadedRecord, records: Sequence[LoadedRecord]) -> LoadedRecord | None:
    """The ok, uncompressed row with the same float vectors as ``rec`` (first in suite order)."""
    sha = (rec.data.get("embedding") or {}).get("fingerprint_sha256")
    return next((r for r in records if r is not rec and r.status == "ok" and sha is not None
                 and (r.data.get("embedding") or {}).get("fingerprint_sha256") == sha
                 and _compression(r.data) is None), None)


def compression_lines(comparable: Sequence[LoadedRecord], metrics: list[str]) -> list[str]:
    """Note lines under a table: per compressed row, its bytes per vector against its float row's,
    and Δ with the paired randomization test per metric (no lines when no row is compressed)."""
    compressed = [r for r in comparable if r.status == "ok" and _compression(r.data)]
    if not compressed:
        return []
    lines = ["Compressed rows against the uncompressed row with the same float vectors (bytes per stored "
             "vector; Δ mean and paired randomization test p per metric, same queries):", ""]
    for rec in compressed:
        comp, size = _compression(rec.data) or {}, bytes_per_vector(rec.data)
        base = uncompressed_row(rec, comparable)
        head = f"- `{rec.row}` ({_describe(comp)}): {size:,} B/vector"
        if base is None:
            lines.append(head + "; no uncompressed row with the same vectors in this table to compare with")
            continue
        tests = {t.metric: t for t in paired_tests([base, rec], base.row, metrics)}
        cells = [f"{m} {tests[m].diff:+.4f} (p {tests[m].p:.4f})" for m in metrics if m in tests]
        lines.append(f"{head} vs `{base.row}` {bytes_per_vector(base.data) or 0:,}: " + ", ".join(cells))
    return lines
