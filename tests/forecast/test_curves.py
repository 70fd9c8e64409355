"""The whole-curve forecast: the schedule's areas, the law's fit and choice, one arm's
forecast with intervals, the results.json block and its sentence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from roundtable.core.files import _clean
from roundtable.forecast import forecast_sentence
from roundtable.forecast.arm import (
    MIN_POINTS,
    MIN_STEPS,
    ArmCurves,
    RunInput,
    conformal_factors,
    forecast_arm,
    run_areas,
)
from roundtable.forecast.block import forecast_block
from roundtable.forecast.curvelaw import FLOORED, SHIFT_STEPS, CurvePoints, ScheduleLaw, fit, select
from roundtable.forecast.schedule import Schedule, areas, at_steps
from roundtable.train.budget import lr_multiplier

BPS = 1000.0  # bytes per step
COSINE = Schedule("cosine", 0.05)
CONSTANT = Schedule("constant", 0.0)


def lam_of(steps: int) -> float:
    from roundtable.forecast.arm import MEMORY

    return 1.0 - 1.0 / (MEMORY * steps)


def synthetic(law: ScheduleLaw, schedule: Schedule, steps: int, main_steps: int, *, points: int = 12,
              noise: float = 0.0, rng=None, main: bool = True) -> RunInput:
    """A run whose curve is the law itself (areas scaled as forecast_arm scales them), times noise."""
    lam = lam_of(main_steps)
    ref = run_areas(schedule, main_steps, BPS, None, None, lam)[0]
    at = np.round(np.linspace(steps / (points + 1), steps, points + 1)).astype(int)
    s1, s2 = at_steps(schedule, steps, BPS, at, None, None, lam)
    y = law(s1 / ref, s2 / ref)
    if noise:
        y = y * (1 + noise * rng.normal(size=len(y)))
    return RunInput(steps, steps * BPS, schedule, at.astype(float), y, main, float(y[-1]) if main else None)


def truth(law: ScheduleLaw, schedule: Schedule, steps: int, main_steps: int) -> float:
    lam = lam_of(main_steps)
    ref = run_areas(schedule, main_steps, BPS, None, None, lam)[0]
    return float(law(*(v / ref for v in run_areas(schedule, steps, BPS, None, None, lam))))


LAW = ScheduleLaw(L0=1.5, A=1.2, alpha=0.5, C=0.3)


def test_the_areas_follow_the_training_paths_schedule():
    rates = COSINE.rates(200)
    assert rates[0] == lr_multiplier(0.0, 0.05, "cosine") and rates[150] == lr_multiplier(150 / 200, 0.05, "cosine")
    s1, s2 = areas(CONSTANT, 200, BPS, None, None)
    assert s1[-1] == pytest.approx(200 * BPS) and np.all(s2 == 0)  # a constant rate never anneals
    s1, s2 = areas(COSINE, 200, BPS, None, None)
    assert s1[-1] < 200 * BPS and s2[-1] > 0 and np.all(np.diff(s2) >= 0)
    # under repetition the rate's area grows more slowly once the data is seen again
    s1r, _ = areas(CONSTANT, 200, BPS, 50 * BPS, 15.4)
    assert s1r[49] == pytest.approx(50 * BPS) and s1r[-1] < 200 * BPS
    # long runs are summed on sub-steps: the same areas within 0.5%
    exact = areas(COSINE, 4000, BPS, None, None, lam=0.999)
    coarse = run_areas(COSINE, 4000, BPS, None, None, 0.999)
    assert coarse[0] == pytest.approx(exact[0][-1], rel=5e-3) and coarse[1] == pytest.approx(exact[1][-1], rel=5e-3)


def test_the_fit_gives_back_the_law_of_noise_free_points():
    lam = 0.99
    s1a, s2a = at_steps(COSINE, 400, 1.0, np.arange(40, 401, 30), None, None, lam)
    s1b, s2b = at_steps(COSINE, 100, 1.0, np.arange(10, 101, 10), None, None, lam)
    s1, s2 = np.concatenate([s1a, s1b]) / 400, np.concatenate([s2a, s2b]) / 400
    got = fit(s1, s2, LAW(s1, s2))
    assert got.L0 == pytest.approx(1.5, abs=0.02) and got.alpha == pytest.approx(0.5, rel=0.03)
    assert got.C == pytest.approx(0.3, rel=0.05)
    assert fit(s1[:3], s2[:3], LAW(s1[:3], s2[:3])) is None  # fewer points than parameters + 1


def test_a_stretched_cosine_is_forecast_from_its_run_and_one_quarter_run():
    # the law predicts a 4x longer cosine run from the main run's curve and the extra run's
    # (a law with a floor and no shift: the choice among the unshifted laws with and without one)
    runs = [synthetic(LAW, COSINE, 400, 400), synthetic(LAW, COSINE, 100, 400, main=False)]
    fc = forecast_arm(ArmCurves("scratch-transformer", runs, budget=400.0), n_boot=20, candidates=FLOORED)
    assert fc.problem is None
    for k in (4, 10):
        assert fc.value(400.0 * k) == pytest.approx(truth(LAW, COSINE, 400 * k, 400), abs=0.01)
    lo, hi = fc.interval(1600.0, 0.95)
    assert lo <= fc.value(1600.0) <= hi


def test_a_constant_rate_is_forecast_from_its_own_curve_alone():
    law = ScheduleLaw(L0=1.0, A=2.0, alpha=0.3, C=0.0)
    fc = forecast_arm(ArmCurves("scratch-lstm", [synthetic(law, CONSTANT, 300, 300)], budget=300.0), n_boot=20,
                      candidates=FLOORED)
    assert fc.value(3000.0) == pytest.approx(truth(law, CONSTANT, 3000, 300), abs=0.01)


def test_a_curve_still_leaving_its_plateau_is_forecast_by_the_shifted_law():
    # no floor, S1 shifted by SHIFT_STEPS steps at the full rate (the default choice): the
    # curve's log-log slope still steepens over the run, and the fit gives the law back
    ref = run_areas(CONSTANT, 300, BPS, None, None, lam_of(300))[0]
    law = ScheduleLaw(L0=0.0, A=3.0, alpha=0.4, C=0.0, S0=SHIFT_STEPS * BPS / ref)
    fc = forecast_arm(ArmCurves("scratch-lstm", [synthetic(law, CONSTANT, 300, 300)], budget=300.0), n_boot=20)
    assert fc.law.S0 == pytest.approx(law.S0) and fc.law.alpha == pytest.approx(0.4, rel=0.03)
    assert fc.value(3000.0) == pytest.approx(truth(law, CONSTANT, 3000, 300), abs=0.01)
    # the unshifted law fitted to the same curve forecasts too little gain
    plain = forecast_arm(ArmCurves("scratch-lstm", [synthetic(law, CONSTANT, 300, 300)], budget=300.0), n_boot=20,
                         candidates=FLOORED)
    assert plain.value(3000.0) > fc.value(3000.0) + 0.05


def test_a_plateau_before_the_power_law_is_left_out_by_the_choice():
    # the first third sits on a plateau; the rest follows a power law without floor
    s1 = np.linspace(1 / 13, 1, 13)
    y = np.where(s1 < 0.3, 4.7, 3.0 * s1 ** -0.35)
    y = np.minimum(y, 4.7)
    pts = CurvePoints(s1, np.zeros(13), y, s1, np.ones(13, bool))
    cand, law = select(pts)
    assert cand.start >= 0.3
    assert law(2.0, 0.0) == pytest.approx(3.0 * 2.0 ** -0.35, rel=0.02)


def test_replicates_redo_the_choice_and_noise_widens_the_interval(fit_spread_only):
    rng = np.random.default_rng(3)
    clean = forecast_arm(ArmCurves("a", [synthetic(LAW, CONSTANT, 300, 300)], budget=300.0), n_boot=40)
    noisy = forecast_arm(ArmCurves("a", [synthetic(LAW, CONSTANT, 300, 300, noise=0.01, rng=rng)], budget=300.0),
                         n_boot=40)
    assert len(noisy.replicates) == 40 and {c.name for c, _ in noisy.replicates if c}  # a choice per replicate
    w = lambda f: np.diff(f.interval(1200.0, 0.95))[0]  # noqa: E731
    assert w(noisy) > w(clean)


def test_the_forecast_gain_enters_the_scale():
    from roundtable.forecast.arm import GAIN_SHARE

    fc = forecast_arm(ArmCurves("a", [synthetic(LAW, CONSTANT, 300, 300)], budget=300.0), n_boot=20)
    for k in (4, 10):
        gain = fc.loss(300.0) - fc.loss(300.0 * k)
        assert gain > 0.1 and fc.scale(300.0 * k) >= GAIN_SHARE * gain
    # a clean curve: the fit's own spreads are small, the further gain sets the width
    assert fc.scale(3000.0) > fc.scale(1200.0) > fc.scale(300.0)
    assert fc.scale(3000.0) == pytest.approx(GAIN_SHARE * (fc.loss(300.0) - fc.loss(3000.0)), rel=0.2)
    # the comparison's own backtest is fitted on half the curve: its gain starts there
    half = forecast_arm(ArmCurves("a", [synthetic(LAW, CONSTANT, 300, 300)], budget=300.0), n_boot=20, upto=0.5)
    assert half.fitted_at == 150.0 and half.loss(150.0) - half.loss(300.0) > 0.05
    assert half.scale(300.0) >= GAIN_SHARE * (half.loss(150.0) - half.loss(300.0))
    # and no gain is counted below where the fit ends
    assert fc.scale(75.0) < fc.scale(1200.0)


def test_too_few_steps_or_points_give_no_forecast_and_say_why():
    short = forecast_arm(ArmCurves("a", [synthetic(LAW, CONSTANT, MIN_STEPS - 10, MIN_STEPS - 10)], budget=1.0))
    assert short.law is None and f"fewer than the {MIN_STEPS}" in short.problem
    few = forecast_arm(ArmCurves("a", [synthetic(LAW, CONSTANT, 300, 300, points=MIN_POINTS - 2)], budget=1.0))
    assert few.law is None and f"fewer than the {MIN_POINTS}" in few.problem
    block = forecast_block({"a": ArmCurves("a", [synthetic(LAW, CONSTANT, 20, 20)], budget=20.0),
                            "b": ArmCurves("b", [synthetic(LAW, CONSTANT, 300, 300)], budget=300.0)}, 3000.0,
                           n_boot=10, unit="steps")
    s = forecast_sentence(block)
    assert f"a cannot be forecast: its run trained 20 steps, fewer than the {MIN_STEPS}" in s
    assert s.endswith("so the measured verdict stands alone.")


def test_the_shipped_factors_are_those_measured_by_the_bench():
    from roundtable.forecast.arm import CALIBRATION

    got = json.loads(CALIBRATION.read_text())
    f = conformal_factors()
    assert f == {float(k): v for k, v in got["factors"].items()} and f[0.95] > f[0.8] > 0
    assert got["forecasts"] >= 19  # a 95% quantile needs n + 1 >= 20 calibration forecasts


def two_arms(scratch: ScheduleLaw, steps: int = 300) -> dict[str, ArmCurves]:
    ft = ScheduleLaw(L0=0.9, A=0.05, alpha=0.3, C=0.02)
    return {"finetune": ArmCurves("finetune", [synthetic(ft, Schedule("linear", 0.05), steps, steps),
                                               synthetic(ft, Schedule("linear", 0.05), steps // 4, steps, main=False)],
                                  budget=float(steps)),
            "scratch-lstm": ArmCurves("scratch-lstm", [synthetic(scratch, CONSTANT, steps, steps)],
                                      budget=float(steps))}


def test_the_block_keeps_the_contract_names():
    block = forecast_block(two_arms(ScheduleLaw(1.0, 1.0, 0.5, 0.0)), 3000.0, n_boot=20, unit="steps")
    block = json.loads(json.dumps(_clean(block), allow_nan=False))
    assert isinstance(block["method"], str) and block["target_seconds"] == 3000.0 and block["unit"] == "steps"
    for arm in ("finetune", "scratch-lstm"):
        e = block["arms"][arm]
        assert e["metric"] == "valid_bits_per_byte" and isinstance(e["value"], float)
        assert e["ci95"][0] <= e["ci80"][0] <= e["value"] <= e["ci80"][1] <= e["ci95"][1]
        assert {"L0", "A", "alpha", "C", "law"} <= set(e["params"]) and e["band"][-1]["budget"] == pytest.approx(3000)
        assert e["curve"] and e["measured"][0]["at"] == 300.0
    assert [b["arm"] for b in block["backtest"]] == ["finetune", "scratch-lstm"]
    assert all({"predicted", "actual", "from_share"} <= set(b) for b in block["backtest"])


@pytest.fixture
def fit_spread_only(monkeypatch):
    """Scales of the fit's own spreads (no gain term): noise-free curves then give narrow
    intervals, and the claims' logic is what is tested."""
    from roundtable.forecast import arm as arm_module

    monkeypatch.setattr(arm_module, "GAIN_SHARE", 0.0)


