"""What a run shows: one line per row under --quiet (none under -qq), skipped CSV rows on the console and
in the leaderboard, integer counts in records, plots titled with the split and with integer k ticks."""
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks.cli import main
from conftest import ROOT


def run_quietly(tmp_path: Path, flag: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "harness.py", "--suite", "pair", flag, "--results-dir",
                           str(tmp_path / flag), "--no-leaderboard"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_quiet_still_prints_one_line_per_row_and_qq_prints_none(pair_suite, tmp_path):
    quiet = run_quietly(tmp_path, "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    rows = [line for line in quiet.stderr.splitlines() if line.startswith("[pair] tiny/test · ")]
    assert rows == ["[pair] tiny/test · bm25: hit_rate@1 0.3333  mrr@5 0.6667",
                    "[pair] tiny/test · robertson: hit_rate@1 0.3333  mrr@5 0.6667"]
    silent = run_quietly(tmp_path, "-qq")
    assert silent.returncode == 0, silent.stderr
    assert "[pair]" not in silent.stderr and silent.stdout == ""


def test_counts_in_records_are_integers(pair_suite, tmp_path, monkeypatch):
    from retrievers.bm25 import BM25Retriever

    original = BM25Retriever.retrieve

    def counting(self, corpus, queries, k, ctx):
        ctx.add_stat("encoded_texts", len(queries))  # as dense retrievers count (0.0 + n)
        return original(self, corpus, queries, k, ctx)

    monkeypatch.setattr(BM25Retriever, "retrieve", counting)
    assert main(["--suite", "pair", "--retriever", "bm25", "--results-dir", str(tmp_path / "r"),
                 "--no-leaderboard", "--quiet"]) == 0
    text = (tmp_path / "r" / "pair" / "tiny" / "bm25.json").read_text()
    assert '"encoded_texts": 4,' in text
    from benchmarks.records import integer_counts

    assert integer_counts({"cached_texts": 5483.0, "encode_s": 2.0, "api_cost_usd": 0.0, "x": 0.5}) == {
        "cached_texts": 5483, "encode_s": 2.0, "api_cost_usd": 0.0, "x": 0.5}
    assert isinstance(integer_counts({"n": 3.0})["n"], int)


def test_plot_title_names_the_split_and_k_ticks_are_integers(pair_suite, tmp_path, monkeypatch):
    import matplotlib.figure

    figures = []
    save = matplotlib.figure.Figure.savefig

    def capture(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", capture)
    pair_suite.write_text(pair_suite.read_text().replace("top_k: 5", "top_k: 3").replace("mrr@5", "mrr@3"))
    assert main(["--suite", "pair", "--results-dir", str(tmp_path / "r"), "--leaderboard",
                 str(tmp_path / "lb.md"), "--quiet"]) == 0
    (ax,) = figures[-1].axes
    assert ax.get_title() == "pair · tiny (split test): hit_rate@k"
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks == [1, 2, 3]  # a 3-point curve: matplotlib's default ticks are 1.00, 1.25, ...


def test_skipped_csv_rows_are_on_the_console_and_in_the_leaderboard(data_dir, tmp_path, monkeypatch, caplog):
    fixture = Path(__file__).parents[1] / "fixtures" / "data" / "tiny-csv" / "bad_rows.csv"
    shutil.copy(fixture, data_dir / "bad_rows.csv")
    cards, suites = tmp_path / "cards", tmp_path / "suites"
    cards.mkdir()
    suites.mkdir()
    sha = hashlib.sha256(fixture.read_bytes()).hexdigest()
    (cards / "badcsv.yaml").write_text(yaml.safe_dump({
        "schema": "dataset/v1", "name": "badcsv", "version": 1, "description": "t", "format": "csv-qa",
        "splits": {"train": {"data": {"path": "bad_rows.csv", "sha256": sha}}}, "options": {"on_bad_row": "skip"}}))
    (suites / "csvs.yaml").write_text(yaml.safe_dump({
        "schema": "suite/v1", "name": "csvs", "datasets": [{"name": "badcsv", "split": "train"}],
        "metrics": ["hit_rate@1"], "retrievers": [{"name": "bm25", "use": "bm25"}]}))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(cards))
    monkeypatch.setenv("HARNESS_SUITES_DIR", str(suites))
    with caplog.at_level(logging.WARNING, logger="harness"):
        assert main(["--suite", "csvs", "--results-dir", str(tmp_path / "r"), "--leaderboard",
                     str(tmp_path / "lb.md"), "--quiet"]) == 0
    record = json.loads((tmp_path / "r" / "csvs" / "badcsv" / "bm25.json").read_text())
    skipped = record["dataset"]["notes"]["skipped_rows"]
    assert skipped == 5  # rows two, three, four, five and seven of bad_rows.csv
    warning = next(r.getMessage() for r in caplog.records if "skipped while loading" in r.getMessage())
    assert warning.startswith("badcsv/train: 5 bad row(s) skipped while loading (data row 2 (line 3): ")
    assert "Loading skipped 5 bad row(s) of the data file (data row 2 (line 3): " in (tmp_path / "lb.md").read_text()
