"""Each leaderboard table (one suite × dataset) built once as a pandas DataFrame, with what is said under it.

Every export (Markdown, CSV, JSON, LaTeX, HTML) renders these frames, so values, CI bounds,
significance marks and stale / failed status are decided in one place and the formats cannot
disagree. A frame's index is the retriever (row) name in the suite's order; its columns are
``META_COLUMNS``, then per metric ``m``, ``m:ci_low``, ``m:ci_high``, ``m:sig``, then the extra
columns other features contribute (``ExtraColumn``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from benchmarks.records import LoadedRecord, load_records, portable
from benchmarks.significance import DOWN, UP, PairedTest, paired_tests, significance
from benchmarks.staleness import Section, classify, group_records, load_suite_if_known, row_command, row_refresh

MISSING = "—"
META_COLUMNS = ["label", "status", "status_text", "baseline", "stale_reason", "last_attempt", "command", "commit"]
STATUS_LABELS = {"not_run": "not run", "not_available": "data not available", "failed": "FAILED"}


@dataclass(frozen=True)
class ExtraColumn:
    """A column after the metrics, contributed by another feature (e.g. bytes per vector).

    ``value(record, section)`` gives the cell's value (a number or text; None leaves it blank);
    ``fmt`` turns a value into the text the Markdown, LaTeX and HTML tables show."""
    name: str
    value: Callable[[LoadedRecord, Section], Any]
    fmt: Callable[[Any], str] = str


# A note provider returns lines (Markdown inline text) said under a table, after the settings note.
NoteProvider = Callable[["SectionTable"], list[str]]


@dataclass
class SectionTable:
    suite: str
    dataset: str
    split: str
    section: Section
    metrics: list[str]
    frame: pd.DataFrame
    settings: dict[str, Any]  # of the reference record (else the first ok one): the table's settings note
    counts: dict[str, Any]
    tests: list[PairedTest]
    extras: list[ExtraColumn] = field(default_factory=list)
    notes: list[list[str]] = field(default_factory=list)  # blocks of Markdown lines under the table
    curves: dict[str, list[float]] = field(default_factory=dict)  # hit_rate@k of the comparable rows

    @property
    def baseline(self) -> str | None:
        """The row the ▲/▼ marks are against (None when the baseline is not the reference)."""
        return self.section.baseline

    def heading(self) -> str:
        head = f"{self.dataset} (split `{self.split}`"
        if "queries_evaluated" in self.counts:
            head += f", {self.counts['queries_evaluated']:,} queries, {self.counts.get('docs', 0):,} docs"
        return head + ")"

    def value_text(self, row: str, metric: str) -> str:
        """'0.6617 [0.615, 0.706] ▲'; '—' for an ok row with no value; '' for a row that did not run."""
        r = self.frame.loc[row]
        if r["status"] != "ok":
            return ""
        value = r[metric]
        if _missing(value):
            return MISSING
        text = f"{value:.4f}"
        if not _missing(r[f"{metric}:ci_low"]):
            text += f" [{r[f'{metric}:ci_low']:.3f}, {r[f'{metric}:ci_high']:.3f}]"
        return text + (f" {r[f'{metric}:sig']}" if r[f"{metric}:sig"] else "")

    def extra_text(self, row: str, column: ExtraColumn) -> str:
        value = self.frame.loc[row, column.name]
        return "" if _missing(value) else column.fmt(value)


def md_inline(text: str) -> str:
    """Text made safe inside a Markdown table cell or list item: one line, no stray column breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def first_line(text: str, limit: int = 140) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def status_text(data: dict[str, Any]) -> str:
    prefix = STATUS_LABELS.get(data.get("status", ""), str(data.get("status")))
    # Reasons may already say "not run: ..."; don't print the label twice.
    return f"{prefix}: {first_line(data.get('reason', '')).removeprefix(f'{prefix}: ')}"


