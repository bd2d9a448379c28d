"""No API key reaches stdout, stderr, logs, records, caches or cards, whatever the server echoes.

The server (tests/embedding_server.py) echoes the Authorization header in error messages and in
chat replies. Observed on 3ca4cbb: ``generate --backend openai`` printed the key three times.
Every run below scans its stdout, stderr and every file it wrote for the key in every form
(tests/secret_scan.py: verbatim, lower/upper case, percent-encoded, base64 of user:key etc.).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from embedding_server import EmbeddingServer, Fault  # noqa: E402
from secret_scan import SECRET, forms, leaks, leaks_in_tree  # noqa: E402
from generate_fakes import _pdf  # noqa: E402


REPO = Path(__file__).resolve().parents[2]
ECHO = "overloaded; your header was {auth}"
WORDS = " ".join(f"w{i}" for i in range(12))


def test_redact_every_form_hand_worked(monkeypatch):
    from benchmarks.openai_client import read_key, redact

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    read_key()
    for name, form in forms().items():
        clean = redact(f"said [{form}] here")
        assert leaks(clean) == [], name
        assert clean.startswith("said [") and clean.endswith("] here") and "<redacted>" in clean
    assert redact(f"http://bob:{SECRET}@h:1/v1 and ftp://x@y") == (
        "http://<redacted>@h:1/v1 and ftp://<redacted>@y")
    assert redact("nothing secret in here, sk-other") == "nothing secret in here, sk-other"
    assert redact(f"x {SECRET[:-1]}") == f"x {SECRET[:-1]}"  # a different string is not the key


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update({"HARNESS_CACHE_DIR": str(tmp_path / "cache"), "HARNESS_DATA_PATH": str(tmp_path / "data"),
                "HARNESS_DATASETS_DIR": str(tmp_path / "cards"), "OPENAI_API_KEY": SECRET, **extra})
    return env


def _generate(tmp_path: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(_pdf([WORDS]))
    return subprocess.run(
        [sys.executable, "harness.py", "generate", "--from-pdf", str(pdf), "--out", "probe",
         "--chunk-words", "4", "--chunk-overlap", "0", "--backend", "openai", "--model", "m",
         "--data-dir", str(tmp_path / "data"), "--card-dir", str(tmp_path / "cards"), *flags],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def _assert_clean(proc: subprocess.CompletedProcess, tmp_path: Path) -> None:
    assert leaks(proc.stdout) == [] and leaks(proc.stderr) == [], proc.stdout + proc.stderr
    assert leaks_in_tree(tmp_path) == {}


def test_generate_openai_redacts_errors_replies_caches_and_cards(tmp_path):
    with EmbeddingServer(chat_reply="1. Is {auth} the key?\n2. Why?", chat_model="served {auth}") as server:
        server.script(Fault("500", message=ECHO), Fault("500", message=ECHO))
        proc = _generate(tmp_path, _env(tmp_path, OPENAI_BASE_URL=server.base_url), "--answers")
        assert server.stats.log[0]["auth"] == f"Bearer {SECRET}"  # the server did have the key to echo
    _assert_clean(proc, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "HTTP 500" in proc.stderr and "<redacted>" in proc.stderr  # the warning is there, blanked
    assert (tmp_path / "data" / "probe" / "doc.json").is_file()
    assert (tmp_path / "cards" / "probe.yaml").is_file()


def test_generate_openai_refusal_is_redacted(tmp_path):
    with EmbeddingServer() as server:
        server.script(Fault("401", message="Incorrect API key provided: {auth}"))
        proc = _generate(tmp_path, _env(tmp_path, OPENAI_BASE_URL=server.base_url))
    _assert_clean(proc, tmp_path)
    assert proc.returncode == 2 and "refused" in proc.stderr and "HTTP 401" in proc.stderr


@pytest.mark.parametrize("given_by", ["env", "flag"])
def test_generate_key_in_url_userinfo_is_redacted(tmp_path, given_by):
    with EmbeddingServer(chat_reply="1. {auth}?\n2. Why?") as server:
        url = server.base_url.replace("http://", f"http://user:{SECRET}@")
        if given_by == "env":
            proc = _generate(tmp_path, _env(tmp_path, OPENAI_BASE_URL=url, OPENAI_API_KEY="unrelated"))
        else:  # the card's get_command and the record's command quote the flags
            proc = _generate(tmp_path, _env(tmp_path, OPENAI_API_KEY="unrelated"), "--base-url", url)
        assert server.stats.log[0]["auth"].startswith("Basic ")  # httpx sends the userinfo
    _assert_clean(proc, tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "data" / "probe" / "generation.json").read_text())
    assert record["generator"]["identity"]["base_url"] == server.base_url  # no credentials


def test_ada_in_a_run_redacts_records_logs_and_caches(tmp_path, tiny_env):
    with EmbeddingServer() as server:
        server.script(*[Fault("500", message=ECHO)] * 4)
        url = server.base_url.replace("http://", f"http://user:{SECRET}@")
        suite = {"schema": "suite/v1", "name": "probe", "datasets": [{"name": "tiny", "split": "test"}],
                 "metrics": ["hit_rate@1"], "top_k": 3, "baseline": "bm25",
                 "retrievers": [{"name": "bm25", "use": "bm25"},
                                {"name": "ada", "use": "ada", "params": {
                                    "max_retries": 1, "backoff_base_s": 0.01, "token_counter": "estimate"}}]}
        (tmp_path / "probe.yaml").write_text(yaml.safe_dump(suite), encoding="utf-8")
        env = {**_env(tmp_path, OPENAI_BASE_URL=url), **{k: tiny_env[k] for k in (
            "HARNESS_DATA_PATH", "HARNESS_DATASETS_DIR", "PYTHONPATH")}}
        proc = subprocess.run(
            [sys.executable, "harness.py", "run", "--suite", str(tmp_path / "probe.yaml"), "--device", "cpu",
             "--results-dir", str(tmp_path / "results"), "--leaderboard", str(tmp_path / "lb.md")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
        assert server.stats.requests == 2 and server.stats.log[0]["auth"].startswith("Basic ")
    _assert_clean(proc, tmp_path)
    assert proc.returncode == 1  # the ada row failed, bm25 ran
    parsed = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    ada = [(r["status"], "HTTP 500" in r["reason"]) for r in parsed
           if isinstance(r, dict) and r.get("row") == "ada"]
    assert ada == [("failed", True)]


def test_e2e_answer_path_redacts_warnings_and_cache(tmp_path, monkeypatch, caplog):
    """e2e generates answers with generate_answers and this backend (answer_backend: openai)."""
    from benchmarks.llm.backends import BackendOptions, OpenAIBackend, Sampling
    from benchmarks.llm.prompts import load_prompt
    from benchmarks.llm.qa import generate_answers
    from benchmarks.openai_client import RetryPolicy

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    with EmbeddingServer(chat_reply="It is {auth}.") as server:
        server.script(*[Fault("500", message=ECHO)] * 3)
        backend = OpenAIBackend(BackendOptions(model="m", base_url=server.base_url))
        backend.policy = RetryPolicy(max_retries=1, backoff_base_s=0.01)
        with caplog.at_level(logging.DEBUG):
            answers, stats, _ = generate_answers([("q1", "what?", "p one"), ("q2", "who?", "p two")], backend,
                                                 load_prompt("answers", None), Sampling(8), progress=False)
    assert leaks(caplog.text) == [] and leaks(json.dumps(answers)) == []
    assert leaks_in_tree(tmp_path) == {}
    assert stats.failed == 1 and list(answers) == ["q2"]
    assert "HTTP 500" in caplog.text
