"""Append-only cache of model outputs, one JSON line per item, so a killed run can resume.

Each completed item is appended and fsync'ed before the next starts: a run killed at any moment
loses at most the item in flight. A line half-written by a kill is cut off when the file is next
opened (it cannot be a complete record, since records end with a newline).

Keys are sha256 of everything that decides the output: backend and model identity (incl. weight
file hash), prompt template hash, sampling parameters, seed, and the input texts. Raw model
text is stored, not parsed questions, so a change in parsing never needs a new generation.

Example:
    >>> cache = OutputCache(Path("/tmp/job.jsonl"), {"backend": "openai", "model": "gpt-4o-mini"})
    >>> key = cache.key({"context": "chunk text"})
    >>> cache.put(key, "1. What is X?")
    >>> cache.get(key)
    '1. What is X?'
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.artifacts import canonical_sha256
from benchmarks.context import cache_root
from benchmarks.fsutil import atomic_write_json


class OutputCache:
    """Outputs of one job (backend + model + prompt + parameters), keyed per input item."""

    def __init__(self, path: Path, job: dict[str, Any]):
        self.path = path
        self.job = job
        self.job_sha = canonical_sha256(job)
        self._entries: dict[str, str] = {}
        self.dropped_tail = 0  # bytes of a half-written last line removed on open
        self._load()

    @classmethod
    def for_job(cls, job: dict[str, Any], root: Path | None = None) -> "OutputCache":
        """The cache file for ``job`` under ``$HARNESS_CACHE_DIR/generate/outputs``."""
        folder = (root or cache_root()) / "generate" / "outputs"
        sha = canonical_sha256(job)
        # The job description sits beside its outputs so a person can tell cache files apart.
        description = folder / f"{sha[:24]}.job.json"
        if not description.is_file():
            atomic_write_json(description, job)
        return cls(folder / f"{sha[:24]}.jsonl", job)

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            self.dropped_tail = len(data) - end
            with open(self.path, "r+b") as handle:
                handle.truncate(end)
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            self._entries[record["key"]] = record["output"]

    def key(self, inputs: dict[str, Any]) -> str:
        return canonical_sha256({"job": self.job_sha, "inputs": inputs})

    def get(self, key: str) -> str | None:
        return self._entries.get(key)

    def put(self, key: str, output: str, **extra: Any) -> None:
        line = json.dumps({"key": key, "output": output, **extra}, ensure_ascii=False, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write() per line in append mode: concurrent writers interleave whole lines.
        with open(self.path, "ab") as handle:
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        self._entries[key] = output

    def __len__(self) -> int:
        return len(self._entries)
