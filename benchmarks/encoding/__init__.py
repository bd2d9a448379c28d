"""Encoding, owned by the engine: the run's one embedding cache, the plugins' ``encode_*`` behind it,
and where batches are encoded (here, in worker processes, or on Ray). See engine.py."""
from benchmarks.encoding.engine import embed

__all__ = ["embed"]
