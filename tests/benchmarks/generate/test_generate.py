"""harness.py generate: parsing, chunking, caching/resume, outputs, backends (fake model by default).

The PDF fixture is written by hand (``_pdf``) so no PDF writer is needed; the real SmolLM2 check
is ``-m slow``.
"""
from __future__ import annotations

import csv
import json

import pytest

from benchmarks.errors import HarnessError
from benchmarks.generate.pdf import Page, chunk_words, extract_pages
from benchmarks.llm import backends as gen_backends
from benchmarks.llm.backends import BackendOptions, Sampling
from benchmarks.llm.cache import OutputCache
from benchmarks.llm.prompts import RULE, load_prompt
from benchmarks.llm.qa import dalm_filter, has_n_questions, parse_answer, parse_questions
from benchmarks.stats import evenly_spaced
from embedding_server import EmbeddingServer, Fault

from generate_fakes import PAGES, FakeBackend, _pdf  # noqa: F401 (gen: conftest.py fixture)


def test_parse_questions_follows_llamaindex_rules():
    reply = "\n1. What is A?\n\n2) Why B?\n3 How C?\nQuestion 4: D?\n2021 revenue?\n"
    assert parse_questions(reply, 2) == ["What is A?", "Why B?"]
    # Only digits + one of . ) whitespace are stripped; a leading year goes too (LlamaIndex's quirk).
    assert parse_questions(reply, 9) == ["What is A?", "Why B?", "How C?", "Question 4: D?", "revenue?"]
    assert parse_questions("1.\n  \n", 2) == []


def test_stop_rule_matches_parsing():
    done = has_n_questions(2)
    assert not done("1. What is A?\n2. Why")  # second line not finished
    assert not done("1.\n2. Why B?\n")  # "1." alone parses to a blank line
    assert done("1. What is A?\n\n2. Why B?\n")
    assert parse_answer("  It is  kappa.\n\nMore talk.") == "It is kappa."
    assert dalm_filter("What is the total revenue in 2021?") and not dalm_filter("What is revenue?")
    assert not dalm_filter("Question: what was the revenue then?")


def test_chunk_words_hand_worked():
    pages = [Page("d.pdf", 1, PAGES[0]), Page("d.pdf", 2, PAGES[1])]
    chunks = chunk_words(pages, size=4, overlap=1, prefix="d-")
    assert [(c.id, c.text, c.first_page, c.last_page) for c in chunks] == [
        ("d-00000", "alpha beta gamma delta", 1, 1),
        ("d-00001", "delta epsilon zeta eta", 1, 2),
        ("d-00002", "eta theta iota kappa", 2, 2),  # start 9 would hold only the overlap: no 4th chunk
    ]
    assert [c.text for c in chunk_words(pages[1:], size=3, overlap=0)] == ["eta theta iota", "kappa"]
    with pytest.raises(HarnessError):
        chunk_words(pages, size=4, overlap=4)
    assert evenly_spaced(10, 4) == [0, 2, 5, 7] and evenly_spaced(3, None) == [0, 1, 2]


def test_extract_pages_from_handwritten_pdf(tmp_path):
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(_pdf(PAGES))
    assert [(p.number, p.text) for p in extract_pages(pdf)] == [(1, PAGES[0]), (2, PAGES[1])]
    pdf.write_bytes(b"not a pdf")
    with pytest.raises(HarnessError, match="could not be read as a PDF"):
        extract_pages(pdf)


def test_cache_drops_half_written_line(tmp_path):
    cache = OutputCache(tmp_path / "c.jsonl", {"job": 1})
    cache.put(cache.key({"a": 1}), "first")
    with open(cache.path, "ab") as handle:
        handle.write(b'{"key": "k2", "outp')  # a kill in the middle of a write
    reopened = OutputCache(tmp_path / "c.jsonl", {"job": 1})
    assert len(reopened) == 1 and reopened.dropped_tail == len(b'{"key": "k2", "outp')
    reopened.put(reopened.key({"a": 2}), "second")
    assert [OutputCache(tmp_path / "c.jsonl", {"job": 1}).get(reopened.key({"a": i})) for i in (1, 2)] == [
        "first", "second"]
    assert OutputCache(tmp_path / "c.jsonl", {"job": 2}).key({"a": 1}) != cache.key({"a": 1})


