"""What a record file must hold before the leaderboard trusts it, and what to tell the user when
it does not: the file, what is wrong, and the command that writes it again."""
from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

from benchmarks.errors import DataError

DEFAULT_RESULTS_DIR = Path("results")


def refresh_command(suite: str, dataset: str, row: str, results_dir: Path | str | None = None) -> str:
    """The command that (re)writes one row's record."""
    words = ["python", "harness.py", "--suite", suite, "--dataset", dataset, "--retriever", row]
    if results_dir is not None and Path(results_dir) != DEFAULT_RESULTS_DIR:
        words += ["--results-dir", str(results_dir)]
    return shlex.join(words)


def refresh_hint(path: Path) -> str:
    """What to do about a broken record at results/<suite>/<dataset>/<row>.json."""
    row = path.name.removesuffix(".failed.json").removesuffix(".json")
    cmd = refresh_command(path.parent.parent.name, path.parent.name, row, path.parent.parent.parent)
    return f"Delete it (and its sidecars) or re-run the row: {cmd}"


def read_json(path: Path, raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte {exc.start}); not a result record. {refresh_hint(path)}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}). {refresh_hint(path)}") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply; not a result record. {refresh_hint(path)}") from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _problem(path: Path, data: Any, schema: str, statuses: tuple[str, ...]) -> str | None:
    if not isinstance(data, dict):
        return f"holds a JSON {type(data).__name__}, not a result record (an object)"
    if data.get("schema_version") != schema:
        return f"schema_version {data.get('schema_version')!r}, expected {schema!r}"
    for key in ("suite", "row"):
        if not isinstance(data.get(key), str) or not data[key]:
            return f"no {key!r} (a string)"
    dataset = data.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("id"), str):
        return "no 'dataset.id' (a string)"
    if data["suite"] != path.parent.parent.name or dataset["id"] != path.parent.name:
        return (f"holds suite {data['suite']!r} / dataset {dataset['id']!r} but lies under "
                f"{path.parent.parent.name}/{path.parent.name}/")
    if data["row"] not in (path.name.removesuffix(".json"), path.name.removesuffix(".failed.json")):
        return f"holds row {data['row']!r} but is named {path.name}"
    if data.get("status") not in statuses:
        return f"status {data.get('status')!r}, expected one of {', '.join(statuses)}"
    if not isinstance(data.get("settings", {}), dict) or not isinstance(data.get("env", {}), dict):
        return "'settings' and 'env' must be objects"
    for key in ("per_query", "run"):
        ref = data.get(key)
        if ref is None:
            continue
        if not (isinstance(ref, dict) and isinstance(ref.get("path"), str) and isinstance(ref.get("sha256"), str)):
            return f"{key!r} must be {{path, sha256}}"
        if Path(ref["path"]).name != ref["path"] or ref["path"].startswith("."):
            return f"{key!r} path {ref['path']!r} is not a file name beside the record"
    if data["status"] == "ok":
        metrics = data.get("metrics")
        if not isinstance(metrics, dict) or not all(_number(v) for v in metrics.values()):
            return "'metrics' must map metric names to finite numbers"
        ci = data.get("ci", {})
        if not isinstance(ci, dict) or not all(
                isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) for v in ci.values()):
            return "'ci' must map metric names to [low, high]"
        if not isinstance(data.get("counts", {}), dict) or not isinstance(data.get("fingerprint", {}), dict):
            return "'counts' and 'fingerprint' must be objects"
    return None


def check_record(path: Path, data: Any, schema: str, statuses: tuple[str, ...]) -> None:
    problem = _problem(path, data, schema, statuses)
    if problem is not None:
        raise DataError(f"{path}: malformed result record: {problem}. {refresh_hint(path)}")
