"""What `leaderboard` reads: no records is not an empty leaderboard; a broken record is a clear error."""
import json
from pathlib import Path

import pytest

from benchmarks.cli import main
from md_tables import table_rows


def leaderboard(results: Path, board: Path, *extra: str) -> int:
    return main(["leaderboard", "--results-dir", str(results), "--leaderboard", str(board), *extra])


def test_no_records_refuses_to_overwrite_the_leaderboard(tmp_path, capsys):
    board = tmp_path / "leaderboard.md"
    board.write_text("# Leaderboard\n\nyesterday's numbers\n")
    assert leaderboard(tmp_path / "reslts", board) == 2
    err = capsys.readouterr().err
    assert f"results dir {tmp_path / 'reslts'} does not exist; refusing to overwrite {board}" in err
    assert "--allow-empty" in err
    (tmp_path / "empty").mkdir()
    assert leaderboard(tmp_path / "empty", board) == 2
    assert "holds no result records" in capsys.readouterr().err
    assert board.read_text() == "# Leaderboard\n\nyesterday's numbers\n"
    assert leaderboard(tmp_path / "empty", board, "--allow-empty") == 0
    assert f"No records under `{tmp_path / 'empty'}/`." in board.read_text()


def test_no_records_and_no_leaderboard_yet_writes_one(tmp_path):
    assert leaderboard(tmp_path / "empty", tmp_path / "lb.md") == 0
    assert (tmp_path / "lb.md").read_text().startswith("# Leaderboard")


GOOD = {"schema_version": "result/v1", "suite": "s", "row": "r", "dataset": {"id": "d", "split": "test"},
        "status": "ok", "settings": {"metrics": ["m"], "top_k": 1}, "metrics": {"m": 0.5}, "env": {}}


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b'{"suite": ', "not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b"[]", "holds a JSON list, not a result record"),
    (json.dumps({**GOOD, "status": "done"}).encode(), "status 'done'"),
    (json.dumps({**GOOD, "metrics": {"m": "high"}}).encode(), "'metrics' must map metric names to finite numbers"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "dataset"}).encode(), "no 'dataset.id'"),
    (json.dumps({**GOOD, "row": "other"}).encode(), "holds row 'other' but is named r.json"),
    (json.dumps({**GOOD, "per_query": {"path": "../../x", "sha256": "0"}}).encode(),
     "'per_query' path '../../x' is not a file name beside the record"),
    (json.dumps({**GOOD, "ci": {"m": [0.1]}}).encode(), "'ci' must map metric names to [low, high]"),
])
def test_malformed_records_are_clear_errors(tmp_path, capsys, content, problem):
    path = tmp_path / "results" / "s" / "d" / "r.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert leaderboard(tmp_path / "results", tmp_path / "lb.md") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and problem in err, err
    assert ("Delete it (and its sidecars) or re-run the row: python harness.py --suite s --dataset d "
            f"--retriever r --results-dir {tmp_path / 'results'}") in err
    assert len(err) < 1000 and not (tmp_path / "lb.md").exists()


def test_a_well_formed_record_renders(tmp_path):
    path = tmp_path / "results" / "s" / "d" / "r.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(GOOD))
    assert leaderboard(tmp_path / "results", tmp_path / "lb.md") == 0
    assert ["r (stale)", "0.5000"] in table_rows((tmp_path / "lb.md").read_text())  # no fingerprint: stale
