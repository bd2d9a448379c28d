"""Held-out splits carved from one file: a card's ``holdout`` block.

DALM trains on part of its 200k-row file and evaluates on the rest. A card says it as::

    splits:
      all: {data: {path: arcee-synthetic/train.csv, sha256: null}}
    holdout: {source: all, test_fraction: 0.01, seed: 0}   # or test_size: 2000 (queries)

and gains the splits ``train`` and ``test`` (names configurable) besides ``all``.

How the rows are divided (deterministic for a seed, independent of row order):

1. Passages are grouped by their text normalised as the leakage check normalises it
   (``benchmarks.leakage.normalise``: NFKC, casefold, punctuation removed, whitespace collapsed),
   so two copies of one passage, or copies differing only in case or punctuation, fall together.
2. Queries join the groups of their judged passages (union-find), so a query judged against two
   passages pulls both into its group: a group is a connected component of queries and passages.
3. Groups are ordered by sha256(seed, the group's smallest normalised text) and the test split
   takes groups in that order until it holds at least ``test_size`` queries (for a fraction:
   ceil(fraction x queries)); the train split has the rest. So no passage (normalised) is in both
   splits, and the test split may exceed the target by less than one group's queries.

Each carved split's ``notes["holdout"]`` says what was done; its ``spec`` (the card's block and the
part) goes into the evaluation fingerprint under the reserved ``holdout`` key.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchmarks.types import Split

METHOD = "passage groups (leakage normalisation) + query union-find, sha256-ordered; v1"


class Holdout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="the card split (one file) the train and test splits are carved from")
    train: str = "train"
    test: str = "test"
    test_size: int | None = Field(default=None, ge=1, description="queries in the test split (at least)")
    test_fraction: float | None = Field(default=None, gt=0, lt=1, description="share of queries in test")
    seed: int = 0

    @model_validator(mode="after")
    def _one_size(self) -> "Holdout":
        if (self.test_size is None) == (self.test_fraction is None):
            raise ValueError("give exactly one of test_size (queries, an integer >= 1) and "
                             "test_fraction (between 0 and 1, exclusive)")
        if self.train == self.test:
            raise ValueError(f"train and test must be different split names (both {self.train!r})")
        return self

    def parts(self) -> dict[str, Literal["train", "test"]]:
        return {self.train: "train", self.test: "test"}

    def spec(self, part: str) -> dict[str, Any]:
        """What the evaluation fingerprint records: the block (no defaults left implicit) and the part."""
        size = ({"test_size": self.test_size} if self.test_size is not None
                else {"test_fraction": self.test_fraction})
        return {"source": self.source, "part": part, **size, "seed": self.seed, "method": METHOD}


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def assign(split: Split, holdout: Holdout) -> tuple[set[str], set[str], dict[str, int]]:
    """(test query ids, test passage ids, counts) for carving ``split``: see the module doc."""
    from benchmarks.leakage import normalise

    keys: dict[str, int] = {}  # normalised passage text -> node
    node_of_doc: dict[str, int] = {}
    for doc_id, doc in split.corpus.items():
        node_of_doc[doc_id] = keys.setdefault(normalise(doc.full_text()), len(keys))
    n_text = len(keys)
    qids = list(split.queries)
    uf = _UnionFind(n_text + len(qids))
    for i, qid in enumerate(qids):
        for doc_id in split.qrels.get(qid, {}):
            if doc_id in node_of_doc:
                uf.union(n_text + i, node_of_doc[doc_id])
    # A group's name is its smallest normalised text (a query-only group: "\0" + the query id,
    # stable too), so the order below does not depend on row order or on node numbers.
    name: dict[int, str] = {}
    for text, node in keys.items():
        root = uf.find(node)
        if root not in name or text < name[root]:
            name[root] = text
    size: dict[int, int] = {}
    for i, qid in enumerate(qids):
        root = uf.find(n_text + i)
        size[root] = size.get(root, 0) + 1
        name.setdefault(root, "\0" + qid)
    n_queries = len(qids)
    target = holdout.test_size if holdout.test_size is not None else math.ceil(holdout.test_fraction * n_queries)
    if target >= n_queries:
        raise ValueError(f"test_size {target} is not smaller than the {n_queries:,} queries of split "
                         f"{holdout.source!r}: the train split would be empty; lower it")
    seed = str(holdout.seed).encode()
    order = sorted(name, key=lambda r: hashlib.sha256(seed + b"\0" + name[r].encode("utf-8")).digest())
    test_roots: set[int] = set()
    taken = 0
    for root in order:
        if taken >= target:
            break
        test_roots.add(root)
        taken += size.get(root, 0)
    if taken >= n_queries:
        raise ValueError(f"the test split would take all {n_queries:,} queries of split {holdout.source!r} "
                         f"(their passages form too few groups); lower test_size / test_fraction")
    test_q = {qid for i, qid in enumerate(qids) if uf.find(n_text + i) in test_roots}
    test_d = {d for d, node in node_of_doc.items() if uf.find(node) in test_roots}
    counts = {"groups": len(name), "test_groups": len(test_roots), "target_test_queries": target}
    return test_q, test_d, counts


# The last assignments, by (id of the source split, holdout): the test split is carved at planning
# and the train split when a row trains, from the same loaded source (14.8 s twice at 200k rows).
_ASSIGNED: dict[tuple[int, Holdout], tuple[Split, tuple[set[str], set[str], dict[str, int]]]] = {}


def _assigned(split: Split, holdout: Holdout) -> tuple[set[str], set[str], dict[str, int]]:
    key = (id(split), holdout)
    hit = _ASSIGNED.get(key)
    if hit is None or hit[0] is not split:  # the split is kept alive with it, so its id is not reused
        if len(_ASSIGNED) >= 2:
            _ASSIGNED.pop(next(iter(_ASSIGNED)))
        hit = _ASSIGNED[key] = (split, assign(split, holdout))
    return hit[1]


def carve(split: Split, holdout: Holdout, part: str) -> Split:
    """The ``part`` ("train" or "test") of a loaded source split."""
    test_q, test_d, counts = _assigned(split, holdout)
    want_test = part == "test"
    queries = {q: t for q, t in split.queries.items() if (q in test_q) == want_test}
    corpus = {d: doc for d, doc in split.corpus.items() if (d in test_d) == want_test}
    out = Split(
        corpus=corpus, queries=queries, qrels={q: r for q, r in split.qrels.items() if q in queries},
        answers={q: a for q, a in split.answers.items() if q in queries} if split.answers is not None else None,
        files=split.files, notes=dict(split.notes),
    )
    out.notes["holdout"] = {
        "spec": holdout.spec(part), **counts,
        "source_queries": len(split.queries), "source_passages": len(split.corpus),
        "queries": len(queries), "passages": len(corpus),
    }
    return out


def fingerprint_spec(split: Split) -> dict[str, Any] | None:
    """The ``holdout`` entry of a split's evaluation fingerprint (None for a split not carved)."""
    info = split.notes.get("holdout")
    return info.get("spec") if isinstance(info, dict) else None
