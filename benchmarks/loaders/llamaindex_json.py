"""LlamaIndex ``EmbeddingQAFinetuneDataset`` JSON: {queries, corpus, relevant_docs, mode}.

One file per split. Every relevant doc gets grade 1. LlamaIndex does not dedupe chunks, so
cards leave ``dedupe`` off to reproduce its numbers; duplicates are still counted in notes.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.cards import DatasetCard
from benchmarks.loaders import dedupe
from benchmarks.loaders.common import data_error, few
from benchmarks.types import Doc, Qrels, Split

REQUIRED = ("queries", "corpus", "relevant_docs")


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys without a word; a repeated query or node id is
    # exactly the kind of damage that changes scores, so refuse it.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _lines_of_key(text: str, key: str) -> list[int]:
    pattern = re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:"
    return [text.count("\n", 0, m.start()) + 1 for m in re.finditer(pattern, text)]


def read(card: DatasetCard, path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise data_error(card, path, line, f"not valid UTF-8 at byte offset {exc.start} ({exc.reason})",
                         "Re-save the file as UTF-8") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise data_error(card, path, exc.lineno, f"malformed JSON at column {exc.colno}: {exc.msg}",
                         "The file must be one JSON object as LlamaIndex's save_json writes it") from None
    except _DuplicateKey as exc:
        key = str(exc.args[0])
        lines = _lines_of_key(text, key)
        raise data_error(card, path, lines[1] if len(lines) > 1 else None,
                         f"duplicate key {key!r} (on lines {lines})" if lines else f"duplicate key {key!r}",
                         "Ids must be unique; remove or rename one") from None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise data_error(card, path, None, f"expected an object with keys {list(REQUIRED)}, found {found}",
                         "Is this an EmbeddingQAFinetuneDataset JSON?")
    return data


def _check_mapping(card: DatasetCard, path: Path, data: dict[str, Any], key: str, list_values: bool) -> None:
    value = data[key]
    if not isinstance(value, dict):
        raise data_error(card, path, None, f"{key!r} must be an object, got {type(value).__name__}",
                         "Fix the file")
    for item_id, item in value.items():
        if list_values:
            ok = isinstance(item, list) and all(isinstance(x, str) for x in item)
        else:
            ok = isinstance(item, str)
        if not ok:
            want = "a list of node ids" if list_values else "a string"
            raise data_error(card, path, None, f"{key}[{item_id!r}] must be {want}, got {item!r:.80}",
                             "Fix the file")


def load(card: DatasetCard, paths: dict[str, Path]) -> Split:
    path = paths["data"]
    data = read(card, path)
    for key in REQUIRED:
        _check_mapping(card, path, data, key, list_values=(key == "relevant_docs"))
    all_queries: dict[str, str] = data["queries"]
    corpus = {node_id: Doc(text=text) for node_id, text in data["corpus"].items()}
    relevant: dict[str, list[str]] = data["relevant_docs"]

    unknown_queries = {qid for qid in relevant if qid not in all_queries}
    if unknown_queries:
        raise data_error(card, path, None,
                         f"relevant_docs names {len(unknown_queries)} query id(s) not in 'queries', e.g. "
                         f"{few(unknown_queries)}", "The file is inconsistent; regenerate it")
    pairs = [(qid, node) for qid, nodes in relevant.items() for node in nodes]
    missing = [(qid, node) for qid, node in pairs if node not in corpus]
    if missing:
        ids = {node for _, node in missing}
        raise data_error(card, path, None,
                         f"{len(missing)} relevant_docs entries name {len(ids)} node id(s) not in 'corpus', "
                         f"e.g. {few(ids)}", "The file is inconsistent; regenerate it")

    qrels: Qrels = {qid: {node: 1 for node in nodes} for qid, nodes in relevant.items() if nodes}
    queries = {qid: text for qid, text in all_queries.items() if qid in qrels}
    split = Split(corpus=corpus, queries=queries, qrels=qrels)
    split.notes["judgments"] = sum(len(j) for j in qrels.values())
    # A query without a relevant doc cannot be scored; say how many were left out.
    split.notes["queries_without_relevant_docs"] = len(all_queries) - len(queries)
    dedupe.apply(split, card.options.dedupe)
    return split
