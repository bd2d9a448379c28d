"""Fusion and compressed rows end to end on the tiny data: hand-worked RRF, inputs run first and
named in the record, compressed rows that encode nothing, the leaderboard's notes, plan checks."""
from __future__ import annotations

import json
import os

import pytest

from conftest import ROOT, TINY, run_cli, tiny_process_env, tiny_suite

SUITE = tiny_suite("fuse", [
    "{name: kw-rrf, use: fusion, params: {of: [keyword, kw-b], method: rrf, k: 60}}",
    "{name: keyword, use: keyword}",
    "{name: kw-b, use: keyword, params: {vocabulary: [date, elderberry, fig, apple]}}",
    "{name: keyword-int8, use: keyword, params: {quantize: int8}}",
    "{name: keyword-binary, use: keyword, params: {quantize: binary, rescore: 5}}",
], metrics="hit_rate@1, mrr@3", top_k=3, baseline="keyword")


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuse")
    (tmp / "suites").mkdir()
    (tmp / "suites" / "fuse.yaml").write_text(SUITE)
    env = tiny_process_env(tmp, suites=tmp / "suites")
    results, board = tmp / "results", tmp / "leaderboard.md"
    common = ["--results-dir", str(results), "--leaderboard", str(board), "--quiet"]
    # Only the fusion row is asked for: its inputs run too, before it although the suite lists it first.
    first = run_cli(env, "--suite", "fuse", "--retriever", "kw-rrf", *common)
    second = run_cli(env, "--suite", "fuse", "--retriever", "keyword-int8", "--retriever", "keyword-binary", *common)
    return env, first, second, results, board, tmp


def load(results, row):
    return json.loads((results / "fuse" / "tiny" / f"{row}.json").read_text())


def run_of(results, row):
    from benchmarks.trec import read_run

    return read_run(results / "fuse" / "tiny" / load(results, row)["run"]["path"])


def test_fusion_row_runs_its_inputs_first_and_matches_hand_worked_rrf(fused):
    _, first, _, results, _, _ = fused
    assert first.returncode == 0, first.stderr
    said = [line.split(" · ")[1].split(":")[0] for line in (first.stdout + first.stderr).splitlines()
            if line.startswith("[fuse] tiny/test · ")]
    assert said == ["keyword", "kw-b", "kw-rrf"]  # one line per row that ran, in the order they ran
    run = run_of(results, "kw-rrf")
    # Inputs (top 3): keyword q2 d3 d2 d5, kw-b q2 (zero vector) d5 d4 d3. RRF 1/(60 + rank):
    # d3 = d5 = 1/61 + 1/63 (tie: larger id first), d2 = d4 = 1/62 (d4 first); cut to top_k 3.
    assert list(run["q2"]) == ["d5", "d3", "d4"]
    assert run["q2"]["d5"] == pytest.approx(1 / 61 + 1 / 63, abs=1e-12)
    assert run["q2"]["d4"] == pytest.approx(1 / 62, abs=1e-12)
    # q1: both rank d5 d1 d4 -> 2/61, 2/62, 2/63; q3: both d5 d4 d3
    assert run["q1"] == pytest.approx({"d5": 2 / 61, "d1": 2 / 62, "d4": 2 / 63}, abs=1e-12)
    assert list(run["q3"]) == ["d5", "d4", "d3"]
    rec = load(results, "kw-rrf")
    # first relevant: q1 d1 rank 2, q2 d3 rank 2, q3 d4 rank 2 (q4 has no relevant doc)
    assert rec["metrics"] == pytest.approx({"hit_rate@1": 0.0, "mrr@3": 0.5}, abs=1e-12)
    assert rec["stats"].get("encoded_texts", 0) == 0  # fusion encodes nothing


def test_fusion_record_names_its_inputs_runs_and_fingerprints(fused):
    _, _, _, results, _, _ = fused
    rec = load(results, "kw-rrf")
    assert rec["fusion"]["of"] == ["keyword", "kw-b"] and rec["fusion"]["method"] == "rrf"
    for row in ("keyword", "kw-b"):
        source = load(results, row)
        info = rec["fusion"]["inputs"][row]
        assert info["run_sha256"] == source["run"]["sha256"]
        assert info["fingerprint_sha256"] == source["fingerprint"]["sha256"] == rec["fingerprint"]["sha256"]
        assert "run" not in info and info["compression"] is None  # the run itself stays out


