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
    n = {k: notes.get(k, 0) for k in ("dalm_passages", "dalm_rows", "dalm_docs_not_judged",
                                      "dalm_duplicate_texts_merged")}
    lines = [
        f"Protocol `dalm` v{protocol.get('version')} (DALM's evaluation, see docs/dalm.md): the corpus is "
        f"the {n['dalm_passages']:,} unique passage texts of the {n['dalm_rows']:,} evaluated rows "
        f"({n['dalm_docs_not_judged']:,} documents no row judges relevant left out, "
        f"{n['dalm_duplicate_texts_merged']:,} duplicate texts merged); {search.get('library')} HNSW "
        f"(space {search.get('space')}, M {search.get('M')}, ef_construction "
        f"{search.get('ef_construction')}, ef {search.get('ef_search')}); hits with similarity < "
        f"{protocol.get('min_similarity')} dropped; relevance by passage text; encoders "
        f"{enc.get('pooling')}-pooled, {'L2-normalised, ' if enc.get('normalize') else ''}at most "
        f"{enc.get('max_seq_length')} tokens. Compared only with rows evaluated the same way, never with "
        "exact-search tables.",
    ]
    shown = []
    for rec in table.section.comparable():
        own = (rec.data.get("protocol") or {}).get("dalm_metrics")
        if not own:
            continue
        stats = rec.data.get("stats") or {}
        dropped = stats.get("dalm_hits_below_min_similarity", 0)
        shown.append(f"- `{rec.row}`: recall {own['recall']:.4f}, precision {own['precision']:.4f}, hit rate "
                     f"{own['hit_rate']:.4f} over {own['rows']:,} rows; {dropped:,} hits dropped by the "
                     "similarity filter")
    if shown:
        head = "DALM's own figures (its formulas: precision over the hits kept, not over k):"
        lines += ["", head, "", *shown]
    return lines
