"""Check a whole run before anything runs or is written: one ``plan()`` for ``run`` and ``validate``.

A run used to discover its problems one at a time and halfway through: a dense row failed with
a raw AssertionError on ``--device cuda`` after bm25 had written its record, a row named
``../../x`` wrote outside the results dir, ``--limit-queries -3`` silently dropped 3 queries.
``plan()`` checks everything that can be known up front and reports every problem at once,
each naming the suite file and line where there is one:

* options: ``limit_queries >= 1``, the device (CUDA present when ``cuda`` is asked for; torch
  is imported only then);
* each suite: it loads (names, metrics and cutoffs, settings: see ``benchmarks.suites``), it is
  given once, the ``--retriever``/``--dataset`` filters name rows and datasets it has;
* each selected row: its registry name, its params (listing the valid ones), and the
  retriever's own ``plan_problems(options)`` (e.g. API settings a suite may not make); the rows
  a selected row consumes (fusion) are selected too, and must be acyclic rows of the suite;
* each selected dataset: the card, the evaluated split and, when a selected row trains, the
  train split; every file present and matching its pinned sha256; the evaluated split parsed;
  what its protocol needs (``protocol: dalm``: hnswlib).

A dataset that cannot be had on this machine (DataUnavailable) is no problem: its rows are
recorded as not available (a missing train_split there is only a warning). ``PlanError``
(exit 2 in the CLI) means nothing was written.

Example:
    >>> p = plan(["beir-scifact"], RunOptions(retrievers=["bm25"]))
    >>> [s.suite.name for s in p.suites], list(p.suites[0].retrievers)
    (['beir-scifact'], ['bm25'])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from benchmarks.cards import DatasetCard, load_card
from benchmarks.datapath import check_file
from benchmarks.errors import ConfigError, DataUnavailable, HarnessError
from benchmarks.fusion_rows import input_problems, input_rows, order_rows
from benchmarks.messages import clip, did_you_mean, listing, problem_list, quote
from benchmarks.protocol import plan_problems as protocol_problems
from benchmarks.runner import LoadedDataset, RunOptions, build_retriever, load_dataset
from benchmarks.suites import Suite, load_suite
from benchmarks.yaml_models import where

DEVICES = ("auto", "cpu", "cuda")


class PlanError(ConfigError):
    """Everything wrong with a run, found before it started; ``problems`` lists them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = [p.replace("\n", "\n    ") for p in problems]  # a problem's own lines stay under it
        super().__init__(f"{len(problems)} problem(s); nothing was run or written:{problem_list(shown)}")


@dataclass
class PlannedSuite:
    """A checked suite: the selected rows, built, and the selected datasets, loaded."""

    suite: Suite
    retrievers: dict[str, Any]  # row name -> Retriever, in suite order
    datasets: list[LoadedDataset]

    @property
    def entries(self) -> list[Any]:
        """The selected rows in suite order, except that a row comes after the rows it consumes."""
        return order_rows([e for e in self.suite.retrievers if e.name in self.retrievers], self.retrievers)

    @property
    def consumed(self) -> set[str]:
        """Rows whose finished runs a later row consumes (the runner keeps only those)."""
        return {row for r in self.retrievers.values() for row in input_rows(r)}


@dataclass
class Plan:
    options: RunOptions
    suites: list[PlannedSuite] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth saying, but no reason to stop


def plan(suites: Sequence[str | Path | Suite], options: RunOptions) -> Plan:
    """Check ``suites`` (names, paths or loaded suites) under ``options``; PlanError lists every
    problem found. Nothing is written either way."""
    problems = option_problems(options)
    warnings: list[str] = []
    planned: list[PlannedSuite] = []
    seen: set[str] = set()
    for item in suites:
        try:
            suite = item if isinstance(item, Suite) else load_suite(item)
        except HarnessError as exc:
            problems.append(str(exc))
            continue
        if suite.name in seen:
            problems.append(f"suite {suite.name} is given twice; its rows would run twice")
            continue
        seen.add(suite.name)
        planned.append(_plan_suite(suite, options, problems, warnings))
    problems = list(dict.fromkeys(problems))  # one bad card shared by two suites: say it once
    if problems:
        raise PlanError(problems)
    return Plan(options, planned, list(dict.fromkeys(warnings)))


def option_problems(options: RunOptions) -> list[str]:
    problems = []
    n = options.limit_queries
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        problems.append(f"--limit-queries must be an integer >= 1, got {quote(n)}")
    problems += device_problems(options.device)
    return problems


def device_problems(device: str) -> list[str]:
    """Whether ``device`` can be used here. Only ``cuda`` needs torch, so only it imports torch
    (``list``, ``validate`` and bm25-only runs stay free of it)."""
    if device not in DEVICES:
        return [f"--device {quote(device)}: choose one of {', '.join(DEVICES)}"]
    if device != "cuda":
        return []
    try:
        import torch
    except ImportError:
        return ["--device cuda: torch is not installed; use --device cpu"]
    if not torch.cuda.is_available():
        built = getattr(torch.version, "cuda", None)
        detail = f"torch {torch.__version__} built for CUDA {built}" if built else \
            f"torch {torch.__version__} is a CPU-only build"
        return [f"--device cuda: CUDA is not available on this machine ({detail}); "
                "use --device cpu, or --device auto to use CUDA only where there is one"]
    return []


def _at(suite: Suite, *loc: Any) -> str:
    found = where(suite, loc)
    return found if not found.startswith("<") else f"suite {suite.name}"


