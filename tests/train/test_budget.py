"""budget.py: the learning-rate schedule shape, the clock that excludes evaluation, stop rules."""

from __future__ import annotations

import time

import pytest

from roundtable.config.settings import BudgetConfig, parse_budget, parse_budget_spec
from roundtable.core.errors import UserError
from roundtable.train.budget import BudgetClock, lr_multiplier


@pytest.mark.parametrize("warmup", [0.05, 0.1, 0.5])
def test_lr_multiplier_endpoints(warmup):
    assert lr_multiplier(0.0, warmup) == pytest.approx(0.1)  # warmup starts at 10%
    assert lr_multiplier(warmup / 2, warmup) == pytest.approx(0.55)  # half way up: 0.1 + 0.9 / 2
    assert lr_multiplier(warmup, warmup) == pytest.approx(1.0)  # peak at the end of warmup
    assert lr_multiplier((1 + warmup) / 2, warmup) == pytest.approx(0.55)  # half way down
    assert lr_multiplier(1.0, warmup) == pytest.approx(0.1)  # decays to 10% at the end of the budget


def test_lr_multiplier_without_warmup_and_monotone():
    assert lr_multiplier(0.0, 0.0) == pytest.approx(1.0)
    assert lr_multiplier(1.0, 0.0) == pytest.approx(0.1)
    ps = [i / 100 for i in range(101)]
    up = [lr_multiplier(p, 0.2) for p in ps if p <= 0.2]
    down = [lr_multiplier(p, 0.2) for p in ps if p >= 0.2]
    assert up == sorted(up) and down == sorted(down, reverse=True)
    assert lr_multiplier(0.5, 0.2, floor=0.0) == pytest.approx(1 - 0.3 / 0.8)


@pytest.mark.parametrize(
    "schedule,points",
    [
        # warmup 0.2 from 10%: progress 0.1 is half way up (0.55) for every schedule
        ("constant", {0.0: 0.1, 0.1: 0.55, 0.2: 1.0, 0.5: 1.0, 0.9: 1.0, 1.0: 1.0}),
        # linear decay over the remaining 0.8: at 0.6 half way down, 1 - 0.9 / 2
        ("linear", {0.0: 0.1, 0.1: 0.55, 0.2: 1.0, 0.6: 0.55, 1.0: 0.1}),
        # cosine: 0.1 + 0.9 * (1 + cos(pi t)) / 2 with t = (p - 0.2) / 0.8; t = 1/4, 1/2, 3/4
        ("cosine", {0.0: 0.1, 0.1: 0.55, 0.2: 1.0, 0.4: 0.1 + 0.45 * (1 + 0.5**0.5), 0.6: 0.55,
                    0.8: 0.1 + 0.45 * (1 - 0.5**0.5), 1.0: 0.1}),
        # wsd: stable at 1 until 0.8, then linear to 0.1 over the last 20%: 0.9 is half way down
        ("wsd", {0.0: 0.1, 0.1: 0.55, 0.2: 1.0, 0.5: 1.0, 0.8: 1.0, 0.9: 0.55, 0.95: 0.325, 1.0: 0.1}),
    ],
)
def test_lr_multiplier_schedule_shapes(schedule, points):
    for progress, expected in points.items():
        assert lr_multiplier(progress, 0.2, schedule) == pytest.approx(expected), progress


def test_constant_without_warmup_is_the_seed_recipe_and_unknown_schedules_are_refused():
    assert [lr_multiplier(p / 10, 0.0, "constant") for p in range(11)] == [1.0] * 11
    assert lr_multiplier(0.0, 0.0, "cosine") == pytest.approx(1.0)
    assert lr_multiplier(0.5, 0.0, "cosine") == pytest.approx(0.55)  # cos(pi / 2) = 0: half way down
    with pytest.raises(ValueError, match="cyclic"):
        lr_multiplier(0.5, 0.0, "cyclic")


