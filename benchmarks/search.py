"""Top-k inner-product search: exact (blocked, deterministic ties), and the run builder that
dispatches to approximate search (``benchmarks.ann``) or a protocol's own search.

Why scores are recomputed: float32 BLAS rounds a dot product differently depending on where
the pair falls in the kernel's tiling (measured with OpenBLAS here: copies of one doc vector
got different scores in different columns and chunks), so ties -- and hence rankings --
would depend on chunk sizes. BLAS scores are therefore only a *filter*. Every reported score
is "canonical": float32 products summed in float64 in dimension order, rounded once to
float32, which depends on the two vectors alone (so also CPU == GPU). A rigorous bound on
|BLAS - canonical| keeps the filter from dropping any pair that can still reach the top k.
Ranking: canonical score descending, then doc index ascending.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from tqdm import tqdm

from benchmarks.context import RunContext

_SAMPLE = 4096  # columns sampled from a first block to get a starting threshold cheaply
_GROUP = 1 << 22  # max candidates handled at once (bounds memory when scores are massively tied)
_RESCORE = 1 << 22  # max floats per operand gathered at once when rescoring


def _inputs(queries: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C-contiguous float32 matrices of one dim; NaN would make every comparison false."""
    q, d = (np.ascontiguousarray(x, dtype=np.float32) for x in (queries, docs))
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"need 2-D queries and docs of one dimension, got {q.shape} and {d.shape}")
    if not (np.isfinite(q).all() and np.isfinite(d).all()):
        raise ValueError("queries or docs contain NaN or infinite values")
    return q, d


def _row_norms(a: np.ndarray, step: int = 8192) -> np.ndarray:
    """float64 L2 norms, chunked so no float64 copy of the whole matrix is made."""
    out = np.empty(len(a), np.float64)
    for s in range(0, len(a), step):
        out[s:s + step] = np.sqrt(np.einsum("ij,ij->i", a[s:s + step], a[s:s + step], dtype=np.float64))
    return out


