"""Hard negatives for the contrastive retriever's training pairs, mined with the base model.

The base model is the plain ``bge`` retriever on the same model and instruction, so its vectors
of the train split come from (and go to) the embedding cache under the same fingerprint as the
suite's base row: mining re-encodes nothing that row has already encoded.

Pool: every passage of the train split's corpus, merged by text (as sentence-transformers
dedups its corpus). A query's positives are all its judged-relevant passages, not only the one
it trains on, plus those of any query with the same text (ST treats duplicate queries as one
query with several positives): none of them can be drawn as its negative.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from benchmarks.context import RunContext
from benchmarks.encoding import embed
from benchmarks.training import TrainingPair
from benchmarks.types import Split
from retrievers.contrastive.hard_negatives import mine


def positives_by_text(pairs: Sequence[TrainingPair], train: Split, passage_text: Any,
                      relevance_level: int = 1) -> tuple[list[str], list[list[int]]]:
    """(pool of distinct passage texts, per pair the pool rows that are its positives)."""
    pool = list(dict.fromkeys(passage_text(doc) for doc in train.corpus.values()))
    row = {text: i for i, text in enumerate(pool)}
    by_query: dict[str, set[int]] = {}
    for pair in pairs:
        rel = {row[passage_text(train.corpus[d])] for d, g in train.qrels.get(pair.qid, {}).items()
               if g >= relevance_level and d in train.corpus}
        by_query.setdefault(pair.query, set()).update(rel | {row[pair.passage]})
    return pool, [sorted(by_query[pair.query]) for pair in pairs]


def mining_settings(params: Any) -> dict[str, Any]:
    lo, hi = params.hard_negative_range or (0, None)
    return {"num_negatives": params.hard_negatives, "absolute_margin": params.hard_negative_margin,
            "relative_margin": params.hard_negative_relative_margin,
            "max_score": params.hard_negative_max_score,
            "range_min": lo, "range_max": hi, "sampling": params.hard_negative_sampling}


def mine_for_pairs(retriever: Any, pairs: Sequence[TrainingPair], train: Split,
                   ctx: RunContext) -> tuple[list[list[str]], dict[str, Any]]:
    """Negative passage texts per pair, and the record of how they were mined."""
    from retrievers.sentence_transformer import SentenceTransformerRetriever

    p = retriever.params
    base = SentenceTransformerRetriever(f"{retriever.name}:mining", {
        "model": p.model, "instruction": p.instruction, "batch_size": p.batch_size, "device": p.device})
    pool, positives = positives_by_text(pairs, train, retriever.passage_text)
    t0 = time.perf_counter()
    # Queries go through the base row's path, which adds the instruction itself.
    q = embed(base, "query", [pair.query for pair in pairs], ctx)
    c = embed(base, "passage", pool, ctx)
    settings = mining_settings(p)
    mined = mine(q, c, positives, num_negatives=settings["num_negatives"], range_min=settings["range_min"],
                 range_max=settings["range_max"], absolute_margin=settings["absolute_margin"],
                 relative_margin=settings["relative_margin"], max_score=settings["max_score"],
                 sampling=settings["sampling"], seed=ctx.seed)
    negatives = [[pool[j] for j in row] for row in mined.negatives]
    record = {"hard_negatives": {"mined_with": base.resolved.model_id, "settings": settings, **mined.counts,
                                 "mine_s": round(time.perf_counter() - t0, 3)}}
    return negatives, record
