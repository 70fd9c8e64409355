"""A run's learning-rate schedule as the schedule-aware law reads it: the areas under
the rate (S1) and of its annealing (S2) at every curve point, and at a target budget.

The training path sets the rate from the budget's progress (``train.budget.lr_multiplier``),
so a run's schedule is known from its recipe (schedule, warmup) and its length in steps.
Progress is taken as linear in steps: exact for budgets in steps, bytes, tokens and
FLOPs (each step trains the same number of positions), close for wall-clock budgets
at a steady step time.

S1 is summed over *effective* data rather than steps (each step adds its rate times the
data it is worth under the repetition rule, ``law.effective_data``): with fresh data it
is the rate's area in bytes, and bytes repeated for the tenth time add less. S2 is the
annealing area of Tissue et al. 2024, sum_i m_i with m_i = lam * m_(i-1) + (eta_(i-1) -
eta_i), over the steps after the peak, in the same bytes per step. Both are divided by
the main run's S1 at its end (``scale``), so the law's constants are of order one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from roundtable.forecast.law import effective_data
from roundtable.train.budget import lr_multiplier

LAMBDA = 0.999
"""Tissue et al. 2024's decay of the annealing momentum per step."""


@dataclass(frozen=True)
class Schedule:
    """A recipe's schedule shape: what ``lr_multiplier`` reads."""

    name: str = "constant"
    warmup: float = 0.0

    @property
    def decays(self) -> bool:
        """Whether the rate anneals before the end: such a run's prefix is not a shorter run."""
        return self.name != "constant"

    def rates(self, n_steps: int) -> np.ndarray:
        """(n_steps,) the multiplier of steps 1..n: step i reads progress (i - 1) / n, as
        the training path's scheduler does before each step."""
        n = max(int(n_steps), 1)
        return np.array([lr_multiplier(i / n, self.warmup, self.name) for i in range(n)], float)


def areas(schedule: Schedule, n_steps: int, bytes_per_step: float, unique: float | None, r_star,
          lam: float = LAMBDA) -> tuple[np.ndarray, np.ndarray]:
    """(S1, S2) after each of steps 1..n of a run (unscaled, in effective bytes)."""
    eta = schedule.rates(n_steps)
    seen = bytes_per_step * np.arange(n_steps + 1)
    d = np.diff(effective_data(seen, unique, r_star))
    peak = int(np.argmax(eta))
    drop = np.zeros_like(eta)
    drop[peak + 1:] = eta[peak:-1] - eta[peak + 1:]
    m = lfilter([1.0], [1.0, -lam], drop)
    return np.cumsum(eta * d), np.cumsum(m * bytes_per_step)


def at_steps(schedule: Schedule, n_steps: int, bytes_per_step: float, steps, unique: float | None, r_star,
             lam: float = LAMBDA) -> tuple[np.ndarray, np.ndarray]:
    """(S1, S2) at the given 1-based ``steps`` of a run of ``n_steps``."""
    s1, s2 = areas(schedule, n_steps, bytes_per_step, unique, r_star, lam)
    i = np.clip(np.asarray(steps, int), 1, len(s1)) - 1
    return s1[i], s2[i]
