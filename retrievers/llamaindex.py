"""LlamaIndex's own retrieval path, run by LlamaIndex's code, as rows next to ours.

What the DALM table calls "Llama-index base-retriever" / "fine-tune retriever": a
``HuggingFaceEmbedding`` over the same model, a ``VectorStoreIndex`` of TextNodes (id = doc id),
``index.as_retriever(similarity_top_k=k)`` queried one query at a time; the fine-tuned row trains
``EmbeddingAdapterFinetuneEngine`` on the suite's train split and wraps the base model in
``AdapterEmbeddingModel``. Nothing here re-implements LlamaIndex: the point is to show its
numbers and its wall time. Use ``--limit-queries N`` (or a dataset's ``limit_queries``) for the
first N queries, as DALM's evaluation did with 2,000.

Optional extra: ``pip install -e '.[llamaindex]'``; without it the row is recorded as not run.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping

from pydantic import Field

from benchmarks.artifacts import canonical_json, eval_only, training_hyper
from benchmarks.context import RunContext
from benchmarks.memo import remembered
from benchmarks.training import deterministic, pairs_hash, training_pairs
from benchmarks.training.fit import cached_training, encoder_base
from benchmarks.training.loop import loss_log, total_steps
from benchmarks.types import Doc, Run, Split
from retrievers import register
from retrievers.base import Params, Retriever, RetrieverCard
from retrievers.model_resolution import resolve_model

BASE_MODULES = ("llama_index.core", "llama_index.embeddings.huggingface")
ADAPTER_MODULES = ("llama_index.finetuning", "llama_index.embeddings.adapter")
DISTRIBUTIONS = ("llama-index-core", "llama-index-embeddings-huggingface", "llama-index-finetuning",
                 "llama-index-embeddings-adapter")


class LlamaIndexParams(Params):
    model: str = "minilm-l6"  # alias, local folder or hub id, resolved as for the bge retriever
    query_instruction: str | None = None  # None: LlamaIndex's choice (its BGE list gets an instruction)
    max_length: int | None = None  # None: the model's own limit
    embed_batch_size: int = Field(default=10, ge=1)  # LlamaIndex's DEFAULT_EMBED_BATCH_SIZE
    adapter: bool = False  # train EmbeddingAdapterFinetuneEngine on the train split
    epochs: int = Field(default=1, ge=1)  # engine default; LlamaIndex's notebook uses 4
    train_batch_size: int = Field(default=10, ge=1)  # engine default; DALM used 153
    bias: bool = False
    device: Literal["auto", "cpu", "cuda"] | None = eval_only(None)  # None: the run's --device


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@contextmanager
def recorded_losses() -> Iterator[list[float]]:
    """Collect the loss of every step of LlamaIndex's ``train_model``, which only prints them.

    ``train_model`` looks the loss class up in its module when called, so a subclass that
    records ``forward``'s value and returns it unchanged is swapped in for the duration.
    """
    from llama_index.finetuning.embeddings import adapter_utils

    losses: list[float] = []
    original = adapter_utils.MyMultipleNegativesRankingLoss

    class Recording(original):  # type: ignore[misc, valid-type]
        def forward(self, query_embeds: Any, context_embeds: Any) -> Any:
            loss = super().forward(query_embeds, context_embeds)
            losses.append(float(loss.detach()))
            return loss

    adapter_utils.MyMultipleNegativesRankingLoss = Recording
    try:
        yield losses
    finally:
        adapter_utils.MyMultipleNegativesRankingLoss = original


@register("llamaindex")
class LlamaIndexRetriever(Retriever):
    """LlamaIndex's own path: HuggingFaceEmbedding + VectorStoreIndex (+ its adapter engine)."""

    kind = "dense"
    impl_version = "1"
    needs_training = True  # the adapter rows; trains() says per row
    Params = LlamaIndexParams

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self.resolved = resolve_model(self.params.model)
        self.adapter_path: Path | None = None
        self.adapter_sha256: str | None = None
        self._base: Any = None

    def trains(self) -> bool:
        return self.params.adapter

    def unavailable_reason(self) -> str | None:
        needed = BASE_MODULES + (ADAPTER_MODULES if self.params.adapter else ())
        if not all(_has(m) for m in needed):
            return "not run: pip install -e '.[llamaindex]'"
        return None

    def _device(self, ctx: RunContext) -> str:
        return ctx.resolved_device() if self.params.device in (None, "auto") else str(self.params.device)

    def _base_model(self, ctx: RunContext) -> Any:
        if self._base is None:
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            # A hub id is passed as is, so LlamaIndex applies its own BGE instruction by name.
            self._base = HuggingFaceEmbedding(
                model_name=self.resolved.load_path, max_length=self.params.max_length,
                query_instruction=self.params.query_instruction, embed_batch_size=self.params.embed_batch_size,
                device=self._device(ctx),
            )
        return self._base

    def hyper(self) -> dict[str, Any]:
        return training_hyper(self.params)

    def fit(self, train: Split, ctx: RunContext) -> dict[str, Any]:
        pairs = training_pairs(train, self.passage_text)  # the pairs LlamaIndex's engine builds
        base = encoder_base(self.resolved, query_instruction=self.params.query_instruction,
                            max_length=self.params.max_length, versions=versions())
        artifact, record = cached_training(
            ctx, kind="llamaindex-adapter", base=base, data_sha256=pairs_hash(pairs), hyper=self.hyper(),
            impl_version=self.impl_version, build=lambda folder: self._train(train, len(pairs), ctx, folder),
            pairs=len(pairs))
        self.adapter_path = artifact.path
        self.adapter_sha256 = artifact.content_sha256
        return record

    def _train(self, train: Split, n_pairs: int, ctx: RunContext, folder: Path) -> dict[str, Any]:
        from llama_index.finetuning import EmbeddingAdapterFinetuneEngine
        from llama_index.finetuning.embeddings.common import EmbeddingQAFinetuneDataset

        relevant = {q: [d for d, g in judged.items() if g >= 1] for q, judged in train.qrels.items()}
        dataset = EmbeddingQAFinetuneDataset(
            queries={q: text for q, text in train.queries.items() if relevant.get(q)},
            corpus={d: self.passage_text(doc) for d, doc in train.corpus.items()},
            relevant_docs={q: docs for q, docs in relevant.items() if docs},
        )
        with deterministic(ctx.seed), recorded_losses() as losses:
            engine = EmbeddingAdapterFinetuneEngine(
                dataset, self._base_model(ctx), epochs=self.params.epochs, batch_size=self.params.train_batch_size,
                bias=self.params.bias, model_output_path=str(folder), device=self._device(ctx),
                show_progress_bar=ctx.progress,
            )
            engine.finetune()
        log = loss_log(losses, total_steps(n_pairs, self.params.train_batch_size, 1),
                       micro_batch_size=self.params.train_batch_size)
        return {**log.summary(), "versions": versions()}

    def passage_text(self, doc: Doc) -> str:
        return doc.full_text()

    def embed_model(self, ctx: RunContext) -> Any:
        base = self._base_model(ctx)
        if not self.params.adapter:
            return base
        if self.adapter_path is None:
            raise RuntimeError(f"{self.name}: the adapter is not trained yet (fit was not called)")
        from llama_index.embeddings.adapter import AdapterEmbeddingModel

        return AdapterEmbeddingModel(base, str(self.adapter_path), device=self._device(ctx))

    def retrieve(self, corpus: Mapping[str, Doc], queries: Mapping[str, str], k: int, ctx: RunContext) -> Run:
        """LlamaIndex's rankings, remembered (``benchmarks/memo.py``) under everything they depend on:
        the card (weights, adapter, params, LlamaIndex's versions), the texts in order, k and this
        module's code. Its path has no embedding cache, so without this a warm run would re-embed
        every text; a remembered answer keeps the cold run's timings and says it was reused."""
        passages = [[doc_id, self.passage_text(doc)] for doc_id, doc in corpus.items()]
        inputs = [canonical_json(self.card().to_dict()).encode(),
                  canonical_json([passages, [[q, t] for q, t in queries.items()], k]).encode()]
        computed = []

        def compute() -> dict[str, Any]:
            computed.append(True)
            return self._retrieve(passages, queries, k, ctx)

        out = remembered("llamaindex-run", sys.modules[__name__], inputs, compute,
                         valid=lambda v: isinstance(v, dict) and isinstance(v.get("run"), dict)
                         and isinstance(v.get("index_s"), float) and isinstance(v.get("search_s"), float))
        ctx.add_stat("index_s", out["index_s"])
        ctx.add_stat("search_s", out["search_s"])
        if not computed:
            ctx.add_stat("llamaindex_run_remembered", 1.0)
        return {qid: dict(hits) for qid, hits in out["run"].items()}

    def _retrieve(self, passages: list[list[str]], queries: Mapping[str, str], k: int,
                  ctx: RunContext) -> dict[str, Any]:
        from llama_index.core import VectorStoreIndex
        from llama_index.core.schema import TextNode
        from tqdm import tqdm

        model = self.embed_model(ctx)
        t0 = time.perf_counter()
        nodes = [TextNode(id_=doc_id, text=text) for doc_id, text in passages]
        index = VectorStoreIndex(nodes, embed_model=model, show_progress=ctx.progress)
        retriever = index.as_retriever(similarity_top_k=k)
        t1 = time.perf_counter()
        run: Run = {}
        for qid, text in tqdm(queries.items(), desc="llamaindex queries", disable=not ctx.progress):
            run[qid] = {hit.node.node_id: float(hit.score) for hit in retriever.retrieve(text)}
        return {"run": run, "index_s": t1 - t0, "search_s": time.perf_counter() - t1}

    def card(self) -> RetrieverCard:
        artifacts = {"weights": self.resolved.weights_sha256} if self.resolved.weights_sha256 else {}
        if self.adapter_sha256:
            artifacts["adapter"] = self.adapter_sha256
        return RetrieverCard(
            name=self.name, kind=self.kind, impl_version=self.impl_version, model_id=self.resolved.model_id,
            model_revision=self.resolved.revision, artifacts=artifacts,
            params={**self.params.model_dump(mode="json"), "llama_index": versions()},
        )