def _columns(section: Section, suite: Any) -> list[str]:
    """The suite's metrics; with the suite gone, the union over the records in row order."""
    if suite is not None and section.records and section.records[0].dataset_key in {d.key for d in suite.datasets}:
        return list(suite.metrics)
    seen: dict[str, None] = {}
    for rec in section.records:
        for m in [*rec.data.get("settings", {}).get("metrics", []), *rec.data.get("metrics", {})]:
            seen.setdefault(m, None)
    return list(seen)


def _row(rec: LoadedRecord, section: Section, metrics: list[str], marks: dict, named_baseline: str | None,
         extras: list[ExtraColumn]) -> dict[str, Any]:
    tags = [t for t, on in (("baseline", rec.row == named_baseline), ("stale", rec.row in section.stale),
                            ("last attempt failed", rec.last_attempt is not None)) if on]
    env = rec.data.get("env", {})
    row: dict[str, Any] = {
        "label": rec.row + (f" ({', '.join(tags)})" if tags else ""),
        "status": rec.status,
        "status_text": "" if rec.status == "ok" else status_text(rec.data),
        "baseline": rec.row == named_baseline,
        "stale_reason": section.stale.get(rec.row, ""),
        "last_attempt": status_text(rec.last_attempt) if rec.last_attempt is not None else "",
        "command": row_command(rec) or "",
        "commit": f"{(env.get('git_commit') or 'unknown')[:10]}{' (dirty)' if env.get('git_dirty') else ''}",
    }
    values, ci = rec.data.get("metrics", {}), rec.data.get("ci", {})
    for m in metrics:
        ok = rec.status == "ok" and values.get(m) is not None
        low, high = (ci.get(m) or (None, None)) if ok else (None, None)
        row.update({m: float(values[m]) if ok else math.nan, f"{m}:ci_low": math.nan if low is None else low,
                    f"{m}:ci_high": math.nan if high is None else high, f"{m}:sig": marks.get((rec.row, m), "")})
    for column in extras:
        row[column.name] = column.value(rec, section)
    return row


def _notes(table: SectionTable, results_dir: Path | str) -> list[list[str]]:
    section, blocks = table.section, []
    if section.stale:
        blocks.append(["Stale rows are shown as last measured and not compared:", ""]
                      + [f"- `{rec.row}`: {md_inline(section.stale[rec.row])}. "
                         f"Refresh: `{row_refresh(rec, results_dir)}`" for rec in section.records if rec.row in section.stale])
    failed = [f"- `{rec.row}`: last attempt failed: {md_inline(status_text(rec.last_attempt))} "
              f"(at {rec.last_attempt.get('started_at', '?')}); the numbers shown are from the earlier good run"
              for rec in section.records if rec.last_attempt is not None]
    if failed:
        blocks.append(failed)
    missing = []
    for rec in section.records:
        gaps = [m for m in table.metrics if table.value_text(rec.row, m) == MISSING]
        if gaps:
            missing.append(f"- `{rec.row}` has no {', '.join(gaps)} in its record (it was run with "
                           f"{', '.join(rec.data.get('metrics', {})) or 'no metrics'}); refresh it: "
                           f"`{row_refresh(rec, results_dir)}`")
    if missing:
        blocks += [[f"{MISSING}: no value recorded for that metric."], missing]
    ref = section.reference
    skipped = (ref.data.get("dataset", {}).get("notes") or {}) if ref is not None else {}
    if skipped.get("skipped_rows"):
        reasons = "; ".join(first_line(str(r)) for r in skipped.get("skip_reasons", []))
        blocks.append([f"Loading skipped {skipped['skipped_rows']:,} bad row(s) of the data file"
                       + (f" ({md_inline(reasons)})" if reasons else "")
                       + "; the numbers are over the rows kept."])
    blocks.append([settings_note(table.settings, table.baseline)])
    return blocks


