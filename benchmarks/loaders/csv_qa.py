"""Question/passage/answer CSV (DALM's Question, Abstract, Answer; arcee synthetic exports).

Each data row is one query with one relevant passage (grade 1) and an optional reference
answer. Ids: query ``row-<n>`` where n counts data records from 1 (the header is not a row,
skipped rows keep their number so ids never shift); passage ``p-<16 hex of sha256 of the
normalized text>`` when deduping (stable across row order), else ``p-row-<n>``. Passages get a
``p-`` prefix so no passage id equals a query id, which ``ignore_identical_ids`` would drop.

Cells are kept as written (no stripping): an answer like ``" 1776"`` is evidence of damage a
reader should be able to see, and exact-match scoring should not be fixed up silently here.

The csv module runs with ``strict=True`` so a stray quote raises instead of being absorbed,
and ``reader.line_num`` gives the physical line of each problem. Its process-wide field limit
(131072 characters by default) is raised to the file's size while the file is read, so a long
cell is read, not mistaken for a stray quote. A NUL byte (which Python 3.11's csv keeps in the
cell silently) is a bad row, named by its line.
"""
from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.cards import DatasetCard
from benchmarks.errors import DataError
from benchmarks.loaders import dedupe
from benchmarks.loaders.common import SHOW, data_error
from benchmarks.types import Doc, Qrels, Split


def _lines(card: DatasetCard, path: Path, encoding: str) -> Iterator[str]:
    """Decoded physical lines (newlines kept, as csv wants), streamed so a 200k-row file is
    never held twice; a bad byte raises with its line and absolute byte offset."""
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # spreadsheet exports start with a BOM that would corrupt the header
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                text = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                raise data_error(
                    card, path, lineno,
                    f"not valid {encoding} near byte offset {offset + max(exc.start, 0)} ({exc.reason})",
                    "Re-save the file as UTF-8, or set options.encoding in the card to the file's encoding",
                ) from None
            offset += len(raw)
            yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


# csv.field_size_limit takes a C long, which is 32 bits on Windows.
_MAX_FIELD_LIMIT = 2**31 - 1


@contextmanager
def _field_limit(path: Path) -> Iterator[int]:
    """Raise csv's process-wide cell limit to the file's size (no cell can be longer) for the
    duration of one read, then restore it, so other csv users are not affected."""
    before = csv.field_size_limit()
    limit = max(before, min(path.stat().st_size + 1, _MAX_FIELD_LIMIT))
    csv.field_size_limit(limit)
    try:
        yield limit
    finally:
        csv.field_size_limit(before)


def _nul_at(row: list[str], first: int) -> tuple[int, int] | None:
    """(column index, physical line) of the first NUL in a row read from line ``first``: the
    line is ``first`` plus the newlines kept inside quoted cells before the NUL."""
    lines_before = 0
    for col, cell in enumerate(row):
        pos = cell.find("\x00")
        if pos >= 0:
            return col, first + lines_before + cell.count("\n", 0, pos)
        lines_before += cell.count("\n")
    return None


def _check_header(card: DatasetCard, path: Path, header: list[str]) -> dict[str, int]:
    cols = card.options.columns
    wanted = {"query": cols.query, "passage": cols.passage, "answer": cols.answer, "title": cols.title}
    expected = [name for name in wanted.values() if name is not None]
    dupes = sorted({h for h in header if header.count(h) > 1})
    missing = [name for name in expected if name not in header]
    if dupes or missing:
        what = f"duplicate header column(s) {dupes}" if dupes else f"header lacks column(s) {missing}"
        raise data_error(card, path, 1, f"{what}; expected {expected}, found {header}",
                         "Fix the header, or map the names under options.columns in the card")
    return {role: header.index(name) for role, name in wanted.items() if name is not None}


def load(card: DatasetCard, paths: dict[str, Path]) -> Split:
    with _field_limit(paths["data"]) as limit:
        return _load(card, paths["data"], limit)


