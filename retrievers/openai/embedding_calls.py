"""Embedding requests for ``ada``: several in flight at once, their answers checked, a clear error.

Retrying one request is ``benchmarks.openai_retry``'s (shared with ``generate``'s chat backend);
this module runs many such requests in worker threads (``run_bounded``) and checks that a 200
answer really holds one finite vector per input, in order (``parse_response``).
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Generator, Iterable, TypeVar

import numpy as np

from benchmarks.errors import HarnessError
from benchmarks.openai_retry import BadResponse, GiveUp

T = TypeVar("T")
R = TypeVar("R")


class EmbeddingAPIError(HarnessError):
    """An embedding request failed for good. The message names the endpoint, never the key."""


def run_bounded(items: Iterable[T], work: Callable[[T], R], *, concurrency: int,
                stop: threading.Event) -> Generator[R, None, tuple[int, GiveUp | None]]:
    """``work`` on each item in worker threads, at most ``concurrency`` at once, started in order.

    Yields each result in the calling thread as it finishes (so a cache write never races
    another). A new item starts only after a finished one was handled (the consumer asked for the
    next), which bounds both the requests in flight and the answers not yet stored. After the
    first ``GiveUp`` nothing new starts and ``stop`` is set, cutting retry waits short, while
    requests already sent may still land and be yielded. Returns (items handled, the first real
    failure or None) as the generator's value.

    The workers are daemon threads, not a ThreadPoolExecutor: the executor's threads are joined
    at interpreter exit, so after Ctrl-C the process kept waiting for requests in flight (up to
    their whole timeout). A request cut off by the exit was never stored, so nothing is lost.
    """
    todo = iter(items)
    done: queue.Queue[tuple[bool, Any]] = queue.Queue()
    in_flight = 0
    failure: GiveUp | None = None
    handled = 0

    def start(item: T) -> None:
        def run() -> None:
            try:
                done.put((True, work(item)))
            except BaseException as exc:  # handed to the calling thread, which decides
                done.put((False, exc))
        threading.Thread(target=run, daemon=True, name="embed-request").start()

    try:
        for item in todo:
            start(item)
            in_flight += 1
            if in_flight >= concurrency:
                break
        while in_flight:
            ok, value = done.get()
            in_flight -= 1
            if not ok:
                if not isinstance(value, GiveUp):
                    raise value
                if failure is None or (failure.reason == "stopped" and value.reason != "stopped"):
                    failure = value
                stop.set()
                continue
            yield value
            handled += 1
            if failure is None:
                item = next(todo, _END)
                if item is not _END:
                    start(item)
                    in_flight += 1
    except BaseException:
        stop.set()  # Ctrl-C, or the consumer failed or stopped: what was handled stays handled
        raise
    return handled, failure


_END: Any = object()


def parse_response(response: Any, n_inputs: int, dimensions: int | None) -> tuple[np.ndarray, int | None]:
    """Vectors in input order (float32, as returned) and the server's prompt-token count, if any."""
    data = getattr(response, "data", None)
    if not isinstance(data, list):
        raise BadResponse("response has no 'data' list", retryable=True)
    if len(data) != n_inputs:
        raise BadResponse(f"server returned {len(data)} embeddings for {n_inputs} inputs", retryable=False)
    indices = [getattr(item, "index", None) for item in data]
    if sorted(i for i in indices if isinstance(i, int)) != list(range(n_inputs)):
        raise BadResponse("embedding indices are missing, repeated or out of range", retryable=False)
    try:
        rows = [item.embedding for item in sorted(data, key=lambda item: item.index)]
        vectors = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadResponse("embeddings are not equal-length lists of numbers "
                          "(a server ignoring encoding_format='float'?)", retryable=False) from None
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise BadResponse(f"embeddings have shape {vectors.shape}", retryable=False)
    if dimensions is not None and vectors.shape[1] != dimensions:
        raise BadResponse(f"asked for {dimensions} dimensions, got {vectors.shape[1]}", retryable=False)
    if not np.isfinite(vectors).all():
        raise BadResponse("embeddings contain NaN or infinity", retryable=False)
    usage = getattr(response, "usage", None)
    tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
    return vectors, tokens if isinstance(tokens, int) else None
