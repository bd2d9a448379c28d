"""`leaderboard --format csv | json | latex | html | md`: every format renders the same DataFrames, CSV and
JSON read back (with pandas) to exactly the records' numbers, LaTeX is booktabs with the best values
bold, the HTML page fetches nothing, and the extra-column / note hooks reach every format."""
import json

import pandas as pd
import pytest

from benchmarks import report
from benchmarks.cli import main
from benchmarks.export_latex import escape
from benchmarks.leaderboard_tables import ExtraColumn
from benchmarks.records import load_records
from export_records import ROBERTSON, make_results
from md_tables import table_row, table_rows


@pytest.fixture
def results(pair_suite, tmp_path):
    return make_results(tmp_path)


def export(results, fmt, out, *extra):
    return main(["leaderboard", "--results-dir", str(results), "--format", fmt, "--output", str(out), "--quiet",
                 *extra])


# read_json's default float parser can be 1 ulp off; precise_float=True is pandas' exact one.
@pytest.mark.parametrize("fmt, read", [("csv", pd.read_csv),
                                       ("json", lambda p: pd.read_json(p, precise_float=True))])
def test_csv_and_json_read_back_to_the_records_numbers(results, tmp_path, fmt, read):
    out = tmp_path / f"board.{fmt}"
    assert export(results, fmt, out) == 0
    frame = read(out).set_index("retriever")
    records = {r.row: r for r in load_records(results)}
    assert sorted(frame.index) == ["bm25", "broken", "robertson"]
    assert frame.loc["robertson", "hit_rate@1"] == ROBERTSON["hit_rate@1"] == 0.30000000000000004
    for row in ("bm25", "robertson"):
        data = records[row].data
        for metric, value in data["metrics"].items():
            assert frame.loc[row, metric] == value  # exact: no rounding on the way
            assert [frame.loc[row, f"{metric}:ci_low"], frame.loc[row, f"{metric}:ci_high"]] == data["ci"][metric]
    assert frame.loc["broken", "status"] == "failed" and pd.isna(frame.loc["broken", "mrr@5"])
    assert frame.loc["broken", "status_text"] == "FAILED: RuntimeError: out of memory"
    assert frame.loc["broken", "stale_reason"] == "row broken is no longer in suite pair"
    assert bool(frame.loc["bm25", "baseline"]) and not bool(frame.loc["robertson", "baseline"])
    assert list(frame.columns[:3]) == ["suite", "dataset", "split"] and set(frame["suite"]) == {"pair"}


@pytest.mark.parametrize("fmt", list(report.FORMATS))
def test_same_records_same_bytes_and_the_default_output_name(results, tmp_path, fmt):
    board = tmp_path / "out" / "lb.md"
    board.parent.mkdir()
    args = ["leaderboard", "--results-dir", str(results), "--leaderboard", str(board), "--format", fmt, "--quiet"]
    assert main(args) == 0
    written = board.with_suffix(report.FORMATS[fmt])
    first = written.read_bytes()
    assert main(args) == 0 and written.read_bytes() == first
    assert sorted(p.name for p in board.parent.iterdir() if p.is_file()) == [written.name]  # that format only


def test_cli_formats_are_the_report_formats():
    from benchmarks.cli import build_parser

    parser = build_parser()
    lb = next(a for a in parser._subparsers._group_actions[0].choices["leaderboard"]._actions  # noqa: SLF001
              if a.dest == "format")
    assert list(lb.choices) == list(report.FORMATS)


def test_an_empty_results_dir_does_not_overwrite_an_export(tmp_path, capsys):
    out = tmp_path / "board.csv"
    out.write_text("yesterday\n")
    assert export(tmp_path / "nothing", "csv", out) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and out.read_text() == "yesterday\n"
    assert export(tmp_path / "nothing", "csv", out, "--allow-empty") == 0
    assert pd.read_csv(out).empty


def test_latex_is_booktabs_with_best_bold_and_marks_in_the_caption(results, tmp_path, monkeypatch):
    board = report.leaderboard_tables(results)
    table = board.tables()[0]
    table.frame.loc["robertson", "hit_rate@1:sig"] = "▼"  # no real test is significant on 4 queries
    from benchmarks.export_latex import table_latex

    tex = table_latex(table)
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    rows = {line.split(" & ")[0]: line.split(" & ")[1:] for line in tex.splitlines() if " & " in line}
    bm25, robertson = rows["bm25 (baseline)"], rows["robertson"]
    # hit_rate@1: bm25 1/3 beats robertson 0.3; mrr@5: robertson 0.9 beats bm25's 2/3.
    assert bm25[0].startswith(r"\textbf{0.3333") and not robertson[0].startswith(r"\textbf")
    assert robertson[1].startswith(r"\textbf{0.9000 {\scriptsize [0.333, 0.950]}") and "textbf" not in bm25[1]
    assert robertson[0].endswith(r"$^{\downarrow}$")
    assert rows["broken (stale)"][0] == "FAILED"  # not bold, not compared
    caption = next(line for line in tex.splitlines() if line.startswith(r"\caption{"))
    assert r"$\uparrow$/$\downarrow$: significantly above/below \texttt{bm25}" in caption
    assert "10,000 resamples, holm-corrected" in caption and "Bold: best per column" in caption


def test_latex_escapes_names():
    assert escape("mini_lm & 50% #1 {x}") == r"mini\_lm \& 50\% \#1 \{x\}"


def test_html_is_one_file_that_fetches_nothing(results, tmp_path):
    out = tmp_path / "board.html"
    assert export(results, "html", out) == 0
    html = out.read_text()
    assert "http://" not in html and "https://" not in html and " src=" not in html
    assert '<link rel="icon" href="data:,">' in html and html.count("<link") == 1
    assert html.count('<svg class="whisker"') == 4  # bm25 and robertson × 2 metrics; broken has none
    assert html.count("<polyline") == 2  # one hit_rate@k curve per compared row
    assert f'data-v="{ROBERTSON["mrr@5"]!r}"' in html  # the exact value sorts, the rounded one shows


def test_hooks_add_a_column_and_a_note_to_every_format(results, tmp_path, monkeypatch):
    column = ExtraColumn("bytes/vector", lambda rec, section: {"bm25": 1536}.get(rec.row), fmt="{:,}".format)
    monkeypatch.setattr(report, "EXTRA_COLUMNS", [column])
    monkeypatch.setattr(report, "NOTE_PROVIDERS", [lambda table: [f"note for `{table.dataset}`: "
                                                                  f"{len(table.frame)} rows"]])
    outs = {fmt: tmp_path / f"board{suffix}" for fmt, suffix in report.FORMATS.items()}
    for fmt, out in outs.items():
        assert export(results, fmt, out) == 0
    md = outs["md"].read_text()
    assert table_rows(md)[0][-1] == "bytes/vector" and table_row(md, "bm25")[-1] == "1,536"
    assert table_row(md, "robertson")[-1] == ""
    assert "note for `tiny`: 3 rows" in md
    assert pd.read_csv(outs["csv"]).set_index("retriever").loc["bm25", "bytes/vector"] == 1536
    assert json.loads(outs["json"].read_text())[0]["bytes/vector"] == 1536
    assert r"bytes/vector \\" in outs["latex"].read_text() and "1,536" in outs["latex"].read_text()
    html = outs["html"].read_text()
    assert '<span data-v="1536.0">1,536</span>' in html and "note for <code>tiny</code>: 3 rows" in html
