"""Approximate top-k: faiss HNSW (a suite's ``ann:``), hnswlib as DALM builds it (``protocol: dalm``),
and the recall of either against exact search on the same queries.

Split from ``benchmarks.search`` (exact search and the run builder, which calls these).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from benchmarks.search import _inputs, canonical_scores

RECALL_SAMPLE = 1000  # queries the ANN recall is measured on: bounds the exact search it costs


def hnsw_topk(queries: np.ndarray, docs: np.ndarray, k: int, *, M: int = 32, ef_construction: int = 200,
              ef_search: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k with faiss IndexHNSWFlat (inner product). Missing results are index -1.

    Deterministic: the level generator is seeded, and the graph is built on one OpenMP thread
    (parallel insertion order is racy; measured here, one thread also built faster than two).
    Search stays multi-threaded: each query is searched independently.
    """
    import faiss

    q, d = _inputs(queries, docs)
    kk = max(0, min(k, len(d)))
    if kk == 0 or len(q) == 0:
        return np.empty((len(q), kk), np.float32), np.empty((len(q), kk), np.int64)
    index = faiss.IndexHNSWFlat(d.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.rng = faiss.RandomGenerator(seed)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.add(d)
    finally:
        faiss.omp_set_num_threads(threads)
    index.hnsw.efSearch = max(ef_search, kk)
    _, idx = index.search(q, kk)
    # Canonical scores and the exact search's tie rule for what HNSW found; misses (-1) go last.
    rows, idx = np.repeat(np.arange(len(q)), kk), idx.ravel()
    scores = np.full(len(idx), -np.inf, np.float32)
    scores[idx >= 0] = canonical_scores(q, d, rows[idx >= 0], idx[idx >= 0])
    order = np.lexsort((np.where(idx < 0, len(d), idx), -scores, rows))
    return scores[order].reshape(len(q), kk), idx[order].reshape(len(q), kk)


def recall_against(approx_idx: np.ndarray, exact_idx: np.ndarray) -> float:
    """Mean over queries of |approx ∩ exact| / |exact| (1.0 when there is nothing to find)."""
    a, e = np.asarray(approx_idx), np.asarray(exact_idx)
    if a.ndim != 2 or e.ndim != 2 or len(a) != len(e):
        raise ValueError(f"need 2-D arrays with the same number of rows, got {a.shape} and {e.shape}")
    if e.shape[1] == 0 or len(e) == 0:
        return 1.0
    hits = np.zeros(len(e))
    for s in range(0, len(e), 4096):  # chunked: the comparison cube is rows * k * k
        hits[s:s + 4096] = (e[s:s + 4096, :, None] == a[s:s + 4096, None, :]).any(axis=2).sum(axis=1)
    return float(np.mean(hits / e.shape[1]))


def sampled_recall(approx_idx: np.ndarray, query_vecs: np.ndarray, seed: int,
                   exact: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> float:
    """recall_against exact search, on all queries or a seeded sample of RECALL_SAMPLE of them
    (``exact(query_vectors)`` runs the exact search)."""
    sample = np.arange(len(query_vecs))
    if len(sample) > RECALL_SAMPLE:
        sample = np.sort(np.random.default_rng(seed).choice(len(sample), RECALL_SAMPLE, replace=False))
    _, exact_idx = exact(np.asarray(query_vecs)[sample])
    return recall_against(np.asarray(approx_idx)[sample], exact_idx)


def hnswlib_topk(queries: np.ndarray, docs: np.ndarray, k: int, *, M: int, ef_construction: int,
                 ef: int, seed: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """hnswlib ``Index(space="ip")``: (labels int64 [nq, k'], distances float32 = 1 - q.d), k' =
    min(k, ndocs), in hnswlib's order (distance ascending). Docs are inserted in the order given,
    ids 0..n-1, as DALM's ``construct_search_index`` does. hnswlib's default level seed is 100.

    One insertion thread: parallel insertion makes the graph depend on thread timing (DALM used
    all cores, so its own graph varies a little from run to run); queries are independent.
    """
    import hnswlib

    q, d = _inputs(queries, docs)
    kk = max(0, min(k, len(d)))
    if kk == 0 or len(q) == 0:
        return np.empty((len(q), kk), np.int64), np.empty((len(q), kk), np.float32)
    index = hnswlib.Index(space="ip", dim=d.shape[1])
    index.init_index(max_elements=len(d), ef_construction=ef_construction, M=M, random_seed=seed)
    index.add_items(d, np.arange(len(d)), num_threads=1)
    index.set_ef(ef)
    labels, distances = index.knn_query(q, k=kk)
    return labels.astype(np.int64), distances.astype(np.float32)
