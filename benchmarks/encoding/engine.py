"""The one way vectors are made: the run's embedding cache, then the plugin's ``encode_*``, then
its after-cache hook.

A dense plugin supplies ``fingerprint()`` and ``encode_queries`` / ``encode_passages``, and may
supply ``prepare_texts`` (the texts as the model receives them, which are what the cache keys:
ada's truncation) and ``after_cache`` (applied to every vector, cached or new: the adapter's query
map, ada's normalisation). No plugin embeds by itself: code that needs a row's vectors before its
hook (the adapter's training data, hard-negative mining) calls ``embed(..., hook=False)``.

Where the missing batches are encoded is the run's choice, never the plugin's: here, in
``ctx.workers`` processes on this machine (benchmarks/encoding/workers.py) or on Ray
(benchmarks/encoding/ray_pool.py). Vectors are the same either way, so it is in no fingerprint.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from benchmarks.context import RunContext
from benchmarks.encoding.cache import Dispatch


def embed(retriever: Any, side: str, texts: Sequence[str], ctx: RunContext, *, hook: bool = True) -> np.ndarray:
    """float32 [len(texts), dim] for ``side`` ("query" or "passage") of a dense retriever."""
    if side not in ("query", "passage"):
        raise ValueError(f"side must be 'query' or 'passage', not {side!r}")
    t0 = time.perf_counter()
    sent = retriever.prepare_texts(side, list(texts), ctx)
    cache = ctx.embedding_cache()
    hits, misses = cache.hits, cache.misses
    encode = encoder_of(retriever, side)
    vectors = cache.embed(
        retriever.cache_fingerprint(side), sent, lambda batch: encode(batch, ctx),
        batch_size=retriever.encode_batch_size, progress=ctx.progress,
        desc="encode queries" if side == "query" else "encode passages", dispatch=dispatcher(retriever, side, ctx),
    )
    if hook:
        vectors = retriever.after_cache(side, vectors, ctx)
    ctx.add_stat("encode_s", time.perf_counter() - t0)
    ctx.add_stat("encoded_texts", cache.misses - misses)
    ctx.add_stat("cached_texts", cache.hits - hits)
    return vectors


def encoder_of(retriever: Any, side: str) -> Callable[[list[str], RunContext], Any]:
    """The plugin's encode method for one side (also what worker processes and Ray actors call)."""
    return retriever.encode_queries if side == "query" else retriever.encode_passages


def dispatcher(retriever: Any, side: str, ctx: RunContext) -> Dispatch | None:
    """How this run encodes batches of this retriever: None = here, one after another."""
    if not retriever.parallel_encode:
        return None  # e.g. ada: its own bounded concurrency of API requests
    if ctx.ray:
        from benchmarks.encoding.ray_pool import ray_dispatch

        return ray_dispatch(retriever, side, ctx)
    if ctx.workers > 1:
        from benchmarks.encoding.workers import process_dispatch

        return process_dispatch(retriever, side, ctx)
    return None
