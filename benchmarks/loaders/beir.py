"""BEIR layout: corpus.jsonl (``_id``, ``title``, ``text``), queries.jsonl, qrels/<split>.tsv.

Splits share one corpus and one queries file; a split's queries are those its qrels judge
(as BEIR's GenericDataLoader does). Every id in the qrels must exist: BEIR would silently
score a judgment on a missing doc as unreachable, which quietly lowers every retriever's score.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, TypeVar

from benchmarks.cards import DatasetCard
from benchmarks.errors import DataError
from benchmarks.loaders import dedupe
from benchmarks.loaders.common import data_error, decode_line, few, id_field, iter_jsonl, text_field
from benchmarks.trec import parse_qrels
from benchmarks.types import Doc, Qrels, Split

T = TypeVar("T")


def _read_unique(card: DatasetCard, path: Path, kind: str, make: Callable[[int, dict], T]) -> dict[str, T]:
    """Records of a BEIR JSONL file by ``_id``; a repeated id is an error naming both lines."""
    records: dict[str, T] = {}
    first_line: dict[str, int] = {}
    for lineno, obj in iter_jsonl(card, path):
        rid = id_field(card, path, lineno, obj, "_id")
        if rid in records:
            raise data_error(card, path, lineno,
                             f"duplicate {kind} id {rid!r} (first on line {first_line[rid]})",
                             f"{kind.capitalize()} ids must be unique; remove or rename one")
        first_line[rid] = lineno
        records[rid] = make(lineno, obj)
    return records


def read_corpus(card: DatasetCard, path: Path) -> dict[str, Doc]:
    return _read_unique(card, path, "doc", lambda lineno, obj: Doc(
        text=text_field(card, path, lineno, obj, "text"),
        title=text_field(card, path, lineno, obj, "title", required=False)))


def read_queries(card: DatasetCard, path: Path) -> dict[str, str]:
    return _read_unique(card, path, "query", lambda lineno, obj: text_field(card, path, lineno, obj, "text"))


def read_qrels(card: DatasetCard, path: Path) -> tuple[Qrels, dict[tuple[str, str], int]]:
    """Graded qrels plus the line of each judgment (for messages about unknown ids), read by
    ``trec.parse_qrels`` as BEIR TSV (its header rule: a first line whose score is not a number)."""
    def lines() -> Iterator[tuple[int, str]]:
        offset = 0
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                yield lineno, decode_line(card, path, raw, lineno, offset, "utf-8").rstrip("\r\n")
                offset += len(raw)

    def fail(lineno: int, what: str) -> DataError:
        return data_error(card, path, lineno, what, "Use BEIR qrels: query-id<TAB>corpus-id<TAB>score")

    qrels, lines_at = parse_qrels(lines(), fail, fmt="beir")
    negative = [(lines_at[q, d], q, d, g) for q, docs in qrels.items() for d, g in docs.items() if g < 0]
    if negative:  # TREC's -1 ("judged, spam") has no meaning in BEIR, whose scores start at 0
        line, qid, doc_id, grade = min(negative)
        raise fail(line, f"score {grade} for query {qid!r}, document {doc_id!r} is negative")
    return qrels, lines_at


def load(card: DatasetCard, paths: dict[str, Path]) -> Split:
    corpus = read_corpus(card, paths["corpus"])
    all_queries = read_queries(card, paths["queries"])
    qrels, lines = read_qrels(card, paths["qrels"])
    if not qrels:
        raise data_error(card, paths["qrels"], None, "no judgments", "A split needs at least one qrels line")
    unknown_docs = [pair for pair in lines if pair[1] not in corpus]
    if unknown_docs:
        ids = {doc_id for _, doc_id in unknown_docs}
        raise data_error(
            card, paths["qrels"], lines[unknown_docs[0]],
            f"{len(unknown_docs)} judgment(s) name {len(ids)} doc id(s) missing from {paths['corpus']}, "
            f"e.g. {few(ids)}", "Check that qrels and corpus come from the same release",
        )
    unknown_queries = {qid for qid in qrels if qid not in all_queries}
    if unknown_queries:
        first = min(line for (qid, _), line in lines.items() if qid in unknown_queries)
        raise data_error(
            card, paths["qrels"], first,
            f"{len(unknown_queries)} query id(s) missing from {paths['queries']}, "
            f"e.g. {few(unknown_queries)}",
            "Check that qrels and queries come from the same release",
        )
    # Keep the queries file's order: it is the order results and per-query files list them in.
    queries = {qid: text for qid, text in all_queries.items() if qid in qrels}
    split = Split(corpus=corpus, queries=queries, qrels=qrels)
    split.notes["judgments"] = len(lines)
    split.notes["queries_in_file"] = len(all_queries)
    dedupe.apply(split, card.options.dedupe)
    return split
