"""The scale scripts (benchmarks/perf/scale.py, gpu_scale.py) at tiny size on CPU: they run the
harness end to end, time every phase, and leave loadable records. No test needs a GPU."""
from __future__ import annotations

import json

import pytest

from benchmarks.perf import gpu_scale, scale
from benchmarks.records import load_records
from conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "scifact" / "corpus.jsonl").is_file(),
                                reason=f"the stand-in's vocabulary (SciFact) is not at {SHARED_DATA}")


@pytest.fixture
def scale_env(monkeypatch):
    """measure() points the HARNESS_* variables at its work folder; restore them afterwards."""
    for key in ("HARNESS_DATA_PATH", "HARNESS_DATASETS_DIR", "HARNESS_SUITES_DIR", "HARNESS_CACHE_DIR"):
        monkeypatch.setenv(key, "")


def test_phase_timer_counts_nested_time_once(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(scale.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(scale.time, "process_time", lambda: clock[0] / 2)
    timer = scale.PhaseTimer()

    def inner():
        clock[0] += 2

    wrapped_inner = timer.wrap("dedupe", inner)

    def outer():
        clock[0] += 1
        wrapped_inner()
        clock[0] += 4

    timer.wrap("load", outer)()
    assert dict(timer.seconds) == {"dedupe": 2, "load": 5}  # 7 s in load, 2 of them in dedupe
    assert dict(timer.cpu) == {"dedupe": 1, "load": 2.5}
    assert dict(timer.calls) == {"dedupe": 1, "load": 1}


def test_scale_run_times_every_phase_of_the_holdout_challenge(tmp_path, scale_env):
    name, text = scale.challenge_suite(300, "holdout", "scale-hash")
    out = scale.measure(300, tmp_path / "w", [(name, text)])
    assert out["exit_status"] == 0 and set(out["phases_s"]) == set(scale.PHASES)
    for phase in ("load", "dedupe", "holdout", "fingerprint", "encode", "leakage", "search", "metrics",
                  "cis", "records", "paired_tests", "leaderboard"):
        assert out["calls"].get(phase, 0) >= 1, phase
    assert out["calls"]["train"] == 2  # both rows pass through train(); only 'fit' trains
    records = {r.row: r for r in load_records(tmp_path / "w" / "results")}
    assert {r.status for r in records.values()} == {"ok"}
    assert records["fit"].data["fingerprint"]["holdout"]["part"] == "test"
    assert records["fit"].data["training"]["leakage"]["passages"]["exact"] == 0
    assert out["bytes"]["per_query"] > 0 and out["bytes"]["run"] > 0
    assert (tmp_path / "w" / "leaderboard-regen.md").read_text() == (tmp_path / "w" / "leaderboard.md").read_text()


def test_gpu_script_runs_on_cpu_at_tiny_size(tmp_path, scale_env):
    report = tmp_path / "gpu.json"
    rc = gpu_scale.main(["--rows", "100", "--device", "cpu", "--train-batch-size", "16", "--work",
                         str(tmp_path / "g"), "--json", str(report)])
    out = json.loads(report.read_text())
    assert rc == 0 and out["suites"] == ["gpu-all", "gpu-holdout"] and out["dtype"] == "float32"
    assert out["calls"]["encode"] >= 4 and out["phases_s"]["train"] > 0
    records = {(r.suite, r.row): r for r in load_records(tmp_path / "g" / "results")}
    assert {r.status for r in records.values()} == {"ok"}
    assert records["gpu-all", "plain"].data["counts"]["queries"] == 100  # every query, every passage
    trained = records["gpu-holdout", "contrastive"].data["training"]
    assert trained["split"] == "train" and trained["leakage"]["passages"]["exact"] == 0
