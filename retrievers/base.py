"""The retriever interface every plugin implements, and the dense (embed + exact search) base.

A retriever is built from its registry name and a params dict (validated by the class's
pydantic ``Params``), may be trained on a split, and returns a run {qid: {doc_id: score}}
holding at most k documents per query.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
from pydantic import ValidationError

from benchmarks.context import RunContext
from benchmarks.errors import ConfigError
from benchmarks.messages import clip, did_you_mean, quote
from benchmarks.types import Doc, Run, Split
from benchmarks.yaml_models import Strict


class Params(Strict):
    """Base for retriever parameters: unknown keys are an error, not silently ignored."""


class ParamsError(ConfigError):
    """Bad retriever params; ``problems`` holds (param path, message) so the planner can name
    each one's line in the suite file, ``valid`` the params the class takes."""

    def __init__(self, name: str, problems: list[tuple[tuple[Any, ...], str]], valid: list[str]) -> None:
        self.name, self.problems, self.valid = name, problems, valid
        listed = "; ".join(f"{'.'.join(map(str, loc)) or '(params)'}: {msg}" for loc, msg in problems)
        super().__init__(f"retriever {quote(name)}: bad params: {listed} ({self.valid_text()})")

    def valid_text(self) -> str:
        return f"valid params: {', '.join(self.valid)}" if self.valid else "it takes no params"


def params_problems(exc: ValidationError, valid: list[str]) -> list[tuple[tuple[Any, ...], str]]:
    out = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            hint = did_you_mean(str(loc[-1]), valid, n=1, show=repr, known=False)
            out.append((loc, "unknown param" + (f"; {hint}" if hint else "")))
        else:
            got = f" (got {quote(e['input'])})" if "input" in e else ""
            out.append((loc, f"{clip(e['msg'])}{got}"))
    return out


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
    needs_training: ClassVar[bool] = False  # rows of this class may train; trains() says per row
    Params: ClassVar[type[Params]] = Params
    # Named presets of params (``params: {recipe: name}``), see benchmarks/training/recipes.py.
    recipes: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        self.name = name
        given = dict(params or {})
        valid = [f.alias or n for n, f in self.Params.model_fields.items()] + (["recipe"] if self.recipes else [])
        self.recipe: dict[str, Any] | None = None  # the recipe's name and expansion, for the record
        if self.recipes:
            from benchmarks.training.recipes import UnknownRecipe, expand_recipe

            try:
                given, self.recipe = expand_recipe(self.recipes, given)
            except UnknownRecipe as exc:
                raise ParamsError(name, [(("recipe",), str(exc))], valid) from None
        try:
            self.params = self.Params(**given)
        except ValidationError as exc:
            raise ParamsError(name, params_problems(exc, valid), valid) from None

    def trains(self) -> bool:
        """Whether this row is fit on the train split before it retrieves (from its params; a
        plugin overrides this rather than changing ``needs_training`` per instance)."""
        return self.needs_training

    def unavailable_reason(self) -> str | None:
        """Why this retriever cannot run here (e.g. no API key), or None. Checked before running."""
        return None

    def plan_problems(self, options: Any) -> list[str]:
        """Problems with running this row under ``options`` (a RunOptions), found before any
        row runs; each one stops the whole run with exit 2. E.g. settings a suite may not make."""
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

    def record_fields(self) -> dict[str, Any]:
        """Fields the row's record gets beside the card, known once retrieve() ran (e.g. the
        inputs a fusion row consumed, the bytes per vector of a dense row)."""
        return {}


class DenseRetriever(Retriever):
    """Embeds queries and passages, then runs exact (or ANN) inner-product search.

    Subclasses implement ``fingerprint`` (everything that changes the vectors) and the two
    ``encode_*`` methods; the engine (benchmarks/encoding) runs them behind the run's cache.
    """

    kind = "dense"

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        from benchmarks.compress import split_params

        # truncate_dim / quantize / rescore, for every dense retriever: benchmarks/compress.py
        own, self.compression = split_params(name, params, self.Params)
        super().__init__(name, own)
        self._embedding: dict[str, Any] = {}

    def record_fields(self) -> dict[str, Any]:
        return {"embedding": self._embedding} if self._embedding else {}

    def fingerprint(self) -> dict[str, Any]:
        raise NotImplementedError

    def encode_queries(self, texts: list[str], ctx: RunContext) -> np.ndarray:
        raise NotImplementedError

    def encode_passages(self, texts: list[str], ctx: RunContext) -> np.ndarray:
        raise NotImplementedError

    def passage_text(self, doc: Doc) -> str:
        return doc.full_text()

    encode_batch_size: int = 256  # texts per cache write; a killed run loses at most one batch
    # Whether encode_* may run in other processes (worker pools, Ray actors): the retriever is
    # pickled there, so it must hold no open model, client or lock.
    parallel_encode: ClassVar[bool] = False

    def cache_fingerprint(self, side: str) -> dict[str, Any]:
        """The embedding cache's key for one side (benchmarks/encoding/engine.py)."""
        return {**self.fingerprint(), "side": side}

    def prepare_texts(self, side: str, texts: list[str], ctx: RunContext) -> list[str]:
        """The texts as the encoder receives them (they key the cache); default: as given."""
        return texts

    def after_cache(self, side: str, vectors: np.ndarray, ctx: RunContext) -> np.ndarray:
        """Applied to every vector, cached or new, before search; default: unchanged."""
        return vectors

    def retrieve(self, corpus: Mapping[str, Doc], queries: Mapping[str, str], k: int, ctx: RunContext) -> Run:
        from benchmarks.compress import compressed_search, embedding_record
        from benchmarks.encoding import embed

        doc_ids = list(corpus)
        qids = list(queries)
        doc_vecs = embed(self, "passage", [self.passage_text(corpus[d]) for d in doc_ids], ctx)
        query_vecs = embed(self, "query", [queries[q] for q in qids], ctx)
        t0 = time.perf_counter()
        run = compressed_search(query_vecs, doc_vecs, qids, doc_ids, k, ctx, self.compression)
        ctx.add_stat("search_s", time.perf_counter() - t0)
        self._embedding = embedding_record(self.compression, doc_vecs.shape[1], self.fingerprint())
        return run
