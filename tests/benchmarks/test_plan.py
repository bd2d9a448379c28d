"""plan(): a whole run is checked before anything runs or is written, every problem at once.

New modules are imported inside the tests that use them, so that on the old code each test
fails on its own assertion. Each refused case goes through the CLI and proves that exit 2 wrote nothing (see
nothing_written.refused). The tiny dataset (tests/fixtures/tiny) has one split, "test".
"""
import sys

import pytest

from benchmarks.cli import main
from benchmarks.runner import RunOptions
from nothing_written import refused, write_suite

SUITE = """schema: suite/v1
name: s
datasets: [{name: tiny, split: test}]
metrics: [mrr@5]
retrievers:
  - {name: a, use: bm25}
"""


@pytest.mark.parametrize("row", [
    "/ABS/escaped",       # an absolute path: wrote the record there
    "../../escaped",      # climbed out of the results dir
    "..", ".", "x/y", "a b", "-rf", "a" * 101, "a" * 300,
])
def test_unsafe_row_names_are_refused(tiny_copy, tmp_path, capsys, row):
    row = row.replace("/ABS", str(tmp_path))
    path = write_suite(tmp_path, SUITE.replace("{name: a,", f"{{name: '{row}',"))
    err = refused(tmp_path, capsys, path)
    assert f"{path.name}:6" in err and "cannot name a results file" in err
    assert "A-Z a-z 0-9 . _ -" in err
    assert not (tmp_path / "escaped.json").exists()


@pytest.mark.parametrize("dataset, needle", [
    ("{name: tiny, split: test, id: ../../elsewhere}", "cannot name a results file"),
    ("{name: tiny, split: test, id: ..}", "cannot name a results file"),
    ("{name: CARDS/tiny.yaml, split: test}", "give the entry an 'id'"),  # a card path needs an id
])
def test_unsafe_dataset_ids_are_refused(tiny_copy, tmp_path, capsys, dataset, needle):
    _, card = tiny_copy
    text = SUITE.replace("{name: tiny, split: test}", dataset.replace("CARDS", str(card.parent)))
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "s.yaml:3" in err and needle in err


def test_a_card_path_with_an_id_runs(tiny_copy, tmp_path, capsys):
    _, card = tiny_copy
    path = write_suite(tmp_path, SUITE.replace("{name: tiny, split: test}",
                                               f"{{name: {card}, split: test, id: mine}}"))
    rc = main(["--suite", str(path), "--results-dir", str(tmp_path / "r"), "--no-leaderboard", "--quiet"])
    assert rc == 0
    assert (tmp_path / "r" / "s" / "mine" / "a.json").is_file()


def test_unsafe_suite_name_is_refused(tiny_copy, tmp_path, capsys):
    path = write_suite(tmp_path, SUITE.replace("name: s", "name: a b"), name="a b")
    assert "cannot name a results file" in refused(tmp_path, capsys, path)


TRAINS = SUITE + "  - {name: ad, use: bge-adapter, params: {model: minilm-l6}}\n"  # a row that trains


def test_a_row_that_trains_needs_a_train_split(tiny_copy, tmp_path, capsys):
    # Before: bm25 ran and wrote its record, then the adapter row failed at training time.
    err = refused(tmp_path, capsys, write_suite(tmp_path, TRAINS))
    assert "s.yaml:3" in err and "row(s) ad train, but the entry names no train_split" in err


def test_the_train_split_must_exist(tiny_copy, tmp_path, capsys):
    text = TRAINS.replace("split: test}", "split: test, train_split: tests}")
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "s.yaml:3" in err and "has no split 'tests'" in err and "did you mean test?" in err


