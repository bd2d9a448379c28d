"""YAML files parsed into pydantic models (dataset cards, suites), with errors that say
"unknown key 'x' in FILE:LINE at a.b".

PyYAML forgets where values came from and silently keeps the last of two equal keys; this
module keeps the composed node tree so a pydantic error location can be mapped back to a line,
and refuses duplicate keys. Hostile shapes are refused before any value is built, naming the
line: nesting deeper than MAX_DEPTH (PyYAML's composer recurses, so it would hit Python's
recursion limit) and aliases that expand past MAX_NODES nodes (a "billion laughs" of a few
hundred bytes expands to gigabytes wherever the value is walked, printed or copied).
"""
from __future__ import annotations

import types
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Callable, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from benchmarks.errors import ConfigError
from benchmarks.messages import clip, did_you_mean, problem_list, quote

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """The base of every model read from a file or a params block (cards, suites, retriever and
    compression params): an unknown key is an error, not silently ignored. ``model_*`` field
    names are allowed (``model`` settings are common here)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


MAX_DEPTH = 64  # nested mappings/sequences; shipped files use 4
MAX_NODES = 100_000  # nodes after alias expansion; shipped files have a few hundred


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML silently keeps the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, Hashable):  # "? [a]: 1"; `key in seen` would raise TypeError
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be a plain value, got {quote(key)}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {quote(key)} (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line of the deepest YAML node along a pydantic error location."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if str(k.value) == str(part)]
            if not match:
                return line
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def error_line(node: yaml.Node | None, kind: str, loc: tuple[Any, ...]) -> int | None:
    # A missing key has no line of its own: point at its parent mapping, unless that is the
    # whole file, where "line 1" would only mislead.
    if kind == "missing":
        return line_of(node, loc[:-1]) if len(loc) > 1 else None
    return line_of(node, loc)


def model_at(root: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model under ``root`` that holds the mapping at ``path`` (to suggest keys valid there)."""
    t: Any = root
    for part in path:
        t = _unwrap(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            fields = {(f.alias or n): f.annotation for n, f in t.model_fields.items()}
            if part not in fields:
                return None
            t = fields[part]
        elif get_origin(t) is dict:
            t = get_args(t)[1]
        else:
            return None
    t = _unwrap(t)
    return t if isinstance(t, type) and issubclass(t, BaseModel) else None


def _unwrap(t: Any) -> Any:
    args = [a for a in get_args(t) if a is not type(None)]
    return args[0] if get_origin(t) in (Union, types.UnionType) and len(args) == 1 else t


def describe(root: type[BaseModel], kind: str, loc: tuple[Any, ...], msg: str, label: str, line: int | None,
             value: Any = ...) -> str:
    """One line per problem; ``kind`` is a pydantic error type (extra_forbidden, missing, ...)."""
    at = f":{line}" if line else ""
    parent = ".".join(str(p) for p in loc[:-1]) or "top level"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = model_at(root, loc[:-1])
        allowed = [f.alias or n for n, f in model.model_fields.items()] if model else []
        close = did_you_mean(key, allowed, n=1, cutoff=0.6, show=repr, known=False)
        if msg:
            hint = f"; {clip(msg)}"
        elif close:
            hint = f"; {close}"
        else:
            hint = f"; allowed here: {', '.join(allowed)}" if allowed else "; remove it"
        return f"unknown key {quote(key)} in {label}{at} at {clip(parent)}{hint}"
    if kind == "missing":
        return f"missing key {quote(loc[-1])} in {label}{at} at {clip(parent)}"
    dotted = ".".join(str(p) for p in loc) or "top level"
    got = f" (got {quote(value)})" if value is not ... else ""  # ... = no offending value to show
    return f"invalid value at {clip(dotted)} in {label}{at}: {clip(msg, 1000)}{got}"


def check_shape(text: str, label: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and alias expansion past MAX_NODES, from the event
    stream (which PyYAML produces without recursion and without building any value)."""
    open_: list[list[Any]] = []  # [expanded size so far, anchor] per open collection
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    total = 0

    def fail(event: yaml.Event, what: str) -> None:
        raise ConfigError(f"{label}:{event.start_mark.line + 1}: {what}")

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            size = 0
            if isinstance(event, yaml.CollectionStartEvent):
                total += 1
                open_.append([1, event.anchor])
                if len(open_) > MAX_DEPTH:
                    fail(event, f"nested more than {MAX_DEPTH} levels deep; flatten the file")
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                size, anchor = open_.pop()
                if anchor is not None:
                    sizes[anchor] = size
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                total += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for _, anchor in open_):
                    fail(event, f"alias *{clip(str(event.anchor), 40)} refers to a node that contains it")
                size = sizes.get(event.anchor, 1)
                total += size
            if total > MAX_NODES:
                fail(event, f"aliases expand this file past {MAX_NODES:,} values; write the values out "
                            f"or use fewer nested aliases")
            if open_:
                open_[-1][0] += size
    except yaml.YAMLError:
        return  # a syntax error: compose() reports it with its line and column


def compose(text: str, label: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of a YAML document; syntax errors become ConfigError with line and column."""
    check_shape(text, label)
    loader = None
    try:
        loader = StrictLoader(text)  # its reader refuses control characters right away
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    except yaml.reader.ReaderError as exc:  # a control character: no mark, but a position
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"YAML error in {label}:{line}: character #x{exc.character:04x} is not allowed "
                          f"in YAML; remove it") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"YAML error in {label}{line}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error in {label}: {clip(str(exc), 1000)}") from None
    except RecursionError:  # check_shape bounds the depth; this is the last line of defence
        raise ConfigError(f"{label}: nested too deeply to read; flatten the file") from None
    finally:
        if loader is not None:
            loader.dispose()


