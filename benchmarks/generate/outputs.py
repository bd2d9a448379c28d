"""Writing a generated dataset: data files, the ``generation.json`` sidecar, and dataset cards.

Layout (``DATA`` = ``--data-dir``, default the first data-path folder, ``<repo>/data``, which is
git-ignored; ``CARDS`` = ``--card-dir``, default ``DATA/cards``)::

    DATA/NAME/<split>.json      EmbeddingQAFinetuneDataset (LlamaIndex), card CARDS/NAME.yaml
    DATA/NAME/<split>.csv       Question, Abstract, Answer (DALM), card CARDS/NAME-qa.yaml
                                (with --answers; for --answers-for it is the only card, NAME.yaml)
    DATA/NAME/chunks.jsonl      every chunk: id, source file, pages, sha256
    DATA/NAME/generation.json   generator, prompts, parameters, sources, counts, timings

Cards go outside the repo by default so that generating data never dirties the working tree;
``--card-dir datasets`` puts one in the repo when it should be committed. Every card is
validated with the harness's own parser before it is written.
"""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.cards import card_dirs, parse_card
from benchmarks.datapath import search_path, sha256_file
from benchmarks.errors import HarnessError
from benchmarks.fsutil import atomic_write_bytes, atomic_write_json

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
SIDECAR = "generation.json"
QA_COLUMNS = ("Question", "Abstract", "Answer")


@dataclass(frozen=True)
class Targets:
    name: str
    data_dir: Path
    card_dir: Path

    @property
    def folder(self) -> Path:
        return self.data_dir / self.name

    def card_file(self, card_name: str) -> Path:
        return self.card_dir / f"{card_name}.yaml"

    @classmethod
    def make(cls, name: str, data_dir: Path | None, card_dir: Path | None, card_names: list[str],
             overwrite: bool) -> "Targets":
        """Check the name and the destinations before any model time is spent."""
        if not NAME_RE.match(name):
            raise HarnessError(f"--out {name!r}: a dataset name is lowercase letters, digits and . _ - "
                               f"(it becomes the card file name), e.g. tenk-smollm2")
        if data_dir is None:
            folders = search_path()
            if not folders:
                raise HarnessError("the data search path is empty; pass --data-dir")
            data_dir = folders[0]
        targets = cls(name, data_dir.resolve(), (card_dir or data_dir / "cards").resolve())
        if targets.folder.exists():
            if not overwrite:
                raise HarnessError(f"{targets.folder} already exists; pass --overwrite to replace it, or "
                                   f"choose another --out (re-running an interrupted command needs neither: "
                                   f"replies are cached and the output is only written at the end)")
            if not (targets.folder / SIDECAR).is_file():
                raise HarnessError(f"{targets.folder} exists but was not written by 'generate' "
                                   f"(no {SIDECAR}); refusing to replace it")
        for card_name in card_names:
            mine = targets.card_file(card_name)
            for folder in card_dirs():
                other = (folder / f"{card_name}.yaml").resolve()
                if other.is_file() and other != mine:
                    raise HarnessError(f"a dataset card named {card_name!r} already exists at {other}; "
                                       f"choose another --out")
            if mine.is_file() and not overwrite:
                raise HarnessError(f"card {mine} already exists; pass --overwrite or choose another --out")
        return targets

    def clear(self) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)


def write_llamaindex(path: Path, queries: dict[str, str], corpus: dict[str, str],
                     relevant_docs: dict[str, list[str]]) -> None:
    # Same shape and indent as LlamaIndex's EmbeddingQAFinetuneDataset.save_json.
    data = {"queries": queries, "corpus": corpus, "relevant_docs": relevant_docs, "mode": "text"}
    atomic_write_bytes(path, json.dumps(data, indent=4, ensure_ascii=False).encode("utf-8"))


def write_qa_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(QA_COLUMNS)
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    atomic_write_bytes(path, text.encode("utf-8"))


def write_sidecar(targets: Targets, record: dict[str, Any]) -> Path:
    path = targets.folder / SIDECAR
    atomic_write_json(path, record)
    return path


def _next_version(card_file: Path, hashes: dict[str, str]) -> int:
    """1 for a new card; the old version if the files are unchanged, else old + 1."""
    if not card_file.is_file():
        return 1
    try:
        old = yaml.safe_load(card_file.read_text(encoding="utf-8"))
        old_hashes = {ref["data"]["path"]: ref["data"]["sha256"] for ref in old["splits"].values()}
        version = int(old["version"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return 1
    return version if old_hashes == hashes else version + 1


def write_card(targets: Targets, card_name: str, fmt: str, split_files: dict[str, str], description: str,
               get_command: str) -> Path:
    """Write and validate a card whose splits point at ``split_files`` (relative to the data dir)."""
    hashes = {rel: sha256_file(targets.data_dir / rel) for rel in split_files.values()}
    card_file = targets.card_file(card_name)
    card: dict[str, Any] = {
        "schema": "dataset/v1", "name": card_name, "version": _next_version(card_file, hashes),
        "description": description, "format": fmt,
        "source": {"url": None, "license": None, "revision": None, "get_command": get_command},
        "splits": {split: {"data": {"path": rel, "sha256": hashes[rel]}}
                   for split, rel in split_files.items()},
        "options": {"dedupe": False},
        "eval": {"relevance_level": 1, "ignore_identical_ids": False},
    }
    if fmt == "csv-qa":
        card["options"]["columns"] = {"query": "Question", "passage": "Abstract", "answer": "Answer",
                                      "title": None}
    header = ("# Written by 'harness.py generate'; regenerate rather than edit. The full record of how\n"
              f"# the data was made is {targets.name}/{SIDECAR} in the data folder.\n")
    text = header + yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=100)
    parse_card(text, card_file)  # our own parser must accept what we write
    atomic_write_bytes(card_file, text.encode("utf-8"))
    return card_file


def visibility_hints(targets: Targets) -> list[str]:
    """Shell lines a user needs so that the harness finds the new card and data."""
    hints = []
    if targets.card_dir not in [d.resolve() for d in card_dirs()]:
        hints.append(f"export HARNESS_DATASETS_DIR={targets.card_dir}")
    if targets.data_dir not in [d.resolve() for d in search_path()]:
        # Setting the variable replaces the setup.cfg path, so keep today's folders after it.
        folders = ":".join(str(f) for f in [targets.data_dir, *search_path()])
        hints.append(f"export HARNESS_DATA_PATH={folders}")
    return hints
