"""Where data files live, and proof that they are the files a card pins.

Data never lives in the repository: a card names files relative to a *data search path*, and
the first folder on that path holding the file wins. The path is

* ``$HARNESS_DATA_PATH`` (colon-separated; relative entries are taken from the current
  directory, as a shell user would expect), else
* ``[harness] data_path`` in the repository's ``setup.cfg`` (relative entries resolve against
  the repository root, so results do not depend on where the harness is started), else
* ``data:../shared/data`` tried from the current directory and from the repository root (an
  installed, non-editable copy has no setup.cfg next to it).

Example:
    >>> path, sha = check_file("scifact/corpus.jsonl", "d289...", card_file=Path("datasets/scifact.yaml"))
"""
from __future__ import annotations

import configparser
import hashlib
import os
from pathlib import Path
from typing import Any

from benchmarks.errors import DataError, DataUnavailable
from benchmarks.messages import clip

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_PATH = "data:../shared/data"
ENV_VAR = "HARNESS_DATA_PATH"

# (resolved path, size, mtime_ns) -> hex digest. Hashing a 100 MB corpus costs ~0.3 s, and a
# suite loads the same corpus once per retriever; the stat triple notices a file rewritten in
# place without trusting the path alone.
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _split_path(value: str, base: Path) -> list[Path]:
    entries = [e for e in value.split(os.pathsep) if e.strip()]
    return [(base / e).resolve() if not Path(e).is_absolute() else Path(e) for e in entries]


def search_path() -> list[Path]:
    """The folders searched for data files, in order, without duplicates."""
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip():
        folders = _split_path(env, Path.cwd())
    else:
        cfg_file = REPO_ROOT / "setup.cfg"
        value = None
        if cfg_file.is_file():
            parser = configparser.ConfigParser()
            parser.read(cfg_file, encoding="utf-8")
            value = parser.get("harness", "data_path", fallback=None)
        if value is not None:
            folders = _split_path(value, REPO_ROOT)
        else:
            folders = _split_path(DEFAULT_DATA_PATH, Path.cwd()) + _split_path(DEFAULT_DATA_PATH, REPO_ROOT)
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


def _fs_error(relpath: str | Path, exc: OSError | ValueError) -> DataError:
    # A name too long for the file system (ENAMETOOLONG), a NUL byte: say so, not a traceback.
    why = getattr(exc, "strerror", None) or str(exc)
    return DataError(f"data file {clip(str(relpath))}: {why}")


def _is_file(path: Path, relpath: str | Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError) as exc:
        raise _fs_error(relpath, exc) from None


def _inside(folder: Path, candidate: Path, relpath: str | Path) -> None:
    """Refuse a path that leaves its data folder through '..' or a symlink, before it is opened:
    a card naming ../../../../etc/passwd had that file read and its first line quoted."""
    try:
        real, root = candidate.resolve(), folder.resolve()
    except (OSError, ValueError) as exc:
        raise _fs_error(relpath, exc) from None
    if not real.is_relative_to(root):
        raise DataError(
            f"data file {clip(str(relpath))} resolves to {clip(str(real))}, outside its data folder "
            f"{root}; refused. Copy the file into the data folder or add its folder to {ENV_VAR}."
        )


def find(relpath: str | Path) -> Path | None:
    """The first existing ``folder / relpath`` on the search path, or None.

    A relative path must stay inside the folder it is found in (after resolving '..' and
    symlinks), else DataError; an absolute one (never from a card) is taken as is.
    """
    rel = Path(relpath)
    if rel.is_absolute():
        return rel if _is_file(rel, relpath) else None
    for folder in search_path():
        candidate = folder / rel
        _inside(folder, candidate, relpath)
        if _is_file(candidate, relpath):
            return candidate
    return None


def _missing_message(relpath: str | Path, card_file: Path | str | None, url: str | None) -> str:
    relpath = clip(str(relpath))
    searched = "\n".join(f"  - {folder / relpath}" for folder in search_path())
    where = f" (named by {card_file})" if card_file else ""
    first = search_path()[0] if search_path() else Path("data")
    msg = (
        f"data file {relpath}{where} was not found. Searched:\n{searched}\n"
        f"Set {ENV_VAR} (colon-separated folders) or put the file under one of these folders, "
        f"e.g. {first / relpath}."
    )
    if url:
        msg += f"\nUpstream: download it from {url}"
    return msg


def resolve(relpath: str | Path, *, card_file: Path | str | None = None, url: str | None = None) -> Path:
    """The first hit for ``relpath`` on the search path; DataError listing every folder tried."""
    hit = find(relpath)
    if hit is None:
        raise DataError(_missing_message(relpath, card_file, url))
    return hit


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks and cached per (path, size, mtime) in-process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    cached = _SHA_CACHE.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    hash_into(digest, p)
    _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def hash_into(digest: Any, path: str | Path) -> None:
    """Feed a file's bytes to ``digest`` (a hashlib object) in 1 MiB blocks: memory stays flat."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)


def check_file(
    relpath: str | Path,
    expected_sha256: str | None,
    *,
    card_file: Path | str | None = None,
    url: str | None = None,
    get_command: str | None = None,
) -> tuple[Path, str]:
    """Resolve a card's file and verify its hash; returns (resolved path, actual sha256).

    ``expected_sha256=None`` means the card does not pin this file (user-exported data): the
    actual hash is still returned so results record what was used. ``get_command`` marks data
    that is not shipped anywhere we can reach: a missing file then raises DataUnavailable whose
    message is that command (``{data_dir}`` replaced by the first search-path folder), so the
    runner records "not run" instead of failing the suite.
    """
    try:
        hit = find(relpath)
    except DataError as exc:  # refused (outside its folder) or unusable (name too long)
        raise DataError(f"{exc} (named by {card_file})" if card_file else str(exc)) from None
    if hit is None:
        msg = _missing_message(relpath, card_file, url)
        if get_command:
            folders = search_path()
            data_dir = str(folders[0]) if folders else "data"
            command = get_command.replace("{data_dir}", data_dir)
            raise DataUnavailable(
                f"dataset file {relpath} is not available on this machine (named by {card_file}); "
                f"it is not shipped with the harness.\nExport it with:\n  {command}\n{msg}"
            )
        raise DataError(msg)
    actual = sha256_file(hit)
    if expected_sha256 is not None and actual != expected_sha256.lower():
        raise DataError(
            f"checksum mismatch for {hit} (named by {card_file} as {relpath}):\n"
            f"  expected sha256 {expected_sha256}\n  actual   sha256 {actual}\n"
            "The file differs from the one the card pins. Restore the original file, or, if the data "
            "really changed, update the card's sha256 and bump its version."
        )
    return hit, actual
