"""The arcee stand-in (benchmarks/perf/standin.py): same bytes for a seed, DALM's CSV shape, questions
answerable from their passage (bm25 finds it far above chance), its card's holdout shares no
passage, and its suite and leaderboard say "scale data"."""
from __future__ import annotations

import csv
import io
import json
import os

import pytest

from benchmarks.cards import load_card
from benchmarks.cli import main
from benchmarks.leakage import check
from benchmarks.loaders import load_split
from benchmarks.perf import standin
from conftest import SHARED_DATA, bm25_record

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "scifact" / "corpus.jsonl").is_file(),
                                reason=f"the stand-in's vocabulary (SciFact) is not at {SHARED_DATA}")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A 1,000-row stand-in, its card folder, and its rows as read back."""
    root = tmp_path_factory.mktemp("standin")
    path = standin.write(1000, root / "data", root / "cards", seed=0)
    table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return root, path, table


def test_same_seed_same_bytes_other_seed_other_bytes(made, tmp_path):
    _, path, _ = made
    assert standin.write(1000, tmp_path / "a", None, seed=0).read_bytes() == path.read_bytes()
    assert standin.write(1000, tmp_path / "b", None, seed=1).read_bytes() != path.read_bytes()


def test_shape_of_the_rows(made):
    root, _, table = made
    assert table[0] == ["Question", "Abstract", "Answer"] and len(table) == 1001
    body = table[1:]
    assert all(10 <= len(q.split()) <= 20 for q, _, _ in body)
    assert all(standin.MIN_WORDS <= len(p.split()) <= standin.MAX_WORDS for _, p, _ in body)
    assert all(1 <= len(a.split()) <= 4 for _, _, a in body)
    # Each question's keywords are words of its own passage.
    for q, p, _ in body[:50]:
        words = {w.strip(".,;:()[]") for w in p.split()}
        assert sum(w.strip("?,") in words for w in q.split()) >= 3
    # 1, 2 or 3 questions per passage at 0.80 / 0.15 / 0.05: 1 - 1/1.25 = 20% of rows repeat one.
    repeats = 1 - len({p for _, p, _ in body}) / len(body)
    assert 0.14 < repeats < 0.27
    assert (root / "cards" / "arcee-standin.yaml").read_bytes() == standin.shipped_card().read_bytes()


@pytest.fixture
def on_path(made, monkeypatch):
    root, _, _ = made
    monkeypatch.setenv("HARNESS_DATA_PATH", f"{root / 'data'}{os.pathsep}{SHARED_DATA}")
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(root / "cards"))  # a byte-identical copy: one card
    return root


def test_holdout_of_the_stand_in_shares_no_passage(on_path):
    card = load_card("arcee-standin")
    train, test = load_split(card, "train"), load_split(card, "test")
    assert len(test.queries) >= 100 and len(train.queries) + len(test.queries) == 1000
    leak = check(train, test)
    assert leak["passages"]["exact"] == leak["passages"]["near"] == 0
    assert test.notes["holdout"]["spec"]["part"] == "test"


def test_bm25_answers_the_questions_far_above_chance(on_path, tmp_path, monkeypatch):
    record, board = bm25_record(tmp_path, monkeypatch, "{name: arcee-standin, split: all}", metrics="hit_rate@10")
    chance = 10 / record["counts"]["docs"]  # ~800 distinct passages: 0.0125
    assert record["metrics"]["hit_rate@10"] > 0.8 > 50 * chance
    assert "**Scale data**" in board.read_text()


def test_the_suite_without_its_data_is_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_PATH", str(tmp_path / "empty"))
    out = tmp_path / "r"
    assert main(["--suite", "arcee-standin", "--retriever", "plain", "--results-dir", str(out),
                 "--leaderboard", str(tmp_path / "lb.md"), "-qq"]) == 0
    failed = json.loads((out / "arcee-standin" / "arcee-standin" / "plain.json").read_text())
    assert failed["status"] == "not_available" and "benchmarks.perf.standin" in failed["reason"]


def test_bad_rows_argument():
    with pytest.raises(SystemExit):
        standin.main(["--rows", "0", "--data-dir", "/nonexistent"])
