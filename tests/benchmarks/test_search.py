"""Exact and HNSW top-k, recall, and the run builder's tie rule, on hand-worked cases."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import search
from benchmarks.ann import hnsw_topk, recall_against
from benchmarks.context import RunContext, SearchSettings
from benchmarks.search import canonical_scores, exact_topk, search_run

CHUNKS = [(1, 1), (1, 2), (2, 3), (3, 5), (4096, 65536)]


def reference_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: full sort of each row by (score desc, index asc)."""
    kk = min(k, scores.shape[1])
    idx = np.array([np.lexsort((np.arange(len(r)), -r))[:kk] for r in scores]).reshape(len(scores), kk)
    return np.take_along_axis(scores, idx, 1), idx


@pytest.fixture(params=["numpy", "torch"])
def topk(request):
    """exact_topk through each engine; the torch one (used for CUDA) runs on the CPU here."""
    if request.param == "numpy":
        return exact_topk

    def run(q, d, k, *, query_chunk=4096, doc_chunk=65536):
        q, d = search._inputs(q, d)
        engine = search._TorchEngine(q, d, "cpu")
        return search._exact(q, d, k, query_chunk, doc_chunk, engine, False)
    return run


@pytest.mark.parametrize("qc,dc", CHUNKS)
def test_hand_worked_ties_straddle_k_and_chunk_boundaries(topk, qc, dc):
    q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    # scores for query 0 (first coordinate): 1, 3, 3, 2, 3, 1 -> the three 3s are tied
    # scores for query 1 (second coordinate): 0, 0, 5, 0, 0, 5
    d = np.array([[1, 0], [3, 0], [3, 5], [2, 0], [3, 0], [1, 5]], np.float32)
    s, i = topk(q, d, 2, query_chunk=qc, doc_chunk=dc)
    np.testing.assert_array_equal(i, [[1, 2], [2, 5]])  # of the tied 3s, the two lowest indices
    np.testing.assert_array_equal(s, [[3, 3], [5, 5]])
    s, i = topk(q, d, 4, query_chunk=qc, doc_chunk=dc)
    np.testing.assert_array_equal(i, [[1, 2, 4, 3], [2, 5, 0, 1]])
    np.testing.assert_array_equal(s, [[3, 3, 3, 2], [5, 5, 0, 0]])
    assert s.dtype == np.float32 and i.dtype == np.int64


@pytest.mark.parametrize("qc,dc", CHUNKS)
def test_k_larger_than_corpus_returns_all_docs_sorted(topk, qc, dc):
    q = np.array([[1.0, 1.0]], np.float32)
    d = np.array([[0, 1], [2, 2], [-1, 0]], np.float32)  # scores 1, 4, -1
    s, i = topk(q, d, 10, query_chunk=qc, doc_chunk=dc)
    np.testing.assert_array_equal(i, [[1, 0, 2]])
    np.testing.assert_array_equal(s, [[4, 1, -1]])
    assert topk(q, d[:0], 5)[1].shape == (1, 0) and topk(q, d, 0)[0].shape == (1, 0)


def test_canonical_score_sums_in_float64_in_dimension_order():
    q = np.array([[1e8, 1.0, -1e8]], np.float32)
    d = np.array([[1.0, 1.0, 1.0]], np.float32)
    # float32 arithmetic loses the 1 (1e8 + 1 rounds back to 1e8); float64 keeps it
    assert canonical_scores(q, d, np.array([0]), np.array([0]))[0] == 1.0
    docs = np.vstack([d, [[0, 0.5, 0]]]).astype(np.float32)
    s, i = exact_topk(q, docs, 2)
    np.testing.assert_array_equal(s, [[1.0, 0.5]])
    np.testing.assert_array_equal(i, [[0, 1]])
    # BLAS may score doc 0 as 0 < 0.5: the filter's error margin must still let it through
    s, i = exact_topk(q, docs, 1)
    assert (s[0, 0], i[0, 0]) == (1.0, 0)


@pytest.mark.parametrize("qc,dc", [(1, 7), (5, 64), (64, 65), (4096, 65536)])
def test_identical_float_vectors_tie_exactly_in_any_chunk(topk, qc, dc):
    """BLAS gives copies of one vector slightly different float32 scores depending on their
    column; the reported scores must not, and the copies must come out in index order."""
    rng = np.random.default_rng(3)
    q = rng.standard_normal((9, 384)).astype(np.float32)
    d = rng.standard_normal((300, 384)).astype(np.float32)
    copies = [3, 64, 65, 130, 299]
    d[copies] = q[0] * 10  # far above every other doc for query 0
    s, i = topk(q, d, 3, query_chunk=qc, doc_chunk=dc)
    np.testing.assert_array_equal(i[0], copies[:3])
    assert s[0, 0] == s[0, 1] == s[0, 2]
    s, i = topk(q, d, 6, query_chunk=qc, doc_chunk=dc)
    np.testing.assert_array_equal(i[0, :5], copies)
    assert len(set(s[0, :5].tolist())) == 1


