"""The capacity floor: a curve's law floored at E + A/N^alpha of the arm's size, where the
size is known and the floor is below the curve; the fallback laws otherwise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from roundtable.forecast import arm as arm_module
from roundtable.forecast.arm import ArmCurves, curve_inputs, forecast_arm, run_areas
from roundtable.forecast.curvelaw import CAPACITY, CAPACITY_MARGIN, SHIFT_STEPS, CurvePoints, ScheduleLaw
from roundtable.forecast.size import ALPHA, E_RANGE, E_TEXT, A, capacity_floor
from tests.forecast.test_curves import BPS, CONSTANT, lam_of, synthetic, truth

PARAMS = 100_000.0


def test_the_floor_is_the_parameter_term_of_the_chinchilla_form_plus_e():
    assert capacity_floor(PARAMS) == pytest.approx(E_TEXT + A * PARAMS**-ALPHA)
    assert capacity_floor(PARAMS, e=0.0) * 2**ALPHA == pytest.approx(capacity_floor(PARAMS / 2, e=0.0))
    assert capacity_floor(1e40) == pytest.approx(E_TEXT, abs=1e-9)  # a model of any size is left with E


def capacity_law(params: float = PARAMS) -> ScheduleLaw:
    """A constant-rate curve that flattens towards the capacity floor of ``params``."""
    ref = run_areas(CONSTANT, 300, BPS, None, None, lam_of(300))[0]
    return ScheduleLaw(L0=capacity_floor(params), A=1.5, alpha=0.45, C=0.0, S0=SHIFT_STEPS * BPS / ref)


def arm(law: ScheduleLaw, params: float | None, *, metric: str = "valid_bits_per_byte",
        bigram: float | None = 8.0) -> ArmCurves:
    run = synthetic(law, CONSTANT, 300, 300)
    return ArmCurves("scratch-lstm", [run], budget=300.0, metric=metric, bits_per_byte=float(run.final),
                     bigram=bigram, params=params)


def test_a_curve_of_the_capacity_law_is_forecast_with_its_floor():
    law = capacity_law()
    fc = forecast_arm(arm(law, PARAMS), n_boot=10)
    assert fc.candidate in CAPACITY and fc.law.L0 == pytest.approx(capacity_floor(PARAMS))
    assert fc.law.alpha == pytest.approx(0.45, rel=0.02)
    for k in (4, 10):
        assert fc.value(300.0 * k) == pytest.approx(truth(law, CONSTANT, 300 * k, 300), abs=0.005)


def test_without_a_known_size_below_the_curve_the_fallback_laws_are_used():
    law = capacity_law()
    assert forecast_arm(arm(law, None), n_boot=10).candidate not in CAPACITY
    assert forecast_arm(arm(law, PARAMS, bigram=None), n_boot=10).candidate not in CAPACITY  # not the whole text
    assert forecast_arm(arm(law, PARAMS, metric="rougeL"), n_boot=10).candidate not in CAPACITY
    # a model too small for the curve it drew: its floor is above the points, so the text's E is lower
    tiny = PARAMS / 1e4
    assert capacity_floor(tiny) > law(1.0, 0.0)
    assert forecast_arm(arm(law, tiny), n_boot=10).candidate not in CAPACITY


def test_the_floor_must_be_below_every_point_by_the_margin():
    y = np.array([3.0, 2.5, 2.2])
    pts = CurvePoints(np.ones(3), np.zeros(3), y, np.ones(3), np.ones(3, bool))
    assert not pts.capacity_fits()  # no floor known
    assert dataclasses.replace(pts, floor=2.2 * (1 - CAPACITY_MARGIN) - 1e-6).capacity_fits()
    assert not dataclasses.replace(pts, floor=2.2 * (1 - CAPACITY_MARGIN) + 1e-6).capacity_fits()


def test_the_uncertain_e_widens_the_scale(monkeypatch):
    law = capacity_law()
    wide = forecast_arm(arm(law, PARAMS), n_boot=10)
    monkeypatch.setattr(arm_module, "E_RANGE", (E_TEXT, E_TEXT))
    narrow = forecast_arm(arm(law, PARAMS), n_boot=10)
    assert narrow.value(3000.0) == pytest.approx(wide.value(3000.0))
    assert wide.scale(3000.0) > narrow.scale(3000.0)
    # at the ends of E's span the floor moves by the span, the forecast by less (the curve holds it)
    assert E_RANGE[0] < E_TEXT < E_RANGE[1]
    ends = [a for a in wide.alternatives if abs(a[2].L0 - capacity_floor(PARAMS)) > 0.1]
    assert len(ends) == 2


def test_the_runs_give_the_arm_its_size():
    runs = [{"arm": "a", "steps": 100, "train_bytes": 1e5, "params": p, "budget_share": share,
             "curve": [{"step": s, "subset_bits_per_byte": 3.0 - s / 100} for s in (25, 50, 75, 100)],
             "final": {"valid_bits_per_byte": 2.0}} for p, share in ((1000, 1.0), (3000, 1.0), (9000, 0.25))]
    got = curve_inputs(runs, "valid_bits_per_byte", "subset_bits_per_byte", "valid_bits_per_byte", 100.0, None, "a")
    assert got.params == pytest.approx(2000.0)  # the main runs' mean; the extra run is not the arm's size
