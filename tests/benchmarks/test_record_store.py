"""Nothing good is lost: failed re-runs write beside a good record, sidecars are content-addressed and
removed only when no record names them, a killed writer leaves only readable records."""
import json
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.errors import DataError
from benchmarks.records import load_records, record_path, write_record
from md_tables import table_row


def harness(results: Path, *args: str) -> int:
    return main([*args, "--results-dir", str(results), "--leaderboard", str(results / "lb.md"), "--quiet"])


def boom(*args, **kwargs):
    raise RuntimeError("boom: disk on fire")


@pytest.fixture
def good(pair_suite, tmp_path):
    results = tmp_path / "results"
    assert harness(results, "--suite", "pair", "--retriever", "bm25") == 0
    return results, results / "pair" / "tiny" / "bm25.json"


def test_failed_rerun_keeps_the_good_record_and_says_so(good, monkeypatch):
    from retrievers.bm25 import BM25Retriever

    results, path = good
    before, original = path.read_bytes(), BM25Retriever.retrieve
    monkeypatch.setattr(BM25Retriever, "retrieve", boom)
    assert harness(results, "--suite", "pair", "--retriever", "bm25") == 1
    assert path.read_bytes() == before  # the good numbers stay
    failed = json.loads(path.with_name("bm25.failed.json").read_text())
    assert failed["status"] == "failed" and failed["reason"] == "RuntimeError: boom: disk on fire"
    text = (results / "lb.md").read_text()
    assert table_row(text, "bm25 (baseline, last attempt failed)")[1].startswith("0.3333")
    assert "- `bm25`: last attempt failed: FAILED: RuntimeError: boom: disk on fire (at " in text
    monkeypatch.setattr(BM25Retriever, "retrieve", original)
    assert harness(results, "--suite", "pair", "--retriever", "bm25") == 0
    assert not path.with_name("bm25.failed.json").exists()  # a later success clears it
    assert "last attempt failed" not in (results / "lb.md").read_text()


def test_interrupted_rerun_keeps_the_good_record(good, monkeypatch):
    from retrievers.bm25 import BM25Retriever

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    results, path = good
    before = path.read_bytes()
    monkeypatch.setattr(BM25Retriever, "retrieve", interrupt)
    assert harness(results, "--suite", "pair", "--retriever", "bm25") == 130
    assert path.read_bytes() == before
    assert "interrupted" in json.loads(path.with_name("bm25.failed.json").read_text())["reason"]


def test_not_run_or_data_unavailable_keeps_the_good_record(good):
    from benchmarks.records import write_attempt

    _, path = good
    before = path.read_bytes()
    for status in ("not_run", "not_available"):
        attempt = {**json.loads(before), "status": status, "reason": "no key here"}
        assert write_attempt(path, attempt) is True
        assert path.read_bytes() == before
        assert json.loads(path.with_name("bm25.failed.json").read_text())["status"] == status


def test_a_failure_without_a_good_record_is_the_record(tmp_path):
    from benchmarks.records import write_attempt

    path = record_path(tmp_path, "s", "d", "r")
    assert write_attempt(path, {"suite": "s", "row": "r", "dataset": {"id": "d"}, "status": "failed",
                                "reason": "x"}) is False
    assert json.loads(path.read_text())["status"] == "failed" and not path.with_name("r.failed.json").exists()


def ok_record(row="r", value=0.5):
    return {"suite": "s", "row": row, "dataset": {"id": "d"}, "status": "ok", "settings": {}, "metrics": {"m": value}}


