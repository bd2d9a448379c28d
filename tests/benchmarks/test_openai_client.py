"""``ada`` and ``generate --backend openai`` share one client rule set (benchmarks/openai_client.py
and openai_retry.py): the same endpoint choice, the same keyless rule, the same default policy."""
from __future__ import annotations

import pytest

from benchmarks.errors import HarnessError
from benchmarks.llm.backends import BackendOptions, OpenAIBackend
from benchmarks.openai_client import key_missing
from retrievers.openai.retriever import OpenAIEmbeddingRetriever


@pytest.mark.parametrize("url, key, missing", [
    ("https://api.openai.com/v1", None, True), ("https://API.openai.com:443/v1/", "", True),
    ("https://api.openai.com/v1", "sk-x", False), ("http://127.0.0.1:8080/v1", None, False),
    ("https://api.openai.com.evil.example/v1", None, False),
])
def test_only_openai_itself_needs_a_key(url, key, missing):
    assert key_missing(url, key) is missing


def _ada_runs() -> bool:
    return OpenAIEmbeddingRetriever("ada", {}).unavailable_reason() is None


def _chat_starts() -> bool:
    try:
        OpenAIBackend(BackendOptions(model="m"))
    except HarnessError as exc:
        assert "no API key" in str(exc)
        return False
    return True


@pytest.mark.parametrize("base_env", [None, "http://127.0.0.1:9/v1", "https://api.openai.com/v1"])
@pytest.mark.parametrize("key", [None, "sk-test-key-123456"])
def test_ada_and_the_chat_backend_agree_on_when_a_key_is_needed(monkeypatch, base_env, key):
    for var, value in (("OPENAI_BASE_URL", base_env), ("OPENAI_API_KEY", key)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    expected = key is not None or base_env == "http://127.0.0.1:9/v1"
    assert _ada_runs() is expected
    assert _chat_starts() is expected


def test_the_default_retry_policy_is_the_same(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
    assert OpenAIBackend(BackendOptions(model="m")).policy == OpenAIEmbeddingRetriever("ada", {}).policy()


def test_the_not_run_reason_of_committed_records_is_kept(monkeypatch):
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    # results/llamaindex-10k/llamaindex-10k/ada.json records this reason
    assert OpenAIEmbeddingRetriever("ada", {}).unavailable_reason() == \
        "not run: set OPENAI_API_KEY or OPENAI_BASE_URL"
