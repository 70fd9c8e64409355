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
    assert got.params == pytest.approx(2000.0)  # the main runs' mean


def test_the_floor_is_carried_to_the_curve_subset_and_kept_by_every_refit():
    # the points score the curve subset, the floor is in bits per byte of the whole text:
    # with the whole text 15% above the subset, the law's L0 is the floor / 1.15
    law = capacity_law()
    run = synthetic(dataclasses.replace(law, L0=law.L0 / 1.15), CONSTANT, 300, 300)
    run = dataclasses.replace(run, final=float(run.loss[-1]) * 1.15)
    a = ArmCurves("scratch-lstm", [run], budget=300.0, bits_per_byte=run.final, bigram=8.0, params=PARAMS,
                  unique=100 * BPS)  # three epochs: the repetition rule's spread is fitted too
    fc = forecast_arm(a, r_star=15.4, n_boot=20)
    assert fc.ratio == pytest.approx(1.15) and fc.law.L0 * fc.ratio == pytest.approx(capacity_floor(PARAMS))
    assert all(r is not None and r[0] in CAPACITY and r[1].L0 == fc.law.L0 for r in fc.replicates)
    spread = [x for x in fc.alternatives if x[0] != 15.4]  # the fits at each end of R_STAR_SPREAD
    assert {x[0] for x in spread} == set(arm_module.R_STAR_SPREAD)
    assert all(x[2].L0 == pytest.approx(fc.law.L0) for x in spread)


def test_the_comparison_floors_scratch_arms_at_their_size_and_not_pretrained_ones(tmp_path):
    from roundtable.config.settings import BudgetConfig
    from roundtable.forecast.block import R_STAR_CENTRAL, R_STAR_FALLBACK
    from roundtable.forecast.ladder import build
    from roundtable.tasks import task_class
    from tests.helpers import finished_run

    steps = 240
    curve = [{"step": s, "subset_bits_per_byte": 2.0 + 3.0 * (s + 50) ** -0.3} for s in range(20, steps + 1, 20)]
    runs = [finished_run(arm, steps=steps, train_bytes=steps * 1024, curve=curve, params=PARAMS,
                         recipe={"name": arm, "schedule": "constant"},
                         final={"valid_bits_per_byte": curve[-1]["subset_bits_per_byte"]})
            for arm in ("scratch-lstm", "finetune")]
    block = build(runs, [], task_class("lm")(), tmp_path, BudgetConfig(seconds=None, bytes=steps * 1024), "4x",
                  {1.0: 10**7}, 8.0)
    scratch, tuned = (block["arms"][a]["params"] for a in ("scratch-lstm", "finetune"))
    assert scratch["law"].startswith("floor at its size's capacity") and scratch["r_star"] == R_STAR_CENTRAL
    assert scratch["capacity_floor"] == pytest.approx(capacity_floor(PARAMS)) and scratch["model_params"] == PARAMS
    # the same curve from a pretrained model: the floor's law was fitted on models trained from scratch
    assert "capacity" not in tuned["law"] and tuned["r_star"] == R_STAR_FALLBACK
    assert tuned["capacity_floor"] is None and tuned["model_params"] is None
    assert block["arms"]["finetune"]["value"] != pytest.approx(block["arms"]["scratch-lstm"]["value"], abs=1e-3)