def test_sidecars_are_named_by_content_and_old_ones_go_only_when_unreferenced(tmp_path):
    from benchmarks.records import read_record

    path = record_path(tmp_path, "s", "d", "r")
    write_record(path, ok_record(), per_query={"m": {"q1": 0.5}}, run={"q1": {"d1": 1.0}})
    first = json.loads(path.read_text())
    assert first["per_query"]["path"] == f"r.{first['per_query']['sha256'][:16]}.per_query.json"
    # Another row's record naming r's sidecar (copied by hand): it must survive r's next write.
    other = record_path(tmp_path, "s", "d", "other")
    write_record(other, ok_record("other"))
    data = json.loads(other.read_text())
    data["run"] = first["run"]
    other.write_text(json.dumps(data))
    # Leftovers of a writer killed mid-write: an orphan sidecar and a temp file.
    (path.parent / "r.0123456789abcdef.per_query.json").write_text("{}")
    (path.parent / ".r.json.abc123.tmp").write_text("half")
    write_record(path, ok_record(value=1.0), per_query={"m": {"q1": 1.0}}, run={"q1": {"d2": 1.0}})
    second = json.loads(path.read_text())
    names = {p.name for p in path.parent.iterdir()}
    assert second["per_query"]["path"] in names and second["run"]["path"] in names
    assert first["per_query"]["path"] not in names  # replaced, named by nothing
    assert first["run"]["path"] in names  # still named by the other record
    assert "r.0123456789abcdef.per_query.json" not in names and ".r.json.abc123.tmp" not in names
    assert read_record(path).per_query() == {"m": {"q1": 1.0}}


def test_a_missing_sidecar_of_an_unchanged_record_is_a_clear_error(tmp_path):
    path = record_path(tmp_path, "s", "d", "r")
    write_record(path, ok_record(), per_query={"m": {"q1": 0.5}})
    path.with_name(json.loads(path.read_text())["per_query"]["path"]).unlink()
    with pytest.raises(DataError, match=r"r\.json: its per_query sidecar r\.[0-9a-f]{16}\.per_query\.json is "
                                        r"missing\. Delete it .* or re-run the row: python harness.py --suite s"):
        load_records(tmp_path)


def test_writers_racing_and_writers_killed(tmp_path):
    """The acceptance check in small (full figures: python -m benchmarks.perf.record_race)."""
    from benchmarks.perf.record_race import kills, race

    raced = race(tmp_path / "race", writes=25)
    assert raced["reads"] > 0 and raced["writer_failures"] == 0
    assert raced["mismatches"] == 0 and raced["read_errors"] == 0
    assert kills(tmp_path / "kills", runs=3, writes=25, seed=1) == {"kill_runs": 3, "inconsistent_after_kill": 0}


def test_a_record_that_says_the_same_is_not_rewritten(tmp_path):
    """Only when and how long may differ (started_at, timing, stats in seconds); anything else,
    or a damaged sidecar, and the record is written again."""
    path = tmp_path / "s" / "d" / "row.json"
    path.parent.mkdir(parents=True)
    base = {"suite": "s", "row": "row", "status": "ok", "metrics": {"mrr@10": 0.5},
            "stats": {"encoded_texts": 0, "encode_s": 0.1}, "started_at": "t0", "timing": {"total_s": 1.0}}
    run = {"q1": {"d1": 1.0, "d2": 0.5}}
    write_record(path, base, per_query={"mrr@10": {"q1": 0.5}}, run=run)
    files = sorted(p for p in path.parent.iterdir())

    def state():
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in path.parent.iterdir()}

    before = state()
    write_record(path, {**base, "started_at": "t1", "timing": {"total_s": 9.0},
                        "stats": {"encoded_texts": 0, "encode_s": 7.0}}, per_query={"mrr@10": {"q1": 0.5}}, run=run)
    assert state() == before and sorted(path.parent.iterdir()) == files
    write_record(path, {**base, "metrics": {"mrr@10": 0.25}, "started_at": "t2"}, per_query={"mrr@10": {"q1": 0.25}},
                 run=run)
    assert json.loads(path.read_text())["metrics"] == {"mrr@10": 0.25}
    assert json.loads(path.read_text())["started_at"] == "t2"  # a changed record is this call's, whole
    sidecar = path.parent / json.loads(path.read_text())["run"]["path"]
    good = sidecar.read_bytes()
    sidecar.write_bytes(b"damaged")
    write_record(path, {**base, "metrics": {"mrr@10": 0.25}}, per_query={"mrr@10": {"q1": 0.25}}, run=run)
    assert sidecar.read_bytes() == good
    path.write_text("[" * 100000 + "]" * 100000)  # a damaged record (too deep for json) is rewritten
    write_record(path, base, per_query={"mrr@10": {"q1": 0.5}}, run=run)
    assert json.loads(path.read_text())["metrics"] == {"mrr@10": 0.5}
