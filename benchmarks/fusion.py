"""Rank fusion of runs: reciprocal rank fusion, CombSUM and CombMNZ, with score normalisation.

Definitions (the ones ranx uses, checked against ``ranx.fuse`` in tests/benchmarks/test_fusion.py):

* ``rrf``: a document gets sum_i w_i / (k + rank_i), rank_i its 1-based rank in run i (absent: 0).
  Ranks follow the harness's tie rule (score descending, then doc id descending), so fusing is
  deterministic where ranx's order of tied documents is not. Normalisation cannot change ranks,
  so it is not applied.
* ``combsum``: sum_i w_i * norm(score_i) over the runs that retrieved the document.
* ``combmnz``: the CombSUM value times the number of runs that retrieved the document.
* norms, per query: ``min-max`` (s - min) / max(max - min, 1e-9); ``z`` (s - mean) / max(std, 1e-9)
  (population std); ``none``.

A query that appears in only some runs is fused from those. The fused run keeps the ``depth``
best documents per query (None: all of them).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from benchmarks.types import Run

METHODS = ("rrf", "combsum", "combmnz")
NORMS = ("min-max", "z", "none")
_FLOOR = 1e-9  # ranx's guard against a zero denominator (one document, or all scores equal)


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Doc ids in the harness's ranking order: score descending, then doc id descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def normalize(scores: Mapping[str, float], norm: str) -> dict[str, float]:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if norm == "none" or not scores:
        return dict(scores)
    values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
    if norm == "min-max":
        low, den = float(values.min()), max(float(values.max() - values.min()), _FLOOR)
    else:
        low, den = float(values.mean()), max(float(values.std()), _FLOOR)
    return {doc: (score - low) / den for doc, score in scores.items()}


def _contributions(scores: Mapping[str, float], method: str, k: float, norm: str) -> dict[str, float]:
    if method == "rrf":
        return {doc: 1.0 / (k + rank) for rank, doc in enumerate(ranked(scores), 1)}
    return normalize(scores, norm)


def fuse(runs: Sequence[Run], method: str = "rrf", *, k: float = 60, norm: str = "min-max",
         weights: Sequence[float] | None = None, depth: int | None = None) -> Run:
    """One run from several (see the module docstring for the formulas)."""
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; choose one of {', '.join(METHODS)}")
    if len(runs) < 2:
        raise ValueError("fusion needs at least two runs")
    weights = [1.0] * len(runs) if weights is None else [float(w) for w in weights]
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights for {len(runs)} runs")
    qids = list(dict.fromkeys(q for run in runs for q in run))
    fused: Run = {}
    for qid in qids:
        total: dict[str, float] = {}
        hits: dict[str, int] = {}
        for run, weight in zip(runs, weights):
            for doc, value in _contributions(run.get(qid, {}), method, k, norm).items():
                total[doc] = total.get(doc, 0.0) + weight * value
                hits[doc] = hits.get(doc, 0) + 1
        if method == "combmnz":
            total = {doc: value * hits[doc] for doc, value in total.items()}
        keep = ranked(total) if depth is None else ranked(total)[:depth]
        fused[qid] = {doc: total[doc] for doc in keep}
    return fused
