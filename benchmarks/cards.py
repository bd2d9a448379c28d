"""Dataset cards: the YAML files in ``datasets/`` that say what a dataset is and how to load it.

A card pins every file by sha256, so a score always refers to known bytes. Cards are parsed
into pydantic models with ``extra="forbid"``: a misspelt key is an error naming the file, the
line and the field path, never a silently ignored setting (lm-eval's failure mode).

Pinning rule: ``sha256`` may be null only in a card that says ``pinned: false``. That is for
data the harness cannot ship or reach (e.g. a Hugging Face dataset the user exports to CSV):
the loader then records the hash it actually read, so results still name their bytes.

Example:
    >>> card = load_card("scifact")
    >>> card.splits["test"]["qrels"].path
    'scifact/qrels/test.tsv'
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_serializer

from benchmarks.datapath import REPO_ROOT
from benchmarks.errors import ConfigError
from benchmarks.holdout import Holdout
from benchmarks.messages import did_you_mean, listing, quote
from benchmarks.yaml_models import Strict, is_file, parse_model, read_text

Format = Literal["beir", "llamaindex-json", "csv-qa"]
# The files each format needs per split, by role.
ROLES: dict[str, tuple[str, ...]] = {
    "beir": ("corpus", "queries", "qrels"),
    "llamaindex-json": ("data",),
    "csv-qa": ("data",),
}
CSV_ONLY_OPTIONS = ("on_bad_row", "columns", "encoding")
ENV_VAR = "HARNESS_DATASETS_DIR"


class _Strict(Strict):
    model_config = ConfigDict(frozen=True, populate_by_name=True)  # merged with Strict's


class FileRef(_Strict):
    path: str = Field(description="relative to a data-path folder, e.g. scifact/corpus.jsonl")
    sha256: str | None = Field(description="64 lowercase hex digits; null only with pinned: false")

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        if not v.strip() or Path(v).is_absolute() or "\0" in v:
            raise ValueError("must be a non-empty path relative to a data-path folder")
        if ".." in Path(v).parts:
            # "../../../../etc/passwd" was read, and its first line quoted in the error.
            raise ValueError("must stay inside its data-path folder: '..' is not allowed")
        return v

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and (len(v) != 64 or any(c not in "0123456789abcdef" for c in v)):
            raise ValueError("must be 64 lowercase hex digits (the output of sha256sum FILE) or null")
        return v


class SplitFiles(_Strict):
    """A split's files by role: corpus/queries/qrels for beir, data for the one-file formats."""

    corpus: FileRef | None = None
    queries: FileRef | None = None
    qrels: FileRef | None = None
    data: FileRef | None = None

    def roles(self) -> dict[str, FileRef]:
        return {role: ref for role in ("corpus", "queries", "qrels", "data") if (ref := getattr(self, role))}

    def __getitem__(self, role: str) -> FileRef:
        return self.roles()[role]

    @model_serializer(mode="wrap")
    def _drop_unused(self, handler: Any) -> dict[str, Any]:
        # Records embed the card; roles a format does not use would only be noise there.
        return {k: v for k, v in handler(self).items() if v is not None}


class Source(_Strict):
    url: str | None = None
    license: str | None = None
    revision: str | None = None  # upstream commit/tag when there is one
    # For data that is not shipped: the command that produces the file; "{data_dir}" is replaced
    # by the first data-path folder. Its presence makes a missing file DataUnavailable.
    get_command: str | None = None


class Columns(_Strict):
    """csv-qa header names; answer and title are optional (null = not in the file)."""

    query: str = "Question"
    passage: str = "Abstract"
    answer: str | None = "Answer"
    title: str | None = None


class Options(_Strict):
    dedupe: bool = False  # merge passages with identical normalized text, merging qrels
    on_bad_row: Literal["fail", "skip"] = "fail"  # csv-qa only
    columns: Columns = Columns()  # csv-qa only
    encoding: str = "utf-8"  # csv-qa only; utf-8 also accepts a byte-order mark

    @field_validator("encoding")
    @classmethod
    def _known(cls, v: str) -> str:
        try:
            name = codecs.lookup(v).name
        except LookupError:
            raise ValueError(f"unknown text encoding {quote(v)} "
                             "(try utf-8, utf-8-sig, latin-1, cp1252)") from None
        if name.startswith(("utf-16", "utf-32")):
            # The loader splits lines on the byte b"\n", which is not a line end in these.
            raise ValueError(f"{quote(v)} is not supported; convert the file: iconv -f {v} -t utf-8")
        return v


class EvalSettings(_Strict):
    relevance_level: int = Field(default=1, ge=1)  # minimum grade counted as relevant
    ignore_identical_ids: bool = False  # BEIR's default is True; we keep it per dataset


