"""Fusion: hand-worked values, then agreement with ranx.fuse on the committed SciFact runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.fusion import fuse, normalize, ranked
from benchmarks.trec import read_run

ROOT = Path(__file__).resolve().parents[2]
A = {"q": {"d1": 3.0, "d2": 2.0, "d3": 1.0}}
B = {"q": {"d3": 0.9, "d4": 0.5}}


def test_rrf_by_hand():
    out = fuse([A, B], "rrf", k=60)["q"]
    assert out == pytest.approx({"d1": 1 / 61, "d2": 1 / 62, "d3": 1 / 63 + 1 / 61, "d4": 1 / 62})
    assert ranked(out) == ["d3", "d1", "d4", "d2"]  # d2 and d4 tie: the larger doc id first
    assert list(fuse([A, B], "rrf", depth=2)["q"]) == ["d3", "d1"]


def test_combsum_combmnz_weights_and_norms_by_hand():
    # min-max: A -> d1 1, d2 .5, d3 0; B -> d3 1, d4 0
    assert fuse([A, B], "combsum")["q"] == pytest.approx({"d1": 1, "d2": .5, "d3": 1, "d4": 0})
    assert fuse([A, B], "combmnz")["q"] == pytest.approx({"d1": 1, "d2": .5, "d3": 2, "d4": 0})
    assert fuse([A, B], "combsum", weights=[2, 1])["q"] == pytest.approx({"d1": 2, "d2": 1, "d3": 1, "d4": 0})
    assert fuse([A, B], "combsum", norm="none")["q"] == pytest.approx({"d1": 3, "d2": 2, "d3": 1.9, "d4": .5})
    z = normalize(A["q"], "z")  # mean 2, population std sqrt(2/3)
    assert z == pytest.approx({"d1": 1 / (2 / 3) ** .5, "d2": 0, "d3": -1 / (2 / 3) ** .5})
    assert normalize({"only": 5.0}, "min-max") == {"only": 0.0}  # zero range: no division by zero


def test_queries_missing_from_a_run_and_bad_arguments():
    out = fuse([A, {"other": {"x": 1.0}}], "rrf")
    assert set(out) == {"q", "other"} and out["other"] == {"x": pytest.approx(1 / 61)}
    for kwargs, match in [({"method": "borda"}, "unknown fusion"), ({"norm": "max"}, "unknown norm"),
                          ({"weights": [1]}, "weights")]:
        with pytest.raises(ValueError, match=match):
            fuse([A, B], **{"method": "combsum", **kwargs})
    with pytest.raises(ValueError, match="two runs"):
        fuse([A])


def committed_run(suite: str, dataset: str, row: str):
    record_file = ROOT / "results" / suite / dataset / f"{row}.json"
    record = json.loads(record_file.read_text())
    return read_run(record_file.with_name(record["run"]["path"]))


def _ranks_as_scores(run):
    """The run with each query's scores replaced by strictly falling ones in the harness's order:
    the same ranks, but none tied, so ranx (which orders ties arbitrarily) ranks exactly as we do."""
    return {q: {doc: float(len(docs) - i) for i, doc in enumerate(ranked(docs))} for q, docs in run.items()}


@pytest.mark.parametrize("ours, theirs", [
    (dict(method="rrf", k=60), dict(norm=None, method="rrf", params={"k": 60})),
    (dict(method="rrf", k=10), dict(norm=None, method="rrf", params={"k": 10})),
    (dict(method="combsum", norm="min-max"), dict(norm="min-max", method="sum")),
    (dict(method="combsum", norm="z"), dict(norm="zmuv", method="sum")),
    (dict(method="combmnz", norm="min-max"), dict(norm="min-max", method="mnz")),
    (dict(method="combsum", norm="min-max", weights=[0.3, 0.7]),
     dict(norm="min-max", method="wsum", params={"weights": [0.3, 0.7]})),
], ids=["rrf60", "rrf10", "combsum-minmax", "combsum-z", "combmnz-minmax", "wsum"])
def test_agrees_with_ranx_on_the_committed_scifact_runs(ours, theirs):
    ranx = pytest.importorskip("ranx")  # a test dependency (setup.cfg [test]); CI=true fails a skip
    runs = [committed_run("beir-scifact", "scifact", row) for row in ("bm25", "minilm-l6")]
    assert len(runs[0]) == len(runs[1]) == 300
    rank_based = ours["method"] == "rrf"
    assert sum(len(set(d.values())) < len(d) for d in runs[0].values()) > 0  # bm25 does tie: this matters
    want = ranx.fuse([ranx.Run(_ranks_as_scores(r) if rank_based else r) for r in runs], **theirs).to_dict()
    got = fuse(runs, **ours)
    assert set(got) == set(want)
    compared = 0
    for qid in got:
        assert set(got[qid]) == set(want[qid])
        for doc, value in got[qid].items():
            assert value == pytest.approx(want[qid][doc], abs=1e-9, rel=0)
            compared += 1
    assert compared > 300 * 100  # every fused document of every query