def random_with_duplicates(rng, n, dim, integer):
    x = rng.integers(-2, 3, (n, dim)) if integer else rng.standard_normal((n, dim))
    x = x.astype(np.float32)
    x[rng.integers(0, n, n // 2)] = x[rng.integers(0, n, n // 2)]  # many duplicated rows
    return x


@pytest.mark.parametrize("integer", [True, False])
def test_equals_brute_force_sort_on_random_data(topk, integer):
    rng = np.random.default_rng(11 if integer else 12)
    for _ in range(12):
        nq, nd, dim = (int(v) for v in rng.integers(1, [30, 200, 12]))
        q, d = random_with_duplicates(rng, nq, dim, integer), random_with_duplicates(rng, nd, dim, integer)
        qi, di = np.repeat(np.arange(nq), nd), np.tile(np.arange(nd), nq)
        # integer data: the plain product is exact; float data: brute force over canonical scores
        full = (q @ d.T) if integer else canonical_scores(q, d, qi, di).reshape(nq, nd)
        for k in (1, 5, 250):
            want_s, want_i = reference_topk(full, k)
            for qc, dc in [(int(rng.integers(1, 40)), int(rng.integers(1, 250))), (4096, 65536)]:
                s, i = topk(q, d, k, query_chunk=qc, doc_chunk=dc)
                np.testing.assert_array_equal(i, want_i)
                np.testing.assert_array_equal(s, want_s)


def test_small_candidate_groups_and_samples_give_the_same_answer(topk, monkeypatch):
    """Force the paths big inputs take: several candidate groups per block, sampled thresholds,
    rescoring in pieces, and the sort fallback for rows with very uneven candidate counts."""
    monkeypatch.setattr(search, "_GROUP", 5)
    monkeypatch.setattr(search, "_SAMPLE", 3)
    monkeypatch.setattr(search, "_RESCORE", 7)
    rng = np.random.default_rng(5)
    q = rng.integers(-1, 2, (25, 4)).astype(np.float32)
    d = rng.integers(-1, 2, (900, 4)).astype(np.float32)
    q[0] = 0  # all 900 scores tie for this row: a maximally uneven candidate count
    for k in (1, 4, 17):
        want_s, want_i = reference_topk(q @ d.T, k)
        for qc, dc in [(3, 500), (25, 900), (7, 64)]:
            s, i = topk(q, d, k, query_chunk=qc, doc_chunk=dc)
            np.testing.assert_array_equal(i, want_i)
            np.testing.assert_array_equal(s, want_s)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        exact_topk(np.array([[np.nan]], np.float32), np.ones((2, 1), np.float32), 1)
    with pytest.raises(ValueError, match="one dimension"):
        exact_topk(np.ones((1, 2)), np.ones((2, 3)), 1)


def test_recall_against_hand_worked():
    approx = np.array([[1, 2, 3], [4, 5, -1]])
    exact = np.array([[3, 2, 9], [7, 8, 9]])
    assert recall_against(approx, exact) == pytest.approx((2 / 3 + 0) / 2)
    assert recall_against(exact, exact) == 1.0


def test_hnsw_is_deterministic_and_exact_on_an_easy_case():
    rng = np.random.default_rng(0)
    d = rng.standard_normal((400, 16)).astype(np.float32)
    q = rng.standard_normal((30, 16)).astype(np.float32)
    s1, i1 = hnsw_topk(q, d, 5, M=8, ef_construction=40, ef_search=400)
    s2, i2 = hnsw_topk(q, d, 5, M=8, ef_construction=40, ef_search=400)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(s1, s2)
    _, exact_i = exact_topk(q, d, 5)
    assert recall_against(i1, exact_i) == 1.0  # ef_search covers the whole corpus
    assert hnsw_topk(q, d, 999)[1].shape == (30, 400)


def ctx_for(ann=None) -> RunContext:
    search_settings = SearchSettings(query_chunk=2, doc_chunk=3, ann=ann)
    return RunContext(device="cpu", progress=False, search=search_settings)


def test_search_run_breaks_ties_by_doc_id_descending():
    # scores for q1: a=1, c=2, b=2, d=2, e=0 -> the tied 2s by id descending: d, c, b
    doc_ids = ["a", "c", "b", "d", "e"]
    docs = np.array([[1.0], [2.0], [2.0], [2.0], [0.0]], np.float32)
    queries = np.array([[1.0], [-1.0]], np.float32)
    run = search_run(queries, docs, ["q1", "q2"], doc_ids, 3, ctx_for())
    assert list(run["q1"].items()) == [("d", 2.0), ("c", 2.0), ("b", 2.0)]
    assert list(run["q2"].items()) == [("e", 0.0), ("a", -1.0), ("d", -2.0)]  # d > c > b
    with pytest.raises(ValueError, match="unique"):
        search_run(queries, docs[:2], ["q1", "q2"], ["a", "a"], 1, ctx_for())


def test_search_run_ann_records_recall():
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((300, 8)).astype(np.float32)
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    ids = [f"d{i:03d}" for i in range(300)]
    ctx = ctx_for({"M": 4, "ef_construction": 8, "ef_search": 1})  # deliberately weak graph
    run = search_run(queries, docs, [f"q{i}" for i in range(20)], ids, 10, ctx)
    exact = search_run(queries, docs, [f"q{i}" for i in range(20)], ids, 10, ctx_for())
    want = np.mean([len(set(run[q]) & set(exact[q])) / 10 for q in exact])
    assert 0 < want < 1  # the weak graph really misses some
    assert ctx.stats["ann_recall@k"] == pytest.approx(want)


def test_search_run_ann_recall_uses_a_sample_of_1000_queries(monkeypatch):
    seen = []
    real = search.exact_topk

    def spy(q, *a, **kw):
        seen.append(len(q))
        return real(q, *a, **kw)
    monkeypatch.setattr(search, "exact_topk", spy)
    rng = np.random.default_rng(2)
    docs = rng.standard_normal((50, 4)).astype(np.float32)
    queries = rng.standard_normal((1200, 4)).astype(np.float32)
    ctx = ctx_for({"M": 8, "ef_construction": 40, "ef_search": 64})
    search_run(queries, docs, [f"q{i}" for i in range(1200)], [str(i) for i in range(50)], 3, ctx)
    assert seen == [1000]
    assert ctx.stats["ann_recall@k"] == 1.0  # ef_search >= corpus size: exact
