"""Read and write qrels and runs in the TREC text formats (plus BEIR qrels TSV and JSON runs).

Formats, read as trec_eval 10 reads them:

* TREC qrels: ``qid iter docid grade`` per line, whitespace separated; ``iter`` is ignored.
* BEIR qrels: ``query-id<TAB>corpus-id<TAB>score`` with an optional header line (detected by
  a non-integer score on the first line). Tabs only, so ids may contain spaces.
* TREC run: ``qid Q0 docid rank score tag`` per line; ``Q0``, ``rank`` and ``tag`` are not
  used for ranking (trec_eval re-sorts by score), but rank must be an integer so a shifted
  column is caught. Fields after the tag are ignored, as trec_eval ignores them ("Any field
  following run_id is ignored"; its own test/results.trunc has them).
* JSON run: ``{"qid": {"docid": score, ...}, ...}``, recognised by ``{`` as the first
  non-space character.
* Comments (trec_eval 10): a qrels line whose first character is ``#``, a run line whose first
  non-blank character is ``#``. A ``#`` anywhere else is data (doc ids such as ``CR#93E``).

Any input may be gzip-compressed (recognised by its magic bytes, whatever its name, so the
harness's own ``.run.gz`` sidecars read back) and may be a pipe or ``-`` for stdin: every
input is read exactly once, front to back.

Every problem raises :class:`DataError` naming the file, the 1-based line where there is one,
and what is wrong. Duplicate (qid, docid) pairs are errors in both qrels and runs: which
value would win is arbitrary, and trec_eval itself rejects duplicates in both.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import os
import sys
import zlib
from typing import BinaryIO, Callable, Iterable, Iterator, Literal, Union

from .errors import DataError
from .fsutil import atomic_write_bytes
from .metrics import top_k
from .types import Qrels, Run

PathLike = Union[str, "os.PathLike[str]"]
STDIN = "-"
_GZIP_MAGIC = b"\x1f\x8b"


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: lets us look at the first bytes of a pipe, which
    cannot be rewound, and still hand the whole input to the gzip reader. Closing it leaves
    ``stream`` open (stdin stays usable)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _all_lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """Every line (blank ones too) with its 1-based number and no newline, read once, decoded as
    UTF-8; gzip is undone when the magic bytes say so."""
    try:
        handle: BinaryIO = sys.stdin.buffer if str(path) == STDIN else open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        head = handle.read(2)
        while len(head) < 2:  # a pipe may hand over one byte at a time
            more = handle.read(2 - len(head))
            if not more:
                break
            head += more
        if handle is not sys.stdin.buffer and handle.seekable():  # a file: rewind (cheaper)
            handle.seek(-len(head), io.SEEK_CUR)
            stream: BinaryIO = handle
        else:
            stream = io.BufferedReader(_Prefixed(head, handle))
        if head == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
        # Decoding in C, with bad bytes kept as lone surrogates, then checking only the rare
        # non-ASCII lines, is ~2x cheaper than decoding line by line, and still names the line.
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="\n")
        for number, line in enumerate(text, 1):
            if not line.isascii():
                _check_utf8(path, number, line)
            yield number, line.rstrip("\r\n")
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc or 'truncated'}); "
                        "check the download or re-compress it") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _check_utf8(path: PathLike, number: int, line: str) -> None:
    for column, char in enumerate(line, 1):
        if "\udc80" <= char <= "\udcff":  # surrogateescape's stand-in for an undecodable byte
            raise DataError(f"{path}:{number}: not UTF-8 text (byte 0x{ord(char) - 0xdc00:02x} at "
                            f"character {column} of the line); re-save the file as UTF-8")


def _int(text: str, path: PathLike, number: int, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}:{number}: {what} {text!r} is not an integer") from None


def is_qrels_header(line: str) -> bool:
    """BEIR's header line (``query-id<TAB>corpus-id<TAB>score``): three tab-separated fields whose
    score is not an integer. It is skipped only as the first judgement line of a file."""
    fields = line.split("\t")
    return len(fields) == 3 and not _is_int(fields[2].strip())


def parse_qrels(lines: Iterable[tuple[int, str]], fail: Callable[[int, str], Exception],
                fmt: Literal["trec", "beir"] | None = None) -> tuple[Qrels, dict[tuple[str, str], int]]:
    """The one qrels parser: graded judgements and the line of each, from (line number, text).

    Blank lines and ``#`` comments (column 0) are skipped. The first other line decides the
    format when ``fmt`` is None (three tab-separated fields: BEIR, else TREC) and is BEIR's
    header when :func:`is_qrels_header` says so. Grades may be negative (TREC's -1);
    ``fail(line, message)`` builds the error raised for a bad line.
    """
    qrels: Qrels = {}
    seen_at: dict[tuple[str, str], int] = {}
    beir = None if fmt is None else fmt == "beir"
    first = True
    for number, line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        if first:
            first = False
            beir = len(line.split("\t")) == 3 if beir is None else beir
            if beir and is_qrels_header(line):
                continue
        fields = [f.strip() for f in line.split("\t")] if beir else line.split()
        if len(fields) != (3 if beir else 4):
            want = ("3 tab-separated fields (query-id, corpus-id, score)" if beir
                    else "4 fields (qid iter docid grade)")
            raise fail(number, f"expected {want}, got {len(fields)}")
        qid, doc, grade_text = fields if beir else (fields[0], fields[2], fields[3])
        if not qid or not doc:
            raise fail(number, "empty query or document id")
        if not _is_int(grade_text):
            raise fail(number, f"grade {grade_text!r} is not an integer")
        first_at = seen_at.setdefault((qid, doc), number)
        if first_at != number:
            raise fail(number, f"duplicate judgement for query {qid!r}, document {doc!r} "
                               f"(first on line {first_at})")
        qrels.setdefault(qid, {})[doc] = int(grade_text)
    return qrels, seen_at


def read_qrels(path: PathLike) -> Qrels:
    """TREC qrels (``q1 0 doc7 2``) or BEIR TSV qrels (``q1\\tdoc7\\t2``), detected from the first line."""
    qrels, _ = parse_qrels(_all_lines(path), lambda number, what: DataError(f"{path}:{number}: {what}"))
    if not qrels:
        raise DataError(f"{path}: no judgements in the file")
    return qrels


def read_run(path: PathLike) -> Run:
    """Read a TREC run file, or a JSON run (detected by a leading ``{``). An empty file is ``{}``.

    The input is read once (a pipe or ``-`` cannot be read twice): the first data line decides
    the format, and a JSON run is the rest of the text from there.
    """
    run: Run = {}
    seen_at: dict[tuple[str, str], int] = {}
    lines = _all_lines(path)
    for number, line in lines:
        fields = line.split()
        if not fields or fields[0].startswith("#"):  # blank, or '#' as first non-blank character
            continue
        if not run and fields[0].startswith("{"):  # the first data line: nothing parsed yet
            # Blank lines in front keep JSON's line numbers equal to the file's.
            rest = "\n".join(part for _, part in lines)
            return _read_json_run(path, "\n" * (number - 1) + line + "\n" + rest)
        if len(fields) < 6:
            raise DataError(f"{path}:{number}: expected 6 fields (qid Q0 docid rank score tag), "
                            f"got {len(fields)}")
        qid, _, doc, rank_text, score_text = fields[:5]  # fields after the tag are ignored
        _int(rank_text, path, number, "rank")
        try:
            score = float(score_text)
        except ValueError:
            raise DataError(f"{path}:{number}: score {score_text!r} is not a number") from None
        if math.isnan(score):
            raise DataError(f"{path}:{number}: score is NaN")
        first = seen_at.setdefault((qid, doc), number)
        if first != number:
            raise DataError(f"{path}:{number}: document {doc!r} appears twice for query {qid!r} "
                            f"(first on line {first})")
        run.setdefault(qid, {})[doc] = score
    return run


def limit_run(run: Run, depth: int) -> Run:
    """Each query's first ``depth`` documents in trec_eval order (trec_eval ``-M depth``)."""
    return {qid: {doc: scores[doc] for doc in top_k(scores, depth)} for qid, scores in run.items()}


def _read_json_run(path: PathLike, text: str) -> Run:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in pairs:
            if key in out:
                raise DataError(f"{path}: key {key!r} appears twice in one JSON object")
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: a JSON run must be an object {{qid: {{docid: score}}}}")
    run: Run = {}
    for qid, docs in data.items():
        if not isinstance(docs, dict):
            raise DataError(f"{path}: query {qid!r}: expected an object {{docid: score}}, "
                            f"got {type(docs).__name__}")
        scores: dict[str, float] = {}
        for doc, score in docs.items():
            # bool is an int subclass; true/false as a score is a bug upstream, not a score.
            if isinstance(score, bool) or not isinstance(score, (int, float)) or score != score:
                raise DataError(f"{path}: query {qid!r}, document {doc!r}: score {score!r} "
                                "is not a number")
            scores[doc] = float(score)
        run[qid] = scores
    return run


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_token(value: str, what: str) -> str:
    # Whitespace inside an id would silently shift the columns of every reader, trec_eval too.
    # str.split() splits on exactly the characters str.isspace() accepts: one C call instead of a
    # Python loop per character (a run of 20 docs x 790 queries is ~600k characters).
    if value.split() != [value]:
        raise DataError(f"cannot write {what} {value!r} in TREC format: it is empty or has whitespace")
    return value


def run_text(run: Run, tag: str = "harness") -> str:
    """``run`` in TREC format, queries sorted by id, documents in trec_eval order.

    Documents go by score descending, ties by doc id descending, ranks from 1; scores are
    written with ``repr`` so they read back bit for bit. Sorting the queries makes the file
    (and its recorded sha256) independent of the order a retriever produced them in.
    """
    _check_token(tag, "tag")

    def lines() -> Iterator[str]:
        for qid in sorted(run):
            _check_token(qid, "query id")
            ranked = sorted(run[qid].items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
            for rank, (doc, score) in enumerate(ranked, 1):
                if score != score:
                    raise DataError(f"cannot write run: query {qid!r}, document {doc!r} has a NaN score")
                yield f"{qid} Q0 {_check_token(doc, 'document id')} {rank} {float(score)!r} {tag}\n"

    return "".join(lines())


def write_run(path: PathLike, run: Run, tag: str = "harness") -> None:
    """Write :func:`run_text` atomically: the whole text is built (and checked) first, so a
    bad id leaves the old file, never a truncated one scored as fewer documents."""
    atomic_write_bytes(path, run_text(run, tag).encode("utf-8"))


def write_qrels(path: PathLike, qrels: Qrels) -> None:
    """Write ``qrels`` in TREC format (``qid 0 docid grade``), sorted by query then document."""

    def lines() -> Iterator[str]:
        for qid in sorted(qrels):
            _check_token(qid, "query id")
            for doc in sorted(qrels[qid]):
                yield f"{qid} 0 {_check_token(doc, 'document id')} {int(qrels[qid][doc])}\n"

    atomic_write_bytes(path, "".join(lines()).encode("utf-8"))
