"""Metrics: hand-worked cases, a cross-check against pytrec_eval (trec_eval), and invariants."""
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.errors import ConfigError, DataError
from benchmarks.metrics import Metric, evaluate, parse_metric, parse_metrics, top_k

# ---- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    ("ndcg@10", "ndcg@10"), ("nDCG@10", "ndcg@10"), (" MRR@5 ", "mrr@5"),
    ("hit@1", "hit_rate@1"), ("success@5", "hit_rate@5"), ("accuracy@3", "hit_rate@3"),
    ("hit_rate@10", "hit_rate@10"), ("P@5", "precision@5"), ("precision@5", "precision@5"),
    ("recip_rank@10", "mrr@10"), ("ndcg_cut_10", "ndcg@10"), ("ndcg_cut.10", "ndcg@10"),
    ("map_cut_100", "map@100"), ("P_5", "precision@5"), ("recall.20", "recall@20"),
    ("MAP@1000", "map@1000"), ("hit_rate_3", "hit_rate@3"),
])
def test_parse_metric_names(text, canonical):
    assert str(parse_metric(text)) == canonical


@pytest.mark.parametrize("text, fragment", [
    ("ndgc@10", "did you mean 'ndcg@10'"),    # typo gets a suggestion with the same cutoff
    ("mrr", "needs a cutoff"), ("recip_rank", "needs a cutoff"), ("nDCG", "'ndcg@10'"),
    ("ndcg@0", ">= 1"), ("ndcg@-1", "not a positive integer"),
    ("ndcg@ten", "not a positive integer"),
    ("bpref@10", "unknown metric"), ("", "cannot parse"),
])
def test_parse_metric_errors(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_metric(text)
    assert fragment in str(info.value)


def test_parse_metrics_list_and_commas():
    assert [str(m) for m in parse_metrics("mrr@10, hit@1,,success@1,ndcg@10,")] == [
        "mrr@10", "hit_rate@1", "ndcg@10"]  # success@1 is hit@1 again: dropped, first place kept
    assert parse_metrics(["P@5", Metric("precision", 5), "recall@5"]) == [
        Metric("precision", 5), Metric("recall", 5)]


def test_metric_object():
    m = Metric("ndcg", 10)
    assert str(m) == "ndcg@10" and m == parse_metric("NDCG@10")
    assert hash(m) == hash(parse_metric("ndcg_cut_10"))
    assert sorted([Metric("recall", 5), Metric("mrr", 10), Metric("mrr", 5)])[0] == Metric("mrr", 5)
    with pytest.raises(ConfigError):
        Metric("ndcg", 0)
    with pytest.raises(ConfigError):
        Metric("hit", 1)  # aliases are for parsing; the object holds canonical names only


# ---- hand-worked cases ------------------------------------------------------------------------

QRELS = {
    "tie": {"a": 1},
    "graded": {"x": 3, "y": 1, "z": 2, "w": 0},
    "missing": {"m": 1},   # not in the run: scores 0 everywhere
    "norel": {"n": 0},     # nothing relevant: excluded
}
RUN = {
    # d first; a, b, c tie at 0.5 and go by doc id descending: ranking d, c, b, a.
    # (Ascending would give d, a, b, c and put "a" at rank 2: the tests below would fail.)
    "tie": {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.9},
    # ranking y (grade 1), w (0), x (3), u (unjudged); z (2) never retrieved
    "graded": {"y": 0.9, "w": 0.8, "x": 0.7, "u": 0.6},
    "norel": {"n": 1.0},
    "extra": {"e": 1.0},   # no qrels: ignored
}
LOG2_3 = math.log2(3)
# "graded" ndcg@3: DCG = 1/log2(2) + 0/log2(3) + 3/log2(4) = 1 + 0 + 1.5 = 2.5
#                  IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.26186 + 0.5 = 4.76186
NDCG3_GRADED = 2.5 / (3 + 2 / LOG2_3 + 0.5)
EXPECTED = {  # metric: (tie, graded, missing)
    "hit_rate@1": (0, 1, 0),
    "hit_rate@3": (0, 1, 0),               # "a" is at rank 4
    "hit_rate@4": (1, 1, 0),
    "mrr@3": (0, 1, 0),
    "mrr@10": (1 / 4, 1, 0),
    "recall@3": (0, 2 / 3, 0),             # graded: R = 3 (x, y, z); x and y in the top 3
    "recall@4": (1, 2 / 3, 0),
    "precision@3": (0, 2 / 3, 0),
    "precision@10": (1 / 10, 2 / 10, 0),   # only 4 docs returned, still divided by 10
    "map@2": (0, (1 / 1) / 3, 0),          # graded: y at rank 1 -> P@1 = 1; divided by R = 3
    "map@10": (1 / 4, (1 / 1 + 2 / 3) / 3, 0),  # graded: y at 1 (P=1), x at 3 (P=2/3)
    "ndcg@1": (0, 1 / 3, 0),               # graded: DCG = 1 (y), IDCG = 3 (x)
    "ndcg@3": (0, NDCG3_GRADED, 0),
    "ndcg@10": (1 / math.log2(5), 2.5 / (3 + 2 / LOG2_3 + 0.5), 0),  # tie: a at rank 4
}


def test_hand_worked_values():
    ev = evaluate(QRELS, RUN, list(EXPECTED))
    assert ev.n_queries == 3
    assert ev.excluded_no_relevant == ["norel"] and ev.missing_in_run == ["missing"]
    assert ev.not_in_qrels == ["extra"]
    assert list(ev.metrics) == list(EXPECTED)
    for name, (tie, graded, missing) in EXPECTED.items():
        assert ev.per_query[name] == pytest.approx({"tie": tie, "graded": graded, "missing": missing},
                                                   abs=1e-12), name
        assert ev.metrics[name] == pytest.approx((tie + graded + missing) / 3, abs=1e-12), name


def test_relevance_level_two():
    # Level 2: relevant are x (3) and z (2), R = 2; x is at rank 3. "tie" and "missing" have no
    # grade >= 2 and are excluded. nDCG still uses raw grades (y's 1 counts), as trec_eval does.
    ev = evaluate(QRELS, RUN, ["mrr@10", "recall@3", "precision@3", "map@10", "ndcg@3"],
                  relevance_level=2)
    assert ev.n_queries == 1 and ev.excluded_no_relevant == ["tie", "missing", "norel"]
    assert ev.metrics == pytest.approx({"mrr@10": 1 / 3, "recall@3": 1 / 2, "precision@3": 1 / 3,
                                        "map@10": (1 / 3) / 2, "ndcg@3": NDCG3_GRADED}, abs=1e-12)


def test_top_k_order_and_ties():
    scores = {f"d{i}": 1.0 for i in range(10)}
    assert top_k(scores, 1) == ["d9"]                      # partial-selection path, all tied
    assert top_k(scores, 20) == [f"d{i}" for i in range(9, -1, -1)]
    mixed = {"b": 2.0, "a": 2.0, "z": 1.0, "c": 3.0, "y": 1.0}
    assert top_k(mixed, 2) == ["c", "b"]                   # tie at the cutoff: "b" > "a"
    assert top_k(mixed, 5) == ["c", "b", "a", "z", "y"]
    assert top_k({}, 3) == []


def test_errors():
    with pytest.raises(ConfigError, match="did you mean"):
        evaluate(QRELS, RUN, ["ndcg@10", "mrrr@10"])
    with pytest.raises(ConfigError, match="no metrics"):
        evaluate(QRELS, RUN, [])
    with pytest.raises(ConfigError, match="relevance_level"):
        evaluate(QRELS, RUN, ["mrr@10"], relevance_level=0)
    with pytest.raises(DataError, match="nothing to evaluate"):
        evaluate({"q": {"d": 0}}, RUN, ["mrr@10"])
    with pytest.raises(DataError, match="NaN"):
        evaluate({"q": {"d": 1}}, {"q": {"d": float("nan"), "e": 1.0}}, ["mrr@10"])
    # inf and -inf sum to NaN but sort fine: no error
    ev = evaluate({"q": {"d": 1}}, {"q": {"d": math.inf, "e": -math.inf}}, ["mrr@10"])
    assert ev.metrics["mrr@10"] == 1.0


def test_inputs_not_mutated_and_single_string():
    run = {"q": {"a": 1.0, "b": 1.0}}
    ev = evaluate({"q": {"a": 1}}, run, "mrr@10,hit@1")
    assert run == {"q": {"a": 1.0, "b": 1.0}}
    assert ev.metrics == {"mrr@10": 0.5, "hit_rate@1": 0.0}   # tie: "b" ranks above "a"


# ---- cross-check with pytrec_eval ---------------------------------------------------------------

KS = (1, 2, 3, 5, 10, 20)
TREC_NAMES = {"hit_rate": "success", "recall": "recall", "precision": "P", "ndcg": "ndcg_cut",
              "map": "map_cut"}


def _random_case(seed: int, n_queries: int = 400):
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        docs = [f"d{rng.randrange(60)}" for _ in range(rng.randint(1, 35))]
        if rng.random() < 0.9:  # ~10% of queries are missing from the run
            # Scores on a coarse grid so that many ties occur, also across the cutoffs.
            run[qid] = {d: rng.randrange(8) / 4 for d in docs}
        if rng.random() < 0.95:  # ~5% of run queries have no qrels
            judged = rng.sample(range(60), rng.randint(1, 8))
            qrels[qid] = {f"d{j}": rng.choice((0, 0, 1, 2, 3)) for j in judged}
    return qrels, run


@pytest.mark.parametrize("seed, level", [(0, 1), (1, 1), (2, 2), (3, 3)])
def test_matches_pytrec_eval(seed, level):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = _random_case(seed)
    measures = {f"{trec}.{','.join(map(str, KS))}" for trec in TREC_NAMES.values()} | {"recip_rank"}
    ref = pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=level).evaluate(run)
    names = [f"{name}@{k}" for name in (*TREC_NAMES, "mrr") for k in KS]
    ev = evaluate(qrels, run, names, relevance_level=level)

    no_rel = [q for q, j in qrels.items() if max(j.values()) < level]
    assert ev.excluded_no_relevant == no_rel and len(no_rel) > 0
    assert ev.missing_in_run == [q for q in qrels if q not in run and q not in no_rel]
    assert len(ev.missing_in_run) > 0 and len(ev.not_in_qrels) > 0
    evaluated = [q for q in qrels if q not in no_rel]
    assert ev.n_queries == len(evaluated)
    for name in names:
        metric, k = name.split("@")
        ours = ev.per_query[name]
        assert list(ours) == evaluated
        for qid in evaluated:
            if qid not in run:  # pytrec_eval skips these; the harness scores them 0
                assert ours[qid] == 0.0
                continue
            if metric == "mrr":  # recip_rank has no cutoff: 1/rank counts only if rank <= k
                rr = ref[qid]["recip_rank"]
                expected = rr if rr > 0 and round(1 / rr) <= int(k) else 0.0
            else:
                expected = ref[qid][f"{TREC_NAMES[metric]}_{k}"]
            assert ours[qid] == pytest.approx(expected, abs=1e-9), (name, qid)
        assert ev.metrics[name] == pytest.approx(sum(ours.values()) / len(evaluated), abs=1e-12)