def _select(suite: Suite, wanted: list[str], known: list[str], what: str, problems: list[str]) -> set[str]:
    if not wanted:
        return set(known)
    for name in wanted:
        if name not in known:
            hint = did_you_mean(name, known, known=False)
            problems.append(f"--{what} {clip(name)}: not in this suite ({suite.name} has {listing(known)})"
                            + (f"; {hint}" if hint else ""))
    return {name for name in wanted if name in known}


def _plan_suite(suite: Suite, options: RunOptions, problems: list[str], warnings: list[str]) -> PlannedSuite:
    names = [r.name for r in suite.retrievers]
    rows = _select(suite, options.retrievers, names, "retriever", problems)
    keys = _select(suite, options.datasets, [d.key for d in suite.datasets], "dataset", problems)
    retrievers: dict[str, Any] = {}
    todo = [n for n in names if n in rows]
    while todo:  # a selected row's inputs (fusion: benchmarks/fusion_rows.py) are selected too
        name = todo.pop(0)
        i = names.index(name)
        if (built := _build(suite, i, suite.retrievers[i], problems)) is None:
            continue
        retrievers[name] = built
        for text in built.plan_problems(options):
            problems.append(f"{_at(suite, 'retrievers', i)}: retriever row {name}: {text}")
        new = [r for r in input_rows(built) if r in names and r not in rows]
        rows |= set(new)
        todo += new
    retrievers = {n: retrievers[n] for n in names if n in retrievers}  # suite order
    problems += input_problems(suite, retrievers, lambda *loc: _at(suite, *loc))
    # A built row says whether it trains (its params decide); a row that failed to build, by its class.
    trainers = [e.name for e in suite.retrievers if e.name in rows
                and (retrievers[e.name].trains() if e.name in retrievers else _trains(e.use))]
    datasets = []
    for j, entry in enumerate(suite.datasets):
        if entry.key not in keys:
            continue
        if (ds := _dataset(suite, j, trainers, options, problems, warnings)) is not None:
            datasets.append(ds)
    return PlannedSuite(suite, retrievers, datasets)


def _trains(use: str) -> bool:
    """Whether the class behind a registry name trains, even when its row's params are bad."""
    from retrievers import RETRIEVERS

    try:
        return bool(getattr(RETRIEVERS.get(use), "needs_training", False))
    except (LookupError, ImportError):  # reported by _build
        return False


def _build(suite: Suite, i: int, entry: Any, problems: list[str]) -> Any:
    from retrievers.base import ParamsError

    label = f"retriever row {entry.name} (use: {entry.use})"
    try:
        return build_retriever(entry)
    except ParamsError as exc:
        for loc, msg in exc.problems:
            dotted = ".".join(map(str, ("params", *loc)))
            problems.append(f"{_at(suite, 'retrievers', i, 'params', *loc)}: {label}: {dotted}: {msg}; "
                            f"{exc.valid_text()}")
    except ConfigError as exc:  # unknown registry name, or the class's own checks
        problems.append(f"{_at(suite, 'retrievers', i, 'use')}: {exc}")
    except ImportError as exc:
        problems.append(f"{_at(suite, 'retrievers', i, 'use')}: {label}: cannot import it: {exc}")
    return None


def _dataset(suite: Suite, j: int, trainers: list[str], options: RunOptions, problems: list[str],
             warnings: list[str]) -> LoadedDataset | None:
    entry = suite.datasets[j]
    problems += [f"{_at(suite, 'datasets', j)}: {text}" for text in protocol_problems(entry)]  # no hnswlib
    try:
        card = load_card(entry.name)
    except HarnessError as exc:
        problems.append(f"{_at(suite, 'datasets', j, 'name')}: {exc}")
        return None
    if not _has_split(suite, j, card, "split", entry.split, problems):
        return None
    try:
        ds = load_dataset(entry, options.limit_queries, card=card)
    except HarnessError as exc:
        problems.append(str(exc))
        return None
    if not trainers:
        return ds
    if entry.train_split is None:
        text = (f"{_at(suite, 'datasets', j)}: dataset {entry.key}: row(s) {', '.join(trainers)} train, but "
                f"the entry names no train_split (the card has splits {', '.join(card.split_names())})")
        if ds.unavailable is None:
            problems.append(text)
        else:  # data not on this machine: its rows are recorded as not available and never train
            warnings.append(f"{text}; those rows will fail once the data is there")
    elif _has_split(suite, j, card, "train_split", entry.train_split, problems) and ds.unavailable is None:
        _check_files(card, entry.train_split, problems)
    return ds


def _has_split(suite: Suite, j: int, card: DatasetCard, key: str, split: str, problems: list[str]) -> bool:
    if split in card.split_names():
        return True
    problems.append(f"{_at(suite, 'datasets', j, key)}: dataset {card.name!r} has no split {quote(split)}; "
                    f"{did_you_mean(split, card.split_names())} ({card.card_label})")
    return False


def _check_files(card: DatasetCard, split: str, problems: list[str]) -> None:
    """The train split's files are present and pinned bytes; they are parsed when a row trains."""
    for ref in card.split_files(split).roles().values():
        try:
            check_file(ref.path, ref.sha256, card_file=card.card_label, url=card.source.url,
                       get_command=card.source.get_command)
        except DataUnavailable as exc:
            problems.append(f"train split {split!r} of dataset {card.name!r}: {exc}")
        except HarnessError as exc:
            problems.append(str(exc))
