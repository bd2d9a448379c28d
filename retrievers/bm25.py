"""BM25 lexical baseline on bm25s (Lucene variant by default)."""
from __future__ import annotations

import time
from typing import Literal, Mapping

import numpy as np

from benchmarks.context import RunContext
from benchmarks.types import Doc, Run
from retrievers import register
from retrievers.base import Params, Retriever


class BM25Params(Params):
    k1: float = 1.5
    b: float = 0.75
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    stopwords: str | None = "en"
    lowercase: bool = True


@register("bm25")
class BM25Retriever(Retriever):
    """BM25 over title + text with bm25s; scores every document, so ties follow the harness rule."""

    kind = "lexical"
    impl_version = "1"
    Params = BM25Params

    def retrieve(self, corpus: Mapping[str, Doc], queries: Mapping[str, str], k: int, ctx: RunContext) -> Run:
        import logging

        import bm25s
        from tqdm.auto import tqdm

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs debug lines through its own handler

        p = self.params
        # Docs in descending id order: a stable sort on -score then breaks ties by doc id
        # descending, the trec_eval rule the metrics use.
        doc_ids = sorted(corpus, reverse=True)
        t0 = time.perf_counter()
        tokenize = dict(lower=p.lowercase, stopwords=p.stopwords or [], show_progress=False)
        index = bm25s.BM25(k1=p.k1, b=p.b, method=p.method)
        index.index(bm25s.tokenize([corpus[d].full_text() for d in doc_ids], **tokenize), show_progress=False)
        ctx.add_stat("index_s", time.perf_counter() - t0)

        t0 = time.perf_counter()
        qids = list(queries)
        tokens = bm25s.tokenize([queries[q] for q in qids], return_ids=False, **tokenize)
        run: Run = {}
        without_tokens = 0
        for qid, query_tokens in zip(tqdm(qids, desc="bm25 search", disable=not ctx.progress), tokens):
            if not query_tokens:
                # Empty, punctuation-only or stopword-only: it matches no document (bm25s would
                # raise IndexError). An empty ranking keeps the query in the run, so it is
                # evaluated and scores 0 rather than vanishing or failing the row.
                run[qid] = {}
                without_tokens += 1
                continue
            scores = index.get_scores(query_tokens)
            top = np.argsort(-scores, kind="stable")[: min(k, len(doc_ids))]
            run[qid] = {doc_ids[i]: float(scores[i]) for i in top}
        ctx.add_stat("search_s", time.perf_counter() - t0)
        ctx.add_stat("queries_without_tokens", without_tokens)
        return run
