"""Time exact_topk on random unit vectors; print queries/s, wall time and peak RSS.

    python -m benchmarks.perf.exact_search --n-queries 200000 --n-docs 200000 --dim 384 --k 10

Goal on the 2-core dev box: 200k x 200k x 384 in under 10 minutes and 4 GiB peak RSS.
Peak RSS is the kernel's high-water mark (VmHWM), reset just before the search so data
generation does not count; tracemalloc would miss BLAS and numpy buffers. A naive reference
(full score matrix + argsort per query) runs afterwards on a small subset for the ratio.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.context import SearchSettings  # noqa: E402
from benchmarks.search import exact_topk  # noqa: E402

GiB = 1024 ** 3


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset VmHWM (Linux >= 4.0: writing 5 to clear_refs); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    hwm = _status_kib("VmHWM")
    return hwm * 1024 if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def unit_vectors(n: int, dim: int, rng: np.random.Generator, step: int = 65536) -> np.ndarray:
    """Filled in place, chunk by chunk, so generation never holds a float64 copy."""
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, step):
        block = out[s:s + step]
        rng.standard_normal(out=block, dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def naive_topk(q: np.ndarray, d: np.ndarray, k: int, batch: int = 250) -> np.ndarray:
    """The textbook way: whole score rows, full stable argsort (batched only to fit in RAM)."""
    out = np.empty((len(q), k), np.int64)
    for s in range(0, len(q), batch):
        scores = q[s:s + batch] @ d.T
        out[s:s + batch] = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return out


def main(argv: list[str] | None = None) -> None:
    defaults = SearchSettings()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-queries", type=int, default=200_000)
    p.add_argument("--n-docs", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--query-chunk", type=int, default=defaults.query_chunk)
    p.add_argument("--doc-chunk", type=int, default=defaults.doc_chunk)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reference-queries", type=int, default=2000, help="0 skips the naive reference")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)

    rng = np.random.default_rng(a.seed)
    docs = unit_vectors(a.n_docs, a.dim, rng)
    queries = unit_vectors(a.n_queries, a.dim, rng)
    base = _status_kib("VmRSS") or 0
    exact_peak = reset_peak()
    print(f"exact_topk: {a.n_queries} queries x {a.n_docs} docs x dim {a.dim}, k={a.k}, "
          f"query_chunk={a.query_chunk}, doc_chunk={a.doc_chunk}, device={a.device}", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    _, idx = exact_topk(queries, docs, a.k, query_chunk=a.query_chunk, doc_chunk=a.doc_chunk,
                        progress=True, device=a.device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_bytes()
    gflops = 2.0 * a.n_queries * a.n_docs * a.dim / wall / 1e9
    print(f"wall {wall:.1f} s | {a.n_queries / wall:,.0f} queries/s | {gflops:.1f} effective GFLOP/s")
    # On a shared machine wall time depends on the neighbours; CPU seconds (all threads) less so.
    print(f"process CPU {cpu:.1f} s (all threads; {cpu / wall:.2f} cores busy on average, "
          f"{os.cpu_count()} available; load average {os.getloadavg()[0]:.1f})")
    print(f"peak RSS {peak / GiB:.2f} GiB ({'reset before search' if exact_peak else 'process lifetime'}); "
          f"inputs held before search {base / 2**20:.2f} GiB; "
          f"search overhead {(peak / 1024 - base) / 2**20:.2f} GiB")

    n_ref = min(a.reference_queries, a.n_queries)
    if n_ref:
        t0 = time.perf_counter()
        ref = naive_topk(queries[:n_ref], docs, min(a.k, a.n_docs))
        ref_wall = time.perf_counter() - t0
        ref_qps = n_ref / ref_wall
        same = np.mean([set(x) == set(y) for x, y in zip(ref.tolist(), idx[:n_ref].tolist())])
        print(f"naive argsort reference on {n_ref} queries: {ref_qps:,.0f} queries/s "
              f"(exact_topk is {a.n_queries / wall / ref_qps:.1f}x faster); same top-k sets: {same:.4f}")


if __name__ == "__main__":
    main()
