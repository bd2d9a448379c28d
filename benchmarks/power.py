"""Statistical power: the smallest difference a paired test on these queries would reliably detect.

Model. Two rows scored on the same n queries give per-query differences ``d_i = a_i - b_i`` with
mean δ and standard deviation ``sd_d``. The minimum detectable effect (MDE) is the smallest δ that
a two-sided paired t-test at level α detects with probability ``power``: the δ solving

    P(|T| > t_{1-α/2, n-1}) = power,   T ~ noncentral t(df = n - 1, nc = δ √n / sd_d)

(statsmodels' ``TTestPower().solve_power``, which tests/benchmarks/test_power.py checks against, and for
large n the textbook ``(z_{1-α/2} + z_power) · sd_d / √n``, 2.80 · sd_d / √n at α 0.05, power 0.8).
The leaderboard's paired randomization test has, on these sizes, the same power as the t-test
(tests/benchmarks/test_power.py simulates it: ~80% of experiments reject at the reported MDE).

Under a table no second row's differences are assumed: ``sd_d`` comes from the baseline's
per-query scores alone, ``sd_d = sd_b · √(2 (1 - ρ))`` with ρ = 0.5, i.e. ``sd_d = sd_b`` (the
sample standard deviation of the baseline's per-query values). ρ is the correlation of two rows'
per-query scores; on the committed SciFact records bm25 against the MiniLM rows has ρ 0.3-0.6
(``sd_d / sd_b`` 0.9-1.3), fine-tunes of one model against each other 0.7-1.0: ρ = 0.5 is a row
of another family, and rows closer to the baseline can have a smaller MDE. ``compare`` uses the
two rows' observed differences instead. The MDE is per comparison, before the Holm correction
across rows (which makes it somewhat larger when several rows are tested).
"""
from __future__ import annotations

import functools
import math
import sys
from typing import Any, Sequence

import numpy as np

from benchmarks.memo import remembered_float

RHO = 0.5  # assumed correlation between a compared row's and the baseline's per-query scores
ALPHA, POWER = 0.05, 0.8


def min_detectable_effect(sd_d: float, n: int, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest mean paired difference a two-sided paired t-test at ``alpha`` detects with
    probability ``power`` on ``n`` queries whose differences have standard deviation ``sd_d``.

    Raises:
        ValueError: n < 2 (no variance to test against), sd_d < 0, alpha or power outside (0, 1).

    Example:
        >>> round(min_detectable_effect(1.0, 790), 4)  # ~ 2.8 / sqrt(790)
        0.0998
    """
    if n < 2:
        raise ValueError(f"a paired test needs at least 2 queries, got {n}")
    if not (sd_d >= 0 and math.isfinite(sd_d)):
        raise ValueError(f"sd_d must be a finite number >= 0, got {sd_d}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha} and {power}")
    inputs = [f"{n}:{alpha!r}:{power!r}".encode()]
    return remembered_float("min-detectable-effect", sys.modules[__name__], inputs,
                            lambda: _effect_in_sd(n, alpha, power), valid=lambda e: e > 0) * sd_d


@functools.lru_cache(maxsize=None)
def _effect_in_sd(n: int, alpha: float, power: float) -> float:
    """The detectable effect in units of sd_d: it depends on n, alpha and power only, so one
    leaderboard (one n per table, several metrics) solves it once per table, not once per metric."""
    # scipy.special's t and noncentral-t functions are what scipy.stats' t and nct call, without
    # importing scipy.stats (~0.5 s more, paid on every leaderboard rewrite).
    from scipy.special import nctdtr, stdtrit

    df = n - 1
    crit = float(stdtrit(df, 1 - alpha / 2))

    def shortfall(effect: float) -> float:  # effect = δ / sd_d, in standard deviations
        nc = effect * math.sqrt(n)
        lower = float(nctdtr(df, nc, -crit))  # the wrong-sign tail: tiny, and NaN for large nc
        return 1.0 - float(nctdtr(df, nc, crit)) + (lower if math.isfinite(lower) else 0.0) - power

    low, high = 0.0, 1.0
    while shortfall(high) < 0:  # few queries need a large effect (n = 2: about 10 sd)
        low, high = high, high * 2
    while high - low > 1e-12:  # power rises with the effect: bisect to the root
        mid = (low + high) / 2
        low, high = (mid, high) if shortfall(mid) < 0 else (low, mid)
    return (low + high) / 2


def sd_of_differences(baseline: Sequence[float] | np.ndarray, rho: float = RHO) -> float:
    """``sd_d`` for a row with correlation ``rho`` to the baseline and the baseline's spread."""
    values = np.asarray(baseline, dtype=np.float64)
    return float(values.std(ddof=1) * math.sqrt(2 * (1 - rho)))


def _number(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.3g}"


def mde_note(section: Any, metrics: list[str], alpha: float | None = None) -> list[str]:
    """The note under a leaderboard table: per metric, the MDE against the baseline.

    Only when the baseline is the section's reference (so the rows it speaks for are compared like
    for like, benchmarks/staleness.py); from the baseline's per-query sidecar alone. Returns the
    note's lines, or [] when there is no such baseline."""
    comparable = section.comparable()
    base = next((r for r in comparable if r.row == section.baseline), None)
    if base is None or len(comparable) < 2:  # no row is tested against it: no mark to explain
        return []
    if alpha is None:
        alpha = base.data.get("settings", {}).get("significance", {}).get("alpha", ALPHA)
    per_query = base.per_query()
    found, flat, n = [], [], 0
    for metric in metrics:
        values = list((per_query.get(metric) or {}).values())
        if len(values) < 2:
            continue  # nothing to test against; the table says so already
        n = max(n, len(values))
        sd_d = sd_of_differences(values)
        if sd_d == 0:
            flat.append(metric)
        else:
            found.append(f"{metric} differences below "
                         f"{_number(min_detectable_effect(sd_d, len(values), alpha=alpha))}")
    if not found and not flat:
        return []
    text = f"Power: with {n:,} queries, "
    if found:
        text += f"{', '.join(found)} cannot be told apart from noise "
    else:
        text += "no difference can be sized "
    text += (f"(paired, α {alpha:g}, power {POWER:g}; from `{section.baseline}`'s per-query spread, "
             f"assuming a correlation of {RHO:g} between rows)")
    if flat:
        text += f"; {', '.join(flat)}: no spread to size it from (the baseline scores every query alike)"
    return [text + ". A blank ▲/▼ cell means no more than that."]
