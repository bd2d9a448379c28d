"""Paired test of two rows of one suite and dataset (the leaderboard tests rows only against the baseline).

    python -m benchmarks.perf.paired_rows RESULTS_DIR SUITE DATASET ROW_A ROW_B [METRIC ...]

Per metric: both means, mean of A - B over the shared queries, its 95% percentile-bootstrap CI
(1,000 resamples), the two-sided paired randomization p (10,000 sign flips; the leaderboard's
test), wins / ties / losses of A; then each row's training time. Seeds 0, as the suites'.
"""
import sys
from pathlib import Path

import numpy as np

from benchmarks.records import read_record
from benchmarks.stats import bootstrap_ci, paired_randomization_test

results, suite, dataset, row_a, row_b, *metrics = sys.argv[1:]
folder = Path(results) / suite / dataset
a, b = (read_record(folder / f"{row}.json") for row in (row_a, row_b))
pa, pb = a.per_query(), b.per_query()
for m in metrics or sorted(set(pa) & set(pb)):
    qids = sorted(set(pa[m]) & set(pb[m]))
    if len(qids) != len(pa[m]) or len(qids) != len(pb[m]):
        sys.exit(f"{m}: the rows were evaluated on different queries; not a paired comparison")
    x, y = np.array([pa[m][q] for q in qids]), np.array([pb[m][q] for q in qids])
    d = x - y
    lo, hi = bootstrap_ci(d, n_resamples=1000, seed=0)
    p = paired_randomization_test(x, y, n_resamples=10000, seed=0)
    print(f"{m}: {row_a} {x.mean():.4f}, {row_b} {y.mean():.4f}, diff {d.mean():+.4f} "
          f"[{lo:+.4f}, {hi:+.4f}], p {p:.4f}, wins/ties/losses {(d > 0).sum()}/{(d == 0).sum()}/{(d < 0).sum()}"
          f" of {len(qids)}")
for rec in (a, b):
    t = rec.data.get("training") or {}
    print(f"{rec.row}: train_s {t.get('train_s')}, steps {t.get('steps')}, reused {t.get('reused')}")
