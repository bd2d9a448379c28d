"""``harness.py compare``: wins / ties / losses and the queries two rows differ on most, from records.

Suite ``duo`` (tests/duo_suite.py) on the tiny data; its docstring works out every rank used here.
noapple against nocherry on mrr@5: q1 .2 vs .5 (loses), q2 1 vs 1/3 (wins), q3 .5 vs .5 (tie)."""
import json

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.compare import compare
from benchmarks.power import min_detectable_effect
from benchmarks.records import record_path, write_attempt
from duo_suite import duo_env, run_duo


@pytest.fixture
def duo(tmp_path, monkeypatch):
    duo_env(monkeypatch, tmp_path)
    return run_duo(tmp_path)


def cli(results, capsys, *args):
    code = main(["compare", *args, "--results-dir", str(results)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_wins_ties_losses_and_the_queries_that_differ_most(duo):
    c = compare(duo, "duo", "tiny", "noapple", "nocherry")
    assert c.metric == "mrr@5"  # the suite's main_metric (its first metric is hit_rate@1)
    assert (c.wins, c.ties, c.losses) == (1, 1, 1)
    assert c.mean_a == pytest.approx(1.7 / 3) and c.mean_b == pytest.approx((1 + 1 / 3) / 3)
    assert [q.qid for q in c.queries] == ["q2", "q1"]  # |Δ| 2/3, then 0.3; q3 is a tie and not shown
    q2, q1 = c.queries
    assert (q2.a, q2.b, q2.rank_a, q2.rank_b, q2.text) == (1.0, pytest.approx(1 / 3), "1", "3", "cherry")
    assert (q1.a, q1.b, q1.rank_a, q1.rank_b, q1.text) == (0.2, 0.5, "5", "2", "apple")
    # d3 grade 2, d2 grade 1: both relevant
    assert q2.top_a == ["✓ d3: cherry date", "✓ d2: banana cherry", "d5: apple apple"]
    assert q2.top_b == ["d5: apple apple", "d4: date elderberry", "✓ d3: cherry date"]
    assert q1.top_b == ["d5: apple apple", "✓ d1: apple banana", "d4: date elderberry"]
    assert c.data_note is None
    sd = np.std([0.2 - 0.5, 1 - 1 / 3, 0.0], ddof=1)
    assert f"differences below {min_detectable_effect(sd, 3):.3f}" in c.mde


def test_markdown(duo, capsys):
    code, out, _ = cli(duo, capsys, "duo", "tiny", "noapple", "nocherry", "--format", "md", "--passages", "2")
    assert code == 0
    assert out.startswith("## Compare `noapple` with `nocherry` · duo / tiny (split `test`)\n")
    assert ("mrr@5 over 3 queries: `noapple` wins 1, ties 1, loses 1 against `nocherry` "
            "(mean 0.5667 vs 0.4444, Δ +0.1222)") in out
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert rows[:2] == [["1", "q2", "1.0000", "0.3333", "+0.6667", "1", "3", "cherry"],
                        ["2", "q1", "0.2000", "0.5000", "-0.3000", "5", "2", "apple"]]
    assert "#### 1. q2: cherry" in out and "#### 2. q1: apple" in out
    assert "d3: cherry date" in out and "d4: date elderberry" in out  # d4: nocherry's 2nd for q2
    assert sum(line.startswith("| 3 ") for line in out.splitlines()) == 0


def test_terminal_table_other_metric_and_top(duo, capsys):
    code, out, _ = cli(duo, capsys, "duo", "tiny", "noapple", "nocherry", "--metric", "HIT_RATE@1",
                       "--top", "1")
    assert code == 0
    # hit_rate@1: noapple (0, 1, 0), nocherry (0, 0, 0)
    assert "hit_rate@1 over 3 queries: noapple wins 1, ties 2, loses 0 against nocherry" in out
    assert "The 1 query where they differ most (by |Δ hit_rate@1|)" in out
    assert "\n1. q2: cherry\n" in out and "q1" not in out and "|" not in out.split("|)")[1]


def test_rows_alike_on_every_query(duo, capsys):
    code, out, _ = cli(duo, capsys, "duo", "tiny", "bm25", "noapple", "--metric", "hit_rate@5")
    assert code == 0 and "wins 0, ties 3, loses 0" in out and "score every query alike" in out


def test_without_the_data_ids_and_ranks_from_mrr(duo, tmp_path, monkeypatch):
    empty = tmp_path / "nodata"
    empty.mkdir()
    monkeypatch.setenv("HARNESS_DATA_PATH", str(empty))
    c = compare(duo, "duo", "tiny", "noapple", "nocherry")
    assert "dataset tiny is not available here" in c.data_note and "showing ids only" in c.data_note
    q2, q1 = c.queries
    assert (q2.rank_a, q2.rank_b, q1.rank_a, q1.rank_b) == ("1", "3", "5", "2")  # 1 / mrr@5
    assert q2.text is None and q2.top_b == ["d5", "d4", "d3"]


def test_data_changed_since_the_run_shows_ids_only(duo, tmp_path, monkeypatch):
    import hashlib
    import shutil

    from conftest import TINY

    data, cards = tmp_path / "data", tmp_path / "cards"
    shutil.copytree(TINY / "data", data)
    shutil.copytree(TINY / "cards", cards)
    corpus = data / "tiny" / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("cherry date", "cherry dates"))
    card = cards / "tiny.yaml"  # re-pinned: the card accepts the new file, the records saw the old one
    line = next(line for line in card.read_text().splitlines() if "corpus.jsonl" in line)
    old = line.split("sha256: ")[1][:64]
    card.write_text(card.read_text().replace(old, hashlib.sha256(corpus.read_bytes()).hexdigest()))
    monkeypatch.setenv("HARNESS_DATA_PATH", str(data))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(cards))
    c = compare(duo, "duo", "tiny", "noapple", "nocherry")
    assert "not the corpus these rows were evaluated on" in c.data_note and c.queries[0].text is None