def test_from_pdf_writes_dataset_card_and_record(gen):
    run, pdfs, data = gen
    assert run("--from-pdf", str(pdfs), "--out", "tiny-gen", "--chunk-words", "4", "--chunk-overlap", "1",
               "--sample", "2", "--answers") == 0
    # 3 chunks; the sample of 2 is evenly_spaced(3, 2) = chunks 0 and 1; chunk 2 stays as a distractor.
    got = json.loads((data / "tiny-gen" / "doc-one.json").read_text())
    assert got == {
        "queries": {"doc-one-00000-q0": "What comes after alpha?",
                    "doc-one-00000-q1": "Which word ends it, delta?",
                    "doc-one-00001-q0": "What comes after delta?",
                    "doc-one-00001-q1": "Which word ends it, eta?"},
        "corpus": {"doc-one-00000": "alpha beta gamma delta", "doc-one-00001": "delta epsilon zeta eta",
                   "doc-one-00002": "eta theta iota kappa"},
        "relevant_docs": {"doc-one-00000-q0": ["doc-one-00000"], "doc-one-00000-q1": ["doc-one-00000"],
                          "doc-one-00001-q0": ["doc-one-00001"], "doc-one-00001-q1": ["doc-one-00001"]},
        "mode": "text"}
    rows = list(csv.reader((data / "tiny-gen" / "doc-one.csv").open()))
    assert rows[0] == ["Question", "Abstract", "Answer"]
    assert rows[1] == ["What comes after alpha?", "alpha beta gamma delta", "It is delta."]
    assert FakeBackend.calls == 2 + 4
    record = json.loads((data / "tiny-gen" / "generation.json").read_text())
    assert record["chunking"]["size"] == 4 and record["sources"][0]["chunks"] == 3
    assert record["generator"]["identity"] == {"backend": "fake", "model": "fake-1"}
    assert len(record["generator"]["prompts"]["questions"]["sha256"]) == 64
    from benchmarks.cards import load_card
    from benchmarks.loaders import load_split

    card = load_card("tiny-gen")
    # Rebuilt from the options in parser order, so it regenerates the data next to this card.
    assert card.source.get_command == (
        f"python harness.py generate --from-pdf {pdfs} --out tiny-gen --chunk-words 4 --chunk-overlap 1 "
        f"--sample 2 --answers --backend fake --data-dir {{data_dir}} --card-dir {data / 'cards'} --overwrite")
    split = load_split(card, "doc-one")
    assert len(split.queries) == 4 and len(split.corpus) == 3
    qa = load_split(load_card("tiny-gen-qa"), "doc-one")
    assert sorted(qa.answers.values()) == ["It is delta.", "It is delta.", "It is eta.", "It is eta."]
    with pytest.raises(HarnessError, match="already exists"):
        run("--from-pdf", str(pdfs), "--out", "tiny-gen")


def test_killed_run_resumes_from_cache(gen):
    run, pdfs, data = gen
    argv = ["--from-pdf", str(pdfs), "--out", "resumed", "--chunk-words", "4", "--chunk-overlap", "1"]
    FakeBackend.fail_after = 2
    with pytest.raises(KeyboardInterrupt):
        run(*argv)
    assert not (data / "resumed").exists()  # nothing half-written
    FakeBackend.calls, FakeBackend.fail_after = 0, None
    assert run(*argv) == 0
    assert FakeBackend.calls == 1  # 2 of 3 chunks came from the cache
    assert len(json.loads((data / "resumed" / "doc-one.json").read_text())["queries"]) == 6
    FakeBackend.calls = 0
    assert run(*argv, "--overwrite") == 0 and FakeBackend.calls == 0
    # A different prompt is a different job: nothing may come from the old cache.
    prompt = pdfs.parent / "p.txt"
    prompt.write_text(f"Text:\n{RULE}\n{{context_str}}\n{RULE}\nAsk {{num_questions_per_chunk}} questions.")
    assert run(*argv, "--overwrite", "--question-prompt", str(prompt)) == 0 and FakeBackend.calls == 3