def test_a_crossover_is_claimed_only_where_the_difference_at_the_target_excludes_zero(fit_spread_only):
    # the scratch arm starts far behind but falls fast: the two laws cross at about 715 steps
    # (noise-free curves: the fits give back the laws), well before the 3k-step target
    fast = ScheduleLaw(0.3, 1.5, 1.0, 0.0)
    block = forecast_block(two_arms(fast), 3000.0, n_boot=20, unit="steps", candidates=FLOORED)
    d = block["difference"]
    assert d["separated"] and d["leader"] == "scratch-lstm" and d["ci95"][0] > 0
    (c,) = block["crossover"]
    assert c["arm"] == "scratch-lstm" and c["overtakes"] == "finetune" and c["budget"] == pytest.approx(715, rel=0.05)
    # the crossing's intervals come from the calibrated spread: nested, around the central crossing
    assert c["ci95"][0] <= c["ci80"][0] <= c["budget"] <= c["ci80"][1] <= c["ci95"][1]
    s = forecast_sentence(block, answer="finetune")
    assert "scratch-lstm is forecast to overtake finetune after about 715 steps (80% interval" in s, s
    # the same arms with the difference's interval holding zero: nothing is claimed, for either arm
    block["difference"] = {**d, "ci95": [-1.0, 1.0], "separated": False}
    s = forecast_sentence(block, answer="finetune")
    assert "overtake" not in s and "stay ahead" not in s and "holds zero" in s, s


