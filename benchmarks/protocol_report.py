"""What the leaderboard says about a table's evaluation protocol and approximate search.

An ``ANN recall@k`` column (the ANN's recall against exact search on the same queries, recorded
by faiss ANN rows and by every ``protocol: dalm`` row), and under a dalm table a note saying
what DALM's evaluation did to the data and each row's figures as DALM's own formulas give them.
"""
from __future__ import annotations

from typing import Any

from benchmarks.records import LoadedRecord


def ann_recall(record: LoadedRecord, section: Any = None) -> float | None:
    value = (record.data.get("stats") or {}).get("ann_recall@k")
    return float(value) if isinstance(value, (int, float)) else None


def ann_recall_text(value: Any) -> str:
    return f"{value:.4f}"


def protocol_notes(table: Any) -> list[str]:
    """Lines under a table whose rows were evaluated under protocol dalm (none otherwise)."""
    ref = table.section.reference
    protocol = ((ref.data.get("fingerprint") or {}).get("protocol") if ref is not None else None) or {}
    if protocol.get("name") != "dalm":
        return []
    notes = ref.data.get("dataset", {}).get("notes") or {}
    search = (ref.data.get("settings", {}).get("search") or {}).get("ann", {})
    enc = protocol.get("encoder", {})
    lines = [
        f"Protocol `dalm` v{protocol.get('version')} (DALM's evaluation, see docs/dalm.md): the corpus is the "
        f"{notes.get('dalm_passages', 0):,} unique passage texts of the {notes.get('dalm_rows', 0):,} evaluated "
        f"rows ({notes.get('dalm_docs_not_judged', 0):,} documents no row judges relevant left out, "
        f"{notes.get('dalm_duplicate_texts_merged', 0):,} duplicate texts merged); {search.get('library')} HNSW "
        f"(space {search.get('space')}, M {search.get('M')}, ef_construction {search.get('ef_construction')}, "
        f"ef {search.get('ef_search')}); hits with similarity < {protocol.get('min_similarity')} dropped; "
        f"relevance by passage text; encoders {enc.get('pooling')}-pooled, "
        f"{'L2-normalised, ' if enc.get('normalize') else ''}at most {enc.get('max_seq_length')} tokens. "
        "Compared only with rows evaluated the same way, never with exact-search tables.",
    ]
    shown = []
    for rec in table.section.comparable():
        own = (rec.data.get("protocol") or {}).get("dalm_metrics")
        if not own:
            continue
        stats = rec.data.get("stats") or {}
        shown.append(f"- `{rec.row}`: recall {own['recall']:.4f}, precision {own['precision']:.4f}, hit rate "
                     f"{own['hit_rate']:.4f} over {own['rows']:,} rows; "
                     f"{stats.get('dalm_hits_below_min_similarity', 0):,} hits dropped by the similarity filter")
    if shown:
        lines += ["", "DALM's own figures (its formulas: precision over the hits kept, not over k):", "", *shown]
    return lines
