"""caveats.py: the warnings that a wall-clock budget shared a busy machine or unequal threads."""

from __future__ import annotations

from roundtable.decide.caveats import BUSY_SHARE, busy_machine_warning, unequal_threads_warning


def _run(arm: str, busy: float | None, **extra) -> dict:
    return {"arm": arm, "status": "ok", "budget_share": 1.0, "machine_busy": busy, **extra}


def test_each_arm_whose_busiest_run_shared_the_machine_is_named_with_its_share():
    runs = [_run("scratch-lstm", 0.1), _run("scratch-lstm", 0.6), _run("finetune", 0.05), _run("scratch-same", None)]
    assert busy_machine_warning(runs, "seconds") == [
        "scratch-lstm ran while the machine was 60% busy with other work: its wall-clock budget bought fewer steps; "
        "a budget in bytes or FLOPs does not depend on this."]


def test_the_threshold_and_what_does_not_count():
    assert busy_machine_warning([_run("a", BUSY_SHARE)], "seconds") != []
    assert busy_machine_warning([_run("a", BUSY_SHARE - 0.01)], "seconds") == []
    # a forecast rung, a failed run: not the verdict's runs
    assert busy_machine_warning([_run("a", 0.9, budget_share=0.5), _run("b", 0.9, status="failed")], "seconds") == []


def test_budgets_that_do_not_depend_on_the_clock_need_no_warning():
    for kind in ("steps", "tokens", "bytes", "flops"):
        assert busy_machine_warning([_run("a", 0.9)], kind) == []


def test_arms_trained_on_unequal_threads_under_a_wall_clock_budget_are_named():
    runs = [_run("scratch-lstm", 0.0, threads=3), _run("scratch-lstm", 0.0, threads=3), _run("finetune", 0.0, threads=4)]
    (got,) = unequal_threads_warning(runs, "seconds")
    assert "unequal threads (scratch-lstm 3, finetune 4)" in got
    # one arm's seeds on different threads count too; equal threads, other budgets, rungs: nothing
    assert "a 2-4" in unequal_threads_warning([_run("a", 0.0, threads=4), _run("a", 0.0, threads=2)], "seconds")[0]
    assert unequal_threads_warning([_run("a", 0.0, threads=2), _run("b", 0.0, threads=2)], "seconds") == []
    assert unequal_threads_warning(runs, "bytes") == []
    # a run that shrank mid-run beside one that had its fewest all along
    shrank = [_run("a", 0.0, threads=3, threads_most=6), _run("b", 0.0, threads=3, threads_most=3)]
    assert "a 3-6, b 3" in unequal_threads_warning(shrank, "seconds")[0]
    assert unequal_threads_warning([_run("a", 0.0, threads=2), _run("b", 0.0, threads=8, budget_share=0.25)],
                                   "seconds") == []
