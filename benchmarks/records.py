"""Result records: one JSON per (suite, dataset, retriever), plus content-addressed sidecars.

Layout::

    results/<suite>/<dataset>/<row>.json                   the record (schema "result/v1")
    results/<suite>/<dataset>/<row>.<sha16>.per_query.json  {metric: {qid: value}}
    results/<suite>/<dataset>/<row>.<sha16>.run.gz          the TREC run (top_k per query)
    results/<suite>/<dataset>/<row>.failed.json             the last attempt, when it failed after a good run

A record and its sidecars are one unit: sidecars are named by their content hash and written
first, the record is written last (atomically) and names them, and a row's old sidecars are
removed only after its new record is in place, and never while another record names them. All
of a row's writes hold an exclusive lock on ``.<row>.lock``, so two processes writing one row
cannot interleave; a reader that finds a sidecar gone re-reads the record that replaced it.
Records written before content addressing (``<row>.per_query.json``) are still read.

A record's ``status`` is ``ok``, ``failed`` (an error while running; ``reason`` says which),
``not_run`` (the retriever cannot run here, e.g. no API key) or ``not_available`` (the
dataset is not on this machine). A failed attempt never replaces an ok record: it is written
beside it as ``<row>.failed.json`` (and removed by the next success). The leaderboard is built
from these files alone.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.errors import DataError
from benchmarks.fsutil import atomic_write_bytes, atomic_write_json, dumps_json
from benchmarks.record_checks import check_record, read_json, refresh_hint
from benchmarks.record_files import collect_garbage, row_lock
from benchmarks.trec import run_text
from benchmarks.types import Run

SCHEMA = "result/v1"
STATUSES = ("ok", "failed", "not_run", "not_available")
FAILED_SUFFIX = ".failed.json"
SIDECARS = ("per_query.json", "run.gz")


def record_path(results_dir: Path, suite: str, dataset: str, retriever: str) -> Path:
    return Path(results_dir) / suite / dataset / f"{retriever}.json"


def failed_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(".json")] + FAILED_SUFFIX)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def trec_run_bytes(run: Run, tag: str) -> bytes:
    """The TREC run (harness tie rule), gzip'd with a fixed header time so identical runs give
    identical bytes."""
    return gzip.compress(run_text(run, tag).encode("utf-8"), mtime=0)


def _machine_prefixes() -> list[tuple[str, str]]:
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
    """The record with machine-specific path prefixes shortened (<cache>/, repo-relative, ~/, <python>/)
    and API keys redacted: records are committed, and error messages, tracebacks and artifact paths
    would otherwise carry them."""
    from benchmarks.openai_client import redact

    prefixes = _machine_prefixes()  # once per record, not once per string in it

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            for prefix, short in prefixes:
                item = item.replace(prefix, short)
            return redact(item)
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(obj)


def integer_counts(stats: dict[str, float]) -> dict[str, float | int]:
    """Counts as integers (9, not 9.0): a stat is a count unless it is seconds (_s) or money (_usd)."""
    return {k: int(v) if not k.endswith(("_s", "_usd")) and float(v).is_integer() else v
            for k, v in stats.items()}


def _current_status(path: Path) -> str | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return data.get("status") if isinstance(data, dict) else None


def write_record(
    path: Path, record: dict[str, Any], per_query: dict[str, dict[str, float]] | None = None,
    run: Run | None = None,
) -> None:
    """Write a record that replaces the row's record: sidecars first (named by content), the record
    last, then the row's unreferenced old files go. A success also clears a failed attempt."""
    with row_lock(path):
        _write_locked(path, record, per_query, run)


def _write_locked(path: Path, record: dict[str, Any], per_query: dict[str, dict[str, float]] | None,
                  run: Run | None) -> None:
    record = portable(dict(record, schema_version=SCHEMA))
    stem = path.name[: -len(".json")]
    sidecars: dict[Path, bytes] = {}
    for key, data in (("per_query", None if per_query is None else dumps_json(per_query).encode("utf-8")),
                      ("run", None if run is None else trec_run_bytes(run, tag=stem))):
        if data is None:
            continue
        sha = _sha256(data)
        name = f"{stem}.{sha[:16]}.{SIDECARS[0] if key == 'per_query' else SIDECARS[1]}"
        sidecars[path.with_name(name)] = data
        record[key] = {"path": name, "sha256": sha}
    if not _same_record(path, record) or not all(_holds(p, data) for p, data in sidecars.items()):
        for sidecar, data in sidecars.items():
            atomic_write_bytes(sidecar, data)
        atomic_write_json(path, record)
    failed_path(path).unlink(missing_ok=True)
    collect_garbage(path)


# What may differ between two runs that found the same thing: when they ran and how long they took.
RUN_TIME_FIELDS = ("started_at", "timing")


def _without_run_time(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in RUN_TIME_FIELDS}
    if isinstance(out.get("stats"), dict):  # its seconds (encode_s, search_s, ...) are timings too
        out["stats"] = {k: v for k, v in out["stats"].items() if not k.endswith("_s")}
    return out


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _same_record(path: Path, record: dict[str, Any]) -> bool:
    """Whether the row's record already says exactly this, apart from when it ran and how long
    it took: then it is left as it is (the first run's date and timings stay), so a re-run that
    changes nothing writes nothing, and the leaderboard it would rebuild is the one already there."""
    try:
        old = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):  # damaged: rewrite it
        return False
    return isinstance(old, dict) and _without_run_time(old) == _without_run_time(json.loads(dumps_json(record)))


