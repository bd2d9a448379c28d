"""The leaderboard compares only rows evaluated alike; the others are shown as stale, with why and how
to refresh them. Suite ``pair`` (conftest): rows bm25 (baseline) and robertson on the tiny data."""
import json
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.errors import DataError
from benchmarks.records import LoadedRecord
from benchmarks.report import paired_tests
from md_tables import table_row, table_rows


def harness(results: Path, *args: str) -> int:
    return main([*args, "--results-dir", str(results), "--leaderboard", str(results / "lb.md"), "--quiet"])


def board(results: Path) -> str:
    return (results / "lb.md").read_text(encoding="utf-8")


def cells(text: str, name: str) -> list[str]:
    return table_row(text, name)


def edit_record(results: Path, row: str, change) -> None:
    path = results / "pair" / "tiny" / f"{row}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.fixture
def full(pair_suite, tmp_path):
    results = tmp_path / "results"
    assert harness(results, "--suite", "pair") == 0
    return results


def test_baseline_rerun_on_fewer_queries_makes_the_other_row_stale_not_compared(full):
    assert harness(full, "--suite", "pair", "--retriever", "bm25", "--limit-queries", "2") == 0
    text = board(full)
    assert "### tiny (split `test`, 2 queries, 5 docs)" in text  # q1, q2: both judged relevant
    assert cells(text, "bm25 (baseline)")[1].startswith("0.5000")  # hit_rate@1 of q1, q2
    stale = cells(text, "robertson")
    assert stale[0] == "robertson (stale)" and stale[1].startswith("0.3333")
    assert not any("▲" in c or "▼" in c for c in stale)
    assert ("- `robertson`: evaluated on 4 queries, baseline on 2; evaluated on 5 judgments, baseline on 3. "
            f"Refresh: `python harness.py --suite pair --dataset tiny --retriever robertson --results-dir {full}`"
            ) in text
    assert not any(r[:2] == ["robertson", "mrr@5"] for r in table_rows(text))  # no paired test, no Δ


def test_rows_alike_are_still_compared(full):
    text = board(full)
    assert "stale" not in text
    assert ["robertson", "mrr@5", "+0.0000", "1.0000", "1.0000"] in table_rows(text)


def test_a_metric_deleted_from_a_record_is_a_dash_with_a_footnote(full):
    edit_record(full, "robertson", lambda d: d["metrics"].pop("mrr@5"))
    assert harness(full, "leaderboard") == 0
    text = board(full)
    assert cells(text, "robertson")[2] == "—"
    assert "- `robertson` has no mrr@5 in its record (it was run with hit_rate@1)" in text


def test_suite_metrics_edited_and_one_row_rerun(full, pair_suite):
    pair_suite.write_text(pair_suite.read_text().replace("[hit_rate@1, mrr@5]", "[hit_rate@1, recall@1]"))
    assert harness(full, "--suite", "pair", "--retriever", "bm25") == 0
    text = board(full)
    assert ["retriever", "hit_rate@1", "recall@1"] in table_rows(text)  # the suite's, not the first record's
    assert cells(text, "robertson (stale)")[2] == "—"
    assert ("`robertson`: the suite changed since this ran: metrics differ (hit_rate@1, mrr@5; "
            "the suite now: hit_rate@1, recall@1)") in text


def test_records_without_fingerprint_are_stale(full):
    from benchmarks.staleness import NO_FINGERPRINT

    edit_record(full, "robertson", lambda d: d.pop("fingerprint"))
    assert harness(full, "leaderboard") == 0
    assert f"- `robertson`: {NO_FINGERPRINT}. Refresh:" in board(full)


def test_rows_gone_from_the_suite_are_stale_and_prune_deletes_them(full, pair_suite, capsys):
    pair_suite.write_text(pair_suite.read_text().replace(
        "  - {name: robertson, use: bm25, params: {method: robertson}}\n", ""))
    assert harness(full, "leaderboard") == 0
    assert "- `robertson`: row robertson is no longer in suite pair." in board(full)
    folder = full / "pair" / "tiny"
    assert any(p.name.startswith("robertson.") for p in folder.iterdir())
    capsys.readouterr()
    assert harness(full, "leaderboard", "--prune") == 0
    out = capsys.readouterr().out
    assert f"pruned {folder / 'robertson.json'} (3 file(s)): row robertson is no longer in suite pair" in out
    assert not any(p.name.startswith("robertson.") or p.name == "robertson.json" for p in folder.iterdir())
    assert "robertson" not in board(full) and table_row(board(full), "bm25 (baseline)")[0] == "bm25 (baseline)"


def test_suite_gone_columns_are_the_union_of_the_records(full, pair_suite):
    edit_record(full, "robertson", lambda d: d["metrics"].update({"ndcg@3": 0.5}))
    pair_suite.unlink()
    assert harness(full, "leaderboard") == 0
    assert ["retriever", "hit_rate@1", "mrr@5", "ndcg@3"] in table_rows(board(full))
    assert cells(board(full), "bm25")[3] == "—"


def test_footer_names_the_results_dir_and_each_rows_command(full):
    assert harness(full, "--suite", "pair", "--retriever", "bm25", "--limit-queries", "2") == 0
    text = board(full)
    assert f"records under `{full}/`" in text
    assert [f"`python harness.py --suite pair --retriever bm25 --limit-queries 2 --results-dir {full} "
            f"--leaderboard {full / 'lb.md'} --quiet`"] in [r[1:2] for r in table_rows(text) if r[0] == "bm25"]


def test_same_records_same_bytes(full):
    first = board(full)
    assert harness(full, "leaderboard") == 0
    assert board(full) == first


class Fake(LoadedRecord):
    def per_query(self):
        return self.data["pq"]


def test_paired_test_refuses_different_query_sets():
    settings = {"seed": 0, "significance": {"n_resamples": 100}}
    base = Fake(Path("base.json"), {"row": "base", "status": "ok", "settings": settings,
                                    "pq": {"m": {"q1": 1.0, "q2": 0.0}}})
    other = Fake(Path("r/s/d/other.json"), {"row": "other", "status": "ok", "settings": settings, "suite": "s",
                                            "dataset": {"id": "d"}, "pq": {"m": {"q1": 1.0, "q3": 1.0}}})
    with pytest.raises(DataError, match="query sets differ .*q2, q3"):
        paired_tests([base, other], "base", ["m"])
