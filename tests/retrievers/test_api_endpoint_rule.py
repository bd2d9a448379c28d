"""A suite file cannot choose the key variable nor send the key to a host the user did not name.

Observed on 3ca4cbb: ``params: {base_url: http://127.0.0.1:PORT/v1, api_key_env: PROBE_OTHER_SECRET}``
sent that variable's value to that host. Now: exit 2 before anything runs, nothing written, and
a suite's base_url works only for a host given with ``run --allow-endpoint HOST``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from embedding_server import EmbeddingServer  # noqa: E402
from secret_scan import SECRET  # noqa: E402


from benchmarks.cli import main  # noqa: E402
from benchmarks.encoding import embed  # noqa: E402

OTHER = "probe-OTHER-secret-9876543210"
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "token_counter": "estimate"}


@pytest.fixture
def env(tiny_env, monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("PROBE_OTHER_SECRET", OTHER)
    return tiny_env


@pytest.fixture
def server():
    with EmbeddingServer() as s:
        yield s


def suite_file(tmp_path: Path, params: dict) -> Path:
    suite = {"schema": "suite/v1", "name": "probe", "datasets": [{"name": "tiny", "split": "test"}],
             "metrics": ["hit_rate@1"], "top_k": 3, "baseline": "bm25",
             "retrievers": [{"name": "bm25", "use": "bm25"},
                            {"name": "ada", "use": "ada", "params": {**FAST, **params}}]}
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    return path


def run(tmp_path: Path, suite: Path, *flags: str) -> int:
    return main(["run", "--suite", str(suite), "--results-dir", str(tmp_path / "results"),
                 "--leaderboard", str(tmp_path / "lb.md"), "--quiet", "--device", "cpu", *flags])


def written(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "probe.yaml"]


def test_the_observed_probe_is_refused_before_anything_runs(env, server, tmp_path, capsys):
    suite = suite_file(tmp_path, {"base_url": server.base_url, "api_key_env": "PROBE_OTHER_SECRET"})
    code = run(tmp_path, suite)
    assert [e["auth"] for e in server.stats.log] == []  # 3ca4cbb sent "Bearer " + $PROBE_OTHER_SECRET
    assert code == 2 and written(tmp_path) == []  # bm25 did not run either
    err = capsys.readouterr().err
    assert "api_key_env cannot be set in a suite" in err and "--allow-endpoint 127.0.0.1" in err


def test_a_key_variable_is_refused_even_for_an_allowed_host(env, server, tmp_path, capsys):
    suite = suite_file(tmp_path, {"base_url": server.base_url, "api_key_env": "PROBE_OTHER_SECRET"})
    assert run(tmp_path, suite, "--allow-endpoint", "127.0.0.1") == 2
    assert "api_key_env cannot be set in a suite" in capsys.readouterr().err
    assert server.stats.requests == 0 and written(tmp_path) == []


def test_a_suite_base_url_needs_allow_endpoint(env, server, tmp_path, capsys):
    suite = suite_file(tmp_path, {"base_url": server.base_url})
    assert run(tmp_path, suite) == 2
    assert f"base_url points at 127.0.0.1:{server.port}" in capsys.readouterr().err
    assert server.stats.requests == 0 and written(tmp_path) == []
    assert run(tmp_path, suite, "--allow-endpoint", "other.example") == 2  # another host: still no
    assert server.stats.requests == 0
    assert run(tmp_path, suite, "--allow-endpoint", "127.0.0.1") == 0
    assert server.stats.requests == 2  # passages, then queries
    assert {e["auth"] for e in server.stats.log} == {f"Bearer {SECRET}"}  # $OPENAI_API_KEY, nothing else


def test_the_environment_endpoint_needs_no_flag(env, server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)  # the user named it
    assert run(tmp_path, suite_file(tmp_path, {})) == 0
    assert server.stats.requests == 2 and {e["auth"] for e in server.stats.log} == {f"Bearer {SECRET}"}


def test_the_key_variable_is_never_read_from_params(env, server):
    """Even built directly (no plan), the retriever sends $OPENAI_API_KEY, never the named variable."""
    from benchmarks.context import RunContext
    from retrievers.openai.retriever import OpenAIEmbeddingRetriever

    r = OpenAIEmbeddingRetriever("ada", {"base_url": server.base_url, "api_key_env": "PROBE_OTHER_SECRET",
                                         **FAST})
    assert r.plan_problems(None) != []
    embed(r, "query", ["a b"], RunContext(cache_dir=Path(env["HARNESS_CACHE_DIR"]), progress=False))
    assert [e["auth"] for e in server.stats.log] == [f"Bearer {SECRET}"]


def test_host_matching_hand_worked():
    from benchmarks.openai_client import host_allowed, suite_endpoint_problems

    assert host_allowed("http://127.0.0.1:8000/v1", ["127.0.0.1"])
    assert host_allowed("http://127.0.0.1:8000/v1", ["127.0.0.1:8000"])
    assert not host_allowed("http://127.0.0.1:8000/v1", ["127.0.0.1:9000"])
    assert host_allowed("https://API.Example.com/v1", ["api.example.com"])
    assert not host_allowed("https://api.example.com.evil.net/v1", ["api.example.com"])
    assert not host_allowed("http://user:pw@evil.net/v1", ["pw", "user"])
    assert suite_endpoint_problems(None, None, []) == []
    assert suite_endpoint_problems(None, "OPENAI_API_KEY", []) == []  # the rule's own variable
    assert len(suite_endpoint_problems("http://h/v1", "X", [])) == 2
    assert suite_endpoint_problems("http://h:1/v1", None, ["h"]) == []
