"""One qrels parser (benchmarks.trec.parse_qrels) behind `harness.py eval` (trec.read_qrels) and
the BEIR loader (loaders/beir.read_qrels): one header rule, the same judgements, the same errors."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchmarks.errors import DataError
from benchmarks.loaders import beir
from benchmarks.trec import is_qrels_header, read_qrels

CARD = SimpleNamespace(card_label="tiny.yaml")  # all that the loader's messages read of a card
BODY = "q1\td1\t2\nq1\td 2\t0\n\nq2\td1\t1\n"
EXPECTED = {"q1": {"d1": 2, "d 2": 0}, "q2": {"d1": 1}}


def both(tmp_path, text: str) -> list[dict]:
    path = tmp_path / "test.tsv"
    path.write_text(text, encoding="utf-8")
    return [read_qrels(path), beir.read_qrels(CARD, path)[0]]


@pytest.mark.parametrize("header", ["", "query-id\tcorpus-id\tscore\n", "qid\tdocid\trel\n",
                                    "# made by hand\nquery-id\tcorpus-id\tscore\n"])
def test_beir_with_or_without_a_header_reads_the_same_in_both(tmp_path, header):
    assert both(tmp_path, header + BODY) == [EXPECTED, EXPECTED]


def test_the_loader_knows_each_judgements_line(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n" + BODY)
    assert beir.read_qrels(CARD, path)[1] == {("q1", "d1"): 2, ("q1", "d 2"): 3, ("q2", "d1"): 5}


def test_trec_qrels_with_comments_and_negative_grades(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("# judged by hand\nq1 0 d1 1\nq1 0 CR#93E 0\nq2 0 d1 -1\n")
    assert read_qrels(path) == {"q1": {"d1": 1, "CR#93E": 0}, "q2": {"d1": -1}}


@pytest.mark.parametrize("line, header", [
    ("query-id\tcorpus-id\tscore", True), ("q\td\tscore ", True), ("q1\td1\t1", False),
    ("q1\td1\t-1", False), ("q1 0 d1 x", False), ("a\tb", False),
])
def test_the_header_rule(line, header):
    assert is_qrels_header(line) is header


def test_a_header_is_only_a_header_on_the_first_line(tmp_path):
    text = BODY + "query-id\tcorpus-id\tscore\n"
    for reader in (lambda p: read_qrels(p), lambda p: beir.read_qrels(CARD, p)):
        path = tmp_path / "late.tsv"
        path.write_text(text)
        with pytest.raises(DataError, match=r"late.tsv:5: grade 'score' is not an integer"):
            reader(path)


@pytest.mark.parametrize("text, line, what", [
    ("q1\td1\t1\nq1\td1\t2\n", 2, "duplicate judgement for query 'q1', document 'd1' (first on line 1)"),
    ("q1\td1\t1\nq1\t\t1\n", 2, "empty query or document id"),
    ("q1\td1\t1\nq1\td2\thigh\n", 2, "grade 'high' is not an integer"),
    ("q1\td1\t1\nq1 d2 1\n", 2, "expected 3 tab-separated fields (query-id, corpus-id, score), got 1"),
])
def test_both_give_the_same_error_with_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    for reader in (lambda: read_qrels(path), lambda: beir.read_qrels(CARD, path)):
        with pytest.raises(DataError) as err:
            reader()
        assert str(err.value).startswith(f"{path}:{line}: {what}")
    with pytest.raises(DataError, match=r"\(dataset card tiny.yaml\)$"):  # the loader names the card too
        beir.read_qrels(CARD, path)


def test_the_loader_keeps_beir_rules(tmp_path):
    path = tmp_path / "neg.tsv"
    path.write_text("q1\td1\t1\nq2\td1\t-1\n")
    assert read_qrels(path) == {"q1": {"d1": 1}, "q2": {"d1": -1}}  # TREC allows -1
    with pytest.raises(DataError, match=r"neg.tsv:2: score -1 for query 'q2', document 'd1' is negative"):
        beir.read_qrels(CARD, path)
    path.write_text("q1 0 d1 1\n")  # a TREC line in a BEIR file is not guessed at
    with pytest.raises(DataError, match=r"neg.tsv:1: expected 3 tab-separated fields"):
        beir.read_qrels(CARD, path)
