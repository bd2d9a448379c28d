"""TREC / BEIR / JSON readers and writers: formats, round trips, and errors that name the line."""
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.errors import DataError
from benchmarks.trec import read_qrels, read_run, write_qrels, write_run


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- reading ----------------------------------------------------------------------------------


def test_read_trec_qrels(tmp_path):
    path = write(tmp_path, "q.txt", "q1 0 d1 1\nq1 0 d2 0\n\n  q2\t0   d3  3  \nq3 Q0 d1 -1\n")
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 3}, "q3": {"d1": -1}}


def test_read_beir_qrels_with_and_without_header(tmp_path):
    body = "q1\tdoc 1\t1\nq1\td2\t2\nq2\td3\t0\n"   # tabs only: ids may contain spaces
    expected = {"q1": {"doc 1": 1, "d2": 2}, "q2": {"d3": 0}}
    assert read_qrels(write(tmp_path, "h.tsv", "query-id\tcorpus-id\tscore\n" + body)) == expected
    assert read_qrels(write(tmp_path, "n.tsv", body)) == expected


def test_read_trec_run(tmp_path):
    path = write(tmp_path, "r.txt", "q1 Q0 d1 1 2.5 sys\nq1 Q0 d2 2 -1e-3 sys\nq2 Q0 d1 1 7 other\n")
    assert read_run(path) == {"q1": {"d1": 2.5, "d2": -0.001}, "q2": {"d1": 7.0}}


def test_read_json_run(tmp_path):
    path = write(tmp_path, "r.json", '\n  {"q1": {"d1": 1, "d2": 0.5}, "q2": {}}')
    run = read_run(path)
    assert run == {"q1": {"d1": 1.0, "d2": 0.5}, "q2": {}}
    assert isinstance(run["q1"]["d1"], float)


def test_empty_run_is_empty(tmp_path):
    assert read_run(write(tmp_path, "r.txt", "\n")) == {}


# ---- errors name the file and line --------------------------------------------------------------

QRELS_ERRORS = [
    ("q1 0 d1 1\nq1 0 d2\n", 2, "expected 4 fields"),
    ("q1 0 d1 1\nq1 0 d2 high\n", 2, "grade 'high' is not an integer"),
    ("q1 0 d1 1\nq1 0 d2 1.5\n", 2, "not an integer"),
    ("q1 0 d1 1\nq2 0 d1 1\n\nq1 0 d1 2\n", 4,
     "duplicate judgement for query 'q1', document 'd1' (first on line 1)"),
    ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n", 3, "expected 3 tab-separated fields"),
    ("q1\td1\t1\nq1\t\t1\n", 2, "empty query or document id"),
]


RUN_ERRORS = [
    ("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0.4\n", 2, "expected 6 fields"),
    ("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 0.4 2 t\n", 2, "rank '0.4' is not an integer"),   # columns swapped
    ("q1 Q0 d1 1 high t\n", 1, "score 'high' is not a number"),
    ("q1 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n", 2,
     "document 'd1' appears twice for query 'q1' (first on line 1)"),
    ("q1 Q0 d1 1 nan t\n", 1, "NaN"),
    ('{"q1": {"d1": 1,\n "d2": }}', 2, "invalid JSON"),
]


@pytest.mark.parametrize("read, text, line, what", [(read_qrels, *case) for case in QRELS_ERRORS]
                         + [(read_run, *case) for case in RUN_ERRORS])
def test_errors_name_file_and_line(tmp_path, read, text, line, what):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(DataError) as info:
        read(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert what in str(info.value)


@pytest.mark.parametrize("text, what", [
    ('{"q1": {"d1": 1, "d1": 2}}', "'d1' appears twice"),
    ('{"q1": [1, 2]}', "expected an object"),
    ('{"q1": {"d1": "high"}}', "'high' is not a number"),
    ('{"q1": {"d1": true}}', "True is not a number"),
    ('{"q1": {"d1": NaN}}', "nan is not a number"),
])
def test_json_run_errors(tmp_path, text, what):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(DataError) as info:
        read_run(path)
    assert str(path) in str(info.value) and what in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_qrels(tmp_path / "absent.txt")
    with pytest.raises(DataError, match="cannot read"):
        read_run(tmp_path / "absent.txt")
    with pytest.raises(DataError, match="no judgements"):
        read_qrels(write(tmp_path, "h.tsv", "query-id\tcorpus-id\tscore\n"))
    (tmp_path / "latin1.txt").write_bytes("q1 0 caf\xe9 1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_qrels(tmp_path / "latin1.txt")


# ---- writing ----------------------------------------------------------------------------------


def test_write_run_order_and_format(tmp_path):
    path = tmp_path / "out.run"
    write_run(path, {"q2": {"a": 1.0}, "q1": {"a": 0.5, "b": 0.5, "c": 0.1, "d": 0.9}}, tag="x")
    # q1 before q2; d first, then the 0.5 tie by doc id descending (b, a), then c
    assert path.read_text() == (
        "q1 Q0 d 1 0.9 x\nq1 Q0 b 2 0.5 x\nq1 Q0 a 3 0.5 x\nq1 Q0 c 4 0.1 x\nq2 Q0 a 1 1.0 x\n")


def test_write_qrels_format(tmp_path):
    path = tmp_path / "out.qrels"
    write_qrels(path, {"q2": {"z": 0}, "q1": {"b": 2, "a": 1}})
    assert path.read_text() == "q1 0 a 1\nq1 0 b 2\nq2 0 z 0\n"


def test_write_is_atomic(tmp_path):
    path = tmp_path / "out.run"
    write_run(path, {"q1": {"d1": 1.0}})
    before = path.read_text()
    with pytest.raises(DataError, match="whitespace"):
        write_run(path, {"q1": {"d1": 1.0}, "q2": {"bad id": 0.5}})   # fails mid-way
    assert path.read_text() == before                                  # old file untouched
    assert os.listdir(tmp_path) == ["out.run"]                         # no temp file left
    with pytest.raises(DataError, match="NaN"):
        write_run(path, {"q1": {"d1": float("nan")}})
    with pytest.raises(DataError, match="tag"):
        write_run(path, {"q1": {"d1": 1.0}}, tag="two words")


IDS = st.text(st.sampled_from("abcXYZ019-_.:/é"), min_size=1, max_size=6)
SCORES = st.floats(allow_nan=False, width=64) | st.sampled_from([0.0, 0.1, 0.5, 1.0])


@settings(max_examples=40, deadline=None)
@given(run=st.dictionaries(IDS, st.dictionaries(IDS, SCORES, min_size=1), max_size=5))
def test_run_round_trip(tmp_path_factory, run):
    path = tmp_path_factory.mktemp("rt") / "run.txt"
    write_run(path, run)
    assert read_run(path) == run                       # scores come back bit for bit
    json_path = path.with_suffix(".json")
    json_path.write_text(json.dumps(run))
    assert read_run(json_path) == run


@settings(max_examples=40, deadline=None)
@given(qrels=st.dictionaries(IDS, st.dictionaries(IDS, st.integers(-1, 5), min_size=1),
                             min_size=1, max_size=5))
def test_qrels_round_trip(tmp_path_factory, qrels):
    path = tmp_path_factory.mktemp("rt") / "qrels.txt"
    write_qrels(path, qrels)
    assert read_qrels(path) == qrels
