"""Runs a suite: load datasets, build retrievers, train what needs training, retrieve,
evaluate, write one record per (dataset, retriever).

Everything that can be checked before work starts is checked first, by
``benchmarks.plan.plan()`` (suite YAML, retriever names and params, dataset cards and file
hashes, device, limits), so a bad input stops the run with a clear error and writes nothing.
Once running, a retriever that fails is recorded as failed and the others go on; the return
value says whether anything failed.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks import protocol
from benchmarks.context import RunContext, SearchSettings
from benchmarks.errors import ConfigError, DataUnavailable
from benchmarks.metrics import evaluate
from benchmarks.fingerprint import evaluation_fingerprint
from benchmarks.holdout import fingerprint_spec
from benchmarks.leakage import cached_check
from benchmarks.fusion_rows import finished_run
from benchmarks.provenance import device_description, environment, peak_rss_gib, source_sha256
from benchmarks.record_checks import refresh_command
from benchmarks.records import integer_counts, record_path, write_attempt, write_record
from benchmarks.stats import bootstrap_ci
from benchmarks.suites import DatasetEntry, RetrieverEntry, Suite
from benchmarks.types import Run, Split

if TYPE_CHECKING:  # plan imports this module
    from benchmarks.plan import PlannedSuite

log = logging.getLogger("harness")
row_log = logging.getLogger("harness.rows")  # one line per row; --quiet keeps it, -qq silences it
TIE_BREAK = "score descending, then doc id descending (trec_eval)"


@dataclass
class RunOptions:
    results_dir: Path = Path("results")
    retrievers: list[str] = field(default_factory=list)  # filters; empty = all
    datasets: list[str] = field(default_factory=list)
    device: str = "auto"
    progress: bool = True
    retrain: bool = False
    limit_queries: int | None = None
    argv: list[str] | None = None  # the command line, recorded so each row says what produced it
    allow_endpoints: list[str] = field(default_factory=list)  # hosts a suite's base_url may name
    workers: int = 1  # encoding processes (benchmarks/encoding/workers.py); ray: Ray actors instead
    ray: bool = False


@dataclass
class LoadedDataset:
    entry: DatasetEntry
    card: Any = None
    split: Split | None = None
    unavailable: str | None = None


def build_retriever(entry: RetrieverEntry) -> Any:
    from benchmarks.registry import UnknownName
    from retrievers import RETRIEVERS

    try:
        cls = RETRIEVERS.get(entry.use)
    except UnknownName as exc:
        raise ConfigError(f"retriever row {entry.name!r}: {exc}") from None
    return cls(entry.name, entry.params)


def limit(split: Split, n: int | None) -> Split:
    """The first n queries in file order (DALM's --limit), with their qrels."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"limit_queries must be an integer >= 1, got {n!r}")  # -3 dropped 3 queries
    if n is None or n >= len(split.queries):
        return split
    qids = list(split.queries)[:n]
    keep = set(qids)
    return Split(
        corpus=split.corpus, queries={q: split.queries[q] for q in qids},
        qrels={q: r for q, r in split.qrels.items() if q in keep},
        answers={q: a for q, a in split.answers.items() if q in keep} if split.answers else None,
        files=split.files, notes={**split.notes, "limit_queries": n},
    )


def load_dataset(entry: DatasetEntry, limit_queries: int | None, card: Any = None) -> LoadedDataset:
    from benchmarks.cards import load_card
    from benchmarks.loaders import load_split

    card = card if card is not None else load_card(entry.name)
    try:
        split = load_split(card, entry.split)
    except DataUnavailable as exc:
        return LoadedDataset(entry, card, unavailable=str(exc))
    warn_skipped_rows(entry, split)
    split = limit(split, limit_queries or entry.limit_queries)  # CLI wins
    return LoadedDataset(entry, card, protocol.view(entry, split, relevance_level(card)))  # DALM: its rows


def warn_skipped_rows(entry: DatasetEntry, split: Split) -> None:
    """Rows the loader skipped (on_bad_row: skip) are said on the console, not only in the record."""
    skipped = split.notes.get("skipped_rows")
    if skipped:
        reasons = "; ".join(str(r) for r in split.notes.get("skip_reasons", []))
        log.warning("%s/%s: %s bad row(s) skipped while loading%s", entry.key, entry.split, skipped,
                    f" ({reasons})" if reasons else "")


def hit_rate_curve(per_query_mrr: dict[str, float], top_k: int) -> list[float]:
    """hit_rate@k for k = 1..top_k, from mrr@top_k per query (rank of first hit = 1 / mrr)."""
    ranks = np.array([round(1 / v) if v > 0 else top_k + 1 for v in per_query_mrr.values()])
    if ranks.size == 0:
        return []
    return [float(np.mean(ranks <= k)) for k in range(1, top_k + 1)]


def suite_settings(s: Suite, entry: DatasetEntry | None = None) -> dict[str, Any]:
    """The evaluation settings a record of ``entry`` carries (the leaderboard checks records against them)."""
    return {
        "metrics": s.metrics, "top_k": s.top_k, "tie_break": TIE_BREAK, "seed": s.seed,
        "missing_query_policy": "score_zero", "no_relevant_policy": "exclude_and_count",
        "search": protocol.search_setting(s, entry),
        "bootstrap": s.bootstrap.model_dump(), "significance": s.significance.model_dump(),
        "baseline": s.baseline,
    }


class SuiteRunner:
    """Runs one suite of a checked plan (``benchmarks.plan``); given a bare Suite, plans it
    first, so every problem is found before any record is written."""

    def __init__(self, suite: Suite | PlannedSuite, options: RunOptions) -> None:
        from benchmarks.plan import PlannedSuite, plan

        planned = suite if isinstance(suite, PlannedSuite) else plan([suite], options).suites[0]
        self.planned = planned
        self.suite = suite = planned.suite
        self.options = options
        self.entries = planned.entries
        self.dataset_entries = [ds.entry for ds in planned.datasets]
        self.retrievers = planned.retrievers
        self.finished: dict[str, dict[str, Any]] = {}  # dataset -> row -> its run, for rows consuming it
        self.ctx_template = dict(
            device=options.device, seed=suite.seed, progress=options.progress, retrain=options.retrain,
            search=SearchSettings(ann=suite.ann.model_dump() if suite.ann else None),
            workers=options.workers, ray=options.ray, embeddings=RunContext().embedding_cache(),  # one per run
        )

    def settings(self, entry: DatasetEntry | None = None) -> dict[str, Any]:
        return suite_settings(self.suite, entry)

    def run(self) -> bool:
        """Returns True when every selected retriever either ran or was legitimately skipped."""
        ok = True
        for ds in self.planned.datasets:  # loaded and checked by plan()
            for entry in self.entries:
                ok &= self.run_one(ds, entry)
        return ok

    def base_record(self, ds: LoadedDataset, entry: RetrieverEntry) -> dict[str, Any]:
        split = ds.split
        dataset: dict[str, Any] = {
            "id": ds.entry.key, "name": ds.entry.name, "split": ds.entry.split,
            "train_split": ds.entry.train_split, "card": ds.card.model_dump(mode="json", by_alias=True),
        }
        settings = self.settings(ds.entry)
        record: dict[str, Any] = {
            "suite": self.suite.name, "row": entry.name,
            "row_index": [r.name for r in self.suite.retrievers].index(entry.name), "dataset": dataset,
            "settings": settings, "env": environment(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": self.command(ds, entry),
        }
        if split is not None:
            dataset.update(
                files=split.files, notes=split.notes, n_docs=len(split.corpus),
                n_queries=len(split.queries), n_qrels=sum(len(r) for r in split.qrels.values()),
            )
            # From the loaded data and the suite only: what the leaderboard compares rows by.
            record["fingerprint"] = evaluation_fingerprint(
                dataset_id=ds.entry.key, split_name=ds.entry.split, split=split, settings=settings,
                relevance_level=relevance_level(ds.card), holdout=fingerprint_spec(split),
                protocol=protocol.fingerprint_value(ds.entry))
        return record

    def command(self, ds: LoadedDataset, entry: RetrieverEntry) -> dict[str, Any]:
        """The command line that produced the record, and the one that re-runs just this row."""
        o = self.options
        row = refresh_command(self.suite.name, ds.entry.key, entry.name, o.results_dir)
        row += f" --limit-queries {o.limit_queries}" if o.limit_queries is not None else ""
        row += (f" --device {o.device}" if o.device != "auto" else "") + (" --retrain" if o.retrain else "")
        return {"argv": list(o.argv) if o.argv is not None else None, "row": row}

    def run_one(self, ds: LoadedDataset, entry: RetrieverEntry) -> bool:
        path = record_path(self.options.results_dir, self.suite.name, ds.entry.key, entry.name)
        retriever = self.retrievers[entry.name]
        record = self.base_record(ds, entry)
        sources = {"source_sha256": source_sha256(type(retriever))}  # in every record, failed ones too
        record["retriever"] = {"use": entry.use, "params": entry.params, **sources}
        label = f"[{self.suite.name}] {ds.entry.key}/{ds.entry.split} · {entry.name}"
        if ds.unavailable is not None:
            kept = write_attempt(path, {**record, "status": "not_available", "reason": ds.unavailable})
            log.warning("%s: dataset not available: %s%s", label, ds.unavailable.splitlines()[0],
                        _kept(kept, path))
            return True
        reason = retriever.unavailable_reason() or protocol.refusal(ds.entry, retriever)
        if reason is not None:
            kept = write_attempt(path, {**record, "status": "not_run", "reason": reason})
            log.warning("%s: %s%s", label, reason, _kept(kept, path))
            return True
        ctx = RunContext(**self.ctx_template, runs=self.finished.setdefault(ds.entry.key, {}))
        ctx.search = protocol.search_settings(ds.entry, ctx.search)  # a copy with DALM's search, for dalm
        record["env"] = {**record["env"], "device": device_description(ctx.resolved_device())}
        t_start = time.perf_counter()
        try:
            training = self.train(ds, retriever, ctx)
            t0 = time.perf_counter()
            assert ds.split is not None
            evaluated = protocol.evaluated(ds.entry, retriever)  # DALM: its encoder settings, after training
            run = evaluated.retrieve(ds.split.corpus, ds.split.queries, self.suite.top_k, ctx)
            retrieve_s = time.perf_counter() - t0
            record["retriever"] = {"use": entry.use, **evaluated.card().to_dict(), **sources}
            record.update(evaluated.record_fields())  # e.g. fusion inputs, bytes per vector
            results, per_query = self.score(ds.split, run, relevance_level(ds.card))
            record.update(protocol.record_fields(ds.entry, evaluated, ds.split, run))
        except (Exception, KeyboardInterrupt) as exc:  # one broken retriever must not sink the suite
            interrupted = isinstance(exc, KeyboardInterrupt)
            reason = ("interrupted (Ctrl-C) before the row finished" if interrupted
                      else f"{type(exc).__name__}: {exc}")
            record.update(status="failed", reason=reason, traceback=traceback.format_exc(limit=8))
            # A good record of this row stays; the failure goes beside it as <row>.failed.json.
            kept = write_attempt(path, record)
            log.error("%s: FAILED: %s%s", label, reason, _kept(kept, path))
            if interrupted:
                raise
            return False
        record.update(results, status="ok", training=training, stats=integer_counts(ctx.stats))
        record["timing"] = {
            "retrieve_s": round(retrieve_s, 3), "total_s": round(time.perf_counter() - t_start, 3),
            "process_peak_rss_gib": peak_rss_gib(), **{k: round(v, 3) for k, v in ctx.stats.items() if k.endswith("_s")},
        }
        write_record(path, record, per_query=per_query, run=run)
        if entry.name in self.planned.consumed:  # a fusion row later in this run fuses it
            self.finished[ds.entry.key][entry.name] = finished_run(path, record, run)
        summary = "  ".join(f"{m} {v:.4f}" for m, v in record["metrics"].items())
        row_log.info("%s: %s", label, summary)
        return True

    def train(self, ds: LoadedDataset, retriever: Any, ctx: RunContext) -> dict[str, Any] | None:
        if not retriever.trains():
            return None
        from benchmarks.loaders import load_split

        if ds.entry.train_split is None:
            raise ConfigError(f"{retriever.name} needs training but dataset {ds.entry.key} names no train_split")
        t0 = time.perf_counter()
        train_split = load_split(ds.card, ds.entry.train_split)
        info = retriever.fit(train_split, ctx)
        wall_s = round(time.perf_counter() - t0, 3)
        # What the train split shares with the evaluated one (information only: not fingerprinted).
        leakage = cached_check(train_split, ds.split, relevance_level(ds.card))
        return {"split": ds.entry.train_split, "wall_s": wall_s, **(info or {}), "leakage": leakage}

    def score(self, split: Split, run: Run, level: int) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
        suite = self.suite
        metrics = list(suite.metrics)
        curve_metric = f"mrr@{suite.top_k}"
        ev = evaluate(split.qrels, run, [*metrics, curve_metric], relevance_level=level)
        per_query = {m: ev.per_query[m] for m in metrics}
        b = suite.bootstrap
        ci = {m: list(bootstrap_ci(list(per_query[m].values()), n_resamples=b.n_resamples, confidence=b.confidence,
                                   seed=suite.seed)) for m in metrics} if ev.n_queries else {}
        results = {
            "metrics": {m: ev.metrics[m] for m in metrics},
            "ci": ci,
            "counts": {"queries_evaluated": ev.n_queries, "excluded_no_relevant": len(ev.excluded_no_relevant),
                       "missing_in_run": len(ev.missing_in_run), "docs": len(split.corpus),
                       "queries": len(split.queries)},
            "hit_rate_curve": hit_rate_curve(ev.per_query[curve_metric], suite.top_k or 1),
        }
        return results, per_query


def _kept(kept: bool, path: Path) -> str:
    return (f" (the earlier good record {path.name} is kept; this attempt is in {path.stem}.failed.json)"
            if kept else "")


def relevance_level(card: Any) -> int:
    """The grade from which a judgment counts as relevant (trec_eval -l), from the card."""
    return int(getattr(getattr(card, "eval", None), "relevance_level", 1))
