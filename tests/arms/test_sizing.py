"""size: auto: the rule's choice on known inputs, its monotony, the repeated-data cap, and a comparison."""

from __future__ import annotations

import math

import pytest

from roundtable.arms import arm_configs
from roundtable.arms.sizing import (
    ASPECT,
    HEAD_DIM,
    PUBLISHED_TOKENS_PER_PARAM,
    SMALLEST,
    TOKENS_PER_PARAM,
    Shape,
    budget_flops,
    family,
    flops_for_tokens,
    flops_per_token,
    matmul_params,
    predicted_loss,
    shape_for,
)
from roundtable.core.errors import UserError

FRESH = 1e15
"""Unique tokens far beyond any budget here: the data never repeats."""


def test_the_fresh_data_ratio_is_the_measured_ten_tokens_per_parameter_not_the_papers_twenty():
    # with alpha = beta, A/N^a = B/D^a at the optimum: D/N = (B/A)^(1/a); the paper's B = 1488
    # gives (1488/521)^(1/0.353) = 19.55, Chinchilla's ratio; ours is measured, 10
    assert PUBLISHED_TOKENS_PER_PARAM == pytest.approx(19.55, abs=0.01)
    assert TOKENS_PER_PARAM == 10.0  # the rule's use of it: the fresh-data tests below


def test_the_parameter_count_and_flops_match_the_built_model_and_train_flops():
    from roundtable.arms.transformer import build_transformer
    from roundtable.train.flops import flops_per_token as measured

    model = build_transformer(259, 3, 192, 3, 64, 0.0, 0, 256, 257, 258)
    s = Shape(3, 192)
    assert flops_per_token(s, 259, 64) == measured(model, 64)
    # per layer 4 d^2 + 3 d x 512 (8/3 x 192 = 512), tied head 259 x 192
    assert matmul_params(3, 192, 259) == 3 * (4 * 192**2 + 3 * 192 * 512) + 259 * 192


def test_the_family_has_heads_of_64_and_aspect_ratios_in_range():
    shapes = family(1024)
    assert shapes[0] == SMALLEST == Shape(1, 32) and SMALLEST.n_head == 1  # one head of 32, below the rest
    assert Shape(1, 64) in shapes and Shape(12, 768) in shapes and Shape(3, 64) not in shapes
    assert Shape(1, 128) not in shapes  # aspect 128: 0.10 bits per byte behind 2 x 64 on the calibration grid
    for s in shapes[1:]:
        assert s.n_embd % HEAD_DIM == 0 and s.n_head * HEAD_DIM == s.n_embd
        assert s.n_layer == 1 or ASPECT[0] <= s.n_embd / s.n_layer <= ASPECT[1]


@pytest.mark.parametrize("shape", [Shape(2, 128), Shape(4, 256), Shape(12, 768)])
def test_on_fresh_data_the_rule_picks_the_shape_chinchilla_sizes_for_the_budget(shape):
    # the budget at which `shape` reads exactly r tokens per parameter (context 1: the
    # attention term vanishes, C = 6 N D): Chinchilla's optimum is N itself, and the
    # family's choice is the shape or a neighbour of nearly the same size
    n = matmul_params(shape.n_layer, shape.n_embd, 256)
    c = 6 * n * TOKENS_PER_PARAM * n
    got = shape_for(c, FRESH, 256, 1)
    assert got.params == pytest.approx(n, rel=0.15)
    assert got.tokens_per_param == pytest.approx(TOKENS_PER_PARAM, rel=0.35)
    assert got.epochs < 1e-3


def test_the_choice_grows_with_the_budget():
    budgets = [10 ** (k / 4) for k in range(40, 80)]  # 1e10 .. 1e20
    for unique in (FRESH, 2e6):
        sizes = [shape_for(c, unique, 259, 128).params for c in budgets]
        assert sizes == sorted(sizes)
        assert sizes[-1] > sizes[0]


def test_repeated_data_caps_the_model_below_chinchillas_size():
    c = 1e16  # sqrt(1e16 / (6 x 10)) = 12.9M parameters, 129M tokens
    fresh = shape_for(c, FRESH, 259, 128)
    small = shape_for(c, 2e6, 259, 128)  # 2M unique tokens: about 65 epochs at the fresh-data size
    assert fresh.params == pytest.approx(math.sqrt(c / (6 * TOKENS_PER_PARAM)), rel=0.25)
    assert small.params < 0.7 * fresh.params
    assert small.epochs > 16  # more epochs of a smaller model, as Muennighoff et al. found
    # past a point, more compute on the same 2M tokens buys no bigger model
    assert shape_for(1e20, 2e6, 259, 128).shape == shape_for(1e22, 2e6, 259, 128).shape


