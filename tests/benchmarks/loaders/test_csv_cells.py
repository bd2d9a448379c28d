"""csv-qa cells the csv module mishandles by default: NUL bytes and cells over its field limit.

Python 3.11's csv reads a NUL into the cell silently (older versions raised "line contains
NUL" without a line), so a NUL reached the corpus as text. Cells over 131072 characters (the
module's default ``field_size_limit``) were reported as an unterminated quote.
"""
from __future__ import annotations

import csv
import hashlib

import pytest
import yaml

from benchmarks.cards import load_card
from benchmarks.errors import DataError
from benchmarks.loaders import load_split

HEADER = "Question,Abstract,Answer\n"


def card_for(tmp_path, data_dir, body: bytes, **options):
    path = data_dir / "cells.csv"
    path.write_bytes(body)
    card = {"schema": "dataset/v1", "name": "cells", "version": 1, "description": "t", "format": "csv-qa",
            "splits": {"train": {"data": {"path": "cells.csv",
                                          "sha256": hashlib.sha256(body).hexdigest()}}},
            "options": options}
    card_path = tmp_path / "cells.yaml"
    card_path.write_text(yaml.safe_dump(card))
    return load_card(card_path)


NUL_FILE = (HEADER + "Q one,Passage one.,A\n"
            + '"Q two","Passage\ntwo has a \x00 byte.",B\n'     # data row 2, lines 3-4; the NUL on 4
            + "Q three,Passage three.,C\n").encode()


def test_nul_byte_fails_with_file_and_line(tmp_path, data_dir):
    card = card_for(tmp_path, data_dir, NUL_FILE)
    with pytest.raises(DataError, match=r"cells\.csv:4: data row 2 \(lines 3-4.*\): NUL byte .*'Abstract'"):
        load_split(card, "train")


def test_nul_byte_row_is_skipped_and_counted(tmp_path, data_dir):
    split = load_split(card_for(tmp_path, data_dir, NUL_FILE, on_bad_row="skip"), "train")
    assert list(split.queries) == ["row-1", "row-3"]
    assert split.notes["skipped_rows"] == 1 and "NUL byte" in split.notes["skip_reasons"][0]
    assert not any("\x00" in doc.text for doc in split.corpus.values())


def test_nul_in_the_header_fails_even_in_skip_mode(tmp_path, data_dir):
    body = ("Question,Abs\x00tract,Answer\n" + "Q,P,A\n").encode()
    with pytest.raises(DataError, match=r"cells\.csv:1: .*NUL byte"):
        load_split(card_for(tmp_path, data_dir, body, on_bad_row="skip"), "train")


@pytest.mark.parametrize("quoted", [True, False])
def test_a_cell_longer_than_the_default_field_limit_is_read(tmp_path, data_dir, quoted):
    long_text = "word " * 40_000   # 200,000 characters, over csv's default 131,072
    cell = f'"{long_text}"' if quoted else long_text
    body = (HEADER + f"Q one,{cell},A\nQ two,Short.,B\n").encode()
    limit_before = csv.field_size_limit()
    split = load_split(card_for(tmp_path, data_dir, body), "train")
    assert split.corpus["p-row-1"].text == long_text and split.queries["row-2"] == "Q two"
    assert csv.field_size_limit() == limit_before          # the process-wide limit is restored


def test_an_unterminated_quote_is_still_reported_as_one(tmp_path, data_dir):
    body = (HEADER + 'Q one,"Passage never closed.,A\n' + "Q two,P,B\n" * 3).encode()
    with pytest.raises(DataError, match=r"cells\.csv:2: unterminated quoted field: .* at line 5"):
        load_split(card_for(tmp_path, data_dir, body, on_bad_row="skip"), "train")
