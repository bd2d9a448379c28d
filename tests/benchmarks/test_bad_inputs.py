"""Each bad input stops the run with a clear message and writes no record (acceptance 5)."""
import hashlib

import pytest

from benchmarks.cli import main

SUITE = """schema: suite/v1
name: bad
datasets: [{{name: {card}, split: {split}}}]
metrics: [mrr@5]
retrievers: [{{name: bm25, use: bm25}}]
"""


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(tmp_path, capsys, card="tiny", split="test"):
    suite = tmp_path / "bad.yaml"
    suite.write_text(SUITE.format(card=card, split=split))
    results = tmp_path / "results"
    rc = main(["--suite", str(suite), "--results-dir", str(results), "--leaderboard",
               str(tmp_path / "lb.md"), "--quiet"])
    err = capsys.readouterr().err
    written = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    return rc, err, written


def repin(card_path, data_dir, role_file):
    """Update the card's sha for a file we changed on purpose, so the content check is reached."""
    text = card_path.read_text()
    for line in text.splitlines():
        if role_file in line:
            old = line.split("sha256: ")[1].rstrip("}").strip()
            card_path.write_text(text.replace(old, sha(data_dir / role_file.split("tiny/")[1])))


def test_good_copy_runs(tiny_copy, tmp_path, capsys):
    rc, err, written = run(tmp_path, capsys)
    assert rc == 0, err
    assert any(p.name == "bm25.json" for p in written)


def test_unknown_card_key(tiny_copy, tmp_path, capsys):
    _, card = tiny_copy
    card.write_text(card.read_text() + "licence: mit\n")
    rc, err, written = run(tmp_path, capsys)
    assert rc == 2 and "unknown key 'licence'" in err and "tiny.yaml" in err
    assert written == []


def test_missing_file(tiny_copy, tmp_path, capsys):
    data, _ = tiny_copy
    (data / "queries.jsonl").unlink()
    rc, err, written = run(tmp_path, capsys)
    assert rc == 2 and "tiny/queries.jsonl" in err and "HARNESS_DATA_PATH" in err
    assert written == []


def test_sha_mismatch(tiny_copy, tmp_path, capsys):
    data, _ = tiny_copy
    with open(data / "corpus.jsonl", "a") as handle:
        handle.write('{"_id": "d6", "title": "", "text": "fig"}\n')
    rc, err, written = run(tmp_path, capsys)
    assert rc == 2 and "sha256" in err and "corpus.jsonl" in err
    assert written == []


def test_qrels_naming_missing_document(tiny_copy, tmp_path, capsys):
    data, card = tiny_copy
    with open(data / "qrels" / "test.tsv", "a") as handle:
        handle.write("q1\td99\t1\n")
    repin(card, data, "tiny/qrels/test.tsv")
    rc, err, written = run(tmp_path, capsys)
    assert rc == 2 and "d99" in err
    assert written == []


def test_duplicate_document_ids(tiny_copy, tmp_path, capsys):
    data, card = tiny_copy
    with open(data / "corpus.jsonl", "a") as handle:
        handle.write('{"_id": "d2", "title": "", "text": "again"}\n')
    repin(card, data, "tiny/corpus.jsonl")
    rc, err, written = run(tmp_path, capsys)
    assert rc == 2 and "d2" in err and "corpus.jsonl:6" in err
    assert written == []


@pytest.mark.parametrize("body, needle", [
    ('Question,Abstract,Answer\n"what is x?","x is a letter","a letter"\n"why?","because\n', "line 3"),
    ("Question,Abstract,Answer\nwhat?,passage,answer,extra\n", "line 2"),
    ("Question,Answer\nwhat?,answer\n", "Abstract"),
])
def test_malformed_csv(tiny_copy, tmp_path, capsys, body, needle):
    data, card = tiny_copy
    csv = data / "qa.csv"
    csv.write_text(body)
    (card.parent / "qa.yaml").write_text(
        "schema: dataset/v1\nname: qa\nversion: 1\ndescription: malformed\nformat: csv-qa\n"
        f"splits:\n  train:\n    data: {{path: tiny/qa.csv, sha256: {sha(csv)}}}\n"
    )
    rc, err, written = run(tmp_path, capsys, card="qa", split="train")
    assert rc == 2 and "qa.csv" in err and needle in err, err
    assert written == []
