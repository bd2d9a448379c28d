"""Evaluation fingerprints: what exactly a record's numbers were computed on, and how.

Two records can be compared (▲/▼ marks, paired tests, Δ) only when their fingerprints are equal:
same dataset and split, the same queries, qrels and corpus *as evaluated* (after limits and
dedupe), the same metrics, ranking depth, search, relevance level, bootstrap and significance
settings. The fingerprint is computed from the loaded data and the suite alone (no model is
loaded), so it is cheap and identical on every machine.

Shape (stored as ``record["fingerprint"]``)::

    {"version": 1, "dataset": {"id": ..., "split": ...},
     "data": {"queries": {"n": 20, "sha256": ...}, "qrels": {...}, "corpus": {...}},
     "metrics": [...], "top_k": 10, "search": "exact" | {"ann": {...}}, "relevance_level": 1,
     "tie_break": ..., "bootstrap": {..., "seed": 0}, "significance": {..., "seed": 0},
     "sha256": <sha256 of the canonical JSON of everything above>}

``holdout`` and ``protocol`` are reserved keys: pass them to :func:`evaluation_fingerprint` when
a run has them; they are left out (and so do not change the hash) when it has none.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

from benchmarks.artifacts import canonical_json, canonical_sha256
from benchmarks.types import Split

VERSION = 1
_DATA_CACHE: dict[int, tuple[Split, dict[str, Any]]] = {}  # id(split) -> (split kept alive, hashes)


def _hash_items(items: Iterable[Any]) -> str:
    """sha256 over one canonical JSON line per item: streaming, so a large corpus is never one string."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(canonical_json(item).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def data_hashes(split: Split) -> dict[str, Any]:
    """Count and sha256 of the ids and texts of the queries, qrels and corpus of a loaded split.

    Memoised per Split object: every row of a suite is evaluated on the same loaded split."""
    cached = _DATA_CACHE.get(id(split))
    if cached is not None and cached[0] is split:
        return cached[1]
    out = {
        "queries": {"n": len(split.queries), "sha256": _hash_items(sorted(split.queries.items()))},
        "qrels": {"n": sum(len(r) for r in split.qrels.values()),
                  "sha256": _hash_items((q, sorted(r.items())) for q, r in sorted(split.qrels.items()))},
        "corpus": {"n": len(split.corpus),
                   "sha256": _hash_items((d, doc.title, doc.text) for d, doc in sorted(split.corpus.items()))},
    }
    if len(_DATA_CACHE) > 8:  # a run holds a few datasets at a time
        _DATA_CACHE.clear()
    _DATA_CACHE[id(split)] = (split, out)
    return out


def evaluation_fingerprint(
    *, dataset_id: str, split_name: str, split: Split, settings: dict[str, Any], relevance_level: int,
    holdout: Any = None, protocol: Any = None,
) -> dict[str, Any]:
    """The fingerprint of evaluating ``split`` under a suite's ``settings`` (the record's settings)."""
    body: dict[str, Any] = {
        "version": VERSION,
        "dataset": {"id": dataset_id, "split": split_name},
        "data": data_hashes(split),
        **settings_fields(settings),
        "relevance_level": int(relevance_level),
    }
    if holdout is not None:
        body["holdout"] = holdout
    if protocol is not None:
        body["protocol"] = protocol
    return {**body, "sha256": fingerprint_sha256(body)}


def fingerprint_sha256(fp: dict[str, Any]) -> str:
    body = {k: v for k, v in fp.items() if k != "sha256"}
    return canonical_sha256(body)


SETTINGS_KEYS = ("metrics", "top_k", "search", "tie_break", "bootstrap", "significance")