def test_compressed_rows_encode_nothing_and_record_bytes(fused):
    _, _, second, results, _, _ = fused
    assert second.returncode == 0, second.stderr
    for row in ("keyword-int8", "keyword-binary"):
        stats = load(results, row)["stats"]
        assert stats["encoded_texts"] == 0 and stats["cached_texts"] == 9, row  # cache hits only
    emb = {row: load(results, row)["embedding"] for row in ("keyword", "keyword-int8", "keyword-binary")}
    assert [emb[r]["bytes_per_vector"] for r in emb] == [24, 6, 1]  # 6 dims: float32, int8, 1 bit each
    assert len({e["fingerprint_sha256"] for e in emb.values()}) == 1  # the same float vectors
    assert emb["keyword"]["compression"] is None and emb["keyword-int8"]["compression"]["quantize"] == "int8"
    # binary with all 5 docs rescored by the float score is the float run, score for score
    assert run_of(results, "keyword-binary") == run_of(results, "keyword")


def test_leaderboard_pairs_compressed_rows_with_their_float_row(fused):
    _, _, _, _, board, _ = fused
    text = board.read_text()
    assert "- `keyword-binary` (binary, top 5 rescored by float): 1 B/vector vs `keyword` 24: " \
           "hit_rate@1 +0.0000 (p 1.0000), mrr@3 +0.0000 (p 1.0000)" in text
    assert "- `keyword-int8` (int8): 6 B/vector vs `keyword` 24: hit_rate@1" in text
    from md_tables import table_row

    assert table_row(text, "kw-rrf")[0] == "kw-rrf"  # listed, and not tagged stale


def test_fused_row_is_stale_when_an_input_was_rerun(fused):
    from benchmarks.records import load_records
    from benchmarks.staleness import classify, group_records, load_suite_if_known

    env, _, _, results, _, _ = fused
    path = results / "fuse" / "tiny" / "kw-rrf.json"
    rec = json.loads(path.read_text())
    rec["fusion"]["inputs"]["kw-b"]["run_sha256"] = "0" * 64  # as if kw-b was re-run with another result
    path.write_text(json.dumps(rec))
    try:
        records = group_records(load_records(results))["fuse"]["tiny"]
        os.environ["HARNESS_SUITES_DIR"], saved = env["HARNESS_SUITES_DIR"], os.environ.get("HARNESS_SUITES_DIR")
        section = classify("fuse", "tiny", records, load_suite_if_known("fuse"))
    finally:
        if saved is None:
            os.environ.pop("HARNESS_SUITES_DIR", None)
        else:
            os.environ["HARNESS_SUITES_DIR"] = saved
    assert "input kw-b was re-run since" in section.stale["kw-rrf"]
    assert "keyword" not in section.stale and "kw-b" not in section.stale


def _plan_errors(tmp_path, monkeypatch, rows, *selected):
    from benchmarks.plan import PlanError, plan
    from benchmarks.runner import RunOptions

    monkeypatch.setenv("HARNESS_DATA_PATH", str(TINY / "data"))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(TINY / "cards"))
    path = tmp_path / "bad.yaml"
    path.write_text(tiny_suite("bad", ["{name: bm25, use: bm25}"], metrics="hit_rate@1, mrr@3", top_k=3,
                               baseline="bm25") + rows)
    with pytest.raises(PlanError) as exc:
        plan([path], RunOptions(retrievers=list(selected), progress=False))
    return exc.value.problems


def test_plan_refuses_unknown_self_and_circular_inputs(tmp_path, monkeypatch):
    problems = _plan_errors(tmp_path, monkeypatch, "  - {name: f, use: fusion, params: {of: [bm25, bm52]}}\n"
                            "  - {name: g, use: fusion, params: {of: [g, bm25]}}\n")
    assert any("bad.yaml:10" in p and "'bm52' is not a row of suite bad" in p and "bm25" in p for p in problems)
    assert any("bad.yaml:11" in p and "of names the row itself" in p for p in problems)
    # a circle of two fusion rows, found although only one of them was selected
    problems = _plan_errors(tmp_path, monkeypatch, "  - {name: a, use: fusion, params: {of: [bm25, b]}}\n"
                            "  - {name: b, use: fusion, params: {of: [a, bm25]}}\n", "a")
    assert problems == [next(p for p in problems if "a -> b -> a" in p)] and "bad.yaml:10" in problems[0]
    problems = _plan_errors(tmp_path, monkeypatch, "  - {name: w, use: fusion, params: {of: [bm25, bm25]}}\n"
                            "  - {name: v, use: fusion, params: {of: [bm25, w], weights: [1]}}\n")
    assert any("names a row twice" in p for p in problems) and any("1 weights for 2 rows" in p for p in problems)


