"""Registry: decorator, lazy entries, entry points from another distribution, clear errors."""
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.registry import Registry, UnknownName

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "fixtures" / "tiny" / "plugin"


def test_decorator_and_lazy_entries():
    reg: Registry[type] = Registry("thing")

    @reg.register("alpha")
    class Alpha:
        pass

    reg.add_lazy("ordered", "collections:OrderedDict")
    assert reg.names() == ["alpha", "ordered"]
    assert reg.get("alpha") is Alpha
    from collections import OrderedDict

    assert reg.get("ordered") is OrderedDict


def test_duplicate_names_raise():
    reg: Registry[type] = Registry("thing")
    reg.add_lazy("alpha", "collections:OrderedDict")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add_lazy("alpha", "collections:Counter")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("alpha")(type("Other", (), {}))


def test_unknown_name_suggests_close_matches():
    reg: Registry[type] = Registry("retriever")
    reg.add_lazy("bge-adapter", "collections:OrderedDict")
    reg.add_lazy("bm25", "collections:Counter")
    with pytest.raises(UnknownName, match="did you mean bge-adapter"):
        reg.get("bge-adaptr")


def test_in_tree_retrievers_are_discovered_without_importing_them():
    code = (
        "import sys; from retrievers import RETRIEVERS; names = RETRIEVERS.names();"
        "assert {'bge', 'bm25'} <= set(names), names;"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'openai', 'bm25s') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_list_imports_no_torch():
    code = (
        "import sys; from benchmarks.cli import main; main(['list', '--quiet']);"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    assert "beir-scifact" in out.stdout and "bm25" in out.stdout


def test_entry_point_plugin_from_separate_distribution_is_listed(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN))
    reg: Registry[type] = Registry("retriever", entry_point_group="retrieval_harness.retrievers")
    assert "keyword" in reg.names()
    cls = reg.get("keyword")
    assert cls.__module__ == "harness_keyword_plugin"
