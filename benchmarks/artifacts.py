"""Cache of trained artifacts (adapters, fine-tuned encoders), keyed by everything that made them.

Key = sha256 of the canonical JSON of the spec: {kind, base model fingerprint, training-data
hash, hyper-parameters, seed, implementation version}. A changed hyper-parameter is a new key
(so it retrains); an unchanged re-run finds the folder and reuses it.

The hyper-parameters are every field of the retriever's params except those declared with
:func:`eval_only` (one rule for every trainer: a parameter someone adds later is in the key
unless its author says it only shapes evaluation, so it can never silently reuse a stale model).

Layout: ``<cache>/artifacts/<key>/`` holds the artifact's files plus ``artifact.json`` (spec,
training info for the record, sha256 of every file, one content hash over them all).

Publishing is atomic: training writes into a temporary sibling folder, which is renamed into
place only once complete, so a killed run or a concurrent reader never sees half an artifact.
On reuse the files are re-hashed; a folder whose files no longer match is trained again.

Example:
    >>> cache = ArtifactCache(ctx.cache_dir / "artifacts")
    >>> art = cache.get_or_build(spec, lambda folder: train_into(folder), retrain=ctx.retrain)
    >>> art.path, art.content_sha256, art.reused
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from benchmarks.datapath import sha256_file
from benchmarks.fsutil import atomic_write_json

log = logging.getLogger("harness")
META = "artifact.json"


def canonical_json(obj: Any, *, ascii: bool = False, spaced: bool = False) -> str:
    """The one JSON form that hashes are taken of: sorted keys, no NaN, UTF-8 text, no spaces.

    Two older key families were written with Python's defaults and stay byte-identical through
    the flags (a different byte is a different key, so cached work would be redone): ``ascii``
    escapes non-ASCII characters (embedding-cache folders, ``cache.fingerprint_key``), and
    ``spaced`` keeps ``", "``/``": "`` separators (prompt hashes, with ``ascii``). For ASCII-only
    values ``ascii`` changes nothing.
    """
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(obj, sort_keys=True, separators=separators, ensure_ascii=ascii, allow_nan=False)


def canonical_sha256(obj: Any, *, ascii: bool = False, spaced: bool = False) -> str:
    """Hex sha256 of :func:`canonical_json` (UTF-8)."""
    return hashlib.sha256(canonical_json(obj, ascii=ascii, spaced=spaced).encode("utf-8")).hexdigest()


def artifact_key(spec: dict[str, Any]) -> str:
    return canonical_sha256(spec)


EVAL_ONLY = "eval_only"  # json_schema_extra marker on a params field


def eval_only(default: Any = ..., **kwargs: Any) -> Any:
    """A pydantic ``Field`` that does not change what is trained (e.g. the evaluation batch size),
    so it stays out of the artifact key."""
    from pydantic import Field

    return Field(default, json_schema_extra={EVAL_ONLY: True}, **kwargs)


def training_hyper(params: Any, **overrides: Any) -> dict[str, Any]:
    """Every field of ``params`` (a pydantic model) except the :func:`eval_only` ones, as JSON
    values; ``overrides`` replace values resolved at run time (e.g. "auto" precision)."""
    fields = type(params).model_fields
    dumped = params.model_dump(mode="json")
    keep = {k: v for k, v in dumped.items()
            if not (isinstance(fields[k].json_schema_extra, dict) and fields[k].json_schema_extra.get(EVAL_ONLY))}
    return {**keep, **overrides}


def make_spec(kind: str, base: dict[str, Any], data_sha256: str, hyper: dict[str, Any], seed: int,
              impl_version: str) -> dict[str, Any]:
    """The one shape of spec every trainer uses, so keys are comparable and readable."""
    return {"kind": kind, "base": base, "data_sha256": data_sha256, "hyper": hyper, "seed": seed,
            "impl_version": impl_version}


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative posix paths), except artifact.json."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == META:
            continue
        out[rel] = sha256_file(path)
    return out


def content_hash(files: dict[str, str]) -> str:
    """One hash for the artifact: over the sorted (path, sha256) list, so order cannot matter."""
    return canonical_sha256(sorted(files.items()))


@dataclass(frozen=True)
class Artifact:
    key: str
    path: Path
    content_sha256: str
    files: dict[str, str]
    info: dict[str, Any]  # what the build function returned (steps, losses, train time, ...)
    reused: bool

    def record(self) -> dict[str, Any]:
        """The part of the result record's "training" that describes the artifact."""
        return {"artifact_key": self.key, "artifact_sha256": self.content_sha256,
                "artifact_path": str(self.path), "reused": self.reused, **self.info}


class ArtifactCache:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def lookup(self, spec: dict[str, Any]) -> Artifact | None:
        """The published artifact for ``spec``, or None (absent, unreadable or altered)."""
        key = artifact_key(spec)
        folder = self.path(key)
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        files = file_hashes(folder)
        if meta.get("key") != key or files != meta.get("files"):
            log.warning("artifact %s does not match its manifest; training again", folder)
            return None
        return Artifact(key, folder, meta["content_sha256"], files, meta.get("info", {}), reused=True)

    def publish(self, spec: dict[str, Any], build: Callable[[Path], dict[str, Any]]) -> Artifact:
        """Build into a temporary folder, write the manifest, then rename it into place."""
        key = artifact_key(spec)
        final = self.path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{key[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            info = build(tmp) or {}
            files = file_hashes(tmp)
            if not files:
                raise RuntimeError(f"training for {spec.get('kind')} wrote no files")
            digest = content_hash(files)
            atomic_write_json(tmp / META, {"key": key, "spec": spec, "files": files,
                                           "content_sha256": digest, "info": info})
            self._move_into_place(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Artifact(key, final, digest, files, info, reused=False)

    def _move_into_place(self, tmp: Path, final: Path) -> None:
        old = None
        if final.exists():  # --retrain, or a stale/altered folder: set it aside, then swap
            old = final.with_name(f".old-{final.name[:16]}-{uuid.uuid4().hex[:8]}")
            os.rename(final, old)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process published the same key between our check and rename: both
            # were trained from the same spec, so keeping theirs is as good as ours.
            if not (final / META).is_file():
                if old is not None and not final.exists():
                    os.rename(old, final)  # put the previous artifact back rather than lose it
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def get_or_build(self, spec: dict[str, Any], build: Callable[[Path], dict[str, Any]],
                     retrain: bool = False) -> Artifact:
        """Reuse the artifact for ``spec`` unless ``retrain``; otherwise train and publish it."""
        if not retrain:
            found = self.lookup(spec)
            if found is not None:
                log.info("reusing trained artifact %s", found.path)
                return found
        return self.publish(spec, build)