class DatasetCard(_Strict):
    schema_: Literal["dataset/v1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: int = Field(ge=1)  # bump when files or preprocessing change
    description: str
    format: Format
    source: Source = Source()
    pinned: bool = True
    splits: dict[str, SplitFiles] = Field(min_length=1)
    options: Options = Options()
    eval: EvalSettings = EvalSettings()
    # A line the leaderboard prints under this dataset's tables (e.g. "scale data, not a quality result").
    note: str | None = None
    holdout: Holdout | None = None  # train/test carved from one split's file: benchmarks/holdout.py

    _card_file: Path | None = PrivateAttr(default=None)

    @property
    def card_file(self) -> Path | None:
        """The YAML file this card came from (None when built in code)."""
        return self._card_file

    def split_names(self) -> list[str]:
        """The card's splits, then those its holdout carves."""
        return [*self.splits, *(self.holdout.parts() if self.holdout else ())]

    def split_files(self, split: str) -> SplitFiles:
        """A split's files; a carved split reads its source's."""
        if self.holdout is not None and split in self.holdout.parts():
            split = self.holdout.source
        return self.splits[split]

    @property
    def card_label(self) -> str:
        """How error messages name the card: repo-relative path when inside the repo."""
        return display_path(self._card_file) if self._card_file else f"card {self.name!r}"


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _extra_checks(card: DatasetCard, file: Path | None) -> list[tuple[str, tuple[Any, ...], str, Any]]:
    """Rules that span fields, as (kind, loc, message, value) like pydantic's errors."""
    problems: list[tuple[str, tuple[Any, ...], str, Any]] = []
    if file is not None and card.name != file.stem:
        problems.append(("value", ("name",), f"must equal the file name stem {file.stem!r}", card.name))
    roles = ROLES[card.format]
    for split, split_files in card.splits.items():
        files = split_files.roles()
        for role in roles:
            if role not in files:
                problems.append(("missing", ("splits", split, role), "", ...))
        for role, ref in files.items():
            if role not in roles:
                problems.append(("extra_forbidden", ("splits", split, role),
                                 f"format {card.format} takes {', '.join(roles)}", ...))
            elif ref.sha256 is None and card.pinned:
                problems.append((
                    "value", ("splits", split, role, "sha256"),
                    "null, but the card is pinned; set the file's sha256 (sha256sum FILE), or set "
                    "'pinned: false' at top level if the data is user-exported and cannot be pinned", ...,
                ))
    if card.holdout is not None:
        h = card.holdout
        if h.source not in card.splits:
            problems.append(("value", ("holdout", "source"),
                             f"names no split of this card ({', '.join(card.splits)})", h.source))
        for key, name in (("train", h.train), ("test", h.test)):
            if name in card.splits:
                problems.append(("value", ("holdout", key),
                                 f"{name!r} is already a split of the card; carved splits need new names", name))
    if card.format != "csv-qa":
        for key in CSV_ONLY_OPTIONS:
            if key in card.options.model_fields_set:
                problems.append(("value", ("options", key),
                                 f"applies only to format csv-qa, not {card.format}", ...))
    return problems


def parse_card(text: str, file: Path | None = None) -> DatasetCard:
    """Parse card YAML text; every problem goes into one ConfigError naming file, line, field."""
    label = display_path(file) if file else "<card text>"
    card = parse_model(text, label, DatasetCard, "dataset card", lambda c: _extra_checks(c, file))
    card._card_file = file
    return card


def card_dirs() -> list[Path]:
    """The shipped cards (``<repo>/datasets``, or their installed copy: benchmarks.shipped), then
    the folders in ``$HARNESS_DATASETS_DIR`` (colon-separated)."""
    from benchmarks.shipped import cards_dir

    dirs = [cards_dir()]
    extra = os.environ.get(ENV_VAR, "")
    dirs += [Path(e).resolve() for e in extra.split(os.pathsep) if e.strip()]
    return [d for i, d in enumerate(dirs) if d not in dirs[:i]]


def _card_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in card_dirs():
        if not folder.is_dir():
            continue
        for file in sorted(folder.glob("*.yaml")):
            if file.stem in found and file.read_bytes() != found[file.stem].read_bytes():
                # Silent shadowing would make a score depend on $HARNESS_DATASETS_DIR order.
                raise ConfigError(
                    f"dataset card {file.stem!r} is defined twice: {found[file.stem]} and {file}; "
                    f"rename one (the name must equal the file stem)"
                )
            found.setdefault(file.stem, file)  # a byte-identical copy (benchmarks/perf/standin) is the same card
    return found


def list_cards() -> list[str]:
    """Names of all cards in the card folders, sorted."""
    return sorted(_card_files())


def load_card(name_or_path: str | Path) -> DatasetCard:
    """Load a card by name (``scifact``) or by path (``my/cards/foo.yaml``)."""
    text_arg = str(name_or_path)
    if isinstance(name_or_path, Path) or text_arg.endswith((".yaml", ".yml")) or os.sep in text_arg:
        file = Path(name_or_path)
        if not is_file(file, "dataset card file"):
            raise ConfigError(f"dataset card file {quote(str(file))} does not exist")
    else:
        files = _card_files()
        if text_arg not in files:
            hint = did_you_mean(text_arg, sorted(files))
            dirs = listing(str(d) for d in card_dirs())
            raise ConfigError(
                f"unknown dataset {quote(text_arg)}; {hint} (cards are read from {dirs}; "
                f"add folders with {ENV_VAR})"
            )
        file = files[text_arg]
    return parse_card(read_text(file, "dataset card"), file)


def card_notes(records: Any) -> list[str]:
    """Leaderboard note lines: the ``note`` of the cards the records of one table were loaded with."""
    notes: list[str] = []
    for rec in records:
        note = ((rec.data.get("dataset") or {}).get("card") or {}).get("note")
        if isinstance(note, str) and note not in notes:
            notes.append(note)
    return notes
