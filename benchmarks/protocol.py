"""Evaluation protocols: how a dataset entry's rows are evaluated.

``harness`` (the default) is this project's own evaluation: the split as loaded, exact search (or
a suite's ``ann:``), relevance by document id, each retriever's own encoder settings. ``dalm``
reproduces DALM's evaluation (arcee-ai/DALM ``dalm/eval/``; each fact and its source is in
docs/dalm.md): the corpus is the unique passage texts of the evaluated rows, hnswlib HNSW with
DALM's parameters, hits with similarity below 0 dropped, relevance by passage text, and every
encoder mean-pooled, L2-normalised and cut at 128 tokens. The view of the data and the search
live in ``benchmarks.dalm_eval``; this module says what a protocol changes, for the runner, the
planner and the fingerprint.

A suite sets ``protocol:`` for all its dataset entries, an entry for itself (so one suite can hold
the same data under both, as two entries with distinct ``id``s). The protocol is part of the
evaluation fingerprint (reserved key ``protocol``), so a dalm row is never compared with a
harness row.
"""
from __future__ import annotations

import copy
import importlib.util
from dataclasses import replace
from typing import Any

from benchmarks.context import SearchSettings
from benchmarks.types import Run, Split

PROTOCOLS = ("harness", "dalm")
DALM_VERSION = 1  # bump when the dalm protocol evaluates differently (it is in the fingerprint)
# DALM dalm/eval/utils.py: Index(space="ip"), init_index(ef_construction=200, M=100), set_ef(100).
DALM_HNSW = {"library": "hnswlib", "space": "ip", "M": 100, "ef_construction": 200, "ef_search": 100}
DALM_MIN_SIMILARITY = 0.0  # get_nearest_neighbours(..., threshold=0.0): keep 1 - distance >= 0
# AutoModelForSentenceEmbedding: masked mean pooling, F.normalize; eval --max_length 128 (both sides).
DALM_ENCODER = {"pooling": "mean", "normalize": True, "max_seq_length": 128}


def name_of(entry: Any) -> str:
    """The protocol of a dataset entry (the suite's is copied into entries that name none)."""
    return getattr(entry, "protocol", None) or "harness"


def search_setting(suite: Any, entry: Any = None) -> Any:
    """The ``search`` a record's settings (and so its fingerprint) carry for this entry."""
    if name_of(entry) == "dalm":
        return {"ann": dict(DALM_HNSW)}
    return {"ann": suite.ann.model_dump()} if suite.ann else "exact"


def fingerprint_value(entry: Any) -> dict[str, Any] | None:
    """The fingerprint's ``protocol`` key: None (left out, so old fingerprints keep their hash)
    for the harness protocol; for dalm, everything it changes besides the search."""
    if name_of(entry) == "harness":
        return None
    return {"name": "dalm", "version": DALM_VERSION, "corpus": "unique passage texts of the evaluated rows",
            "relevance": "passage text equality", "min_similarity": DALM_MIN_SIMILARITY,
            "encoder": dict(DALM_ENCODER)}


def search_settings(entry: Any, base: SearchSettings) -> SearchSettings:
    """The run context's search settings for this entry (a copy: the suite's are shared)."""
    return replace(base, protocol="dalm", ann=None) if name_of(entry) == "dalm" else base


def plan_problems(entry: Any) -> list[str]:
    """What stops this entry from running here, said before anything runs."""
    if name_of(entry) == "dalm" and importlib.util.find_spec("hnswlib") is None:
        return [f"dataset {entry.key}: protocol dalm searches with hnswlib, which is not installed; "
                "pip install hnswlib (or pip install -e '.[test]')"]
    return []


def view(entry: Any, split: Split, relevance_level: int) -> Split:
    """The split as this entry's protocol evaluates it."""
    if name_of(entry) != "dalm":
        return split
    from benchmarks.dalm_eval import dalm_view

    return dalm_view(split, relevance_level)


def refusal(entry: Any, retriever: Any) -> str | None:
    """Why a row cannot be evaluated under this entry's protocol (recorded as not run), or None."""
    if name_of(entry) != "dalm":
        return None
    from retrievers.base import DenseRetriever

    # A dense row that overrides retrieve() would not reach DALM's search (benchmarks/search.py).
    if not isinstance(retriever, DenseRetriever) or type(retriever).retrieve is not DenseRetriever.retrieve:
        return (f"not run: protocol dalm indexes embeddings with hnswlib, and {retriever.name} "
                f"({type(retriever).__name__}, {retriever.kind}) ranks passages by its own means")
    compression = getattr(retriever, "compression", None)
    if compression is not None and compression.active:
        return "not run: protocol dalm searches float vectors; truncate_dim / quantize are not part of it"
    return None


def evaluated(entry: Any, retriever: Any) -> Any:
    """The retriever that encodes under this entry's protocol: for dalm, a copy whose encoder
    params are DALM's (those its Params has: an API embedding has no pooling to set). Called after
    training, so what was trained stays as configured; the copy's embedding fingerprint (and so
    its cache key) differs wherever DALM's settings differ from the row's."""
    if name_of(entry) != "dalm":
        return retriever
    fields = type(retriever.params).model_fields
    update = {k: v for k, v in DALM_ENCODER.items() if k in fields}
    clone = copy.copy(retriever)
    clone.params = retriever.params.model_copy(update=update)
    return clone


def record_fields(entry: Any, retriever: Any, split: Split, run: Run) -> dict[str, Any]:
    """What a record says about its protocol beyond the fingerprint: DALM's own three figures
    computed its way, and which of DALM's encoder settings applied to this row."""
    if name_of(entry) != "dalm":
        return {}
    from benchmarks.dalm_eval import dalm_metrics

    fields = type(retriever.params).model_fields
    return {"protocol": {
        "name": "dalm", "version": DALM_VERSION, "dalm_metrics": dalm_metrics(split, run),
        "encoder_applied": {k: v for k, v in DALM_ENCODER.items() if k in fields},
        "encoder_not_applicable": sorted(k for k in DALM_ENCODER if k not in fields),
    }}
