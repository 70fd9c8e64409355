"""The budget clock: the same training budget for every arm, evaluation not charged."""

from __future__ import annotations

import math
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
    tokens: float | None = None
    """A budget in training tokens (non-padding), which does not depend on the machine."""
    bytes: float | None = None
    """A budget in training bytes of the user's text, likewise, and the same text for every
    arm whatever its tokenizer."""
    bytes_per_token: float = 1.0
    """UTF-8 bytes of text per token of the arm's training stream (its text bytes over its
    tokens): turns the non-padding tokens trained on into the bytes they hold, exactly
    over an epoch and on average within one (the same rule as a run's ``train_bytes``)."""
    flops: float | None = None
    """A budget in estimated training FLOPs, likewise."""
    spent_before: float = 0.0
    """Seconds already spent before a resume."""
    agreed: float = 0.0
    """Progress as every process agreed at the last step end: what the learning-rate
    schedule reads, so all processes apply the same learning rate."""
    tokens_seen: float = 0.0
    flops_done: float = 0.0
    _step_tokens: float = field(default=0.0, repr=False)
    _step_bytes: float = field(default=0.0, repr=False)
    _step_flops: float = field(default=0.0, repr=False)
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

    def count(self, tokens_seen: float, flops_done: float) -> None:
        """What training has consumed so far (after each step), for token, byte and FLOP budgets."""
        self._step_tokens, self._step_flops = tokens_seen - self.tokens_seen, flops_done - self.flops_done
        self._step_bytes = self._step_tokens * self.bytes_per_token
        self.tokens_seen, self.flops_done = tokens_seen, flops_done

    @property
    def bytes_seen(self) -> float:
        """Bytes of the user's text trained on so far."""
        return self.tokens_seen * self.bytes_per_token

    def meter(self, step: int) -> tuple[float, float, str]:
        """(spent, total, unit) of the limit that defines the budget, for a progress bar."""
        for spent, limit, unit in ((self.elapsed(), self.seconds, "s"), (self.tokens_seen, self.tokens, "tok"),
                                   (self.bytes_seen, self.bytes, "B"), (self.flops_done, self.flops, "flop")):
            if limit:
                return spent, limit, unit
        return float(step), float(self.max_steps or 0), "step"

    def progress(self, step: int) -> float:
        """The largest share spent of any limit given."""
        p = 0.0
        for spent, limit in ((self.elapsed(), self.seconds), (step, self.max_steps),
                             (self.tokens_seen, self.tokens), (self.bytes_seen, self.bytes),
                             (self.flops_done, self.flops)):
            if limit:
                p = max(p, spent / limit)
        return min(p, 1.0)

    def should_stop(self, step: int, step_seconds: float) -> bool:
        """Stop when the next step would end closer to the budget's end past it than
        short of it: expected overshoot is zero, so slow-step arms gain nothing."""
        if self.max_steps and step >= self.max_steps:
            return True
        return any(bool(limit) and spent + 0.5 * last >= limit for spent, last, limit in (
            (self.elapsed(), step_seconds, self.seconds), (self.tokens_seen, self._step_tokens, self.tokens),
            (self.bytes_seen, self._step_bytes, self.bytes), (self.flops_done, self._step_flops, self.flops)))


WSD_DECAY = 0.2
"""Warmup-stable-decay: the share of the budget, at its end, over which the rate decays."""


def lr_multiplier(progress: float, warmup: float, schedule: str = "linear", floor: float = 0.1) -> float:
    """The learning rate's share of the recipe's at ``progress`` of the budget.

    Every schedule warms up linearly from ``floor`` over ``warmup`` of the budget; after
    it: constant stays at 1; linear decays to ``floor`` at the end; cosine decays along
    half a cosine to ``floor``; wsd stays at 1, then decays linearly to ``floor`` over
    the last WSD_DECAY of the budget. A function of progress, not of steps, so every arm
    follows the same shape over its own budget whatever its step time.
    """
    if warmup > 0 and progress < warmup:
        return floor + (1.0 - floor) * progress / warmup
    if schedule == "constant":
        return 1.0
    start = max(warmup, 1.0 - WSD_DECAY) if schedule == "wsd" else warmup
    t = min(max((progress - start) / max(1.0 - start, 1e-9), 0.0), 1.0)  # share of the decay done
    if schedule == "cosine":
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule in ("linear", "wsd"):
        return 1.0 - (1.0 - floor) * t
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")