def test_clock_excludes_paused_time():
    clock = BudgetClock(seconds=100.0, max_steps=None)
    assert clock.elapsed() == 0.0  # not started
    clock.start()
    with clock.paused():
        time.sleep(0.3)
        assert clock.elapsed() < 0.2  # frozen while paused
    assert clock.elapsed() < 0.2  # the 0.3 s pause is not charged
    with clock.paused():
        with clock.paused():  # nested pauses are counted once
            time.sleep(0.3)
    assert clock.elapsed() < 0.2


def test_clock_counts_unpaused_time_and_time_before_a_resume():
    clock = BudgetClock(seconds=100.0, max_steps=None, spent_before=40.0)
    assert clock.elapsed() == 40.0
    clock.start()
    time.sleep(0.05)
    assert 40.0 < clock.elapsed() < 60.0
    assert clock.progress(0) == pytest.approx(clock.elapsed() / 100.0, abs=0.01)


def test_pause_before_start_is_harmless():
    clock = BudgetClock(seconds=10.0, max_steps=None)
    with clock.paused():
        pass
    clock.start()
    assert clock.elapsed() < 0.2


def test_max_steps_stop_and_progress():
    clock = BudgetClock(seconds=None, max_steps=8)
    clock.start()
    assert [clock.should_stop(s, step_seconds=1.0) for s in range(10)] == [False] * 8 + [True, True]
    assert clock.progress(2) == 0.25 and clock.progress(8) == 1.0 and clock.progress(20) == 1.0


def test_seconds_stop_when_the_next_step_would_end_past_the_budget():
    # 9 s already spent of 10 s: stop if half the next step (step_seconds / 2) reaches the end
    clock = BudgetClock(seconds=10.0, max_steps=None, spent_before=9.0)
    clock.start()
    assert not clock.should_stop(5, step_seconds=1.0)  # 9 + 0.5 < 10
    assert clock.should_stop(5, step_seconds=2.5)  # 9 + 1.25 >= 10


def test_both_limits_stop_at_the_first():
    clock = BudgetClock(seconds=1000.0, max_steps=3)
    clock.start()
    assert not clock.should_stop(2, 0.01) and clock.should_stop(3, 0.01)
    over = BudgetClock(seconds=1.0, max_steps=1000, spent_before=2.0)
    over.start()
    assert over.should_stop(1, 0.0) and over.progress(1) == 1.0


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90.0), (" 90 sec ", 90.0), ("10m", 600.0), ("2min", 120.0), ("1.5h", 5400.0)],
)
def test_parse_budget(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["soon", "10 days", "-5s", "0", "1e3", ""])
def test_parse_budget_rejects(text):
    with pytest.raises(UserError, match="--budget"):
        parse_budget(text)


@pytest.mark.parametrize("text", ["10", " 90 ", 45, 1.5])
def test_a_budget_without_a_unit_is_refused_with_the_units(text):
    """10 could be seconds, minutes, megabytes or thousands of tokens: no guess is made."""
    with pytest.raises(UserError, match=r"has no unit: use seconds \(90s, 10m, 1.5h\), training bytes .*tokens .*FLOPs"):
        parse_budget_spec(text)


@pytest.mark.parametrize("text,expected", [
    ("120s", ("seconds", 120.0)), ("10m", ("seconds", 600.0)), ("5Mtok", ("tokens", 5e6)),
    ("200ktok", ("tokens", 2e5)), ("2e15flop", ("flops", 2e15)), ("3Tflops", ("flops", 3e12)),
    ("5MB", ("bytes", 5e6)), ("500kB", ("bytes", 5e5)), ("750B", ("bytes", 750.0)), ("1.5GB", ("bytes", 1.5e9)),
    ("2e6B", ("bytes", 2e6)),
])
def test_budget_in_seconds_tokens_or_flops(text, expected):
    from roundtable.config.settings import parse_budget_spec

    assert parse_budget_spec(text) == expected


