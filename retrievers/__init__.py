"""Retriever plugins.

A file in this folder, or in a family subpackage of it (``retrievers/e2e/`` ...), registers a
retriever with the decorator::

    from retrievers import register
    from retrievers.base import Retriever

    @register("my-retriever")
    class MyRetriever(Retriever): ...

The folder and its subpackages (one level: a family's plugin and its helpers) are read with ``ast`` (nothing is imported) to find decorated classes, so listing
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
    # One level of family subpackages (a folder with an __init__.py): deeper nesting is not a layout
    # this project uses, and reading only what could hold a plugin keeps `list` cheap.
    paths = sorted(here.glob("*.py")) + sorted(here.glob("*/*.py"))
    for path in paths:
        if path.name.startswith("_") or not (path.parent / "__init__.py").is_file():
            continue
        module = ".".join(("retrievers", *path.relative_to(here).with_suffix("").parts))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and getattr(deco.func, "id", getattr(deco.func, "attr", None)) == "register"
                    and deco.args
                    and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in deco.args)
                ):
                    doc = ast.get_docstring(node) or ""
                    for arg in deco.args:  # the name, then its aliases
                        RETRIEVERS.add_lazy(arg.value, f"{module}:{node.name}")
                        _DESCRIPTIONS[arg.value] = doc.strip().splitlines()[0] if doc.strip() else ""


def describe(name: str) -> str:
    """First docstring line of a retriever, without importing it when it lives in this folder."""
    if name in _DESCRIPTIONS:
        return _DESCRIPTIONS[name]
    doc = (RETRIEVERS.get(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


_discover_in_tree()