def test_the_crossings_interval_widens_with_the_calibrated_factors(fit_spread_only):
    fast = ScheduleLaw(0.3, 1.5, 1.0, 0.0)
    arms = two_arms(fast)
    narrow = forecast_block(arms, 3000.0, n_boot=20, unit="steps")["crossover"][0]
    from roundtable.forecast.arm import forecast_arm as fit_arm
    from roundtable.forecast.backtest import crossover

    fits = {a: fit_arm(ac, n_boot=20) for a, ac in arms.items()}
    for f in fits.values():
        f.factors = {k: 10 * v for k, v in f.factors.items()}
    wide = crossover(fits, 300.0, 3000.0)[0]
    assert wide["budget"] == pytest.approx(narrow["budget"])
    # wider on both sides; an upper end past the target is None (the crossing may not come by then)
    assert wide["ci80"][0] < narrow["ci80"][0] and (wide["ci80"][1] is None or wide["ci80"][1] > narrow["ci80"][1])
    assert narrow["ci80"][1] is not None


def test_the_measured_winner_stays_ahead_only_with_a_separated_difference():
    slow = ScheduleLaw(2.0, 0.3, 0.3, 0.0)  # the scratch arm stays above 2 bits per byte: far behind
    block = forecast_block(two_arms(slow), 1200.0, n_boot=20, unit="steps")
    assert block["difference"]["leader"] == "finetune" and block["difference"]["separated"]
    assert forecast_sentence(block, answer="finetune").endswith("finetune is forecast to stay ahead.")
    block["difference"]["separated"] = False
    assert "stay ahead" not in forecast_sentence(block, answer="finetune")


def test_intervals_cover_noisy_curves_of_the_law_at_the_shipped_factors():
    # 30 noisy constant-rate curves drawn from the law: the 95% interval at 4x covers the
    # truth in at least 80% (the factors are measured on real curves, whose errors are
    # larger than noise alone: on pure noise they are conservative, not too narrow)
    rng = np.random.default_rng(0)
    inside = 0
    for _ in range(30):
        law = ScheduleLaw(rng.uniform(0.8, 1.5), rng.uniform(0.5, 2.0), rng.uniform(0.2, 0.6), 0.0)
        fc = forecast_arm(ArmCurves("a", [synthetic(law, CONSTANT, 300, 300, noise=0.005, rng=rng)], budget=300.0),
                          n_boot=20)
        lo, hi = fc.interval(1200.0, 0.95)
        inside += lo <= truth(law, CONSTANT, 1200, 300) <= hi
    assert inside >= 24, inside
    assert math.isfinite(fc.scale(1200.0))
