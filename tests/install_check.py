"""Does a non-editable install work from a directory that is not a checkout?

Builds a wheel from a copy of the code (never from the checkout itself: setuptools' build/
folder there could ship files that no longer exist), installs it with --no-deps into a fresh
venv, and runs the console script ``retrieval-harness`` from an empty directory. The fresh venv
borrows the dependencies of the running interpreter through a .pth file that names its
site-packages: a .pth *line* only adds a path, so the editable install living there (a finder
started by its own .pth) is not started, and nothing of the checkout is on sys.path.

Used by tests/test_install.py and by .ci/run (``python tests/install_check.py``). Needs
setuptools>=64 with bdist_wheel in the running interpreter (no build isolation: offline).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a wheel is built from; everything else in a checkout (results, tests, docs) is not shipped.
SOURCE = ("benchmarks", "retrievers", "datasets", "harness.py", "setup.cfg", "pyproject.toml", "README.md")


def copy_source(dest: Path, root: Path = ROOT) -> Path:
    """The code of a checkout, without caches or build leftovers."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCE:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)


def _must(proc: subprocess.CompletedProcess, what: str) -> str:
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def install(work: Path, root: Path = ROOT) -> Path:
    """Wheel from a copy of ``root`` installed into ``work/venv``; returns the venv's bin folder."""
    src = copy_source(work / "src", root)
    _must(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                "-w", work / "wheel", src]), "building the wheel")
    _must(_run([sys.executable, "-m", "venv", "--without-pip", work / "venv"]), "creating the venv")
    bindir = work / "venv" / ("Scripts" if os.name == "nt" else "bin")
    venv_python = bindir / "python"
    wheels = sorted((work / "wheel").glob("retrieval_harness-*.whl"))
    _must(_run([sys.executable, "-m", "pip", "--python", venv_python, "install", "-q", "--no-deps",
                "--no-index", *wheels]), "installing the wheel")
    purelib = _must(_run([venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]),
                    "asking the venv for its site-packages").strip()
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(purelib) / "_harness_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    return bindir


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH and no HARNESS_* folders: only what the install itself ships is visible."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HARNESS_")}
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def _section(listing: str, heading: str) -> set[str]:
    """Names listed under one heading of `list` output (a suite may share a card's name)."""
    lines = listing.splitlines()
    start = lines.index(heading) + 1 if heading in lines else len(lines)
    names = set()
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        names.add(line.split()[0])
    return names


def check(work: Path, root: Path = ROOT) -> str:
    """Install, then prove from an empty directory that cards, suites and retriever data are found."""
    bindir = install(work, root)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(HARNESS_CACHE_DIR=str(work / "cache"))
    script = bindir / "retrieval-harness"
    probe = ("import benchmarks, retrievers, retrievers.openai.retriever as a; "
             "print(benchmarks.__file__); print(retrievers.__file__); print(bool(a.price_table()))")
    where = _must(_run([bindir / "python", "-c", probe], cwd=elsewhere, env=env),
                  "importing the installed packages").split()
    venv = (work / "venv").resolve()
    for path in where[:2]:
        assert venv in Path(path).resolve().parents, f"imported {path}, not the installed copy in {venv}"
    assert where[2] == "True", "retrievers/openai/prices.yaml was not installed (price_table() is empty)"
    listing = _must(_run([script, "list"], cwd=elsewhere, env=env), "retrieval-harness list")
    shipped = {
        "Datasets:": [p.stem for p in (root / "datasets").glob("*.yaml")],
        "Suites:": [p.stem for p in (root / "benchmarks" / "suites").glob("*.yaml")],
    }
    for heading, names in shipped.items():
        assert names, f"nothing for {heading} in {root}"
        listed = _section(listing, heading)
        missing = sorted(set(names) - listed)
        assert not missing, f"installed `retrieval-harness list` lacks {heading} {missing}:\n{listing}"
    # validate checks each suite's data as a run would, so it is told where the data is, as a user
    # of an installed copy does (there is no setup.cfg beside it to name ../shared/data).
    data_env = {**env, "HARNESS_DATA_PATH": str((root.parent / "shared" / "data").resolve())}
    validated = _must(_run([script, "validate"], cwd=elsewhere, env=data_env), "retrieval-harness validate")
    expected = f"ok: {len(shipped['Suites:'])} suites, {len(shipped['Datasets:'])} dataset cards"
    assert expected in validated, f"expected {expected!r}, got {validated!r}"
    return listing + validated


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="install-check-") as tmp:
        print(check(Path(tmp)), end="")
    print("install check: ok (non-editable install, console script run from another directory)")
