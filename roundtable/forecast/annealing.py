"""The single-run alternative (Tissue et al. 2024): a law of the learning-rate
schedule's annealing area, fitted on one run's curve. No comparison reaches it yet
(``forecast_block`` is never given ``curves``): it is kept as the schedule law that
issue 23 builds on, with its tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar, nnls
from scipy.signal import lfilter

from roundtable.forecast.backtest import _interval_inf
from roundtable.forecast.law import _GRID


# -- the single-run alternative: Tissue et al. 2024 ----------------------------------
@dataclass
class LRCurve:
    """One run's learning curve for ``fit_annealing``: losses at some steps, and the
    learning-rate multiplier of every step (``schedule_steps``)."""

    steps: np.ndarray
    """(n,) 1-based steps at which ``values`` were measured."""
    values: np.ndarray
    """(n,) loss (bits per byte) on the same text at every point."""
    lr: np.ndarray
    """(N,) multiplier of steps 1..N of the run (N >= the last measured step)."""
    budget: float | None = None
    """The run's budget (seconds): steps per second map a target budget to steps."""


def schedule_steps(n_steps: int, multiplier) -> np.ndarray:
    """Per-step multipliers of a run of ``n_steps`` whose schedule is ``multiplier(progress)``
    (e.g. ``lambda p: lr_multiplier(p, warmup, schedule)``): step i reads progress (i-1)/n."""
    return np.array([multiplier(i / n_steps) for i in range(n_steps)], float)


def annealing_areas(lr, lam: float = 0.999) -> tuple[np.ndarray, np.ndarray]:
    """(S1, S2) after each step: S1 the summed multiplier (forward area), S2 the
    annealing area sum_i m_i with m_i = lam * m_(i-1) + (eta_(i-1) - eta_i). Steps up to
    the peak (warmup) add to S1 only: the annealing momentum starts at the peak."""
    eta = np.asarray(lr, float)
    peak = int(np.argmax(eta))
    drop = np.zeros_like(eta)
    drop[peak + 1:] = eta[peak:-1] - eta[peak + 1:]
    m = lfilter([1.0], [1.0, -lam], drop)
    return np.cumsum(eta), np.cumsum(m)


@dataclass(frozen=True)
class AnnealingLaw:
    """L = L0 + A * S1 ** -alpha - C * S2 (Tissue et al. 2024), S1 in steps x multiplier."""

    L0: float
    A: float
    alpha: float
    C: float
    lam: float = 0.999

    def __call__(self, s1, s2):
        return self.L0 + self.A * np.asarray(s1, float) ** -self.alpha - self.C * np.asarray(s2, float)

    def final(self, lr) -> float:
        """The loss at the end of a run with per-step multipliers ``lr``."""
        s1, s2 = annealing_areas(lr, self.lam)
        return float(self(s1[-1], s2[-1]))


def _annealing_design(curves: Sequence[LRCurve], lam: float):
    """(S1, S2, loss) at every measured step >= 1 of every curve."""
    s1, s2, y = [], [], []
    for c in curves:
        a1, a2 = annealing_areas(c.lr, lam)
        steps, vals = np.asarray(c.steps, int), np.asarray(c.values, float)
        keep = (steps >= 1) & (steps <= len(a1)) & np.isfinite(vals)
        s1.append(a1[steps[keep] - 1]), s2.append(a2[steps[keep] - 1]), y.append(vals[keep])
    return np.concatenate(s1), np.concatenate(s2), np.concatenate(y)


def fit_annealing(curves: Sequence[LRCurve], lam: float = 0.999) -> AnnealingLaw | None:
    """Least-squares fit of the annealing law to curve points of one or more runs."""
    return _fit_annealing(*_annealing_design(curves, lam), lam)


def _fit_annealing(s1: np.ndarray, s2: np.ndarray, y: np.ndarray, lam: float) -> AnnealingLaw | None:
    """For fixed alpha the law is linear in (L0, A, C), all >= 0: ``scipy.optimize.nnls``;
    alpha in ALPHA_BOUNDS by grid then ``minimize_scalar``. Needs five points or more."""
    if len(y) < 5:
        return None

    def solve(la):
        X = np.stack([np.ones_like(s1), s1 ** -math.exp(la), -s2], 1)
        coef, rnorm = nnls(X, y)
        return rnorm, coef

    grid = _GRID[::8]
    costs = [solve(v)[0] for v in grid]
    i = int(np.argmin(costs))
    res = minimize_scalar(lambda v: solve(v)[0], bounds=(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]),
                          method="bounded", options={"xatol": 1e-5})
    la = res.x if res.fun <= costs[i] else grid[i]
    coef = solve(la)[1]
    return AnnealingLaw(float(coef[0]), float(coef[1]), float(math.exp(la)), float(coef[2]), lam)


def forecast_annealing(curves: Sequence[LRCurve], target_lr, *, n_boot: int = 300, seed: int = 0,
                       lam: float = 0.999) -> dict:
    """The final loss of a run with schedule ``target_lr``, from the annealing law fitted
    on ``curves``; intervals by resampling the fit's residuals (its points are not
    independent documents, so this interval is only as honest as the law)."""
    s1, s2, y = _annealing_design(curves, lam)
    law = _fit_annealing(s1, s2, y, lam)
    if law is None:
        return {"value": None, "ci80": [None, None], "ci95": [None, None], "params": {},
                "note": "too few curve points for the annealing law"}
    fitted = law(s1, s2)
    resid = (y - fitted) * math.sqrt(len(y) / max(len(y) - 4, 1))  # degrees of freedom
    rng = np.random.default_rng(seed)
    t1, t2 = (a[-1] for a in annealing_areas(target_lr, lam))
    reps = []
    for _ in range(n_boot):
        yb = fitted + rng.choice(resid, len(y))
        f = _fit_annealing(s1, s2, yb, lam)
        if f is not None:
            reps.append(float(f(t1, t2)) + rng.choice(resid))
    reps = np.maximum(np.asarray(reps), 0.0)  # a loss is >= 0
    value = float(law(t1, t2))
    return {"value": value, "ci80": _interval_inf(reps, 0.8), "ci95": _interval_inf(reps, 0.95),
            "params": {"L0": law.L0, "A": law.A, "alpha": law.alpha, "C": law.C, "lam": lam}}
