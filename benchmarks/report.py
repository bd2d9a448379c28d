"""The leaderboard: leaderboard.md and its hit_rate@k plots, or a CSV / JSON / LaTeX / HTML export, from
result records alone.

Same records in, same bytes out: rows follow the suite's order, numbers are rounded, the
significance test is seeded, and the plots carry no timestamp. The tables themselves are built once
(benchmarks/leaderboard_tables.py); this module renders them as Markdown with tabulate and writes
whichever format was asked for.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from tabulate import tabulate

from benchmarks.artifacts import canonical_sha256
from benchmarks.errors import HarnessError
from benchmarks.fsutil import atomic_write_bytes
from benchmarks.leaderboard_tables import (MISSING, ExtraColumn, Leaderboard, NoteProvider, SectionTable,
                                           build_leaderboard, md_inline)
from benchmarks.cards import card_notes
from benchmarks.compress_report import bytes_per_vector, compression_lines
from benchmarks.leaderboard_refresh import PLOTS_DIR  # links are relative to the leaderboard file
from benchmarks.leakage_report import leakage_notes
from benchmarks.power import mde_note
from benchmarks.protocol_report import ann_recall, ann_recall_text, protocol_notes
from benchmarks.records import load_records
from benchmarks.significance import DOWN, UP, PairedTest, paired_tests, significance

__all__ = ["DOWN", "MISSING", "UP", "EXTRA_COLUMNS", "NOTE_PROVIDERS", "FORMATS", "PairedTest", "paired_tests",
           "significance", "p_value_table", "render", "write_leaderboard", "leaderboard_tables"]


# Hooks for other features, one line each: columns shown after the metrics in every table (in every
# format), and note lines said under every table (Markdown inline text; after the settings note).
EXTRA_COLUMNS: list[ExtraColumn] = [
    # Size next to quality: compressed rows (benchmarks/compress.py) store fewer bytes per vector.
    ExtraColumn("bytes/vector", lambda record, section: bytes_per_vector(record.data),
                lambda value: "" if value is None else f"{value:,}"),
    # Approximate search (a suite's ann:, protocol dalm): its recall@k against exact search, same queries.
    ExtraColumn("ANN recall@k", ann_recall, ann_recall_text),
]
NOTE_PROVIDERS: list[NoteProvider] = [
    protocol_notes,  # protocol dalm: what DALM's evaluation did to the data, and DALM's own figures per row
    lambda table: card_notes(table.section.records),  # a card's own note, e.g. "scale data" (cards.py)
    lambda table: leakage_notes(table.section.records),  # what trained rows' train split shares with this one
    lambda table: mde_note(table.section, table.metrics),  # what a blank mark means (benchmarks/power.py)
    # Each compressed row against the float row with the same vectors (benchmarks/compress_report.py).
    lambda table: compression_lines(table.section.comparable(), table.metrics),
]


def leaderboard_tables(results_dir: Path | str) -> Leaderboard:
    """Every table of the leaderboard, with the registered extra columns and notes."""
    return build_leaderboard(results_dir, EXTRA_COLUMNS, NOTE_PROVIDERS)


def markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub-flavoured pipe table; cells are text already (no number parsing or reformatting)."""
    return tabulate([[md_inline(c) for c in row] for row in rows], headers=[md_inline(h) for h in headers],
                    tablefmt="github", disable_numparse=True).splitlines()


def p_value_table(tests: list[PairedTest], baseline: str) -> list[str]:
    """The p-values behind the marks, folded away under the table."""
    if not tests:
        return []
    rows = [[t.row, t.metric, f"{t.diff:+.4f}", f"{t.p:.4f}", f"{t.p_adjusted:.4f}"] for t in tests]
    return [f"<details><summary>Paired tests against <code>{baseline}</code></summary>", "",
            *markdown_table(["retriever", "metric", "Δ mean", "p", "p adjusted"], rows), "", "</details>", ""]


PLOT_VERSION = "1"  # bump when plot_hit_rate draws differently: unchanged plots are not redrawn
PLOT_KEY = "harness-input"  # PNG text chunk: the hash of what the plot was drawn from


def _png_text(path: Path, key: str) -> str | None:
    """The value of a PNG tEXt chunk, read without an image library (None: no file or no chunk)."""
    import struct

    try:
        data = path.read_bytes()
    except OSError:
        return None
    pos = 8  # after the PNG signature: chunks of length, type, data, crc
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and body.split(b"\0", 1)[0] == key.encode("latin-1"):
            return body.split(b"\0", 1)[1].decode("latin-1")
        pos += 12 + length
    return None


