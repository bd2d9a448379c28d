"""Retries for embedding requests: which failures to retry, how long to wait, and clear errors.

The openai client is built with ``max_retries=0`` and this loop does the retrying, so that the
wait (exponential backoff with jitter, or the server's Retry-After), the attempt count and the
final message are ours. Retried: HTTP 408, 409, 429 and 5xx, timeouts, connection errors, and
bodies that are not valid JSON (a cut-off answer). Not retried: other 4xx (bad request, key,
model) and answers that parse but break the protocol (wrong number of vectors, missing indices,
ragged or non-finite vectors): those are server bugs, so they are reported, never cached.
"""
from __future__ import annotations

import email.utils
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TypeVar

import numpy as np

from benchmarks.errors import HarnessError

T = TypeVar("T")
R = TypeVar("R")

RETRY_STATUSES = {408, 409, 429}


class EmbeddingAPIError(HarnessError):
    """An embedding request failed for good. The message names the endpoint, never the key."""


class BadResponse(Exception):
    """The server answered 200 with something that is not a valid embeddings response."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6  # retries after the first attempt
    backoff_base_s: float = 1.0  # first wait ~ base; doubles each retry
    backoff_max_s: float = 20.0  # cap on one backoff wait (LlamaIndex: 1-20 s)
    max_retry_after_s: float = 120.0  # cap on a server's Retry-After

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Equal jitter: half the exponential delay fixed, half random (spreads concurrent clients)."""
        delay = min(self.backoff_max_s, self.backoff_base_s * (2 ** retry))
        return delay / 2 + rng.uniform(0, delay / 2)


class Pacer:
    """Shared by the worker threads: a Retry-After seen by one holds back every request."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._not_before = 0.0
        self._lock = threading.Lock()

    def defer(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def wait(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                remaining = self._not_before - time.monotonic()
            if remaining <= 0:
                return
            self.stop.wait(remaining)


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), if present."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def classify(exc: BaseException) -> tuple[bool, str, float | None]:
    """(retryable, short reason, server-requested wait) for an exception from one attempt."""
    import openai

    if isinstance(exc, BadResponse):
        return exc.retryable, str(exc), None
    if isinstance(exc, openai.APITimeoutError):
        return True, "timed out", None
    if isinstance(exc, openai.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "no detail"
        return True, f"connection error ({cause})", None
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = getattr(exc, "message", str(exc))
        retryable = status in RETRY_STATUSES or status >= 500
        return retryable, f"HTTP {status}: {message}", retry_after_seconds(exc.response.headers)
    if isinstance(exc, (ValueError, openai.APIResponseValidationError)):  # JSONDecodeError is a ValueError
        return True, f"malformed response body ({type(exc).__name__}: {str(exc)[:120]})", None
    return False, f"{type(exc).__name__}: {exc}", None


def call_with_retries(attempt: Callable[[], T], policy: RetryPolicy, pacer: Pacer,
                      rng: random.Random, *, on_retry: Callable[[str, float], None] | None = None,
                      ) -> tuple[T, int]:
    """Run ``attempt`` until it succeeds; returns (result, attempts). Raises ``GiveUp`` otherwise."""
    retry = 0
    while True:
        pacer.wait()
        if pacer.stop.is_set():
            raise GiveUp("stopped", retry, retryable=False)
        try:
            return attempt(), retry + 1
        except Exception as exc:  # classified below; anything unknown is not retried
            retryable, reason, server_wait = classify(exc)
            if not retryable or retry >= policy.max_retries:
                raise GiveUp(reason, retry + 1, retryable=retryable) from None
            if server_wait is not None:
                wait = min(server_wait, policy.max_retry_after_s)
                pacer.defer(wait)
            else:
                wait = policy.backoff(retry, rng)
            if on_retry is not None:
                on_retry(reason, wait)
            retry += 1
            if server_wait is None:
                pacer.stop.wait(wait)


class GiveUp(Exception):
    def __init__(self, reason: str, attempts: int, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.retryable = retryable


def run_bounded(items: Iterable[T], work: Callable[[T], R], on_result: Callable[[R], None], *,
                concurrency: int, stop: threading.Event) -> tuple[int, GiveUp | None]:
    """``work`` on each item in a thread pool, at most ``concurrency`` at once, started in order.

    ``on_result`` runs in the calling thread as each item finishes (so a cache write never races
    another). A new item starts only after a finished one was handled, which bounds both the
    requests in flight and the answers not yet stored. After the first ``GiveUp`` nothing new
    starts and ``stop`` is set, cutting retry waits short, while requests already sent may still
    land and be handled. Returns (items handled, the first real failure or None).
    """
    todo = iter(items)
    pending: set[Future[R]] = set()
    failure: GiveUp | None = None
    handled = 0
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="embed-request")
    try:
        for item in todo:
            pending.add(pool.submit(work, item))
            if len(pending) >= concurrency:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    result = future.result()
                except GiveUp as exc:
                    if failure is None or (failure.reason == "stopped" and exc.reason != "stopped"):
                        failure = exc
                    stop.set()
                    continue
                on_result(result)
                handled += 1
                if failure is None:
                    item = next(todo, _END)
                    if item is not _END:
                        pending.add(pool.submit(work, item))
    except BaseException:
        stop.set()  # Ctrl-C or a failing on_result: what was handled stays handled
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
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


def redact(text: str, secret: str | None) -> str:
    """The message with the key (if any) blanked out: servers sometimes echo it back."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "<redacted>")
    return text