def settings_note(settings: dict[str, Any], baseline: str | None) -> str:
    boot, sig = settings.get("bootstrap", {}), settings.get("significance", {})
    note = (
        f"Mean over queries with [{boot.get('confidence', 0.95):.0%} bootstrap CI, "
        f"{boot.get('n_resamples', 1000):,} resamples, seed {settings.get('seed', 0)}]; "
        f"top_k {settings.get('top_k')}, "
        f"{'exact' if settings.get('search', 'exact') == 'exact' else 'ANN'} search, "
        f"ties by {settings.get('tie_break', 'score')}."
    )
    if baseline:
        note += (
            f" {UP}/{DOWN}: significantly above/below `{baseline}` (paired randomization test, "
            f"{sig.get('n_resamples', 10000):,} resamples, {sig.get('correction', 'holm')}-corrected "
            f"across rows with the same evaluation fingerprint, α = {sig.get('alpha', 0.05)})."
        )
    return note


def build_section(suite_name: str, dataset: str, records: list[LoadedRecord], suite: Any = None,
                  results_dir: Path | str = "results", extras: list[ExtraColumn] | None = None,
                  note_providers: list[NoteProvider] | None = None) -> SectionTable:
    section = classify(suite_name, dataset, records, suite)
    # A contributed column appears only in tables where some row has a value for it.
    extras = [c for c in extras or [] if any(c.value(r, section) is not None for r in section.records)]
    ref, metrics = section.reference, _columns(section, suite)
    shown = ref or next((r for r in section.records if r.status == "ok"), section.records[0])
    settings = shown.data.get("settings", {})
    named_baseline = suite.baseline if suite is not None else settings.get("baseline")
    entry = next((d for d in suite.datasets if d.key == dataset), None) if suite is not None else None
    split = entry.split if entry is not None else section.records[0].data["dataset"].get("split", "?")
    comparable = section.comparable()
    tests = paired_tests(comparable, section.baseline, metrics) if section.baseline else []
    marks = significance(tests, settings.get("significance", {}).get("alpha", 0.05))
    rows = [_row(rec, section, metrics, marks, named_baseline, extras) for rec in section.records]
    columns = META_COLUMNS + [c for m in metrics for c in (m, f"{m}:ci_low", f"{m}:ci_high", f"{m}:sig")]
    frame = pd.DataFrame(rows, index=pd.Index([r.row for r in section.records], name="retriever"),
                         columns=columns + [c.name for c in extras])
    for column in extras:  # as given: a pandas float column would show 1536 as 1536.0 and blanks as NaN
        frame[column.name] = pd.Series([r[column.name] for r in rows], index=frame.index, dtype=object)
    table = SectionTable(suite_name, dataset, str(split), section, metrics, frame, settings,
                         ref.data.get("counts", {}) if ref is not None else {}, tests, extras)
    table.curves = {r.row: list(r.data["hit_rate_curve"]) for r in comparable if r.data.get("hit_rate_curve")}
    table.notes = _notes(table, results_dir)
    for provider in note_providers or []:
        lines = provider(table)
        if lines:
            table.notes.append(list(lines))
    return table


@dataclass
class Leaderboard:
    results_dir: str  # as shown (machine prefixes shortened)
    n_records: int
    suites: dict[str, list[SectionTable]]  # suite -> its tables, both sorted by name

    def tables(self) -> list[SectionTable]:
        return [t for tables in self.suites.values() for t in tables]


def build_leaderboard(results_dir: Path | str, extras: list[ExtraColumn] | None = None,
                      note_providers: list[NoteProvider] | None = None) -> Leaderboard:
    records = load_records(Path(results_dir))
    suites: dict[str, list[SectionTable]] = {}
    for suite_name, datasets in group_records(records).items():
        suite = load_suite_if_known(suite_name)
        suites[suite_name] = [build_section(suite_name, dataset, recs, suite, results_dir, extras, note_providers)
                              for dataset, recs in datasets.items()]
    return Leaderboard(portable(str(results_dir)), len(records), suites)
