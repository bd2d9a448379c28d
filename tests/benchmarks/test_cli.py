"""CLI surfaces other than running suites: evaluate, validate, help."""
import json

import pytest

from benchmarks.cli import main
from conftest import TINY

QRELS = TINY / "data" / "tiny" / "qrels" / "test.tsv"


def test_evaluate_trec_run_as_json(tmp_path, capsys):
    run = tmp_path / "run.trec"
    # q1: d5 then d1 (relevant at rank 2); q2: d3 (grade 2) first; q3 missing -> scores 0.
    run.write_text("q1 Q0 d5 1 0.9 x\nq1 Q0 d1 2 0.5 x\nq2 Q0 d3 1 0.7 x\n")
    assert main(["evaluate", "--qrels", str(QRELS), "--run", str(run), "--metrics",
                 "hit_rate@1,mrr@10", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"] == pytest.approx({"hit_rate@1": 1 / 3, "mrr@10": (0.5 + 1 + 0) / 3})
    assert out["n_queries"] == 3 and out["missing_in_run"] == 1 and out["excluded_no_relevant"] == 1


def test_evaluate_json_run_form_matches_trec_form(tmp_path, capsys):
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"q1": {"d5": 0.9, "d1": 0.5}, "q2": {"d3": 0.7}}))
    assert main(["evaluate", "--qrels", str(QRELS), "--run", str(run), "--metrics", "mrr@10"]) == 0
    assert "mrr@10           0.5000" in capsys.readouterr().out


def test_evaluate_bad_metric_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run.json"
    run.write_text("{}")
    assert main(["evaluate", "--qrels", str(QRELS), "--run", str(run), "--metrics", "mmr@10"]) == 2
    assert "mmr@10" in capsys.readouterr().err


def test_validate_checks_every_shipped_card_and_suite(capsys):
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "--suite NAME" in capsys.readouterr().out
