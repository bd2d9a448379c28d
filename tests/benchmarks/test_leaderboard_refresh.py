"""After a run the leaderboard is rebuilt unless nothing it is made from changed (benchmarks/leaderboard_refresh.py).
The builder is replaced by a stand-in that writes the file and counts its calls."""
from pathlib import Path

import pytest

import benchmarks.report
from benchmarks.leaderboard_refresh import refresh_leaderboard


@pytest.fixture
def builds(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[Path] = []
    hooks: list = []

    def fake(results_dir, leaderboard, **kwargs):
        calls.append(Path(results_dir))
        for hook in hooks:
            hook()
        Path(leaderboard).write_text(f"built {len(calls)}\n")

    monkeypatch.setattr(benchmarks.report, "write_leaderboard", fake)
    (tmp_path / "res" / "s").mkdir(parents=True)
    (tmp_path / "res" / "s" / "row.json").write_text('{"metrics": 1}')
    return calls, hooks


def test_rebuilt_only_when_what_it_reads_or_writes_changed(tmp_path, builds, monkeypatch):
    calls, hooks = builds
    res, board = tmp_path / "res", tmp_path / "board.md"
    assert refresh_leaderboard(res, board) and not refresh_leaderboard(res, board) and len(calls) == 1
    (res / "s" / "row.json").write_text('{"metrics": 2}')  # a record changed
    assert refresh_leaderboard(res, board) and not refresh_leaderboard(res, board)
    (res / "s" / "row.0123456789abcdef.run.gz").write_bytes(b"x")  # a new sidecar (by name)
    assert refresh_leaderboard(res, board)
    board.write_text("edited by hand\n")
    assert refresh_leaderboard(res, board) and board.read_text() != "edited by hand\n"
    board.unlink()
    assert refresh_leaderboard(res, board)
    monkeypatch.chdir(tmp_path)
    assert refresh_leaderboard(Path("res"), board)  # the results dir spelled otherwise: its text differs
    assert not refresh_leaderboard(Path("res"), board)


def test_an_unreadable_record_or_a_change_during_the_build_means_rebuild(tmp_path, builds, monkeypatch):
    calls, hooks = builds
    res, board = tmp_path / "res", tmp_path / "board.md"
    record = res / "s" / "row.json"
    hooks.append(lambda: record.write_text('{"metrics": 3}'))  # another job writes while it builds
    assert refresh_leaderboard(res, board)
    hooks.clear()
    assert refresh_leaderboard(res, board) and not refresh_leaderboard(res, board)
    real = Path.read_bytes

    def unreadable(self):
        if self == record:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    assert refresh_leaderboard(res, board) and refresh_leaderboard(res, board)
