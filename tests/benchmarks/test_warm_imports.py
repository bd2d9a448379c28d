"""A fully cached run needs no model: it must not import torch, transformers or sentence-transformers
(importing torch alone costs over a second). The first run encodes; the second, in a fresh process
over the same cache, is checked for what it imported."""
import json
import subprocess
import sys

from conftest import ROOT, tiny_process_env, tiny_suite

SUITE = tiny_suite("warm", ["{name: minilm, use: bge, params: {model: minilm-l6}}", "{name: bm25, use: bm25}"])
PROBE = """import json, sys
from benchmarks.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "loaded": [m for m in ("torch", "transformers", "sentence_transformers", "pandas",
                                                  "matplotlib") if m in sys.modules]}))
"""


def harness_probe(tmp_path, *args: str, suite: str = SUITE) -> dict:
    """Run the harness in a fresh process on the tiny suite `warm`; what it returned and imported."""
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "suites" / "warm.yaml").write_text(suite)
    env = tiny_process_env(tmp_path, suites=tmp_path / "suites")
    proc = subprocess.run([sys.executable, "-c", PROBE, "--suite", "warm", "--device", "auto", "-qq", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_fully_cached_run_imports_no_torch(tmp_path):
    def run(out: str) -> dict:
        return harness_probe(tmp_path, "--results-dir", str(tmp_path / out), "--no-leaderboard")

    cold = run("cold")
    assert cold["rc"] == 0 and "torch" in cold["loaded"]  # the probe sees imports: the cold run encodes
    warm = run("warm")
    assert warm == {"rc": 0, "loaded": []}
    record = json.loads((tmp_path / "warm" / "warm" / "tiny" / "minilm.json").read_text())
    assert record["status"] == "ok" and record["stats"]["encoded_texts"] == 0


def test_a_run_that_changes_nothing_writes_nothing_and_keeps_the_leaderboard(tmp_path):
    """Records that would say the same (apart from when and how long) stay as they are, and the
    leaderboard is not rebuilt (no pandas, no matplotlib) while its inputs and file are unchanged;
    a changed suite file, or a leaderboard edited by hand, makes the next run rebuild it."""
    res, board = tmp_path / "res", tmp_path / "board.md"
    args = ("--results-dir", str(res), "--leaderboard", str(board))

    def snapshot() -> dict:
        return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [board, *res.rglob("*")] if p.is_file()}

    harness_probe(tmp_path, *args)  # cold: encodes
    assert "pandas" in harness_probe(tmp_path, *args)["loaded"]  # warm: the records' stats changed
    before = snapshot()
    again = harness_probe(tmp_path, *args)
    assert again == {"rc": 0, "loaded": []} and snapshot() == before
    board.write_text(board.read_text() + "edited\n")
    assert "pandas" in harness_probe(tmp_path, *args)["loaded"] and "edited" not in board.read_text()
    assert harness_probe(tmp_path, *args)["loaded"] == []
    assert "pandas" in harness_probe(tmp_path, *args, suite=SUITE + "# the suite file changed\n")["loaded"]