def canonical_scores(queries: np.ndarray, docs: np.ndarray, qi: np.ndarray, di: np.ndarray) -> np.ndarray:
    """float32(sum_j q_j * d_j in float64, j ascending) for each pair (qi[n], di[n]). Products of
    float32s are exact in float64 and an accumulate is the sequential recurrence (a reduce may
    reorder), so the value depends on the two vectors alone, never on their positions."""
    dim = queries.shape[1]
    out = np.zeros(len(qi), np.float32)
    if dim == 0:
        return out
    step = max(1, _RESCORE // dim)
    for s in range(0, len(qi), step):
        p = queries[qi[s:s + step]].astype(np.float64)
        p *= docs[di[s:s + step]]
        out[s:s + step] = np.add.accumulate(p, axis=1)[:, -1]
    return out


class _NumpyEngine:
    """CPU. Measured on the 2-core box: OpenBLAS sgemm ~150 GFLOP/s vs torch ~125, and numpy's
    compare / flatnonzero passes 2-5x faster than torch's."""

    input_rounding = 0.0  # full float32 inputs

    def __init__(self, queries: np.ndarray, docs: np.ndarray, qc: int, dc: int) -> None:
        self.q, self.d = queries, docs
        size = min(qc, len(queries)) * min(dc, len(docs))  # reused: the only O(qc * dc) memory
        self.buf, self.mask = np.empty(size, np.float32), np.empty(size, bool)

    def scores(self, q0: int, q1: int, d0: int, d1: int) -> np.ndarray:
        s = self.buf[:(q1 - q0) * (d1 - d0)].reshape(q1 - q0, d1 - d0)
        return np.matmul(self.q[q0:q1], self.d[d0:d1].T, out=s)

    def sample_kth(self, s: np.ndarray, k: int, cols: list[slice]) -> np.ndarray:
        smp = np.concatenate([s[:, c] for c in cols], axis=1)
        return np.partition(smp, smp.shape[1] - k, axis=1)[:, smp.shape[1] - k]

    def filter(self, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, int]:
        m = self.mask[:s.size].reshape(s.shape)
        np.greater(s, t[:, None], out=m)
        return m, int(np.count_nonzero(m))

    def row_counts(self, m: np.ndarray) -> np.ndarray:
        return np.count_nonzero(m, axis=1)

    def candidates(self, s, m, r0: int, r1: int):
        flat = np.flatnonzero(m[r0:r1])
        rows, cols = np.divmod(flat, s.shape[1])
        return rows, cols, s[r0:r1].ravel()[flat]


class _TorchEngine:
    """GPU (any torch device): matmul and filter run there; the few candidates come back to the
    CPU for the shared rescoring and merging, so CUDA and CPU results are identical."""

    def __init__(self, queries: np.ndarray, docs: np.ndarray, device: str) -> None:
        import torch

        self.torch = torch
        self.q = torch.from_numpy(queries).to(device)
        self.d = torch.from_numpy(docs).to(device)
        # TF32/bf16 matmuls round the inputs: widen the error bound rather than flip a global flag.
        reduced = torch.get_float32_matmul_precision() != "highest"
        mm = torch.backends.cuda.matmul
        reduced |= self.q.device.type == "cuda" and (
            bool(mm.allow_tf32) or getattr(mm, "fp32_precision", "") == "tf32")
        self.input_rounding = 2.0 ** -8 if reduced else 0.0

    def scores(self, q0, q1, d0, d1):
        return self.q[q0:q1] @ self.d[d0:d1].T

    def sample_kth(self, s, k, cols):
        smp = self.torch.cat([s[:, c] for c in cols], dim=1)
        return self.torch.topk(smp, k, dim=1).values[:, -1].cpu().numpy()

    def filter(self, s, t):
        m = s > self.torch.from_numpy(t).to(s.device)[:, None]
        return m, int(m.sum())

    def row_counts(self, m):
        return m.sum(1).cpu().numpy()

    def candidates(self, s, m, r0, r1):
        nz = self.torch.nonzero(m[r0:r1])
        sb = s[r0:r1][nz[:, 0], nz[:, 1]]
        return nz[:, 0].cpu().numpy(), nz[:, 1].cpu().numpy(), sb.cpu().numpy()


def _sample_columns(width: int, n: int, runs: int = 16) -> list[slice]:
    """About n columns as a few evenly spaced contiguous runs: a strided sample would touch one
    cache line per value of a block far larger than the cache (measured ~1 s per 4096 x 65536)."""
    if width <= max(2 * n, 16 * runs):
        return [slice(0, width)]
    seg = width // runs  # one run at the start of each segment: the runs never overlap
    run = min(seg, -(-n // runs))
    return [slice(i * seg, i * seg + run) for i in range(runs)]


def _row_groups(engine, m, total: int, nrows: int) -> Iterator[tuple[int, int]]:
    """Contiguous row ranges holding at most _GROUP candidates each (a single row may exceed it)."""
    if total <= _GROUP:
        yield 0, nrows
        return
    cum = np.cumsum(engine.row_counts(m))
    r0 = 0
    while r0 < nrows:
        base = cum[r0 - 1] if r0 else 0
        r1 = max(r0 + 1, int(np.searchsorted(cum, base + _GROUP, side="right")))
        yield r0, min(r1, nrows)
        r0 = r1


def _kth_lower_bound(rc: np.ndarray, rows: np.ndarray, lb: np.ndarray, n: int) -> np.ndarray:
    """Per row, the n-th largest of the current top scores and the candidates' lower bounds
    (-inf, i.e. prune nothing, if one row has so many candidates that padding would be huge).
    ``rows`` must be sorted (both engines list candidates row-major)."""
    ng, kr = rc.shape
    counts = np.bincount(rows, minlength=ng)
    width = kr + int(counts.max())
    if ng * width > max(4 * (len(rows) + rc.size), 1 << 24):
        return np.full(ng, -np.inf)
    pad = np.full((ng, width), -np.inf)
    pad[:, :kr] = rc
    pad[rows, kr + np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]] = lb
    return np.partition(pad, width - n, axis=1)[:, width - n]


def _merge(q, d, qrow0, rc, ri, rows, cols, sb, margin, knew):
    """New top-knew of one row group from its current top (rc, ri) and BLAS candidates."""
    ng, kr = rc.shape
    if len(rows):
        # Rescoring is the costly step: drop candidates whose upper bound is below the k-th
        # best lower bound of their row (k others are then certainly better).
        kth = _kth_lower_bound(rc, rows, sb - margin[rows], knew)
        keep = sb + margin[rows] >= kth[rows]
        rows, cols = rows[keep], cols[keep]
    c = canonical_scores(q, d, qrow0 + rows, cols)
    all_rows = np.concatenate([np.repeat(np.arange(ng), kr), rows])
    all_c = np.concatenate([rc.ravel(), c])
    all_i = np.concatenate([ri.ravel(), cols])
    order = np.lexsort((all_i, -all_c, all_rows))
    counts = np.bincount(all_rows, minlength=ng)  # every row has >= knew entries: keep the first knew
    sel = order[np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts) < knew]
    return all_c[sel].reshape(ng, knew), all_i[sel].reshape(ng, knew)


def error_bound(dim: int, input_rounding: float = 0.0) -> float:
    """eps with |BLAS - canonical| <= eps * |q| * |d|: float32 accumulation (gamma_d), input rounding
    of reduced-precision matmuls, the final rounding of the canonical value; then a factor 2."""
    u = 2.0 ** -24
    return 2 * ((dim + 1) * u / max(1 - dim * u, 0.5) + 2.01 * input_rounding + dim * 2.0 ** -52)


def _exact(q, d, k, qc, dc, engine, progress, desc="exact search"):
    nq, nd = len(q), len(d)
    kk = max(0, min(k, nd))
    out_s, out_i = np.empty((nq, kk), np.float32), np.empty((nq, kk), np.int64)
    if kk == 0 or nq == 0:
        return out_s, out_i
    eps = error_bound(q.shape[1], engine.input_rounding)
    dmax = float(_row_norms(d).max())
    with tqdm(total=nq, desc=desc, unit="q", disable=not progress) as bar:
        for q0 in range(0, nq, qc):
            q1 = min(nq, q0 + qc)
            qn = _row_norms(q[q0:q1])
            if float(qn.max()) * dmax * (1 + eps) >= float(np.finfo(np.float32).max):
                raise ValueError("inner products overflow float32")
            margin = eps * qn * dmax + np.finfo(np.float32).tiny  # > 0 even for zero vectors
            rc, ri = np.empty((q1 - q0, 0), np.float32), np.empty((q1 - q0, 0), np.int64)
            for d0 in range(0, nd, dc):
                d1 = min(nd, d0 + dc)
                knew = min(kk, rc.shape[1] + d1 - d0)
                s = engine.scores(q0, q1, d0, d1)
                if rc.shape[1] == kk:  # a newcomer must beat the current k-th canonical score
                    t = rc[:, -1] - margin
                elif d1 - d0 >= kk:  # >= kk columns of the sample are >= v, so the block's k-th is >= v - e
                    t = engine.sample_kth(s, kk, _sample_columns(d1 - d0, max(_SAMPLE, 4 * kk))) - 2 * margin
                else:
                    t = np.full(q1 - q0, -np.inf)
                # float32 threshold not above the float64 one, so the strict filter stays safe
                t32 = np.nextafter(t.astype(np.float32), np.float32(-np.inf))
                m, total = engine.filter(s, t32)
                new_c = np.empty((q1 - q0, knew), np.float32)
                new_i = np.empty((q1 - q0, knew), np.int64)
                for r0, r1 in _row_groups(engine, m, total, q1 - q0):
                    rows, cols, sb = engine.candidates(s, m, r0, r1)
                    rows, cols = rows.astype(np.int64), cols.astype(np.int64) + d0
                    new_c[r0:r1], new_i[r0:r1] = _merge(
                        q, d, q0 + r0, rc[r0:r1], ri[r0:r1], rows, cols,
                        sb.astype(np.float64), margin[r0:r1], knew)
                rc, ri = new_c, new_i
            out_s[q0:q1], out_i[q0:q1] = rc, ri
            bar.update(q1 - q0)
    return out_s, out_i


def exact_topk(queries: np.ndarray, docs: np.ndarray, k: int, *, query_chunk: int = 4096,
               doc_chunk: int = 16384, progress: bool = False,
               device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k: (scores float32 [nq, k'], indices int64 [nq, k']), k' = min(k, ndocs),
    rows by canonical score descending then lower doc index; identical for any chunk sizes/device."""
    q, d = _inputs(queries, docs)
    if k < 0 or query_chunk < 1 or doc_chunk < 1:
        raise ValueError("k must be >= 0 and chunk sizes >= 1")
    engine = (_NumpyEngine(q, d, query_chunk, doc_chunk) if device == "cpu"
              else _TorchEngine(q, d, device))
    return _exact(q, d, k, query_chunk, doc_chunk, engine, progress)


def search_run(query_vecs: np.ndarray, doc_vecs: np.ndarray, qids: list[str], doc_ids: list[str],
               k: int, ctx: RunContext) -> dict[str, dict[str, float]]:
    """The run {qid: {doc_id: score}} under trec_eval's tie rule (score desc, then doc id desc):
    docs are permuted into doc-id-descending order, so "lower index wins" is "larger id wins"."""
    if len(qids) != len(query_vecs) or len(doc_ids) != len(doc_vecs):
        raise ValueError("qids/doc_ids must match the number of query/doc vectors")
    if len(set(qids)) != len(qids) or len(set(doc_ids)) != len(doc_ids):
        raise ValueError("qids and doc_ids must be unique")
    if ctx.search.protocol == "dalm":  # its own index, in the docs' order (DALM's insertion order)
        from benchmarks.dalm_eval import dalm_search_run

        return dalm_search_run(query_vecs, doc_vecs, qids, doc_ids, k, ctx)
    perm = sorted(range(len(doc_ids)), key=doc_ids.__getitem__, reverse=True)
    sorted_ids = [doc_ids[i] for i in perm]
    docs = np.asarray(doc_vecs, dtype=np.float32)[perm] if perm else np.asarray(doc_vecs, np.float32)
    s = ctx.search
    device = ctx.resolved_device()

    def exact(qv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if device != "cpu":  # faiss GPU or torch CUDA, same results; never imported on the CPU
            from benchmarks.gpu_search import gpu_exact_topk

            return gpu_exact_topk(qv, docs, k, device, query_chunk=s.query_chunk, doc_chunk=s.doc_chunk,
                                  progress=ctx.progress)
        return exact_topk(qv, docs, k, query_chunk=s.query_chunk, doc_chunk=s.doc_chunk,
                          progress=ctx.progress, device=device)

    if s.ann is None:
        scores, idx = exact(query_vecs)
    else:
        from benchmarks.ann import hnsw_topk, sampled_recall

        params = {"seed": ctx.seed, **s.ann}
        unknown = set(params) - {"M", "ef_construction", "ef_search", "seed"}
        if unknown:
            raise ValueError(f"unknown HNSW parameters: {sorted(unknown)}")
        scores, idx = hnsw_topk(query_vecs, docs, k, **params)
        ctx.stats["ann_recall@k"] = sampled_recall(idx, query_vecs, ctx.seed, exact)
    run: dict[str, dict[str, float]] = {}
    for qid, row_s, row_i in zip(qids, scores.tolist(), idx.tolist()):
        run[qid] = {sorted_ids[i]: sc for sc, i in zip(row_s, row_i) if i >= 0}
    return run
