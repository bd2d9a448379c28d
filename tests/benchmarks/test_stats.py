"""Bootstrap CI, paired randomization test and Holm: known answers and independent references."""
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from benchmarks.stats import bootstrap_ci, holm, paired_randomization_test

# ---- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_deterministic_and_contains_mean():
    values = np.random.default_rng(7).random(300)
    first = bootstrap_ci(values, seed=3)
    assert bootstrap_ci(list(values), seed=3) == first          # lists and arrays, same seed
    assert bootstrap_ci(values, seed=4) != first                # the seed is used
    low, high = first
    assert low < values.mean() < high
    narrow = bootstrap_ci(values, confidence=0.5, seed=3)
    assert low < narrow[0] < narrow[1] < high


def test_bootstrap_known_answers():
    assert bootstrap_ci([0.25] * 40) == (0.25, 0.25)            # no spread, no interval
    assert bootstrap_ci([0.7]) == (0.7, 0.7)
    # Two queries scoring 0 and 1: a resample's mean is 0, 0.5 or 1 with chances 1/4, 1/2, 1/4,
    # so with 4000 resamples the 2.5% and 97.5% quantiles are 0 and 1 (about 1000 of each).
    assert bootstrap_ci([0.0, 1.0], n_resamples=4000) == (0.0, 1.0)


def test_bootstrap_matches_scipy():
    # Different random streams, same estimator: the endpoints agree to Monte Carlo error.
    values = np.random.default_rng(11).beta(0.5, 0.8, size=400)
    ours = bootstrap_ci(values, n_resamples=20000, confidence=0.9, seed=1)
    ref = scipy_stats.bootstrap((values,), np.mean, n_resamples=20000, confidence_level=0.9,
                                method="percentile", random_state=np.random.default_rng(2))
    width = ours[1] - ours[0]
    assert ours[0] == pytest.approx(ref.confidence_interval.low, abs=0.03 * width)
    assert ours[1] == pytest.approx(ref.confidence_interval.high, abs=0.03 * width)
    # ...and both are near the normal-theory interval mean +- 1.645 * sd / sqrt(n)
    half = 1.645 * values.std(ddof=1) / math.sqrt(values.size)
    assert ours[0] == pytest.approx(values.mean() - half, abs=0.1 * width)


@pytest.mark.parametrize("kwargs, match", [
    ({"values": []}, "empty"), ({"values": [0.1, float("nan")]}, "NaN"),
    ({"values": [[0.1]]}, "one-dimensional"), ({"values": [0.1], "confidence": 1.0}, "confidence"),
    ({"values": [0.1], "n_resamples": 0}, "n_resamples"),
])
def test_bootstrap_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(**kwargs)


# ---- paired randomization test --------------------------------------------------------------


def exact_p(a, b):
    """All 2**n sign flips, in exact rational arithmetic from the decimal inputs."""
    d = [Fraction(str(x)) - Fraction(str(y)) for x, y in zip(a, b)]
    observed = abs(sum(d))
    hits = sum(abs(sum(s * v for s, v in zip(signs, d))) >= observed
               for signs in itertools.product((1, -1), repeat=len(d)))
    return hits / 2 ** len(d)


@pytest.mark.parametrize("a, b", [
    ([0.3, 0.1, 0.7, 0.2, 0.9, 0.4, 0.5, 0.6, 0.8, 0.3], [0.1, 0.2, 0.4, 0.2, 0.5, 0.5, 0.1, 0.3, 0.6, 0.1]),
    # differences of 0.1, 0.2, 0.3 make many sign patterns tie with the observed sum, and
    # float rounding (0.1 + 0.2 != 0.3) must not decide whether a tie counts
    ([0.1, 0.2, 0.3, 0.0, 0.1, 0.2, 0.0, 0.3], [0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.1, 0.0]),
    ([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0], [0.0] * 12),
    ([0.5, 0.2, 0.9], [0.5, 0.1, 0.0]),
])
def test_randomization_matches_exact_enumeration(a, b):
    n_resamples = 40000
    p_exact = exact_p(a, b)
    p_mc = paired_randomization_test(a, b, n_resamples=n_resamples, seed=5)
    sigma = math.sqrt(p_exact * (1 - p_exact) / n_resamples)
    assert abs(p_mc - p_exact) <= 5 * sigma + 2 / n_resamples, (p_mc, p_exact)


def test_randomization_known_answers():
    rng = np.random.default_rng(3)
    base = rng.random(200)
    assert paired_randomization_test(base, base) == 1.0        # every flip ties the observed 0
    shifted = base + 0.3 + rng.normal(0, 0.05, 200)
    # No flip reaches a clear shift: the p-value is the floor 1 / (n_resamples + 1).
    assert paired_randomization_test(shifted, base, n_resamples=999) == 1 / 1000
    noisy = base + rng.normal(0, 0.2, 200)
    p = paired_randomization_test(noisy, base, seed=1)
    assert p == paired_randomization_test(noisy, base, seed=1)                     # deterministic
    assert p == paired_randomization_test(base, noisy, seed=1)                     # two-sided
    # agrees with the paired t-test, which is accurate for 200 roughly normal differences
    assert p == pytest.approx(scipy_stats.ttest_rel(noisy, base).pvalue, abs=0.03)


