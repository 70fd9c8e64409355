"""caveats.py: the warning that a wall-clock budget shared a busy machine."""

from __future__ import annotations

from roundtable.decide.caveats import BUSY_SHARE, busy_machine_warning


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
