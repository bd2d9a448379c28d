"""A query adapter on a frozen encoder, trained as LlamaIndex's EmbeddingAdapterFinetuneEngine.

Faithful defaults (shared/docs/retrievers.md section 3): one (query, first relevant passage)
pair per query in dict order, batches of 10 without shuffling, identity-initialised linear map
on the query embedding only, loss = mean_i CE(20 * cos(W q_i + b, p_j), i) over in-batch
passages, AdamW lr 2e-5 (weight decay 0.01), linear warmup over int(0.1 * steps) then linear
decay, grad-norm clip 1.0, fp32.

Where we differ on purpose: base embeddings are computed once, through the embedding cache
(shared with the plain encoder row), and training runs on tensors; LlamaIndex re-encodes every
pair, one text at a time, every epoch. The encoder is frozen, so the maths is the same.

Quirks kept by default, each fixable by a param: no shuffling (``shuffle``), in-batch copies of
the positive passage count as negatives (``mask_same_passage``), weight decay pulls W toward 0
rather than the identity (``decay_to_identity``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from benchmarks.artifacts import eval_only, training_hyper
from benchmarks.context import RunContext
from benchmarks.encoding import embed
from benchmarks.training import (TrainingPair, deterministic, duplicate_mask, pairs_hash, same_passage_groups,
                                 train_loop, training_pairs)
from benchmarks.training.fit import cached_training
from benchmarks.types import Split
from retrievers import register
from retrievers.base import RetrieverCard
from retrievers.sentence_transformer import EncoderParams, SentenceTransformerRetriever

class AdapterParams(EncoderParams):
    adapter: Literal["linear", "two_layer"] = "linear"
    bias: bool = False  # LlamaIndex's default; its notebook uses True
    hidden_features: int | None = None  # two_layer only; None = the embedding size
    activation: Literal["relu", "sigmoid", "tanh", "leaky_relu"] = "relu"
    add_residual: bool = False  # two_layer only: out = alpha * mlp(x) + x, alpha starts at 0
    epochs: int = Field(default=1, ge=0)  # engine default 1; LlamaIndex's notebook uses 4
    train_batch_size: int = Field(default=10, ge=1)
    lr: float = Field(default=2e-5, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)  # torch AdamW's default, which LlamaIndex keeps
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)  # warmup = int(ratio * total steps)
    max_grad_norm: float | None = 1.0
    scale: float = 20.0  # logits = scale * cosine
    shuffle: bool = False  # LlamaIndex never shuffles (quirk 5)
    mask_same_passage: bool = False  # drop in-batch copies of the positive from the negatives (quirk 4)
    decay_to_identity: bool = False  # decay W - I instead of W (quirk 5); linear adapter only
    normalize_queries: bool = eval_only(True)  # renormalise adapted queries: same ranking as LlamaIndex's cosine
    adapter_path: str | None = eval_only(None)  # evaluate a trained adapter folder (ours or LlamaIndex's); no training

    @model_validator(mode="after")
    def _consistent(self) -> "AdapterParams":
        if self.decay_to_identity and self.adapter != "linear":
            raise ValueError("decay_to_identity applies to the linear adapter only")
        return self


class _IdentityDelta:
    """W = I + D with D trained: AdamW's decay then pulls W toward I, not toward 0."""

    def __init__(self, layer: Any) -> None:
        import torch

        self.layer = layer
        self.eye = torch.eye(layer.out_features, layer.in_features)
        self.delta = torch.nn.Parameter(torch.zeros_like(self.eye))

    def __call__(self, x: Any) -> Any:
        import torch.nn.functional as F

        return F.linear(x, self.eye + self.delta, self.layer.linear.bias)

    def params(self) -> list[Any]:
        bias = self.layer.linear.bias
        return [self.delta] + ([bias] if bias is not None else [])

    def finish(self) -> None:
        import torch

        with torch.no_grad():
            self.layer.linear.weight.copy_(self.eye + self.delta)


