"""Compressed embeddings: Matryoshka truncation, int8 and binary quantization, float rescoring.

Row params of any dense retriever (``retrievers.base.DenseRetriever``)::

    - {name: minilm-l6-binary, use: bge, params: {model: minilm-l6, quantize: binary, rescore: 200}}

Compression is applied *after* the embedding cache: the float vectors are the uncompressed row's
cached ones (the cache key does not change with these params), so a compressed row encodes nothing.

* ``truncate_dim: N``: keep the first N dimensions and L2-renormalise (zero vectors stay zero).
* ``quantize: int8``: sentence-transformers' ``quantize_embeddings(x, "int8", calibration_embeddings=
  corpus)``: per dimension, 256 buckets between the min and max over the *corpus* embeddings;
  queries use the same buckets (clipped). Scored by the int8 inner product, as an int8 index
  (usearch ``i8``/``ip``) does: integer arithmetic, so exact.
* ``quantize: binary``: one bit per dimension (x > 0), as ``quantize_embeddings(x, "ubinary")``.
  Scored by the inner product of the ±1 vectors, which is dim - 2 * Hamming distance: exact.
* ``rescore: N``: the top max(N, top_k) candidates by the quantized score are re-ranked by the float
  query · float passage score (the truncated float vectors, canonical scores as in exact search),
  and the best top_k kept. sentence-transformers' ``semantic_search_*`` rescore against the
  dequantized int8 / unpacked 0-1 passage vectors instead; rescoring from float passages is the
  "keep the float vectors on disk, fetch only the candidates" setup, and the bytes per vector
  reported are those the index holds in memory.

Ties everywhere follow the harness rule (score descending, then doc id descending), because the
search goes through ``benchmarks.search.search_run``.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from benchmarks.context import RunContext
from benchmarks.types import Run
from benchmarks.yaml_models import Strict

KEYS = ("truncate_dim", "quantize", "rescore")
FLOAT_BYTES = 4  # float32


class CompressionParams(Strict):
    truncate_dim: int | None = Field(default=None, ge=1)
    quantize: Literal["int8", "binary"] | None = None
    rescore: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _rescore_needs_quantize(self) -> "CompressionParams":
        if self.rescore is not None and self.quantize is None:
            raise ValueError("rescore re-ranks quantized candidates by the float score: set quantize too")
        return self

    @property
    def active(self) -> bool:
        return self.truncate_dim is not None or self.quantize is not None


def truncate(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    """The first ``dim`` dimensions, L2-renormalised (Matryoshka); unchanged when dim is None."""
    v = np.asarray(vectors, dtype=np.float32)
    if dim is None:
        return v
    if dim > v.shape[1]:
        raise ValueError(f"truncate_dim {dim} is larger than the embedding dimension {v.shape[1]}")
    v = v[:, :dim].astype(np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0).astype(np.float32)


def int8_ranges(corpus: np.ndarray) -> np.ndarray:
    """[2, dim]: per-dimension min and max over the corpus embeddings (the calibration set)."""
    c = np.asarray(corpus, dtype=np.float32)
    if len(c) == 0:
        return np.zeros((2, c.shape[1]), np.float32)
    return np.vstack((c.min(axis=0), c.max(axis=0)))


def quantize_int8(vectors: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """int8 codes: floor((x - min) / step) clipped to 0..255, minus 128; step = (max - min) / 255
    (1 where max == min). float32 arithmetic, as sentence-transformers computes it."""
    x = np.asarray(vectors, dtype=np.float32)
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    return (np.clip(np.floor((x - starts) / steps), 0, 255) - 128).astype(np.int8)


def quantize_binary(vectors: np.ndarray) -> np.ndarray:
    """Packed bits (x > 0), 8 dimensions per byte, the last byte zero-padded (numpy packbits)."""
    return np.packbits(np.asarray(vectors) > 0, axis=-1)


def signs(vectors: np.ndarray) -> np.ndarray:
    """±1 float32 vectors of the bits: their inner product is dim - 2 * Hamming distance."""
    return np.where(np.asarray(vectors) > 0, 1.0, -1.0).astype(np.float32)


def bytes_per_vector(dim: int, quantize: str | None) -> int:
    """Bytes one stored vector takes: float32 4 * dim, int8 dim, binary ceil(dim / 8)."""
    if quantize == "int8":
        return dim
    if quantize == "binary":
        return math.ceil(dim / 8)
    return FLOAT_BYTES * dim


def search_vectors(queries: np.ndarray, docs: np.ndarray, quantize: str) -> tuple[np.ndarray, np.ndarray]:
    """float32 matrices whose inner products are the quantized scores, exactly (small integers)."""
    if quantize == "int8":
        ranges = int8_ranges(docs)
        return (quantize_int8(queries, ranges).astype(np.float32),
                quantize_int8(docs, ranges).astype(np.float32))
    if quantize == "binary":
        return signs(queries), signs(docs)
    raise ValueError(f"unknown quantize {quantize!r}")


def rescore(candidates: Run, queries: np.ndarray, docs: np.ndarray, qids: list[str], doc_ids: list[str],
            k: int) -> Run:
    """Each query's candidates re-ranked by the canonical float score; the best k kept."""
    from benchmarks.fusion import ranked
    from benchmarks.search import canonical_scores

    q = np.ascontiguousarray(queries, dtype=np.float32)
    d = np.ascontiguousarray(docs, dtype=np.float32)
    doc_index = {doc: i for i, doc in enumerate(doc_ids)}
    pairs = [(qi, doc) for qi, qid in enumerate(qids) for doc in candidates.get(qid, {})]
    qi = np.array([p[0] for p in pairs], np.int64)
    di = np.array([doc_index[p[1]] for p in pairs], np.int64)
    values = canonical_scores(q, d, qi, di).tolist() if pairs else []
    scored: dict[str, dict[str, float]] = {qid: {} for qid in qids}
    for (row, doc), value in zip(pairs, values):
        scored[qids[row]][doc] = value
    return {qid: {doc: scores[doc] for doc in ranked(scores)[:k]} for qid, scores in scored.items()}


