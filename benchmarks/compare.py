"""``harness.py compare SUITE DATASET ROW_A ROW_B``: which queries two rows disagree on, from records.

Reads the two rows' records, per-query sidecars and TREC runs (no retriever runs), and the dataset
for the query and passage texts when it is on this machine (else ids only). Only rows evaluated
alike (equal evaluation fingerprints, benchmarks/fingerprint.py) are compared; anything else is
refused with the reason. Prints wins / ties / losses of ROW_A against ROW_B on one metric and the
queries where the two differ most: each row's value, the rank of its first relevant passage, the
query and each row's top passages.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.errors import HarnessError
from benchmarks.messages import did_you_mean, quote

TIE_TOLERANCE = 1e-12  # one ranking scores the same bits in both rows; this only absorbs float noise
TEXT_LIMIT = 80  # characters of a passage shown


class CompareError(HarnessError):
    """The rows cannot be compared (unknown name, no numbers, evaluated differently)."""


@dataclass
class QueryDiff:
    qid: str
    a: float
    b: float
    rank_a: str  # rank of the first relevant passage, or why there is none
    rank_b: str
    text: str | None  # the query, when the data is here
    top_a: list[str] = field(default_factory=list)  # "✓ d3: cherry date" (✓: relevant)
    top_b: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    suite: str
    dataset: str
    split: str
    row_a: str
    row_b: str
    metric: str
    wins: int
    ties: int
    losses: int
    mean_a: float
    mean_b: float
    mde: str  # from the observed paired differences (benchmarks/power.py)
    queries: list[QueryDiff]
    data_note: str | None  # why texts are missing, when they are


def _names(folder: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in folder.glob(pattern) if p.is_dir()) if folder.is_dir() else []


def _row_names(folder: Path) -> list[str]:
    return sorted(p.name[: -len(".json")] for p in folder.glob("*.json")
                  if not p.name.endswith((".per_query.json", ".failed.json")))


def _unknown(what: str, name: str, known: list[str], where: Path) -> CompareError:
    return CompareError(f"no {what} {quote(name)} in {where}; {did_you_mean(name, known)}")


def load_pair(results_dir: Path, suite: str, dataset: str, row_a: str, row_b: str) -> tuple[Any, Any]:
    """The two rows' records with per-query values and runs, checked to be comparable."""
    from benchmarks.fingerprint import differences
    from benchmarks.record_checks import refresh_command
    from benchmarks.records import read_record, record_path
    from benchmarks.staleness import NO_FINGERPRINT

    if suite not in _names(results_dir, "*"):
        raise _unknown("suite with records", suite, _names(results_dir, "*"), results_dir)
    if dataset not in _names(results_dir / suite, "*"):
        raise _unknown("dataset with records", dataset, _names(results_dir / suite, "*"), results_dir / suite)
    if row_a == row_b:
        raise CompareError(f"ROW_A and ROW_B are both {quote(row_a)}: name two different rows")
    folder = results_dir / suite / dataset
    records = []
    for row in (row_a, row_b):
        if row not in _row_names(folder):  # a name, never a path: "../x" must not reach another folder
            raise _unknown("row", row, _row_names(folder), folder)
        path = record_path(results_dir, suite, dataset, row)
        rec = read_record(path, sidecars=("per_query", "run"))
        again = refresh_command(suite, dataset, row, results_dir)
        if rec.status != "ok":
            reason = str(rec.data.get("reason", "")).strip().splitlines()
            raise CompareError(f"row {row} has no numbers to compare: its record {path} is "
                               f"{rec.status}{': ' + reason[0] if reason else ''}. Re-run it: {again}")
        if not rec.data.get("fingerprint"):
            raise CompareError(f"row {row}: {NO_FINGERPRINT}, so what it was evaluated on is unknown. "
                               f"Re-run it: {again}")
        if not rec.data.get("run"):
            raise CompareError(f"row {row}: its record {path} names no TREC run. Re-run it: {again}")
        records.append(rec)
    fa, fb = (r.data["fingerprint"] for r in records)
    if fa["sha256"] != fb["sha256"]:
        both = refresh_command(suite, dataset, row_a, results_dir) + f" --retriever {row_b}"
        raise CompareError(f"rows {row_a} and {row_b} were not evaluated alike, so their per-query values "
                           f"cannot be paired: {row_a} {'; '.join(differences(fa, fb, ref_name=row_b))}. "
                           f"Re-run both with the suite as it is now: {both}")
    return records[0], records[1]


