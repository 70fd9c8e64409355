"""lrsearch.py: the same learning-rate search for every arm."""

from __future__ import annotations

import math

import pytest

from roundtable.config import BudgetConfig, SearchConfig, arm_defaults
from roundtable.errors import Diverged
from roundtable.lrsearch import grid, search_rate

ARM = arm_defaults("scratch-lstm")  # recipe rate 0.01


def test_grid_starts_at_the_recipe_and_steps_half_decades():
    rates = grid(0.01, 5)
    assert rates[0] == 0.01
    assert [math.log10(r / 0.01) for r in rates] == pytest.approx([0, -0.5, 0.5, -1, 1])


def test_slice_budget_is_a_share_of_seconds_or_steps():
    assert BudgetConfig(seconds=120).scaled(0.1).seconds == pytest.approx(12)
    assert BudgetConfig(seconds=None, max_steps=200).scaled(0.1).max_steps == 20
    assert BudgetConfig(seconds=None, max_steps=4).scaled(0.1).max_steps == 1
    assert BudgetConfig(seconds=120, curve_points=3).scaled(0.5).curve_points == 0


def fake(scores: dict, steps: int = 40, diverge=()):
    seen = []

    def train_slice(arm, budget, run_dir):
        seen.append(arm.learning_rate)
        if any(math.isclose(arm.learning_rate, d) for d in diverge):
            raise Diverged(3, float("nan"))
        return steps, scores[min(scores, key=lambda r: abs(math.log(r / arm.learning_rate)))]

    return train_slice, seen


def test_best_rate_wins_and_near_ties_go_to_the_larger_rate(tmp_path):
    budget = BudgetConfig(seconds=None, max_steps=400)
    train_slice, _ = fake({0.01: 2.00, 0.00316: 1.90, 0.0316: 2.50})
    r = search_rate(ARM, budget, SearchConfig(rates=3), train_slice, tmp_path)
    assert r.chosen_rate == pytest.approx(0.00316, rel=1e-2) and not r.kept_recipe
    # 0.01 within 2% of the best (1.97 <= 1.95 x 1.02): short slices favour small rates, the larger wins
    train_slice, _ = fake({0.01: 1.97, 0.00316: 1.95, 0.0316: 2.50})
    r = search_rate(ARM, budget, SearchConfig(rates=3), train_slice, tmp_path)
    assert r.chosen_rate == 0.01 and r.kept_recipe
    assert len(r.candidates) == 3 and r.seconds >= 0


def test_too_short_slice_keeps_the_recipe_after_one_slice(tmp_path):
    train_slice, seen = fake({0.01: 2.0, 0.00316: 1.0, 0.0316: 1.0}, steps=5)
    r = search_rate(ARM, BudgetConfig(seconds=120), SearchConfig(rates=3, min_steps=30), train_slice, tmp_path)
    assert seen == [0.01]  # one slice, at the recipe's rate: no more time spent
    assert r.chosen_rate == 0.01 and r.kept_recipe and "too short" in r.reason


def test_diverged_rates_are_not_chosen(tmp_path):
    train_slice, _ = fake({0.01: 2.0, 0.00316: 2.1, 0.0316: 0.5}, diverge=(0.0316227766,))
    r = search_rate(ARM, BudgetConfig(seconds=None, max_steps=400), SearchConfig(rates=3), train_slice, tmp_path)
    assert r.chosen_rate == 0.01
    assert [c["status"] for c in r.candidates] == ["ok", "ok", "diverged"]
    assert "too short" not in r.reason


def test_search_off(tmp_path):
    r = search_rate(ARM, BudgetConfig(seconds=60), SearchConfig(rates=0), None, tmp_path)
    assert r.chosen_rate == 0.01 and r.candidates == [] and r.reason == "search off"
