"""``ada``: OpenAI embeddings, or any OpenAI-compatible ``/v1/embeddings`` server, then exact search.

Production-style client (shared/docs/retrievers.md §1): the official ``openai`` client with
``encoding_format="float"``; requests packed within the API limits (inputs, tokens per input and
per request); up to ``concurrency`` requests in flight; our own retry loop (backoff with jitter,
Retry-After honoured; see ``retry``); every completed request stored in the embedding
cache at once, so a killed or failed run resumes paying only for what is missing.

Endpoint and key follow ``benchmarks.openai_client``: the key is always ``$OPENAI_API_KEY`` (a
suite cannot pick the variable) and a suite's ``base_url`` needs ``run --allow-endpoint HOST``;
``plan_problems`` reports both before any work. The key is never put in params, cards, cache
keys, logs or messages (every message is redacted). A keyless local server gets a placeholder.
Cache entries hold the vectors as the server returned them, keyed by (model,
dimensions, endpoint host + path, implementation version) and the sha256 of the text actually
sent, so newline replacement and truncation are part of the key, and renormalisation is applied
after reading: the same text is never paid for twice under different local settings.
"""
from __future__ import annotations

import importlib.util
import logging
import random
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
from pydantic import Field

from benchmarks.context import RunContext
from benchmarks.errors import DataError
from benchmarks.openai_client import (
    BASE_URL_ENV, DEFAULT_BASE_URL, KEY_ENV, RetryPolicy, attempt_timeout, host_of, key_missing, make_client, public_url,
    read_key, redact, suite_endpoint_problems,
)
from benchmarks.openai_client import base_url as resolve_base_url
from retrievers import register
from retrievers.base import DenseRetriever, Params, RetrieverCard
from benchmarks.openai_retry import BadResponse, Pacer, call_with_retries, is_refusal
from retrievers.openai.batching import TokenCounter, pack_requests, prepare_texts
from retrievers.openai.embedding_calls import EmbeddingAPIError, parse_response, run_bounded

log = logging.getLogger("harness.ada")
OPENAI_DEFAULT_BASE_URL = DEFAULT_BASE_URL
PRICES_FILE = Path(__file__).with_name("prices.yaml")


class AdaParams(Params):
    model: str = "text-embedding-ada-002"
    base_url: str | None = None  # None: $OPENAI_BASE_URL, else api.openai.com; needs --allow-endpoint
    api_key_env: str | None = None  # refused by plan_problems: the key is always $OPENAI_API_KEY
    dimensions: int | None = Field(None, gt=0)  # text-embedding-3 and later only
    max_inputs_per_request: int = Field(2048, gt=0)  # OpenAI: 2048; LlamaIndex batches 100
    max_tokens_per_input: int = Field(8191, gt=0)
    max_tokens_per_request: int = Field(300_000, gt=0)
    on_too_long: Literal["truncate", "error"] = "truncate"
    token_counter: Literal["auto", "tiktoken", "estimate"] = "auto"  # auto: tiktoken if usable
    token_encoding: str = "auto"  # tiktoken encoding; auto: the model's, else cl100k_base
    chars_per_token: float = Field(3.0, gt=0)  # the estimate used without tiktoken (conservative)
    concurrency: int = Field(4, ge=1)
    max_retries: int = Field(6, ge=0)
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(20.0, ge=0)
    max_retry_after_s: float = Field(120.0, ge=0)
    timeout_s: float = Field(120.0, gt=0)  # one attempt (connect: 10 s)
    max_wait_s: float = Field(300.0, gt=0)  # one request, all attempts and waits: then it fails
    replace_newlines: bool = False  # LlamaIndex parity: "\n" -> " " before embedding
    normalize: bool = True  # L2-renormalise (local servers may not return unit vectors)


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    import yaml

    try:
        return yaml.safe_load(PRICES_FILE.read_text(encoding="utf-8")) or {}
    except OSError:
        return {}


def usd_per_million(model: str, host: str) -> float | None:
    table = price_table()
    if host not in (table.get("hosts") or []):
        return None
    price = (table.get("usd_per_million_tokens") or {}).get(model)
    return float(price) if price is not None else None


