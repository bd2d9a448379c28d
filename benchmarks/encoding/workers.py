"""Encoding in several processes on this machine (``run --workers N``).

Each worker is a spawned process holding a pickled copy of the retriever, which loads its model
once. The engine hands over whole cache batches, so every batch is encoded exactly as one process
would encode it (the same texts together, so the same padding), and the parent stores each batch
as it comes back: a killed run keeps every finished batch. torch's threads are split between the
workers so that N workers on C cores do not oversubscribe them; on a GPU machine worker i uses
``cuda:i`` (modulo the number of GPUs).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from benchmarks.context import RunContext
from benchmarks.encoding.cache import Dispatch
from benchmarks.encoding.engine import encoder_of

_WORKER: dict[str, Any] = {}  # in each worker process: its encode function and context


def worker_context(ctx: RunContext) -> RunContext:
    """What a worker needs of the run: cache dir (models, exports), device, seed; no bars, no cache."""
    return replace(ctx, progress=False, stats={}, runs={}, embeddings=None, workers=1, ray=False)


def gpu_count(ctx: RunContext) -> int:
    if not ctx.resolved_device().startswith("cuda"):
        return 0
    import torch

    return torch.cuda.device_count()


def _start(payload: bytes, counter: Any, threads: int, gpus: int) -> None:
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    retriever, side, ctx = pickle.loads(payload)
    if gpus:
        ctx.device = f"cuda:{index % gpus}"
    import torch

    torch.set_num_threads(threads)
    _WORKER.update(encode=encoder_of(retriever, side), ctx=ctx)


def _encode(batch: list[str]) -> np.ndarray:
    return np.asarray(_WORKER["encode"](batch, _WORKER["ctx"]), dtype=np.float32)


def process_dispatch(retriever: Any, side: str, ctx: RunContext) -> Dispatch:
    def dispatch(batches: list[list[str]], done: Callable[[list[str], np.ndarray], None]) -> None:
        spawn = mp.get_context("spawn")  # fork would copy a parent's torch threads and CUDA state
        n = min(ctx.workers, len(batches))
        threads = max(1, (os.cpu_count() or 1) // n)
        payload = pickle.dumps((retriever, side, worker_context(ctx)))
        with ProcessPoolExecutor(n, mp_context=spawn, initializer=_start,
                                 initargs=(payload, spawn.Value("i", 0), threads, gpu_count(ctx))) as pool:
            futures = {pool.submit(_encode, batch): batch for batch in batches}
            failure: BaseException | None = None
            try:
                for future in as_completed(futures):
                    try:
                        vectors = future.result()
                    except Exception as exc:  # the first failure stops new batches; finished ones are kept
                        failure = failure or exc
                        for f in futures:
                            f.cancel()
                        continue
                    if not future.cancelled():
                        done(futures[future], vectors)
            except BaseException:  # Ctrl-C: stop at once, what was stored stays stored
                for f in futures:
                    f.cancel()
                raise
            if failure is not None:
                raise failure

    return dispatch