Problem = tuple[str, tuple[Any, ...], str, Any]  # (pydantic error type, loc, message, value)


def parse_model(text: str, label: str, model: type[M], what: str,
                extra_checks: Callable[[M], list[Problem]] | None = None) -> M:
    """Parse YAML text into ``model``; every problem goes into one ConfigError naming the
    file, line and field (``what`` names the kind of file in the message: "suite", ...)."""
    node, data = compose(text, label)
    if not isinstance(data, dict):
        raise ConfigError(f"{label} must be a YAML mapping; got {type(data).__name__}")
    try:
        parsed = model.model_validate(data)
        problems = extra_checks(parsed) if extra_checks else []
    except ValidationError as exc:
        # pydantic's "Extra inputs are not permitted" adds nothing; describe() suggests keys.
        problems = [(e["type"], tuple(e["loc"]),
                     "" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, "),
                     e.get("input", ...)) for e in exc.errors()]
    if problems:
        lines = [describe(model, kind, loc, msg, label, error_line(node, kind, loc), value)
                 for kind, loc, msg, value in problems]
        raise ConfigError(f"{len(lines)} problem(s) in {what} {label}:{problem_list(lines)}")
    if "_yaml_node" in model.__private_attributes__:
        # Models that report later problems by line (a suite's retriever params) keep the tree.
        parsed._yaml_node, parsed._yaml_label = node, label  # type: ignore[attr-defined]
    return parsed


def where(model: BaseModel, loc: tuple[Any, ...]) -> str:
    """``FILE:LINE`` of ``loc`` in the file a model was parsed from (``FILE`` when unknown)."""
    label = getattr(model, "_yaml_label", None) or f"<{type(model).__name__.lower()}>"
    line = line_of(getattr(model, "_yaml_node", None), loc)
    return f"{label}:{line}" if line else label


def is_file(path: Path, what: str) -> bool:
    """``path.is_file()``, but a name the file system refuses (too long) is a ConfigError."""
    try:
        return path.is_file()
    except OSError as exc:
        raise ConfigError(f"{what} {clip(str(path))}: {exc.strerror}") from None


def read_text(path: Path, what: str) -> str:
    """A YAML file's text; unreadable or non-UTF-8 files become ConfigError naming file and line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{clip(str(path))}: cannot read {what}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: {what} is not UTF-8 (byte {data[exc.start:exc.start + 1]!r} at offset "
            f"{exc.start}); re-save it as UTF-8, e.g. iconv -f latin-1 -t utf-8"
        ) from None


def load_model_file(path: Path, model: type[M], what: str, label: str | None = None) -> M:
    return parse_model(read_text(path, what), label or str(path), model, what)
