"""The TREC readers take what trec_eval takes: '#' comment lines, fields after the run tag,
gzip (by magic bytes, whatever the name), the harness's own .run.gz sidecars, pipes and stdin.

Every input is read exactly once, so a pipe (``--run <(zcat run.gz)``) is scored as written
instead of as an empty run.
"""
import gzip
import io
import json
import os
import subprocess
import sys
import threading

import pytest

from benchmarks.cli import main
from benchmarks.errors import DataError
from benchmarks.records import trec_run_bytes
from benchmarks.trec import read_qrels, read_run
from conftest import ROOT

QRELS = "q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n"
RUN = "q1 Q0 d2 1 0.9 sys\nq1 Q0 d1 2 0.5 sys\nq2 Q0 d3 1 0.7 sys\n"
EXPECTED_RUN = {"q1": {"d2": 0.9, "d1": 0.5}, "q2": {"d3": 0.7}}
# q1: the relevant d1 at rank 2; q2: d3 at rank 1 -> mrr@10 = (1/2 + 1) / 2
MRR = 0.75


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def evaluate_json(capsys, qrels, run, *extra):
    assert main(["evaluate", "--qrels", str(qrels), "--run", str(run), "--metrics", "mrr@10",
                 "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


# ---- trec_eval 10: '#' comment lines --------------------------------------------------------


def test_qrels_comment_lines_are_skipped_but_a_hash_inside_an_id_is_kept(tmp_path):
    # as in trec_eval's test/qrels.test.with-comments: '#' in column 0 starts a comment
    text = "# comment here\nq1 0 d1 1\n# and comment here\nq1 0 CR#93E-1860 0\nq2 0 d3 2\n"
    assert read_qrels(write(tmp_path, "q.txt", text)) == {
        "q1": {"d1": 1, "CR#93E-1860": 0}, "q2": {"d3": 2}}


def test_beir_qrels_after_a_comment_still_detects_the_header(tmp_path):
    text = "# exported by a tool\nquery-id\tcorpus-id\tscore\nq1\tdoc 1\t1\n"
    assert read_qrels(write(tmp_path, "q.tsv", text)) == {"q1": {"doc 1": 1}}


def test_run_comment_lines_are_skipped_even_when_indented(tmp_path):
    # get_trec_results.c skips leading blanks, then a '#' starts a comment
    text = "# run by sys\n" + RUN.replace("q2 Q0", "   # half-way note\nq2 Q0")
    assert read_run(write(tmp_path, "r.txt", text)) == EXPECTED_RUN


def test_comment_before_a_json_run(tmp_path):
    path = write(tmp_path, "r.json", '# a note\n\n{"q1": {"d1": 1,\n "d2": }}')
    with pytest.raises(DataError, match=r"r\.json:4: invalid JSON"):   # the line is still right
        read_run(path)


# ---- "Any field following run_id is ignored" -------------------------------------------------


def test_fields_after_the_run_tag_are_ignored(tmp_path):
    text = RUN.replace("0.9 sys\n", "0.9 sys more junk at\n").replace("0.7 sys\n", "0.7 sys\tend of lines.\n")
    assert read_run(write(tmp_path, "r.txt", text)) == EXPECTED_RUN


def test_a_missing_field_is_still_an_error_with_its_line(tmp_path):
    path = write(tmp_path, "r.txt", "q1 Q0 d1 1 0.5 sys extra\nq1 Q0 d2 2 0.4\n")
    with pytest.raises(DataError, match=r"r\.txt:2: expected 6 fields .*got 5"):
        read_run(path)


# ---- gzip, by magic bytes ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["run.gz", "run.txt"])   # the name does not matter
def test_gzip_runs_and_qrels(tmp_path, name):
    run = tmp_path / name
    run.write_bytes(gzip.compress(RUN.encode()))
    qrels = tmp_path / ("q-" + name)
    qrels.write_bytes(gzip.compress(QRELS.encode()))
    assert read_run(run) == EXPECTED_RUN
    assert read_qrels(qrels) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}


def test_gzip_json_run(tmp_path):
    path = tmp_path / "run.json.gz"
    path.write_bytes(gzip.compress(json.dumps(EXPECTED_RUN).encode()))
    assert read_run(path) == EXPECTED_RUN


def test_the_harness_own_run_sidecar_reads_back(tmp_path, capsys):
    sidecar = tmp_path / "bm25.run.gz"
    sidecar.write_bytes(trec_run_bytes(EXPECTED_RUN, "bm25"))
    assert read_run(sidecar) == EXPECTED_RUN
    qrels = write(tmp_path, "q.txt", QRELS)
    assert evaluate_json(capsys, qrels, sidecar)["metrics"]["mrr@10"] == MRR


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "run.gz"
    path.write_bytes(gzip.compress(RUN.encode())[:-12])
    with pytest.raises(DataError, match=r"run\.gz: .*gzip"):
        read_run(path)


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes(b"q1 0 d1 1\nq1 0 caf\xe9 1\n")
    with pytest.raises(DataError, match=r"q\.txt:2: not UTF-8"):
        read_qrels(path)


# ---- pipes and stdin: read once ------------------------------------------------------------


def test_run_from_a_pipe_is_read_once(tmp_path, capsys):
    """A FIFO can be read once only; reading it twice (to sniff JSON, then to parse) saw an
    empty run and scored 0 with exit 0."""
    fifo = tmp_path / "run.fifo"
    os.mkfifo(fifo)
    qrels = write(tmp_path, "q.txt", QRELS)

    def feed():
        with open(fifo, "wb") as fh:
            fh.write(gzip.compress(RUN.encode()))   # what `<(cat run.gz)` hands over

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        out = evaluate_json(capsys, qrels, fifo)
    finally:
        writer.join(timeout=10)
    assert out["metrics"]["mrr@10"] == MRR and out["missing_in_run"] == 0


def test_run_from_stdin_dash(tmp_path, monkeypatch, capsys):
    qrels = write(tmp_path, "q.txt", QRELS)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(RUN.encode())))
    assert evaluate_json(capsys, qrels, "-")["metrics"]["mrr@10"] == MRR


