"""Exact top-k on a GPU (``--device cuda``), imported only when a run asks for one.

Two GPU paths give the CPU's exact result (canonical scores, lower index wins ties; see
benchmarks/search.py), so the choice is only about speed and what is installed:

* faiss's CUDA build (the ``gpu`` extra): ``GpuIndexFlatIP`` returns each query's top
  ``k + slack`` by float32 GPU scores; those are rescored canonically on the CPU, and a query is
  *certified* when its k-th canonical score beats, by the rigorous BLAS error bound, the
  (k+slack)-th GPU score, which bounds every passage faiss did not return. Uncertified queries
  (massive ties, near-duplicates) are searched again by the exact engine, so nothing is lost.
* otherwise torch on the CUDA device (``search._TorchEngine``: torch matmul + the same rescoring).

HNSW stays on the CPU either way: faiss has no GPU HNSW (its GPU graph index, CAGRA, is only in
the cuVS build), so ``search.ann`` with ``--device cuda`` builds and searches the graph on the CPU.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.errors import ConfigError
from benchmarks.search import _inputs, canonical_scores, error_bound, exact_topk

INSTALL = ("pip install 'retrieval-harness[gpu]' (faiss-gpu, CUDA 12; uninstall faiss-cpu first: both "
           "install the faiss module), or a CUDA build of torch")
_FAISS_GPU_MAX_K = 2048
_FLOAT16_OR_TF32 = 2.0 ** -8  # cuBLAS may round inputs to TF32; the bound assumes it always does


class GpuUnavailable(ConfigError):
    """--device cuda where neither faiss nor torch can reach a GPU."""


def faiss_gpu(faiss: Any = None) -> Any | None:
    """The faiss module if it is a CUDA build that sees a GPU, else None (faiss-cpu, no GPU)."""
    if faiss is None:
        try:
            import faiss
        except ImportError:
            return None
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        return None
    return faiss


def torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def faiss_flat_topk(q: np.ndarray, d: np.ndarray, k: int, faiss: Any, slack: int = 16,
                    device_index: int = 0, fallback: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Certified exact top-k with faiss's GPU flat index; ``fallback(q_subset)`` searches the
    uncertified queries (default: the exact engine on the same CUDA device)."""
    q, d = _inputs(q, d)  # the exact engine's checks: shapes, NaN, contiguous float32
    kk = max(0, min(k, len(d)))
    if kk == 0 or len(q) == 0:
        return np.empty((len(q), kk), np.float32), np.empty((len(q), kk), np.int64)
    fallback = fallback or (lambda qs: exact_topk(qs, d, kk, device=f"cuda:{device_index}"))
    fetch = min(len(d), kk + slack)
    if fetch > _FAISS_GPU_MAX_K:  # faiss's GPU k-selection stops at 2048
        return fallback(q)
    res = faiss.StandardGpuResources()
    config = faiss.GpuIndexFlatConfig()
    config.device = device_index
    index = faiss.GpuIndexFlatIP(res, d.shape[1], config)
    index.add(d)
    gpu_s, idx = index.search(q, fetch)
    idx = np.asarray(idx, np.int64)
    rows = np.repeat(np.arange(len(q)), fetch)
    canon = np.full(idx.shape, -np.inf, np.float32)
    found = idx >= 0
    canon[found] = canonical_scores(q, d, rows[found.ravel()], idx[found])
    # Sort each row's candidates by the exact tie rule (canonical desc, lower index; misses last).
    order = np.lexsort((np.where(found, idx, len(d)).ravel(), -canon.ravel(), rows)).reshape(len(q), fetch)
    order = order[:, :kk]
    top_s, top_i = canon.ravel()[order], idx.ravel()[order]
    if fetch == len(d):  # every passage was a candidate: nothing can be missing
        return top_s, top_i
    norms_q = np.sqrt(np.einsum("ij,ij->i", q, q, dtype=np.float64))
    dmax = float(np.sqrt(np.einsum("ij,ij->i", d, d, dtype=np.float64)).max())
    margin = error_bound(d.shape[1], _FLOAT16_OR_TF32) * norms_q * dmax
    # A passage faiss left out has GPU score <= the last fetched one, so canonical <= that + margin;
    # strictly below the k-th canonical score it cannot enter (nor win a tie on a lower index).
    bound = np.asarray(gpu_s, np.float64)[:, -1] + margin
    bad = np.flatnonzero(~(top_s[:, -1].astype(np.float64) > bound) | ~found.all(axis=1))
    if len(bad):
        top_s[bad], top_i[bad] = fallback(q[bad])
    return top_s, top_i


def gpu_exact_topk(queries: np.ndarray, docs: np.ndarray, k: int, device: str, *, faiss: Any = None,
                   cuda: bool | None = None, **chunks: Any) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k for a run on ``device`` ("cuda" or "cuda:N"): faiss GPU if installed, else torch."""
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    fa = faiss_gpu(faiss)
    if fa is not None:
        return faiss_flat_topk(queries, docs, k, fa, device_index=index)
    if cuda if cuda is not None else torch_cuda():
        return exact_topk(queries, docs, k, device=device, **chunks)
    raise GpuUnavailable(f"--device {device}: no GPU is visible to faiss or torch here. For GPU search: "
                         f"{INSTALL}; or run with --device cpu")
