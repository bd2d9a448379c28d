"""Run the CLI on a suite that must be refused, and prove that exit 2 wrote nothing.

The results dir starts with one record and the leaderboard with known text; after a refused
run every file under the test's tmp folder (results, leaderboard, data, anything a hostile
row name could reach there) must be byte-for-byte what it was.
"""
from pathlib import Path

from benchmarks.cli import main


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_suite(tmp_path: Path, text: str | bytes, name: str = "s") -> Path:
    folder = tmp_path / "suites"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def refused(tmp_path: Path, capsys, suite: Path | str, *extra: str) -> str:
    """stderr of a run that must exit 2 and change nothing under tmp_path."""
    results, board = tmp_path / "results", tmp_path / "leaderboard.md"
    keep = results / "old" / "tiny" / "keep.json"
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_text('{"kept": true}\n')
    board.write_text("# the leaderboard before\n")
    before = tree(tmp_path)
    rc = main(["--suite", str(suite), "--results-dir", str(results), "--leaderboard", str(board),
               "--quiet", *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert tree(tmp_path) == before, "a refused run wrote or changed files"
    return err