def test_harness_evaluate_reads_a_zcat_pipe(tmp_path):
    """The observed case end to end: `python harness.py evaluate --run -` fed by zcat."""
    sidecar = tmp_path / "bm25.run.gz"
    sidecar.write_bytes(trec_run_bytes(EXPECTED_RUN, "bm25"))
    qrels = write(tmp_path, "q.txt", QRELS)
    zcat = subprocess.Popen(["gzip", "-dc", str(sidecar)], stdout=subprocess.PIPE)
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "evaluate", "--qrels", str(qrels),
                           "--run", "-", "--metrics", "mrr@10", "--format", "json"],
                          stdin=zcat.stdout, capture_output=True, text=True, cwd=tmp_path)
    zcat.stdout.close()
    zcat.wait()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["metrics"]["mrr@10"] == MRR


def test_an_empty_run_is_refused_not_scored_zero(tmp_path, capsys):
    qrels = write(tmp_path, "q.txt", QRELS)
    empty = write(tmp_path, "r.txt", "# nothing but a comment\n")
    assert main(["evaluate", "--qrels", str(qrels), "--run", str(empty)]) == 2
    assert "no results" in capsys.readouterr().err


def test_qrels_and_run_cannot_both_be_stdin(capsys):
    assert main(["evaluate", "--qrels", "-", "--run", "-"]) == 2
    assert "stdin" in capsys.readouterr().err


# ---- trec_eval -M ----------------------------------------------------------------------------


def test_limit_run_keeps_the_first_n_in_trec_eval_order():
    from benchmarks.trec import limit_run

    run = {"q": {"a": 0.5, "b": 0.5, "c": 0.9, "d": 0.1}}
    # score descending, ties by doc id descending: c, b, a, d
    assert limit_run(run, 2) == {"q": {"c": 0.9, "b": 0.5}}
    assert limit_run(run, 10) == run


def test_evaluate_max_docs_per_query(tmp_path, capsys):
    qrels = write(tmp_path, "q.txt", QRELS)
    run = write(tmp_path, "r.txt", RUN)
    # with -M1, q1 keeps only d2 (not relevant): mrr@10 = (0 + 1) / 2
    assert evaluate_json(capsys, qrels, run, "-M", "1")["metrics"]["mrr@10"] == 0.5
    assert main(["evaluate", "--qrels", str(qrels), "--run", str(run), "-M", "0"]) == 2