@pytest.mark.parametrize("args, message", [
    (("dou", "tiny", "noapple", "nocherry"), "no suite with records 'dou' in {r}; did you mean duo?"),
    (("duo", "tiyn", "noapple", "nocherry"), "no dataset with records 'tiyn' in {r}/duo; did you mean tiny?"),
    (("duo", "tiny", "noaple", "nocherry"), "no row 'noaple' in {r}/duo/tiny; did you mean noapple?"),
    (("duo", "tiny", "bm25", "xyz"), "no row 'xyz' in {r}/duo/tiny; known: bm25, noapple, nocherry"),
    (("duo", "tiny", "bm25", "bm25"), "ROW_A and ROW_B are both 'bm25'"),
    (("duo", "tiny", "bm25", "../tiny/noapple"), "no row '../tiny/noapple' in {r}/duo/tiny"),
    (("..", "duo", "bm25", "noapple"), "no suite with records '..' in {r}"),
    (("duo", "tiny", "bm25", "noapple", "--metric", "mrr@50"),
     "not in both rows' per-query values; did you mean mrr@5?"),
    (("duo", "tiny", "bm25", "noapple", "--metric", "mrrr@5"), "unknown metric"),
])
def test_bad_names_exit_2_with_suggestions(duo, capsys, args, message):
    code, out, err = cli(duo, capsys, *args)
    assert code == 2 and out == ""
    assert message.format(r=duo) in err and err.startswith("error: ")


def test_a_row_without_numbers_is_refused(duo, capsys):
    path = record_path(duo, "duo", "tiny", "gone")
    data = json.loads(record_path(duo, "duo", "tiny", "noapple").read_text())
    for key in ("per_query", "run", "metrics", "ci", "fingerprint"):
        data.pop(key, None)
    write_attempt(path, {**data, "row": "gone", "status": "failed", "reason": "RuntimeError: boom\ntrace"})
    code, _, err = cli(duo, capsys, "duo", "tiny", "gone", "bm25")
    assert code == 2
    assert (f"row gone has no numbers to compare: its record {path} is failed: RuntimeError: boom. "
            "Re-run it: ") in err
    assert "--retriever gone" in err


def test_rows_evaluated_differently_are_refused_with_the_reason(duo, tmp_path, capsys):
    run_duo(tmp_path, "--retriever", "noapple", "--limit-queries", "2")
    code, _, err = cli(duo, capsys, "duo", "tiny", "noapple", "nocherry")
    assert code == 2
    assert ("rows noapple and nocherry were not evaluated alike, so their per-query values cannot be paired: "
            "noapple evaluated on 2 queries, nocherry on 4") in err
    assert "--retriever noapple --results-dir" in err and err.rstrip().endswith("--retriever nocherry")
