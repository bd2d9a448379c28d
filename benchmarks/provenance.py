"""Where a number came from: harness version, git state, Python and key package versions, and
the sha256 of each retriever's own source files.

``git_dirty`` is true when tracked files differ from the commit (outside what the harness itself
writes) or when an untracked, not ignored file sits among the code (CODE_PATHS): a new plugin
that was never committed changes results without changing the commit. Git is asked only when
REPO_ROOT is the top of a work tree; an installed copy inside somebody's checkout (a venv under
the repo) would otherwise report that checkout's commit for code it does not hold.
"""
from __future__ import annotations

import ast
import importlib.metadata
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmarks import __version__
from benchmarks.datapath import REPO_ROOT, sha256_file

KEY_PACKAGES = (
    "torch", "sentence-transformers", "transformers", "numpy", "scipy", "faiss-cpu", "bm25s",
    "openai", "peft",
)
# Paths the harness itself writes; changes there do not make the code "dirty".
GENERATED = ("results", "leaderboard.md", "plots")
# Where an untracked file changes what the harness computes (code, shipped cards, packaging).
CODE_PATHS = ("benchmarks", "retrievers", "datasets", "harness.py", "setup.cfg", "pyproject.toml")
# Retrievers' sources are hashed within their own top-level package and this one (the base
# classes and shared helpers); the harness engine itself is pinned by git_commit/harness_version.
RETRIEVER_PACKAGE = "retrievers"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty), or (None, None) when REPO_ROOT is not the top of a git work tree."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != REPO_ROOT.resolve():
        return None, None
    commit = _git("rev-parse", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *(f":!{g}" for g in GENERATED))
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", *CODE_PATHS)
    if changed is None or untracked is None:
        return commit, None
    return commit, bool(changed or untracked)


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    commit, dirty = git_state()
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "harness_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def peak_rss_gib() -> float:
    """This process's peak resident memory so far (GiB): recorded after each row, so the row that
    raised a run's peak can be read off the records (the figure never goes down)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 3)  # bytes on macOS, KiB on Linux


def device_description(device: str) -> str:
    if device == "cuda":
        try:
            import torch

            return f"cuda: {torch.cuda.get_device_name(0)}"
        except Exception:  # no torch or no GPU: describe what was asked for
            return "cuda"
    return f"cpu: {platform.processor() or platform.machine()}"


def source_sha256(cls: type) -> dict[str, str]:
    """sha256 of the files a retriever's code is made of, keyed ``retrievers/sentence_transformer.py`` style.

    Hashed: the modules defining the class and its bases, and every module they import
    (transitively, including imports inside functions) from their own top-level package or
    from ``retrievers`` (so ``retrievers/base.py`` and shared helpers such as
    ``retrievers/model_resolution.py`` are always there). Third-party code is pinned by package
    versions instead, the harness engine by git_commit. Nothing is imported to find the files.
    """
    packages = {cls.__module__.split(".")[0], RETRIEVER_PACKAGE}
    todo = [c.__module__ for c in cls.__mro__ if c.__module__.split(".")[0] in packages]
    files: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in files or (path := _module_file(name)) is None:
            continue
        files[name] = path
        todo += [m for m in _imported_modules(path, name) if m.split(".")[0] in packages]
    labels = {_label(name, path): sha256_file(path) for name, path in files.items()}
    return dict(sorted(labels.items()))


def _module_file(name: str) -> Path | None:
    module = sys.modules.get(name)
    if module is not None:
        file = getattr(module, "__file__", None)
        return Path(file) if file and file.endswith(".py") else None
    top = sys.modules.get(name.split(".")[0])
    parts = name.split(".")[1:]
    for root in getattr(top, "__path__", None) or []:
        base = Path(root).joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if parts and candidate.is_file():
                return candidate
    return None


def _imported_modules(path: Path, name: str) -> list[str]:
    """Module names a file imports; for ``from a import b`` both ``a`` and ``a.b`` (b may be a module)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []  # the file is still hashed; there is just nothing more to follow
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: max(len(package.split(".")) - node.level + 1, 0)]
                base = ".".join([*head, *([base] if base else [])])
            if base:
                found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return found


def _label(name: str, path: Path) -> str:
    """Machine-independent: from the module name, not from where it happens to be installed."""
    stem = name.replace(".", "/")
    return f"{stem}/__init__.py" if path.name == "__init__.py" else f"{stem}.py"
