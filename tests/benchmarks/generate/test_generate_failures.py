"""``generate`` never writes a dataset that silently lacks failed items.

Observed on 3ca4cbb: a run in which every call failed exited 0 and wrote a dataset and card with
no questions. Now: a stage in which every item failed exits 1 and writes nothing; a partial
failure prints the counts and exits 1 (writing nothing, so the same command retries just the
failures from the cache) unless --allow-partial. The three hand-worked chunks of the fake PDF are
"alpha beta gamma delta", "delta epsilon zeta eta" and "eta theta iota kappa".
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from generate_fakes import FakeBackend  # noqa: E402 (gen: conftest.py fixture)

from benchmarks.llm import backends as gen_backends  # noqa: E402

ARGV = ["--out", "flaky", "--chunk-words", "4", "--chunk-overlap", "1"]


class FlakyBackend(FakeBackend):
    fail_on: tuple[str, ...] = ()  # a prompt containing any of these fails (every try)

    def chat(self, messages, sampling, seed, stop=None):
        if any(word in messages[-1]["content"] for word in FlakyBackend.fail_on):
            FakeBackend.calls += 1
            raise RuntimeError("server error 500")
        return super().chat(messages, sampling, seed, stop)


@pytest.fixture
def flaky(gen, monkeypatch):
    monkeypatch.setitem(gen_backends.BACKENDS, "fake", FlakyBackend)
    return gen


def nothing_written(data: Path) -> bool:
    return not (data / "flaky").exists() and not list(data.glob("cards/flaky*"))


def test_every_item_failed_exits_1_and_writes_nothing(flaky, monkeypatch, capsys):
    run, pdfs, data = flaky
    monkeypatch.setattr(FlakyBackend, "fail_on", ("alpha", "eta"))  # all three chunks
    assert run("--from-pdf", str(pdfs), *ARGV, "--allow-partial") == 1
    assert "every item failed (questions: 0 ok, 3 failed)" in capsys.readouterr().err
    assert nothing_written(data) and FakeBackend.calls == 3 * 3  # 3 tries per chunk


def test_partial_failure_reports_counts_and_needs_allow_partial(flaky, monkeypatch, capsys):
    run, pdfs, data = flaky
    monkeypatch.setattr(FlakyBackend, "fail_on", ("kappa",))  # the third chunk only
    assert run("--from-pdf", str(pdfs), *ARGV) == 1
    err = capsys.readouterr().err
    assert "1 item(s) failed (questions: 2 ok, 1 failed)" in err and "--allow-partial" in err
    assert nothing_written(data)
    FakeBackend.calls = 0
    assert run("--from-pdf", str(pdfs), *ARGV, "--allow-partial") == 0
    assert "questions: 2 ok (0 generated, 2 from cache), 1 failed" in capsys.readouterr().out
    assert FakeBackend.calls == 3  # only the failed chunk was tried again
    assert (data / "flaky" / "doc-one.json").is_file() and (data / "cards" / "flaky.yaml").is_file()


def test_answers_all_failed_is_refused_even_with_allow_partial(flaky, monkeypatch, capsys):
    run, pdfs, data = flaky
    monkeypatch.setattr(FlakyBackend, "fail_on", ("Question:",))  # only answer prompts say this
    assert run("--from-pdf", str(pdfs), *ARGV, "--answers", "--allow-partial") == 1
    assert "every item failed (questions: 3 ok, 0 failed; answers: 0 ok, 6 failed)" in capsys.readouterr().err
    assert nothing_written(data)


def test_answers_for_all_failed_exits_1(flaky, monkeypatch, capsys):
    run, pdfs, data = flaky
    src = data / "src"
    src.mkdir(parents=True)
    (src / "t.csv").write_text("Question,Abstract,Answer\nWhat is one?,one two three,\n")
    (data / "cards").mkdir()
    (data / "cards" / "src.yaml").write_text(
        "schema: dataset/v1\nname: src\nversion: 1\ndescription: x\nformat: csv-qa\npinned: false\n"
        "splits:\n  train:\n    data: {path: src/t.csv, sha256: null}\n")
    monkeypatch.setattr(FlakyBackend, "fail_on", ("one",))
    assert run("--answers-for", "src", "--out", "flaky") == 1
    assert "every item failed (answers: 0 ok, 1 failed)" in capsys.readouterr().err
    assert nothing_written(data)