def pick_metric(rec_a: Any, rec_b: Any, metric: str | None) -> str:
    """``metric`` (canonical spelling), else the suite's main_metric, else its first metric."""
    from benchmarks.metrics import parse_metric
    from benchmarks.staleness import load_suite_if_known

    have = [m for m in rec_a.per_query() if m in rec_b.per_query()]
    if metric is None:
        suite = load_suite_if_known(rec_a.suite)
        main = getattr(suite, "main_metric", None)
        listed = [m for m in rec_a.data.get("settings", {}).get("metrics", []) if m in have]
        metric = main if main in have else (listed or have or [None])[0]
        if metric is None:
            raise CompareError(f"rows {rec_a.row} and {rec_b.row} share no per-query metric")
        return metric
    name = str(parse_metric(metric))
    if name not in have:
        raise CompareError(f"metric {quote(metric)} is not in both rows' per-query values; "
                           f"{did_you_mean(name, have)}")
    return name


def _load_texts(rec: Any) -> tuple[Any, str | None]:
    """The evaluated split when it is here and is what the rows saw (its corpus hash), else why not."""
    from benchmarks.cards import load_card
    from benchmarks.fingerprint import data_hashes
    from benchmarks.loaders import load_split

    dataset = rec.data["dataset"]
    try:
        split = load_split(load_card(dataset["name"]), dataset["split"])
    except HarnessError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"dataset {dataset['name']} is not available here ({first}); showing ids only"
    if data_hashes(split)["corpus"] != rec.data["fingerprint"]["data"]["corpus"]:
        return None, (f"dataset {dataset['name']} here is not the corpus these rows were evaluated on "
                      "(its hash differs); showing ids only")
    return split, None


def _first_relevant(ranking: list[str], relevant: set[str] | None, mrr: dict[str, float], qid: str) -> str:
    from benchmarks.metrics import parse_metric

    if relevant is not None:
        if not ranking:
            return "not in the run"
        rank = next((i for i, doc in enumerate(ranking, 1) if doc in relevant), None)
        return str(rank) if rank is not None else f"none in top {len(ranking)}"
    # Without the qrels, mrr@k per query still says where the first relevant passage is.
    cut = max(mrr, key=lambda m: parse_metric(m).k, default=None)
    if cut is None or qid not in mrr[cut]:
        return "?"
    value = mrr[cut][qid]
    return str(round(1 / value)) if value > 0 else f"none in top {parse_metric(cut).k}"


def _passages(ranking: list[str], relevant: set[str] | None, split: Any, n: int) -> list[str]:
    out = []
    for doc in ranking[:n]:
        mark = "✓ " if relevant is not None and doc in relevant else ""
        text = split.corpus[doc].full_text() if split is not None and doc in split.corpus else ""
        text = " ".join(text.split())
        text = text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
        out.append(f"{mark}{doc}" + (f": {text}" if text else ""))
    return out


