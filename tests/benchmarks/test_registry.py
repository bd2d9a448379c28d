"""Registry: decorator, lazy entries, entry points from another distribution, clear errors."""
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.registry import Registry, UnknownName

ROOT = Path(__file__).resolve().parents[2]
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


def test_descriptive_aliases_resolve_to_the_historical_plugins_and_list_once(capsys):
    from benchmarks.cli import main
    from retrievers import RETRIEVERS

    for old, new in [("bge", "sentence-transformer"), ("ada", "openai"), ("bge-adapter", "adapter")]:
        assert RETRIEVERS.get(new) is RETRIEVERS.get(old)
    # an old suite's row and a new suite's row are the same retriever: same vectors, same cache entries
    bge, st = RETRIEVERS.get("bge")("a", {}), RETRIEVERS.get("sentence-transformer")("b", {})
    assert bge.fingerprint() == st.fingerprint()
    assert main(["list"]) == 0
    listing = [line for line in capsys.readouterr().out.split("Retrievers:")[1].splitlines() if line.strip()]
    firsts = [line.split()[0] for line in listing]
    assert firsts.count("bge") == 1 and "sentence-transformer" not in firsts and "openai" not in firsts
    assert any(line.split()[0] == "bge" and "(also: sentence-transformer)" in line for line in listing)


def test_an_alias_cannot_take_a_name_already_registered():
    from benchmarks.registry import Registry

    reg = Registry("thing")
    reg.register("one")(object)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("two", "one")(dict)
