"""Training data: the (query, passage) pairs every trainer starts from, their hash, batches and
the same-passage groups that in-batch false-negative masking uses.

- ``training_pairs``: one (query, first relevant passage) pair per query, in the split's dict
  order, exactly as LlamaIndex's ``EmbeddingAdapterFinetuneEngine`` builds its examples.
- ``pairs_hash``: what the artifact cache keys the training data by.
- ``batches``: row indices per (micro-)batch, shuffled or in order.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from benchmarks.types import Doc, Split

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TrainingPair:
    qid: str
    query: str
    doc_id: str
    passage: str


def training_pairs(split: Split, passage_text: Callable[[Doc], str] = Doc.full_text,
                   relevance_level: int = 1) -> list[TrainingPair]:
    """One pair per query: (query, first relevant passage in qrels order).

    LlamaIndex takes ``relevant_docs[qid][0]``; our loaders keep the file's order in the qrels
    dict, so the first judged-relevant doc is the same one. Queries with no relevant doc are
    skipped (they cannot be a positive pair).
    """
    pairs = []
    for qid, query in split.queries.items():
        relevant = [d for d, grade in split.qrels.get(qid, {}).items() if grade >= relevance_level]
        if relevant:
            doc_id = relevant[0]
            pairs.append(TrainingPair(qid, query, doc_id, passage_text(split.corpus[doc_id])))
    if not pairs:
        raise ValueError("the training split has no query with a relevant passage")
    return pairs


def rows_sha256(rows: Iterable[Sequence[str]]) -> str:
    """sha256 over training rows of texts, in order: one JSON list per row and line (streamed, so a
    200k-row split is never one string)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(list(row), ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def pairs_hash(pairs: Sequence[TrainingPair]) -> str:
    """sha256 over the texts in order. Ids are left out: renaming ids changes no training step
    (duplicate passages are recognised by text, see ``duplicate_mask``)."""
    return rows_sha256((p.query, p.passage) for p in pairs)


def same_passage_groups(passages: Sequence[str]) -> list[int]:
    """A group id per row; rows with equal passage text share one (for in-batch masking)."""
    ids: dict[str, int] = {}
    return [ids.setdefault(p, len(ids)) for p in passages]


def duplicate_mask(groups: "torch.Tensor") -> "torch.Tensor":
    """Boolean [B, B]: True where i != j but rows i and j have the same passage.

    Such an off-diagonal logit is a false negative (the "other" passage is the positive too),
    so it is masked out of the softmax rather than pushed down.
    """
    import torch

    same = groups[:, None] == groups[None, :]
    return same & ~torch.eye(len(groups), dtype=torch.bool, device=groups.device)


def batches(n: int, batch_size: int, generator: "torch.Generator | None") -> list[list[int]]:
    """Row indices per batch; shuffled with ``generator`` when given, the last batch may be short
    (DataLoader's drop_last=False, as both LlamaIndex and DALM)."""
    import torch

    order = torch.randperm(n, generator=generator).tolist() if generator is not None else list(range(n))
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]
