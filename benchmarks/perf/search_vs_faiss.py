"""Exact search side by side with faiss IndexFlatIP: same vectors, same process, same k.

    python -m benchmarks.perf.search_vs_faiss --n-queries 20000 --n-docs 200000 --dim 384 --k 10

Prints queries/s of each and the ratio ours / faiss, plus how often the two agree on the top-k
ids (faiss's float32 BLAS scores break near-ties arbitrarily; ours are canonical, see
benchmarks/search.py, so a few differing ids on random data are expected, not an error).
With a CUDA device (torch), the GPU path of ``exact_topk`` (torch matmul + the same canonical
rescoring) is timed too, and with faiss's CUDA build (the ``gpu`` extra) its GPU flat index
certified by the same rescoring (benchmarks/gpu_search.py); both must return exactly the CPU
result. Random unit vectors, seeded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.ann import recall_against  # noqa: E402
from benchmarks.search import exact_topk  # noqa: E402


def unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def timed(fn):  # (seconds, result)
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def faiss_flat_ip(q: np.ndarray, d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(d.shape[1])
    index.add(d)
    return index.search(q, k)


def gpu_device() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else None


def gpu_faiss():
    from benchmarks.gpu_search import faiss_gpu

    return faiss_gpu()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-queries", type=int, default=20000)
    ap.add_argument("--n-docs", type=int, default=200000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="timed runs of each; the fastest counts")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    q, d = unit_vectors(args.n_queries, args.dim, rng), unit_vectors(args.n_docs, args.dim, rng)

    ours_s, faiss_s = [], []
    for _ in range(args.repeats):  # interleaved, so load on a shared machine hits both alike
        s, (_, ours_idx) = timed(lambda: exact_topk(q, d, args.k))
        ours_s.append(s)
        s, (_, faiss_idx) = timed(lambda: faiss_flat_ip(q, d, args.k))
        faiss_s.append(s)
    flops = 2.0 * args.n_queries * args.n_docs * args.dim
    out = {
        "shape": {"queries": args.n_queries, "docs": args.n_docs, "dim": args.dim, "k": args.k},
        "ours_s": min(ours_s), "faiss_s": min(faiss_s),
        "ours_qps": args.n_queries / min(ours_s), "faiss_qps": args.n_queries / min(faiss_s),
        "ours_gflops": flops / min(ours_s) / 1e9,
        "ratio_ours_over_faiss": min(faiss_s) / min(ours_s),  # > 1: ours is faster
        "topk_agreement": recall_against(faiss_idx, ours_idx),
    }
    device = gpu_device()
    if device is not None:
        exact_topk(q[:256], d, args.k, device=device)  # warm-up: CUDA context and kernels
        s, (_, gpu_idx) = timed(lambda: exact_topk(q, d, args.k, device=device))
        out.update(gpu_s=s, gpu_qps=args.n_queries / s, gpu_identical_to_cpu=bool((gpu_idx == ours_idx).all()))
    if device is not None and (fa := gpu_faiss()) is not None:  # the gpu extra: faiss's CUDA build
        from benchmarks.gpu_search import faiss_flat_topk

        faiss_flat_topk(q[:256], d, args.k, fa)  # warm-up
        s, (_, fg_idx) = timed(lambda: faiss_flat_topk(q, d, args.k, fa))
        out.update(faiss_gpu_s=s, faiss_gpu_qps=args.n_queries / s,
                   faiss_gpu_identical_to_cpu=bool((fg_idx == ours_idx).all()))
    print(f"{args.n_queries:,} x {args.n_docs:,} x {args.dim}, k={args.k}")
    print(f"  ours (exact, canonical scores): {out['ours_s']:.2f} s, {out['ours_qps']:,.0f} queries/s, "
          f"{out['ours_gflops']:.0f} GFLOP/s")
    print(f"  faiss IndexFlatIP:              {out['faiss_s']:.2f} s, {out['faiss_qps']:,.0f} queries/s")
    print(f"  ratio ours / faiss (speed):     {out['ratio_ours_over_faiss']:.2f}x; "
          f"top-{args.k} id agreement {out['topk_agreement']:.6f}")
    if device is not None:
        print(f"  GPU ({device}): {out['gpu_s']:.2f} s, {out['gpu_qps']:,.0f} queries/s, "
              f"identical to CPU: {out['gpu_identical_to_cpu']}")
    if "faiss_gpu_s" in out:
        print(f"  faiss GPU flat + canonical rescoring: {out['faiss_gpu_s']:.2f} s, "
              f"{out['faiss_gpu_qps']:,.0f} queries/s, identical to CPU: {out['faiss_gpu_identical_to_cpu']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    same = [out[k] for k in ("gpu_identical_to_cpu", "faiss_gpu_identical_to_cpu") if k in out]
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())
