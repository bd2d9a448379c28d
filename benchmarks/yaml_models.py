"""YAML files parsed into pydantic models (dataset cards, suites), with errors that say
"unknown key 'x' in FILE:LINE at a.b".

PyYAML forgets where values came from and silently keeps the last of two equal keys; this
module keeps the composed node tree so a pydantic error location can be mapped back to a line,
and refuses duplicate keys.
"""
from __future__ import annotations

import difflib
import types
from pathlib import Path
from typing import Any, Callable, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from benchmarks.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML silently keeps the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
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
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if msg:
            hint = f"; {msg}"
        elif close:
            hint = f"; did you mean {close[0]!r}?"
        else:
            hint = f"; allowed here: {', '.join(allowed)}" if allowed else "; remove it"
        return f"unknown key {key!r} in {label}{at} at {parent}{hint}"
    if kind == "missing":
        return f"missing key {loc[-1]!r} in {label}{at} at {parent}"
    dotted = ".".join(str(p) for p in loc) or "top level"
    got = f" (got {value!r})" if value is not ... else ""  # ... = no offending value to show
    return f"invalid value at {dotted} in {label}{at}: {msg}{got}"


def compose(text: str, label: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of a YAML document; syntax errors become ConfigError with line and column."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"YAML error in {label}{line}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error in {label}: {exc}") from None
    finally:
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
        raise ConfigError(f"{len(lines)} problem(s) in {what} {label}:\n  " + "\n  ".join(lines))
    return parsed


def load_model_file(path: Path, model: type[M], what: str) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None
    return parse_model(text, str(path), model, what)
