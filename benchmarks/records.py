"""Result records: one JSON per (suite, dataset, retriever), plus sidecar files.

Layout::

    results/<suite>/<dataset>/<retriever>.json            the record (schema "result/v1")
    results/<suite>/<dataset>/<retriever>.per_query.json  {metric: {qid: value}}
    results/<suite>/<dataset>/<retriever>.run.gz          the TREC run (top_k per query)

A record's ``status`` is ``ok``, ``failed`` (an error while running; ``reason`` says which),
``not_run`` (the retriever cannot run here, e.g. no API key) or ``not_available`` (the
dataset is not on this machine). The leaderboard is built from these files alone.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.errors import DataError
from benchmarks.fsutil import atomic_write_bytes, atomic_write_json, dumps_json
from benchmarks.trec import run_text
from benchmarks.types import Run

SCHEMA = "result/v1"
STATUSES = ("ok", "failed", "not_run", "not_available")


def record_path(results_dir: Path, suite: str, dataset: str, retriever: str) -> Path:
    return Path(results_dir) / suite / dataset / f"{retriever}.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def trec_run_bytes(run: Run, tag: str) -> bytes:
    """The TREC run (harness tie rule), gzip'd with a fixed header time so identical runs give
    identical bytes."""
    return gzip.compress(run_text(run, tag).encode("utf-8"), mtime=0)


def _machine_prefixes() -> list[tuple[str, str]]:
    import os
    import sys

    from benchmarks.context import cache_root
    from benchmarks.provenance import REPO_ROOT

    # Artifact paths read <cache>/artifacts/KEY wherever HARNESS_CACHE_DIR points.
    pairs = [(str(REPO_ROOT) + "/", ""), (str(REPO_ROOT.parent) + "/", "../"),
             (sys.prefix + "/", "<python>/"), (sys.base_prefix + "/", "<python>/"),
             (os.path.expanduser("~") + "/", "~/")]
    if cache_root().is_absolute():  # a relative one is no machine path, and "cache/" is too common to swap
        pairs.append((str(cache_root()) + "/", "<cache>/"))
    return sorted(pairs, key=lambda pair: -len(pair[0]))  # longest prefix first


def portable(obj: Any) -> Any:
    """The record with machine-specific path prefixes shortened (<cache>/, repo-relative, ~/, <python>/):
    records are committed, and error messages and artifact paths would otherwise carry them."""
    prefixes = _machine_prefixes()  # once per record, not once per string in it

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            for prefix, short in prefixes:
                item = item.replace(prefix, short)
            return item
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(obj)


def write_record(
    path: Path, record: dict[str, Any], per_query: dict[str, dict[str, float]] | None = None,
    run: Run | None = None,
) -> None:
    """Write sidecars first and the record last, each atomically: a record on disk always
    points at complete sidecars whose hashes it carries."""
    record = portable(dict(record, schema_version=SCHEMA))
    stem = path.name[: -len(".json")]
    if per_query is not None:
        data = dumps_json(per_query).encode("utf-8")
        atomic_write_bytes(path.with_name(f"{stem}.per_query.json"), data)
        record["per_query"] = {"path": f"{stem}.per_query.json", "sha256": _sha256(data)}
    if run is not None:
        data = trec_run_bytes(run, tag=stem)
        atomic_write_bytes(path.with_name(f"{stem}.run.gz"), data)
        record["run"] = {"path": f"{stem}.run.gz", "sha256": _sha256(data)}
    atomic_write_json(path, record)


@dataclass
class LoadedRecord:
    path: Path
    data: dict[str, Any]

    @property
    def suite(self) -> str:
        return str(self.data["suite"])

    @property
    def dataset_key(self) -> str:
        return str(self.data["dataset"]["id"])

    @property
    def row(self) -> str:
        return str(self.data["row"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    def per_query(self) -> dict[str, dict[str, float]]:
        ref = self.data.get("per_query")
        if not ref:
            return {}
        side = self.path.with_name(ref["path"])
        data = side.read_bytes()
        if _sha256(data) != ref["sha256"]:
            raise DataError(f"{side}: sha256 does not match its record {self.path}; re-run the suite")
        return json.loads(data)


def load_records(results_dir: Path) -> list[LoadedRecord]:
    records = []
    for path in sorted(Path(results_dir).glob("*/*/*.json")):
        if path.name.endswith(".per_query.json"):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); delete it or re-run") from None
        if data.get("schema_version") != SCHEMA:
            raise DataError(f"{path}: schema_version {data.get('schema_version')!r}, expected {SCHEMA!r}")
        records.append(LoadedRecord(path, data))
    return records
