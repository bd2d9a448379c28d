"""Files of one embedding-cache shard: the .npy header check, the checksum trailer, atomic writes.

See benchmarks/encoding/cache.py for the layout and the crash-safety rules these serve.
"""
from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np

TMP = ".tmp"  # suffix of files being written
STALE_S = 3600.0  # a writer leaves nothing half-done for this long unless it died
TRAILER = "# sha256 "  # last line of a .keys file: checksum over the .npy bytes and the key lines


def npy_shape(path: Path) -> tuple[int, ...] | None:
    """Shape of a complete C-order little-endian float32 .npy file, else None (no data read)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                return None
            header_end = f.tell()
        size_ok = path.stat().st_size == header_end + int(np.prod(shape)) * 4
    except (OSError, ValueError):
        return None
    ok = not fortran and dtype == np.dtype("<f4") and len(shape) == 2 and size_ok
    return tuple(shape) if ok else None


def checksum(npy: bytes, keys_body: str) -> str:
    return hashlib.sha256(npy + keys_body.encode("ascii")).hexdigest()


def npy_bytes(v: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, v, allow_pickle=False)
    return buffer.getvalue()


def verify(npy: Path, keys_body: str, recorded: str) -> str | None:
    """Why a shard cannot be trusted, or None: checksum over data and keys, then finite values."""
    try:
        data = npy.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if not recorded:
        return "no checksum (written before shards were checksummed)"
    if checksum(data, keys_body) != recorded:
        return "checksum mismatch: the vectors or their keys were altered"
    if not np.isfinite(np.load(npy, mmap_mode="r", allow_pickle=False)).all():
        return "NaN or infinite values"
    return None


def remove_if_stale(path: Path, now: float) -> None:
    try:
        if now - path.stat().st_mtime > STALE_S:
            path.unlink()
    except OSError:
        pass  # another process cleaned it up first


def write_temp(path: Path, write: Callable[[Any], Any]) -> Path:
    """Write to a unique temp file next to ``path`` (same filesystem, so the caller's
    os.replace is atomic) and fsync it; returns the temp path."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TMP}")
    with open(tmp, "xb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return tmp
