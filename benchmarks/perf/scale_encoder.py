"""``scale-hash``: a feature-hashed bag of words as a dense retriever, for scale runs only.

Encoding 400,000 texts with MiniLM takes about an hour on the 2-core dev box; this encoder does it
in seconds, so every other phase (load, dedupe, holdout, exact search, metrics, CIs, paired tests,
records, leaderboard) can be timed at 200k rows. Its vectors are 384-dimensional unit vectors like
MiniLM's, so search costs what it would with MiniLM. Its scores are not a quality result: rows that
use it say ``scale-hash`` in their retriever card.

Registered by ``benchmarks.perf.scale`` (``register_scale_encoder``), not in ``retrievers/``, so it
never appears among the harness's retrievers outside a scale run.
"""
from __future__ import annotations

import re
import zlib

import numpy as np

from retrievers.base import DenseRetriever, Params

NAME = "scale-hash"
_WORDS = re.compile(r"\w+")


class ScaleHashParams(Params):
    dim: int = 384


class ScaleHashRetriever(DenseRetriever):
    """Feature-hashed bag of words (crc32 of casefolded \\w+ words, sign-hashed): scale runs only."""

    Params = ScaleHashParams
    encode_batch_size = 8192  # cheap to encode: bigger cache writes

    def fingerprint(self) -> dict[str, object]:
        return {"encoder": NAME, "version": 3, "dim": self.params.dim}

    def encode_queries(self, texts: list[str], ctx: object) -> np.ndarray:
        dim = self.params.dim
        memo: dict[str, int] = {}  # crc32 once per distinct word of the batch
        rows: list[int] = []
        cols: list[int] = []
        for i, text in enumerate(texts):
            words = _WORDS.findall(text.casefold())
            rows.extend([i] * len(words))
            # zlib.crc32, not hash(): str hashes are salted per process, and the cache is shared.
            cols.extend(memo[w] if w in memo else memo.setdefault(w, zlib.crc32(w.encode())) for w in words)
        h = np.asarray(cols, dtype=np.int64)
        sign = np.where(h & (1 << 31), -1.0, 1.0).astype(np.float32)  # so collisions cancel on average
        out = np.zeros((len(texts), dim), np.float32)
        np.add.at(out, (np.asarray(rows, dtype=np.int64), h % dim), sign)
        out = np.sign(out) * np.log1p(np.abs(out))  # sublinear tf: "the" x 12 must not drown the topic words
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    encode_passages = encode_queries


class ScaleHashFitRetriever(ScaleHashRetriever):
    """scale-hash through the training path: trains nothing, so a scale run times what the harness
    does around training (train split load and holdout, leakage check) without hours of MiniLM."""

    needs_training = True

    def fit(self, train: object, ctx: object) -> dict[str, object]:
        return {"steps": 0, "note": "scale-hash-fit trains nothing (scale run)"}


def register_scale_encoder() -> None:
    from retrievers import RETRIEVERS

    for name, cls in ((NAME, "ScaleHashRetriever"), (f"{NAME}-fit", "ScaleHashFitRetriever")):
        if name not in RETRIEVERS.names():
            RETRIEVERS.add_lazy(name, f"{__name__}:{cls}")
