"""protocol: dalm on tiny hand-made data: the unique-passage corpus, relevance by passage text
(duplicate texts count as hits), the >= 0 similarity filter, DALM's own formulas, and the ANN
recall, each checked against a transcription of DALM's code (tests/dalm_reference.py)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import protocol
from benchmarks.context import RunContext, SearchSettings
from benchmarks.dalm_eval import dalm_metrics, dalm_search_run, dalm_view
from benchmarks.metrics import evaluate
from benchmarks.suites import DatasetEntry
from benchmarks.types import Doc, Split

pytest.importorskip("hnswlib")
from dalm_reference import dalm_evaluate, dalm_filter_unique_passages  # noqa: E402


# --- helpers ------------------------------------------------------------------------------------

def ctx() -> RunContext:
    return RunContext(device="cpu", progress=False, search=SearchSettings(protocol="dalm"))


def search(view: Split, qvec: dict[str, np.ndarray], pvec: dict[str, np.ndarray], k: int,
           c: RunContext | None = None):
    c = c or ctx()
    doc_ids, qids = list(view.corpus), list(view.queries)
    run = dalm_search_run(np.stack([qvec[view.queries[q]] for q in qids]),
                          np.stack([pvec[view.corpus[d].full_text()] for d in doc_ids]), qids, doc_ids, k, c)
    return run, c


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, np.float32)
    return v / np.linalg.norm(v)


# --- the view: unique-passage corpus, rows, text relevance ------------------------------------

SPLIT = Split(
    corpus={"a": Doc("alpha"), "b": Doc("beta"), "c": Doc("alpha"), "z": Doc("zeta"),
            "t": Doc("gamma", title="T")},
    queries={"q1": "one", "q2": "two", "q3": "three", "q4": "four", "q5": "five", "q6": "six"},
    qrels={"q1": {"a": 1}, "q2": {"c": 1}, "q3": {"b": 1}, "q4": {"z": 0}, "q5": {"a": 1, "t": 2},
           "q6": {"b": 1}},
)


def test_view_corpus_is_the_unique_passage_texts_of_the_rows_in_dalms_order():
    view = dalm_view(SPLIT)
    # Rows as DALM's CSV would hold them: one per (query, relevant passage); q4 has none (grade 0).
    assert list(view.queries) == ["q1", "q2", "q3", "q5#1", "q5#2", "q6"]
    rows_passages = ["alpha", "alpha", "beta", "alpha", "T gamma", "beta"]
    # The corpus is exactly DALM's filter_unique_passages of those rows, in its order; z (judged by no
    # row) is not in it, and c ("alpha" again) is merged into a, the first document with that text.
    assert [d.full_text() for d in view.corpus.values()] == dalm_filter_unique_passages(rows_passages)
    assert list(view.corpus) == ["a", "b", "t"]
    assert view.qrels == {"q1": {"a": 1}, "q2": {"a": 1}, "q3": {"b": 1}, "q5#1": {"a": 1}, "q5#2": {"t": 1},
                          "q6": {"b": 1}}
    assert {k: v for k, v in view.notes.items() if k.startswith("dalm")} == {
        "dalm_rows": 6, "dalm_passages": 3, "dalm_docs_not_judged": 1, "dalm_duplicate_texts_merged": 1,
        "dalm_queries_without_relevant": 1, "dalm_queries_with_several_relevant": 1}
    assert protocol.view(DatasetEntry(name="x", split="test"), SPLIT, 1) is SPLIT  # harness: as loaded


def test_relevance_level_decides_what_a_row_is():
    view = dalm_view(SPLIT, relevance_level=2)  # only q5's t has grade 2
    assert view.qrels == {"q5": {"t": 1}} and list(view.corpus) == ["t"]


def test_duplicate_passage_texts_count_as_hits():
    # q2's relevant document is c, whose text equals a's. DALM indexes "alpha" once and compares
    # texts, so retrieving it is a hit for q2 as for q1; by document id it would be a miss for one.
    view = dalm_view(SPLIT)
    pvec = {"alpha": unit(1, 0, 0), "beta": unit(0, 1, 0), "T gamma": unit(0, 0, 1)}
    qvec = {"one": unit(1, .1, 0), "two": unit(1, 0, .1), "three": unit(0, 1, .1), "five": unit(.9, 0, 1),
            "six": unit(.1, 1, 0)}
    run, _ = search(view, qvec, pvec, 1)
    assert run["q2"] == {"a": pytest.approx(float(qvec["two"] @ pvec["alpha"]))}
    ev = evaluate(view.qrels, run, ["recall@1", "hit_rate@1"])
    assert ev.per_query["hit_rate@1"]["q2"] == 1.0
    assert evaluate({"q2": {"c": 1}}, {"q2": run["q2"]}, ["hit_rate@1"]).metrics["hit_rate@1"] == 0.0  # by id
    # q5 has two relevant passages, so two rows: "five" ranks "T gamma" first, a miss for row q5#1.
    assert ev.per_query["hit_rate@1"] == {"q1": 1.0, "q2": 1.0, "q3": 1.0, "q5#1": 0.0, "q5#2": 1.0,
                                          "q6": 1.0}
    rows = [("one", "alpha"), ("two", "alpha"), ("three", "beta"), ("five", "alpha"), ("five", "T gamma"),
            ("six", "beta")]
    ours = dalm_metrics(view, run)
    want = dalm_evaluate(rows, qvec, pvec, 1)
    assert {k: ours[k] for k in want} == pytest.approx(want)
    assert ours["recall"] == pytest.approx(ev.metrics["recall@1"]) == pytest.approx(5 / 6)


def test_hits_below_zero_similarity_are_dropped_as_dalm_does():
    # One query [1, 0] and four passages with inner products 0.6, -0.6, -1, 0 and -1e-9.
    split = Split(corpus={f"d{i}": Doc(f"p{i}") for i in range(5)}, queries={f"r{i}": "q" for i in range(5)},
                  qrels={f"r{i}": {f"d{i}": 1} for i in range(5)})
    view = dalm_view(split)
    pvec = {"p0": unit(.6, .8), "p1": unit(-.6, .8), "p2": unit(-1, 0), "p3": unit(0, 1),
            "p4": np.array([-1e-9, 1], np.float32)}
    qvec = {"q": unit(1, 0)}
    run, c = search(view, qvec, pvec, 5)
    # Kept: 1 - distance >= 0 in float32, as DALM computes it. -1e-9 gives distance 1 + 1e-9, which
    # rounds to 1.0 in float32, so DALM keeps that passage too (similarity 0.0 >= 0).
    assert set(run["r0"]) == {"d0", "d3", "d4"}
    assert c.stats["dalm_hits_below_min_similarity"] == 5 * 2 and c.stats["dalm_rows_short_of_k"] == 5
    ours = dalm_metrics(view, run)
    want = dalm_evaluate([("q", f"p{i}") for i in range(5)], qvec, pvec, 5)
    assert {k: ours[k] for k in want} == pytest.approx(want)
    # DALM's precision divides by the hits kept (3), the harness's precision@5 by 5.
    assert ours["precision"] == pytest.approx(3 * (1 / 3) / 5)
    assert evaluate(view.qrels, run, ["precision@5"]).metrics["precision@5"] == pytest.approx(3 * (1 / 5) / 5)
    assert ours["hit_rate"] == pytest.approx(3 / 5) and ours["rows_without_hits"] == 0


def test_random_data_matches_the_transcription_and_exact_search():
    rng = np.random.default_rng(0)
    texts = [f"p{i}" for i in range(60)]
    pvec = {t: unit(*rng.standard_normal(16)) for t in texts}
    docs = {f"d{i}": Doc(texts[i % 60]) for i in range(80)}  # d60..d79 repeat the texts of d0..d19
    gold = rng.integers(0, 80, 50)
    queries = {f"q{i}": f"question {i}" for i in range(50)}
    qvec = {f"question {i}": unit(*(pvec[docs[f"d{g}"].text] + 0.9 * rng.standard_normal(16)))
            for i, g in enumerate(gold)}
    split = Split(corpus=docs, queries=queries, qrels={f"q{i}": {f"d{g}": 1} for i, g in enumerate(gold)})
    view = dalm_view(split)
    run, c = search(view, qvec, pvec, 10)
    rows = [(queries[f"q{i}"], docs[f"d{g}"].text) for i, g in enumerate(gold)]
    want = dalm_evaluate(rows, qvec, pvec, 10)
    ev = evaluate(view.qrels, run, ["recall@10", "hit_rate@10", "precision@10"])
    ours = dalm_metrics(view, run)
    assert 0.3 < want["recall"] < 0.95  # neither trivial nor hopeless
    assert {k: ours[k] for k in want} == pytest.approx(want)
    assert ev.metrics["recall@10"] == pytest.approx(want["recall"])
    assert ev.metrics["hit_rate@10"] == pytest.approx(want["hit_rate"])
    assert c.stats["ann_recall@k"] == 1.0  # M 100 / ef 100 over at most 60 passages: exact


def test_ann_recall_is_measured_against_exact_search_on_the_same_queries(monkeypatch):
    monkeypatch.setitem(protocol.DALM_HNSW, "M", 4)  # a deliberately weak graph, so HNSW misses
    monkeypatch.setitem(protocol.DALM_HNSW, "ef_construction", 10)
    monkeypatch.setitem(protocol.DALM_HNSW, "ef_search", 10)
    rng = np.random.default_rng(3)
    n = 400  # every passage is some row's, so all 400 are in the corpus
    pvec = {f"p{i}": np.abs(rng.standard_normal(8)).astype(np.float32) for i in range(n)}  # all scores >= 0
    qvec = {f"x{i}": np.abs(rng.standard_normal(8)).astype(np.float32) for i in range(n)}
    split = Split(corpus={f"d{i}": Doc(f"p{i}") for i in range(n)},
                  queries={f"q{i}": f"x{i}" for i in range(n)},
                  qrels={f"q{i}": {f"d{i}": 1} for i in range(n)})
    view = dalm_view(split)
    run, c = search(view, qvec, pvec, 10)
    pm = np.stack(list(pvec.values()))
    exact = {f"q{i}": {f"d{j}" for j in np.argsort(-(pm @ qvec[f"x{i}"]), kind="stable")[:10]}
             for i in range(n)}
    want = np.mean([len(set(run[q]) & exact[q]) / 10 for q in exact])
    assert 0 < want < 1
    assert c.stats["ann_recall@k"] == pytest.approx(want)


def test_a_view_row_id_that_collides_with_a_query_id_is_an_error():
    from benchmarks.errors import DataError

    split = Split(corpus={"a": Doc("x"), "b": Doc("y")}, queries={"q": "one", "q#1": "two"},
                  qrels={"q": {"a": 1, "b": 1}, "q#1": {"a": 1}})
    with pytest.raises(DataError, match="q#1"):
        dalm_view(split)


# --- where the protocol is set, and what it changes in settings and fingerprints ---------------

def suite(**extra):
    from benchmarks.suites import Suite

    return Suite.model_validate({
        "schema": "suite/v1", "name": "s", "metrics": ["recall@10"],
        "retrievers": [{"name": "r", "use": "bm25"}],
        "datasets": [{"name": "tiny", "split": "test"},
                     {"name": "tiny", "split": "test", "id": "t2", "protocol": "harness"}],
        **extra})


def test_a_suite_protocol_is_the_default_of_its_entries():
    from benchmarks.runner import suite_settings

    assert [d.protocol for d in suite().datasets] == ["harness", "harness"]
    s = suite(protocol="dalm")
    assert [d.protocol for d in s.datasets] == ["dalm", "harness"]  # the entry's own wins
    assert suite_settings(s, s.datasets[0])["search"] == {"ann": protocol.DALM_HNSW}
    assert suite_settings(s, s.datasets[1])["search"] == "exact" == suite_settings(s)["search"]
    with_ann = suite(protocol="dalm", ann={"M": 8})
    assert suite_settings(with_ann, with_ann.datasets[0])["search"]["ann"]["library"] == "hnswlib"
    assert suite_settings(with_ann, with_ann.datasets[1])["search"] == {
        "ann": {"M": 8, "ef_construction": 200, "ef_search": 128}}


def test_harness_fingerprints_keep_their_hash_and_dalm_ones_differ():
    from benchmarks.fingerprint import differences, evaluation_fingerprint

    s = suite()
    harness_entry, dalm_entry = s.datasets[0], s.datasets[0].model_copy(update={"protocol": "dalm"})
    settings = {"metrics": ["recall@10"], "top_k": 10, "search": "exact"}
    before = evaluation_fingerprint(dataset_id="tiny", split_name="test", split=SPLIT, settings=settings,
                                    relevance_level=1)
    same = evaluation_fingerprint(dataset_id="tiny", split_name="test", split=SPLIT, settings=settings,
                                  relevance_level=1, protocol=protocol.fingerprint_value(harness_entry))
    dalm = evaluation_fingerprint(dataset_id="tiny", split_name="test", split=SPLIT, settings=settings,
                                  relevance_level=1, protocol=protocol.fingerprint_value(dalm_entry))
    assert same == before and "protocol" not in same
    assert differences(dalm, before) == ["protocol dalm v1, baseline harness"]


def test_without_hnswlib_a_dalm_entry_stops_the_plan(monkeypatch, tiny_env):
    import importlib.util

    from benchmarks.plan import PlanError, plan
    from benchmarks.runner import RunOptions

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "hnswlib" else real(name, *a))
    with pytest.raises(PlanError, match=r"dataset tiny: protocol dalm searches with hnswlib, which is not "):
        plan([suite(protocol="dalm")], RunOptions())
    plan([suite()], RunOptions())  # the harness protocol does not need it


def test_only_rows_that_reach_dalms_search_run_under_it():
    from retrievers import RETRIEVERS
    from retrievers.base import DenseRetriever

    class OwnSearch(DenseRetriever):
        def retrieve(self, corpus, queries, k, ctx):
            return {}

    dalm, harness = DatasetEntry(name="x", split="t", protocol="dalm"), DatasetEntry(name="x", split="t")
    dense = RETRIEVERS.get("bge")("plain", {"model": "minilm-l6"})
    assert protocol.refusal(dalm, dense) is None and protocol.refusal(harness, OwnSearch("own")) is None
    assert "ranks passages by its own means" in protocol.refusal(dalm, OwnSearch("own"))
    assert "ranks passages by its own means" in protocol.refusal(dalm, RETRIEVERS.get("bm25")("bm25"))
    int8 = RETRIEVERS.get("bge")("q", {"model": "minilm-l6", "quantize": "int8"})
    assert "searches float vectors" in protocol.refusal(dalm, int8)
