"""A server that accepts and never answers: bounded waiting, and Ctrl-C that really stops.

Observed on 3ca4cbb: a never-answering server was waited on for up to ~70 minutes (600 s per
attempt, 7 attempts), and Ctrl-C printed "interrupted" and kept running: the requests ran in a
ThreadPoolExecutor, whose worker threads Python joins at exit, so the process waited for the
blocked request's whole timeout. The server's ``hold_after(0)`` accepts every request and holds it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from embedding_server import EmbeddingServer  # noqa: E402
from secret_scan import SECRET, leaks  # noqa: E402
from generate_fakes import _pdf  # noqa: E402


from benchmarks.context import RunContext  # noqa: E402
from retrievers.openai.retriever import AdaParams, OpenAIEmbeddingRetriever  # noqa: E402
from retrievers.openai.embedding_calls import EmbeddingAPIError  # noqa: E402
from benchmarks.encoding import embed  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STOP_WITHIN_S = 60  # far below the old hang (600 s per attempt); a generous bound for a busy machine


@pytest.fixture
def silent():
    with EmbeddingServer() as server:
        server.hold_after(0)
        yield server


def test_default_bound_is_five_minutes_per_request():
    from benchmarks.llm.backends import BackendOptions
    from benchmarks.openai_client import RetryPolicy

    for policy in (RetryPolicy(), OpenAIEmbeddingRetriever("ada", {}).policy()):
        assert policy.max_wait_s == 300 and policy.timeout_s <= policy.max_wait_s
    assert AdaParams().max_wait_s == 300 and BackendOptions().max_wait_s == 300


def test_ada_gives_up_at_max_wait_with_a_clear_message(silent, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    r = OpenAIEmbeddingRetriever("ada", {"base_url": silent.base_url, "max_wait_s": 1.0, "timeout_s": 0.4,
                                         "backoff_base_s": 0.01, "token_counter": "estimate",
                                         "max_inputs_per_request": 1, "concurrency": 1})
    with pytest.raises(EmbeddingAPIError) as err:
        embed(r, "passage", ["a", "b"], RunContext(cache_dir=tmp_path, progress=False))
    message = str(err.value)
    assert "timed out" in message and "no answer within max_wait_s=1 s" in message
    assert "0 of 2 requests in this run succeeded" in message
    assert 1 <= silent.stats.requests <= 3  # attempts of 0.4 s fit 1 s at most ~3 times


def _suite(tmp_path: Path) -> Path:
    suite = {"schema": "suite/v1", "name": "hang", "datasets": [{"name": "tiny", "split": "test"}],
             "metrics": ["hit_rate@1"], "top_k": 3, "baseline": "bm25",
             "retrievers": [{"name": "bm25", "use": "bm25"},
                            {"name": "ada", "use": "ada", "params": {"token_counter": "estimate"}}]}
    path = tmp_path / "hang.yaml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    return path


def _sigint_default() -> None:
    # A shell that starts a job in the background (`cmd &`) sets SIGINT to "ignore" for it, and the
    # ignore is inherited; Python then installs no KeyboardInterrupt handler. The child gets SIGINT's
    # default back so it sees Ctrl-C as a user's terminal would deliver it, however CI was started.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_when_held(proc: subprocess.Popen, server: EmbeddingServer) -> tuple[int, str, str]:
    deadline = time.monotonic() + 120
    while server.held < 1:
        assert proc.poll() is None, f"ended before the request was held: {proc.communicate()}"
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.05)
    time.sleep(0.3)  # inside the blocking read
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running {STOP_WITHIN_S} s after SIGINT; stderr: {err[-800:]}")
    return proc.returncode, out, err


def test_ctrl_c_stops_a_run_blocked_on_a_silent_server(silent, tmp_path, tiny_env):
    env = {**tiny_env, "OPENAI_BASE_URL": silent.base_url, "OPENAI_API_KEY": SECRET,
           "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "harness.py", "run", "--suite", str(_suite(tmp_path)), "--device", "cpu",
         "--results-dir", str(results), "--leaderboard", str(tmp_path / "lb.md")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    try:
        rc, out, err = _interrupt_when_held(proc, silent)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130 and "interrupted" in err and leaks(out + err) == []
    parsed = [json.loads(p.read_text()) for p in results.rglob("*.json")]  # every file complete
    rows = {d["row"]: (d["status"], d.get("reason", "")) for d in parsed if isinstance(d, dict) and "row" in d}
    # The interrupted row is a complete record that says so (never half a record, never "ok").
    assert rows == {"bm25": ("ok", ""), "ada": ("failed", "interrupted (Ctrl-C) before the row finished")}
    leftovers = [p for p in results.rglob("*") if p.suffix == ".tmp" or p.name.startswith(".") and p.suffix != ".lock"]
    assert not leftovers and not [p for p in results.rglob("ada.*") if p.name != "ada.json"]


def _generate(tmp_path: Path, url: str, *flags: str) -> list[str]:
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(_pdf(["one two three four five six"]))
    return [sys.executable, "harness.py", "generate", "--from-pdf", str(pdf), "--out", "hang",
            "--chunk-words", "3", "--chunk-overlap", "0", "--backend", "openai", "--model", "m",
            "--base-url", url, "--data-dir", str(tmp_path / "data"), "--card-dir", str(tmp_path / "cards"),
            *flags]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return {**env, "OPENAI_API_KEY": SECRET, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}


def test_generate_gives_up_at_max_wait_and_writes_nothing(silent, tmp_path):
    proc = subprocess.run(_generate(tmp_path, silent.base_url, "--max-wait-s", "1"), cwd=REPO,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2, proc.stderr
    assert "no answer within max_wait_s=1 s" in proc.stderr and "--max-wait-s" in proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "cards").exists()
    assert leaks(proc.stdout + proc.stderr) == []


def test_ctrl_c_stops_generate_blocked_on_a_silent_server(silent, tmp_path):
    proc = subprocess.Popen(_generate(tmp_path, silent.base_url), cwd=REPO, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    try:
        rc, out, err = _interrupt_when_held(proc, silent)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130 and "interrupted" in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "cards").exists()