def test_the_train_split_files_are_checked_before_any_row(tiny_copy, tmp_path, capsys):
    data, card = tiny_copy
    # A train split whose file is missing from the data folder.
    card.write_text(card.read_text() + "  train:\n    corpus: {path: tiny/nope.jsonl, sha256: " + "a" * 64 +
                    "}\n    queries: {path: tiny/queries.jsonl, sha256: " + "a" * 64 + "}\n"
                    "    qrels: {path: tiny/qrels/test.tsv, sha256: " + "a" * 64 + "}\n")
    text = TRAINS.replace("split: test}", "split: test, train_split: train}")
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "tiny/nope.jsonl" in err and "was not found" in err


def test_cuda_without_cuda_is_refused_before_any_row(tiny_copy, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # Before: bm25 ran and wrote, and each dense row failed with a raw AssertionError.
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE), "--device", "cuda")
    assert "--device cuda: CUDA is not available on this machine" in err and "--device cpu" in err


def test_the_device_check_imports_torch_only_for_cuda(monkeypatch):
    from benchmarks.plan import device_problems

    monkeypatch.setitem(sys.modules, "torch", None)  # any "import torch" now raises ImportError
    assert device_problems("cpu") == [] and device_problems("auto") == []
    assert device_problems("cuda") == ["--device cuda: torch is not installed; use --device cpu"]


@pytest.mark.parametrize("value", ["-3", "0", "x"])
def test_limit_queries_must_be_at_least_one(tiny_copy, tmp_path, capsys, value):
    # Before: -3 silently dropped the last 3 queries and 0 was ignored.
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as info:
        main(["--suite", str(write_suite(tmp_path, SUITE)), "--results-dir", str(results),
              "--limit-queries", value, "--quiet"])
    assert info.value.code == 2
    assert "--limit-queries" in capsys.readouterr().err and not results.exists()


def test_plan_refuses_a_bad_limit_given_in_code(tiny_copy, tmp_path):
    from benchmarks.plan import PlanError, plan

    with pytest.raises(PlanError, match="--limit-queries must be an integer >= 1, got -3"):
        plan([write_suite(tmp_path, SUITE)], RunOptions(limit_queries=-3))


def test_metric_cutoffs_are_bounded(tiny_copy, tmp_path, capsys):
    # ndcg@1000000000 ran out of memory; 20000 is above the bound and still cheap on old code.
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE.replace("mrr@5", "ndcg@20000")))
    assert "s.yaml:4" in err and "cutoff above the limit of 10000" in err


@pytest.mark.parametrize("setting, needle", [
    ("seed: -1", "greater than or equal to 0"),  # numpy refused it in the bootstrap, after bm25 ran
    ("seed: 4294967297", "less than or equal to 4294967295"),  # trained like seed 1 (modulo 2**32)
    ("top_k: 20000", "less than or equal to 10000"),  # memory in proportion
    ("bootstrap: {n_resamples: 2000000}", "less than or equal to 1000000"),  # cheap on old code
])
def test_settings_that_fail_or_collide_mid_run_are_refused_up_front(tiny_copy, tmp_path, capsys, setting,
                                                                     needle):
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE + setting + "\n"))
    assert "s.yaml:7" in err and needle in err


def test_every_bad_metric_is_reported_at_once(tiny_copy, tmp_path, capsys):
    text = SUITE.replace("[mrr@5]", "[mmr@5, recall@5, ndgc@10]")
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "'mmr@5'" in err and "'ndgc@10'" in err and "did you mean 'mrr@5'" in err
    assert err.count("s.yaml:4") == 2


def test_evaluate_reports_every_bad_metric_at_once(tmp_path, capsys):
    from conftest import TINY

    run = tmp_path / "run.json"
    run.write_text("{}")
    assert main(["evaluate", "--qrels", str(TINY / "data" / "tiny" / "qrels" / "test.tsv"), "--run", str(run),
                 "--metrics", "mmr@10,recall@5,ndgc@5"]) == 2
    err = capsys.readouterr().err
    assert "2 bad metrics" in err and "'mmr@10'" in err and "'ndgc@5'" in err


