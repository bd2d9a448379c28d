"""Where a number came from: harness version, git state, Python and key package versions."""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmarks import __version__

REPO_ROOT = Path(__file__).resolve().parent.parent
KEY_PACKAGES = (
    "torch", "sentence-transformers", "transformers", "numpy", "scipy", "faiss-cpu", "bm25s",
    "openai", "peft",
)
# Paths the harness itself writes; changes there do not make the code "dirty".
GENERATED = ("results", "leaderboard.md", "plots")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *(f":!{g}" for g in GENERATED))
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "harness_version": __version__,
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def device_description(device: str) -> str:
    if device == "cuda":
        try:
            import torch

            return f"cuda: {torch.cuda.get_device_name(0)}"
        except Exception:  # no torch or no GPU: describe what was asked for
            return "cuda"
    return f"cpu: {platform.processor() or platform.machine()}"
