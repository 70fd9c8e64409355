"""The law a forecast fits: its inputs (per-document scores of the ladder's rungs and of
data fractions), effective data under repetition, and the saturating law with its
MAP fit. The method and its intervals are in ``bootstrap.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

LN2 = math.log(2.0)
ALPHA_BOUNDS = (0.05, 2.0)
ALPHA_PRIOR = (math.log(0.3), 1.0)  # mean and sd of log(alpha)
R_STAR = 15.4  # Muennighoff et al. 2023: R_D*, repetitions after which returns have decayed by 1/e
R_STAR_RANGE = (R_STAR, math.inf)  # from their large models' penalty to none (tiny models): module docstring
EPOCHS_WARN = 4.0
NOISE_FLOOR = 0.01  # run-to-run sd of one run's final score, as a fraction of it, when seeds cannot say
HORIZON = 100.0  # crossovers and transfer are searched up to this many times the largest measurement


def higher_is_better(metric: str) -> bool:
    """Whether a higher ``metric`` is better, as the registered tasks declare it (their
    primary metric's direction; their extra metrics, such as ROUGE, are scores in [0, 1])."""
    from roundtable.tasks import task_classes

    return any((metric == t.primary_metric and not t.lower_is_better) or metric in t.extra_metrics
               for t in task_classes())


# -- inputs --------------------------------------------------------------------------
@dataclass(kw_only=True)
class SettingScores:
    """Per-document validation scores of one setting, every seed: the bootstrap's evidence."""

    doc_nll: np.ndarray | None = None
    """(seeds, docs) negative log-likelihood in nats per validation document."""
    doc_bytes: np.ndarray | None = None
    """(docs,) UTF-8 bytes per document: the same for every point and arm."""
    doc_score: np.ndarray | None = None
    """(seeds, docs) per-document score in [0, 1] for a higher-is-better metric (ROUGE-L)."""

    def losses(self, metric: str, counts: np.ndarray) -> np.ndarray:
        """(draws, seeds) lower-is-better loss for each document draw (rows of ``counts``)."""
        if higher_is_better(metric):
            v = np.atleast_2d(np.asarray(self.doc_score, float))
            return 1.0 - counts @ v.T / counts.sum(1, keepdims=True)
        v = np.atleast_2d(np.asarray(self.doc_nll, float))
        return counts @ v.T / (LN2 * (counts @ np.asarray(self.doc_bytes, float)))[:, None]

    @property
    def n_docs(self) -> int:
        v = self.doc_score if self.doc_nll is None else self.doc_nll
        return np.atleast_2d(v).shape[1]


@dataclass(kw_only=True)
class LadderPoint(SettingScores):
    """One rung of the budget ladder: an arm trained for ``budget`` with its own full schedule."""

    budget: float
    """Training budget of the run, in the unit of the target (seconds, or tokens)."""
    tokens_seen: float | None = None
    """Training bytes (or tokens) the run consumed, mean over seeds; None: fit against budget."""
    unique_tokens: float | None = None
    """Unique training bytes (same unit): one epoch. None: no repetition rule."""


@dataclass(kw_only=True)
class DataPoint(SettingScores):
    """One data size of ``--fractions``: the arm trained on ``train_bytes`` unique bytes."""

    train_bytes: float
    tokens_seen: float | None = None
    """Bytes the run consumed within its budget; None: fit against unique bytes alone."""


@dataclass
class Ladder:
    """An arm's ladder for one metric (``valid_bits_per_byte`` or ``rougeL``)."""

    arm: str
    points: list[LadderPoint]
    metric: str = "valid_bits_per_byte"


# -- the law -------------------------------------------------------------------------
def effective_data(seen, unique, r_star=R_STAR):
    """Muennighoff et al. 2023: data worth of ``seen`` bytes drawn from ``unique`` bytes,
    U + U * R* * (1 - exp(-R / R*)); ``r_star`` may be an array, inf (fresh data) or None."""
    seen = np.asarray(seen, float)
    if unique is None or r_star is None:
        return seen
    unique = np.asarray(unique, float)
    reps = np.maximum(seen / unique - 1.0, 0.0)
    t = reps / np.asarray(r_star, float)
    g = np.where(t > 1e-12, -np.expm1(-t) / np.where(t > 1e-12, t, 1.0), 1.0)  # (1 - e^-t) / t, 1 at t = 0
    return np.where(seen <= unique, seen, unique + unique * reps * g)


def r_star_levels(r_star) -> list[float | None]:
    """R* values the replicates are spread over: one for a number or None; for a range
    (lo, hi), five values evenly spaced in 1/R* (bin midpoints), the middle one central."""
    if r_star is None or np.isscalar(r_star):
        return [r_star]
    lo, hi = r_star
    k = np.linspace(1.0 / hi, 1.0 / lo, 11)[1::2]  # midpoints of 5 bins
    return [float(1.0 / v) for v in k]


@dataclass(frozen=True)
class Law:
    """L(x) = E + A * (x / x_ref) ** -alpha, in the loss (lower is better)."""

    E: float
    A: float
    alpha: float
    x_ref: float

    def __call__(self, x):
        return self.E + self.A * (np.asarray(x, float) / self.x_ref) ** -self.alpha

    def inverse(self, loss: float) -> float:
        """The x where the law reaches ``loss``; inf when the floor E is not below it."""
        if loss <= self.E:
            return math.inf
        return self.x_ref * ((loss - self.E) / self.A) ** (-1.0 / self.alpha)

    def params(self) -> dict:
        return {"E": self.E, "A": self.A, "alpha": self.alpha, "x_ref": self.x_ref}


def _profile(lal: np.ndarray, z: np.ndarray, Y: np.ndarray, w: np.ndarray, e_hi: np.ndarray,
             mu: np.ndarray, tau: float | None):
    """Objective, E and A at log(alpha) = ``lal`` (B, G) for B data rows ``Y`` (B, K).

    For a fixed alpha the law is linear in (E, A): the weighted least squares with
    0 <= E <= e_hi, A >= 0 is solved exactly (a convex problem in two variables: the
    free solution if feasible, else the best of its edges), which leaves a
    one-dimensional search over alpha (variable projection)."""
    u = z ** -np.exp(lal)[..., None]  # (B, G, K)
    y = Y[:, None, :]
    e_hi = e_hi[:, None]
    sw, suu = w.sum(), (w * u * u).sum(-1)
    ub, yb = (w * u).sum(-1) / sw, (w * y).sum(-1) / sw
    du = u - ub[..., None]
    A_free = (w * du * (y - yb[..., None])).sum(-1) / np.maximum((w * du * du).sum(-1), 1e-300)
    E_free = yb - A_free * ub
    cands = [
        (E_free, A_free, (E_free >= 0) & (E_free <= e_hi) & (A_free >= 0)),
        (np.zeros_like(yb), np.maximum((w * u * y).sum(-1) / suu, 0.0), None),
        (np.broadcast_to(e_hi, yb.shape), np.maximum((w * u * (y - e_hi[..., None])).sum(-1) / suu, 0.0), None),
        (np.clip(yb, 0.0, e_hi), np.zeros_like(yb), None),
    ]
    best = (np.full(yb.shape, np.inf), None, None)
    for E, A, ok in cands:
        c = (w * (y - E[..., None] - A[..., None] * u) ** 2).sum(-1)
        if ok is not None:
            c = np.where(ok, c, np.inf)
        better = c < best[0]
        best = (np.where(better, c, best[0]), np.where(better, E, best[1] if best[1] is not None else E),
                np.where(better, A, best[2] if best[2] is not None else A))
    cost = best[0] + (((lal - mu[:, None]) / tau) ** 2 if tau else 0.0)
    return cost, best[1], best[2]


_GRID = np.linspace(math.log(ALPHA_BOUNDS[0]), math.log(ALPHA_BOUNDS[1]), 257)  # steps of 1.4% in alpha


def fit_laws(x, Y, sigma=None, *, x_ref: float | None = None, mus=None, tau: float | None = ALPHA_PRIOR[1],
             polish: bool = False, floor: bool = True) -> np.ndarray:
    """MAP fits of the law to each row of ``Y`` (B, K) at the same ``x``: (B, 3) E, A, alpha.

    Bounds 0 <= E <= min(row), ALPHA_BOUNDS on alpha; prior log(alpha) ~ N(mus[b], tau)
    (tau None: no prior); residuals weighted by ``sigma``, each point's sd, so the
    prior's weight is relative to the noise. The alpha search is a dense grid, then a
    finer one around its best point (all rows at once: a thousand bootstrap refits take
    a fraction of a second, and a grid cannot miss the global basin; alpha to 0.05%),
    refined with ``scipy.optimize.minimize_scalar`` (bounded Brent) when ``polish``.
    ``floor`` False fixes E = 0: a pure power law (the local law of a ladder still
    leaving its plateau, ``_fit_arm``). Rows with non-finite values give NaN."""
    x, Y = np.asarray(x, float), np.atleast_2d(np.asarray(Y, float))
    sigma = np.ones(x.shape) if sigma is None else np.maximum(np.asarray(sigma, float), 1e-12)
    n = len(Y)
    mus = np.full(n, ALPHA_PRIOR[0]) if mus is None else np.broadcast_to(np.asarray(mus, float), (n,))
    z, w = x / (float(x.max()) if x_ref is None else x_ref), 1.0 / sigma**2
    out = np.full((n, 3), np.nan)
    good = np.all(np.isfinite(Y), 1)
    if len(x) < 2 or not good.any():
        return out
    Yg, mg = Y[good], mus[good]
    e_hi = np.maximum(Yg.min(1), 0.0) if floor else np.zeros(len(Yg))
    cost = np.concatenate([_profile(np.broadcast_to(_GRID, (len(c), len(_GRID))), z, Yg[c], w, e_hi[c], mg[c], tau)[0]
                           for c in np.array_split(np.arange(len(Yg)), max(1, len(Yg) // 256))])
    i = np.argmin(cost, 1)
    step = _GRID[1] - _GRID[0]
    fine = np.clip(_GRID[i][:, None] + np.linspace(-step, step, 65), _GRID[0], _GRID[-1])  # (B, 65)
    fcost = np.concatenate([_profile(fine[c], z, Yg[c], w, e_hi[c], mg[c], tau)[0]
                            for c in np.array_split(np.arange(len(Yg)), max(1, len(Yg) // 256))])
    lal = fine[np.arange(len(Yg)), np.argmin(fcost, 1)]
    cost = fcost.min(1)
    for r in range(len(Yg)) if polish else ():
        lo, hi = max(lal[r] - step / 32, _GRID[0]), min(lal[r] + step / 32, _GRID[-1])
        f = lambda v, r=r: float(_profile(np.array([[v]]), z, Yg[r:r + 1], w, e_hi[r:r + 1], mg[r:r + 1], tau)[0][0, 0])  # noqa: E731
        res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
        lal[r] = res.x if res.fun <= cost[r] else lal[r]
    _, E, A = _profile(lal[:, None], z, Yg, w, e_hi, mg, tau)
    out[good] = np.stack([E[:, 0], A[:, 0], np.exp(lal)], 1)
    return out


def fit_law(x, y, sigma=None, *, x_ref: float | None = None, prior=ALPHA_PRIOR, floor: bool = True) -> Law | None:
    """The MAP fit of one set of points (``fit_laws``); None if it fails. ``prior``:
    (mean, sd) of log(alpha), or None for a plain bounded least-squares fit."""
    x = np.asarray(x, float)
    p = fit_laws(x, y, sigma, x_ref=x_ref, mus=None if prior is None else prior[0],
                 tau=None if prior is None else prior[1], polish=True, floor=floor)[0]
    if not np.all(np.isfinite(p)):
        return None
    return Law(float(p[0]), float(p[1]), float(p[2]), float(x.max()) if x_ref is None else float(x_ref))
