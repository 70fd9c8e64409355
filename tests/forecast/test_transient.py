"""The transient gate: no forecast from a run still learning byte statistics, and no
curve point above the training text's bigram entropy in the fit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from roundtable.forecast.arm import MIN_POINTS, ArmCurves, forecast_arm, past_transient, too_short
from tests.forecast.test_curves import CONSTANT, LAW, synthetic


def arm(run, bigram: float | None, metric: str = "valid_bits_per_byte") -> ArmCurves:
    return ArmCurves("a", [run], budget=300.0, metric=metric, bits_per_byte=float(run.final), bigram=bigram)


def test_a_run_not_yet_below_the_bigram_entropy_gets_no_forecast_and_says_why():
    run = synthetic(LAW, CONSTANT, 300, 300)
    end = float(run.final)
    fc = forecast_arm(arm(run, bigram=end), n_boot=10)  # its end exactly at the bigram entropy: not below it
    assert fc.law is None and fc.value(1200.0) != fc.value(1200.0)
    assert f"its score at the budget, {end:.2f} bits per byte, is not yet below the {end:.2f}" in fc.problem
    assert forecast_arm(arm(run, bigram=None), n_boot=10).problem is None  # no gate without the entropy


def test_a_run_that_crossed_it_late_has_too_few_points_past_it():
    run = synthetic(LAW, CONSTANT, 300, 300)  # 13 points, every 23 steps
    below = lambda k: float(np.sort(run.loss)[k - 1]) + 1e-9  # noqa: E731  (the last k points are below it)
    assert len(past_transient(arm(run, below(MIN_POINTS - 1))).runs[0].at) == MIN_POINTS - 1
    got = too_short(arm(run, below(MIN_POINTS - 1)))
    assert f"has {MIN_POINTS - 1} curve points below the" in got and f"fewer than a fit needs ({MIN_POINTS}" in got
    # six below, but only two before the last 30% the choice of law holds out: its fit would fail
    assert "has 6 curve points below" in too_short(arm(run, below(6))) and "(2 before the last 30%" in too_short(
        arm(run, below(6)))
    assert too_short(arm(run, below(7))) is None and forecast_arm(arm(run, below(7)), n_boot=10).law is not None


def test_points_above_it_are_left_out_of_the_fit():
    run = synthetic(LAW, CONSTANT, 300, 300, points=24)
    head = run.loss > np.median(run.loss)
    plateau = dataclasses.replace(run, loss=np.where(head, run.loss + 3.0, run.loss))  # a transient far above the law
    bigram = float(np.median(run.loss)) + 1e-9  # the median point itself is below it, as in the clean curve
    gated = forecast_arm(arm(plateau, bigram), n_boot=10)
    clean = forecast_arm(arm(dataclasses.replace(run, at=run.at[~head], loss=run.loss[~head]), None), n_boot=10)
    assert gated.value(1200.0) == pytest.approx(clean.value(1200.0))
    assert np.array_equal(past_transient(arm(plateau, bigram)).runs[0].at, run.at[~head])


def test_a_rouge_forecast_is_gated_by_the_score_in_bits_per_byte_alone():
    run = synthetic(LAW, CONSTANT, 300, 300)
    a = dataclasses.replace(arm(run, bigram=99.0, metric="rougeL"), bits_per_byte=3.0)
    assert past_transient(a) is a and too_short(a) is None  # 1 - ROUGE points are not bits per byte
    assert "not yet below" in too_short(dataclasses.replace(a, bigram=2.9))


def test_the_backtest_cuts_late_enough_to_fit_past_the_transient():
    from roundtable.forecast.block import BACKTEST_SHARE, backtest_share, forecast_block

    run = synthetic(LAW, CONSTANT, 300, 300, points=24)  # 25 points, every 12 steps
    assert backtest_share(arm(run, None)) == BACKTEST_SHARE  # no transient left out: half the run
    last_out = int(np.flatnonzero(run.at <= 120)[-1])  # the transient ends at 40% of the run
    bigram = float(run.loss[last_out] + run.loss[last_out + 1]) / 2
    kept = run.at[last_out + 1:] / 300
    want = kept[2] / 0.7  # three points before the held-out last 30% of what the backtest fits
    assert backtest_share(arm(run, bigram)) == pytest.approx(want) and 0.5 < want < 1
    block = forecast_block({"a": arm(run, bigram)}, 1200.0, n_boot=10, unit="steps")
    assert [b["from_share"] for b in block["backtest"]] == [pytest.approx(want)]
