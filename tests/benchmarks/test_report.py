"""Paired tests behind the leaderboard's ▲/▼ marks, on per-query scores worked by hand."""
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmarks.records import LoadedRecord
from benchmarks.report import UP, paired_tests, significance, p_value_table
from md_tables import table_rows

QUERIES = ["q1", "q2", "q3", "q4", "q5"]


@dataclass
class FakeRecord(LoadedRecord):
    scores: dict = field(default_factory=dict)

    def per_query(self):
        return {"mrr@5": dict(zip(QUERIES, self.scores))}


def record(row, scores, status="ok"):
    data = {"row": row, "status": status, "settings": {"seed": 0, "significance": {"n_resamples": 10000}}}
    return FakeRecord(Path(f"{row}.json"), data, scores)


def test_p_values_match_exact_sign_flip_counts_and_holm():
    # Differences to the baseline (all zeros):
    #   up   [1,1,1,1,0]: |sum| = 4 only when the four non-zero signs agree: 2/16 -> p = 0.125
    #   flat [1,-1,0,0,0]: sum 0, every flip reaches it -> p = 1
    #   all  [1,1,1,1,1]: 2/32 -> p = 0.0625
    # Holm, 3 tests: all 3 * 0.0625 = 0.1875, up max(0.1875, 2 * 0.125) = 0.25, flat 1.
    records = [record("base", [0] * 5), record("up", [1, 1, 1, 1, 0]), record("flat", [1, 0, 0, 0, 0]),
               record("all", [1] * 5), record("broken", [], status="failed")]
    records[2].scores = [1, -1, 0, 0, 0]
    tests = {t.row: t for t in paired_tests(records, "base", ["mrr@5"])}
    assert set(tests) == {"up", "flat", "all"}  # the failed row is not tested
    expected = {"up": (0.8, 0.125, 0.25), "flat": (0.0, 1.0, 1.0), "all": (1.0, 0.0625, 0.1875)}
    for row, (diff, p, p_adj) in expected.items():
        assert tests[row].diff == pytest.approx(diff)
        assert tests[row].p == pytest.approx(p, abs=0.01)  # 10,000 random flips, sd < 0.004
        assert tests[row].p_adjusted == pytest.approx(p_adj, abs=0.03)
    assert significance(list(tests.values()), alpha=0.05) == {}
    assert significance(list(tests.values()), alpha=0.3) == {("up", "mrr@5"): UP, ("all", "mrr@5"): UP}


def test_no_baseline_record_means_no_tests_and_no_table():
    assert paired_tests([record("up", [1] * 5)], "base", ["mrr@5"]) == []
    assert p_value_table([], "base") == []


def test_table_lists_every_test():
    tests = paired_tests([record("base", [0] * 5), record("all", [1] * 5)], "base", ["mrr@5"])
    lines = p_value_table(tests, "base")
    assert lines[0] == "<details><summary>Paired tests against <code>base</code></summary>"
    rows = table_rows("\n".join(lines))
    assert rows[0] == ["retriever", "metric", "Δ mean", "p", "p adjusted"]
    assert rows[1][:3] == ["all", "mrr@5", "+1.0000"] and rows[1][3].startswith("0.06") and len(rows) == 2