def plot_hit_rate(curves: dict[str, list[float]], title: str, path: Path) -> bool:
    """Draw hit_rate@k per row into ``path``; a plot already drawn from the same curves, title,
    plotting code and matplotlib release is left as it is, so matplotlib is not even imported."""
    import importlib.metadata
    import io

    if not curves:
        return False
    drawn_from = canonical_sha256({"curves": curves, "title": title, "code": PLOT_VERSION,
                                   "matplotlib": importlib.metadata.version("matplotlib")})
    if _png_text(path, PLOT_KEY) == drawn_from:
        return True
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for row, curve in curves.items():
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
    fig.savefig(buffer, format="png", metadata={"Software": None, PLOT_KEY: drawn_from})  # no version/time stamp
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return True


def main_table(table: SectionTable) -> list[str]:
    """Retriever, one column per metric ('value [CI] mark'), then the extra columns; a row that did not
    run says why in its first metric cell."""
    rows = []
    for row in table.frame.index:
        r = table.frame.loc[row]
        cells = [table.value_text(row, m) for m in table.metrics]
        if r["status"] != "ok" and cells:
            cells[0] = r["status_text"]
        rows.append([r["label"], *cells, *(table.extra_text(row, c) for c in table.extras)])
    return markdown_table(["retriever", *table.metrics, *(c.name for c in table.extras)], rows)


def commands_table(table: SectionTable) -> list[str]:
    """Per row, the command line that produced its record, and the commit it ran at."""
    rows = [[row, f"`{r['command']}`" if r["command"] else "not recorded (written by an older harness)",
             r["commit"]] for row, r in table.frame.iterrows()]
    return ["<details><summary>Commands that produced these rows</summary>", "",
            *markdown_table(["retriever", "command", "commit"], rows), "", "</details>", ""]


def section_markdown(table: SectionTable, out_dir: Path) -> list[str]:
    lines = [f"### {table.heading()}", "", *main_table(table), ""]
    for block in table.notes:
        lines += [*block, ""]
    lines += [*p_value_table(table.tests, table.baseline or ""), *commands_table(table)]
    rel = f"{PLOTS_DIR}/{table.suite}/{table.dataset}.png"
    title = f"{table.suite} · {table.dataset} (split {table.split}): hit_rate@k"
    if plot_hit_rate(table.curves, title, out_dir / rel):
        lines += [f"![hit_rate@k for {table.suite} / {table.dataset}]({rel})", ""]
    return lines


def render_markdown(board: Leaderboard, out_dir: Path) -> str:
    lines = [
        "# Leaderboard",
        "",
        f"Generated by `python harness.py leaderboard` from the {board.n_records} records under "
        f"`{board.results_dir}/`; do not edit by hand. Rows are compared only with rows evaluated exactly alike "
        "(same evaluation fingerprint); each row's command re-runs it.",
        "",
    ]
    for suite_name, tables in board.suites.items():
        lines += [f"## Suite `{suite_name}`", ""]
        for table in tables:
            lines += section_markdown(table, out_dir)
    if not board.n_records:
        lines += [f"No records under `{board.results_dir}/`.", ""]
    return "\n".join(lines).rstrip() + "\n"


def render(results_dir: Path, out_dir: Path) -> str:
    """leaderboard.md's text; writes its plots under out_dir/plots/."""
    return render_markdown(leaderboard_tables(results_dir), out_dir)


def _export(fmt: str) -> Callable[[Leaderboard, Path], bytes]:
    from benchmarks import export_flat, export_html, export_latex

    if fmt == "md":
        return lambda board, path: render_markdown(board, path.resolve().parent).encode("utf-8")
    return {"csv": export_flat.to_csv, "json": export_flat.to_json, "latex": export_latex.to_latex,
            "html": export_html.to_html}[fmt]


FORMATS = {"md": ".md", "csv": ".csv", "json": ".json", "latex": ".tex", "html": ".html"}  # format -> suffix


def default_output(leaderboard: Path, fmt: str) -> Path:
    """Where a format goes unless told: the Markdown leaderboard's path with the format's suffix."""
    return Path(leaderboard) if fmt == "md" else Path(leaderboard).with_suffix(FORMATS[fmt])


class EmptyResults(HarnessError):
    """No records where the leaderboard was to be built from (a mistyped --results-dir?)."""


def write_leaderboard(results_dir: Path, leaderboard: Path, allow_empty: bool = False, fmt: str = "md") -> str:
    """Write the leaderboard in one format (see FORMATS) to `leaderboard`; returns what was written."""
    results_dir, leaderboard = Path(results_dir), Path(leaderboard)
    if not allow_empty and leaderboard.exists() and not load_records(results_dir):
        where = "does not exist" if not results_dir.is_dir() else "holds no result records"
        raise EmptyResults(f"results dir {results_dir} {where}; refusing to overwrite {leaderboard} with an "
                           "empty leaderboard. Check --results-dir, or pass --allow-empty to write it anyway")
    data = _export(fmt)(leaderboard_tables(results_dir), leaderboard)
    atomic_write_bytes(leaderboard, data)
    return data.decode("utf-8")