def settings_fields(settings: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint fields that a suite's settings alone decide (no data): see suite_settings()."""
    seed = settings.get("seed", 0)
    return {
        "metrics": list(settings.get("metrics") or []),
        "top_k": settings.get("top_k"),
        "search": settings.get("search", "exact"),
        "tie_break": settings.get("tie_break"),
        "bootstrap": {**settings.get("bootstrap", {}), "seed": seed},
        "significance": {**settings.get("significance", {}), "seed": seed},
    }


def settings_part(fp: dict[str, Any]) -> dict[str, Any]:
    return {k: fp.get(k) for k in SETTINGS_KEYS}


def _search_text(search: Any) -> str:
    if search == "exact" or search is None:
        return "exact search"
    params = (search or {}).get("ann", {}) if isinstance(search, dict) else {}
    return "ANN search (" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"


def _settings_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return str(value)


def _protocol_text(value: Any) -> str:
    if not isinstance(value, dict):
        return "harness" if value is None else str(value)  # None: the harness's own evaluation
    return f"{value.get('name')} v{value.get('version')}"


def differences(fp: dict[str, Any], ref: dict[str, Any], ref_name: str = "baseline") -> list[str]:
    """Why ``fp`` is not comparable with ``ref``, in words ("evaluated on 790 queries, baseline on 20")."""
    out: list[str] = []
    if fp.get("dataset") != ref.get("dataset"):
        a, b = fp.get("dataset") or {}, ref.get("dataset") or {}
        out.append(f"evaluated on {a.get('id')}/{a.get('split')}, {ref_name} on {b.get('id')}/{b.get('split')}")
    data, ref_data = fp.get("data") or {}, ref.get("data") or {}
    for role, unit in (("queries", "queries"), ("corpus", "docs"), ("qrels", "judgments")):
        mine, theirs = data.get(role) or {}, ref_data.get(role) or {}
        if mine == theirs:
            continue
        if mine.get("n") != theirs.get("n"):
            out.append(f"evaluated on {mine.get('n', 0):,} {unit}, {ref_name} on {theirs.get('n', 0):,}")
        else:
            out.append(f"different {unit} than the {ref_name} (same count, {mine.get('n', 0):,}, other content)")
    if fp.get("metrics") != ref.get("metrics"):
        out.append(f"metrics differ ({', '.join(fp.get('metrics') or [])}; "
                   f"{ref_name}: {', '.join(ref.get('metrics') or [])})")
    if fp.get("top_k") != ref.get("top_k"):
        out.append(f"top_k {fp.get('top_k')}, {ref_name} {ref.get('top_k')}")
    if fp.get("search") != ref.get("search"):
        out.append(f"{_search_text(fp.get('search'))}; {ref_name}: {_search_text(ref.get('search'))}")
    if fp.get("relevance_level") != ref.get("relevance_level"):
        out.append(f"relevance level {fp.get('relevance_level')}, {ref_name} {ref.get('relevance_level')}")
    if fp.get("protocol") != ref.get("protocol"):  # "protocol dalm v1, baseline harness"
        mine, theirs = _protocol_text(fp.get("protocol")), _protocol_text(ref.get("protocol"))
        out.append(f"protocol {mine}, {ref_name} {theirs}")
    for key, what in (("tie_break", "tie rule"), ("bootstrap", "bootstrap settings"),
                      ("significance", "significance settings"), ("holdout", "holdout")):
        if fp.get(key) != ref.get(key):
            mine, theirs = _settings_text(fp.get(key)), _settings_text(ref.get(key))
            out.append(f"{what} differ ({mine}; {ref_name}: {theirs})")
    known = {"version", "dataset", "data", "metrics", "top_k", "search", "relevance_level", "tie_break",
             "bootstrap", "significance", "holdout", "protocol", "sha256"}
    for key in sorted((set(fp) | set(ref)) - known):
        if fp.get(key) != ref.get(key):
            out.append(f"{key} differs")
    if not out and fp.get("version") != ref.get("version"):
        out.append(f"fingerprint version {fp.get('version')}, {ref_name} {ref.get('version')}")
    if not out and fp.get("sha256") != ref.get("sha256"):
        out.append("fingerprint hash differs (the record was edited?)")
    return out