# ---- invariants -------------------------------------------------------------------------------

DOC = st.sampled_from([f"d{i}" for i in range(12)])
QIDS = st.sampled_from(["q1", "q2", "q3", "q4"])
QRELS_ST = st.dictionaries(QIDS, st.dictionaries(DOC, st.integers(0, 3), min_size=1), min_size=1)
RUN_ST = st.dictionaries(QIDS, st.dictionaries(DOC, st.sampled_from([0.0, 0.5, 1.0, 2.5, -1.0])))


@settings(max_examples=100, deadline=None)
@given(QRELS_ST, RUN_ST, st.integers(1, 3))
def test_invariants(qrels, run, level):
    if not any(g >= level for judged in qrels.values() for g in judged.values()):
        return
    ks = range(1, 14)
    ev = evaluate(qrels, run, [f"{m}@{k}" for m in ("hit_rate", "recall", "precision", "mrr",
                                                    "ndcg", "map") for k in ks],
                  relevance_level=level)
    for name, values in ev.per_query.items():
        assert all(0.0 <= v <= 1.0 + 1e-12 for v in values.values()), name
    for qid in ev.per_query["mrr@1"]:
        for k in ks:
            assert ev.per_query[f"mrr@{k}"][qid] <= ev.per_query[f"hit_rate@{k}"][qid]
            if k > 1:
                for name in ("recall", "hit_rate", "mrr", "map"):
                    assert ev.per_query[f"{name}@{k - 1}"][qid] <= ev.per_query[f"{name}@{k}"][qid]


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(DOC, st.sampled_from([0.0, 1.0, 2.0, 0.25])), st.integers(1, 15))
def test_top_k_matches_brute_force(scores, k):
    # Independent definition: sort by (-score, reversed doc id) via two stable sorts.
    by_doc_desc = sorted(scores, reverse=True)
    expected = sorted(by_doc_desc, key=lambda d: -scores[d])[:k]
    assert top_k(scores, k) == expected
