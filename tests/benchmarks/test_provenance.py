"""Provenance tells the truth: uncommitted plugins make a tree dirty; records hash retriever sources.

The git tests run on a throwaway repository (REPO_ROOT monkeypatched), never on this checkout.
"""
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

from benchmarks import provenance
from conftest import ROOT, TINY


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A committed miniature checkout: code, a card, generated outputs, an ignore rule."""
    root = tmp_path / "repo"
    files = {
        "harness.py": "", "setup.cfg": "", ".gitignore": "__pycache__/\n/data/\n",
        "benchmarks/runner.py": "x = 1\n", "retrievers/base.py": "", "datasets/a.yaml": "",
        "results/s/d/r.json": "{}", "leaderboard.md": "", "tests/test_x.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    monkeypatch.setattr(provenance, "REPO_ROOT", root)
    yield root
    provenance.environment.cache_clear()


def dirty():
    provenance.environment.cache_clear()
    return provenance.environment()["git_dirty"]


def test_clean_checkout_is_clean(repo):
    assert dirty() is False
    assert provenance.environment()["git_commit"] == subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("new_file", ["retrievers/my_plugin.py", "benchmarks/suites/new.yaml",
                                      "datasets/new.yaml", "benchmarks/loaders/new_format.py"])
def test_untracked_code_file_makes_the_tree_dirty(repo, new_file):
    # Before: a new, uncommitted plugin gave a record saying clean at a commit that lacks it.
    (repo / new_file).parent.mkdir(parents=True, exist_ok=True)
    (repo / new_file).write_text("# not committed\n")
    assert dirty() is True


def test_generated_ignored_and_non_code_untracked_files_keep_it_clean(repo):
    for name in ["results/s/d/new.json", "plots/s/p.png", "retrievers/__pycache__/base.cpython.pyc",
                 "data/x/corpus.jsonl", "tests/test_new.py", "notes.txt"]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x")
    (repo / "leaderboard.md").write_text("regenerated")
    assert dirty() is False


def test_modified_tracked_code_is_dirty(repo):
    (repo / "benchmarks" / "runner.py").write_text("x = 2\n")
    assert dirty() is True


def test_installed_copy_inside_a_checkout_reports_no_git_state(repo, monkeypatch):
    # site-packages of a venv under the checkout: git would answer with the checkout's commit,
    # which says nothing about the installed code.
    site = repo / ".venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    (repo / ".gitignore").write_text("__pycache__/\n/data/\n.venv/\n")
    git(repo, "commit", "-qam", "ignore venv")
    monkeypatch.setattr(provenance, "REPO_ROOT", site)
    provenance.environment.cache_clear()
    env = provenance.environment()
    assert env["git_commit"] is None and env["git_dirty"] is None


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_source_sha256_covers_the_defining_module_its_local_imports_and_base(tmp_path, monkeypatch):
    pkg = tmp_path / "myplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("SCALE = 2\n")
    (pkg / "util.py").write_text("import json\n\n\ndef f():\n    from myplug import deep\n    return deep\n")
    (pkg / "deep.py").write_text("Y = 3\n")
    (pkg / "unused.py").write_text("Z = 4\n")
    (pkg / "model.py").write_text(textwrap.dedent("""\
        import numpy as np
        from myplug.helpers import SCALE
        from . import util
        from retrievers.base import DenseRetriever

        class Model(DenseRetriever):
            pass
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        from myplug.model import Model

        hashes = provenance.source_sha256(Model)
        expected = {f"myplug/{n}.py": sha(pkg / f"{n}.py") for n in ("model", "helpers", "util", "deep")}
        expected["myplug/__init__.py"] = sha(pkg / "__init__.py")
        expected["retrievers/base.py"] = sha(ROOT / "retrievers" / "base.py")
        assert hashes == expected  # numpy, json, unused.py: not ours / not imported
        (pkg / "deep.py").write_text("Y = 30\n")  # a helper two imports away changes the hash
        assert provenance.source_sha256(Model)["myplug/deep.py"] != expected["myplug/deep.py"]
    finally:
        for name in [m for m in sys.modules if m == "myplug" or m.startswith("myplug.")]:
            del sys.modules[name]


def test_source_sha256_of_shipped_retrievers_names_their_helpers():
    from retrievers import RETRIEVERS

    hashes = provenance.source_sha256(RETRIEVERS.get("bge-adapter"))
    for name in ("adapter/retriever", "adapter/models", "sentence_transformer", "model_resolution", "base"):
        assert hashes[f"retrievers/{name}.py"] == sha(ROOT / "retrievers" / f"{name}.py")
    assert "retrievers/bm25.py" not in hashes


def test_records_carry_retriever_source_sha256(tmp_path):
    env = dict(os.environ, HARNESS_DATA_PATH=str(TINY / "data"), HARNESS_DATASETS_DIR=str(TINY / "cards"),
               HARNESS_SUITES_DIR=str(TINY / "suites"), HARNESS_CACHE_DIR=str(tmp_path / "cache"),
               HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join([str(TINY / "plugin"), str(ROOT)]))
    proc = subprocess.run(
        [sys.executable, "harness.py", "--suite", "tiny", "--retriever", "keyword", "--retriever", "bm25",
         "--results-dir", str(tmp_path / "results"), "--leaderboard", str(tmp_path / "lb.md"), "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    keyword = json.loads((tmp_path / "results/tiny/tiny/keyword.json").read_text())
    plugin = TINY / "plugin" / "harness_keyword_plugin" / "__init__.py"
    assert keyword["retriever"]["source_sha256"] == {
        "harness_keyword_plugin/__init__.py": sha(plugin),
        "retrievers/base.py": sha(ROOT / "retrievers" / "base.py"),
    }
    bm25 = json.loads((tmp_path / "results/tiny/tiny/bm25.json").read_text())
    assert bm25["retriever"]["source_sha256"]["retrievers/bm25.py"] == sha(ROOT / "retrievers" / "bm25.py")
