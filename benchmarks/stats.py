"""Uncertainty for per-query metric values: bootstrap CI, paired randomization test, Holm.

All resampling uses a seeded ``numpy.random.Generator``, so the same inputs and seed give the
same numbers on every machine with the same numpy. Work is done in blocks of resamples so that
memory stays bounded (~8 MB) however many queries there are.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

_BLOCK_CELLS = 1 << 20  # resamples x queries handled per block
_LOOKUP_CELLS = 1 << 24  # random bytes looked up at once in the paired test (16 MB)
_LOOKUP_COLUMNS = 256  # bytes per column slice: 256 x 256 x 8 = 512 KB of table, in cache


def _as_vector(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return array


def _block_rows(n: int, total: int) -> int:
    return max(1, min(total, _BLOCK_CELLS // n))


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean.

    Draws ``n_resamples`` samples of ``len(values)`` queries with replacement, takes each
    sample's mean, and returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of those means (numpy's default linear interpolation, as scipy's
    ``bootstrap(method="percentile")`` does).

    Raises:
        ValueError: empty or non-finite values, ``n_resamples < 1``, confidence not in (0, 1).

    Example:
        >>> lo, hi = bootstrap_ci([0.0, 1.0] * 50, seed=0)
        >>> lo < 0.5 < hi
        True
    """
    data = _as_vector(values, "values")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    n = data.size
    means = np.empty(n_resamples)
    rows = _block_rows(n, n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        picks = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = data[picks].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _byte_sums(d: np.ndarray, n_bytes: int) -> np.ndarray:
    """table[j, v]: the sum of d[8j + b] over the bits b set in byte value v (bit 0 = MSB)."""
    padded = np.zeros(n_bytes * 8)
    padded[:d.size] = d
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float64)  # (256, 8)
    return padded.reshape(n_bytes, 8) @ bits.T


def paired_randomization_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10000,
    seed: int = 0,
) -> float:
    """Two-sided p-value that systems ``a`` and ``b`` have the same mean on paired queries.

    Fisher's randomization (sign-flip) test: under the null hypothesis each per-query
    difference ``d_i = a_i - b_i`` is as likely to have the opposite sign. We draw
    ``n_resamples`` random sign vectors ``s`` and count those with ``|sum(s * d)| >= |sum(d)|``;
    the p-value is ``(count + 1) / (n_resamples + 1)``, which counts the observed assignment
    itself and so never returns 0 (an unbiased Monte Carlo p-value). Identical inputs give 1.0.

    Raises:
        ValueError: shapes differ, inputs empty or non-finite, ``n_resamples < 1``.
    """
    x = _as_vector(a, "a")
    y = _as_vector(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must be paired (same length), got {x.size} and {y.size}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    d = x - y
    n = d.size
    observed = abs(d.sum())
    # Sums reached by different sign orders can differ in the last bits; without this slack a
    # permutation equal to the observed one could be counted as smaller.
    slack = 1e-9 * max(float(np.abs(d).sum()), 1e-300)
    total = float(d.sum())
    rng = np.random.default_rng(seed)
    count = 0
    rows = _block_rows(n, n_resamples)
    n_bytes = (n + 7) // 8
    table = _byte_sums(d, n_bytes)
    # One random bit per query: 8x fewer random draws than one integer per query. Each byte (8
    # queries' bits, MSB first as np.unpackbits reads them) is looked up in a table of its 256
    # partial sums instead of being unpacked to 8 floats (at 200k queries x 10k resamples that
    # wrote 16 GB of float64 per metric). Draws are made block by block as before (same stream,
    # same numbers) but looked up a few at once, column slice by column slice, so the slice of the
    # table in use stays in cache.
    pending: list[np.ndarray] = []
    for start in range(0, n_resamples, rows):
        pending.append(rng.integers(0, 256, size=(min(rows, n_resamples - start), n_bytes), dtype=np.uint8))
        if sum(p.shape[0] for p in pending) * n_bytes >= _LOOKUP_CELLS or start + rows >= n_resamples:
            packed = np.concatenate(pending)
            pending.clear()
            flipped = np.zeros(packed.shape[0])  # sum of d_i whose sign is flipped
            for c in range(0, n_bytes, _LOOKUP_COLUMNS):
                part = table[c:c + _LOOKUP_COLUMNS]
                cols = np.arange(part.shape[0], dtype=np.intp) * 256
                flipped += part.ravel()[packed[:, c:c + _LOOKUP_COLUMNS] + cols].sum(axis=1)
            stats = np.abs(total - 2.0 * flipped)  # sum(s * d) with s_i = -1 where bit is 1
            count += int(np.count_nonzero(stats >= observed - slack))
    return (count + 1) / (n_resamples + 1)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    With the m p-values sorted ascending as ``p_(1) <= ... <= p_(m)``, the adjusted value of
    ``p_(i)`` is ``min(1, max_{j <= i} (m - j + 1) * p_(j))``: step-down, monotone in the raw
    p-values, capped at 1. Rejecting where the adjusted value is ``<= alpha`` controls the
    family-wise error rate at ``alpha``.

    Example:
        >>> [round(p, 10) for p in holm([0.01, 0.04, 0.03])]
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be one-dimensional, got shape {p.shape}")
    if p.size and not ((p >= 0) & (p <= 1)).all():  # also catches NaN
        raise ValueError(f"p-values must lie in [0, 1], got {list(pvalues)}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(v) for v in adjusted]


def evenly_spaced(n: int, k: int | None) -> list[int]:
    """``k`` indices spread over ``range(n)`` (all of them when k is None or >= n).

    Deterministic, so a resumed run picks the same chunks; spread out, so a sample covers the
    whole document instead of its first pages (the cover page and table of contents).
    """
    if k is None or k >= n:
        return list(range(n))
    return [i * n // k for i in range(k)]
