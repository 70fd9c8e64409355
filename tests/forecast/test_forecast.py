"""forecast.py: laws fitted to synthetic ladders made from known parameters.

Each synthetic point is a set of validation documents whose bits per byte is exactly a
known law's value (times a per-run noise factor where a test says so), so what the fit
should recover, and where two laws cross, can be derived by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from roundtable.forecast import (
    LN2,
    R_STAR,
    R_STAR_RANGE,
    DataPoint,
    Ladder,
    LadderPoint,
    Law,
    backtest,
    crossover,
    effective_data,
    effective_data_transferred,
    fit_law,
    fmt_budget,
    forecast_data,
    forecast_ladder,
    r_star_levels,
)
from roundtable.forecast.block import data_blocks

BUDGETS = [30.0, 60.0, 120.0]


def docs(rng, n=40, spread=0.3):
    """Document sizes and difficulties (mean 1): bits per byte of a document = law x difficulty."""
    return rng.integers(200, 800, n).astype(float), rng.lognormal(-spread**2 / 2, spread, n)


def ladder(law_at, budgets=BUDGETS, *, arm="a", rate=1000.0, unique=None, seeds=1, noise=0.0, rng=None,
           doc_spread=0.0, n_docs=40) -> Ladder:
    """A ladder whose validation score at budget B is ``law_at(effective data)`` x (1 + noise)."""
    rng = rng or np.random.default_rng(0)
    nb, d = docs(rng, n_docs, doc_spread)
    if doc_spread == 0:
        d = np.ones(n_docs)
    pts = []
    for b in budgets:
        x = float(effective_data(b * rate, unique))
        nll = np.stack([law_at(x) * (1 + noise * rng.normal()) * d * nb * LN2 for _ in range(seeds)])
        pts.append(LadderPoint(budget=b, doc_nll=nll, doc_bytes=nb, tokens_seen=b * rate, unique_tokens=unique))
    return Ladder(arm, pts)


# -- the law and the repetition rule ----------------------------------------------------
def test_effective_data_is_seen_data_for_one_epoch_and_saturates_after():
    assert effective_data(5e5, 1e6) == 5e5  # less than one epoch: every byte is fresh
    assert effective_data(1e6, 1e6) == 1e6
    # R = R*: U + U R* (1 - 1/e)
    assert effective_data((1 + R_STAR) * 1e6, 1e6) == pytest.approx(1e6 * (1 + R_STAR * (1 - math.exp(-1))))
    assert effective_data(1e12, 1e6) == pytest.approx(1e6 * (1 + R_STAR))  # never more than ~16 epochs' worth
    assert effective_data(3e6, 1e6, r_star=None) == 3e6  # the rule off


def test_noise_free_points_give_back_the_law():
    x = np.geomspace(1e4, 1.28e6, 8)
    true = Law(E=0.9, A=0.6, alpha=0.45, x_ref=x.max())
    f = fit_law(x, true(x), prior=None)
    assert (f.E, f.A, f.alpha) == pytest.approx((0.9, 0.6, 0.45), rel=1e-3)


@pytest.mark.parametrize("alpha", [0.2, 0.5, 1.2])
def test_noisy_points_recover_the_parameters(alpha):
    # 12 points over 1000x, 0.3% noise: E within 0.05, alpha within 25%, and the value at 4x
    # beyond the data within 0.02 bits per byte
    rng = np.random.default_rng(1)
    x = np.geomspace(1e3, 1e6, 12)
    true = Law(E=1.0, A=1.0, alpha=alpha, x_ref=x.max())
    y = true(x) * (1 + 0.003 * rng.normal(size=x.size))
    f = fit_law(x, y, 0.003 * y)
    assert f.E == pytest.approx(1.0, abs=0.05)
    assert f.alpha == pytest.approx(alpha, rel=0.25)
    assert f(4e6) == pytest.approx(true(4e6), abs=0.02)


def test_bounds_hold_when_the_points_are_a_straight_line_in_log_budget():
    # no curvature: the unbounded fit would run off to E -> -inf; the bounds keep E >= 0,
    # alpha >= 0.05 and E <= the best measured score
    x = np.array([1.0, 2.0, 4.0])
    y = 3.0 - 0.5 * np.log2(x)
    f = fit_law(x, y, np.full(3, 0.01))
    assert 0.0 <= f.E <= y.min()
    assert 0.05 <= f.alpha <= 2.0
    assert f(x) == pytest.approx(y, abs=0.05)


# -- the ladder forecast -----------------------------------------------------------------
def test_forecast_of_a_clean_ladder_is_the_law_at_the_target():
    true = Law(1.0, 1.0, 0.5, 120e3)
    fc = forecast_ladder(ladder(true, [15, 30, 60, 120]), n_boot=200, noise_floor=1e-4)
    assert fc.law.alpha == pytest.approx(0.5, rel=0.01)
    assert fc.value(480) == pytest.approx(true(480e3), abs=0.005)
    lo, hi = fc.interval(480, 0.95)
    assert lo <= true(480e3) <= hi and hi - lo < 0.05
    assert fc.interval(480, 0.8)[0] >= lo and fc.interval(480, 0.8)[1] <= hi


def test_more_budget_widens_the_interval():
    rng = np.random.default_rng(2)
    fc = forecast_ladder(ladder(Law(1.0, 1.0, 0.5, 120e3), rng=rng, noise=0.01), n_boot=300)
    widths = [np.diff(fc.interval(b, 0.95))[0] for b in (120, 480, 1200)]
    assert widths[0] < widths[1] < widths[2]


def test_80_percent_interval_covers_the_truth_in_about_80_percent_of_experiments():
    # 50 experiments: three rungs with 1% run noise (the noise floor the method assumes for one
    # seed) and documents of different difficulty; the truth is a new run at 4x scored on new
    # documents of the same kind (the intervals carry the document draw, as the verdict's do).
    # Binomial sd of a coverage over 50 is 0.057: accept 0.64..0.96 for 80%, >= 0.84 for 95%.
    rng = np.random.default_rng(3)
    hit80 = hit95 = 0
    for e in range(50):
        alpha = [0.3, 0.7, 1.5][e % 3]
        true = Law(1.0, 1.0, alpha, 120e3)
        fc = forecast_ladder(ladder(true, rng=rng, noise=0.01, doc_spread=0.3, n_docs=60), n_boot=200, seed=e)
        nb, d = docs(rng, 60, 0.3)
        truth = true(480e3) * (1 + 0.01 * rng.normal()) * (d * nb).sum() / nb.sum()
        lo80, hi80 = fc.interval(480, 0.8)
        lo95, hi95 = fc.interval(480, 0.95)
        hit80 += lo80 <= truth <= hi80
        hit95 += lo95 <= truth <= hi95
    assert 0.64 <= hit80 / 50 <= 0.96
    assert hit95 / 50 >= 0.84


def _leaving_plateau(e: int):
    """A curve of another family than the fitted law: flat near 8 bits per byte, then
    falling, then bending toward a floor of 1 (a small model leaving its initial
    plateau, as real LSTM ladders on CPU budgets do)."""
    x0 = [40e3, 60e3, 90e3][e % 3]
    return lambda x: 1.0 + 7.0 / (1 + (x / x0) ** 1.5)


def _coverage(family, n: int = 30) -> tuple[float, float, int]:
    """80% and 95% coverage at 4x over ``n`` ladders drawn from ``family``, as in the
    test above, and how many were flagged as leaving their plateau."""
    rng = np.random.default_rng(3)
    hit80 = hit95 = flagged = 0
    for e in range(n):
        true = family(e)
        fc = forecast_ladder(ladder(true, rng=rng, noise=0.01, doc_spread=0.3, n_docs=60), n_boot=200, seed=e)
        nb, d = docs(rng, 60, 0.3)
        truth = true(480e3) * (1 + 0.01 * rng.normal()) * (d * nb).sum() / nb.sum()
        (lo80, hi80), (lo95, hi95) = fc.interval(480, 0.8), fc.interval(480, 0.95)
        hit80, hit95, flagged = hit80 + (lo80 <= truth <= hi80), hit95 + (lo95 <= truth <= hi95), flagged + fc.plateau
    return hit80 / n, hit95 / n, flagged


def test_a_ladder_leaving_its_plateau_is_flagged():
    """What the forecast claims of such curves: each is marked ``plateau`` (so no answer is
    said to hold against it, and its sentence calls it pessimistic or optimistic)."""
    assert _coverage(_leaving_plateau)[2] == 30


def test_seeds_are_drawn_and_their_spread_sets_the_run_noise():
    rng = np.random.default_rng(4)
    one = forecast_ladder(ladder(Law(1.0, 1.0, 0.5, 120e3), rng=rng, seeds=1), n_boot=200)
    three = forecast_ladder(ladder(Law(1.0, 1.0, 0.5, 120e3), rng=rng, seeds=3, noise=0.05), n_boot=200)
    assert one.run_sd[1] == 0.0 and three.run_sd[1] > 0.02  # measured seed spread, about 5% of ~2
    assert [m["seeds"] for m in three.measured] == [3, 3, 3]
    assert np.diff(three.interval(480, 0.95))[0] > np.diff(one.interval(480, 0.95))[0]


def test_without_tokens_the_law_is_fitted_against_the_budget():
    true = Law(0.5, 1.0, 0.5, 120.0)
    lad = ladder(true, [15, 30, 60, 120], rate=1.0)
    for p in lad.points:
        p.tokens_seen = None
    fc = forecast_ladder(lad, n_boot=100, noise_floor=1e-4)
    assert fc.law.x_ref == 120.0
    assert fc.value(1200) == pytest.approx(true(1200), abs=0.005)


def test_repetition_lowers_the_forecast_gain_and_is_flagged():
    # 1 MB of unique data, 30 kB/s: the 120 s rung reads 3.6 epochs, 20 min would read 36
    true = Law(1.0, 1.0, 0.6, float(effective_data(120 * 3e4, 1e6)))
    lad = ladder(true, rate=3e4, unique=1e6)
    rep = forecast_ladder(lad, n_boot=100, noise_floor=1e-4, r_star=R_STAR)
    fresh = forecast_ladder(lad, n_boot=100, noise_floor=1e-4, r_star=None)
    assert rep.value(1200) == pytest.approx(true(effective_data(1200 * 3e4, 1e6)), abs=0.01)
    assert rep.value(1200) > fresh.value(1200) + 0.05  # repeated data is worth less than fresh
    # the default spreads R* from 15.4 to infinity (no penalty): the central value lies between, the
    # replicates use five values of R*, and the 95% interval reaches towards both ends
    both = forecast_ladder(lad, n_boot=200, noise_floor=1e-4)
    assert r_star_levels(R_STAR_RANGE) == pytest.approx([154.0, 154 / 3, 30.8, 22.0, 154 / 9])
    assert both.axis.r_star == pytest.approx(30.8) and len(set(both.axis.r_star_draws)) == 5
    assert fresh.value(1200) < both.value(1200) < rep.value(1200)
    lo, hi = both.interval(1200, 0.95)
    assert lo < (both.value(1200) + fresh.value(1200)) / 2 and hi > (both.value(1200) + rep.value(1200)) / 2


def test_rouge_is_fitted_as_one_minus_the_score():
    rng = np.random.default_rng(5)
    true = Law(0.6, 0.3, 0.5, 120e3)  # 1 - ROUGE-L: 0.9 at 120 s
    pts = []
    for b in [30.0, 60.0, 120.0]:
        score = np.clip(1 - true(b * 1e3) + 0.05 * rng.normal(size=(1, 24)), 0, 1)
        score += (1 - true(b * 1e3)) - score.mean()  # the mean is exact
        pts.append(LadderPoint(budget=b, doc_score=score, tokens_seen=b * 1e3))
    fc = forecast_ladder(Ladder("a", pts, metric="rougeL"), n_boot=200, noise_floor=1e-4)
    assert fc.measured[-1]["value"] == pytest.approx(0.1)
    assert fc.value(480) == pytest.approx(1 - true(480e3), abs=0.01)
    lo, hi = fc.interval(480, 0.95)
    assert lo <= fc.value(480) <= hi and 0 <= lo and hi <= 1


# -- backtest and crossover ----------------------------------------------------------------
def test_backtest_predicts_the_largest_rung_from_the_others():
    true = Law(1.0, 1.0, 0.5, 120e3)
    (bt,) = backtest([ladder(true, [15, 30, 60, 120])], n_boot=200, noise_floor=1e-4)
    assert set(bt) >= {"arm", "predicted", "actual", "ci80", "ci95"}
    assert bt["arm"] == "a" and bt["budget"] == 120
    assert bt["actual"] == pytest.approx(true(120e3))
    assert bt["predicted"] == pytest.approx(bt["actual"], abs=0.01)
    assert bt["ci95"][0] <= bt["actual"] <= bt["ci95"][1] and bt["inside95"]
    assert backtest([ladder(true, [60, 120])]) == []  # two rungs: nothing to hold out


def test_crossover_of_two_known_laws():
    # finetune: 0.8 + 0.1 (B/120)^-0.3; scratch: 0.3 + 0.9 (B/120)^-0.8 (each law in its own
    # bytes; same rates would give the same budgets): they cross where 0.5 + 0.1 t^-0.3 = 0.9 t^-0.8
    ft = forecast_ladder(ladder(Law(0.8, 0.1, 0.3, 12e3), [15, 30, 60, 120], arm="finetune", rate=100),
                         n_boot=200, noise_floor=1e-4)
    sc = forecast_ladder(ladder(Law(0.3, 0.9, 0.8, 3.6e6), [15, 30, 60, 120], arm="scratch", rate=3e4),
                         n_boot=200, noise_floor=1e-4)
    from scipy.optimize import brentq

    t = brentq(lambda t: 0.5 + 0.1 * t**-0.3 - 0.9 * t**-0.8, 1.0, 10.0)
    (c,) = crossover({"finetune": ft, "scratch": sc}, 15, 12000)
    assert c["arm"] == "scratch" and c["overtakes"] == "finetune"
    assert c["budget"] == pytest.approx(120 * t, rel=0.02)
    assert c["ci95"][0] <= 120 * t <= c["ci95"][1]
    assert c["probability"] > 0.95


def test_laws_that_never_cross_say_not_within_100x():
    a = forecast_ladder(ladder(Law(0.5, 0.5, 0.5, 120e3), arm="a"), n_boot=100, noise_floor=1e-4)
    b = forecast_ladder(ladder(Law(1.0, 0.5, 0.5, 120e3), arm="b"), n_boot=100, noise_floor=1e-4)
    (c,) = crossover({"a": a, "b": b}, 30, 100 * 120)
    assert c["budget"] is None and c["note"] == "not within 100x" and c["leader"] == "a"
    assert c["probability"] == 0.0


# -- data, effective data transferred ------------------------------------------------------
def data_points(law, sizes, seen=None, rng=None):
    rng = rng or np.random.default_rng(0)
    nb = rng.integers(200, 800, 30).astype(float)
    return [DataPoint(train_bytes=u, doc_bytes=nb, tokens_seen=seen,
                      doc_nll=(law(float(effective_data(seen, u)) if seen else u) * nb * LN2)[None])
            for u in sizes]


def test_data_forecast_at_2x_and_10x():
    true = Law(0.5, 1.0, 0.5, 1e6)
    fc = forecast_data("scratch", data_points(true, [1e5, 3e5, 1e6]), n_boot=200, noise_floor=1e-4)
    assert fc.value(2e6) == pytest.approx(true(2e6), abs=0.005)
    assert fc.value(1e7) == pytest.approx(true(1e7), abs=0.01)
    lo, hi = fc.interval(1e7, 0.95)
    assert lo <= true(1e7) <= hi


def test_data_beyond_what_the_budget_reads_is_capped():
    # the budget reads 1.5 MB: 10x the data (10 MB) is worth what 1.5 MB fresh is
    true = Law(0.5, 1.0, 0.5, 1e6)
    pts = data_points(true, [1e5, 3e5, 1e6], seen=1.5e6)
    fc = forecast_data("scratch", pts, n_boot=100, noise_floor=1e-4)
    assert fc.value(1e7) == pytest.approx(true(1.5e6), abs=0.01)
    block = data_blocks({"scratch": pts}, "valid_bits_per_byte", 1e6, (2.0, 10.0), [], 100, 0, R_STAR_RANGE)
    rows = block["data"]["scratch"]["forecasts"]
    assert [r["multiple"] for r in rows] == [2.0, 10.0]
    assert "capped by the budget" in rows[1]["note"]


def test_effective_data_transferred_on_known_laws():
    true = Law(0.5, 1.0, 0.5, 1e6)  # scratch at the user's 1 MB: 1.5
    fc = forecast_data("scratch", data_points(true, [1e5, 3e5, 1e6]), n_boot=200, noise_floor=1e-4)
    # fine-tuned at 1.0: 0.5 + (x/1e6)^-0.5 = 1.0 -> x = 4 MB, 4x the user's data
    t = effective_data_transferred(fc, 1.0, 1e6)
    assert t["multiple"] == pytest.approx(4.0, rel=0.02) and t["reason"] is None
    assert t["ci95"][0] <= 4.0 <= t["ci95"][1]


def test_effective_data_transferred_beyond_what_the_fit_can_tell():
    true = Law(0.5, 1.0, 0.5, 1e6)
    fc = forecast_data("scratch", data_points(true, [1e5, 3e5, 1e6]), n_boot=100, noise_floor=1e-4)
    below_floor = effective_data_transferred(fc, 0.4, 1e6)
    assert below_floor["multiple"] is None and "floor" in below_floor["reason"]
    assert below_floor["reason"].startswith("beyond what the fit can tell")
    far = effective_data_transferred(fc, 0.5 + 1000**-0.5, 1e6)  # needs 1000x the data
    assert far["multiple"] is None and "100x" in far["reason"]


def test_transfer_block_compares_scratch_with_the_finetuned_arm():
    scratch, tuned = Law(0.5, 1.0, 0.5, 1e6), Law(0.9, 0.1, 0.3, 1e6)  # tuned 1.0 at 1 MB
    data = {"finetune": data_points(tuned, [1e5, 3e5, 1e6]), "scratch-lstm": data_points(scratch, [1e5, 3e5, 1e6])}
    block = data_blocks(data, "valid_bits_per_byte", 1e6, (2.0, 10.0), ["finetune"], 200, 0, R_STAR_RANGE)
    t = block["transfer"]["scratch-lstm"]
    assert t["reference"] == "finetune" and t["multiple"] == pytest.approx(4.0, rel=0.1)
    assert t["train_bytes"] == pytest.approx(t["multiple"] * 1e6)  # in the user's own training bytes
    # runs that read less than an epoch of their data could not have used more of it: withheld
    short = {a: data_points(law, [1e5, 3e5, 1e6], seen=5e4) for a, law in (("finetune", tuned), ("scratch-lstm", scratch))}
    t = data_blocks(short, "valid_bits_per_byte", 1e6, (2.0,), ["finetune"], 50, 0, R_STAR_RANGE)["transfer"]["scratch-lstm"]
    assert t["multiple"] is None and "less than one epoch" in t["reason"]


# -- budgets in words ------------------------------------------------------------------
def test_budgets_read_plainly():
    assert [fmt_budget(v) for v in (90, 480, 7200, 3 * 86400)] == ["90 s", "8 min", "2 h", "3 d"]
    assert fmt_budget(3.2e6, "tokens") == "3.2M tokens" and fmt_budget(4e5, "tokens") == "400k tokens"
    assert fmt_budget(400, "steps") == "400 steps" and fmt_budget(2e15, "flops") == "2e+15 flops"


# -- the baseline's plateau rule -----------------------------------------------------------
def test_a_ladder_leaving_its_plateau_is_flagged_and_a_power_law_is_not():
    from roundtable.forecast import accelerating

    # measured (bench/forecast.py): scratch-lstm at 250k, 500k and 1M tokens of docstrings; 2.51 at 4M, forecast 2.77
    x = np.array([250e3, 500e3, 1e6])
    y = np.array([4.770, 4.206, 3.591])
    assert accelerating(x, y, 0.01 * y)
    law = 1.0 + 3.0 * (x / 1e6) ** -0.3  # any law E + A x^-alpha: its local slope never grows
    assert not accelerating(x, law, 0.01 * law) and not accelerating(x, 3.0 * x**-0.3, 0.01 * y)
    rng = np.random.default_rng(0)
    noisy = 3.0 * x**-0.3 * (1 + 0.01 * rng.normal(size=(4000, 3)))
    rate = np.mean([accelerating(x, v, 0.01 * v) for v in noisy])
    assert 0.12 < rate < 0.21  # one sd: about 16% false alarms on a pure power law at the noise floor

