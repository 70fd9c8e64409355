"""busy.py: how much of the machine other processes used while a run trained, and the
verdict's warning when a wall-clock budget shared a busy machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roundtable.core import threads
from roundtable.train.busy import BusyMeter, read_stat
from tests.helpers import write_paragraphs

STAT = """cpu  {a} 0 0 {ia} 0 0 0 0 0 0
cpu0 {b0} 1 {s0} {i0} 4 0 2 0 7 0
cpu1 {b1} 0 0 {i1} 0 0 0 0 0 0
intr 12345 1 2
ctxt 999
"""


def _stat(b0: int, i0: int, b1: int, i1: int) -> str:
    return STAT.format(a=b0 + b1, ia=i0 + i1, b0=b0, s0=3, i0=i0, b1=b1, i1=i1)


def test_read_stat_counts_every_tick_but_idle_and_io_wait_per_core():
    cores = read_stat(_stat(100, 50, 10, 90))
    # cpu0: user 100 + nice 1 + system 3 + irq 0 + softirq 2 + steal 0 busy; idle 50 + iowait 4; guest (7) is in user
    assert cores == {0: (106, 160), 1: (10, 100)}


class Fake:
    """Readings in turn: (/proc/stat text, this process's CPU seconds)."""

    def __init__(self, readings):
        self.readings = list(readings)
        self.own_seconds = 0.0

    def stat(self):
        text, self.own_seconds = self.readings.pop(0)
        return text

    def own(self):
        return self.own_seconds


def test_the_share_is_other_processes_cpu_time_over_the_masks_cores_time():
    # 2 s on two cores at 100 ticks a second: each core counts 200 ticks
    fake = Fake([(_stat(0, 0, 0, 0), 0.0), (_stat(150, 50, 100, 100), 1.0), (_stat(350, 50, 300, 100), 5.0)])
    meter = BusyMeter(fake.stat, fake.own, cores=lambda: [0, 1], hz=100)
    # 1.5 s + 1.0 s busy, 1.0 s of it ours: 1.5 s of the cores' 4 s went to other work
    assert meter.lap() == pytest.approx(0.375)
    # then 4 s busy, all of it ours: nothing else ran
    assert meter.lap() == 0.0


def test_only_the_cores_of_the_mask_count():
    fake = Fake([(_stat(0, 0, 0, 0), 0.0), (_stat(200, 0, 0, 200), 0.0)])
    assert BusyMeter(fake.stat, fake.own, cores=lambda: [1], hz=100).lap() == 0.0  # core 0 was busy, not ours


def test_too_short_or_unreadable_is_not_measured():
    fake = Fake([(_stat(0, 0, 0, 0), 0.0), (_stat(5, 0, 5, 0), 0.0)])
    assert BusyMeter(fake.stat, fake.own, cores=lambda: [0, 1], hz=100).lap() is None  # 50 ms: a few ticks
    assert BusyMeter(lambda: None, lambda: 0.0).total() is None  # no /proc/stat (macOS, Windows)


def test_our_own_work_is_not_counted_as_other_work():
    """This process spinning on one core: what it uses is not other work."""
    if not Path("/proc/stat").is_file() or not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs /proc/stat and CPU affinity (Linux)")
    before = threads.mask_cores()
    threads.pin(before[:1])
    try:
        meter = BusyMeter()
        import time

        t0, c0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < 1.0:
            pass
        share = meter.total()
        own = (time.process_time() - c0) / (time.perf_counter() - t0)
    finally:
        threads.pin(before)
    assert share is not None and 0.0 <= share <= 1.0
    # others may run on a shared machine, but never more than the core's time this process
    # did not use: its own spinning is not counted as other work (on an idle core, own ~ 1)
    assert share <= 1.0 - own + 0.1


def _spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


@pytest.mark.slow  # about 25 s on 2 cores: the comparison runs on half of one core
@pytest.mark.skipif(not Path("/proc/stat").is_file() or not hasattr(os, "sched_setaffinity"),
                    reason="needs /proc/stat and CPU affinity (Linux)")
def test_a_comparison_beside_a_busy_process_says_its_wall_clock_budget_shared_the_machine(
        paragraphs, tiny_config, tmp_path, run_cli):
    """This process and a process spinning on the same core: about half of that core's
    time went to other work, and the verdict says what that did to a wall-clock budget."""
    train = write_paragraphs(tmp_path / "train.txt", paragraphs[:40])
    valid = write_paragraphs(tmp_path / "valid.txt", paragraphs[300:304])
    before = threads.mask_cores()
    threads.pin(before[:1])  # the spinner inherits the one core
    spinner = _spinner()
    try:
        rc, _, err = run_cli(["compare", "--task", "lm", "--data", train, "--valid", valid, "--config", tiny_config,
                              "--arms", "scratch-lstm,scratch-transformer", "--budget", "2s", "--lr-search", "0",
                              "--curve-points", "1", "--curve-eval-bytes", "500", "--out", tmp_path / "out",
                              "--no-progress", "--device", "cpu"])
    finally:
        spinner.kill()
        spinner.wait()
        threads.pin(before)
    assert rc == 0, err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    for r in results["runs"]:
        assert r["cores"] == 1 and r["threads"] >= 1
        assert r["machine_busy"] >= 0.25, r["machine_busy"]
        assert all(p["threads"] >= 1 for p in r["curve"])
        assert any(p["machine_busy"] is not None and p["machine_busy"] > 0.25 for p in r["curve"])
    warnings = [w for w in results["verdict"]["warnings"] if "busy with other work" in w]
    assert [w.split(" ran while")[0] for w in warnings] == ["scratch-lstm", "scratch-transformer"]
    assert "its wall-clock budget bought fewer steps; a budget in bytes or FLOPs does not depend on this" in warnings[0]
