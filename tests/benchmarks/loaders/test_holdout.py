"""Held-out splits carved from one file (benchmarks/holdout.py): determinism, no passage on both
sides, validation, and the holdout recorded in the record and its evaluation fingerprint."""
from __future__ import annotations

import csv
import hashlib
import random

import pytest
import yaml

from benchmarks.cards import load_card
from benchmarks.fingerprint import differences
from benchmarks.errors import ConfigError
from benchmarks.holdout import Holdout, assign
from benchmarks.leakage import check, normalise
from benchmarks.loaders import load_split
from benchmarks.types import Doc, Split
from conftest import bm25_record

# 12 passages, most asked about twice; passage 3 also appears as a case/punctuation variant,
# which must fall on the same side as its twin.
PASSAGES = [f"Passage number {i} talks about topic{i} and thing{i * 7} at length." for i in range(12)]
ROWS = [(f"What does passage {i} say about topic{i}{'?' * (j + 1)}", PASSAGES[i], f"thing{i * 7}")
        for i in range(12) for j in range(2 if i % 3 else 1)]
ROWS.append(("Which passage is shouted?", PASSAGES[3].upper().replace(".", "!"), "three"))


def write_csv(path, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Question", "Abstract", "Answer"])
        writer.writerows(rows)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card(tmp_path, data_dir, rows=ROWS, dedupe=False, name="held", **holdout):
    sha = write_csv(data_dir / f"{name}.csv", rows)
    body = {"schema": "dataset/v1", "name": name, "version": 1, "description": "t", "format": "csv-qa",
            "splits": {"all": {"data": {"path": f"{name}.csv", "sha256": sha}}},
            "options": {"dedupe": dedupe}, "holdout": {"source": "all", **holdout}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return load_card(path)


def texts(split: Split) -> set[str]:
    return {normalise(d.full_text()) for d in split.corpus.values()}


@pytest.mark.parametrize("dedupe", [False, True])
def test_no_passage_on_both_sides_and_nothing_lost(tmp_path, data_dir, dedupe):
    c = card(tmp_path, data_dir, dedupe=dedupe, test_fraction=0.3, seed=1)
    full, train, test = (load_split(c, s) for s in ("all", "train", "test"))
    assert not texts(train) & texts(test)
    assert set(train.queries) | set(test.queries) == set(full.queries)
    assert not set(train.queries) & set(test.queries)
    assert set(train.corpus) | set(test.corpus) == set(full.corpus)
    for part in (train, test):  # every query's judged passage is in its own split's corpus
        assert all(d in part.corpus for r in part.qrels.values() for d in r)
    leak = check(train, test)
    assert leak["passages"]["exact"] == leak["passages"]["near"] == 0
    assert leak["relevant"]["in_train_corpus"] == 0
    # ceil(0.3 * 21 queries) = 7; the test split reaches it, overshooting by less than the
    # largest group (3 queries: passage 3's two and its shouted twin's one).
    assert 7 <= len(test.queries) < 7 + 3
    assert test.notes["holdout"]["target_test_queries"] == 7


def test_twins_differing_in_case_and_punctuation_stay_together(tmp_path, data_dir):
    for seed in range(6):
        c = card(tmp_path, data_dir, test_size=5, seed=seed)
        test = load_split(c, "test")
        twins = [q for q, t in load_split(c, "all").queries.items()
                 if t in ("Which passage is shouted?", "What does passage 3 say about topic3?")]
        assert len({q in test.queries for q in twins}) == 1


def test_deterministic_and_independent_of_row_order(tmp_path, data_dir):
    a = load_split(card(tmp_path, data_dir, dedupe=True, test_size=6, seed=3), "test")
    b = load_split(card(tmp_path, data_dir, dedupe=True, test_size=6, seed=3), "test")
    assert (a.queries, a.qrels, a.corpus) == (b.queries, b.qrels, b.corpus)
    shuffled = ROWS[:]
    random.Random(0).shuffle(shuffled)
    c = load_split(card(tmp_path, data_dir, rows=shuffled, dedupe=True, test_size=6, seed=3, name="shuf"), "test")
    # Row ids follow row order; the texts and (content-addressed, deduped) passage ids do not.
    assert sorted(c.queries.values()) == sorted(a.queries.values()) and set(c.corpus) == set(a.corpus)
    other = {frozenset(load_split(card(tmp_path, data_dir, dedupe=True, test_size=6, seed=s), "test").corpus)
             for s in range(5)}
    assert len(other) > 1  # the seed matters


def test_a_query_judged_against_two_passages_pulls_both_in():
    corpus = {f"d{i}": Doc(f"text {i}") for i in range(6)}
    qrels = {"q0": {"d0": 1, "d1": 1}, "q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1, "d4": 1},
             "q4": {"d5": 1}}
    split = Split(corpus=corpus, queries={q: q for q in qrels}, qrels=qrels)
    for seed in range(8):
        test_q, test_d, counts = assign(split, Holdout(source="all", test_size=2, seed=seed))
        assert counts["groups"] == 4  # {q0,q1,d0,d1}, {q2,d2}, {q3,d3,d4}, {q4,d5}
        for group_q, group_d in ((["q0", "q1"], ["d0", "d1"]), (["q3"], ["d3", "d4"])):
            sides = {q in test_q for q in group_q} | {d in test_d for d in group_d}
            assert len(sides) == 1
        assert len(test_q) >= 2


@pytest.mark.parametrize("holdout, message", [
    ({"test_fraction": 1.5}, "less than 1"),
    ({"test_fraction": 0.0}, "greater than 0"),
    ({"test_size": 0}, "greater than or equal to 1"),
    ({}, "exactly one of test_size"),
    ({"test_size": 3, "test_fraction": 0.2}, "exactly one of test_size"),
    ({"test_size": 3, "train": "x", "test": "x"}, "different split names"),
    ({"test_size": 3, "test": "all"}, "already a split of the card"),
    ({"test_size": 3, "source": "everything"}, "names no split of this card"),
])
def test_bad_holdout_blocks_are_card_errors(tmp_path, data_dir, holdout, message):
    with pytest.raises(ConfigError, match=message):
        card(tmp_path, data_dir, **holdout)


def test_test_size_as_large_as_the_data_is_an_error(tmp_path, data_dir):
    c = card(tmp_path, data_dir, test_size=len(ROWS))
    with pytest.raises(ConfigError, match=r"test_size 21 is not smaller than the 21 queries .*held.yaml"):
        load_split(c, "test")


def test_holdout_is_in_the_record_and_the_fingerprint(tmp_path, data_dir, monkeypatch):
    card(tmp_path, data_dir, dedupe=True, test_fraction=0.25, seed=2)
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(tmp_path))
    held = "{name: held, split: test, train_split: train}"
    record, _ = bm25_record(tmp_path, monkeypatch, held, metrics="hit_rate@3", top_k=3)
    spec = {"source": "all", "part": "test", "test_fraction": 0.25, "seed": 2}
    assert {k: record["fingerprint"]["holdout"][k] for k in spec} == spec
    notes = record["dataset"]["notes"]["holdout"]
    assert notes["source_queries"] == 21 and notes["queries"] == record["counts"]["queries"] < 21
    # Another seed is another evaluation: the fingerprints differ only by the holdout.
    card(tmp_path, data_dir, dedupe=True, test_fraction=0.25, seed=5)
    other, _ = bm25_record(tmp_path, monkeypatch, held, metrics="hit_rate@3", top_k=3, out="r2")
    assert any("holdout differ" in d for d in differences(other["fingerprint"], record["fingerprint"]))


def test_arcee_suite_trains_on_the_carved_train_split_and_evaluates_on_test(data_dir):
    from benchmarks.suites import load_suite

    entry = next(d for d in load_suite("arcee").datasets if d.name == "arcee-synthetic")
    arcee = load_card("arcee-synthetic")
    assert (entry.split, entry.train_split) == (arcee.holdout.test, arcee.holdout.train)
    rows = [(f"Question {i}?", f"Passage {i // 2} with words w{i // 2}.", "a") for i in range(40)]
    (data_dir / "arcee-synthetic").mkdir()
    write_csv(data_dir / "arcee-synthetic" / "train.csv", rows)
    train, test = load_split(arcee, "train"), load_split(arcee, "test")
    assert len(test.queries) == 4 and len(train.queries) == 36  # 10% of 40, whole groups of 2
    assert not texts(train) & texts(test)