def write_attempt(path: Path, record: dict[str, Any]) -> bool:
    """Record a run that did not produce numbers (failed, not run, data not available).

    If the row has a good (ok) record, it stays and the attempt is written beside it as
    ``<row>.failed.json``; returns True in that case. Otherwise the attempt is the record."""
    with row_lock(path):  # one lock for the check and the write: a racing success is never overwritten
        if _current_status(path) == "ok":
            atomic_write_json(failed_path(path), portable(dict(record, schema_version=SCHEMA)))
            return True
        _write_locked(path, record, None, None)
        return False


@dataclass
class LoadedRecord:
    path: Path
    data: dict[str, Any]
    # Read with the record, so the numbers and the per-query values are one consistent snapshot.
    per_query_data: dict[str, dict[str, float]] | None = field(default=None, kw_only=True, repr=False)
    last_attempt: dict[str, Any] | None = field(default=None, kw_only=True)  # <row>.failed.json
    run_bytes: bytes | None = field(default=None, kw_only=True, repr=False)  # gzip'd TREC run, when read

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
        if self.per_query_data is None:
            self.per_query_data = _read_sidecar(self.path, self.data, "per_query", json.loads) or {}
        return self.per_query_data


def _read_sidecar(path: Path, data: dict[str, Any], key: str, parse: Any = None) -> Any:
    ref = data.get(key)
    if not ref:
        return None
    side = path.with_name(ref["path"])
    raw = side.read_bytes()  # FileNotFoundError: the caller decides (superseded, or broken)
    if _sha256(raw) != ref["sha256"]:
        raise _SidecarMismatch(f"{side}: sha256 does not match its record {path}")
    return parse(raw) if parse else raw


class _SidecarMismatch(Exception):
    pass


def read_record(path: Path, *, sidecars: tuple[str, ...] = ("per_query",), retries: int = 20) -> LoadedRecord:
    """One record with its sidecars, checked against the hashes it carries.

    A sidecar that vanished or changed while the record was being replaced is not damage: the
    record is read again (up to ``retries`` times). Damage is a DataError that says what to do."""
    for _ in range(retries):
        raw = path.read_bytes()
        data = read_json(path, raw)
        check_record(path, data, SCHEMA, STATUSES)
        loaded: dict[str, Any] = {}
        try:
            for key in sidecars:
                loaded[key] = _read_sidecar(path, data, key, json.loads if key == "per_query" else None)
        except (FileNotFoundError, _SidecarMismatch) as exc:
            try:
                superseded = path.read_bytes() != raw
            except FileNotFoundError:
                superseded = True
            if superseded:
                continue
            what = "is missing" if isinstance(exc, FileNotFoundError) else "does not match its hash"
            raise DataError(f"{path}: its {key} sidecar {data[key]['path']} {what}. "
                            f"{refresh_hint(path)}") from None
        return LoadedRecord(path, data, per_query_data=loaded.get("per_query") or {},
                            run_bytes=loaded.get("run"))
    raise DataError(f"{path}: replaced {retries} times while being read; try again once the run writing it ends")


def _is_failed_attempt(path: Path, data: dict[str, Any]) -> bool:
    """``<row>.failed.json`` of row ``<row>`` (a row may itself be named ``x.failed``: the record says)."""
    return path.name.endswith(FAILED_SUFFIX) and data.get("row") == path.name[: -len(FAILED_SUFFIX)]


def load_records(results_dir: Path) -> list[LoadedRecord]:
    """Every record under ``results_dir`` (sorted by path), each with its last failed attempt."""
    records, attempts = [], {}
    for path in sorted(Path(results_dir).glob("*/*/*.json")):
        if path.name.endswith(".per_query.json"):
            continue
        data = read_json(path, path.read_bytes())
        check_record(path, data, SCHEMA, STATUSES)
        if _is_failed_attempt(path, data):
            attempts[path.with_name(data["row"] + ".json")] = data
            continue
        records.append(read_record(path, sidecars=("per_query",) if data.get("status") == "ok" else ()))
    for rec in records:
        rec.last_attempt = attempts.pop(rec.path, None)
    # An attempt whose good record is gone (deleted by hand) still shows: as the record itself.
    records += [LoadedRecord(p, data) for p, data in sorted(attempts.items())]
    return sorted(records, key=lambda r: str(r.path))


def delete_row(path: Path) -> list[Path]:
    """Remove a row's record, failed attempt and sidecars (under its lock); returns what was removed."""
    removed = []
    with row_lock(path):
        for item in (path, failed_path(path)):
            if item.exists():
                item.unlink()
                removed.append(item)
        before = set(path.parent.iterdir())
        collect_garbage(path)
        removed += sorted(before - set(path.parent.iterdir()))
    path.with_name(f".{path.name[:-len('.json')]}.lock").unlink(missing_ok=True)
    return removed