def test_up_to_four_epochs_are_nearly_as_good_as_fresh_data_beyond_them_much_less():
    n, u = 1e6, 1e7
    fresh = [predicted_loss(n, e * u, FRESH) for e in (4, 40)]
    repeated = [predicted_loss(n, e * u, u) for e in (4, 40)]
    gain = predicted_loss(n, u, u) - fresh[0]  # what three more epochs of fresh text buy
    assert repeated[0] - fresh[0] < 0.1 * gain
    assert repeated[1] - fresh[1] > 2 * (repeated[0] - fresh[0])


def test_each_budget_kind_becomes_flops():
    assert budget_flops("flops", 3e12, 1.0, 256, None) == (3e12, "the budget in FLOPs")
    assert budget_flops("tokens", 1e6, 1.0, 256, None)[0] == flops_for_tokens(1e6) == 6e12 / TOKENS_PER_PARAM
    assert budget_flops("bytes", 4e6, 4.0, 256, None)[0] == flops_for_tokens(1e6)
    assert budget_flops("steps", 1000, 1.0, 1000, None)[0] == flops_for_tokens(1e6)
    assert budget_flops("seconds", 60, 1.0, 256, 1e10)[0] == 6e11
    # a token budget is the compute whose optimal model reads exactly those tokens
    assert shape_for(flops_for_tokens(2e8), FRESH, 256, 1).tokens_per_param == pytest.approx(TOKENS_PER_PARAM, rel=0.35)


def test_the_transformer_is_sized_by_default_and_a_shape_given_by_hand_is_kept():
    (auto,) = arm_configs(["scratch-transformer"], {})
    assert auto.size == "auto"
    (hand,) = arm_configs(["scratch-transformer"], {"scratch-transformer": {"n_embd": 256, "n_head": 4}})
    assert hand.size == "fixed" and hand.n_embd == 256
    (both,) = arm_configs(["scratch-transformer"], {"scratch-transformer": {"n_layer": 2, "size": "auto"}})
    assert both.size == "auto"  # asked for: the rule's shape replaces the given one


def test_size_is_checked_and_is_the_transformers_setting_only():
    with pytest.raises(UserError, match="size must be one of fixed, auto"):
        arm_configs(["scratch-transformer"], {"scratch-transformer": {"size": "large"}})
    with pytest.raises(UserError, match="size is a setting of scratch-transformer"):
        arm_configs(["scratch-lstm"], {"scratch-lstm": {"size": "auto"}})


def test_size_auto_sizes_the_transformer_in_a_comparison_and_records_why(lm_files, tmp_path):
    import roundtable
    from roundtable.arms.sizing import shape_for as rule

    train, valid = lm_files
    fixed = {"n_layer": 1, "n_embd": 16, "n_head": 2, "batch_size": 4}
    results = roundtable.compare(
        task="lm", data=train, valid=valid, arms=["scratch-transformer", "scratch-transformer#2"], budget="3e9flop",
        lr_search=0, curve_points=0, context_bytes=32, out=tmp_path / "auto", log=None, no_progress=True,
        arm_settings={"scratch-transformer": fixed, "scratch-transformer#2": {"size": "auto"}},  # a copy: its arm's, then its own
    )
    hand, auto = results.runs_of("scratch-transformer")[0], results.runs_of("scratch-transformer#2")[0]
    assert auto.status == hand.status == "ok"
    s = auto.sizing
    assert s is not None and hand.sizing is None
    assert s.budget_flops == 3e9 and s.unique_tokens > 10_000
    assert (s.n_layer, s.n_embd, s.n_head) == (auto.raw["recipe"]["n_layer"], auto.raw["recipe"]["n_embd"],
                                               auto.raw["recipe"]["n_head"])
    expected = rule(3e9, s.unique_tokens, s.raw["vocab_size"], auto.block_size)
    assert s.shape == str(expected.shape) and auto.model == f"llama-{s.n_layer}x{s.n_embd}-byte"
    assert auto.train_flops == pytest.approx(3e9, rel=0.2)  # the budget the rule sized for is what it trained on
    # a fixed size is as given
    assert hand.model == "llama-1x16-byte" and hand.raw["recipe"]["size"] == "fixed"
    from roundtable.report import render

    render(tmp_path / "auto")
    page = (tmp_path / "auto" / "report.md").read_text()
    assert "Model size chosen for the budget" in page and f"| scratch-transformer#2 | 1 | {s.shape} |" in page


def test_a_wall_clock_budget_becomes_flops_at_the_measured_peak_times_the_estimated_utilization():
    from roundtable.arms.sizing import MFU_ESTIMATE
    from roundtable.comparison.prepare import flops_per_second
    from roundtable.evaluate.precision import peak_gflops

    rate = flops_per_second("cpu", "fp32")
    assert rate == peak_gflops("fp32") * 1e9  # measured once per process: every arm is sized at the same rate
    flops, how = budget_flops("seconds", 120, 1.0, 256, rate * MFU_ESTIMATE)
    assert flops == pytest.approx(120 * rate * MFU_ESTIMATE) and "measured matmul peak" in how
