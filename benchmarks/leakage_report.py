"""Leakage counts (``benchmarks.leakage``) in words: a note under each leaderboard table, a short
flag per row, and ``harness.py leakage SUITE`` that checks a suite's pairs without training.

What is flagged: evaluated queries that are (near-)duplicates of train queries, evaluated queries
whose relevant passage is also a passage judged relevant in the train split (the retriever was
trained towards it), and, unless the splits share their corpus by design (BEIR), passages that
are also in the train corpus. A shared corpus is said, not flagged: it is what BEIR splits are.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterable

WARN = "⚠"


def leakage_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """The leakage counts of a record (only rows that trained have them)."""
    training = data.get("training")
    leakage = training.get("leakage") if isinstance(training, dict) else None
    return leakage if isinstance(leakage, dict) else None


def findings(leak: dict[str, Any], evaluated: str = "evaluated") -> list[str]:
    """What leaked, one phrase each; empty when nothing did."""
    q, p, rel = leak.get("queries", {}), leak.get("passages", {}), leak.get("relevant", {})
    out = []
    if q.get("exact", 0) + q.get("near", 0):
        out.append(f"{q['exact'] + q['near']:,} of {q.get('eval', 0):,} {evaluated} queries also in train "
                   f"({q['exact']:,} exact, {q['near']:,} near-duplicate)")
    if rel.get("in_train_positives", 0):
        out.append(f"{rel['in_train_positives']:,} of {rel.get('eval_queries', 0):,} evaluated queries "
                   "have a relevant passage that is also judged relevant in train")
    if not p.get("shared_corpus") and p.get("exact", 0) + p.get("near", 0):
        out.append(f"{p['exact'] + p['near']:,} of {p.get('eval', 0):,} passages also in the train corpus "
                   f"({p['exact']:,} exact, {p['near']:,} near-duplicate)")
    return out


def leakage_flag(data: dict[str, Any]) -> str | None:
    """A short flag for a row's cell or tags, e.g. "⚠ leakage: 2 test queries also in train"."""
    leak = leakage_of(data)
    found = findings(leak, str(data.get("dataset", {}).get("split", "evaluated"))) if leak else []
    return f"{WARN} leakage: {found[0]}" if found else None


def describe(leak: dict[str, Any], train: str, evaluated: str) -> str:
    """One sentence on a (train, evaluated) pair."""
    p, m = leak.get("passages", {}), leak.get("method", {})
    found = findings(leak, f"`{evaluated}`")
    text = f"train split `{train}` vs evaluated split `{evaluated}`: "
    text += (f"{WARN} " + "; ".join(found)) if found else "no query, passage or relevant passage shared"
    if p.get("shared_corpus"):
        text += (f"; the splits share one corpus of {p.get('eval', 0):,} passages, as BEIR splits do "
                 "(expected, not a leak by itself)")
    how = (" Matched exactly after normalising the text, or as near duplicates "
           f"(word {m.get('shingle')}-gram Jaccard >= {m.get('threshold')}, MinHash-LSH candidates verified exactly).")
    return text + "." + (how if m else "")


def leakage_notes(records: Iterable[Any]) -> list[str]:
    """Lines under a leaderboard table: one per (train split, evaluated split) pair of its trained rows."""
    pairs: dict[tuple[str, str, str], tuple[dict[str, Any], list[str]]] = {}
    for rec in records:
        data = rec.data
        leak = leakage_of(data) if data.get("status") == "ok" else None
        if leak is None:
            continue
        train = str(data["training"].get("split", "?"))
        evaluated = str(data.get("dataset", {}).get("split", "?"))
        counts = json.dumps({k: v for k, v in leak.items() if k != "method"}, sort_keys=True)
        pairs.setdefault((train, evaluated, counts), (leak, []))[1].append(str(data.get("row")))
    lines = [f"Leakage check ({', '.join(f'`{r}`' for r in rows)}), {describe(leak, train, evaluated)}"
             for (train, evaluated, _), (leak, rows) in pairs.items()]
    return lines


def add_leakage_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    lk = sub.add_parser("leakage", parents=[common],
                        help="check a suite's train / evaluation splits for leakage",
                        description="For every dataset of the suite that names a train_split: queries and "
                        "passages shared with the evaluated split (exact after normalisation, or near-"
                        "duplicate by MinHash-verified Jaccard), and evaluated queries whose relevant "
                        "passage is judged relevant in train. Trains nothing; the same counts go into every "
                        "trained row's record.")
    lk.add_argument("suite", metavar="SUITE", help="suite name or path to a suite YAML")
    lk.add_argument("--dataset", action="append", default=[], metavar="NAME",
                    help="only this dataset; repeatable")
    lk.add_argument("--format", choices=["text", "json"], default="text")


def cmd_leakage(args: argparse.Namespace) -> int:
    from benchmarks.cards import load_card
    from benchmarks.errors import ConfigError, DataUnavailable
    from benchmarks.leakage import cached_check
    from benchmarks.loaders import load_split
    from benchmarks.runner import limit, relevance_level
    from benchmarks.suites import load_suite

    suite = load_suite(args.suite)
    entries = [d for d in suite.datasets if d.train_split and (not args.dataset or d.name in args.dataset
                                                               or d.key in args.dataset)]
    pairs: dict[tuple[Any, ...], Any] = {}  # one check per pair of splits: an entry repeating another's
    for d in entries:                         # data (the same rows under protocol dalm) adds nothing
        pairs.setdefault((d.name, d.split, d.train_split, d.limit_queries), d)
    entries = list(pairs.values())
    if not entries:
        among = f" of {', '.join(args.dataset)}" if args.dataset else ""
        raise ConfigError(f"suite {suite.name}: no dataset{among} "
                          "names a train_split, so there is no pair to check")
    out = []
    for d in entries:
        card = load_card(d.name)
        try:
            evaluated = limit(load_split(card, d.split), d.limit_queries)
            train = load_split(card, d.train_split)
        except DataUnavailable as exc:  # as a run records it: said, and the other datasets go on
            print(f"{d.key}: data not available: {str(exc).splitlines()[0]}", file=sys.stderr)
            continue
        leak = cached_check(train, evaluated, relevance_level(card))
        out.append({"dataset": d.key, "train_split": d.train_split, "split": d.split, "leakage": leak})
    if args.format == "json":
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for item in out:
            print(f"{item['dataset']}: {describe(item['leakage'], item['train_split'], item['split'])}")
    return 0
