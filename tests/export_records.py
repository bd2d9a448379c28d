"""Records for the export tests: suite ``pair`` (conftest) run on the tiny data, then edited so the rows
differ (robertson: lower hit_rate@1, higher mrr@5, awkward floats) and with a failed row beside them.

Hand-set values (the fingerprints stay, so bm25 and robertson are still compared alike):
  bm25       hit_rate@1 1/3 (as run)          mrr@5 as run (2/3)
  robertson  hit_rate@1 0.1 + 0.2             mrr@5 0.9 - 1e-12, CI [1/3, 0.95]
  broken     status failed (a row gone from the suite, so also stale)
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.cli import main

ROBERTSON = {"hit_rate@1": 0.1 + 0.2, "mrr@5": 0.9 - 1e-12}
ROBERTSON_CI = {"mrr@5": [1 / 3, 0.95]}


def make_results(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    assert main(["--suite", "pair", "--results-dir", str(results), "--no-leaderboard", "--quiet"]) == 0
    folder = results / "pair" / "tiny"
    path = folder / "robertson.json"
    data = json.loads(path.read_text())
    data["metrics"].update(ROBERTSON)
    data["ci"].update(ROBERTSON_CI)
    path.write_text(json.dumps(data))
    broken = {k: v for k, v in data.items() if k not in ("metrics", "ci", "per_query", "run", "fingerprint")}
    broken.update(row="broken", status="failed", reason="RuntimeError: out of memory")
    (folder / "broken.json").write_text(json.dumps(broken))
    return results
