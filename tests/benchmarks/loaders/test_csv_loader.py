"""The csv-qa loader: ids, answers, dedupe, every malformed-file path, and the real DALM toy CSV.

Fixtures are in tests/fixtures/data/tiny-csv; expected line numbers and offsets were counted
by hand from those files (latin1.csv: the header is 25 bytes, so the 'é' of "Café" is byte 28).
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from benchmarks.cards import load_card
from benchmarks.errors import ConfigError, DataError, DataUnavailable
from benchmarks.loaders import load, load_split

FIXTURES = Path(__file__).parents[2] / "fixtures" / "data" / "tiny-csv"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"

# sha256 of the normalized passages, from `printf 'the sky is blue.' | sha256sum` etc.
SKY = "p-2aeb97b86aecde5f"
FISH = "p-396413c8b1ab23e1"


def csv_card(tmp_path, data_dir, fixture: str, **options):
    """A csv-qa card over a copy of one fixture, pinned to its sha256."""
    shutil.copy(FIXTURES / fixture, data_dir / fixture)
    sha = hashlib.sha256((data_dir / fixture).read_bytes()).hexdigest()
    card = {"schema": "dataset/v1", "name": "tiny", "version": 1, "description": "t", "format": "csv-qa",
            "splits": {"train": {"data": {"path": fixture, "sha256": sha}}}, "options": options}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(card))
    return load_card(path)


def test_ids_answers_and_duplicates_without_dedupe(tmp_path, data_dir):
    split = load_split(csv_card(tmp_path, data_dir, "good.csv"), "train")
    assert split.queries == {"row-1": "What colour is the sky?", "row-2": "Why is the sky blue?",
                             "row-3": "Where do fish live?"}
    assert split.qrels == {"row-1": {"p-row-1": 1}, "row-2": {"p-row-2": 1}, "row-3": {"p-row-3": 1}}
    assert split.corpus["p-row-2"].text == "  the SKY is   blue. "  # cells are kept as written
    assert split.answers == {"row-1": "Blue", "row-2": "Rayleigh scattering", "row-3": ""}
    assert split.notes["duplicate_passages"] == 1
    assert split.notes["duplicate_examples"] == [["p-row-1", "p-row-2"]]
    assert split.notes["rows"] == 3 and split.notes["skipped_rows"] == 0


def test_dedupe_merges_to_content_ids(tmp_path, data_dir):
    split = load_split(csv_card(tmp_path, data_dir, "good.csv", dedupe=True), "train")
    assert sorted(split.corpus) == sorted([SKY, FISH])
    assert split.corpus[SKY].text == "The sky is blue."  # the first spelling is kept
    assert split.qrels == {"row-1": {SKY: 1}, "row-2": {SKY: 1}, "row-3": {FISH: 1}}
    assert split.notes["duplicate_passages"] == 1 and split.notes["dedupe"] is True


def test_bad_rows_fail_at_the_first_one(tmp_path, data_dir):
    with pytest.raises(DataError, match=r"bad_rows.csv:3: data row 2 \(line 3\): 2 fields where the header "
                                        r"has 3\. .*skip"):
        load_split(csv_card(tmp_path, data_dir, "bad_rows.csv"), "train")


def test_bad_rows_skipped_and_counted(tmp_path, data_dir):
    split = load_split(csv_card(tmp_path, data_dir, "bad_rows.csv", on_bad_row="skip"), "train")
    # Data rows 2, 3, 4, 5 and 7 are bad; row 6 is a legal two-line record.
    assert list(split.queries) == ["row-1", "row-6", "row-8"]
    assert split.corpus["p-row-6"].text == "Multi\nline passage six."
    assert split.notes["rows"] == 8 and split.notes["skipped_rows"] == 5
    assert split.notes["skip_reasons"] == [
        "data row 2 (line 3): 2 fields where the header has 3",
        "data row 3 (line 4): empty 'Question' cell",
        "data row 4 (line 5): malformed CSV: ',' expected after '\"'",
        "data row 5 (line 6): 4 fields where the header has 3",
        "data row 7 (line 9): empty 'Abstract' cell",
    ]


@pytest.mark.parametrize("on_bad_row", ["fail", "skip"])
def test_unterminated_quote_always_fails(tmp_path, data_dir, on_bad_row):
    card = csv_card(tmp_path, data_dir, "unterminated.csv", on_bad_row=on_bad_row)
    with pytest.raises(DataError, match=r"unterminated.csv:3: unterminated quoted field: .* at line 4"):
        load_split(card, "train")


@pytest.mark.parametrize("on_bad_row", ["fail", "skip"])
def test_header_problems_always_fail(tmp_path, data_dir, on_bad_row):
    card = csv_card(tmp_path, data_dir, "missing_header.csv", on_bad_row=on_bad_row)
    with pytest.raises(DataError, match=r"missing_header.csv:1: header lacks column\(s\) \['Question', "
                                        r"'Abstract'\]; expected \['Question', 'Abstract', 'Answer'\], "
                                        r"found \['Query', 'Passage', 'Answer'\]"):
        load_split(card, "train")


def test_columns_can_be_renamed(tmp_path, data_dir):
    card = csv_card(tmp_path, data_dir, "missing_header.csv",
                    columns={"query": "Query", "passage": "Passage", "answer": None})
    split = load_split(card, "train")
    assert split.queries == {"row-1": "Q one"} and split.answers is None


def test_bad_encoding_names_line_and_byte(tmp_path, data_dir):
    with pytest.raises(DataError, match=r"latin1.csv:2: not valid utf-8-sig near byte offset 28 "):
        load_split(csv_card(tmp_path, data_dir, "latin1.csv"), "train")
    split = load_split(csv_card(tmp_path, data_dir, "latin1.csv", encoding="latin-1"), "train")
    assert split.queries == {"row-1": "Café?"}


def test_unsupported_encoding_is_a_card_error(tmp_path, data_dir):
    with pytest.raises(ConfigError, match=r"options.encoding in .*tiny.yaml:\d+: 'utf-16' is not supported"):
        csv_card(tmp_path, data_dir, "good.csv", encoding="utf-16")


def test_byte_order_mark_is_not_part_of_the_header(tmp_path, data_dir):
    assert load_split(csv_card(tmp_path, data_dir, "bom.csv"), "train").queries == {"row-1": "Q one"}


def test_arcee_missing_is_unavailable_with_export_command(data_dir):
    with pytest.raises(DataUnavailable) as err:
        load("arcee-synthetic", "train")
    msg = str(err.value)
    assert "not available" in msg
    assert (f"load_dataset('arcee-ai/synthetic-data-gen', split='train')"
            f".to_csv('{data_dir}/arcee-synthetic/train.csv', index=False)") in msg
    assert "https://huggingface.co/datasets/arcee-ai/synthetic-data-gen" in msg


def test_arcee_export_is_loaded_and_its_hash_recorded(data_dir):
    (data_dir / "arcee-synthetic").mkdir()
    export = data_dir / "arcee-synthetic" / "train.csv"
    shutil.copy(FIXTURES / "good.csv", export)
    split = load("arcee-synthetic", "all")
    sha = hashlib.sha256(export.read_bytes()).hexdigest()
    assert split.files["data"] == {"path": "arcee-synthetic/train.csv", "sha256": sha}
    assert split.notes["unpinned"] is True and sorted(split.corpus) == sorted([SKY, FISH])


def test_real_dalm_toy(monkeypatch):
    if not (SHARED / "dalm-toy" / "toy_data_train.csv").is_file():
        pytest.skip(f"shared data not found at {SHARED}")
    monkeypatch.setenv("HARNESS_DATA_PATH", str(SHARED))
    split = load("dalm-toy", "train")
    # 20 lines, the first a header: 19 data rows, all distinct passages.
    assert len(split.queries) == 19 and len(split.corpus) == 19 and split.notes["duplicate_passages"] == 0
    assert split.queries["row-1"] == "Photosynthesis definition" and split.answers["row-19"] == "7"
    # The damage the shared README describes, which parses as valid CSV:
    assert split.answers["row-4"] == " 1776"
    (row4_passage,) = split.qrels["row-4"]
    assert split.corpus[row4_passage].text.endswith("American independence.,July 4")
    assert split.queries["row-9"] == 'Novel "Pride and Prejudice" "author'
    assert split.files["data"]["sha256"] == "783d2a65fdccc11c5f88bf351469af579547c48296c0c8544f7b9d9a97cba477"
