"""Retrieval metrics with trec_eval semantics, named by canonical strings such as ``ndcg@10``.

Ranking. Each query's run is ordered by score descending; equal scores are ordered by doc id
*descending* (plain string comparison, which for UTF-8 equals trec_eval's ``strcmp``). That is
exactly what trec_eval and pytrec_eval do, so our numbers match theirs to float rounding. Only
the first ``k`` documents of that order count for a metric ``@k``.

Relevance. A document is relevant when its qrels grade is ``>= relevance_level`` (default 1);
unjudged documents have grade 0. With ``R`` the number of relevant documents of a query and
``rank`` counted from 1:

* ``hit_rate@k`` (aliases ``hit``, ``success``, ``accuracy``; trec_eval ``success_k``; some
  papers call it Recall@k): 1 if any relevant document is in the top k, else 0.
* ``recall@k`` (trec_eval ``recall_k``): relevant documents in the top k divided by ``R``.
* ``precision@k`` (alias ``p``; trec_eval ``P_k``): relevant documents in the top k divided by
  ``k``, even when the run returned fewer than k documents.
* ``mrr@k`` (alias ``recip_rank``): ``1 / rank`` of the first relevant document if it is in
  the top k, else 0. trec_eval's ``recip_rank`` is the same without a cutoff.
* ``ndcg@k`` (trec_eval ``ndcg_cut_k``): ``DCG@k / IDCG@k`` with
  ``DCG@k = sum(gain(d_rank) / log2(rank + 1) for rank <= k)`` and ``gain = max(grade, 0)``:
  the raw grade of *every* positively judged document, whatever ``relevance_level`` is
  (trec_eval ignores its ``-l`` level here; checked against pytrec_eval). ``IDCG@k`` is the
  DCG of the query's positive qrels grades sorted descending, cut at k.
* ``map@k`` (trec_eval ``map_cut_k``): ``sum(precision@rank for each relevant rank <= k) / R``.
  The divisor is all of ``R``, not ``min(k, R)``, so a perfect run scores below 1 when R > k.

Queries. The evaluated queries are those in the qrels with at least one relevant document; the
others are excluded and listed. A qrels query absent from the run scores 0 on every metric and
is listed (never dropped). Run queries not in the qrels are ignored and listed. Means are over
the evaluated queries.

Example:
    >>> ev = evaluate({"q": {"d1": 1}}, {"q": {"d1": 0.2, "d2": 0.9}}, ["mrr@10", "hit@1"])
    >>> ev.metrics
    {'mrr@10': 0.5, 'hit_rate@1': 0.0}
"""
from __future__ import annotations

import heapq
import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from operator import eq, itemgetter
from typing import Iterable, Sequence

from .errors import ConfigError, DataError
from .messages import did_you_mean, problem_list, quote
from .types import Qrels, Run

CANONICAL = ("hit_rate", "recall", "precision", "mrr", "ndcg", "map")
ALIASES = {
    "hit": "hit_rate", "hitrate": "hit_rate", "success": "hit_rate", "accuracy": "hit_rate",
    "p": "precision", "recip_rank": "mrr", "ndcg_cut": "ndcg", "map_cut": "map",
}
# "@" is ours; "_" and "." are how trec_eval and pytrec_eval write cutoffs (ndcg_cut_10, P.5).
_SYNTAX = re.compile(r"^(?P<name>[a-z][a-z_]*?)(?:@|_|\.)(?P<k>[0-9]+)$")
# Evaluation keeps a discount table and a heap of this depth per query: ndcg@1000000000 ran out
# of memory. No benchmark reads that deep; trec_eval's own cutoffs stop at 1000.
MAX_CUTOFF = 10_000


