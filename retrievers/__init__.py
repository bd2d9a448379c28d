"""Retriever plugins.

A file in this folder registers a retriever with the decorator::

    from retrievers import register
    from retrievers.base import Retriever

    @register("my-retriever")
    class MyRetriever(Retriever): ...

The folder is read with ``ast`` (nothing is imported) to find decorated classes, so listing
retrievers stays cheap; a module is imported only when one of its names is used. Other
distributions add retrievers through the entry-point group ``retrieval_harness.retrievers``.
"""
from __future__ import annotations

import ast
from pathlib import Path

from benchmarks.registry import Registry

RETRIEVERS: Registry[type] = Registry("retriever", entry_point_group="retrieval_harness.retrievers")
register = RETRIEVERS.register

_DESCRIPTIONS: dict[str, str] = {}


def _discover_in_tree() -> None:
    here = Path(__file__).parent
    for path in sorted(here.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and getattr(deco.func, "id", getattr(deco.func, "attr", None)) == "register"
                    and deco.args
                    and isinstance(deco.args[0], ast.Constant)
                ):
                    name = deco.args[0].value
                    RETRIEVERS.add_lazy(name, f"retrievers.{path.stem}:{node.name}")
                    doc = ast.get_docstring(node) or ""
                    _DESCRIPTIONS[name] = doc.strip().splitlines()[0] if doc.strip() else ""


def describe(name: str) -> str:
    """First docstring line of a retriever, without importing it when it lives in this folder."""
    if name in _DESCRIPTIONS:
        return _DESCRIPTIONS[name]
    doc = (RETRIEVERS.get(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


_discover_in_tree()
