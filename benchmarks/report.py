"""leaderboard.md and its hit_rate@k plots, generated from result records alone.

Same records in, same bytes out: rows follow the suite's order, numbers are rounded, the
significance test is seeded, and the plots carry no timestamp.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.compress_report import compression_lines
from benchmarks.errors import DataError, HarnessError
from benchmarks.fsutil import atomic_write_bytes
from benchmarks.records import LoadedRecord, load_records, portable
from benchmarks.staleness import (Section, classify, group_records, load_suite_if_known, row_command,
                                  row_refresh)
from benchmarks.stats import holm, paired_randomization_test

PLOTS_DIR = "plots"  # next to the leaderboard file; links are relative to it
UP, DOWN = "▲", "▼"
MISSING = "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_line(text: str, limit: int = 140) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class PairedTest:
    row: str
    metric: str
    diff: float  # mean over the paired queries of row minus baseline
    p: float  # two-sided paired randomization test
    p_adjusted: float  # after the suite's correction across the rows tested on this metric


def paired_tests(records: list[LoadedRecord], baseline: str, metrics: list[str]) -> list[PairedTest]:
    """Each ok row against the baseline, per metric, on the same queries.

    Callers pass only rows whose evaluation fingerprint equals the baseline's, so the query sets
    must be identical: a difference means a damaged record and is an error, never a skipped test."""
    by_row = {r.row: r for r in records if r.status == "ok"}
    if baseline not in by_row:
        return []
    settings = by_row[baseline].data["settings"]
    sig = settings.get("significance", {})
    n_resamples = sig.get("n_resamples", 10000)
    base_pq = by_row[baseline].per_query()
    others = [r for r in by_row if r != baseline]
    out: list[PairedTest] = []
    for metric in metrics:
        tests = []
        base = base_pq.get(metric, {})
        for row in others:
            pq = by_row[row].per_query().get(metric, {})
            if set(pq) != set(base):
                only = sorted(set(pq) ^ set(base))
                raise DataError(
                    f"{by_row[row].path}: paired test of {row} against {baseline} on {metric}: the query sets "
                    f"differ ({len(pq)} vs {len(base)} queries, e.g. {', '.join(only[:3])}) although the "
                    f"evaluation fingerprints match; the per-query sidecar is damaged. Re-run the row: "
                    f"{row_refresh(by_row[row], by_row[row].path.parent.parent.parent)}")
            qids = sorted(base)
            if not qids:
                continue  # no evaluated query: nothing to test
            a, b = [pq[q] for q in qids], [base[q] for q in qids]
            p = paired_randomization_test(a, b, n_resamples=n_resamples, seed=settings.get("seed", 0))
            tests.append((row, p, (sum(a) - sum(b)) / len(qids)))
        ps = [p for _, p, _ in tests]
        adjusted = holm(ps) if sig.get("correction", "holm") == "holm" else ps
        out += [PairedTest(row, metric, diff, p, p_adj) for (row, p, diff), p_adj in zip(tests, adjusted)]
    return out


def significance(tests: list[PairedTest], alpha: float) -> dict[tuple[str, str], str]:
    """(row, metric) -> mark, for rows significantly above or below the baseline."""
    return {(t.row, t.metric): UP if t.diff > 0 else DOWN for t in tests if t.p_adjusted < alpha and t.diff != 0}


def p_value_table(tests: list[PairedTest], baseline: str) -> list[str]:
    """The p-values behind the marks, folded away under the table."""
    if not tests:
        return []
    lines = [f"<details><summary>Paired tests against <code>{baseline}</code></summary>", "",
             "| retriever | metric | Δ mean | p | p adjusted |", "|---|---|---|---|---|"]
    for t in tests:  # the suite's metric order, then its row order
        lines.append(f"| {_cell(t.row)} | {t.metric} | {t.diff:+.4f} | {t.p:.4f} | {t.p_adjusted:.4f} |")
    return lines + ["", "</details>", ""]


def plot_hit_rate(records: list[LoadedRecord], title: str, path: Path) -> bool:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = [(r.row, r.data.get("hit_rate_curve") or []) for r in records if r.status == "ok"]
    curves = [(row, c) for row, c in curves if c]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for row, curve in curves:
        ax.plot(range(1, len(curve) + 1), curve, label=row, linewidth=1.6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # k is a rank: no 2.5
    ax.set_xlabel("k")
    ax.set_ylabel("hit_rate@k")
    ax.set_title(title)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version/time stamp
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return True


def _columns(section: Section, suite: Any) -> list[str]:
    """The suite's metrics; with the suite gone, the union over the records in row order."""
    if suite is not None and section.records and section.records[0].dataset_key in {d.key for d in suite.datasets}:
        return list(suite.metrics)
    seen: dict[str, None] = {}
    for rec in section.records:
        for m in [*rec.data.get("settings", {}).get("metrics", []), *rec.data.get("metrics", {})]:
            seen.setdefault(m, None)
    return list(seen)


