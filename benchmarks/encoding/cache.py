"""On-disk embedding cache, keyed by a model fingerprint and the sha256 of each text.

Layout: ``root/<fingerprint_key>/`` holds ``fingerprint.json`` (for humans) and shards, each
``<name>.npy`` (float32 matrix) + ``<name>.keys`` (one text sha256 per line, row order, then a
trailer line ``# sha256 <hex>``: the sha256 of the ``.npy`` bytes followed by the key lines).

Shards are verified when first read: a shard whose checksum does not match (rows edited, key
lines swapped, a shard from before checksums existed) or that holds NaN/inf is named in a
warning, deleted and its texts re-encoded, so a damaged cache can cost time but never scores.

Crash and concurrency safety without locks: a shard is written to temp files in the same
directory, fsynced, then renamed -- the ``.npy`` first, the ``.keys`` last -- so a ``.keys``
file is the commit mark: a shard counts only if its ``.keys`` exists and the ``.npy`` header,
size and row count agree with it. Shard names are unique (time + uuid4), so two processes
filling the same fingerprint never touch each other's files. Leftovers of killed writers
(temp files, a ``.npy`` without ``.keys``) are skipped, and deleted once they are old enough
that no live writer can still own them. Nothing is pickled.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from benchmarks.artifacts import canonical_sha256
from benchmarks.encoding.shards import (TMP, TRAILER, checksum, npy_bytes, npy_shape, remove_if_stale, verify,
                                        write_temp)

# dispatch(batches, done): encodes each batch somewhere and calls done(batch, vectors) as it completes.
Dispatch = Callable[[list[list[str]], Callable[[list[str], np.ndarray], None]], None]



def fingerprint_key(fingerprint: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the fingerprint, non-ASCII escaped as these keys always were."""
    return canonical_sha256(fingerprint, ascii=True)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class _Index:
    """What one fingerprint directory holds. Rows are numbered globally in shard order, so
    the index is one dict of ints (cheap to build for hundreds of thousands of texts)."""

    where: dict[str, int] = field(default_factory=dict)  # text sha -> global row
    names: list[str] = field(default_factory=list)  # shard k holds rows starts[k] .. starts[k+1]-1
    starts: list[int] = field(default_factory=list)
    rows: int = 0
    seen: set[str] = field(default_factory=set)  # shard names already read or rejected
    dead: set[int] = field(default_factory=set)  # shards that vanished or broke after indexing
    dim: int | None = None

    def add(self, shards: list[tuple[str, list[str]]]) -> None:
        fresh: dict[str, int] = {}
        for name, keys in shards:
            self.names.append(name)
            self.starts.append(self.rows)
            self.rows += len(keys)
        for (_, keys), start in zip(shards[::-1], self.starts[::-1]):
            fresh.update(zip(keys, range(start, start + len(keys))))  # older overwrite newer: oldest wins
        if self.where:
            fresh = {sha: row for sha, row in fresh.items() if sha not in self.where}
        self.where.update(fresh)


class EmbeddingCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0  # unique texts found in the cache by lookup/embed
        self.misses = 0  # unique texts stored (i.e. encoded) by store/embed
        self._indexes: dict[str, _Index] = {}

    # ---- directory and index -------------------------------------------------------------
    def _dir(self, fingerprint: Mapping[str, Any]) -> Path:
        d = self.root / fingerprint_key(fingerprint)
        if not (d / "fingerprint.json").exists():
            d.mkdir(parents=True, exist_ok=True)
            text = json.dumps(fingerprint, indent=2, sort_keys=True, allow_nan=False) + "\n"
            os.replace(write_temp(d / "fingerprint.json", lambda f: f.write(text.encode("utf-8"))),
                       d / "fingerprint.json")
        return d

    def _refresh(self, d: Path) -> _Index:
        """Read shards committed since the last call (other processes may be adding some)."""
        index = self._indexes.setdefault(d.name, _Index())
        now = time.time()
        names = sorted(os.listdir(d))  # time-prefixed names: older shards first
        committed = {n[:-5] for n in names if n.endswith(".keys") and not n.startswith(".")}
        for n in names:
            stem = n[:-4] if n.endswith(".npy") else None
            if n.endswith(TMP) or (stem is not None and stem not in committed):
                remove_if_stale(d / n, now)  # a live writer's files are left alone
        new = []
        for name in sorted(committed - index.seen):
            index.seen.add(name)
            keys = self._read_shard_keys(d, name, index.dim)
            if keys is not None:
                index.dim = keys[1] if index.dim is None else index.dim
                new.append((name, keys[0]))
        index.add(new)
        return index

    @staticmethod
    def _read_shard_keys(d: Path, name: str, dim: int | None) -> tuple[list[str], int] | None:
        shape = npy_shape(d / f"{name}.npy")
        try:
            raw = (d / f"{name}.keys").read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            raw = None
        body, _, trailer = (raw or "").rpartition(TRAILER) if TRAILER in (raw or "") else (raw, "", "")
        # every key line is 64 hex digits + newline; the row count must match the matrix
        if (shape is None or raw is None or len(body) != 65 * shape[0] or body.count("\n") != shape[0]
                or (dim is not None and shape[1] != dim)):
            warnings.warn(f"embedding cache: ignoring unreadable or inconsistent shard {d / name}")
            return None
        problem = verify(d / f"{name}.npy", body, trailer.strip())
        if problem is not None:
            warnings.warn(f"embedding cache: discarding shard {d / name} ({problem}); its texts will be re-encoded")
            for suffix in (".keys", ".npy"):  # the .keys (commit mark) first: never a .keys without data
                (d / f"{name}{suffix}").unlink(missing_ok=True)
            return None
        return body.split("\n")[:-1], shape[1]

    def _find(self, fingerprint: Mapping[str, Any], shas: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors [len(shas), dim], found mask) for distinct shas; rows not found are garbage."""
        d = self._dir(fingerprint)
        index = self._refresh(d)
        gids = np.array([index.where.get(sha, -1) for sha in shas], dtype=np.int64)
        found = gids >= 0
        out = np.empty((len(shas), index.dim or 0), np.float32)
        shard = np.searchsorted(np.array(index.starts, dtype=np.int64), gids, side="right") - 1
        order = np.argsort(shard, kind="stable")  # not found: shard -1
        bounds = np.flatnonzero(np.diff(shard[order], prepend=-2, append=-2))
        for a, b in zip(bounds[:-1], bounds[1:]):
            sel, k = order[a:b], int(shard[order[a]])
            if k < 0:
                continue
            try:
                if k in index.dead:
                    raise OSError("unreadable earlier")
                block = np.load(d / f"{index.names[k]}.npy", mmap_mode="r", allow_pickle=False)
                out[sel] = block[gids[sel] - index.starts[k]]
            except (OSError, ValueError, IndexError) as exc:  # removed or damaged since indexing
                if k not in index.dead:
                    warnings.warn(f"embedding cache: cannot read shard {d / index.names[k]}: {exc}")
                index.dead.add(k)
                found[sel] = False
                for i in sel:  # forget them, so that re-encoded copies get indexed
                    index.where.pop(shas[i], None)
        self.hits += int(found.sum())
        return out, found

    # ---- public API ----------------------------------------------------------------------
    def lookup(self, fingerprint: Mapping[str, Any], texts: Sequence[str]) -> dict[str, np.ndarray]:
        """sha256 -> float32 vector for those of ``texts`` that are cached."""
        shas = list(dict.fromkeys(text_key(t) for t in texts))
        vecs, found = self._find(fingerprint, shas)
        return {shas[i]: vecs[i] for i in np.flatnonzero(found)}

    def store(self, fingerprint: Mapping[str, Any], texts: Sequence[str], vectors: np.ndarray) -> None:
        """Persist one shard atomically: row i of ``vectors`` is the embedding of ``texts[i]``."""
        d = self._dir(fingerprint)
        index = self._indexes.get(d.name) or self._refresh(d)  # no re-listing per batch
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2 or len(v) != len(texts):
            raise ValueError(f"expected {len(texts)} embedding rows, got an array of shape {v.shape}")
        if index.dim is not None and v.shape[1] != index.dim:
            raise ValueError(f"embedding dim {v.shape[1]} differs from the cached dim {index.dim}")
        if not np.isfinite(v).all():
            raise ValueError("embeddings contain NaN or infinite values; not caching them")
        if not len(texts):
            return
        shas = [text_key(t) for t in texts]
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
        data = npy_bytes(v)
        tmp_npy = write_temp(d / f"{name}.npy", lambda f: f.write(data))
        body = "".join(sha + "\n" for sha in shas)
        keys = (body + TRAILER + checksum(data, body) + "\n").encode("ascii")
        tmp_keys = write_temp(d / f"{name}.keys", lambda f: f.write(keys))
        os.replace(tmp_npy, d / f"{name}.npy")  # data first: a .keys file always has its .npy
        os.replace(tmp_keys, d / f"{name}.keys")
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)  # make the renames themselves durable
        finally:
            os.close(fd)
        index.seen.add(name)
        index.dim = v.shape[1]
        index.add([(name, shas)])
        self.misses += len(set(shas))

    def embed(self, fingerprint: Mapping[str, Any], texts: Sequence[str],
              encode: Callable[[list[str]], Any], *, batch_size: int = 256,
              progress: bool = False, desc: str = "", dispatch: Dispatch | None = None) -> np.ndarray:
        """float32 [len(texts), dim]; only texts missing from the cache are encoded, each distinct
        text once, in batches persisted as soon as they are encoded. ``encode(batch)`` returns the
        batch's vectors in order, or yields ``(texts, vectors)`` chunks as they complete (each one
        persisted on arrival: concurrent API requests). ``dispatch(batches, done)`` encodes the
        batches elsewhere (worker processes, Ray actors: benchmarks/encoding) and calls
        ``done(batch, vectors)`` for each as it completes; without it they are encoded here, in order."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        uniq: dict[str, int] = {}  # distinct sha -> its row in `vecs`
        inv = np.array([uniq.setdefault(text_key(t), len(uniq)) for t in texts], dtype=np.int64)
        where = np.empty(len(uniq), np.int64)
        where[inv] = np.arange(len(inv))  # row -> a position of its text (any duplicate will do)
        vecs, found = self._find(fingerprint, list(uniq))
        missing = np.flatnonzero(~found)
        batches = [[texts[i] for i in where[missing[s:s + batch_size]]] for s in range(0, len(missing), batch_size)]
        filled = np.zeros(len(uniq), bool)
        with tqdm(total=len(missing), desc=desc or None, unit="text", disable=not progress) as bar:
            def done(batch: list[str], out: Any) -> None:
                nonlocal vecs
                out = np.asarray(out)
                self.store(fingerprint, batch, out)  # validates rows and dim before writing
                if vecs.shape[1] != out.shape[1]:  # first batch of an empty cache fixes the dim
                    vecs = np.empty((len(uniq), out.shape[1]), np.float32)
                rows = [uniq[text_key(t)] for t in batch]
                vecs[rows] = out
                bar.update(int((~filled[rows]).sum()))
                filled[rows] = True

            def encode_here(batch: list[str]) -> None:
                out = encode(batch)
                if isinstance(out, np.ndarray):
                    done(batch, out)
                else:
                    for chunk, vectors in out:
                        done(list(chunk), vectors)

            if dispatch is None or len(batches) < 2:
                for batch in batches:
                    encode_here(batch)
            else:
                dispatch(batches, done)
        if not filled[missing].all():
            raise RuntimeError(f"the encoder returned no vectors for {int((~filled[missing]).sum())} texts")
        return vecs if len(uniq) == len(inv) else vecs[inv]  # no duplicates: rows already in order
