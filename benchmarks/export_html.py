"""The leaderboard as one self-contained static HTML page: sortable columns, CIs drawn as whiskers,
the hit_rate@k curves, and the same notes, paired tests and commands as leaderboard.md.

Nothing is fetched: the CSS, the JavaScript and the SVG charts are inline, so the file opens from
disk, offline, in any browser. The tables are pandas' ``DataFrame.to_html`` of the leaderboard's
frames, each numeric cell carrying its exact value in ``data-v`` for sorting.
"""
from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path

import pandas as pd

from benchmarks.export_html_assets import CSS, JS
from benchmarks.export_svg import curves_chart, whisker
from benchmarks.leaderboard_tables import MISSING, Leaderboard, SectionTable
from benchmarks.significance import DOWN, UP


def inline_markdown(text: str) -> str:
    """The notes' Markdown subset as HTML: `code` spans, escaped table pipes; everything else escaped."""
    parts = re.split(r"`([^`]*)`", text.replace("\\|", "|"))
    return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))


def _notes(blocks: list[list[str]]) -> list[str]:
    out = []
    for block in blocks:
        items = [line[2:] for line in block if line.startswith("- ")]
        text = [line for line in block if line and not line.startswith("- ")]
        out += [f'<p class="note">{inline_markdown(line)}</p>' for line in text]
        if items:
            out.append('<ul class="note">' + "".join(f"<li>{inline_markdown(i)}</li>" for i in items) + "</ul>")
    return out


def _scale(table: SectionTable, metric: str) -> tuple[float, float]:
    """The column's shared whisker scale: from the lowest CI bound (or mean) to the highest."""
    f = table.frame[table.frame["status"] == "ok"]
    values = pd.concat([f[metric], f[f"{metric}:ci_low"], f[f"{metric}:ci_high"]]).dropna()
    if values.empty:
        return (0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * 0.05 or 0.01
    return (lo - pad, hi + pad)


def _metric_cell(table: SectionTable, row: str, metric: str, scale: tuple[float, float]) -> str:
    r = table.frame.loc[row]
    value = r[metric]
    if r["status"] != "ok":
        return ""
    if math.isnan(value):
        return f'<span class="missing" title="no value recorded for {escape(metric)}">{MISSING}</span>'
    low, high = r[f"{metric}:ci_low"], r[f"{metric}:ci_high"]
    low, high = (None, None) if math.isnan(low) else (float(low), float(high))
    ref = None
    if table.baseline in table.frame.index and table.frame.loc[table.baseline, "status"] == "ok":
        base = table.frame.loc[table.baseline, metric]
        ref = None if math.isnan(base) else float(base)
    mark = {UP: ' <span class="up" title="significantly above the baseline">▲</span>',
            DOWN: ' <span class="down" title="significantly below the baseline">▼</span>'}
    mark = mark.get(r[f"{metric}:sig"], "")
    ci = f' <span class="cit">[{low:.3f}, {high:.3f}]</span>' if low is not None else ""
    return (f'<span class="v" data-v="{float(value)!r}">{value:.4f}</span>{ci}{mark}'
            + whisker(float(value), low, high, scale, ref))


def main_table(table: SectionTable) -> str:
    scales = {m: _scale(table, m) for m in table.metrics}
    rows = []
    for row in table.frame.index:
        r = table.frame.loc[row]
        cells = [_metric_cell(table, row, m, scales[m]) for m in table.metrics]
        if r["status"] != "ok" and cells:
            cells[0] = f'<span class="status">{escape(r["status_text"])}</span>'
        extras = []
        for c in table.extras:
            value = table.frame.loc[row, c.name]
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
            text = escape(table.extra_text(row, c))
            extras.append(f'<span data-v="{float(value)!r}">{text}</span>' if number else text)
        rows.append([escape(r["label"]), *cells, *extras])
    frame = pd.DataFrame(rows, columns=["retriever", *table.metrics, *(c.name for c in table.extras)])
    html = frame.to_html(index=False, escape=False, border=0, classes="board sortable", justify="left")
    # Row classes (stale / did not run) for the styling, in the frame's row order.
    kinds = ["stale" if table.frame.loc[row, "stale_reason"] else
             "failed" if table.frame.loc[row, "status"] != "ok" else "ok" for row in table.frame.index]
    body = html.split("<tbody>", 1)
    for kind in kinds:
        body[1] = body[1].replace("<tr>", f'<tr class="{kind}">', 1)
    return "<tbody>".join(body)


def _small_table(frame: pd.DataFrame, summary: str) -> str:
    return (f"<details><summary>{summary}</summary>"
            + frame.to_html(index=False, border=0, classes="sortable", justify="left") + "</details>")


def section_html(table: SectionTable) -> list[str]:
    out = [f"<section><h3>{inline_markdown(table.heading())}</h3>", main_table(table), *_notes(table.notes)]
    if table.tests:
        tests = pd.DataFrame([[t.row, t.metric, f"{t.diff:+.4f}", f"{t.p:.4f}", f"{t.p_adjusted:.4f}"]
                              for t in table.tests], columns=["retriever", "metric", "Δ mean", "p", "p adjusted"])
        out.append(_small_table(tests, f"Paired tests against <code>{escape(table.baseline or '')}</code>"))
    commands = pd.DataFrame({"retriever": table.frame.index,
                             "command": [c or "not recorded (written by an older harness)"
                                         for c in table.frame["command"]],
                             "commit": table.frame["commit"].tolist()})
    out.append(_small_table(commands, "Commands that produced these rows"))
    title = f"{table.suite} · {table.dataset} (split {table.split}): hit_rate@k"
    chart = curves_chart(table.curves, title)
    if chart:
        out.append(f"<figure>{chart}<figcaption>{escape(title)}</figcaption></figure>")
    return out + ["</section>"]


def to_html(board: Leaderboard, path: Path) -> bytes:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<link rel="icon" href="data:,">', "<title>Leaderboard</title>", f"<style>{CSS}</style></head><body>",
             "<h1>Leaderboard</h1>",
             "<p>Generated by <code>python harness.py leaderboard --format html</code> from the "
             f"{board.n_records} records under <code>{escape(board.results_dir)}/</code>; do not edit by hand. "
             "Rows are compared only "
             "with rows evaluated exactly alike (same evaluation fingerprint). Click a column header to sort; "
             "whiskers are the bootstrap CIs on the column's scale, the dashed line the baseline's mean.</p>"]
    for suite_name, tables in board.suites.items():
        parts.append(f"<h2>Suite <code>{escape(suite_name)}</code></h2>")
        for table in tables:
            parts += section_html(table)
    if not board.n_records:
        parts.append(f"<p>No records under <code>{escape(board.results_dir)}/</code>.</p>")
    parts += [f"<script>{JS}</script>", "</body></html>"]
    return ("\n".join(parts) + "\n").encode("utf-8")
