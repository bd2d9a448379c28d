"""Shared fixtures: the tiny hand-worked dataset, isolated caches and results."""
import os
import shutil
import sys
from pathlib import Path

import pytest

# Tests live in folders mirroring the packages (tests/benchmarks/, tests/retrievers/ ...); the helper
# modules beside this file (tiny_training.py, embedding_server.py ...) are imported by name from all.
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "tiny"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Never touch the user's cache from tests; offline like CI.
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def tiny_env(tmp_path, monkeypatch):
    """Environment in which the tiny card, suite and plugin are visible (for subprocesses too)."""
    env = {
        "HARNESS_DATA_PATH": str(TINY / "data"),
        "HARNESS_DATASETS_DIR": str(TINY / "cards"),
        "HARNESS_SUITES_DIR": str(TINY / "suites"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TINY / "plugin"), str(ROOT), full.get("PYTHONPATH")]))
    return full


@pytest.fixture
def tiny_copy(tmp_path, monkeypatch):
    """A writable copy of the tiny data and card, for tests that damage them."""
    data = tmp_path / "data"
    shutil.copytree(TINY / "data", data)
    cards = tmp_path / "cards"
    shutil.copytree(TINY / "cards", cards)
    monkeypatch.setenv("HARNESS_DATA_PATH", str(data))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(cards))
    return data / "tiny", cards / "tiny.yaml"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data folder that is the whole data path."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("HARNESS_DATA_PATH", str(folder))
    return folder


def tiny_process_env(tmp: Path, suites: Path = TINY / "suites") -> dict[str, str]:
    """Environment for a ``harness.py`` subprocess over the tiny data, card and plugin, with its own
    cache under ``tmp`` (for module-scoped fixtures, which cannot use ``tiny_env``)."""
    return dict(os.environ, HARNESS_DATA_PATH=str(TINY / "data"), HARNESS_DATASETS_DIR=str(TINY / "cards"),
                HARNESS_SUITES_DIR=str(suites), HARNESS_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1",
                PYTHONPATH=os.pathsep.join([str(TINY / "plugin"), str(ROOT)]))


def run_cli(env: dict[str, str], *args: str):
    """``python harness.py ARGS`` in the repository root; the finished process (text output)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "harness.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def tiny_suite(name: str, rows: list[str], *, metrics: str = "hit_rate@1, mrr@5", top_k: int = 5,
               baseline: str | None = None, dataset: str = "{name: tiny, split: test}") -> str:
    """The text of a suite over ``dataset`` (the tiny data's test split); ``rows`` are YAML flow mappings."""
    head = f"schema: suite/v1\nname: {name}\ndatasets:\n  - {dataset}\n"
    head += f"metrics: [{metrics}]\ntop_k: {top_k}\n" + (f"baseline: {baseline}\n" if baseline else "")
    return head + "retrievers:\n" + "".join(f"  - {row}\n" for row in rows)


def bm25_record(tmp_path: Path, monkeypatch, dataset: str, *, metrics: str, top_k: int = 10,
                out: str = "results") -> tuple[dict, Path]:
    """Run a one-row bm25 suite ``b`` over ``dataset`` (a YAML flow mapping with ``name``) through
    the CLI; (the record, the leaderboard written). The suites folder is set for the test."""
    import json

    from benchmarks.cli import main

    suites = tmp_path / "suites"
    suites.mkdir(exist_ok=True)
    (suites / "b.yaml").write_text(tiny_suite("b", ["{name: bm25, use: bm25}"], metrics=metrics, top_k=top_k,
                                              baseline="bm25", dataset=dataset))
    monkeypatch.setenv("HARNESS_SUITES_DIR", str(suites))
    results, board = tmp_path / out, tmp_path / f"{out}.md"
    assert main(["--suite", "b", "--results-dir", str(results), "--leaderboard", str(board), "-qq"]) == 0
    (record,) = (results / "b").glob("*/bm25.json")
    return json.loads(record.read_text()), board


PAIR_ROWS = ["{name: bm25, use: bm25}", "{name: robertson, use: bm25, params: {method: robertson}}"]
PAIR_SUITE = tiny_suite("pair", PAIR_ROWS, baseline="bm25")


@pytest.fixture
def pair_suite(tiny_copy, tmp_path, monkeypatch):
    """Suite ``pair``: two bm25 rows on a writable copy of the tiny data (no plugin, no model).
    Returns the suite file; rewrite it to change the suite."""
    folder = tmp_path / "suites"
    folder.mkdir()
    path = folder / "pair.yaml"
    path.write_text(PAIR_SUITE, encoding="utf-8")
    monkeypatch.setenv("HARNESS_SUITES_DIR", str(folder))
    return path


# Under CI a skipped test is a failed test: a real-data test that skips because ../shared/data is
# missing (or an optional dependency failed to install) would otherwise let CI go green untested.
def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _fail_skip(report, where: str) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{where} skipped under CI=true, which counts as a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _ci() and report.skipped:
        _fail_skip(report, collector.nodeid)


@pytest.fixture
def one_thread():
    """Torch on one thread in these tests. When other processes keep both cores busy, OpenMP's
    spin-waiting makes 2-thread inference about 10x slower (measured: 0.53 s vs 0.04 s per
    single-text MiniLM encode); results do not depend on it, test time does."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def gen(tmp_path, monkeypatch):
    import argparse

    from benchmarks.llm import backends as gen_backends
    from benchmarks.generate.cli import add_generate_parser, cmd_generate
    from generate_fakes import PAGES, FakeBackend, _pdf

    """Run ``generate`` in-process with the fake backend; returns (run, pdf folder, data dir)."""
    monkeypatch.setitem(gen_backends.BACKENDS, "fake", FakeBackend)
    FakeBackend.calls, FakeBackend.fail_after = 0, None
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    (pdfs / "Doc One.pdf").write_bytes(_pdf(PAGES))
    data = tmp_path / "data"
    monkeypatch.setenv("HARNESS_DATA_PATH", str(data))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(data / "cards"))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true")
    parser = argparse.ArgumentParser()
    add_generate_parser(parser.add_subparsers(dest="command"), common)

    def run(*argv: str) -> int:
        return cmd_generate(parser.parse_args(["generate", "--quiet", "--backend", "fake", *argv]))
    return run, pdfs, data
