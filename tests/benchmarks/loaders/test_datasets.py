"""Dataset cards, the data path, and the BEIR and LlamaIndex loaders.

Expected values are worked by hand from the fixtures in tests/fixtures/data (read them next to
the tests) and from the shared data README's counts.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from benchmarks import datapath
from benchmarks.cards import list_cards, load_card, parse_card
from benchmarks.errors import ConfigError, DataError
from benchmarks.loaders import load, load_split
from benchmarks.loaders.beir import read_corpus
from benchmarks.types import Doc

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parents[2] / "fixtures" / "data"
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture
def shared(monkeypatch):
    if not (SHARED / "README.md").is_file():
        pytest.skip(f"shared data not found at {SHARED}")
    monkeypatch.setenv("HARNESS_DATA_PATH", str(SHARED))


def write_card(folder: Path, fmt: str, splits: dict, options: dict | None = None, name: str = "tiny", **top):
    """A card over files already in ``data_dir``, pinned to their real sha256."""
    data = Path(datapath.search_path()[0])
    card = {
        "schema": "dataset/v1", "name": name, "version": 1, "description": "test card", "format": fmt,
        "splits": {s: {role: {"path": p, "sha256": hashlib.sha256((data / p).read_bytes()).hexdigest()}
                       for role, p in files.items()} for s, files in splits.items()},
        **({"options": options} if options else {}), **top,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return load_card(path)


def beir_card(tmp_path, data_dir, options=None, edit: dict[str, str] | None = None):
    """The tiny BEIR fixture copied into data_dir, with whole files replaced by ``edit``."""
    shutil.copytree(FIXTURES / "tiny-beir", data_dir / "tiny-beir")
    for rel, text in (edit or {}).items():
        (data_dir / "tiny-beir" / rel).write_text(text)
    roles = {"corpus": "corpus.jsonl", "queries": "queries.jsonl", "qrels": "qrels/test.tsv"}
    return write_card(tmp_path, "beir", {"test": {r: f"tiny-beir/{p}" for r, p in roles.items()}}, options)


CARD_OK = """\
schema: dataset/v1
name: foo
version: 1
description: d
format: beir
splits:
  test:
    corpus: {path: a/corpus.jsonl, sha256: null}
    queries: {path: a/queries.jsonl, sha256: null}
    qrels: {path: a/qrels.tsv, sha256: null}
