"""How busy the machine was with other work while a run trained.

A wall-clock budget buys fewer steps on a machine whose cores other processes share (a
notebook, a build, a second comparison): on 2 cores, 100 LSTM steps took 20.8 s alone
and 86-99 s with another torch process beside. The verdict must say so (decide/caveats.py),
so each run measures it: between two readings, the CPU time spent on the cores of this
process's affinity mask (``/proc/stat``, per core, in clock ticks: everything but idle
and I/O wait, the hypervisor's steal included) less this process's own CPU time (every
thread's: ``time.process_time``), over the cores' time in that interval. 0.0: nothing
else ran; 0.5 on two cores: another process held one core throughout. Where there is no
``/proc/stat`` (macOS, Windows) it is not measured (None).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from roundtable.core.threads import mask_cores

PROC_STAT = Path("/proc/stat")
MIN_SECONDS = 0.5
"""Intervals shorter than this (in the cores' time, per core) are not measured: the
kernel counts in clock ticks (10 ms), and a few ticks would read as a large share."""


def read_stat(text: str) -> dict[int, tuple[int, int]]:
    """Per core, (busy ticks, all ticks) since boot from ``/proc/stat``'s ``cpuN`` lines:
    user nice system idle iowait irq softirq steal (guest time is inside user already)."""
    out = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        ticks = [int(x) for x in fields[:8]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return out


def _proc_stat() -> str | None:
    try:
        return PROC_STAT.read_text()
    except OSError:
        return None


@dataclass(frozen=True)
class Reading:
    own: float
    """This process's CPU seconds, every thread."""
    cores: dict[int, tuple[int, int]]


class BusyMeter:
    """Readings at the start, at each ``lap`` (a curve point) and at the end of a run.
    The sources are arguments so that a test can give readings of its own."""

    def __init__(self, stat: Callable[[], str | None] = _proc_stat, own: Callable[[], float] = time.process_time,
                 cores: Callable[[], list[int]] = mask_cores, hz: float | None = None):
        self.stat = stat
        self.own = own
        self.cores = cores
        self.hz = hz or (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
        self.first = self.last = self.read()

    def read(self) -> Reading | None:
        text = self.stat()
        return Reading(self.own(), read_stat(text)) if text else None

    def share(self, a: Reading | None, b: Reading | None) -> float | None:
        """The share of the mask's cores' time between ``a`` and ``b`` that other
        processes used, 0..1; None where unmeasured or too short to tell."""
        if a is None or b is None:
            return None
        cores = [c for c in self.cores() if c in a.cores and c in b.cores]
        total = sum(b.cores[c][1] - a.cores[c][1] for c in cores) / self.hz
        if not cores or total < MIN_SECONDS * len(cores):
            return None
        busy = sum(b.cores[c][0] - a.cores[c][0] for c in cores) / self.hz
        return round(min(max(busy - (b.own - a.own), 0.0) / total, 1.0), 3)

    def lap(self) -> float | None:
        """The share since the previous lap (or the start)."""
        now = self.read()
        share, self.last = self.share(self.last, now), now
        return share

    def total(self) -> float | None:
        """The share since the start."""
        return self.share(self.first, self.read())
