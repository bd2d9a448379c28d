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
print(json.dumps({"rc": rc, "loaded": [m for m in ("torch", "transformers", "sentence_transformers")
                                        if m in sys.modules]}))
"""


def test_a_fully_cached_run_imports_no_torch(tmp_path):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "warm.yaml").write_text(SUITE)
    env = tiny_process_env(tmp_path, suites=tmp_path / "suites")

    def run(out: str) -> dict:
        args = ["--suite", "warm", "--device", "auto", "--results-dir", str(tmp_path / out), "--no-leaderboard", "-qq"]
        proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    cold = run("cold")
    assert cold["rc"] == 0 and "torch" in cold["loaded"]  # the probe sees imports: the cold run encodes
    warm = run("warm")
    assert warm == {"rc": 0, "loaded": []}
    record = json.loads((tmp_path / "warm" / "warm" / "tiny" / "minilm.json").read_text())
    assert record["status"] == "ok" and record["stats"]["encoded_texts"] == 0
