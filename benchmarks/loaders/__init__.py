"""Turn a dataset card's split into a :class:`~benchmarks.types.Split`.

Every file is resolved on the data path and hash-checked before it is parsed, and the resolved
path and sha256 are recorded in ``Split.files`` for the result record.

Example:
    >>> from benchmarks.cards import load_card
    >>> split = load_split(load_card("scifact"), "test")
    >>> len(split.queries), len(split.corpus)
    (300, 5183)
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmarks.cards import DatasetCard, load_card
from benchmarks.datapath import check_file
from benchmarks.errors import ConfigError
from benchmarks import holdout
from benchmarks.loaders import beir, csv_qa, llamaindex_json
from benchmarks.types import Split

Loader = Callable[[DatasetCard, dict[str, Path]], Split]

# Keyed by the card's ``format``; formats are part of the card schema, not a plugin point.
LOADERS: dict[str, Loader] = {
    "beir": beir.load,
    "llamaindex-json": llamaindex_json.load,
    "csv-qa": csv_qa.load,
}


def load_split(card: DatasetCard, split: str) -> Split:
    """Load one split of a card: resolve and hash-check its files, parse, validate, dedupe; a
    split carved by the card's ``holdout`` is cut from its loaded source (benchmarks.holdout)."""
    if card.holdout is not None and split in card.holdout.parts():
        source = _load_source(card, card.holdout.source)
        try:
            return holdout.carve(source, card.holdout, card.holdout.parts()[split])
        except ValueError as exc:
            raise ConfigError(f"dataset {card.name!r}, holdout: {exc} ({card.card_label})") from None
    return _load_files(card, split)


# The last source splits loaded for a holdout, by (card, split, file hashes): a suite carves
# the test split at planning and the train split when a row trains, from one 200k-row file.
_SOURCES: dict[tuple[str, str, str], Split] = {}


def _load_source(card: DatasetCard, split: str) -> Split:
    shas = [check_file(ref.path, ref.sha256, card_file=card.card_label, url=card.source.url,
                       get_command=card.source.get_command)[1]
            for ref in card.splits[split].roles().values()]
    key = (card.model_dump_json(by_alias=True), split, ",".join(shas))
    if key not in _SOURCES:
        if len(_SOURCES) >= 2:
            _SOURCES.pop(next(iter(_SOURCES)))
        _SOURCES[key] = _load_files(card, split)
    return _SOURCES[key]


def _load_files(card: DatasetCard, split: str) -> Split:
    if split not in card.splits:
        raise ConfigError(f"dataset {card.name!r} has no split {split!r}; it has {sorted(card.split_names())} "
                          f"({card.card_label})")
    paths: dict[str, Path] = {}
    files: dict[str, dict[str, str]] = {}
    for role, ref in card.splits[split].roles().items():
        path, sha = check_file(ref.path, ref.sha256, card_file=card.card_label, url=card.source.url,
                               get_command=card.source.get_command)
        paths[role] = path
        files[role] = {"path": ref.path, "sha256": sha}  # data-path relative: records stay machine-independent
    result = LOADERS[card.format](card, paths)
    result.files = files
    if not card.pinned:
        result.notes["unpinned"] = True  # the hashes in files were read, not checked
    return result


def load(name_or_path: str | Path, split: str) -> Split:
    """Shorthand for ``load_split(load_card(name_or_path), split)``."""
    return load_split(load_card(name_or_path), split)
