"""What the runner hands to a retriever: cache, device, seed, progress and search settings."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir


def cache_root() -> Path:
    """Embedding and artifact cache: ``$HARNESS_CACHE_DIR``, else the user's cache dir."""
    env = os.environ.get("HARNESS_CACHE_DIR")
    return Path(env) if env else Path(user_cache_dir("retrieval-harness"))


def gpu_device_nodes() -> bool:
    """Whether this machine exposes a GPU driver at all: CUDA needs /dev/nvidiactl (or /dev/dxg
    under WSL2). Without one, CUDA cannot be available, so torch need not be imported to say so."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))


@dataclass
class SearchSettings:
    """How top-k is computed. ``ann`` is None for exact search, else faiss HNSW parameters."""

    query_chunk: int = 4096
    doc_chunk: int = 16384  # measured (benchmarks/perf/exact_search.py): less CPU than 65536 on 2 cores
    ann: dict[str, int] | None = None  # {"M": 32, "ef_construction": 200, "ef_search": 128}
    protocol: str | None = None  # "dalm": DALM's own search (benchmarks/dalm_eval.py); see benchmarks/protocol.py


@dataclass
class RunContext:
    cache_dir: Path = field(default_factory=cache_root)
    device: str = "auto"  # cpu | cuda | auto
    seed: int = 0
    progress: bool = True
    search: SearchSettings = field(default_factory=SearchSettings)
    retrain: bool = False
    # Filled by the runner/retrievers for the record: e.g. {"encode_s": 1.2, "encoded_texts": 10}
    stats: dict[str, float] = field(default_factory=dict)
    # Finished rows of this dataset that a later row consumes (fusion): row -> {"run", "run_sha256", ...}
    runs: dict[str, Any] = field(default_factory=dict)
    # Where missing vectors are encoded (benchmarks/encoding): worker processes here, or Ray actors
    # (a local Ray, or the cluster at $RAY_ADDRESS). Never in a fingerprint: the vectors are the same.
    workers: int = 1
    ray: bool = False
    # The run's one embedding cache (its index is read once, not per call); made on first use.
    embeddings: Any = None

    def embedding_cache(self) -> Any:
        root = self.cache_dir / "embeddings"
        if self.embeddings is None or self.embeddings.root != root:
            from benchmarks.encoding.cache import EmbeddingCache

            self.embeddings = EmbeddingCache(root)
        return self.embeddings

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        if not gpu_device_nodes():
            return "cpu"  # no GPU driver here: decided without importing torch (~1.3 s) on warm runs
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"

    def add_stat(self, key: str, value: float) -> None:
        self.stats[key] = self.stats.get(key, 0.0) + value
