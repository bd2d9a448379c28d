"""Which rows of a leaderboard section may be compared, and why the others may not.

A section (one suite × dataset) has a *reference*: the baseline row's record when it is usable,
else the most common fingerprint among the usable ok rows. A row is **stale** when its record
has no evaluation fingerprint (an older harness), when its row or dataset is no longer in the
suite, when the suite's settings changed since it ran, or when its fingerprint differs from the
reference's. Stale rows are shown with the reason and the command that refreshes them; only the
others get ▲/▼ marks, paired tests and Δ.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fingerprint import differences, settings_fields, settings_part
from benchmarks.fusion_rows import fused_staleness
from benchmarks.record_checks import refresh_command
from benchmarks.records import LoadedRecord

NO_FINGERPRINT = "no evaluation fingerprint (written by an older harness)"


@dataclass
class Section:
    records: list[LoadedRecord]  # in the suite's row order
    stale: dict[str, str]  # row -> reason
    reference: LoadedRecord | None  # the record the comparable rows share a fingerprint with
    baseline: str | None  # the baseline row, when it is the reference (marks are against it)

    def comparable(self) -> list[LoadedRecord]:
        return [r for r in self.records if r.status == "ok" and r.row not in self.stale]


def load_suite_if_known(name: str) -> Any:
    """The suite as it is now, or None when no suite of that name exists any more."""
    from benchmarks.suites import list_suites, load_suite

    return load_suite(name) if name in list_suites() else None


def _order(records: list[LoadedRecord], suite: Any) -> list[LoadedRecord]:
    rows = [r.name for r in suite.retrievers] if suite is not None else []

    def key(rec: LoadedRecord) -> tuple[int, int, str]:
        if rec.row in rows:
            return (0, rows.index(rec.row), rec.row)
        return (1, int(rec.data.get("row_index", 0) or 0), rec.row)

    return sorted(records, key=key)


def classify(suite_name: str, dataset: str, records: list[LoadedRecord], suite: Any) -> Section:
    from benchmarks.runner import suite_settings

    records = _order(records, suite)
    stale: dict[str, str] = {}
    entry = next((d for d in suite.datasets if d.key == dataset), None) if suite is not None else None
    in_suite = entry is not None
    expected = settings_fields(suite_settings(suite, entry)) if in_suite else None  # per entry: its protocol
    for rec in records:
        fp = rec.data.get("fingerprint")
        if suite is not None and not in_suite:
            stale[rec.row] = f"dataset {dataset} is no longer in suite {suite_name}"
        elif suite is not None and rec.row not in {r.name for r in suite.retrievers}:
            stale[rec.row] = f"row {rec.row} is no longer in suite {suite_name}"
        elif rec.status != "ok":
            continue
        elif not fp:
            stale[rec.row] = NO_FINGERPRINT
        elif expected is not None and settings_part(fp) != expected:
            why = differences(settings_part(fp), expected, ref_name="the suite now")
            stale[rec.row] = "the suite changed since this ran: " + "; ".join(why)
    usable = [r for r in records if r.status == "ok" and r.row not in stale]
    baseline = suite.baseline if suite is not None else _recorded_baseline(records)
    reference = next((r for r in usable if r.row == baseline), None)
    if reference is None and usable:
        counts = Counter(r.data["fingerprint"]["sha256"] for r in usable)
        top = max(counts.values())
        reference = next(r for r in usable if counts[r.data["fingerprint"]["sha256"]] == top)
    ref_name = "baseline" if reference is not None and reference.row == baseline else (
        f"reference row {reference.row}" if reference is not None else "")
    for rec in usable:
        assert reference is not None
        if rec.data["fingerprint"]["sha256"] != reference.data["fingerprint"]["sha256"]:
            why = differences(rec.data["fingerprint"], reference.data["fingerprint"], ref_name=ref_name)
            stale[rec.row] = "; ".join(why)
    stale.update(fused_staleness(records, stale))  # fused from runs the section no longer shows
    marks_against = baseline if reference is not None and reference.row == baseline else None
    return Section(records, stale, reference, marks_against)


def _recorded_baseline(records: list[LoadedRecord]) -> str | None:
    """With the suite gone, the baseline its records name (none when they disagree)."""
    names = sorted({r.data.get("settings", {}).get("baseline") for r in records} - {None})
    return names[0] if len(names) == 1 else None


def row_refresh(rec: LoadedRecord, results_dir: Path | str) -> str:
    return refresh_command(rec.suite, rec.dataset_key, rec.row, results_dir)


def row_command(rec: LoadedRecord) -> str | None:
    """The command line that produced a record, as recorded (argv, else its row command); None for
    records written before commands were recorded."""
    import shlex

    cmd = rec.data.get("command") or {}
    if cmd.get("argv") is not None:
        return shlex.join(["python", "harness.py", *cmd["argv"]])
    return cmd.get("row")


def group_records(records: list[LoadedRecord]) -> dict[str, dict[str, list[LoadedRecord]]]:
    """suite -> dataset -> records, both levels sorted."""
    groups: dict[str, dict[str, list[LoadedRecord]]] = {}
    for rec in records:
        groups.setdefault(rec.suite, {}).setdefault(rec.dataset_key, []).append(rec)
    return {s: dict(sorted(d.items())) for s, d in sorted(groups.items())}


def prune_stale(results_dir: Path | str) -> list[tuple[Path, str, list[Path]]]:
    """Delete every stale record with its failed attempt and sidecars: (record, reason, files removed)."""
    from benchmarks.records import delete_row, load_records

    out = []
    for suite_name, datasets in group_records(load_records(Path(results_dir))).items():
        suite = load_suite_if_known(suite_name)
        for dataset, records in datasets.items():
            section = classify(suite_name, dataset, records, suite)
            for rec in section.records:
                if rec.row in section.stale:
                    out.append((rec.path, section.stale[rec.row], delete_row(rec.path)))
    return out