def train_adapter(q: Any, p: Any, passages: list[str], params: AdapterParams, seed: int,
                  progress: bool = False) -> tuple[Any, Any]:
    """Train an adapter on base embeddings q, p (float32 tensors [n, d], pair i = (q_i, p_i)).

    Returns (adapter module, LossLog). Pure tensors in, so tests can check it on toy data.
    """
    import torch

    from benchmarks.training.loop import total_steps
    from benchmarks.training.losses import mnrl_loss
    from retrievers.adapter.models import build_adapter

    # One thread: the matrices are tiny, and on a busy 2-core box two threads spent most of the
    # time waiting for each other (measured: 268 steps took 35 s with 2 threads, 6 s with 1).
    with deterministic(seed, threads=1) as gen:
        model = build_adapter(q.shape[1], params.adapter, params.bias, params.hidden_features,
                              params.activation, params.add_residual)
        model.train()
        delta = _IdentityDelta(model) if params.decay_to_identity else None
        forward = delta if delta is not None else model
        trainable = delta.params() if delta is not None else list(model.parameters())
        groups = torch.tensor(same_passage_groups(passages))
        optimizer = torch.optim.AdamW(trainable, lr=params.lr, weight_decay=params.weight_decay)
        steps = total_steps(len(q), params.train_batch_size, params.epochs)

        def loss_fn(rows: list[int]) -> Any:
            mask = duplicate_mask(groups[rows]) if params.mask_same_passage else None
            return mnrl_loss(forward(q[rows]), p[rows], params.scale, mask)

        log = train_loop(trainable, loss_fn, n_rows=len(q), batch_size=params.train_batch_size,
                         epochs=params.epochs, optimizer=optimizer, warmup_steps=int(params.warmup_ratio * steps),
                         max_grad_norm=params.max_grad_norm, shuffle_generator=gen if params.shuffle else None,
                         progress=progress, desc="train adapter")
        if delta is not None:
            delta.finish()
    model.eval()
    return model, log


@register("bge-adapter", "adapter")
class AdapterRetriever(SentenceTransformerRetriever):
    """Frozen encoder + trained query adapter (LlamaIndex EmbeddingAdapterFinetuneEngine)."""

    impl_version = "1"
    needs_training = True
    Params = AdapterParams

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self.adapter: Any = None
        self.artifact_sha256: str | None = None

    def trains(self) -> bool:
        return self.params.adapter_path is None  # a given folder is evaluated as is

    def fingerprint(self) -> dict[str, Any]:
        # The base encoder's vectors: keyed like the plain row so both share the cache.
        return {**super().fingerprint(), "impl": SentenceTransformerRetriever.impl_version}

    def hyper(self) -> dict[str, Any]:
        return training_hyper(self.params)

    def fit(self, train: Split, ctx: RunContext) -> dict[str, Any]:
        pairs = training_pairs(train, self.passage_text)
        artifact, record = cached_training(
            ctx, kind="bge-adapter", base=self.fingerprint(), data_sha256=pairs_hash(pairs), hyper=self.hyper(),
            impl_version=self.impl_version, build=lambda folder: self._train(pairs, ctx, folder), pairs=len(pairs))
        self._load(str(artifact.path))
        self.artifact_sha256 = artifact.content_sha256
        return record

    def _train(self, pairs: list[TrainingPair], ctx: RunContext, folder: Any) -> dict[str, Any]:
        import torch

        from retrievers.adapter.models import save_adapter

        t0 = time.perf_counter()
        unique = list(dict.fromkeys(p.passage for p in pairs))
        q = embed(self, "query", [p.query for p in pairs], ctx, hook=False)  # the frozen base's vectors
        pv = embed(self, "passage", unique, ctx, hook=False)
        row = {text: i for i, text in enumerate(unique)}
        p = pv[[row[pair.passage] for pair in pairs]]
        encode_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        model, log = train_adapter(torch.from_numpy(q), torch.from_numpy(p), [x.passage for x in pairs],
                                   self.params, ctx.seed, ctx.progress)
        save_adapter(model, folder)
        return {**log.summary(), "encode_s": round(encode_s, 3), "train_s": round(time.perf_counter() - t1, 3)}

    def _load(self, path: str) -> None:
        from retrievers.adapter.models import load_adapter

        self.adapter = load_adapter(path)

    def after_cache(self, side: str, vectors: np.ndarray, ctx: RunContext) -> np.ndarray:
        if side != "query":
            return vectors  # passages keep base embeddings, as LlamaIndex: the index is unchanged
        if self.adapter is None:
            if self.params.adapter_path is None:
                raise RuntimeError(f"{self.name}: the adapter is not trained yet (fit was not called)")
            from benchmarks.artifacts import content_hash, file_hashes

            self._load(self.params.adapter_path)
            self.artifact_sha256 = content_hash(file_hashes(Path(self.params.adapter_path)))
        from retrievers.adapter.models import apply_adapter

        return apply_adapter(self.adapter, vectors, self.params.normalize_queries)

    def card(self) -> RetrieverCard:
        card = super().card()
        if self.artifact_sha256:
            card.artifacts["adapter"] = self.artifact_sha256
        return card