def _value_cell(rec: LoadedRecord, metric: str, mark: str | None) -> str:
    value = rec.data.get("metrics", {}).get(metric)
    if value is None:
        return MISSING
    ci = rec.data.get("ci", {}).get(metric)
    text = f"{value:.4f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    return text + (f" {mark}" if mark else "")


def _status_cell(data: dict[str, Any]) -> str:
    label = {"not_run": "not run", "not_available": "data not available", "failed": "FAILED"}
    prefix = label.get(data.get("status", ""), str(data.get("status")))
    # Reasons may already say "not run: ..."; don't print the label twice.
    return f"{prefix}: {_first_line(data.get('reason', '')).removeprefix(f'{prefix}: ')}"


def _skipped_rows_note(ref: LoadedRecord | None) -> list[str]:
    notes = (ref.data.get("dataset", {}).get("notes") or {}) if ref is not None else {}
    if not notes.get("skipped_rows"):
        return []
    reasons = "; ".join(_first_line(str(r)) for r in notes.get("skip_reasons", []))
    return [f"Loading skipped {notes['skipped_rows']:,} bad row(s) of the data file"
            + (f" ({_cell(reasons)})" if reasons else "") + "; the numbers are over the rows kept.", ""]


def dataset_section(suite_name: str, dataset: str, records: list[LoadedRecord], out_dir: Path,
                    suite: Any = None, results_dir: Path | str = "results") -> list[str]:
    section = classify(suite_name, dataset, records, suite)
    ref = section.reference
    metrics = _columns(section, suite)
    baseline = section.baseline  # set only when the baseline is the reference: marks are against it
    shown = ref or next((r for r in section.records if r.status == "ok"), section.records[0])
    settings = shown.data.get("settings", {})
    named_baseline = suite.baseline if suite is not None else settings.get("baseline")
    entry = next((d for d in suite.datasets if d.key == dataset), None) if suite is not None else None
    split = entry.split if entry is not None else section.records[0].data["dataset"].get("split", "?")
    counts = ref.data.get("counts", {}) if ref is not None else {}
    head = f"### {dataset} (split `{split}`"
    if "queries_evaluated" in counts:
        head += f", {counts['queries_evaluated']:,} queries, {counts.get('docs', 0):,} docs"
    lines = [head + ")", ""]
    comparable = section.comparable()
    tests = paired_tests(comparable, baseline, metrics) if baseline else []
    marks = significance(tests, settings.get("significance", {}).get("alpha", 0.05))
    lines.append("| retriever | " + " | ".join(metrics) + " |")
    lines.append("|---|" + "---|" * len(metrics))
    missing, failed_attempts = [], []
    for rec in section.records:
        tags = [t for t, on in (("baseline", rec.row == named_baseline),
                                ("stale", rec.row in section.stale),
                                ("last attempt failed", rec.last_attempt is not None)) if on]
        name = rec.row + (f" ({', '.join(tags)})" if tags else "")
        if rec.status != "ok":
            cells = [_status_cell(rec.data)] + [""] * (len(metrics) - 1)
        else:
            cells = [_value_cell(rec, m, marks.get((rec.row, m))) for m in metrics]
            gaps = [m for m, c in zip(metrics, cells) if c == MISSING]
            if gaps:
                missing.append(f"- `{rec.row}` has no {', '.join(gaps)} in its record (it was run with "
                               f"{', '.join(rec.data.get('metrics', {})) or 'no metrics'}); refresh it: "
                               f"`{row_refresh(rec, results_dir)}`")
        if rec.last_attempt is not None:
            failed_attempts.append(f"- `{rec.row}`: last attempt failed: {_cell(_status_cell(rec.last_attempt))} "
                                   f"(at {rec.last_attempt.get('started_at', '?')}); the numbers shown are "
                                   f"from the earlier good run")
        lines.append(f"| {_cell(name)} | " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    if section.stale:
        lines += ["Stale rows are shown as last measured and not compared:", ""]
        lines += [f"- `{rec.row}`: {_cell(section.stale[rec.row])}. Refresh: `{row_refresh(rec, results_dir)}`"
                  for rec in section.records if rec.row in section.stale] + [""]
    if failed_attempts:
        lines += failed_attempts + [""]
    if missing:
        lines += [f"{MISSING}: no value recorded for that metric.", "", *missing, ""]
    lines += _skipped_rows_note(ref)
    boot, sig = settings.get("bootstrap", {}), settings.get("significance", {})
    note = (
        f"Mean over queries with [{boot.get('confidence', 0.95):.0%} bootstrap CI, "
        f"{boot.get('n_resamples', 1000):,} resamples, seed {settings.get('seed', 0)}]; "
        f"top_k {settings.get('top_k')}, {'exact' if settings.get('search', 'exact') == 'exact' else 'ANN'} search, "
        f"ties by {settings.get('tie_break', 'score')}."
    )
    if baseline:
        note += (
            f" {UP}/{DOWN}: significantly above/below `{baseline}` (paired randomization test, "
            f"{sig.get('n_resamples', 10000):,} resamples, {sig.get('correction', 'holm')}-corrected "
            f"across rows with the same evaluation fingerprint, α = {sig.get('alpha', 0.05)})."
        )
    lines += [note, "", *p_value_table(tests, baseline), *compression_lines(comparable, metrics),
              *_commands(section.records)]
    rel = f"{PLOTS_DIR}/{suite_name}/{dataset}.png"
    if plot_hit_rate(comparable, f"{suite_name} · {dataset} (split {split}): hit_rate@k", out_dir / rel):
        lines += [f"![hit_rate@k for {suite_name} / {dataset}]({rel})", ""]
    return lines


def _commands(records: list[LoadedRecord]) -> list[str]:
    """Per row, the command line that produced its record, and the commit it ran at."""
    lines = ["<details><summary>Commands that produced these rows</summary>", "",
             "| retriever | command | commit |", "|---|---|---|"]
    for rec in records:
        env = rec.data.get("env", {})
        commit = f"{(env.get('git_commit') or 'unknown')[:10]}{' (dirty)' if env.get('git_dirty') else ''}"
        cmd = row_command(rec)
        shown = f"`{_cell(cmd)}`" if cmd else "not recorded (written by an older harness)"
        lines.append(f"| {_cell(rec.row)} | {shown} | {commit} |")
    return lines + ["", "</details>", ""]


def render(results_dir: Path, out_dir: Path) -> str:
    records = load_records(results_dir)
    groups = group_records(records)
    shown = portable(str(results_dir))
    lines = [
        "# Leaderboard",
        "",
        f"Generated by `python harness.py leaderboard` from the {len(records)} records under "
        f"`{shown}/`; do not edit by hand. Rows are compared only with rows evaluated exactly alike "
        "(same evaluation fingerprint); each row's command re-runs it.",
        "",
    ]
    for suite_name, datasets in groups.items():
        suite = load_suite_if_known(suite_name)
        lines += [f"## Suite `{suite_name}`", ""]
        for dataset, recs in datasets.items():
            lines += dataset_section(suite_name, dataset, recs, out_dir, suite, results_dir)
    if not records:
        lines += [f"No records under `{shown}/`.", ""]
    return "\n".join(lines).rstrip() + "\n"


class EmptyResults(HarnessError):
    """No records where the leaderboard was to be built from (a mistyped --results-dir?)."""


def write_leaderboard(results_dir: Path, leaderboard: Path, allow_empty: bool = False) -> str:
    results_dir, leaderboard = Path(results_dir), Path(leaderboard)
    if not allow_empty and leaderboard.exists() and not load_records(results_dir):
        where = "does not exist" if not results_dir.is_dir() else "holds no result records"
        raise EmptyResults(f"results dir {results_dir} {where}; refusing to overwrite {leaderboard} with an "
                           "empty leaderboard. Check --results-dir, or pass --allow-empty to write it anyway")
    text = render(results_dir, leaderboard.resolve().parent)
    atomic_write_bytes(leaderboard, text.encode("utf-8"))
    return text
