"""Paired tests behind the leaderboard's ▲/▼ marks: each comparable row against the baseline, per metric."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks import stats
from benchmarks.errors import DataError
from benchmarks.memo import remembered_float
from benchmarks.records import LoadedRecord
from benchmarks.staleness import row_refresh
from benchmarks.stats import holm, paired_randomization_test

UP, DOWN = "▲", "▼"


@dataclass(frozen=True)
class PairedTest:
    row: str
    metric: str
    diff: float  # mean over the paired queries of row minus baseline
    p: float  # two-sided paired randomization test
    p_adjusted: float  # after the suite's correction across the rows tested on this metric


def paired_tests(records: list[LoadedRecord], baseline: str, metrics: list[str]) -> list[PairedTest]:
    """Each ok row against the baseline, per metric, on the same queries.

    Callers pass only rows whose evaluation fingerprint equals the baseline's, so the query sets
    must be identical: a difference means a damaged record and is an error, never a skipped test."""
    by_row = {r.row: r for r in records if r.status == "ok"}
    if baseline not in by_row:
        return []
    settings = by_row[baseline].data["settings"]
    sig = settings.get("significance", {})
    n_resamples = sig.get("n_resamples", 10000)
    base_pq = by_row[baseline].per_query()
    others = [r for r in by_row if r != baseline]
    out: list[PairedTest] = []
    for metric in metrics:
        tests = []
        base = base_pq.get(metric, {})
        for row in others:
            pq = by_row[row].per_query().get(metric, {})
            if set(pq) != set(base):
                only = sorted(set(pq) ^ set(base))
                raise DataError(
                    f"{by_row[row].path}: paired test of {row} against {baseline} on {metric}: the query sets "
                    f"differ ({len(pq)} vs {len(base)} queries, e.g. {', '.join(only[:3])}) although the "
                    f"evaluation fingerprints match; the per-query sidecar is damaged. Re-run the row: "
                    f"{row_refresh(by_row[row], by_row[row].path.parent.parent.parent)}")
            qids = sorted(base)
            if not qids:
                continue  # no evaluated query: nothing to test
            a, b = [pq[q] for q in qids], [base[q] for q in qids]
            p = memo_paired_p(a, b, n_resamples=n_resamples, seed=settings.get("seed", 0))
            tests.append((row, p, (sum(a) - sum(b)) / len(qids)))
        ps = [p for _, p, _ in tests]
        adjusted = holm(ps) if sig.get("correction", "holm") == "holm" else ps
        out += [PairedTest(row, metric, diff, p, p_adj) for (row, p, diff), p_adj in zip(tests, adjusted)]
    return out


def significance(tests: list[PairedTest], alpha: float) -> dict[tuple[str, str], str]:
    """(row, metric) -> mark, for rows significantly above or below the baseline."""
    return {(t.row, t.metric): UP if t.diff > 0 else DOWN for t in tests if t.p_adjusted < alpha and t.diff != 0}


def memo_paired_p(a: list[float], b: list[float], *, n_resamples: int, seed: int) -> float:
    """``paired_randomization_test(a, b)``, remembered (benchmarks/memo.py): a leaderboard rewrite
    runs every row's test against its baseline again, most of a warm run's time otherwise."""
    inputs = [np.asarray(a, dtype=np.float64).tobytes(), np.asarray(b, dtype=np.float64).tobytes(),
              f"{n_resamples}:{seed}".encode()]
    return remembered_float("paired-randomization", stats, inputs,
                            lambda: paired_randomization_test(a, b, n_resamples=n_resamples, seed=seed),
                            valid=lambda p: 0 < p <= 1)
