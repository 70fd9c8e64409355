"""The schedule-aware law and its robust fit to whole learning curves.

Tissue et al. 2024, "Scaling Law with Learning Rate Annealing", with S1 shifted as the
multi-power law of Luo et al. 2025 shifts it:

    L(S1, S2) = L0 + A * (S1 + S0) ** -alpha - C * S2

S1 is the area under the learning rate (here over effective data, ``schedule.py``), S2
the annealing area; L0, A, C >= 0 and alpha in ``ALPHA_BOUNDS``; S0 is fixed
(``SHIFT_STEPS``): a small model's curve that is still leaving its initial plateau
steepens in log-log, which the shift lets the law follow. A constant rate has
S2 = 0 and the law is the saturating power law of the data seen; a run that decays its
rate gains ``C * S2`` at its end, which is why the first quarter of a cosine run is not
a quarter-budget run, and why a law of final scores alone cannot tell the two apart.

The fit minimises a Huber loss of relative residuals (about the residuals of log scores,
as Besiroglu et al. 2024 fit the Chinchilla law), so a few points off the law (the
initial plateau's edge, a noisy step) pull less than a square would. For a fixed alpha
the law is linear in (L0, A, C): iteratively reweighted non-negative least squares,
solved exactly for every alpha of a grid at once (a grid cannot miss the global basin
the way one starting point can), then on a finer grid around the best.

Which law extrapolates is chosen by the points themselves (``Candidate``): fitted from
the first curve points on or only from a later share of each run (a small model's curve
can sit on its initial plateau first, which no power law follows). The floor L0 is where
a short curve says least: fitted, it lands near the curve's end; left out, a small
model's forecast runs on below what its size can reach. So L0 is fixed at the capacity
floor of the model's size, E + A/N^alpha of the Chinchilla form (``CAPACITY``;
forecast/size.py ``capacity_floor``), where the arm's size is known and the floor is below
its curve; otherwise (and for ROUGE) the law has no floor or one fixed at half the
lowest loss fitted (``CANDIDATES``); ``FLOORED`` offers a fitted one, unshifted. Each candidate is
fitted without the main run's last points and scored on them (a backtest inside the
curve); the best one is refitted on every point. The bootstrap (``arm.py``) repeats the
choice in every replicate, so the interval includes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

ALPHA_BOUNDS = (0.05, 2.0)
SHIFT_STEPS = 50.0
"""S0 of the shifted law A * (S1 + S0) ** -alpha, in steps at the full rate (the
multi-power law of Luo et al. 2025 shifts S1 by the warmup's area in the same way). A
small model first sits on a plateau (about the loss of a unigram model) before its loss
follows a power law, so over a few hundred steps its curve is still leaving the plateau:
its log-log slope still steepens, and an unshifted power law fitted to it forecasts far
too little gain. With the shift the slope grows towards alpha as S1 outgrows S0; over
thousands of steps the shift hardly matters. Measured on the calibration corpus
(bench/forecast.py prose, three splits; 40-60 steps fit about equally, the LSTM's
plateau lasts about 100 steps and the transformer's about 40)."""
HUBER = 0.01
"""Relative residual at which the Huber loss turns from square to linear."""
_GRID = np.geomspace(*ALPHA_BOUNDS, 33)


@dataclass(frozen=True)
class ScheduleLaw:
    """L = L0 + A * (S1 + S0) ** -alpha - C * S2, S1 and S2 scaled by the main run's S1 at its end."""

    L0: float
    A: float
    alpha: float
    C: float
    S0: float = 0.0

    def __call__(self, s1, s2):
        s1 = np.maximum(np.asarray(s1, float) + self.S0, 1e-12)
        return self.L0 + self.A * s1 ** -self.alpha - self.C * np.asarray(s2, float)

    def params(self) -> dict:
        return {"L0": self.L0, "A": self.A, "alpha": self.alpha, "C": self.C, "S0": self.S0}


@dataclass(frozen=True)
class Candidate:
    """One law the choice may take: with a floor or without, from which share of each run on."""

    floor: bool
    start: float
    """Fit only points at or after this share of their run's steps."""
    shift_steps: float = SHIFT_STEPS
    """The law's S0 in steps at the full rate (``SHIFT_STEPS``; ``CurvePoints.step`` converts)."""
    floor_share: float = 0.0
    """A floor fixed at this share of the lowest loss among the points fitted (0: none);
    with ``floor`` True the floor is fitted instead."""
    capacity: bool = False
    """The floor fixed at the points' capacity floor (``CurvePoints.floor``); no fit without one."""

    def fit(self, points: CurvePoints, use: np.ndarray | None = None) -> ScheduleLaw | None:
        """This candidate's law fitted to ``points`` (those of ``use`` and at or after ``start``)."""
        keep = points.share >= self.start - 1e-9
        if use is not None:
            keep &= use
        if self.capacity:
            if points.floor is None:
                return None
            off = points.floor
        else:
            off = self.floor_share * float(points.y[keep].min()) if self.floor_share and keep.any() else 0.0
        return fit(points.s1[keep], points.s2[keep], points.y[keep], floor=self.floor,
                   shift=self.shift_steps * points.step, offset=off)

    @property
    def name(self) -> str:
        floor = ("floor" if self.floor else "floor at its size's capacity" if self.capacity
                 else f"floor at {self.floor_share:g} of its lowest loss" if self.floor_share else "no floor")
        return (f"{floor}, from {self.start:.0%} of each run"
                + (f", S1 shifted by {self.shift_steps:g} steps" if self.shift_steps else ""))


STARTS = (0.1, 0.3, 0.5)
"""The shares of each run a candidate may fit from."""
CAPACITY = tuple(Candidate(False, s, capacity=True) for s in STARTS)
"""Laws with the floor fixed at the capacity floor of the arm's size (forecast/size.py):
the law of the arms whose size is known, for bits per byte of the whole text. Chosen on
the calibration forecasts of bench/forecast.py (both tiers, 32 forecasts): mean error
0.050, against 0.103 for CANDIDATES (at their own R* of 4, ``block.R_STAR_FALLBACK``) and
0.272 for no floor at all under the same repetition rule (``block.R_STAR_CENTRAL``). A fitted floor lands near the end of a curve
still leaving its plateau (far too pessimistic); no floor forecasts a small model on
runs of thousands of steps far too low (it saturates); a floor at a fixed share of the
lowest loss is right for one length of run only (0.5 for about 600 steps, 0.7 for
2,000)."""
FLOOR_SHARE = 0.5
"""The fixed floor of the floored fallback candidates, as a share of the lowest loss fitted."""
CANDIDATES = tuple(Candidate(False, s, floor_share=f) for f in (0.0, FLOOR_SHARE) for s in STARTS)
"""Laws without a floor, and with one fixed at FLOOR_SHARE of the lowest loss fitted: for
an arm that starts pretrained, whose size is unknown or that already scores below its
capacity floor, and for ROUGE, where the capacity floor (in bits per byte) has no meaning."""
CAPACITY_MARGIN = 0.02
"""The capacity floor is used where it is at least this share below every point fitted:
a curve at or below it says the floor is wrong for this text (E is lower)."""
FLOORED = tuple(Candidate(f, s, 0.0) for s in STARTS for f in (True, False))
"""The unshifted laws with and without a floor: for curves known to follow Tissue et
al.'s law itself, as the tests' synthetic ones do. Every arm of a comparison is
forecast with CAPACITY where it can be, else with CANDIDATES (``arm.forecast_arm``)."""
HOLDOUT = 0.7
"""The choice's backtest: fitted on the main run's points up to this share of its steps
(and every other run's), scored on the main run's later points."""


def _nnls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares with coefficients >= 0 for a batch of small designs:
    X (G, n, k), y (n,), w (G, n) -> (coefficients (G, k), weighted squared error (G,)).

    With k <= 3 columns every active set can be tried: each subset's free solution, kept
    where it is non-negative, the best one wins (exact, and vectorised over the batch)."""
    G, _, k = X.shape
    sw = np.sqrt(w)
    Xw, yw = X * sw[..., None], y[None, :] * sw
    best_c = np.zeros((G, k))
    best = (yw**2).sum(1)  # the empty set
    for size in range(1, k + 1):
        for cols in combinations(range(k), size):
            A = Xw[..., list(cols)]
            AtA = A.transpose(0, 2, 1) @ A
            AtA += np.eye(size) * (1e-12 * np.trace(AtA, axis1=1, axis2=2)[:, None, None] + 1e-300)
            c = np.linalg.solve(AtA, (A.transpose(0, 2, 1) @ yw[..., None]))[..., 0]
            sse = ((yw - (A @ c[..., None])[..., 0]) ** 2).sum(1)
            ok = np.all(c >= 0, 1) & (sse < best)
            best = np.where(ok, sse, best)
            full = np.zeros((G, k))
            full[:, list(cols)] = c
            best_c = np.where(ok[:, None], full, best_c)
    return best_c, best


def _fit_alphas(s1: np.ndarray, s2: np.ndarray, y: np.ndarray, alphas: np.ndarray,
                floor: bool, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Huber fits of relative residuals at each alpha: (loss (G,), coefficients (G, 3) L0, A, C)."""
    u = np.maximum(s1, 1e-12)[None, :] ** -alphas[:, None]
    cols = ([np.ones_like(u)] if floor else []) + [u, np.broadcast_to(-s2, u.shape)]
    X = np.stack(cols, 2)
    w = np.broadcast_to(1.0 / y**2, u.shape)
    t = y - offset
    coef, _ = _nnls(X, t, w)
    for _ in range(2):  # reweighting: points beyond HUBER count linearly
        r = np.abs(t - (X @ coef[..., None])[..., 0]) / y
        coef, _ = _nnls(X, t, w * np.minimum(1.0, HUBER / np.maximum(r, 1e-12)))
    r = np.abs(t - (X @ coef[..., None])[..., 0]) / y
    loss = np.where(r <= HUBER, 0.5 * r * r, HUBER * (r - 0.5 * HUBER)).sum(1)
    if not floor:
        coef = np.concatenate([np.full((len(coef), 1), offset), coef], 1)
    return loss, coef


def fit(s1, s2, y, *, floor: bool = True, shift: float = 0.0, offset: float = 0.0) -> ScheduleLaw | None:
    """The law's robust fit to points (S1, S2, loss); None with fewer points than
    parameters plus one (four with a floor, three without). ``shift``: S0, fixed."""
    shift = float(shift)
    s1, s2, y = (np.asarray(v, float) for v in (s1, s2, y))
    keep = np.isfinite(y) & (y > 0) & (s1 > 0)
    s1, s2, y = s1[keep] + shift, s2[keep], y[keep]
    if len(y) < (4 if floor else 3):
        return None
    loss, _ = _fit_alphas(s1, s2, y, _GRID, floor, offset)
    i = int(np.argmin(loss))
    lo, hi = _GRID[max(i - 1, 0)], _GRID[min(i + 1, len(_GRID) - 1)]
    fine = np.geomspace(lo, hi, 33)
    loss, coef = _fit_alphas(s1, s2, y, fine, floor, offset)
    j = int(np.argmin(loss))
    L0, A, C = (float(v) for v in coef[j])
    return ScheduleLaw(L0, A, float(fine[j]), C, shift)


@dataclass
class CurvePoints:
    """The points one arm's law is fitted to: every curve point after step 0 of its runs."""

    s1: np.ndarray
    s2: np.ndarray
    y: np.ndarray
    """Loss at each point (bits per byte on the curve subset, or 1 - ROUGE-L)."""
    share: np.ndarray
    """Share of its run's steps at each point."""
    main: np.ndarray
    """Whether the point belongs to a run at the whole budget (the ones held out last)."""
    step: float = 0.0
    """S1 of one step at the full rate, in the points' scale: the unit of a candidate's
    shift (0: no shift)."""
    floor: float | None = None
    """The capacity floor of the arm's size in the points' loss (``CAPACITY``), or None."""

    def capacity_fits(self) -> bool:
        """Whether the capacity floor is known and below every point (``CAPACITY_MARGIN``)."""
        return self.floor is not None and self.floor < (1.0 - CAPACITY_MARGIN) * float(np.min(self.y))


def holdout_errors(points: CurvePoints, candidates=CANDIDATES) -> dict[Candidate, float]:
    """Each candidate's mean absolute relative error on the main runs' last points when
    fitted without them (the backtest inside the curve); candidates that cannot be fitted
    are left out."""
    p = points
    late = p.main & (p.share > HOLDOUT)
    out: dict[Candidate, float] = {}
    if not late.any():
        return out
    for c in candidates:
        law = c.fit(p, ~late)
        if law is not None:
            out[c] = float(np.mean(np.abs(law(p.s1[late], p.s2[late]) / p.y[late] - 1.0)))
    return out


def plausible(errors: dict[Candidate, float]) -> list[Candidate]:
    """The candidates whose backtest error is within twice the best one's (plus 0.2% of
    the score): the laws the points cannot tell apart, whose forecasts' spread is part of
    the scale."""
    if not errors:
        return []
    best = min(errors.values())
    return [c for c, e in errors.items() if e <= 2 * best + 0.002]


def select(points: CurvePoints, candidates=CANDIDATES,
           errors: dict[Candidate, float] | None = None) -> tuple[Candidate, ScheduleLaw] | None:
    """The candidate whose fit without the main runs' last points predicts them best
    (``holdout_errors``, or ``errors`` already computed), refitted on all its points; None
    if none fits."""
    errors = holdout_errors(points, candidates) if errors is None else errors
    if not errors:
        return None
    c = min(errors, key=lambda k: errors[k])
    law = c.fit(points)
    return None if law is None else (c, law)
