"""The retriever interface every plugin implements, and the dense (embed + exact search) base.

A retriever is built from its registry name and a params dict (validated by the class's
pydantic ``Params``), may be trained on a split, and returns a run {qid: {doc_id: score}}
holding at most k documents per query.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from benchmarks.context import RunContext
from benchmarks.errors import ConfigError
from benchmarks.types import Doc, Run, Split


class Params(BaseModel):
    """Base for retriever parameters: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


@dataclass(frozen=True)
class RetrieverCard:
    """Identity of a retriever as recorded in every result (cf. mteb ModelMeta)."""

    name: str  # registry name, e.g. "bge"
    kind: str  # dense | lexical | api | ...
    impl_version: str  # bump when a code change can change scores
    model_id: str | None = None
    model_revision: str | None = None  # HF commit sha where known; None for APIs
    artifacts: dict[str, str] = field(default_factory=dict)  # file -> sha256
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Retriever:
    """Subclass this and register it with ``@register("name")`` from ``retrievers``."""

    kind: ClassVar[str] = "other"
    impl_version: ClassVar[str] = "1"
    needs_training: ClassVar[bool] = False
    Params: ClassVar[type[Params]] = Params

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        self.name = name
        try:
            self.params = self.Params(**dict(params or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"retriever {name!r}: bad params: {problems}") from None

    def unavailable_reason(self) -> str | None:
        """Why this retriever cannot run here (e.g. no API key), or None. Checked before running."""
        return None

    def plan_problems(self, options: Any) -> list[str]:
        """Settings this row may not use with these run options; reported before any work."""
        return []

    def card(self) -> RetrieverCard:
        return RetrieverCard(
            name=self.name, kind=self.kind, impl_version=self.impl_version,
            params=self.params.model_dump(mode="json"),
        )

    def fit(self, train: Split, ctx: RunContext) -> dict[str, Any]:
        """Train on a split; returns what the record should say about training."""
        raise NotImplementedError(f"{type(self).__name__} does not train")

    def retrieve(self, corpus: Mapping[str, Doc], queries: Mapping[str, str], k: int, ctx: RunContext) -> Run:
        raise NotImplementedError


class DenseRetriever(Retriever):
    """Embeds queries and passages, then runs exact (or ANN) inner-product search.

    Subclasses implement ``fingerprint`` (everything that changes the vectors) and the two
    ``encode_*`` methods; embeddings go through the on-disk cache keyed by that fingerprint.
    """

    kind = "dense"

    def fingerprint(self) -> dict[str, Any]:
        raise NotImplementedError

    def encode_queries(self, texts: list[str], ctx: RunContext) -> np.ndarray:
        raise NotImplementedError

    def encode_passages(self, texts: list[str], ctx: RunContext) -> np.ndarray:
        raise NotImplementedError

    def passage_text(self, doc: Doc) -> str:
        return doc.full_text()

    encode_batch_size: int = 256  # texts per cache write; a killed run loses at most one batch

    def embed(self, side: str, texts: Sequence[str], ctx: RunContext) -> np.ndarray:
        from benchmarks.cache import EmbeddingCache

        encode = self.encode_queries if side == "query" else self.encode_passages
        cache = EmbeddingCache(ctx.cache_dir / "embeddings")
        fp = {**self.fingerprint(), "side": side}
        t0 = time.perf_counter()
        vectors = cache.embed(
            fp, texts, lambda batch: encode(batch, ctx), batch_size=self.encode_batch_size,
            progress=ctx.progress, desc="encode queries" if side == "query" else "encode passages",
        )
        ctx.add_stat("encode_s", time.perf_counter() - t0)
        ctx.add_stat("encoded_texts", cache.misses)
        ctx.add_stat("cached_texts", cache.hits)
        return vectors

    def retrieve(self, corpus: Mapping[str, Doc], queries: Mapping[str, str], k: int, ctx: RunContext) -> Run:
        from benchmarks.search import search_run

        doc_ids = list(corpus)
        qids = list(queries)
        doc_vecs = self.embed("passage", [self.passage_text(corpus[d]) for d in doc_ids], ctx)
        query_vecs = self.embed("query", [queries[q] for q in qids], ctx)
        t0 = time.perf_counter()
        run = search_run(query_vecs, doc_vecs, qids, doc_ids, k, ctx)
        ctx.add_stat("search_s", time.perf_counter() - t0)
        return run