def test_token_budget_progress_and_stop_do_not_depend_on_the_clock():
    clock = BudgetClock(seconds=None, max_steps=None, tokens=1000)
    clock.start()
    for step, seen in enumerate((300, 600, 900), start=1):
        clock.count(seen, seen * 6.0)
        assert clock.progress(step) == pytest.approx(seen / 1000)
    # 900 seen, the last step added 300: the next would end at 1200, 200 past the budget and
    # 100 short of it now; stopping is nearer the budget (expected overshoot zero)
    assert clock.should_stop(3, step_seconds=0.0)
    clock = BudgetClock(seconds=None, max_steps=None, flops=10_000)
    clock.count(2000, 3000.0)
    clock.count(4000, 6000.0)
    assert clock.progress(2) == pytest.approx(0.6) and not clock.should_stop(2, 0.0)


def test_a_byte_budget_with_an_unknown_unit_is_one_line_naming_the_units(run_cli, tmp_path):
    with pytest.raises(UserError, match=r"cannot parse --budget '5XB'.*B, kB, MB or GB") as e:
        parse_budget_spec("5XB")
    assert "\n" not in str(e.value)
    data = tmp_path / "d.txt"
    data.write_text("some text\n\nmore text\n")
    code, _, err = run_cli(["compare", "--task", "lm", "--data", str(data), "--budget", "5XB"])
    assert code == 2 and "B, kB, MB or GB" in err and len(err.strip().splitlines()) == 1


def test_byte_budget_counts_the_text_each_token_holds():
    """4 bytes a token (a subword arm): 1,000 bytes are 250 tokens; a byte-level arm's
    1,000 bytes are 1,000 tokens. Same stopping rule as tokens: expected overshoot zero."""
    sub = BudgetClock(seconds=None, max_steps=None, bytes=1000, bytes_per_token=4.0)
    sub.start()
    for step, seen in enumerate((80, 160, 240), start=1):
        sub.count(seen, 0.0)
        assert sub.bytes_seen == 4 * seen and sub.progress(step) == pytest.approx(4 * seen / 1000)
    # 960 bytes done, the last step 320: the next would end 280 past the budget, now 40 short: stop
    assert sub.should_stop(3, 0.0) and sub.meter(3) == (960.0, 1000, "B")
    byte = BudgetClock(seconds=None, max_steps=None, bytes=1000, bytes_per_token=1.0)
    byte.count(240, 0.0)
    assert byte.progress(3) == pytest.approx(0.24) and not byte.should_stop(3, 0.0)
    half = BudgetConfig(seconds=None, bytes=5e6).scaled(0.5)
    assert half.kind == ("bytes", 2.5e6) and not half.by_steps


def test_a_token_budget_warns_where_the_arms_read_unequal_text():
    """Under a token budget each arm counts its own tokens: 40,000 bytes in 10,000 tokens
    (4 bytes a token, a subword arm) against 10,000 in 10,000 (byte-level) is 4x the text;
    1.4x is within the 1.5x the warning allows; a byte budget never warns."""
    from roundtable.decide.caveats import token_budget_warning

    def run(arm, tokens, nbytes, status="ok"):
        return {"arm": arm, "status": status, "train_tokens": tokens, "train_bytes": nbytes}

    runs = [run("finetune", 10_000, 40_000), run("finetune", 10_000, 40_000), run("scratch-lstm", 10_000, 10_000),
            run("scratch-lstm", 0, 0, "failed")]
    (warning,) = token_budget_warning(runs, "tokens")
    assert "finetune reads 4 bytes per token, scratch-lstm 1" in warning and "4.0x the text" in warning
    assert "--budget 5MB" in warning
    assert token_budget_warning(runs, "bytes") == [] and token_budget_warning(runs, "seconds") == []
    assert token_budget_warning([run("finetune", 10_000, 14_000), run("scratch-lstm", 10_000, 10_000)], "tokens") == []
    assert token_budget_warning([run("finetune", 10_000, 40_000)], "tokens") == []  # one arm: nothing to compare