@register("ada", "openai")
class OpenAIEmbeddingRetriever(DenseRetriever):
    """OpenAI embeddings (text-embedding-ada-002 by default) or any OpenAI-compatible server."""

    kind = "api"
    impl_version = "1"
    Params = AdaParams

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self._counter: TokenCounter | None = None
        self._tokens: dict[str, int] = {}  # sent text -> its token count, from prepare_texts

    # -- endpoint and key ------------------------------------------------------------------
    def plan_problems(self, options: Any) -> list[str]:
        """A suite may not pick the key variable, nor an endpoint the command line did not allow."""
        allowed = getattr(options, "allow_endpoints", None) or ()
        return suite_endpoint_problems(self.params.base_url, self.params.api_key_env, allowed)

    def base_url(self) -> str:
        return resolve_base_url(self.params.base_url)

    def endpoint(self) -> tuple[str, str]:
        """(host[:port], scheme://host[:port]/path) of the base URL, without credentials or query."""
        url = self.base_url()
        return host_of(url), public_url(url)

    def _key(self) -> str | None:
        return read_key(KEY_ENV)  # never params.api_key_env: a suite must not choose the variable

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("openai") is None:
            return "not run: pip install openai"
        if key_missing(self.base_url(), self._key()):
            return f"not run: set {KEY_ENV} or {BASE_URL_ENV}"
        return None

    # -- identity ---------------------------------------------------------------------------
    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            p = self.params
            self._counter = TokenCounter(p.token_counter, p.token_encoding, p.model, p.chars_per_token)
        return self._counter

    def fingerprint(self) -> dict[str, Any]:
        host, url = self.endpoint()
        return {
            "encoder": "openai-embeddings", "model": self.params.model, "dimensions": self.params.dimensions,
            "endpoint": url.split("://", 1)[-1], "impl": self.impl_version,
            "vectors": "as returned", "text": "as sent",
        }

    def card(self) -> RetrieverCard:
        host, url = self.endpoint()
        params = self.params.model_dump(mode="json", exclude={"api_key_env"})
        params["base_url"] = url  # resolved, credentials and query stripped
        return RetrieverCard(
            name=self.name, kind=self.kind, impl_version=self.impl_version,
            model_id=self.params.model, model_revision=None,
            params={**params, "endpoint_host": host, "token_counter": self.counter.describe(),
                    "usd_per_million_tokens": usd_per_million(self.params.model, host)},
        )

    # -- embedding: benchmarks/encoding runs these behind the run's cache --------------------
    # Every missing text at once: the requests are packed below, and each is cached on arrival.
    encode_batch_size = 1 << 62

    def cache_fingerprint(self, side: str) -> dict[str, Any]:
        return self.fingerprint()  # queries and passages are embedded alike: one cache for both

    def prepare_texts(self, side: str, texts: list[str], ctx: RunContext) -> list[str]:
        """The texts as sent (newlines replaced, too-long ones truncated): what the cache keys."""
        p = self.params
        try:
            prepared = prepare_texts(texts, self.counter, max_tokens_per_input=p.max_tokens_per_input,
                                     on_too_long=p.on_too_long, replace_newlines=p.replace_newlines)
        except ValueError as exc:
            raise DataError(f"{self.name}: {side} {exc}") from None
        self._tokens.update(zip(prepared.sent, prepared.tokens))
        ctx.add_stat("api_truncated_inputs", prepared.truncated)
        if prepared.emptied:
            ctx.add_stat("api_empty_inputs_sent_as_space", prepared.emptied)
        ctx.stats.setdefault("api_requests", 0.0)
        ctx.stats.setdefault("api_tokens", 0.0)
        if usd_per_million(p.model, self.endpoint()[0]) is None:
            ctx.stats["api_cost_usd"] = None  # type: ignore[assignment]  # unknown price: null, not 0
        else:
            ctx.stats.setdefault("api_cost_usd", 0.0)
        return prepared.sent

    def after_cache(self, side: str, vectors: np.ndarray, ctx: RunContext) -> np.ndarray:
        """Renormalised after reading, so the cache holds the vectors as the server returned them."""
        if not len(vectors):
            return np.zeros((0, self.params.dimensions or 0), dtype=np.float32)
        if self.params.normalize:
            norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
            vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return vectors

    def encode_queries(self, texts: list[str], ctx: RunContext) -> Iterator[tuple[list[str], np.ndarray]]:
        return self._request_all(texts, ctx)

    def encode_passages(self, texts: list[str], ctx: RunContext) -> Iterator[tuple[list[str], np.ndarray]]:
        return self._request_all(texts, ctx)

    def policy(self) -> RetryPolicy:
        p = self.params
        return RetryPolicy(p.max_retries, p.backoff_base_s, p.backoff_max_s, p.max_retry_after_s,
                           timeout_s=p.timeout_s, max_wait_s=p.max_wait_s)

    def _request_all(self, texts: list[str], ctx: RunContext) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yields (texts, vectors) per request as it completes, at most ``concurrency`` in flight;
        the engine caches each one before the next request starts."""
        p = self.params
        host, url = self.endpoint()
        price, key = usd_per_million(p.model, host), self._key()
        batches = pack_requests(texts, [self._tokens[t] if t in self._tokens else self.counter.count(t) for t in texts],
                                max_inputs=p.max_inputs_per_request, max_tokens=p.max_tokens_per_request)
        stop = threading.Event()
        pacer = Pacer(stop)
        policy = self.policy()
        rng = random.Random()
        client = make_client(self.base_url(), key, policy)
        retries: list[str] = []  # list.append is atomic: the worker threads share it
        extra = {"dimensions": p.dimensions} if p.dimensions is not None else {}

        def on_retry(reason: str, wait_s: float) -> None:
            retries.append(reason)
            log.warning("%s: %s; retrying in %.1f s", url, redact(reason, key), wait_s)

        def attempt(sent: list[str], timeout_s: float) -> tuple[np.ndarray, int | None]:
            response = client.embeddings.create(model=p.model, input=sent, encoding_format="float",
                                                timeout=attempt_timeout(policy, timeout_s), **extra)
            vecs, tokens = parse_response(response, len(sent), p.dimensions)
            if p.normalize and not np.linalg.norm(vecs.astype(np.float64), axis=1).all():
                raise BadResponse("server returned an all-zero embedding, which cannot be normalised",
                                  retryable=False)
            return vecs, tokens

        def work(sent: list[str]) -> tuple[list[str], np.ndarray, int | None]:
            (vecs, tokens), _ = call_with_retries(lambda t: attempt(sent, t), policy, pacer, rng,
                                                  on_retry=on_retry)
            return sent, vecs, tokens

        requests = run_bounded([[texts[i] for i in b] for b in batches], work, concurrency=p.concurrency,
                               stop=stop)
        try:
            while True:
                try:
                    sent, vecs, tokens = next(requests)
                except StopIteration as end:
                    handled, failure = end.value
                    break
                counted = tokens if tokens is not None else sum(self.counter.count(t) for t in sent)
                ctx.add_stat("api_requests", 1)
                ctx.add_stat("api_tokens", counted)
                if tokens is None:  # the server reported no usage: our own count stands in
                    ctx.add_stat("api_tokens_estimated", counted)
                if price is not None:
                    ctx.add_stat("api_cost_usd", counted * price / 1e6)
                yield sent, vecs  # cached at once: a kill after this costs nothing twice
        finally:
            requests.close()
            ctx.add_stat("api_retries", len(retries))
            client.close()
        if failure is not None:
            hint = ""
            if is_refusal(failure.reason):
                hint = f" (check ${KEY_ENV} and the model name)"
            elif failure.reason.startswith("HTTP 400") and not self.counter.exact:
                hint = (f" (token counts were estimated, {self.counter.describe()}: if an input was too "
                        "long, lower chars_per_token or make tiktoken's BPE file available)")
            raise EmbeddingAPIError(redact(
                f"{self.name}: POST {url}/embeddings (model {p.model!r}) failed after {failure.attempts} "
                f"attempt(s): {failure.reason}{hint}. {handled} of {len(batches)} requests in this run "
                "succeeded and are cached; running again resumes from there.", key)) from None