@dataclass(frozen=True, order=True)
class Metric:
    """A metric name from :data:`CANONICAL` and a cutoff ``k >= 1``; ``str()`` is the JSON key."""

    name: str
    k: int

    def __post_init__(self) -> None:
        if self.name not in CANONICAL:
            raise ConfigError(f"unknown metric name {self.name!r}; known: {', '.join(CANONICAL)}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"metric {self.name}: cutoff must be an integer >= 1, got {quote(self.k)}")
        if self.k > MAX_CUTOFF:
            raise ConfigError(f"metric {self.name}@{self.k}: cutoff above the limit of {MAX_CUTOFF}; "
                              f"use a cutoff from 1 to {MAX_CUTOFF}")

    def __str__(self) -> str:
        return f"{self.name}@{self.k}"


def parse_metric(text: str) -> Metric:
    """Parse ``"nDCG@10"``, ``"P@5"``, ``"ndcg_cut_10"``, ``"success.1"`` ... into a :class:`Metric`.

    Names are case-insensitive; a cutoff is required. Raises ConfigError with suggestions.

    Example:
        >>> str(parse_metric("Success@5")), str(parse_metric("ndcg_cut.10"))
        ('hit_rate@5', 'ndcg@10')
    """
    if not isinstance(text, str):
        raise ConfigError(f"a metric must be a string like 'ndcg@10', got {quote(text)}")
    cleaned = text.strip().lower()
    match = _SYNTAX.match(cleaned) if len(cleaned) <= 64 else None  # int() refuses > 4300 digits
    if match is None:
        bare, at, cutoff = cleaned.partition("@")
        if _canonical(bare) is not None:
            if at:
                raise ConfigError(f"metric {quote(text)}: the cutoff {quote(cutoff)} is not a positive "
                                  f"integer (1 to {MAX_CUTOFF})")
            raise ConfigError(f"metric {quote(text)} needs a cutoff, e.g. '{_canonical(bare)}@10'")
        raise ConfigError(f"cannot parse metric {quote(text)}{_suggest(bare)}; write it as name@k")
    name = _canonical(match["name"])
    if name is None:
        raise ConfigError(f"unknown metric {quote(text)}{_suggest(match['name'], match['k'])}")
    k = int(match["k"])
    if k < 1:
        raise ConfigError(f"metric {quote(text)}: the cutoff must be >= 1")
    return Metric(name, k)


def parse_metrics(texts: Iterable[str | Metric] | str) -> list[Metric]:
    """Parse a list of metric strings, or one comma-separated string; duplicates keep first place.

    Already-parsed :class:`Metric` objects pass through, so callers can mix both. Every bad
    name is reported in one ConfigError, not only the first.
    """
    items: Iterable[str | Metric] = texts.split(",") if isinstance(texts, str) else texts
    out: list[Metric] = []
    problems: list[str] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue  # tolerate "a,,b" and trailing commas from hand-written lists
        try:
            metric = item if isinstance(item, Metric) else parse_metric(item)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if metric not in out:
            out.append(metric)
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} bad metrics:{problem_list(problems)}")
    return out


def _canonical(name: str) -> str | None:
    return name if name in CANONICAL else ALIASES.get(name)


def _suggest(name: str, k: str = "10") -> str:
    hint = did_you_mean(name, [*CANONICAL, *ALIASES], canonical=lambda c: _canonical(c) or c,
                        show=lambda c: f"'{c}@{k}'")
    return f" ({hint})"


# ---- kernels: one query, ranks of relevant documents already known --------------------------
# rel_ranks: ascending 1-based ranks of the relevant docs among the top `depth` of the run.

def hit_rate_at(rel_ranks: list[int], k: int) -> float:
    return 1.0 if rel_ranks and rel_ranks[0] <= k else 0.0


def recall_at(rel_ranks: list[int], k: int, n_rel: int) -> float:
    return bisect_right(rel_ranks, k) / n_rel


def precision_at(rel_ranks: list[int], k: int) -> float:
    return bisect_right(rel_ranks, k) / k


def mrr_at(rel_ranks: list[int], k: int) -> float:
    return 1.0 / rel_ranks[0] if rel_ranks and rel_ranks[0] <= k else 0.0


def map_at(rel_ranks: list[int], k: int, n_rel: int) -> float:
    found = bisect_right(rel_ranks, k)
    return sum((i + 1) / rel_ranks[i] for i in range(found)) / n_rel


def ndcg_at(hits: list[tuple[int, int]], ideal_gains: list[int], k: int, discounts: list[float]) -> float:
    """``hits``: (rank, gain) of retrieved docs with gain > 0, by rank; ``ideal_gains``: all
    positive grades of the query, sorted descending; ``discounts[i] = 1 / log2(i + 2)``."""
    dcg = sum(g * discounts[r - 1] for r, g in hits if r <= k)
    if dcg == 0.0:
        return 0.0
    idcg = sum(g * discounts[i] for i, g in enumerate(ideal_gains[:k]))
    return dcg / idcg


# ---- public evaluation -------------------------------------------------------------------------

@dataclass
class Evaluation:
    """Means and per-query values of one run against one qrels, keyed by canonical metric strings."""

    metrics: dict[str, float]  # canonical name -> mean over the evaluated queries
    per_query: dict[str, dict[str, float]]  # canonical name -> {qid: value}; same qids for all
    n_queries: int  # evaluated queries: qrels queries with >= 1 relevant doc
    excluded_no_relevant: list[str]  # qrels queries with no relevant doc (not evaluated)
    missing_in_run: list[str]  # evaluated queries absent from the run (scored 0)
    # Run queries without qrels: ignored, but listed so a qid mismatch (e.g. int vs str ids)
    # shows up in the record instead of vanishing.
    not_in_qrels: list[str] = field(default_factory=list)


