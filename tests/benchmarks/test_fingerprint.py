"""Evaluation fingerprints: equal exactly when two rows were evaluated alike, with reasons in words."""
import json

import pytest

from benchmarks.cli import main
from benchmarks.types import Doc, Split

SETTINGS = {"metrics": ["mrr@5"], "top_k": 5, "search": "exact", "tie_break": "t", "seed": 0,
            "bootstrap": {"n_resamples": 1000, "confidence": 0.95},
            "significance": {"n_resamples": 10000, "alpha": 0.05, "correction": "holm", "test": "randomization"}}


def split(n_queries=3, text="apple", grade=1):
    queries = {f"q{i}": f"query {i}" for i in range(n_queries)}
    return Split(corpus={"d1": Doc(text), "d2": Doc("banana", title="B")}, queries=queries,
                 qrels={q: {"d1": grade} for q in queries})


def fp(s=None, settings=None, level=1, **extra):
    from benchmarks.fingerprint import evaluation_fingerprint

    return evaluation_fingerprint(dataset_id="tiny", split_name="test", split=s or split(),
                                  settings={**SETTINGS, **(settings or {})}, relevance_level=level, **extra)


def test_same_inputs_same_fingerprint_whatever_the_dict_order():
    from benchmarks.fingerprint import fingerprint_sha256

    a = split()
    b = Split(corpus=dict(reversed(list(a.corpus.items()))), queries=dict(reversed(list(a.queries.items()))),
              qrels=dict(reversed(list(a.qrels.items()))))
    assert fp(a)["sha256"] == fp(b)["sha256"]
    assert fp(a)["sha256"] == fingerprint_sha256(fp(a))
    assert fp(a)["data"]["queries"]["n"] == 3 and fp(a)["data"]["corpus"]["n"] == 2


@pytest.mark.parametrize("change", [
    dict(s=split(n_queries=2)), dict(s=split(text="apples")), dict(s=split(grade=2)),
    dict(settings={"metrics": ["mrr@10"]}), dict(settings={"top_k": 10}),
    dict(settings={"search": {"ann": {"M": 32, "ef_construction": 200, "ef_search": 128}}}),
    dict(settings={"seed": 1}), dict(settings={"bootstrap": {"n_resamples": 2000, "confidence": 0.95}}),
    dict(settings={"significance": {"n_resamples": 10000, "alpha": 0.01, "correction": "holm"}}),
    dict(level=2), dict(holdout={"queries": 5}), dict(protocol={"name": "p"}),
])
def test_every_field_that_changes_the_numbers_changes_the_fingerprint(change):
    from benchmarks.fingerprint import differences

    assert fp(**change)["sha256"] != fp()["sha256"]
    assert differences(fp(**change), fp()), change  # and there is a reason in words


def test_reasons_say_what_differs():
    from benchmarks.fingerprint import differences

    assert differences(fp(split(n_queries=790)), fp(split(n_queries=20))) == [
        "evaluated on 790 queries, baseline on 20", "evaluated on 790 judgments, baseline on 20"]
    assert differences(fp(split(text="x")), fp()) == [
        "different docs than the baseline (same count, 2, other content)"]
    assert differences(fp(settings={"metrics": ["mrr@10"]}), fp()) == ["metrics differ (mrr@10; baseline: mrr@5)"]
    assert differences(fp(settings={"search": {"ann": {"M": 8}}}), fp(), "reference row x") == [
        "ANN search (M=8); reference row x: exact search"]
    assert differences(fp(), fp()) == []


def test_records_carry_the_fingerprint_of_what_was_evaluated(pair_suite, tmp_path):
    from benchmarks.fingerprint import fingerprint_sha256

    results = tmp_path / "r"
    assert main(["--suite", "pair", "--retriever", "bm25", "--results-dir", str(results), "--no-leaderboard",
                 "--quiet"]) == 0
    full = json.loads((results / "pair" / "tiny" / "bm25.json").read_text())["fingerprint"]
    assert main(["--suite", "pair", "--retriever", "bm25", "--limit-queries", "2", "--results-dir",
                 str(tmp_path / "r2"), "--no-leaderboard", "--quiet"]) == 0
    limited = json.loads((tmp_path / "r2" / "pair" / "tiny" / "bm25.json").read_text())["fingerprint"]
    assert full["dataset"] == {"id": "tiny", "split": "test"}
    assert full["data"]["queries"]["n"] == 4 and limited["data"]["queries"]["n"] == 2
    assert full["data"]["corpus"] == limited["data"]["corpus"]  # the corpus is not limited
    assert full["metrics"] == ["hit_rate@1", "mrr@5"] and full["top_k"] == 5 and full["search"] == "exact"
    assert full["relevance_level"] == 1 and full["bootstrap"]["seed"] == 0
    assert full["sha256"] == fingerprint_sha256(full) != limited["sha256"]
