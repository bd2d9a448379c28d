"""End to end on the tiny dataset: records, hand-worked metrics, failures, cache, leaderboard."""
import hashlib
import json

import pytest

from benchmarks.cli import main
from conftest import run_cli, tiny_process_env
from md_tables import table_rows

# Keyword vectors (see the plugin): q1 'apple' scores d5 1.0, d1 0.707, rest 0 -> d1 at rank 2.
# q2 'cherry' ties d2 and d3 at 0.707: doc id descending puts d3 (grade 2) first, d2 second.
# q3 'fig' is the zero vector: all docs tie at 0, order d5 d4 d3 d2 d1 -> d4 (relevant) at rank 2
# (ascending ids would put it at rank 4). q4 has only a grade-0 judgment: excluded, counted.
EXPECTED = {
    "hit_rate@1": 1 / 3,                      # only q2
    "mrr@5": (1 / 2 + 1 + 1 / 2) / 3,
    "recall@1": (0 + 1 / 2 + 0) / 3,          # q2 finds one of its two
    "ndcg@3": (2 * (1 / 1.5849625007211562) + 1) / 3,  # q1, q3: 1/log2(3); q2 ideal order: 1
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    env = tiny_process_env(tmp)
    results, board = tmp / "results", tmp / "leaderboard.md"
    first = run_cli(env, "--suite", "tiny", "--results-dir", str(results), "--leaderboard", str(board), "--quiet")
    second = run_cli(env, "--suite", "tiny", "--retriever", "keyword", "--results-dir", str(tmp / "again"),
                     "--leaderboard", str(tmp / "again" / "leaderboard.md"), "--quiet")
    return env, first, second, results, board, tmp


def load(results, row):
    return json.loads((results / "tiny" / "tiny" / f"{row}.json").read_text())


def test_failure_is_recorded_and_the_others_run(tiny_run):
    _, first, _, results, _, _ = tiny_run
    assert first.returncode == 1, first.stderr  # something failed
    broken = load(results, "broken")
    assert broken["status"] == "failed" and "no-such-org/no-such-model" in broken["reason"]
    assert load(results, "bm25")["status"] == "ok"


def test_entry_point_plugin_runs_and_metrics_match_hand_worked_values(tiny_run):
    _, _, _, results, _, _ = tiny_run
    rec = load(results, "keyword")
    assert rec["status"] == "ok"
    assert rec["retriever"]["name"] == "keyword" and rec["retriever"]["use"] == "keyword"
    for metric, value in EXPECTED.items():
        assert rec["metrics"][metric] == pytest.approx(value, abs=1e-9), metric
    assert rec["counts"]["queries_evaluated"] == 3 and rec["counts"]["excluded_no_relevant"] == 1
    lo, hi = rec["ci"]["mrr@5"]
    assert lo <= rec["metrics"]["mrr@5"] <= hi
    # first relevant ranks 2, 1, 2 -> hit_rate@k curve for k = 1..5
    assert rec["hit_rate_curve"] == pytest.approx([1 / 3, 1, 1, 1, 1])


def test_record_carries_provenance_and_sidecars_match_hashes(tiny_run):
    _, _, _, results, _, _ = tiny_run
    rec = load(results, "keyword")
    assert rec["schema_version"] == "result/v1"
    assert set(rec["dataset"]["files"]) == {"corpus", "queries", "qrels"}
    assert rec["settings"]["tie_break"].startswith("score descending, then doc id descending")
    assert {"harness_version", "git_commit", "git_dirty", "python", "packages", "device"} <= set(rec["env"])
    folder = results / "tiny" / "tiny"
    for ref in (rec["per_query"], rec["run"]):
        assert hashlib.sha256((folder / ref["path"]).read_bytes()).hexdigest() == ref["sha256"]
    per_query = json.loads((folder / rec["per_query"]["path"]).read_text())
    assert per_query["mrr@5"] == {"q1": 0.5, "q2": 1.0, "q3": 0.5}


def test_warm_run_encodes_nothing(tiny_run):
    _, first, second, results, _, tmp = tiny_run
    assert second.returncode == 0, second.stderr
    cold = load(results, "keyword")["stats"]
    warm = json.loads((tmp / "again" / "tiny" / "tiny" / "keyword.json").read_text())
    assert cold["encoded_texts"] == 9  # 5 passages + 4 queries
    assert warm["stats"]["encoded_texts"] == 0 and warm["stats"]["cached_texts"] == 9
    assert warm["metrics"] == load(results, "keyword")["metrics"]


def test_leaderboard_rows_marks_and_determinism(tiny_run, tmp_path):
    env, _, _, results, board, _ = tiny_run
    text = board.read_text()
    rows = table_rows(text)
    assert ["keyword (baseline)"] in [r[:1] for r in rows] and ["bm25"] in [r[:1] for r in rows]
    assert any(r[0] == "broken" and r[1].startswith("FAILED: ") for r in rows) and "no-such-org" in text
    assert "![hit_rate@k for tiny / tiny](plots/tiny/tiny.png)" in text
    assert "<details><summary>Paired tests against <code>keyword</code></summary>" in text
    assert ["bm25", "mrr@5", "+0.0000", "1.0000", "1.0000"] in rows  # same ranks on every query
    png = (board.parent / "plots" / "tiny" / "tiny.png").read_bytes()
    again = run_cli(env, "leaderboard", "--results-dir", str(results), "--leaderboard", str(tmp_path / "lb.md"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "lb.md").read_text() == text
    assert (tmp_path / "plots" / "tiny" / "tiny.png").read_bytes() == png


def test_unknown_filter_is_an_error(tiny_env, tmp_path, capsys):
    rc = main(["--suite", "tiny", "--retriever", "nope", "--results-dir", str(tmp_path / "r"), "--quiet"])
    assert rc == 2 and "--retriever nope: not in this suite" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_records_carry_no_machine_paths(tiny_run):
    from benchmarks.provenance import REPO_ROOT
    from benchmarks.records import portable

    assert portable({"a": [f"{REPO_ROOT}/datasets/x.yaml"]}) == {"a": ["datasets/x.yaml"]}
    from benchmarks.context import cache_root

    assert portable(f"{cache_root()}/artifacts/k") == "<cache>/artifacts/k"
    _, _, _, results, _, _ = tiny_run
    for path in (results / "tiny" / "tiny").glob("*.json"):
        assert str(REPO_ROOT) not in path.read_text(), path