def top_k(scores: dict[str, float], k: int) -> list[str]:
    """Doc ids of the best ``k`` in trec_eval order: score descending, then doc id descending."""
    # Sorting by score alone is ~3x cheaper than by (score, doc id) tuples, and it is enough
    # when the first k + 1 scores are strictly decreasing (no tie inside or at the cutoff).
    by_score = scores.__getitem__
    if len(scores) > 4 * k:  # a partial selection pays off only when we cut a lot
        order = heapq.nlargest(k + 1, scores, key=by_score)
    else:
        order = sorted(scores, key=by_score, reverse=True)
    head = list(map(by_score, order[: k + 1]))
    if not any(map(eq, head, head[1:])):
        return order[:k]
    key = itemgetter(1, 0)  # reverse order of (score, doc id) is score desc, then doc id desc
    return [doc for doc, _ in heapq.nlargest(k, scores.items(), key=key)]


def evaluate(
    qrels: Qrels, run: Run, metrics: Sequence[str | Metric] | str, *, relevance_level: int = 1
) -> Evaluation:
    """Score ``run`` against ``qrels`` with trec_eval semantics (see the module docstring).

    Args:
        qrels: qid -> {doc id: grade}.
        run: qid -> {doc id: score}. Not modified.
        metrics: metric strings or :class:`Metric` objects, e.g. ``["ndcg@10", "mrr@10"]``.
        relevance_level: the lowest grade that counts as relevant (>= 1).

    Raises:
        ConfigError: unknown metric, no metrics, or relevance_level < 1.
        DataError: no qrels query has a relevant document, or a run score is NaN.
    """
    wanted = parse_metrics(metrics)
    if not wanted:
        raise ConfigError("no metrics requested")
    if isinstance(relevance_level, bool) or not isinstance(relevance_level, int) or relevance_level < 1:
        raise ConfigError(f"relevance_level must be an integer >= 1, got {relevance_level!r}")
    level = relevance_level
    depth = max(m.k for m in wanted)
    discounts = [1.0 / math.log2(rank + 1) for rank in range(1, depth + 1)]
    plan: list[tuple[str, int, dict[str, float]]] = [(m.name, m.k, {}) for m in wanted]
    need_gains = any(m.name == "ndcg" for m in wanted)
    excluded: list[str] = []
    missing: list[str] = []
    n_eval = 0
    for qid, judged in qrels.items():
        n_rel = sum(1 for g in judged.values() if g >= level)
        if n_rel == 0:
            excluded.append(qid)
            continue
        n_eval += 1
        scores = run.get(qid)
        if scores is None:
            missing.append(qid)
            scores = {}
        elif math.isnan(sum(scores.values())):  # one C-level pass; NaN would corrupt the sort
            _raise_nan(qid, scores)
        ranked = top_k(scores, depth)
        # Walk the (usually few) judged docs rather than every ranked doc.
        rank_of = dict(zip(ranked, range(1, len(ranked) + 1)))
        hits = sorted((rank_of[doc], g) for doc, g in judged.items() if g > 0 and doc in rank_of)
        rel_ranks = [r for r, g in hits if g >= level]
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True) if need_gains else []
        for name, k, values in plan:
            if name == "hit_rate":
                values[qid] = hit_rate_at(rel_ranks, k)
            elif name == "recall":
                values[qid] = recall_at(rel_ranks, k, n_rel)
            elif name == "precision":
                values[qid] = precision_at(rel_ranks, k)
            elif name == "mrr":
                values[qid] = mrr_at(rel_ranks, k)
            elif name == "map":
                values[qid] = map_at(rel_ranks, k, n_rel)
            else:
                values[qid] = ndcg_at(hits, ideal, k, discounts)
    if n_eval == 0:
        raise DataError(
            f"no qrels query has a document with grade >= {level} "
            f"({len(qrels)} queries in qrels); nothing to evaluate"
        )
    per_query = {f"{name}@{k}": values for name, k, values in plan}
    means = {key: math.fsum(values.values()) / n_eval for key, values in per_query.items()}
    ignored = [qid for qid in run if qid not in qrels]
    return Evaluation(means, per_query, n_eval, excluded, missing, ignored)


def _raise_nan(qid: str, scores: dict[str, float]) -> None:
    bad = [doc for doc, s in scores.items() if s != s]
    if bad:
        raise DataError(f"run query {qid!r}: score of doc {bad[0]!r} is NaN ({len(bad)} NaN scores)")
    # inf + -inf also sums to NaN; those scores sort fine, so there is nothing to report.