def test_rows_are_ordered_after_their_inputs(monkeypatch):
    from benchmarks.plan import plan
    from benchmarks.runner import RunOptions
    from benchmarks.suites import Suite

    monkeypatch.setenv("HARNESS_DATA_PATH", str(TINY / "data"))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(TINY / "cards"))
    import yaml

    data = yaml.safe_load(SUITE)
    data["retrievers"] = [{"name": "ff", "use": "fusion", "params": {"of": ["f", "bm25"]}},
                          {"name": "f", "use": "fusion", "params": {"of": ["bm25", "b2"], "method": "combsum"}},
                          {"name": "bm25", "use": "bm25"}, {"name": "b2", "use": "bm25", "params": {"k1": 1.2}},
                          {"name": "other", "use": "bm25"}]
    data["baseline"] = "bm25"
    planned = plan([Suite.model_validate(data)], RunOptions(retrievers=["ff"], progress=False)).suites[0]
    assert [e.name for e in planned.entries] == ["bm25", "b2", "f", "ff"]  # a fusion of a fusion, too
    assert planned.consumed == {"f", "bm25", "b2"}


def _ranx_rrf(runs):
    ranx = pytest.importorskip("ranx")  # a test dependency (setup.cfg [test]); CI=true fails a skip
    from test_fusion import _ranks_as_scores  # ranx orders ties arbitrarily: hand it our ranks

    return ranx.fuse([ranx.Run(_ranks_as_scores(r)) for r in runs], norm=None, method="rrf",
                     params={"k": 60}).to_dict()


def _assert_top_of(got, want, depth):
    """``got`` is ranx's fused run cut to ``depth``: same values to 1e-9, nothing better left out."""
    assert set(got) == set(want)
    for qid, docs in got.items():
        assert len(docs) == min(depth, len(want[qid]))
        for doc, value in docs.items():
            assert value == pytest.approx(want[qid][doc], abs=1e-9, rel=0)
        left_out = [v for d, v in want[qid].items() if d not in docs]
        assert not left_out or max(left_out) <= min(docs.values()) + 1e-9


ROWS = {"beir-scifact": ("scifact", 100), "llamaindex-10k": ("llamaindex-10k", 20)}


@pytest.mark.parametrize("suite", ROWS)
def test_fusion_row_agrees_with_ranx_on_the_committed_runs(suite):
    """The fusion row's code path on the committed bm25 and minilm-l6 runs (and, once committed,
    the committed bm25-minilm-l6-rrf row itself, when it was fused from the committed inputs)."""
    from benchmarks.context import RunContext
    from benchmarks.suites import load_suite
    from retrievers.fusion import FusionRetriever
    from test_fusion import committed_run

    dataset, top_k = ROWS[suite]
    entry = next(r for r in load_suite(suite).retrievers if r.name == "bm25-minilm-l6-rrf")
    assert entry.use == "fusion" and entry.params["of"] == ["bm25", "minilm-l6"]
    folder = ROOT / "results" / suite / dataset
    if not (folder / "bm25.json").exists():  # llamaindex-10k gains its bm25 row with this issue
        assert suite == "llamaindex-10k" and not (folder / "bm25-minilm-l6-rrf.json").exists()
        return
    runs = [committed_run(suite, dataset, row) for row in ("bm25", "minilm-l6")]
    want = _ranx_rrf(runs)
    ctx = RunContext(progress=False, runs={"bm25": {"run": runs[0]}, "minilm-l6": {"run": runs[1]}})
    got = FusionRetriever("rrf", entry.params).retrieve({}, dict.fromkeys(runs[0], ""), top_k, ctx)
    _assert_top_of(got, want, top_k)
    record_file = folder / "bm25-minilm-l6-rrf.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
        for row in ("bm25", "minilm-l6"):  # like for like: fused from exactly the committed input runs
            source = json.loads((folder / f"{row}.json").read_text())
            assert record["fusion"]["inputs"][row]["run_sha256"] == source["run"]["sha256"], row
        _assert_top_of(committed_run(suite, dataset, "bm25-minilm-l6-rrf"), want, top_k)


def test_fusion_without_an_input_run_fails_with_the_reason():
    from benchmarks.context import RunContext
    from retrievers.fusion import FusionRetriever

    row = FusionRetriever("f", {"of": ["a", "b"]})
    with pytest.raises(RuntimeError, match=r"input row\(s\) b produced no run in this invocation"):
        row.retrieve({}, {"q": ""}, 3, RunContext(progress=False, runs={"a": {"run": {"q": {"d": 1.0}}}}))
