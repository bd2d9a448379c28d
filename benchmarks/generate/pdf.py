"""PDF text extraction (pypdf) and word-window chunking.

Chunks are windows of whitespace-separated *words*, not tokenizer tokens: the corpus then does not
depend on which generator (and so which tokenizer) wrote the questions, and anyone can recompute
it without loading a model. As a rule of thumb 300 words of 10-K prose are ~380 SmolLM2 tokens
and ~400 BERT word pieces. Windows run across page breaks (a sentence split by a page break stays
whole); each chunk records the pages it spans.

Extraction of the two 10-K PDFs takes over a minute on 2 cores, so page texts are cached by
(PDF sha256, pypdf version) under the harness cache: a resumed run does not pay it again.

Example:
    >>> chunks = chunk_words([Page("a.pdf", 1, "w1 w2 w3 w4 w5")], size=3, overlap=1)
    >>> [c.text for c in chunks]
    ['w1 w2 w3', 'w3 w4 w5']
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.context import cache_root
from benchmarks.datapath import sha256_file
from benchmarks.errors import DataError, HarnessError
from benchmarks.fsutil import atomic_write_json


@dataclass(frozen=True)
class Page:
    source: str  # file name, e.g. lyft_2021.pdf
    number: int  # 1-based
    text: str


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    text: str
    first_page: int
    last_page: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def pypdf_version() -> str:
    import pypdf

    return pypdf.__version__


def find_pdfs(inputs: list[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their ``*.pdf`` files (recursively, sorted)."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            pdfs = sorted(p for p in item.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
            if not pdfs:
                raise DataError(f"folder {item} holds no .pdf files; pass PDF files or a folder with some")
            found += pdfs
        elif item.is_file():
            found.append(item)
        else:
            raise DataError(f"{item} does not exist; pass PDF files or folders of PDFs to --from-pdf")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    stems = [split_name(p) for p in unique]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        # Chunk ids and split names come from the file stem; two files must not share one.
        raise DataError(f"several input PDFs share the name(s) {clashes}; rename them so ids stay unique")
    return unique


def split_name(path: Path) -> str:
    """A file stem as a split name / id prefix: lowercase, [a-z0-9._-] only."""
    name = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-._")
    return name or "doc"


def _normalise(text: str) -> str:
    # pypdf puts a newline plus stray double spaces at every visual line end; for questions and
    # embeddings this layout is noise, so all whitespace runs become one space.
    return " ".join(text.split())


def extract_pages(path: Path) -> list[Page]:
    """Page texts of one PDF (whitespace normalised), cached by file hash and pypdf version."""
    version = pypdf_version()
    digest = sha256_file(path)
    cache_file = cache_root() / "generate" / "pages" / f"{digest}-pypdf{version}.json"
    if cache_file.is_file():
        texts = json.loads(cache_file.read_text(encoding="utf-8"))
    else:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(path)
            # Many filings are "encrypted" with an empty user password (the Uber 10-K is); those open.
            if reader.is_encrypted and not reader.decrypt(""):
                raise DataError(f"{path} is password-protected; decrypt it first "
                                f"(qpdf --decrypt --password=PW IN OUT)")
            texts = [_normalise(page.extract_text() or "") for page in reader.pages]
        except PdfReadError as exc:
            raise DataError(f"{path} could not be read as a PDF ({exc}); is it a PDF file?") from None
        atomic_write_json(cache_file, texts)
    if not any(texts):
        raise DataError(f"{path} has no extractable text (a scanned PDF?); OCR it first, e.g. ocrmypdf")
    return [Page(path.name, i, text) for i, text in enumerate(texts, 1)]


def chunk_words(pages: list[Page], size: int, overlap: int, prefix: str = "") -> list[Chunk]:
    """Windows of ``size`` words, each starting ``size - overlap`` words after the last.

    A window is emitted only if it holds a word the previous window did not, so the tail is
    never a pure copy of the overlap. Ids are ``{prefix}{index:05d}``: stable across runs, so
    a resumed or repeated run names the same chunks the same way.
    """
    if size < 1 or not 0 <= overlap < size:
        raise HarnessError(f"chunk size must be >= 1 and 0 <= overlap < size; "
                           f"got size {size}, overlap {overlap}")
    words: list[str] = []
    page_of: list[int] = []
    for page in pages:
        page_words = page.text.split()
        words += page_words
        page_of += [page.number] * len(page_words)
    stride = size - overlap
    chunks: list[Chunk] = []
    start = 0
    while start < len(words) and (start == 0 or start + overlap < len(words)):
        end = min(start + size, len(words))
        chunks.append(Chunk(id=f"{prefix}{len(chunks):05d}", source=pages[0].source,
                            text=" ".join(words[start:end]), first_page=page_of[start],
                            last_page=page_of[end - 1]))
        start += stride
    return chunks