def test_bad_params_name_the_line_and_list_the_valid_params(tiny_copy, tmp_path, capsys):
    text = SUITE.replace("  - {name: a, use: bm25}\n", "  - name: a\n    use: bm25\n    params:\n"
                         "      k1: 1.2\n      k2: 3\n      b: high\n")
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "s.yaml:10: retriever row a (use: bm25): params.k2: unknown param; did you mean 'k1'?" in err
    assert "s.yaml:11: retriever row a (use: bm25): params.b: " in err and "'high'" in err
    assert "valid params: k1, b, method, stopwords, lowercase" in err


def test_every_problem_is_reported_at_once(tiny_copy, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    text = TRAINS.replace("{name: a, use: bm25}", "{name: a, use: bm2}").replace(
        "model: minilm-l6}", "model: minilm-l6, epoch: 3}")
    err = refused(tmp_path, capsys, write_suite(tmp_path, text), "--device", "cuda")
    assert "4 problem(s); nothing was run or written" in err
    assert "--device cuda" in err and "s.yaml:6: retriever row 'a': unknown retriever 'bm2'" in err
    assert "s.yaml:7: retriever row ad (use: bge-adapter): params.epoch: unknown param" in err
    assert "no train_split" in err


def test_plan_problems_is_asked_of_every_row(tiny_copy, tmp_path, capsys, monkeypatch):
    from retrievers.bm25 import BM25Retriever

    seen = []
    def plan_problems(self, options):
        seen.append(self.name)
        return [f"no {self.name} on {options.device}"]

    monkeypatch.setattr(BM25Retriever, "plan_problems", plan_problems)
    text = SUITE + "  - {name: b, use: bm25}\n"
    err = refused(tmp_path, capsys, write_suite(tmp_path, text), "--device", "cpu")
    assert seen == ["a", "b"]
    assert "s.yaml:6: retriever row a: no a on cpu" in err and "s.yaml:7: retriever row b: no b on cpu" in err


def test_a_bad_second_suite_stops_the_first(tiny_copy, tmp_path, capsys):
    good = write_suite(tmp_path, SUITE)
    bad = write_suite(tmp_path, SUITE.replace("name: s", "name: t").replace("mrr@5", "mrr@x"), name="t")
    assert "t.yaml" in refused(tmp_path, capsys, good, "--suite", str(bad))


def test_unknown_filters_suggest(tiny_copy, tmp_path, capsys):
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE), "--retriever", "aa", "--dataset", "tiyn")
    assert "--retriever aa: not in this suite (s has a)" in err and "--dataset tiyn" in err
    assert "did you mean tiny?" in err


def test_a_planned_suite_runs(tiny_copy, tmp_path):
    from benchmarks.plan import plan
    from benchmarks.runner import SuiteRunner

    checked = plan([write_suite(tmp_path, SUITE)], RunOptions(results_dir=tmp_path / "r", progress=False))
    (planned,) = checked.suites
    assert list(planned.retrievers) == ["a"] and [d.entry.key for d in planned.datasets] == ["tiny"]
    assert SuiteRunner(planned, checked.options).run()
    assert (tmp_path / "r" / "s" / "tiny" / "a.json").is_file()


def test_validate_runs_plan_on_every_suite(tiny_copy, tmp_path, capsys, monkeypatch):
    # Old validate checked card splits only: a row name that escapes, or a trainer without a
    # train split, passed it and failed (or wrote outside results/) in 'run'.
    folder = tmp_path / "suites"
    write_suite(tmp_path, TRAINS.replace("{name: a,", "{name: ../a,"))
    monkeypatch.setenv("HARNESS_SUITES_DIR", str(folder))
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "s.yaml:6" in err and "cannot name a results file" in err


def test_validate_reports_a_trainer_without_train_split(tiny_copy, tmp_path, capsys, monkeypatch):
    write_suite(tmp_path, TRAINS)
    monkeypatch.setenv("HARNESS_SUITES_DIR", str(tmp_path / "suites"))
    assert main(["validate"]) == 2
    assert "no train_split" in capsys.readouterr().err