def compare(results_dir: Path | str, suite: str, dataset: str, row_a: str, row_b: str, *,
            metric: str | None = None, top: int = 10, passages: int = 3) -> Comparison:
    import numpy as np

    from benchmarks.metrics import top_k
    from benchmarks.power import ALPHA, POWER, min_detectable_effect
    from benchmarks.trec import read_run

    rec_a, rec_b = load_pair(Path(results_dir), suite, dataset, row_a, row_b)
    metric = pick_metric(rec_a, rec_b, metric)
    va, vb = rec_a.per_query()[metric], rec_b.per_query()[metric]
    if set(va) != set(vb):
        raise CompareError(f"{rec_b.path}: {metric} is over other queries than {rec_a.path} although the "
                           "fingerprints match; a per-query sidecar is damaged. Re-run the rows")
    qids = sorted(va)
    diffs = {q: va[q] - vb[q] for q in qids}
    wins = sum(d > TIE_TOLERANCE for d in diffs.values())
    losses = sum(d < -TIE_TOLERANCE for d in diffs.values())
    split, note = _load_texts(rec_a)
    level = int(rec_a.data["fingerprint"].get("relevance_level", 1))
    runs = [read_run(r.path.with_name(r.data["run"]["path"])) for r in (rec_a, rec_b)]
    mrrs = [{m: v for m, v in r.per_query().items() if m.startswith("mrr@")} for r in (rec_a, rec_b)]
    shown = sorted((q for q in qids if abs(diffs[q]) > TIE_TOLERANCE), key=lambda q: (-abs(diffs[q]), q))
    queries = []
    for qid in shown[:top]:
        relevant = ({d for d, g in split.qrels.get(qid, {}).items() if g >= level}
                    if split is not None else None)
        rankings = [top_k(run.get(qid, {}), len(run.get(qid, {}))) for run in runs]
        queries.append(QueryDiff(
            qid, va[qid], vb[qid],
            *(_first_relevant(rk, relevant, mrr, qid) for rk, mrr in zip(rankings, mrrs)),
            split.queries.get(qid) if split is not None else None,
            *(_passages(rk, relevant, split, passages) for rk in rankings)))
    n = len(qids)
    alpha = rec_a.data.get("settings", {}).get("significance", {}).get("alpha", ALPHA)
    sd_d = float(np.std(list(diffs.values()), ddof=1)) if n >= 2 else 0.0
    if n < 2 or sd_d == 0:
        why = {0: "no query", 1: "a single query"}.get(n, "every paired difference is the same")
        mde = f"no minimum detectable effect ({why})"
    else:
        mde = (f"with {n:,} queries, {metric} differences below "
               f"{min_detectable_effect(sd_d, n, alpha=alpha):.3f} cannot be told apart from noise (paired, "
               f"α {alpha:g}, power {POWER:g}, from these two rows' per-query differences)")
    means = [sum(v.values()) / max(n, 1) for v in (va, vb)]
    return Comparison(suite, dataset, str(rec_a.data["dataset"].get("split", "?")), row_a, row_b, metric,
                      wins, n - wins - losses, losses, *means,
                      mde, queries, note)


def add_compare_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from benchmarks.cli import positive_int

    cp = sub.add_parser("compare", parents=[common], help="the queries where two rows of a suite differ most",
                        description="From the records alone (and the dataset for texts, when it is here): "
                        "wins / ties / losses of ROW_A against ROW_B on one metric, then the queries where "
                        "they differ most with the rank of the first relevant passage and the top passages. "
                        "Rows must have been evaluated alike.")
    cp.add_argument("suite", metavar="SUITE")
    cp.add_argument("dataset", metavar="DATASET", help="the dataset's results folder (its id in the suite)")
    cp.add_argument("row_a", metavar="ROW_A")
    cp.add_argument("row_b", metavar="ROW_B")
    cp.add_argument("--metric", default=None, help="default: the suite's main_metric, else its first metric")
    cp.add_argument("--top", type=positive_int, default=10, metavar="N", help="queries shown (default: 10)")
    cp.add_argument("--passages", type=positive_int, default=3, metavar="K",
                    help="top passages shown per row (default: 3)")
    cp.add_argument("--format", choices=["table", "md"], default="table",
                    help="table: for the terminal (default); md: Markdown")


def cmd_compare(args: argparse.Namespace) -> int:
    from benchmarks.compare_render import render

    result = compare(args.results_dir, args.suite, args.dataset, args.row_a, args.row_b, metric=args.metric,
                     top=args.top, passages=args.passages)
    print(render(result, args.format))
    return 0
