"""Minimum detectable effect (benchmarks/power.py): checked against statsmodels' paired t-test power,
the large-n normal formula, and a simulation with the harness's own paired randomization test; and
the note it puts under each leaderboard table (suite ``duo``, tests/duo_suite.py)."""
import math

import numpy as np
import pytest

from benchmarks.power import min_detectable_effect, sd_of_differences
from benchmarks.stats import paired_randomization_test
from duo_suite import duo_env, run_duo


@pytest.mark.parametrize("n", [2, 3, 5, 30, 300, 790])
def test_mde_is_statsmodels_paired_t_power_solved_for_the_effect(n):
    power = pytest.importorskip("statsmodels.stats.power")
    effect = power.TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
    assert min_detectable_effect(0.37, n) == pytest.approx(0.37 * effect, rel=1e-5)


@pytest.mark.parametrize("n", [5, 30, 300, 790])
def test_statsmodels_gives_the_asked_power_at_the_mde(n):
    # Forward, not solved: statsmodels' own solver stops short at alpha 0.01 (n = 2 or 3: it returns
    # an effect with power 0.18 or 0.41 for 0.9; n = 790: 1e-5 below), its power function does not.
    power = pytest.importorskip("statsmodels.stats.power")
    for alpha, target in ((0.05, 0.8), (0.01, 0.9), (0.1, 0.5)):
        effect = min_detectable_effect(1.0, n, alpha=alpha, power=target)
        got = power.TTestPower().power(effect_size=effect, nobs=n, alpha=alpha, alternative="two-sided")
        assert got == pytest.approx(target, abs=1e-9)


def test_mde_for_many_queries_is_the_normal_approximation():
    from scipy.stats import norm

    z = norm.ppf(0.975) + norm.ppf(0.8)  # 2.8016
    for n, sd in ((10**6, 1.0), (4 * 10**6, 0.25)):
        assert min_detectable_effect(sd, n) == pytest.approx(z * sd / math.sqrt(n), rel=1e-4)
    # Few queries need more: the t distribution's heavier tails.
    assert min_detectable_effect(1.0, 20) > 1.05 * z / math.sqrt(20)


def test_randomization_test_has_80_percent_power_at_the_mde():
    """Synthetic paired experiments whose true mean difference is the MDE: the project's own
    randomization test (as the leaderboard runs it) rejects at α 0.05 in about 80% of them, and at
    half the MDE far less often. 400 experiments: the 80% estimate has a standard error of 0.02."""
    rng = np.random.default_rng(7)
    n, sd_d = 60, 0.3
    mde = min_detectable_effect(sd_d, n)

    def rejections(delta: float) -> float:
        hits = 0
        for i in range(400):
            base = rng.uniform(0, 1, n)
            other = base + rng.normal(delta, sd_d, n)
            hits += paired_randomization_test(other, base, n_resamples=2000, seed=i) < 0.05
        return hits / 400

    assert 0.73 <= rejections(mde) <= 0.87
    assert rejections(mde / 2) < 0.45  # ~0.29 in theory


def test_sd_of_differences_from_the_baseline_alone():
    # Sample sd of (0, 1, 0) is sqrt(1/3); with correlation 0.5, sd_d = sd; with 0 (independent rows),
    # sqrt(2) sd.
    assert sd_of_differences([0, 1, 0]) == pytest.approx(math.sqrt(1 / 3))
    assert sd_of_differences([0, 1, 0], rho=0.0) == pytest.approx(math.sqrt(2 / 3))
    assert sd_of_differences([0.5, 0.5, 0.5]) == 0


@pytest.mark.parametrize("args, match", [((1.0, 1), "at least 2 queries"), ((-0.1, 10), "sd_d"),
                                         ((float("nan"), 10), "sd_d")])
def test_mde_refuses_what_it_cannot_size(args, match):
    with pytest.raises(ValueError, match=match):
        min_detectable_effect(*args)
    with pytest.raises(ValueError, match="alpha and power"):
        min_detectable_effect(1.0, 10, power=1.0)


@pytest.fixture
def duo(tmp_path, monkeypatch):
    duo_env(monkeypatch, tmp_path)
    return run_duo(tmp_path)


def power_line(tmp_path) -> str:
    lines = [line for line in (tmp_path / "lb.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("Power:")]
    assert len(lines) <= 1
    return lines[0] if lines else ""


def test_leaderboard_note_sizes_each_metric_from_the_baseline(duo, tmp_path):
    line = power_line(tmp_path)
    # bm25 per query: hit_rate@1 (0, 1, 0), sd sqrt(1/3); mrr@5 (.5, 1, .5), sd sqrt(1/12); hit_rate@5 all 1.
    hit = min_detectable_effect(math.sqrt(1 / 3), 3)
    mrr = min_detectable_effect(math.sqrt(1 / 12), 3)
    assert line.startswith(f"Power: with 3 queries, hit_rate@1 differences below {hit:.3f}, mrr@5 "
                           f"differences below {mrr:.3f} cannot be told apart from noise (paired, α 0.05, power 0.8; "
                           "from `bm25`'s per-query spread, assuming a correlation of 0.5 between rows); "
                           "hit_rate@5: no spread to size it from")
    assert f"{hit:.3f}" == "1.884" and f"{mrr:.3f}" == "0.942"  # 3.2640 (t, 2 df) x sd


def test_no_note_when_no_row_is_compared_with_the_baseline(duo, tmp_path):
    run_duo(tmp_path, "--retriever", "bm25", "--limit-queries", "2")  # the other rows become stale
    text = (tmp_path / "lb.md").read_text(encoding="utf-8")
    assert "noapple (stale)" in text and power_line(tmp_path) == ""