def test_answers_for_fills_only_missing_answers(gen, tmp_path):
    run, pdfs, data = gen
    src = data / "src"
    src.mkdir(parents=True)
    (src / "t.csv").write_text("Question,Abstract,Answer\n"
                               "What is one?,one two three,\nWhat is four?,four five,kept\n")
    (data / "cards").mkdir()
    (data / "cards" / "src.yaml").write_text(
        "schema: dataset/v1\nname: src\nversion: 1\ndescription: x\nformat: csv-qa\npinned: false\n"
        "splits:\n  train:\n    data: {path: src/t.csv, sha256: null}\n")
    assert run("--answers-for", "src", "--out", "src-answered") == 0
    rows = list(csv.reader((data / "src-answered" / "train.csv").open()))
    assert rows[1:] == [["What is one?", "one two three", "It is three."],
                        ["What is four?", "four five", "kept"]]
    assert FakeBackend.calls == 1


def test_prompt_template_checks(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("no fields here")
    with pytest.raises(HarnessError, match=r"\{context\}"):
        load_prompt("questions", bad)
    messages = load_prompt("questions", None).messages(context="CTX", n=3)
    assert messages[0]["role"] == "system"
    assert "CTX" in messages[1]["content"] and "Write 3 questions" in messages[1]["content"]


def test_openai_backend_against_loopback_server(monkeypatch):
    with EmbeddingServer(chat_reply="1. Q one?\n2. Q two?", chat_model="served-1") as server:
        monkeypatch.setenv("MY_KEY", "sk-test-0123456789")
        backend = gen_backends.OpenAIBackend(BackendOptions(model="m1", base_url=server.base_url,
                                                            api_key_env="MY_KEY"))
        hi = [{"role": "user", "content": "hi"}]
        text = backend.chat(hi, Sampling(max_new_tokens=7, temperature=0.5), seed=11)
        assert parse_questions(text, 2) == ["Q one?", "Q two?"] and backend.served_models == {"served-1"}
        sent = server.stats.log[-1]
        assert (sent["auth"], sent["model"]) == ("Bearer sk-test-0123456789", "m1")
        assert (sent["body"]["max_tokens"], sent["body"]["temperature"], sent["body"]["seed"]) == (7, 0.5, 11)
        server.script(Fault("401", message="bad key"))
        with pytest.raises(HarnessError, match="refused"):
            backend.chat(hi, Sampling(max_new_tokens=7), seed=0)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(HarnessError, match="no API key"):
        gen_backends.OpenAIBackend(BackendOptions(model="m1", api_key_env="NO_SUCH_KEY"))


@pytest.mark.slow
def test_real_smollm2_writes_questions(request):
    # setup.cfg does not deselect slow tests, so opt in here: ~1.5 min of CPU for the real model.
    markexpr = request.config.getoption("markexpr") or ""
    if "slow" not in markexpr or "not slow" in markexpr:
        pytest.skip("loads the real SmolLM2; run with -m slow")
    pytest.importorskip("gguf")
    backend = gen_backends.LocalBackend(BackendOptions(model="smollm2", threads=1))
    assert len(backend.identity["model_sha256"]) == 64
    messages = load_prompt("questions", None).messages(
        context="Lyft, Inc. operates a ridesharing marketplace in the United States and Canada. In 2021 its "
                "revenue was $3.2 billion, up 36% from 2020.", n=2)
    reply = backend.chat(messages, Sampling(max_new_tokens=96), seed=0, stop=has_n_questions(2))
    assert len(parse_questions(reply, 2)) >= 1
