"""One registry per kind of plugin: decorator, lazy "module:Class" entries, and entry points.

Three ways to get a name into a registry, all checked for clashes:

* ``@RETRIEVERS.register("name")`` on a class in an imported module;
* ``RETRIEVERS.add_lazy("name", "package.module:Class")``: the module is imported only when
  the name is used, so ``harness.py list`` imports no torch;
* an entry point in the group ``retrieval_harness.retrievers`` of any installed distribution,
  e.g. in its setup.cfg::

      [options.entry_points]
      retrieval_harness.retrievers =
          my-retriever = my_package.module:MyRetriever
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Callable, Generic, TypeVar

from benchmarks.messages import did_you_mean, quote

T = TypeVar("T")


class UnknownName(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to objects, importing lazily and reading an entry-point group on first use."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._objects: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._entry_points_read = False

    def _claim(self, name: str, source: str) -> None:
        if name in self._sources:
            raise ValueError(
                f"{self.kind} {name!r} is registered twice: by {self._sources[name]} and by {source}"
            )
        self._sources[name] = source

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Register under ``name`` and each alias (e.g. a historical name kept for old suites
        beside a descriptive one); every name resolves to the same object."""
        def decorate(obj: T) -> T:
            for each in (name, *aliases):
                if self._lazy.get(each) != _target_of(obj):  # a lazy entry pointing here is fulfilled
                    self._claim(each, _target_of(obj))
                self._objects[each] = obj
            return obj

        return decorate

    def add_lazy(self, name: str, target: str) -> None:
        if ":" not in target:
            raise ValueError(f"lazy target for {self.kind} {name!r} must be 'module:attr', got {target!r}")
        self._claim(name, target)
        self._lazy[name] = target

    def _read_entry_points(self) -> None:
        if self._entry_points_read or not self.entry_point_group:
            return
        self._entry_points_read = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if self._sources.get(ep.name) == ep.value:
                continue  # the same distribution seen twice on sys.path
            self.add_lazy(ep.name, ep.value)

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(self._sources)

    def registration_order(self, name: str) -> int:
        """Position in which ``name`` was registered: a plugin's first name comes before its aliases."""
        self._read_entry_points()
        return list(self._sources).index(name)

    def source(self, name: str) -> str:
        self._read_entry_points()
        return self._sources[name]

    def get(self, name: str) -> T:
        self._read_entry_points()
        if name in self._objects:
            return self._objects[name]
        if name not in self._lazy:
            raise UnknownName(f"unknown {self.kind} {quote(name)}; {did_you_mean(name, self.names())}")
        module_name, _, attr = self._lazy[name].partition(":")
        obj = getattr(importlib.import_module(module_name), attr)
        self._objects[name] = obj
        return obj


def _target_of(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