def _load(card: DatasetCard, path: Path, limit: int) -> Split:
    opts = card.options
    reader = csv.reader(_lines(card, path, opts.encoding), strict=True)
    header: list[str] | None = None
    idx: dict[str, int] = {}
    corpus: dict[str, Doc] = {}
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    answers: dict[str, str] = {}
    rows = skipped = blank = 0
    reasons: list[str] = []

    def bad(first: int, last: int, reason: str, at: int | None = None) -> None:
        # Name the data row too: it is the n of the query id row-<n>. `at`: the line of the
        # problem inside a multi-line row, for the file:line prefix.
        where = f"line {first}" if last == first else f"lines {first}-{last}; a stray quote can join lines"
        what = f"data row {rows} ({where}): {reason}"
        if opts.on_bad_row == "fail":
            raise data_error(card, path, at or first, what,
                             "Fix the row, or set options.on_bad_row: skip in the card to skip bad rows "
                             "(they are counted in the result notes)")
        nonlocal skipped
        skipped += 1
        if len(reasons) < SHOW:
            reasons.append(what)

    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # EOF inside quotes means one quote swallowed the rest of the file: nothing after it
            # can be trusted, so even skip mode stops.
            if "unexpected end of data" in str(exc):
                raise data_error(card, path, first,
                                 f"unterminated quoted field: the quote opened on line {first} runs to "
                                 f"the end of the file at line {reader.line_num} ({exc})",
                                 "Close or remove the stray '\"'; on_bad_row: skip cannot skip this",
                                 ) from None
            if "field limit" in str(exc):  # only for files over 2 GiB: the limit is the file size
                raise data_error(card, path, first, f"a cell longer than {limit} characters",
                                 "Split the file or shorten the cell") from None
            if header is None:
                raise data_error(card, path, first, f"malformed CSV header: {exc}",
                                 "Fix the header") from None
            rows += 1
            if "NUL" in str(exc):  # Python 3.10's csv refuses the line itself
                bad(first, reader.line_num, "NUL byte (\\x00)", at=reader.line_num)
            else:
                bad(first, reader.line_num, f"malformed CSV: {exc}")
            continue
        if not row:
            blank += 1
            continue
        nul = _nul_at(row, first)
        if header is None and nul is not None:
            raise data_error(card, path, nul[1], f"NUL byte (\\x00) in the header, column {nul[0] + 1}",
                             "Remove it; a file full of NULs is likely UTF-16 or binary, re-save it as "
                             "UTF-8 text")
        if header is None:
            header = row
            idx = _check_header(card, path, header)
            continue
        rows += 1
        last = reader.line_num
        if nul is not None:
            column = repr(header[nul[0]]) if nul[0] < len(header) else f"column {nul[0] + 1}"
            bad(first, last, f"NUL byte (\\x00) in the {column} cell", at=nul[1])
            continue
        if len(row) != len(header):
            bad(first, last, f"{len(row)} fields where the header has {len(header)}")
            continue
        empty = [opts.columns.query if role == "query" else opts.columns.passage
                 for role in ("query", "passage") if not row[idx[role]].strip()]
        if empty:
            bad(first, last, f"empty {' and '.join(repr(e) for e in empty)} cell")
            continue
        qid = f"row-{rows}"
        doc = Doc(text=row[idx["passage"]], title=row[idx["title"]] if "title" in idx else "")
        pid = f"p-row-{rows}"
        corpus[pid] = doc
        queries[qid] = row[idx["query"]]
        qrels[qid] = {pid: 1}
        if "answer" in idx:
            answers[qid] = row[idx["answer"]]

    if header is None:
        raise data_error(card, path, None, "the file is empty", "A csv-qa file needs a header and rows")
    if not queries:
        raise data_error(card, path, None, f"no usable rows ({rows} data rows, {skipped} skipped)",
                         "Check the file and options.columns")
    split = Split(corpus=corpus, queries=queries, qrels=qrels, answers=answers if "answer" in idx else None)
    split.notes.update(rows=rows, skipped_rows=skipped, blank_lines=blank)
    if reasons:
        split.notes["skip_reasons"] = reasons
    dedupe.apply(split, opts.dedupe)
    if opts.dedupe:
        _rename_to_content_ids(split)
    return split


def _rename_to_content_ids(split: Split) -> None:
    """After merging, name each passage by its content so ids survive row reordering."""
    rename = {pid: dedupe.content_id(doc) for pid, doc in split.corpus.items()}
    if len(set(rename.values())) != len(rename):  # 64-bit prefix collision: never silently merge
        raise DataError("two different passages share a 64-bit content id; lengthen dedupe.content_id")
    split.corpus = {rename[pid]: doc for pid, doc in split.corpus.items()}
    split.qrels = {qid: {rename[pid]: g for pid, g in judged.items()} for qid, judged in split.qrels.items()}
