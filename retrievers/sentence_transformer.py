"""Sentence-transformers bi-encoders (BGE, MiniLM, ...) with exact inner-product search."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import model_validator

from benchmarks.artifacts import eval_only
from benchmarks.context import RunContext
from benchmarks.errors import ConfigError
from retrievers import register
from retrievers.base import DenseRetriever, Params, RetrieverCard
from retrievers.encoder_backends import BACKENDS, accelerate, check_backend, export_dir, fingerprint_fields
from retrievers.model_resolution import ALIASES, resolve_model

# Query instructions, verbatim from their sources (see shared/docs/retrievers.md, section 2).
INSTRUCTIONS = {
    "none": "",
    # BAAI model card wording; passages get no instruction.
    "bge": "Represent this sentence for searching relevant passages: ",
    # LlamaIndex's wording ("question"), which it joins to the query with one more space.
    "llamaindex": "Represent this question for searching relevant passages:  ",
}


class EncoderParams(Params):
    # eval_only: how vectors are computed at evaluation, never what a trainer learns (trainers that
    # start from these vectors put them in their key through the base model's fingerprint).
    model: str = "minilm-l6"
    instruction: str = "none"  # none | bge | llamaindex | any literal prefix text
    pooling: Literal["model", "cls", "mean"] = "model"  # "model": what the model folder says
    normalize: bool = eval_only(True)
    max_seq_length: int | None = eval_only(None)  # None: the model's own limit
    batch_size: int = eval_only(32)
    # Device is left out of keys on purpose, as in the embedding fingerprint: float noise only.
    device: Literal["auto", "cpu", "cuda"] | None = eval_only(None)  # None: the run's --device
    dtype: Literal["float32", "float16", "bfloat16"] = eval_only("float32")


class BiEncoderParams(EncoderParams):
    """The plain rows' params: EncoderParams plus the runtime of the transformer body (the
    trainers subclass EncoderParams and encode with torch only)."""

    # eval_only: the runtime changes how vectors are computed, never what is trained; it is in
    # the embedding fingerprint (retrievers/encoder_backends.py), except "torch", so keys stay.
    backend: Literal[BACKENDS] = eval_only("torch")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _backend_runs_here(self) -> "BiEncoderParams":
        if self.backend != "torch" and (self.device == "cuda" or self.dtype != "float32"):
            raise ValueError(f"backend {self.backend!r} runs on the CPU in float32: "
                             "leave device and dtype unset, or use backend: torch")
        return self


_MODELS: dict[tuple[Any, ...], Any] = {}


def load_encoder(p: EncoderParams, device: str, load_path: str, cache_dir: Path | None = None,
                 identity: dict[str, Any] | None = None) -> Any:
    """Load (once per process) a SentenceTransformer configured by the params; with a non-torch
    ``backend`` its body runs on an export cached under ``cache_dir`` (keyed by ``identity``)."""
    backend = getattr(p, "backend", "torch")
    key = (load_path, device, p.dtype, p.pooling, p.max_seq_length, backend)
    if key not in _MODELS:
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        try:  # sentence-transformers >= 6 moved the modules; older releases keep them in .models
            from sentence_transformers.sentence_transformer.modules import Pooling
        except ImportError:
            from sentence_transformers.models import Pooling

        # Its per-tensor "Loading weights" bar is noise next to our encode bar.
        transformers.utils.logging.disable_progress_bar()

        try:
            model = SentenceTransformer(load_path, device=device)
        except OSError as exc:
            aliases = ", ".join(sorted(ALIASES))
            raise RuntimeError(
                f"cannot load model {load_path!r}: it is not an alias ({aliases}), not a local folder, "
                f"and not downloadable or in the Hugging Face cache here ({str(exc).splitlines()[0]})"
            ) from exc
        if p.pooling != "model":
            for idx, module in enumerate(model):
                if isinstance(module, Pooling):
                    model[idx] = Pooling(module.get_embedding_dimension(), pooling_mode=p.pooling)
        if p.max_seq_length is not None:
            model.max_seq_length = p.max_seq_length
        model.to(getattr(torch, p.dtype))
        model.eval()
        if backend != "torch":
            from benchmarks.context import cache_root

            folder = export_dir(cache_dir or cache_root(), identity or {"model_id": load_path}, backend)
            accelerate(model, backend, folder)
        _MODELS[key] = model
    return _MODELS[key]


@register("bge", "sentence-transformer")
class SentenceTransformerRetriever(DenseRetriever):
    """Bi-encoder from sentence-transformers (alias, local folder or hub id), exact search."""

    impl_version = "1"
    Params = BiEncoderParams
    parallel_encode = True  # holds a model name and resolved paths; the model is loaded per process

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self.resolved = resolve_model(self.params.model)

    @property
    def query_prefix(self) -> str:
        return INSTRUCTIONS.get(self.params.instruction, self.params.instruction)

    def plan_problems(self, options: Any) -> list[str]:
        try:
            check_backend(self._backend)
        except ConfigError as exc:
            return [str(exc)]
        return []

    @property
    def _backend(self) -> str:
        return getattr(self.params, "backend", "torch")  # subclasses' params have no backend

    def _identity(self) -> dict[str, Any]:
        r = self.resolved
        return {"model_id": r.model_id, "revision": r.revision, "weights_sha256": r.weights_sha256}

    def _device(self, ctx: RunContext) -> str:
        if self._backend != "torch":
            return "cpu"  # the exported body runs on the CPU; torch only tokenises and pools
        if self.params.device in (None, "auto"):
            return ctx.resolved_device()
        return self.params.device

    def _model(self, ctx: RunContext) -> Any:
        return load_encoder(self.params, self._device(ctx), self.resolved.load_path,
                            ctx.cache_dir, self._identity())

    def fingerprint(self) -> dict[str, Any]:
        # Device is left out on purpose: CPU and GPU vectors differ only by float noise.
        p = self.params
        return {
            "encoder": "sentence-transformers", "model_id": self.resolved.model_id,
            "revision": self.resolved.revision, "weights_sha256": self.resolved.weights_sha256,
            "pooling": p.pooling, "max_seq_length": p.max_seq_length, "normalize": p.normalize,
            "dtype": p.dtype, "query_prefix": self.query_prefix, "impl": self.impl_version,
            **fingerprint_fields(self._backend),
        }

    def card(self) -> RetrieverCard:
        artifacts = {"weights": self.resolved.weights_sha256} if self.resolved.weights_sha256 else {}
        return RetrieverCard(
            name=self.name, kind=self.kind, impl_version=self.impl_version,
            model_id=self.resolved.model_id, model_revision=self.resolved.revision,
            artifacts=artifacts,
            params={**self._card_params(), "query_prefix": self.query_prefix},
        )

    def _card_params(self) -> dict[str, Any]:
        params = self.params.model_dump(mode="json")
        if params.get("backend") == "torch":  # the default stays out, so existing cards are unchanged
            del params["backend"]
        return params

    def _encode(self, texts: list[str], ctx: RunContext, prefix: str) -> np.ndarray:
        vectors = self._model(ctx).encode(
            [prefix + t for t in texts], batch_size=self.params.batch_size,
            normalize_embeddings=self.params.normalize, convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str], ctx: RunContext) -> np.ndarray:
        return self._encode(texts, ctx, self.query_prefix)

    def encode_passages(self, texts: list[str], ctx: RunContext) -> np.ndarray:
        return self._encode(texts, ctx, "")
