"""`harness.py evaluate` on trec_eval's own quicktest: its inputs unchanged, its expected outputs.

The files are trec_eval's test data (usnistgov/trec_eval, test/), stored outside the
repository in ``../shared/peer_data/trec_eval`` (see its README for the commit and licence);
``HARNESS_PEER_DATA`` points elsewhere. Missing data skips locally and fails under CI=true,
so the check cannot quietly stop running.

Each case is one line of trec_eval's Makefile ``quicktest`` target. Its options map to ours:
``-l2`` is ``--relevance-level 2``, ``-M100`` is ``-M 100``, and ``-c`` is what we always do (a
qrels query absent from the run scores 0 and counts). Measure names map as
``P_k``->precision@k, ``recall_k``->recall@k, ``ndcg_cut_k``->ndcg@k, ``map_cut_k``->map@k,
``success_k``->hit_rate@k, ``num_q``->n_queries; uncut ``map``, ``ndcg``, ``recip_rank`` are
map@D, ndcg@D, mrr@D with D at least the run's depth and every query's number of positive
judgements, where the cut and uncut measures are the same sums. Every other measure (bpref,
Rprec, iprec_at_recall, gm_map, ...) is not ours and is counted as skipped. Values are printed by
trec_eval with 4 decimals, so the tolerance is half a unit of the 4th decimal.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import main
from conftest import ROOT

TOLERANCE = 5e-05 + 1e-9
# (expected output, qrels, run, our options); trec_eval's options are in the module docstring
CASES = [
    ("out.test", "qrels.test.with-comments", "results.test", []),                   # (default)
    ("out.test.aq", "qrels.test", "results.test", []),                              # -m all_trec -q
    ("out.test.meas_params", "qrels.test", "results.test", []),                     # -q -m P.5,7,3 ...
    ("out.test.aqc", "qrels.test", "results.trunc", []),                            # -m all_trec -q -c
    ("out.test.aqcM", "qrels.test", "results.trunc", ["-M", "100"]),                # ... -c -M100
    ("out.test.aql", "qrels.rel_level", "results.test", ["--relevance-level", "2"]),  # ... -l2
]
CUT = {"P": "precision", "recall": "recall", "ndcg_cut": "ndcg", "map_cut": "map", "success": "hit_rate"}
UNCUT = {"map": "map", "ndcg": "ndcg", "recip_rank": "mrr"}
_CUT_NAME = re.compile(r"^(P|recall|ndcg_cut|map_cut|success)_([0-9]+)$")


def peer_folder() -> Path:
    folder = Path(os.environ.get("HARNESS_PEER_DATA", ROOT.parent / "shared" / "peer_data")) / "trec_eval"
    if not (folder / "out.test").is_file():
        message = f"trec_eval's quicktest files are not in {folder} (set HARNESS_PEER_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


def depth(folder: Path, qrels: str, run: str) -> int:
    """D: no query has more retrieved documents or more positive judgements than this."""
    counts: dict[tuple[str, str], int] = {}
    for name, positive_only in ((run, False), (qrels, True)):
        for line in (folder / name).read_text().splitlines():
            fields = line.split()
            if fields and not line.startswith("#") and (not positive_only or int(fields[3]) > 0):
                counts[name, fields[0]] = counts.get((name, fields[0]), 0) + 1
    return max(counts.values())


def expected(folder: Path, out: str, d: int) -> tuple[list[tuple[str, str, float]], int]:
    """(our metric, query or 'all', value) for every line of an expected output we can check,
    and how many lines were skipped as not ours."""
    rows, skipped = [], 0
    for line in (folder / out).read_text().splitlines():
        measure, qid, value = (part.strip() for part in line.split("\t"))
        cut = _CUT_NAME.match(measure)
        if cut:
            ours = f"{CUT[cut[1]]}@{cut[2]}"
        elif measure in UNCUT:
            ours = f"{UNCUT[measure]}@{d}"
        elif measure == "num_q":
            ours = "n_queries"
        else:
            skipped += 1
            continue
        rows.append((ours, qid, float(value)))
    return rows, skipped


def ours(capsys, folder: Path, qrels: str, run: str, metrics: list[str], options: list[str]) -> dict:
    assert main(["evaluate", "--qrels", str(folder / qrels), "--run", str(folder / run),
                 "--metrics", ",".join(metrics), "--format", "json", "--per-query", *options]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("out, qrels, run, options", CASES, ids=[c[0] for c in CASES])
def test_quicktest_output_matches(capsys, out, qrels, run, options):
    folder = peer_folder()
    d = depth(folder, qrels, run)
    rows, skipped = expected(folder, out, d)
    metrics = sorted({m for m, _, _ in rows if m != "n_queries"})
    got = ours(capsys, folder, qrels, run, metrics, options)
    wrong = []
    for metric, qid, value in rows:
        if metric == "n_queries":
            # per-query num_q lines do not exist; 'all' is the number of evaluated queries
            value_ours = got["n_queries"]
        elif qid == "all":
            value_ours = got["metrics"][metric]
        else:
            value_ours = got["per_query"][metric][qid]
        if abs(value_ours - value) > TOLERANCE:
            wrong.append(f"{metric} {qid}: trec_eval {value}, ours {value_ours}")
    assert not wrong, f"{out}: {len(wrong)} of {len(rows)} values differ:\n" + "\n".join(wrong[:20])
    assert len(rows) >= 10   # the name mapping matched trec_eval's lines
    print(f"{out}: {len(rows)} values compared, {skipped} lines of other measures skipped")


def test_the_quicktest_command_line_itself(tmp_path):
    """What a user types, on the two files trec_eval's quicktest feeds in unchanged and our
    readers used to refuse: qrels with '#' comment lines and a run with text after the tag."""
    folder = peer_folder()
    command = [sys.executable, str(ROOT / "harness.py"), "evaluate",
               "--qrels", str(folder / "qrels.test.with-comments"), "--run", str(folder / "results.trunc"),
               "--metrics", "P@5,ndcg@10,map@500", "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    # out.test.aqc: qrels.test (the same judgements, less the comments and one grade-0 docno)
    rows, _ = expected(folder, "out.test.aqc", 500)
    want = {m: v for m, q, v in rows if q == "all"}
    for metric in ("precision@5", "ndcg@10", "map@500"):
        assert got["metrics"][metric] == pytest.approx(want[metric], abs=TOLERANCE), metric
    assert got["n_queries"] == want["n_queries"] == 3
