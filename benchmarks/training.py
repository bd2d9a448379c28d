"""Pieces shared by the retrievers that train inside a suite (bge-adapter, contrastive, llamaindex).

- ``training_pairs``: one (query, first relevant passage) pair per query, in the split's dict
  order, exactly as LlamaIndex's ``EmbeddingAdapterFinetuneEngine`` builds its examples.
- ``pairs_hash``: what the artifact cache keys the training data by.
- ``deterministic``: seeds torch/numpy/random and turns on deterministic kernels for the
  duration of one training, then puts the global state back.
- ``linear_warmup``: the learning-rate factor of ``transformers.get_linear_schedule_with_warmup``.
- ``train_loop``: batches, backward, clipping, optimizer and schedule steps, progress and the
  loss log (per step, per epoch, final) that goes into the result record.
"""
from __future__ import annotations

import hashlib
import json
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

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


def pairs_hash(pairs: Sequence[TrainingPair]) -> str:
    """sha256 over the texts in order. Ids are left out: renaming ids changes no training step
    (duplicate passages are recognised by text, see ``duplicate_mask``)."""
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(json.dumps([p.query, p.passage], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


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


@contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator["torch.Generator"]:
    """Seed everything and use deterministic kernels; yields a generator for shuffling.

    Global state (deterministic-algorithms flag, thread count) is restored afterwards so a
    training does not change how the rest of the run behaves. ``threads`` pins the intra-op
    thread count; None keeps the current one (measured: CPU training with 2 threads gives
    bit-identical weights run to run, see tests/retrievers/test_contrastive.py and test_adapter.py).
    """
    import numpy as np
    import torch

    previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])


def linear_warmup(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor: 0 -> 1 linearly over warmup, then linearly down to 0 at ``total_steps``.

    Same arithmetic as transformers' ``get_linear_schedule_with_warmup`` (used by LlamaIndex
    and DALM), written out so the adapter needs no transformers import.
    """
    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def batches(n: int, batch_size: int, generator: "torch.Generator | None") -> list[list[int]]:
    """Row indices per batch; shuffled with ``generator`` when given, the last batch may be short
    (DataLoader's drop_last=False, as both LlamaIndex and DALM)."""
    import torch

    order = torch.randperm(n, generator=generator).tolist() if generator is not None else list(range(n))
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


@dataclass
class LossLog:
    steps: int = 0
    step_losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)  # mean loss per epoch

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "final_loss": self.step_losses[-1] if self.step_losses else None,
            "epoch_losses": self.epoch_losses,
        }


def train_loop(
    params: Sequence["torch.nn.Parameter"],
    loss_fn: Callable[[list[int]], "torch.Tensor"],
    *,
    n_rows: int,
    batch_size: int,
    epochs: int,
    optimizer: "torch.optim.Optimizer",
    warmup_steps: int,
    max_grad_norm: float | None,
    shuffle_generator: "torch.Generator | None",
    progress: bool,
    desc: str,
) -> LossLog:
    """Run ``epochs`` passes of ``loss_fn(batch_row_indices)``; returns the loss log.

    Order per step as in LlamaIndex's ``train_model`` and DALM's loop: backward, clip (if any),
    optimizer step, scheduler step, zero grad.
    """
    import torch
    from tqdm import tqdm

    steps_per_epoch = -(-n_rows // batch_size)
    total = steps_per_epoch * epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup(warmup_steps, total))
    log = LossLog()
    optimizer.zero_grad()
    with tqdm(total=total, desc=desc, disable=not progress, unit="step") as bar:
        for epoch in range(epochs):
            epoch_sum, epoch_n = 0.0, 0
            for rows in batches(n_rows, batch_size, shuffle_generator):
                loss = loss_fn(rows)
                loss.backward()
                if max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                value = float(loss.detach())
                log.step_losses.append(value)
                log.steps += 1
                epoch_sum += value
                epoch_n += 1
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4f}")
                bar.update(1)
            log.epoch_losses.append(epoch_sum / max(1, epoch_n))
    return log
