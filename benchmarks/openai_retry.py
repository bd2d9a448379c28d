"""Retries for OpenAI-style requests (embeddings for ``ada``, chat for ``generate``): which to
retry, how long to wait, and the reason given when it stops.

The openai client is built with ``max_retries=0`` (``openai_client.make_client``) and this loop
does the retrying, so that the wait (exponential backoff with jitter, or the server's
Retry-After), the attempt count and the final message are ours, and the whole request fits in
``RetryPolicy.max_wait_s``. Retried: HTTP 408, 409, 429 and 5xx, timeouts, connection errors,
and bodies that are not valid JSON (a cut-off answer). Not retried: other 4xx (bad request, key,
model) and answers that parse but break the protocol (``BadResponse(retryable=False)``): those
are server bugs, so they are reported, never cached.
"""
from __future__ import annotations

import email.utils
import random
import threading
import time
from typing import Any, Callable, TypeVar

from benchmarks.openai_client import RetryPolicy

T = TypeVar("T")

RETRY_STATUSES = {408, 409, 429}


class BadResponse(Exception):
    """The server answered 200 with something that is not a valid response."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Pacer:
    """Shared by the worker threads: a Retry-After seen by one holds back every request."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._not_before = 0.0
        self._lock = threading.Lock()

    def defer(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def wait(self, deadline: float | None = None) -> None:
        """Until the shared not-before time, a stop, or ``deadline`` (monotonic), whichever is first."""
        while not self.stop.is_set():
            with self._lock:
                until = self._not_before if deadline is None else min(self._not_before, deadline)
            remaining = until - time.monotonic()
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


def call_with_retries(attempt: Callable[[float], T], policy: RetryPolicy, pacer: Pacer,
                      rng: random.Random, *, on_retry: Callable[[str, float], None] | None = None,
                      ) -> tuple[T, int]:
    """Run ``attempt(timeout_s)`` until it succeeds; returns (result, attempts), else raises ``GiveUp``.

    Every attempt, backoff and Retry-After fits in ``policy.max_wait_s`` from the first try: the
    attempt is given only the time that is left, so a server that accepts and never answers
    costs at most that, not ``timeout_s`` times the retries.
    """
    deadline = time.monotonic() + policy.max_wait_s
    retry, reason = 0, "no attempt made"
    while True:
        pacer.wait(deadline)
        if pacer.stop.is_set():
            raise GiveUp("stopped", retry, retryable=False)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise GiveUp(_out_of_time(reason, policy), retry, retryable=True)
        try:
            return attempt(min(policy.timeout_s, remaining)), retry + 1
        except Exception as exc:  # classified below; anything unknown is not retried
            retryable, reason, server_wait = classify(exc)
            if not retryable or retry >= policy.max_retries:
                raise GiveUp(reason, retry + 1, retryable=retryable) from None
            if server_wait is not None:
                wait = min(server_wait, policy.max_retry_after_s)
                pacer.defer(wait)
            else:
                wait = policy.backoff(retry, rng)
            if time.monotonic() + wait >= deadline:
                raise GiveUp(_out_of_time(reason, policy), retry + 1, retryable=True) from None
            if on_retry is not None:
                on_retry(reason, wait)
            retry += 1
            if server_wait is None:
                pacer.stop.wait(wait)


def _out_of_time(reason: str, policy: RetryPolicy) -> str:
    return (f"{reason}; gave up: no answer within max_wait_s={policy.max_wait_s:g} s "
            f"(each attempt up to timeout_s={policy.timeout_s:g} s)")


def is_unreachable(reason: str) -> bool:
    """The server did not answer at all (timeouts, refused or dropped connections)."""
    return reason.startswith(("timed out", "connection error")) or "gave up: no answer" in reason


def is_refusal(reason: str) -> bool:
    """A bad key, no permission or an unknown model: retrying cannot help."""
    return reason.startswith(("HTTP 401", "HTTP 403", "HTTP 404"))


class GiveUp(Exception):
    def __init__(self, reason: str, attempts: int, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.retryable = retryable

