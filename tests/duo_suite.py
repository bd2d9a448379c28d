"""Suite ``duo`` on the tiny data: three rows whose per-query ranks differ, for power and compare tests.

Keyword vectors (tests/fixtures/tiny/plugin) over a vocabulary that lacks a word make that word's
query the zero vector: every doc ties at 0, and the tie rule (doc id descending) ranks
d5 d4 d3 d2 d1. First relevant rank per query (q4 has only a grade-0 judgment: excluded)::

              q1 'apple' (d1)   q2 'cherry' (d3 g2, d2 g1)   q3 'fig' (d4)
    bm25      2 (d5 first)      1 (d3, d2 tie: d3)           2 (no match: d5 d4 ...)
    noapple   5 (d5 d4 d3 d2)   1                            2
    nocherry  2                 3 (d5 d4 d3)                 2

so mrr@5 is bm25 (.5, 1, .5), noapple (.2, 1, .5), nocherry (.5, 1/3, .5); hit_rate@1 is
(0, 1, 0), (0, 1, 0), (0, 0, 0); hit_rate@5 is 1 everywhere.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TINY

DUO_SUITE = """schema: suite/v1
name: duo
datasets:
  - {name: tiny, split: test}
metrics: [hit_rate@1, hit_rate@5, mrr@5]
main_metric: mrr@5
top_k: 5
baseline: bm25
retrievers:
  - {name: bm25, use: bm25}
  - {name: noapple, use: keyword, params: {vocabulary: [banana, cherry, date, elderberry, fig]}}
  - {name: nocherry, use: keyword, params: {vocabulary: [apple, banana, date, elderberry, fig]}}
"""


def keyword_plugin(mp: pytest.MonkeyPatch) -> None:
    """Make the tiny keyword plugin a retriever in this process, undone with ``mp``."""
    from retrievers import RETRIEVERS

    mp.syspath_prepend(str(TINY / "plugin"))
    for attr in ("_objects", "_lazy", "_sources"):  # restored afterwards: no plugin leaks into other tests
        mp.setattr(RETRIEVERS, attr, dict(getattr(RETRIEVERS, attr)))
    mp.setattr(RETRIEVERS, "_entry_points_read", False)


def duo_env(mp: pytest.MonkeyPatch, tmp: Path) -> Path:
    """The duo suite and the tiny data visible; returns the suite file."""
    suites = tmp / "suites"
    suites.mkdir()
    (suites / "duo.yaml").write_text(DUO_SUITE, encoding="utf-8")
    mp.setenv("HARNESS_SUITES_DIR", str(suites))
    mp.setenv("HARNESS_DATA_PATH", str(TINY / "data"))
    mp.setenv("HARNESS_DATASETS_DIR", str(TINY / "cards"))
    mp.setenv("HARNESS_CACHE_DIR", str(tmp / "cache"))
    mp.setenv("HF_HUB_OFFLINE", "1")
    keyword_plugin(mp)
    return suites / "duo.yaml"


def run_duo(tmp: Path, *extra: str) -> Path:
    """Run suite duo into ``tmp/results`` (leaderboard ``tmp/lb.md``); returns the results dir."""
    from benchmarks.cli import main

    results = tmp / "results"
    assert main(["--suite", "duo", *extra, "--results-dir", str(results), "--leaderboard",
                 str(tmp / "lb.md"), "-qq"]) == 0
    return results