def unpacked_p(a, b, n_resamples, seed):
    """The sign-flip count with every bit unpacked to a float (the byte table's reference): the
    same draws from the same seeded generator in the same blocks, summed the plain way."""
    from benchmarks.stats import _block_rows

    d = np.asarray(a, float) - np.asarray(b, float)
    observed, total = abs(d.sum()), d.sum()
    slack = 1e-9 * max(np.abs(d).sum(), 1e-300)
    rng, count, rows = np.random.default_rng(seed), 0, _block_rows(d.size, n_resamples)
    for start in range(0, n_resamples, rows):
        block = min(rows, n_resamples - start)
        bits = np.unpackbits(rng.integers(0, 256, size=(block, (d.size + 7) // 8), dtype=np.uint8), axis=1)
        count += int(np.count_nonzero(np.abs(total - 2.0 * (bits[:, :d.size] @ d)) >= observed - slack))
    return (count + 1) / (n_resamples + 1)


@pytest.mark.parametrize("n, kind", [(1, "mrr"), (13, "mrr"), (1000, "binary"), (2999, "mrr"), (40000, "binary")])
def test_byte_table_gives_the_same_p_as_unpacking_every_bit(n, kind):
    rng = np.random.default_rng(n)
    if kind == "binary":  # hit_rate-like: many exact ties with the observed sum
        a, b = (rng.random(n) < 0.6).astype(float), (rng.random(n) < 0.58).astype(float)
    else:  # mrr-like: 1/rank values
        a, b = 1 / rng.integers(1, 11, n), 1 / rng.integers(1, 11, n)
    for seed in (0, 7):
        assert paired_randomization_test(a, b, n_resamples=3000, seed=seed) == unpacked_p(a, b, 3000, seed)


def test_randomization_is_vectorised(monkeypatch):
    # Speed is a benchmark's business; a test can check the reason it is fast: the 10,000 sign
    # vectors are drawn in a few block draws, not one draw per resample (which took seconds).
    import benchmarks.stats as stats_mod

    draws = []
    real = np.random.default_rng

    class Counting:
        def __init__(self, *args, **kwargs):
            self.gen = real(*args, **kwargs)

        def integers(self, *args, **kwargs):
            draws.append(kwargs.get("size"))
            return self.gen.integers(*args, **kwargs)

    monkeypatch.setattr(stats_mod.np.random, "default_rng", Counting)
    rng = real(0)
    a, b = rng.random(1000), rng.random(1000)
    p = paired_randomization_test(a, b, n_resamples=10000)
    assert 0 < p <= 1 and 1 <= len(draws) <= 20
    assert sum(size[0] for size in draws) == 10000  # every resample drawn, in blocks


@pytest.mark.parametrize("a, b, match", [
    ([0.1, 0.2], [0.1], "same length"), ([], [], "empty"), ([0.1, float("inf")], [0.1, 0.2], "NaN"),
])
def test_randomization_rejects(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_randomization_test(a, b)


# ---- Holm -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, adjusted", [
    # sorted .01 .03 .04 -> times 3, 2, 1 = .03 .06 .04 -> running max .03 .06 .06
    ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),
    ([0.01, 0.02, 0.03, 0.04], [0.04, 0.06, 0.06, 0.06]),   # .04 .06 .06 .04 -> running max
    ([0.5, 0.6], [1.0, 1.0]),                          # 1.0 and 0.6 -> capped, then max
    ([0.02, 0.02], [0.04, 0.04]),                      # ties: .04 and max(.04, .02)
    ([0.2], [0.2]), ([], []), ([0.0, 1.0], [0.0, 1.0]),
])
def test_holm_known_answers(raw, adjusted):
    assert holm(raw) == pytest.approx(adjusted, abs=1e-15)


def holm_reference(p):
    """Straight from the definition, O(m^2), pure Python."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    rank = {i: r for r, i in enumerate(order)}
    return [min(1.0, max((m - rank[j]) * p[j] for j in range(m) if rank[j] <= rank[i]))
            for i in range(m)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1) | st.sampled_from([0.01, 0.05]), max_size=12))
def test_holm_properties(p):
    adj = holm(p)
    assert adj == pytest.approx(holm_reference(p), abs=1e-12)
    assert all(q >= x and q <= 1.0 for q, x in zip(adj, p))
    for i, j in itertools.combinations(range(len(p)), 2):
        if p[i] <= p[j]:
            assert adj[i] <= adj[j]


@pytest.mark.parametrize("bad", [[0.1, 1.2], [-0.1], [float("nan")]])
def test_holm_rejects(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm(bad)
