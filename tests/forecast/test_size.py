"""The forecast of an arm sized to its budget is for the shape the rule chooses at the target."""

from __future__ import annotations

import math

import pytest

from roundtable.arms.sizing import Shape, flops_for_tokens, flops_per_token, matmul_params, shape_for
from roundtable.forecast.arm import ArmCurves, forecast_arm
from roundtable.forecast.size import ALPHA, BETA, SIZE_SHARE, A, B, SizeTerm, law
from tests.forecast.test_curves import CONSTANT, LAW, synthetic

VOCAB, CONTEXT, UNIQUE = 259, 128, 360_000


def sized(budget_flops: float, kind: str) -> SizeTerm:
    s = shape_for(budget_flops, UNIQUE, VOCAB, CONTEXT)
    return SizeTerm.from_record(s.to_dict(), kind)


def test_a_token_budget_trains_the_same_tokens_so_only_the_parameter_term_moves():
    term = sized(flops_for_tokens(250_000), "bytes")
    assert term.trained == Shape(1, 32)
    # a quarter of a million tokens: the run trained exactly those, and at 10x ten times as many
    assert term.tokens(term.trained, 1.0) == pytest.approx(250_000)
    assert term.flops_at(10.0) == pytest.approx(flops_for_tokens(2_500_000))  # compute grows with the square
    target = term.shape_at(10.0)
    assert target == shape_for(flops_for_tokens(2_500_000), UNIQUE, VOCAB, CONTEXT).shape != term.trained
    n0, n1 = (matmul_params(s.n_layer, s.n_embd, VOCAB) for s in (term.trained, target))
    assert term.delta(10.0) == pytest.approx(A * (n1**-ALPHA - n0**-ALPHA))  # the D terms cancel
    assert term.delta(10.0) < -0.2  # a larger model on the same tokens scores better


def test_a_compute_budget_buys_fewer_tokens_for_the_larger_shape():
    term = sized(3e11, "flops")
    target = term.shape_at(10.0)
    assert target != term.trained
    assert term.tokens(target, 10.0) == pytest.approx(3e12 / flops_per_token(target, VOCAB, CONTEXT))
    assert term.tokens(target, 10.0) < term.tokens(term.trained, 10.0)
    n0, n1 = (matmul_params(s.n_layer, s.n_embd, VOCAB) for s in (term.trained, target))
    want = law(n1, term.tokens(target, 10.0), UNIQUE) - law(n0, term.tokens(term.trained, 10.0), UNIQUE)
    assert term.delta(10.0) == pytest.approx(want) and want < 0


def test_no_step_where_the_rule_keeps_the_shape_or_below_the_budget():
    term = sized(3e11, "flops")
    assert term.delta(1.0) == 0.0 and term.delta(0.25) == 0.0 and term.shape_at(0.25) == term.trained
    keep = next(m for m in (1.01, 1.05, 1.1) if term.shape_at(m) == term.trained)
    assert term.delta(keep) == 0.0


def test_the_law_counts_repeats_as_less_data():
    fresh = law(100_000, 1e6, 1e6)
    assert fresh == pytest.approx(A / 100_000**ALPHA + B / 1e6**BETA)  # fresh data counts in full
    assert law(100_000, 1e6, 1e5) > fresh  # ten epochs of a tenth are worth less than fresh data
    assert law(100_000, 1e6, 1e5) < law(100_000, 1e5, 1e5)  # but more than one epoch of it


def test_the_forecast_adds_the_step_to_the_rule_shape_and_widens_by_its_share():
    term = sized(flops_for_tokens(250_000), "bytes")
    runs = [synthetic(LAW, CONSTANT, 300, 300)]
    plain = forecast_arm(ArmCurves("scratch-transformer", runs, budget=300.0), n_boot=20)
    fc = forecast_arm(ArmCurves("scratch-transformer", runs, budget=300.0, size=term), n_boot=20)
    d = term.delta(10.0)
    assert fc.loss(3000.0) == pytest.approx(plain.loss(3000.0) + d)
    assert fc.curve_loss(3000.0) == pytest.approx(plain.loss(3000.0))
    assert fc.loss(300.0) == pytest.approx(plain.loss(300.0))  # at the budget it is the shape trained
    assert fc.scale(3000.0) == pytest.approx(math.hypot(plain.scale(3000.0), SIZE_SHARE * d), rel=1e-6)
    lo, hi = fc.interval(3000.0, 0.95)
    assert lo <= fc.value(3000.0) <= hi
    # the replicates move with the central value, so the fit's own spread is unchanged
    assert (fc.replicate_losses(3000.0) - d) == pytest.approx(plain.replicate_losses(3000.0))


def test_a_rouge_forecast_has_no_size_step():
    term = sized(flops_for_tokens(250_000), "bytes")
    runs = [synthetic(LAW, CONSTANT, 300, 300)]
    fc = forecast_arm(ArmCurves("a", runs, budget=300.0, metric="rougeL", size=term), n_boot=10)
    assert fc.size is None and fc.size_delta(3000.0) == 0.0