def compressed_search(query_vecs: np.ndarray, doc_vecs: np.ndarray, qids: list[str], doc_ids: list[str],
                      k: int, ctx: RunContext, c: CompressionParams) -> Run:
    """The run of the compressed vectors (see the module docstring); plain search when c is inactive."""
    from benchmarks.search import search_run

    q, d = truncate(query_vecs, c.truncate_dim), truncate(doc_vecs, c.truncate_dim)
    if c.quantize is None:
        return search_run(q, d, qids, doc_ids, k, ctx)
    qs, ds = search_vectors(q, d, c.quantize)
    depth = k if c.rescore is None else max(c.rescore, k)
    run = search_run(qs, ds, qids, doc_ids, depth, ctx)
    if c.rescore is None:
        return run
    return rescore(run, q, d, qids, doc_ids, k)


def embedding_record(c: CompressionParams, full_dim: int, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """What a dense row's record says about its vectors (``record["embedding"]``): the cache
    fingerprint's hash (rows with the same one share float vectors), dimensions and bytes."""
    from benchmarks.encoding.cache import fingerprint_key

    dim = c.truncate_dim or full_dim
    out: dict[str, Any] = {
        "fingerprint_sha256": fingerprint_key(fingerprint), "dim": full_dim,
        "bytes_per_vector": bytes_per_vector(dim, c.quantize),
        "float_bytes_per_vector": bytes_per_vector(full_dim, None),
        "compression": c.model_dump() if c.active else None,
    }
    if c.active:
        out["compression"]["stored_dim"] = dim
        if c.quantize == "int8":
            out["compression"]["int8_calibration"] = "per-dimension min/max of the corpus embeddings"
        if c.rescore is not None:
            out["compression"]["rescored_with"] = "float query · float passages, top max(rescore, top_k)"
    return out


def split_params(name: str, params: Any, own: type[BaseModel]) -> tuple[dict[str, Any], CompressionParams]:
    """(the retriever's own params, its compression params): compression keys are taken out before
    the retriever's Params see them, so every dense retriever accepts them and none stores them."""
    from pydantic import ValidationError

    from retrievers.base import ParamsError, params_problems

    given = dict(params or {})
    picked = {key: given.pop(key) for key in KEYS if key in given and key not in own.model_fields}
    try:
        return given, CompressionParams(**picked)
    except ValidationError as exc:
        valid = [*(f.alias or n for n, f in own.model_fields.items()), *KEYS]
        raise ParamsError(name, params_problems(exc, valid), valid) from None
