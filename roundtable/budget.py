"""The budget clock: the same training budget for every arm, evaluation not charged."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class BudgetClock:
    """Counts training wall-clock seconds; ``paused()`` excludes evaluation and saving.

    ``progress`` in [0, 1] drives the learning-rate schedule and the curve points, so
    every arm follows the same schedule shape over its own budget.
    """

    seconds: float | None
    max_steps: int | None
    spent_before: float = 0.0
    """Seconds already spent before a resume."""
    agreed: float = 0.0
    """Progress as every process agreed at the last step end: what the learning-rate
    schedule reads, so all processes apply the same learning rate."""
    _start: float | None = field(default=None, repr=False)
    _paused_total: float = field(default=0.0, repr=False)
    _pause_start: float | None = field(default=None, repr=False)

    def start(self) -> None:
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        if self._start is None:
            return self.spent_before
        now = self._pause_start if self._pause_start is not None else time.perf_counter()
        return self.spent_before + now - self._start - self._paused_total

    @contextmanager
    def paused(self):
        if self._pause_start is not None or self._start is None:
            yield
            return
        self._pause_start = time.perf_counter()
        try:
            yield
        finally:
            self._paused_total += time.perf_counter() - self._pause_start
            self._pause_start = None

    def progress(self, step: int) -> float:
        p = 0.0
        if self.seconds:
            p = max(p, self.elapsed() / self.seconds)
        if self.max_steps:
            p = max(p, step / self.max_steps)
        return min(p, 1.0)

    def should_stop(self, step: int, step_seconds: float) -> bool:
        """Stop when the next step would end closer to the budget's end past it than
        short of it: expected overshoot is zero, so slow-step arms gain nothing."""
        if self.max_steps and step >= self.max_steps:
            return True
        return bool(self.seconds) and self.elapsed() + 0.5 * step_seconds >= self.seconds


def lr_multiplier(progress: float, warmup: float, floor: float = 0.1) -> float:
    """Linear warmup over ``warmup`` of the budget (from 10%), then linear decay to 10%."""
    if warmup > 0 and progress < warmup:
        return floor + (1.0 - floor) * progress / warmup
    return 1.0 - (1.0 - floor) * (progress - warmup) / max(1.0 - warmup, 1e-9)