pinned: false
"""


# --- cards -------------------------------------------------------------------------------

def test_shipped_cards_all_load_and_datasets_is_not_a_package(monkeypatch):
    monkeypatch.delenv("HARNESS_DATASETS_DIR", raising=False)
    assert set(list_cards()) >= {"arcee-synthetic", "dalm-toy", "llamaindex-10k", "scifact"}
    for name in list_cards():
        card = load_card(name)
        assert card.name == name and card.card_file == REPO / "datasets" / f"{name}.yaml"
    assert not (REPO / "datasets" / "__init__.py").exists()
    assert load_card("arcee-synthetic").pinned is False
    assert load_card("scifact").splits["train"]["qrels"].path == "scifact/qrels/train.tsv"


def test_card_unknown_key_names_file_line_and_field(tmp_path):
    text = CARD_OK.replace("    qrels: {path: a/qrels.tsv, sha256: null}",
                           "    qrels: {path: a/qrels.tsv, sha256: null}\n    colour: blue")
    with pytest.raises(ConfigError, match=r"unknown key 'colour' in .*foo.yaml:11 at splits.test"):
        parse_card(text, tmp_path / "foo.yaml")
    with pytest.raises(ConfigError, match=r"unknown key 'descripton' .*did you mean 'description'"):
        parse_card(CARD_OK.replace("description:", "descripton:"), tmp_path / "foo.yaml")


def test_card_missing_and_invalid_values(tmp_path):
    with pytest.raises(ConfigError, match=r"missing key 'version' in .*foo.yaml at top level"):
        parse_card(CARD_OK.replace("version: 1\n", ""), tmp_path / "foo.yaml")
    bad_sha = CARD_OK.replace("a/qrels.tsv, sha256: null", "a/qrels.tsv, sha256: abc")
    with pytest.raises(ConfigError, match=r"qrels\.sha256 in .*foo.yaml:10: must be 64 lowercase"):
        parse_card(bad_sha, tmp_path / "foo.yaml")
    with pytest.raises(ConfigError, match=r"name .*must equal the file name stem 'bar'"):
        parse_card(CARD_OK, tmp_path / "bar.yaml")


def test_card_rules_across_fields(tmp_path):
    pinned = CARD_OK.replace("pinned: false\n", "")
    with pytest.raises(ConfigError, match=r"(?s)3 problem.*splits\.test\.corpus\.sha256.*pinned: false"):
        parse_card(pinned, tmp_path / "foo.yaml")
    allowed = r"allowed here: corpus, queries, qrels, data"
    with pytest.raises(ConfigError, match=rf"unknown key 'answers' .*foo.yaml:10 at splits.test; {allowed}"):
        parse_card(CARD_OK.replace("qrels: {path", "answers: {path"), tmp_path / "foo.yaml")
    with pytest.raises(ConfigError, match=r"(?s)missing key 'qrels' in .*foo.yaml:7 at splits.test.*"
                                          r"unknown key 'data' .*foo.yaml:10 at splits.test; "
                                          r"format beir takes corpus, queries, qrels"):
        parse_card(CARD_OK.replace("qrels: {path", "data: {path"), tmp_path / "foo.yaml")
    csv_option = CARD_OK + "options: {on_bad_row: skip}\n"
    with pytest.raises(ConfigError, match=r"options\.on_bad_row .*applies only to format csv-qa"):
        parse_card(csv_option, tmp_path / "foo.yaml")


def test_card_yaml_errors_name_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"YAML error in .*foo.yaml:7:7: expected ',' or ']', but got ':'"):
        parse_card(CARD_OK.replace("splits:", "splits: [oops"), tmp_path / "foo.yaml")
    with pytest.raises(ConfigError, match=r"foo.yaml:3:1: duplicate key 'name' \(first on line 2\)"):
        parse_card(CARD_OK.replace("version: 1", "name: again"), tmp_path / "foo.yaml")


def test_card_dirs_from_env_and_name_lookup(tmp_path, monkeypatch):
    (tmp_path / "foo.yaml").write_text(CARD_OK)
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(tmp_path))
    assert "foo" in list_cards() and load_card("foo").card_file == tmp_path / "foo.yaml"
    with pytest.raises(ConfigError, match=r"unknown dataset 'scifct'; did you mean scifact"):
        load_card("scifct")
    (tmp_path / "scifact.yaml").write_text(CARD_OK)
    with pytest.raises(ConfigError, match=r"'scifact' is defined twice"):
        list_cards()


# --- data path -----------------------------------------------------------------------------

def test_search_path_env_then_setup_cfg_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_PATH", f"{tmp_path}/a::{tmp_path}/b")
    assert datapath.search_path() == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.delenv("HARNESS_DATA_PATH")
    assert datapath.search_path() == [REPO / "data", (REPO / "../shared/data").resolve()]
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    root.mkdir(), cwd.mkdir()
    monkeypatch.setattr(datapath, "REPO_ROOT", root)
    monkeypatch.chdir(cwd)
    # No setup.cfg (an installed copy): try data:../shared/data from CWD and from the root.
    assert datapath.search_path() == [cwd / "data", tmp_path / "shared/data", root / "data"]


def test_resolve_first_hit_and_missing_message(tmp_path, monkeypatch):
    (tmp_path / "b" / "x").mkdir(parents=True)
    (tmp_path / "b" / "x" / "f.txt").write_text("hi")
    monkeypatch.setenv("HARNESS_DATA_PATH", f"{tmp_path}/a:{tmp_path}/b")
    assert datapath.resolve("x/f.txt") == tmp_path / "b" / "x" / "f.txt"
    with pytest.raises(DataError) as err:
        datapath.check_file("x/g.txt", None, card_file="datasets/t.yaml", url="https://example.org/g")
    msg = str(err.value)
    for part in (f"{tmp_path}/a/x/g.txt", f"{tmp_path}/b/x/g.txt", "HARNESS_DATA_PATH",
                 "datasets/t.yaml", "download it from https://example.org/g"):
        assert part in msg


def test_sha256_is_checked_and_cached(tmp_path, monkeypatch):
    f = tmp_path / "f.txt"
    f.write_bytes(b"abc")
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 example
    calls = []
    real = datapath.hashlib.sha256
    monkeypatch.setattr(datapath.hashlib, "sha256", lambda: calls.append(1) or real())
    assert datapath.sha256_file(f) == abc and datapath.sha256_file(f) == abc
    assert len(calls) == 1
    f.write_bytes(b"abcd")  # size changes, so the cache must not answer
    assert datapath.sha256_file(f) != abc and len(calls) == 2
    monkeypatch.setenv("HARNESS_DATA_PATH", str(tmp_path))
    with pytest.raises(DataError, match=rf"checksum mismatch .*card\.yaml.*\n  expected sha256 {abc}\n  act"):
        datapath.check_file("f.txt", abc, card_file="card.yaml")


# --- BEIR ------------------------------------------------------------------------------------

def test_beir_tiny_split(tmp_path, data_dir):
    split = load_split(beir_card(tmp_path, data_dir), "test")
    assert split.queries == {"q1": "Do cats purr?", "q2": "Do dogs bark?"}  # q3 is judged by no qrels
    assert split.corpus["d1"] == Doc(text="Cats purr when content.", title="Cats") and len(split.corpus) == 4
    assert split.qrels == {"q1": {"d1": 2, "d3": 1}, "q2": {"d2": 1, "d3": 1}}
    # d3 is d1 again once title+text is casefolded and whitespace collapsed.
    assert split.notes["duplicate_passages"] == 1 and split.notes["duplicate_examples"] == [["d1", "d3"]]
    corpus_file = data_dir / "tiny-beir" / "corpus.jsonl"
    # Recorded relative to the data folder, so committed records hold no machine paths.
    assert split.files["corpus"] == {"path": "tiny-beir/corpus.jsonl",
                                     "sha256": hashlib.sha256(corpus_file.read_bytes()).hexdigest()}


def test_beir_dedupe_merges_qrels_with_max_grade(tmp_path, data_dir):
    split = load_split(beir_card(tmp_path, data_dir, options={"dedupe": True}), "test")
    assert sorted(split.corpus) == ["d1", "d2", "d4"]
    # q1 judged d1 (grade 2) and its twin d3 (grade 1): the higher grade survives, whatever the order.
    assert split.qrels == {"q1": {"d1": 2}, "q2": {"d2": 1, "d1": 1}}


@pytest.mark.parametrize("rel, text, pattern", [
    ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tzz\t1\nq2\tyy\t1\n",
     r"test.tsv:3: 2 judgment\(s\) name 2 doc id\(s\) missing from .*corpus.jsonl, e.g. 'yy', 'zz'"),
    ("qrels/test.tsv", "q1\td1\t1\nq9\td2\t1\n", r"test.tsv:2: 1 query id\(s\) missing from .*'q9'"),
    ("qrels/test.tsv", "q1\td1\t1\nq1 d2 1\n",
     r"test.tsv:2: expected 3 tab-separated fields \(query-id, corpus-id, score\), got 1"),
    ("qrels/test.tsv", "q1\td1\t1\nq1\td1\t2\n",
     r"test.tsv:2: duplicate judgement for query 'q1', document 'd1' \(first on line 1\)"),
    ("corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": "d1", "text": "c"}\n',
     r"corpus.jsonl:3: duplicate doc id 'd1' \(first on line 1\)"),
    ("queries.jsonl", '{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n{"_id": "q2", "text": "c"}\n',
     r"queries.jsonl:2: duplicate query id 'q1' \(first on line 1\)"),
    ("corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"\n',
     r"corpus.jsonl:2: malformed JSON at column 26: Expecting ','"),
    ("corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"text": "b"}\n',
     r"corpus.jsonl:2: missing or invalid '_id'"),
])
def test_beir_bad_files_say_file_and_line(tmp_path, data_dir, rel, text, pattern):
    with pytest.raises(DataError, match=pattern) as err:
        load_split(beir_card(tmp_path, data_dir, edit={rel: text}), "test")
    assert "tiny.yaml" in str(err.value)  # names the card too


def test_unknown_split_is_a_config_error(tmp_path, data_dir):
    with pytest.raises(ConfigError, match=r"no split 'dev'; it has \['test'\]"):
        load_split(beir_card(tmp_path, data_dir), "dev")


# --- LlamaIndex JSON --------------------------------------------------------------------------

def llama_card(tmp_path, data_dir, text: str | None = None, options=None):
    target = data_dir / "li" / "tiny.json"
    target.parent.mkdir()
    target.write_text(text if text is not None else (FIXTURES / "tiny-llamaindex" / "tiny.json").read_text())
    return write_card(tmp_path, "llamaindex-json", {"s": {"data": "li/tiny.json"}}, options)


def test_llamaindex_tiny_split(tmp_path, data_dir):
    split = load_split(llama_card(tmp_path, data_dir), "s")
    assert split.queries == {"q1": "What was revenue?", "q2": "Who is the auditor?"}
    assert split.qrels == {"q1": {"n1": 1}, "q2": {"n2": 1, "n3": 1}} and len(split.corpus) == 3
    assert split.notes["queries_without_relevant_docs"] == 1 and split.notes["duplicate_passages"] == 1


def test_llamaindex_dedupe(tmp_path, data_dir):
    split = load_split(llama_card(tmp_path, data_dir, options={"dedupe": True}), "s")
    assert sorted(split.corpus) == ["n1", "n2"] and split.qrels == {"q1": {"n1": 1}, "q2": {"n2": 1, "n1": 1}}


@pytest.mark.parametrize("text, pattern", [
    ('{\n "queries": {"q1": "a"},\n "corpus": {"n1": "x",\n  "n1": "y"},\n'
     ' "relevant_docs": {"q1": ["n1"]}\n}',
     r"tiny.json:4: duplicate key 'n1' \(on lines \[3, 4\]\)"),
    ('{\n "queries": {"q1": "a"}\n "corpus": {}\n}', r"tiny.json:3: malformed JSON at column 2"),
    ('{"queries": {"q1": "a"}, "corpus": {"n1": "x"}, "relevant_docs": {"q1": ["n1", "n7"]}}',
     r"1 relevant_docs entries name 1 node id\(s\) not in 'corpus', e.g. 'n7'"),
    ('{"queries": {"q1": "a"}, "corpus": {"n1": "x"}, "relevant_docs": {"q2": ["n1"]}}',
     r"relevant_docs names 1 query id\(s\) not in 'queries', e.g. 'q2'"),
    ('{"queries": {"q1": "a"}, "corpus": {"n1": "x"}}',
     r"expected an object with keys .*found \['corpus', 'queries'\]"),
])
def test_llamaindex_bad_files(tmp_path, data_dir, text, pattern):
    with pytest.raises(DataError, match=pattern):
        load_split(llama_card(tmp_path, data_dir, text), "s")


# --- real shared data (skipped where it is absent) ----------------------------------------------

def test_real_scifact_counts(shared):
    test = load("scifact", "test")
    assert (len(test.queries), sum(map(len, test.qrels.values())), len(test.corpus)) == (300, 339, 5183)
    assert test.corpus["4983"].title.startswith("Microstructural development of human newborn")
    train = load("scifact", "train")
    assert (len(train.queries), sum(map(len, train.qrels.values())), len(train.corpus)) == (809, 919, 5183)
    assert train.files["corpus"]["sha256"].startswith("d289bf5d")


def test_real_scifact_corpus_parses(shared):
    # How fast it parses is measured in benchmarks/perf, not asserted on a shared machine.
    card = load_card("scifact")
    corpus = read_corpus(card, datapath.resolve("scifact/corpus.jsonl"))
    assert len(corpus) == 5183


def test_real_llamaindex_counts(shared):
    lyft, uber = load("llamaindex-10k", "lyft"), load("llamaindex-10k", "uber")
    assert (len(lyft.queries), len(lyft.corpus)) == (668, 334)
    assert (len(uber.queries), len(uber.corpus)) == (790, 395)
    assert all(len(j) == 1 and set(j.values()) == {1} for j in lyft.qrels.values())
