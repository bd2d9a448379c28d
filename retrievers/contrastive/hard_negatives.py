"""Hard-negative mining over precomputed base-model embeddings, with the semantics of
sentence-transformers' ``util.mine_hard_negatives`` (6.x).

Why not call it: it needs Hugging Face ``datasets`` (not a dependency here) and a model to encode
with, while the harness already holds the base model's vectors in its embedding cache. The
arithmetic below follows it step by step (tests/retrievers/test_hard_negatives.py compares the two on tiny data):

1. cosine scores of every query against the corpus; keep the ``range_max + max_positives`` best;
2. drop the query's positives;
3. margin against false negatives, measured from the query's *lowest* positive score (ST's
   "harder positive"): ``absolute_margin`` drops candidates with ``score + margin > positive``,
   ``relative_margin`` those with ``score > positive - |positive| * margin``; then ``max_score`` /
   ``min_score``;
4. re-rank the survivors, skip the first ``range_min`` of them, keep the first ``range_max``;
5. ``top``: the best ``num_negatives``; ``random``: ``num_negatives`` drawn from the survivors
   (a seeded numpy generator here, Python's global ``random`` there), re-sorted by score.

A query keeps fewer than ``num_negatives`` when too few candidates survive (ST's triplet output).
Positives are corpus rows, so passages with equal text must be merged by the caller (ST dedups
the corpus by text); ``positives[i]`` may list several rows (ST: duplicate queries).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np


@dataclass(frozen=True)
class Mined:
    negatives: list[list[int]]  # per query: corpus rows, best first
    scores: list[list[float]]  # their cosine scores
    counts: dict[str, Any]  # what was skipped and why, for the result record


def default_range_max(num_negatives: int, range_min: int, max_positives: int, filtered: bool) -> int:
    """ST's default: room for 10x the negatives when a margin or score cap may discard candidates."""
    return range_min + num_negatives * (10 if filtered else 1) + max_positives


def mine(query_vecs: np.ndarray, corpus_vecs: np.ndarray, positives: Sequence[Sequence[int]], *,
         num_negatives: int, range_min: int = 0, range_max: int | None = None,
         absolute_margin: float | None = None, relative_margin: float | None = None,
         max_score: float | None = None, min_score: float | None = None,
         sampling: Literal["top", "random"] = "top", seed: int = 0) -> Mined:
    """Hard negatives for each query (row of ``query_vecs``) among the rows of ``corpus_vecs``."""
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
    if len(positives) != len(query_vecs) or any(len(p) == 0 for p in positives):
        raise ValueError("every query needs at least one positive corpus row")
    max_pos = max(len(p) for p in positives)
    filtered = absolute_margin is not None or relative_margin is not None or max_score is not None
    if range_max is None:
        range_max = default_range_max(num_negatives, range_min, max_pos, filtered)
    if range_min < 0 or range_min >= range_max or num_negatives > range_max - range_min:
        raise ValueError(f"range [{range_min}, {range_max}) cannot hold {num_negatives} negatives")

    q = _unit(query_vecs)
    c = _unit(corpus_vecs)
    scores = q @ c.T  # [Q, C]; ST's default similarity is cosine
    k = min(range_max + max_pos, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, order, axis=1).astype(np.float64)
    pos_score = np.array([scores[i, list(p)].min() for i, p in enumerate(positives)], dtype=np.float64)

    skipped = {"positive": 0, "absolute_margin": 0, "relative_margin": 0, "max_score": 0, "min_score": 0}

    def drop(reason: str, where: np.ndarray) -> None:
        where &= np.isfinite(top)  # count each candidate under the first rule that removed it
        skipped[reason] += int(where.sum())
        top[where] = -np.inf

    drop("positive", np.array([np.isin(row, list(p)) for row, p in zip(order, positives)]).reshape(top.shape))
    if absolute_margin is not None:
        drop("absolute_margin", top + absolute_margin > pos_score[:, None])
    if relative_margin is not None:
        drop("relative_margin", top > (pos_score - np.abs(pos_score) * relative_margin)[:, None])
    if max_score is not None:
        drop("max_score", top > max_score)
    if min_score is not None:
        drop("min_score", top < min_score)

    rerank = np.argsort(-top, axis=1, kind="stable")[:, :range_max][:, range_min:]
    rng = np.random.default_rng(seed)
    negatives, neg_scores = [], []
    for i, cols in enumerate(rerank):
        alive = cols[np.isfinite(top[i, cols])]
        if sampling == "random" and len(alive) > num_negatives:
            alive = np.sort(rng.choice(alive, size=num_negatives, replace=False))  # sorted cols = by score
        elif sampling not in ("top", "random"):
            raise ValueError(f"unknown sampling {sampling!r}: top or random")
        alive = alive[:num_negatives]
        negatives.append([int(order[i, j]) for j in alive])
        neg_scores.append([float(top[i, j]) for j in alive])
    found = [len(n) for n in negatives]
    counts = {
        "queries": len(positives), "corpus": int(corpus_vecs.shape[0]), "range_max": int(range_max),
        "negatives": int(sum(found)), "short_queries": int(sum(f < num_negatives for f in found)),
        "skipped": skipped,
        "mean_positive_score": round(float(pos_score.mean()), 6),
        "mean_negative_score": (round(float(np.mean([s for row in neg_scores for s in row])), 6)
                                if sum(found) else None),
    }
    return Mined(negatives, neg_scores, counts)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
