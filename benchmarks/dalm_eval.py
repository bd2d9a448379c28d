"""DALM's retriever evaluation (``protocol: dalm``), reproduced from arcee-ai/DALM ``dalm/eval/``.

DALM evaluates a CSV of (query, passage) rows: the index holds the rows' unique passage texts
(``filter_unique_passages``: first occurrence in row order, ids 0..n-1), every row is one
evaluated query whose one correct passage is its own passage text, and a retrieved passage is
correct when its *text* equals that text (``calculate_precision_recall`` on strings). Search is
hnswlib ``knn_query(k=top_k)`` over ``Index(space="ip")`` built with M 100 / ef_construction 200,
queried with ef 100, and a hit is kept only when ``1 - distance >= 0``. Facts and sources:
docs/dalm.md.

Here a loaded split becomes that view (``dalm_view``): rows are (query, relevant passage) pairs in
query order; the corpus is their unique passage texts, each under the id of its first document in
row order, and a row's qrels name that id, so text equality is id equality and the harness's
metrics apply unchanged. ``dalm_search_run`` is the search; ``dalm_metrics`` recomputes DALM's
recall / precision / hit rate its own way (from texts) as a cross-check.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.context import RunContext
from benchmarks.errors import DataError
from benchmarks.types import Doc, Run, Split


def _passage_text(doc: Doc) -> str:
    return doc.full_text()  # what a dense retriever encodes (DenseRetriever.passage_text)


def dalm_view(split: Split, relevance_level: int = 1) -> Split:
    """The split as DALM evaluates it: one row per (query, relevant passage); corpus = the unique
    passage texts of those rows, nothing else (a document no evaluated query judges relevant is
    not in DALM's index); relevance by text. A query with one relevant passage keeps its id; one
    with several becomes rows ``<qid>#1``, ``<qid>#2``, ... (DALM scores each CSV row alone); a
    query with none is dropped (DALM has no such rows). All counted in the notes."""
    first_id: dict[str, str] = {}  # passage text -> id of its first document in row order
    corpus: dict[str, Doc] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    answers: dict[str, str] | None = {} if split.answers is not None else None
    judged: set[str] = set()
    no_relevant = several = 0
    for qid, text in split.queries.items():
        judgments = (split.qrels.get(qid) or {}).items()
        relevant = [d for d, g in judgments if g >= relevance_level and d in split.corpus]
        if not relevant:
            no_relevant += 1
            continue
        several += len(relevant) > 1
        for n, doc_id in enumerate(relevant, 1):
            judged.add(doc_id)
            pid = first_id.setdefault(_passage_text(split.corpus[doc_id]), doc_id)
            corpus.setdefault(pid, split.corpus[pid])
            row = qid if len(relevant) == 1 else f"{qid}#{n}"
            if row in queries or (row != qid and row in split.queries):
                raise DataError(f"protocol dalm: evaluated row id {row!r} (query {qid!r}, relevant passage "
                                f"{n}) is also a query id of the split; rename that query")
            queries[row], qrels[row] = text, {pid: 1}
            if answers is not None and qid in (split.answers or {}):
                answers[row] = split.answers[qid]  # type: ignore[index]
    notes = {**split.notes, "protocol": "dalm", "dalm_rows": len(queries), "dalm_passages": len(corpus),
             "dalm_docs_not_judged": len(split.corpus) - len(judged),
             "dalm_duplicate_texts_merged": len(judged) - len(corpus),
             "dalm_queries_without_relevant": no_relevant, "dalm_queries_with_several_relevant": several}
    return Split(corpus=corpus, queries=queries, qrels=qrels, answers=answers, files=split.files, notes=notes)


def dalm_search_run(query_vecs: np.ndarray, doc_vecs: np.ndarray, qids: list[str], doc_ids: list[str],
                    k: int, ctx: RunContext) -> Run:
    """DALM's search: hnswlib over the docs in the order given (DALM inserts its unique passages
    in row order), top k, hits with ``1 - distance < 0`` dropped. Scores in the run are the
    canonical inner products (benchmarks/search.py), so the ranking of the kept hits follows the
    harness's tie rule; DALM's own figures do not depend on that order. The ANN recall@k against
    exact search on the same queries (before the filter) and the filter's counts go to ctx.stats."""
    from benchmarks.ann import hnswlib_topk, sampled_recall
    from benchmarks.protocol import DALM_HNSW, DALM_MIN_SIMILARITY
    from benchmarks.search import _inputs, canonical_scores, exact_topk

    if len(qids) != len(query_vecs) or len(doc_ids) != len(doc_vecs):
        raise ValueError("qids/doc_ids must match the number of query/doc vectors")
    q, d = _inputs(query_vecs, doc_vecs)
    labels, distances = hnswlib_topk(q, d, k, M=DALM_HNSW["M"], ef_construction=DALM_HNSW["ef_construction"],
                                     ef=DALM_HNSW["ef_search"])
    keep = (np.float32(1) - distances) >= DALM_MIN_SIMILARITY  # float32, as DALM's `1 - distance`
    rows = np.repeat(np.arange(len(q)), labels.shape[1]).reshape(labels.shape)
    scores = canonical_scores(q, d, rows[keep], labels[keep])
    run: Run = {qid: {} for qid in qids}
    for r, label, score in zip(rows[keep].tolist(), labels[keep].tolist(), scores.tolist()):
        run[qids[r]][doc_ids[label]] = score
    s, device = ctx.search, ctx.resolved_device()
    ctx.stats["ann_recall@k"] = sampled_recall(labels, q, ctx.seed, lambda qv: exact_topk(
        qv, d, k, query_chunk=s.query_chunk, doc_chunk=s.doc_chunk, progress=ctx.progress, device=device))
    ctx.stats["dalm_hits_below_min_similarity"] = int((~keep).sum())
    ctx.stats["dalm_rows_short_of_k"] = int((keep.sum(axis=1) < min(k, len(d))).sum())
    return run


def dalm_metrics(split: Split, run: Run) -> dict[str, Any]:
    """DALM's recall, precision and hit rate (``evaluate_retriever_on_batch``, ``calc_eval_results``),
    computed its way from passage texts: per row, retrieved = the texts of the kept hits, correct =
    [the row's passage text]; precision = |retrieved ∩ correct| / |retrieved| (not / k), recall =
    |retrieved ∩ correct| / |correct|, hit = any correct text retrieved; means over all rows.
    A row with no kept hit has precision 0 here; DALM divides by zero there."""
    precisions, recalls, hits, empty = [], [], 0, 0
    for row, rel in split.qrels.items():
        retrieved = {_passage_text(split.corpus[d]) for d in (run.get(row) or {})}
        correct = {_passage_text(split.corpus[d]) for d in rel}
        both = len(retrieved & correct)
        empty += not retrieved
        precisions.append(both / len(retrieved) if retrieved else 0.0)
        recalls.append(both / len(correct))
        hits += any(c in retrieved for c in correct)
    n = max(len(split.qrels), 1)  # no rows: all figures 0
    return {"rows": len(split.qrels), "recall": sum(recalls) / n, "precision": sum(precisions) / n,
            "hit_rate": hits / n, "rows_without_hits": empty}
