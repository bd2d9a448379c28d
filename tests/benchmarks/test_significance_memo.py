"""The leaderboard's paired tests are remembered under the cache dir, and a memo never changes an answer."""
from __future__ import annotations

import json

import pytest

from benchmarks import memo, significance
from benchmarks.context import cache_root
from benchmarks.stats import paired_randomization_test

A = [1.0, 0.5, 0.0, 1.0, 0.25, 1.0, 0.0, 0.5]
B = [0.0, 0.5, 0.0, 1.0, 0.0, 0.5, 0.0, 0.5]


@pytest.fixture
def calls(monkeypatch):
    seen = []

    def counting(a, b, **kw):
        seen.append((tuple(a), tuple(b), kw["n_resamples"], kw["seed"]))
        return paired_randomization_test(a, b, **kw)

    monkeypatch.setattr(significance, "paired_randomization_test", counting)
    return seen


def test_memo_gives_the_computed_p_and_computes_it_once(calls):
    direct = paired_randomization_test(A, B, n_resamples=999, seed=3)
    assert significance.memo_paired_p(A, B, n_resamples=999, seed=3) == direct
    assert significance.memo_paired_p(A, B, n_resamples=999, seed=3) == direct
    assert len(calls) == 1


@pytest.mark.parametrize("change", ["score", "resamples", "seed", "swap"])
def test_every_input_is_in_the_key(calls, change):
    significance.memo_paired_p(A, B, n_resamples=999, seed=3)
    a, b, n, seed = list(A), list(B), 999, 3
    if change == "score":
        a[4] = 0.75
    elif change == "resamples":
        n = 998
    elif change == "seed":
        seed = 4
    else:
        a, b = b, a
    assert significance.memo_paired_p(a, b, n_resamples=n, seed=seed) == paired_randomization_test(
        a, b, n_resamples=n, seed=seed)
    assert len(calls) == 2


def test_a_damaged_memo_is_recomputed(calls):
    p = significance.memo_paired_p(A, B, n_resamples=999, seed=3)
    (path,) = cache_root().glob("memo/paired-randomization/*/*.json")
    for damage in ["{not json", json.dumps({"key": "other", "value": 0.5}), json.dumps({"key": path.stem, "value": 7.0})]:
        path.write_text(damage)
        assert significance.memo_paired_p(A, B, n_resamples=999, seed=3) == p
    assert len(calls) == 4


def test_an_unwritable_cache_still_answers(calls, monkeypatch):
    def refuse(path, obj):
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr(memo, "atomic_write_json", refuse)
    expected = paired_randomization_test(A, B, n_resamples=99, seed=0)
    assert significance.memo_paired_p(A, B, n_resamples=99, seed=0) == expected
    assert significance.memo_paired_p(A, B, n_resamples=99, seed=0) == expected
    assert len(calls) == 2  # nothing was remembered


def test_the_power_figure_is_remembered_and_equal(monkeypatch):
    from benchmarks import power

    first = power.min_detectable_effect(0.4, 790)
    power._effect_in_sd.cache_clear()
    monkeypatch.setattr(power, "_effect_in_sd", lambda *a: pytest.fail("recomputed a remembered effect"))
    assert power.min_detectable_effect(0.4, 790) == first
    assert power.min_detectable_effect(0.8, 790) == 2 * first  # the memo holds sd units: one per n
