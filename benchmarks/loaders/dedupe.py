"""Duplicate passages: always counted, merged on request (``options.dedupe``).

Two passages are duplicates when their normalized text (title and text, casefolded,
whitespace collapsed and stripped) is equal. Left apart, retrieving the twin of the gold
passage counts as a miss (DALM's LlamaIndex conversion gives each row a fresh id), so merging
keeps the first id and moves every judgment onto it, keeping the higher grade.
"""
from __future__ import annotations

import hashlib

from benchmarks.types import Doc, Qrels, Split

SHOW_GROUPS = 3


def normalize(text: str) -> str:
    return " ".join(text.casefold().split())


def content_id(doc: Doc) -> str:
    """A passage id that depends only on normalized content: stable across row order."""
    return "p-" + hashlib.sha256(normalize(doc.full_text()).encode("utf-8")).hexdigest()[:16]


def duplicate_groups(corpus: dict[str, Doc]) -> list[list[str]]:
    """Ids sharing a normalized text, in corpus order; only groups of two or more."""
    by_text: dict[str, list[str]] = {}
    for doc_id, doc in corpus.items():
        by_text.setdefault(normalize(doc.full_text()), []).append(doc_id)
    return [ids for ids in by_text.values() if len(ids) > 1]


def merge(corpus: dict[str, Doc], qrels: Qrels, groups: list[list[str]]) -> tuple[dict[str, Doc], Qrels]:
    """Drop all but the first id of each group and remap qrels onto it (max grade wins)."""
    keep = {dup: ids[0] for ids in groups for dup in ids[1:]}
    new_corpus = {doc_id: doc for doc_id, doc in corpus.items() if doc_id not in keep}
    new_qrels: Qrels = {}
    for qid, judged in qrels.items():
        merged: dict[str, int] = {}
        for doc_id, grade in judged.items():
            target = keep.get(doc_id, doc_id)
            merged[target] = max(grade, merged.get(target, grade))
        new_qrels[qid] = merged
    return new_corpus, new_qrels


def apply(split: Split, enabled: bool) -> None:
    """Count duplicates into ``split.notes``; merge them in place when ``enabled``."""
    groups = duplicate_groups(split.corpus)
    split.notes["duplicate_passages"] = sum(len(ids) - 1 for ids in groups)
    split.notes["dedupe"] = enabled
    if groups:
        split.notes["duplicate_examples"] = [ids[:SHOW_GROUPS] for ids in groups[:SHOW_GROUPS]]
    if enabled and groups:
        split.corpus, split.qrels = merge(split.corpus, split.qrels, groups)
