"""Forecasts: each arm's score at the budget and data the user will really spend.

A comparison runs for minutes; the job it decides runs for hours. Who is ahead after
two minutes is mostly the pretrained model's zero-shot score against a barely trained
scratch model, so each arm is also trained at fractions of the budget (a *budget
ladder*, each run with its own full learning-rate schedule) and its final scores are
fitted with a law that saturates (Hoffmann et al. 2022, "Training Compute-Optimal
Large Language Models"):

    L(x) = E + A * (x / x_ref) ** -alpha

x is the effective training data (below), x_ref the largest measured x, so A is the
excess over the floor E at the largest measured point and the three parameters are of
similar scale. With three points the law interpolates; Besiroglu et al. 2024
("Chinchilla Scaling: A replication attempt") showed such constants are poorly
identified, so the fit is a MAP fit and every number comes with intervals:

- bounds: 0 <= E <= the best measured score (the floor cannot be below zero or above a
  score already reached), 0.05 <= alpha <= 2 (flatter laws are indistinguishable from a
  constant over a ladder of 4x; steeper ones are transients, not scaling);
- a weak prior, log(alpha) ~ N(log 0.3, 1) (Hoffmann's data exponent is 0.28,
  Besiroglu's 0.37), weighted against the points' noise: it decides only what the
  points leave open, e.g. a backtest fitted on two points;
- weights: each rung's independent noise, the run-to-run spread of one run's final
  score (with one seed it cannot be measured, so a floor of ``NOISE_FLOOR`` = 1% of
  the score; with more seeds their spread, if larger), over the number of seeds. The
  validation documents are the same for every rung, so their sampling noise moves all
  rungs together and does not weigh one rung against another;
- intervals: each replicate redraws the validation documents (the same draw for every
  rung and every arm: paired) and, per rung, the seeds with replacement (averaged);
  adds the run noise the redraw cannot see (one seed: the floor); draws the prior's
  centre from the prior ("randomised MAP", which samples the posterior of a
  linearised model); and refits. With more rungs than parameters, a residual scatter
  larger than the noise model says (chi-square per degree of freedom above 1) scales
  the run noise up. The forecast adds the noise of the target run itself: these are
  prediction intervals for a new run scored on text like the validation text (the
  document draw is part of them, as in the verdict's interval; for the very same
  validation text they are somewhat conservative);
- calibration by the backtest (refit without the largest budget, predict it): if the
  measured point fell z predictive sds from the prediction, every deviation from the
  central forecast is scaled by max(1, |z|). This is how the law's own error
  (misspecification, which no resampling of its inputs can show) enters the width: one
  backtest is one sample of it at 2x extrapolation, the bootstrap spread grows with the
  extrapolation distance, and scaling that spread is the smallest assumption that keeps
  a missed backtest from giving narrow intervals. On synthetic ladders drawn from the
  law (tests/test_forecast.py) the 80% interval covers about 80% of outcomes.

Data repetition: small data is seen for many epochs, and repeated tokens are worth
less than fresh ones. The law's axis is the effective data of Muennighoff et al. 2023
("Scaling Data-Constrained Language Models"), D' = U + U * R* * (1 - exp(-R / R*)),
U the unique training bytes, R the repetitions beyond the first epoch. Their R* = 15.4
was fitted on transformers of 10M-9B parameters; a model far too small to memorise
its data (the 330k-parameter LSTM) loses much less: on the one real ladder measured
(scratch-lstm, 40/80/160 steps on 460 kB of docstrings, forecast at 640 steps, 11
epochs) R* = 15.4 gave 2.55 bits per byte, no rule 2.42, the run 2.39. So R* itself
is uncertain: the replicates spread it evenly in 1/R* over [1/inf, 1/15.4] (five
values, ``R_STAR_RANGE``), the central fit takes the middle (R* = 30.8), and the
block also reports each end alone ("alternatives") so the benchmark can settle it.
D' never exceeds U * (1 + R*). Forecasts past ``EPOCHS_WARN`` epochs (Muennighoff: up
to about 4 repeats are as good as fresh data) are flagged, since a model may also
overfit, which no monotone law foresees.

Leaving the plateau: a small model's first rungs can sit on its initial plateau, so
that each doubling of the budget gains more than the one before (the curve is concave
in log-log). No law E + A * x^-alpha can follow that (its local log-log slope never
grows), and fitted to all rungs it forecasts too little gain. Where ``accelerating``
finds this, the arm is forecast by the local law instead: a power law without floor
(E = 0) through its last two rungs, which continues their log-log slope. Its replicates
and its backtest (the same law through the two rungs before the last) are made the
same way, and a missed backtest widens it like any other; the arm is marked
``plateau`` and the sentence never says the answer holds against it.

The same law, fitted against the unique training bytes of ``--fractions`` runs, gives
the score at 2x and 10x the user's data, and, inverted on the scratch arm, the
*effective data transferred* by pretraining (Hernandez et al. 2021, "Scaling Laws
for Transfer"). ``fit_annealing`` is the single-run alternative of Tissue et al. 2024
("Scaling Law with Learning Rate Annealing").

ROUGE-L (higher is better) is fitted as 1 - ROUGE-L with the same law, and shown
back as ROUGE-L.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.optimize import brentq, minimize_scalar, nnls
from scipy.signal import lfilter

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
class Scores:
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
class LadderPoint(Scores):
    """One rung of the budget ladder: an arm trained for ``budget`` with its own full schedule."""

    budget: float
    """Training budget of the run, in the unit of the target (seconds, or tokens)."""
    tokens_seen: float | None = None
    """Training bytes (or tokens) the run consumed, mean over seeds; None: fit against budget."""
    unique_tokens: float | None = None
    """Unique training bytes (same unit): one epoch. None: no repetition rule."""


@dataclass(kw_only=True)
class DataPoint(Scores):
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


# -- fitting an arm, with intervals ----------------------------------------------------
@dataclass
class Axis:
    """Maps a budget (ladder) or a data size (fractions) to the law's effective data."""

    kind: str  # "budget" | "data"
    rate: float | None = None
    """Bytes consumed per budget unit (ladder), central; None: the law's x is the budget."""
    rate_draws: np.ndarray | None = None
    """(n_boot,) the rate per replicate: throughput varies from run to run."""
    unique: float | None = None
    seen: float | None = None
    """Bytes consumed at the user's budget (data kind)."""
    r_star: float | None = R_STAR
    """The repetition rule's R* of the central fit (None: no rule)."""
    r_star_draws: np.ndarray | None = None
    """(n_boot,) R* per replicate: how much repeats are worth is itself uncertain."""

    def x(self, v, draws: bool = False):
        v = np.asarray(v, float)
        col = (-1, *([1] * v.ndim))
        r_star = self.r_star if not draws or self.r_star is None else self.r_star_draws.reshape(col)
        if self.kind == "budget":
            if self.rate is None:
                return v if not draws else np.broadcast_to(v, (len(self.rate_draws), *v.shape))
            rate = self.rate_draws.reshape(col) if draws else self.rate
            return effective_data(v * rate, self.unique, r_star)
        x = v if self.seen is None else effective_data(self.seen, v, r_star)
        return x if not draws else np.broadcast_to(x, (len(self.rate_draws), *np.shape(x)))

    def epochs(self, v: float) -> float | None:
        if self.kind == "budget" and self.rate and self.unique:
            return v * self.rate / self.unique
        if self.kind == "data" and self.seen:
            return self.seen / v
        return None


@dataclass
class ArmForecast:
    """One arm's fitted law, its bootstrap replicates, and how to read them at any budget."""

    arm: str
    metric: str
    law: Law | None
    replicates: np.ndarray  # (n_boot, 4): E, A, alpha, x_ref; NaN rows where a refit failed
    axis: Axis
    measured: list[dict]  # [{"at": budget or bytes, "value": metric, "x": effective data}]
    target_z: np.ndarray  # (n_boot,) standard normal draws: the target run's own noise
    run_sd: tuple[float, float] = (NOISE_FLOOR, 0.0)  # (relative, absolute) sd of one run's loss
    n_target: int = 1
    scale: float = 1.0  # residual inflation of the run noise (> 1 when points scatter more)
    inflation: float = 1.0  # backtest calibration, set by forecast_block
    notes: list[str] = field(default_factory=list)
    plateau: bool = False  # still leaving its initial plateau: forecast by the local law (module docstring)

    @property
    def higher(self) -> bool:
        return higher_is_better(self.metric)

    def show(self, loss):
        """Loss back to the metric's own scale."""
        return 1.0 - loss if self.higher else loss

    def loss(self, v):
        return self.law(self.axis.x(v)) if self.law else np.full(np.shape(v), np.nan)

    def curves(self, v) -> np.ndarray:
        """(n_boot, *shape) replicate laws at v (no target-run noise)."""
        v = np.asarray(v, float)
        x = self.axis.x(v, draws=True)
        E, A, al, ref = (self.replicates[:, i].reshape(-1, *([1] * v.ndim)) for i in range(4))
        return E + A * (x / ref) ** -al

    def samples(self, v: float) -> np.ndarray:
        """Predictive samples of the loss of a run at v: replicate law + that run's noise,
        deviations scaled by the backtest's inflation."""
        c = float(self.loss(v))
        sd = max(self.run_sd[0] * c, self.run_sd[1]) * self.scale / math.sqrt(self.n_target)
        s = self.curves(v) + self.target_z * sd
        s = s[np.isfinite(s)]
        s = c + self.inflation * (s - c)
        return np.clip(s, 0.0, 1.0 if self.higher else None)  # a loss is >= 0; 1 - ROUGE <= 1

    def value(self, v: float) -> float:
        return float(self.show(self.loss(v)))

    def interval(self, v: float, level: float) -> list[float]:
        s = self.samples(v)
        if self.law is None or s.size == 0:
            return [math.nan, math.nan]
        lo, hi = np.percentile(self.show(s), [50 * (1 - level), 50 * (1 + level)])
        return sorted([float(lo), float(hi)])


def _doc_counts(n_docs: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap document counts, (n_boot, n_docs): the same for every arm of a seed."""
    rng = np.random.default_rng([seed, n_docs])
    return rng.multinomial(n_docs, np.full(n_docs, 1.0 / n_docs), size=n_boot).astype(float)


def _fit_arm(arm: str, metric: str, evidence: Sequence[Scores], xs_of, axis: Axis, *, r_star, n_boot: int,
             seed: int, noise_floor: float, at: Sequence[float], rates: np.ndarray | None = None,
             local: bool | None = None) -> ArmForecast:
    """The law, its replicates and noise model for one arm (module docstring: intervals).

    ``xs_of(r_star)``: the rungs' effective data under a repetition rule; the replicates
    are spread evenly over ``r_star_levels(r_star)``, the central fit takes the middle.
    ``local``: fit the local law (module docstring: leaving the plateau) through the
    last two points; None decides by ``accelerating``."""
    k = len(evidence)
    rng = np.random.default_rng([seed, 1, k, zlib.crc32(arm.encode())])
    counts = _doc_counts(evidence[0].n_docs, n_boot, seed)
    ones = np.ones((1, evidence[0].n_docs))
    per_seed = [p.losses(metric, ones)[0] for p in evidence]  # (seeds,) each
    n = np.array([len(s) for s in per_seed])
    y = np.array([s.mean() for s in per_seed])
    seed_var = np.array([s.var(ddof=1) if len(s) > 1 else np.nan for s in per_seed])
    seed_sd = float(np.sqrt(np.nanmean(seed_var))) if np.any(n > 1) else 0.0
    # replicate values: paired document draws, seeds redrawn (the same draw for points with as many seeds)
    draws = {m: rng.integers(0, m, size=(n_boot, m)) for m in sorted(set(n))}
    yb = np.stack([np.take_along_axis(p.losses(metric, counts), draws[m], 1).mean(1)
                   for p, m in zip(evidence, n)], 1)
    run_sd = np.maximum(noise_floor * y, seed_sd)  # one run
    captured = np.where(n > 1, np.nan_to_num(seed_var) / n, 0.0)
    jitter = np.sqrt(np.maximum(run_sd**2 / n - captured, 0.0))
    sigma = run_sd / np.sqrt(n)  # independent noise between rungs: the document draw is common to all of them
    levels = r_star_levels(r_star)
    axis.r_star = levels[len(levels) // 2]
    xs = np.asarray(xs_of(axis.r_star), float)
    worse = k >= 2 and y[-1] > y[-2] + 2 * sigma[-1]
    if local is None:
        local = not worse and accelerating(xs, y, sigma)
    use = slice(k - 2, k) if local and k >= 2 else slice(0, k)  # the local law: the last two points, no floor
    law = fit_law(xs[use], y[use], sigma[use], floor=not local)
    scale = 1.0
    if law is not None and k > 3 and not local:
        chi2 = float(np.sum(((y - law(xs)) / sigma) ** 2)) / (k - 3)
        scale = max(1.0, math.sqrt(chi2))
    yb = yb + rng.normal(size=yb.shape) * jitter * scale
    mus = ALPHA_PRIOR[0] + ALPHA_PRIOR[1] * rng.normal(size=n_boot)
    group = np.arange(n_boot) % len(levels)
    axis.r_star_draws = np.array([np.inf if v is None else v for v in levels])[group]
    reps = np.full((n_boot, 4), np.nan)
    for g, level in enumerate(levels if law is not None else ()):
        xg = np.asarray(xs_of(level), float)
        reps[group == g, :3] = fit_laws(xg[use], yb[group == g][:, use], sigma[use], mus=mus[group == g],
                                        floor=not local)
        reps[group == g, 3] = xg[use].max()
    sd = float(np.std(np.log(rates), ddof=1)) if rates is not None and len(rates) > 1 else 0.0
    axis.rate_draws = (axis.rate or 1.0) * np.exp(sd * rng.normal(size=n_boot))
    fc = ArmForecast(arm, metric, law, reps, axis, [], rng.normal(size=n_boot),
                     run_sd=(noise_floor, seed_sd), n_target=int(n[-1]), scale=scale)
    fc.measured = [{"at": float(a), "value": float(fc.show(v)), "x": float(x), "seeds": int(m)}
                   for a, v, x, m in zip(at, y, xs, n)]
    if law is None:
        fc.notes.append("the fit failed")
    elif worse:
        fc.notes.append("its score got worse with more training (overfitting, or noise), which a saturating law cannot follow")
    elif local:
        fc.plateau = True
        fc.notes.append(PLATEAU_NOTE)
    return fc


PLATEAU_NOTE = ("it is still leaving its initial plateau (each doubling of the budget gained more than the one "
                "before), so it is forecast by a power law without floor through its last two rungs: "
                "pessimistic if it keeps steepening, optimistic once it bends toward a floor")
"""Measured (bench/forecast.py, token budgets, scratch-lstm, four such ladders): the
saturating law fitted to all rungs missed at 4x by 0.34, 0.27, 0.16 and 0.14 bits per
byte; the local law by 0.03, 0.17, 0.004 and 0.27, the last (optimistic: the gains
shrank past 4 epochs) outside its 80% interval but inside its 95% one. The first three
ladders were seen before the local law was chosen (README: forecast accuracy)."""


def accelerating(x, y, sigma) -> bool:
    """Whether the last three points gain more per doubling of x at the end than before it,
    by more than the noise of that difference (one sd): the curve is concave in log-log, as
    it leaves its initial plateau, which no law E + A * x^-alpha can follow (its local
    log-log slope never grows).

    The local slopes are ln(y_i / y_i+1) / ln(x_i+1 / x_i); the difference of the last two
    has the sd of the points' relative noise propagated through both. One sd, not two: a
    false alarm only makes the sentence say less (a pure power law with no floor is
    flagged by noise 16% of the time, one with a floor less often), while a miss lets a
    pessimistic forecast claim that an arm never catches up."""
    if len(y) < 3:
        return False
    x, y, s = (np.asarray(v, float)[-3:] for v in (x, y, sigma))
    if np.any(y <= 0) or np.any(np.diff(x) <= 0):
        return False
    l1, l2 = np.log(x[1] / x[0]), np.log(x[2] / x[1])
    slope1, slope2 = np.log(y[0] / y[1]) / l1, np.log(y[1] / y[2]) / l2
    r = s / y
    sd = math.sqrt((r[0] / l1) ** 2 + (r[1] * (1 / l1 + 1 / l2)) ** 2 + (r[2] / l2) ** 2)
    return bool(slope2 - slope1 > sd)


def forecast_ladder(ladder: Ladder, *, n_boot: int = 1000, seed: int = 0, noise_floor: float = NOISE_FLOOR,
                    r_star=R_STAR_RANGE, local: bool | None = None) -> ArmForecast:
    """Fit one arm's budget ladder; read it with ``.value(T)``, ``.interval(T, 0.95)``.

    The target's data consumed is the largest rung's rate times the target; the rungs'
    spread of rates (log sd) is drawn per replicate. ``r_star``: the repetition rule's
    R*, a (lo, hi) range to spread the replicates over, or None for none. Without
    ``tokens_seen`` the law is fitted against the budget itself (no repetition rule)."""
    pts = sorted(ladder.points, key=lambda p: p.budget)
    seen = [p.tokens_seen for p in pts]
    axis = Axis("budget")
    rates = None
    budgets = np.array([p.budget for p in pts], float)
    if all(s is not None for s in seen):
        rates = np.array(seen, float) / budgets
        axis.rate = float(rates[-1])
        axis.unique = pts[-1].unique_tokens
        xs_of = lambda r: effective_data(seen, axis.unique, r)  # noqa: E731
    else:
        xs_of, r_star = (lambda r: budgets), None
    return _fit_arm(ladder.arm, ladder.metric, pts, xs_of, axis, r_star=r_star if axis.unique else None,
                    n_boot=n_boot, seed=seed, noise_floor=noise_floor, at=list(budgets), rates=rates, local=local)


def forecast_data(arm: str, points: Sequence[DataPoint], metric: str = "valid_bits_per_byte", *,
                  n_boot: int = 1000, seed: int = 0, noise_floor: float = NOISE_FLOOR,
                  r_star=R_STAR_RANGE) -> ArmForecast:
    """Fit one arm's score against its unique training bytes (``--fractions``, same budget).

    With ``tokens_seen`` the axis is the effective data the budget lets the arm see of
    ``train_bytes`` (so more data than the budget can read is worth nothing more);
    ``.value(2 * U)`` is then the score with twice the data *at the same budget*."""
    pts = sorted(points, key=lambda p: p.train_bytes)
    u = np.array([p.train_bytes for p in pts], float)
    seen = [p.tokens_seen for p in pts]
    axis = Axis("data")
    xs_of = lambda r: u  # noqa: E731
    if all(s is not None for s in seen):
        axis.seen = float(seen[-1])
        xs_of = lambda r: effective_data(np.array(seen, float), u, r)  # noqa: E731
    else:
        r_star = None
    return _fit_arm(arm, metric, pts, xs_of, axis, r_star=r_star, n_boot=n_boot, seed=seed,
                    noise_floor=noise_floor, at=list(u), local=False)  # the plateau law is for budget ladders


# -- backtest, crossover, transfer ----------------------------------------------------
def _robust_sd(s: np.ndarray) -> float:
    q16, q84 = np.percentile(s, [16, 84])
    return float(q84 - q16) / 2.0


def backtest(ladders: Iterable[Ladder], *, n_boot: int = 1000, seed: int = 0, local: Mapping[str, bool] | None = None,
             **kw) -> list[dict]:
    """Refit each arm without its largest budget and predict that budget, by the method
    its forecast used (``local[arm]``: the local law through the two rungs before it).

    Returns [{"arm", "budget", "predicted", "actual", "ci80", "ci95", "z", "inside95"}]
    for every arm with at least three rungs; z is the error in predictive sds."""
    out = []
    for ladder in ladders:
        pts = sorted(ladder.points, key=lambda p: p.budget)
        if len(pts) < 3:
            continue
        fc = forecast_ladder(Ladder(ladder.arm, pts[:-1], ladder.metric), n_boot=n_boot, seed=seed,
                             local=bool((local or {}).get(ladder.arm)), **kw)
        b = pts[-1].budget
        ones = np.ones((1, pts[-1].n_docs))
        actual = float(fc.show(pts[-1].losses(ladder.metric, ones).mean()))
        pred = fc.value(b)
        sd = _robust_sd(fc.samples(b)) if fc.law else math.nan
        z = (actual - pred) / sd if sd > 0 else math.nan
        ci95 = fc.interval(b, 0.95)
        out.append({"arm": ladder.arm, "budget": b, "predicted": pred, "actual": actual,
                    "ci80": fc.interval(b, 0.8), "ci95": ci95, "z": z,
                    "inside95": bool(ci95[0] <= actual <= ci95[1])})
    return out


def crossover(forecasts: Mapping[str, ArmForecast], lo: float, hi: float, *, points: int = 256) -> list[dict]:
    """Budgets in [lo, hi] where one arm's central forecast overtakes another's.

    Each crossing: {"arm": who overtakes, "overtakes": whom, "budget", "ci80", "ci95",
    "probability"}: the intervals and the share of replicates (paired document draws)
    that cross in the range; an upper end None means "not within the range". A pair
    that never crosses gives {"arms": [a, b], "budget": None, "note": "not within Nx"}
    with N = hi over the largest measured budget."""
    grid = np.geomspace(lo, hi, points)
    measured = max((m["at"] for f in forecasts.values() for m in f.measured), default=lo)
    note = f"not within {hi / measured:.3g}x"
    out = []
    fits = {a: f for a, f in forecasts.items() if f.law is not None}
    for a, b in combinations(sorted(fits), 2):
        fa, fb = fits[a], fits[b]
        d = fa.loss(grid) - fb.loss(grid)  # > 0: b ahead
        dr = fa.curves(grid) - fb.curves(grid)
        found = False
        for i in np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0):
            at = math.exp(brentq(_gap, math.log(grid[i]), math.log(grid[i + 1]), args=(fa, fb)))
            winner, loser = (b, a) if d[i + 1] > 0 else (a, b)
            sign = 1.0 if winner == b else -1.0
            first = _first_crossing(sign * dr, grid)
            out.append({"arm": winner, "overtakes": loser, "budget": at,
                        "ci80": _interval_inf(first, 0.8), "ci95": _interval_inf(first, 0.95),
                        "probability": float(np.mean(np.isfinite(first))) if first.size else math.nan})
            found = True
        if not found:
            leader = a if d[-1] < 0 else b
            behind = (dr > 0) if leader == a else (dr < 0)
            out.append({"arms": [a, b], "leader": leader, "budget": None, "note": note,
                        "probability": float(np.mean(behind.any(1)))})  # replicates where the other gets ahead
    return out


def _first_crossing(d: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per replicate row of ``d`` (> 0: the overtaking arm ahead), the first budget where
    it is ahead, linear in log budget between grid points; inf where never."""
    d = d[np.all(np.isfinite(d), 1)]
    ahead = d > 0
    j = np.argmax(ahead, 1)
    rows = np.arange(len(d))
    prev = np.maximum(j - 1, 0)
    d0, d1 = d[rows, prev], d[rows, j]
    t = np.where((j > 0) & (d1 != d0), -d0 / np.where(d1 != d0, d1 - d0, 1.0), 1.0)
    at = np.exp(np.log(grid[prev]) + t * (np.log(grid[j]) - np.log(grid[prev])))
    return np.where(ahead.any(1), at, np.inf)


def _gap(log_budget: float, fa: ArmForecast, fb: ArmForecast) -> float:
    return float(fa.loss(math.exp(log_budget)) - fb.loss(math.exp(log_budget)))


def _interval_inf(s: np.ndarray, level: float) -> list[float | None]:
    if s.size == 0:
        return [None, None]
    big = 1e300  # inf would turn the percentile's interpolation into NaN
    lo, hi = np.percentile(np.where(np.isfinite(s), s, big), [50 * (1 - level), 50 * (1 + level)])
    return [float(lo) if lo < big / 2 else None, float(hi) if hi < big / 2 else None]


def effective_data_transferred(scratch: ArmForecast, target: float, user_bytes: float, *,
                               target_samples: np.ndarray | None = None, limit: float = HORIZON) -> dict:
    """Hernandez et al. 2021: the data the scratch arm would need to match ``target``
    (the fine-tuned score at the user's data), as a multiple of ``user_bytes``.

    ``scratch`` is a ``forecast_data`` fit; with ``tokens_seen`` its axis is effective
    (fresh) data, so the multiple is of fresh bytes. ``target_samples`` (paired
    replicates of the fine-tuned score, metric scale) widen the interval. Returns
    {"multiple": None, "reason": ...} when the fit failed, its floor E is not below the
    target, or the answer is more than ``limit`` times the largest measured data."""
    law = scratch.law
    if law is None:
        return {"multiple": None, "ci80": [None, None], "ci95": [None, None],
                "reason": "beyond what the fit can tell: the scratch arm's data fit failed"}
    t = float(scratch.show(target))
    x_max = max(m["x"] for m in scratch.measured)
    need = law.inverse(t)
    reason = None
    if not math.isfinite(need):
        reason = (f"beyond what the fit can tell: the fit's floor ({scratch.show(law.E):.3f}) is "
                  f"{'below' if scratch.higher else 'above'} the fine-tuned score ({target:.3f}), so no amount "
                  "of data would get the scratch arm there")
    elif need > limit * x_max:
        reason = (f"beyond what the fit can tell: it would need {need / user_bytes:.3g}x the data, more than "
                  f"{limit:g}x beyond the largest measured")
    ts = np.full(len(scratch.replicates), t) if target_samples is None else scratch.show(np.asarray(target_samples))
    reps = []
    for (E, A, al, ref), tb in zip(scratch.replicates, ts):
        if not np.isfinite(E):
            continue
        x = Law(E, A, al, ref).inverse(tb)
        reps.append(x / user_bytes if x <= limit * x_max else math.inf)
    reps = np.asarray(reps)
    return {"multiple": None if reason else need / user_bytes, "ci80": _interval_inf(reps, 0.8),
            "ci95": _interval_inf(reps, 0.95), "reason": reason, "target": target,
            "scratch_at_user_data": scratch.value(user_bytes)}


# -- the single-run alternative: Tissue et al. 2024 ----------------------------------
@dataclass
class Curve:
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


def _annealing_design(curves: Sequence[Curve], lam: float):
    """(S1, S2, loss) at every measured step >= 1 of every curve."""
    s1, s2, y = [], [], []
    for c in curves:
        a1, a2 = annealing_areas(c.lr, lam)
        steps, vals = np.asarray(c.steps, int), np.asarray(c.values, float)
        keep = (steps >= 1) & (steps <= len(a1)) & np.isfinite(vals)
        s1.append(a1[steps[keep] - 1]), s2.append(a2[steps[keep] - 1]), y.append(vals[keep])
    return np.concatenate(s1), np.concatenate(s2), np.concatenate(y)


def fit_annealing(curves: Sequence[Curve], lam: float = 0.999) -> AnnealingLaw | None:
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


def forecast_annealing(curves: Sequence[Curve], target_lr, *, n_boot: int = 300, seed: int = 0,
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


# -- the results.json block and its sentence -------------------------------------------
METHOD = ("budget-ladder: L = E + A*(D'/D_ref)^-alpha on effective data D' (Muennighoff R*=15.4), "
          "MAP fit (0<=E<=best, 0.05<=alpha<=2, log alpha ~ N(log 0.3, 1)), intervals by paired document/seed "
          "bootstrap + run noise + randomised prior, scaled by the backtest's z when it exceeds 1")


def _arm_entry(fc: ArmForecast, target: float, lo: float) -> dict:
    band = np.geomspace(lo, target, 24)
    entry = {"metric": fc.metric, "value": fc.value(target), "ci80": fc.interval(target, 0.8),
             "ci95": fc.interval(target, 0.95),
             "params": {**(fc.law.params() if fc.law else {}), "inflation": fc.inflation,
                        "residual_scale": fc.scale, "r_star": fc.axis.r_star,
                        "r_star_levels": sorted({float(v) for v in fc.axis.r_star_draws})
                        if fc.axis.r_star_draws is not None else []},
             "measured": fc.measured, "notes": list(fc.notes), "plateau": fc.plateau,
             "band": [{"budget": float(b), "value": fc.value(b), "ci80": fc.interval(b, 0.8),
                       "ci95": fc.interval(b, 0.95)} for b in band] if fc.law else []}
    ep = fc.axis.epochs(target)
    if ep is not None:
        entry["epochs"] = ep
        if ep > EPOCHS_WARN:
            entry["notes"].append(f"the data would be repeated {ep:.0f} times; returns diminish and the model "
                                  "may overfit")
    return entry


def forecast_block(ladders: Sequence[Ladder], target: float, *, data: Mapping[str, Sequence[DataPoint]] | None = None,
                   user_bytes: float | None = None, multiples: Sequence[float] = (2.0, 10.0),
                   finetuned: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0,
                   horizon: float = HORIZON, r_star=R_STAR_RANGE, unit: str = "s",
                   curves: Mapping[str, Sequence[Curve]] | None = None, multiplier=None) -> dict:
    """The results.json ``forecast`` block.

    ``ladders``: one per arm (the primary metric; a ladder for another metric of the
    same arm goes under ``also``). ``target``: the budget to forecast (``unit``).
    ``data``: per arm, its ``--fractions`` points (three or more sizes) for the
    ``data`` and ``transfer`` blocks; ``user_bytes``: the user's training bytes.
    ``curves``: per arm, the ladder runs' learning curves (``Curve`` with ``budget``)
    and ``multiplier(progress)`` the schedule: adds the annealing law's forecast and
    backtest under ``arms[arm]["alternatives"]``, for comparing methods."""
    primary = ladders[0].metric if ladders else "valid_bits_per_byte"
    fcs: dict[str, ArmForecast] = {}
    also: dict[str, dict] = {}
    for lad in ladders:
        fc = forecast_ladder(lad, n_boot=n_boot, seed=seed, r_star=r_star)
        if lad.metric == primary:
            fcs[lad.arm] = fc
        else:
            also.setdefault(lad.arm, {})[lad.metric] = fc
    bt = backtest([lad for lad in ladders if lad.metric == primary], n_boot=n_boot, seed=seed, r_star=r_star,
                  local={a: f.plateau for a, f in fcs.items()})
    for b in bt:
        z = b["z"]
        fcs[b["arm"]].inflation = max(1.0, abs(z)) if z is not None and math.isfinite(z) else 1.0
    measured = [m["at"] for f in fcs.values() for m in f.measured]
    lo, top = (min(measured), max(measured)) if measured else (target, target)
    block = {
        "method": METHOD, "target_seconds": float(target), "unit": unit, "horizon": horizon,
        "arms": {a: _arm_entry(f, target, lo) for a, f in fcs.items()},
        "crossover": crossover(fcs, lo, max(horizon * top, target)) if len(fcs) > 1 else [],
        "backtest": bt,
    }
    for lad in ladders:  # each end of the repetition rule's range alone: which is right is measured (bench/forecast.py)
        if lad.arm in fcs and lad.metric == primary and r_star is not None and lad.points[-1].unique_tokens:
            for name, rule in (("fresh_data", None), ("muennighoff", R_STAR)):
                alt = forecast_ladder(lad, n_boot=n_boot, seed=seed, r_star=rule)
                alt.inflation = fcs[lad.arm].inflation
                block["arms"][lad.arm].setdefault("alternatives", {})[name] = {
                    "value": alt.value(target), "ci80": alt.interval(target, 0.8), "ci95": alt.interval(target, 0.95)}
    for arm, by_metric in also.items():
        if arm in block["arms"]:
            block["arms"][arm]["also"] = {m: _arm_entry(f, target, lo) for m, f in by_metric.items()}
    for arm, cs in (curves or {}).items():
        if arm in block["arms"] and multiplier is not None:
            block["arms"][arm].setdefault("alternatives", {})["annealing"] = _annealing_entry(
                cs, fcs[arm], target, multiplier, n_boot=min(n_boot, 300), seed=seed)
    if len(fcs) > 1:
        block["difference"] = _difference(fcs, target)
    if data:
        if finetuned is None:  # the arms that start from the pretrained weights (the arm table)
            from roundtable.arms import starts_pretrained

            finetuned = [a for a in data if starts_pretrained(a)]
        block.update(_data_blocks(data, primary, user_bytes, multiples, finetuned, n_boot, seed, r_star))
    return block


def _annealing_entry(curves: Sequence[Curve], fc: ArmForecast, target: float, multiplier, **kw) -> dict:
    """The annealing law's forecast at ``target`` in the ladder's metric (curves score a
    subset of the validation text: shifted by the largest run's final difference),
    and its backtest (fit without the largest run, predict that run's end)."""
    cs = sorted(curves, key=lambda c: len(c.lr))
    top = cs[-1]
    shift = fc.measured[-1]["value"] - float(top.values[-1]) if fc.measured else 0.0
    n_target = max(1, round(len(top.lr) / top.budget * target))
    out = forecast_annealing(cs, schedule_steps(n_target, multiplier), **kw)
    if out["value"] is not None:
        out["value"] += shift
        out["ci80"], out["ci95"] = ([v + shift if v is not None else None for v in ci] for ci in (out["ci80"], out["ci95"]))
    out.update(shift=shift, target_steps=n_target)
    if len(cs) > 1:
        law = fit_annealing(cs[:-1])
        if law is not None:
            out["backtest"] = {"predicted": law.final(top.lr) + shift, "actual": float(top.values[-1]) + shift}
    return out


def _difference(fcs: Mapping[str, ArmForecast], target: float) -> dict:
    """95% interval of (second best - best) at the target from paired replicates."""
    order = sorted((a for a in fcs if fcs[a].law), key=lambda a: fcs[a].loss(target))
    if len(order) < 2:
        return {}
    a, b = order[:2]
    sa, sb = fcs[a].samples(target), fcs[b].samples(target)
    m = min(len(sa), len(sb))
    d = sb[:m] - sa[:m]
    lo, hi = np.percentile(d, [2.5, 97.5]) if m else (math.nan, math.nan)
    return {"leader": a, "runner_up": b, "ci95": [float(lo), float(hi)], "separated": bool(lo > 0)}


def _data_blocks(data, metric, user_bytes, multiples, finetuned, n_boot, seed, r_star) -> dict:
    out: dict = {"data": {}, "transfer": {}}
    fits = {}
    for arm, pts in data.items():
        if len({p.train_bytes for p in pts}) < 3:
            continue
        fc = forecast_data(arm, pts, metric, n_boot=n_boot, seed=seed, r_star=r_star)
        fits[arm] = fc
        u = user_bytes or max(p.train_bytes for p in pts)
        rows = []
        for k in multiples:
            row = {"multiple": float(k), "train_bytes": float(k * u), "value": fc.value(k * u),
                   "ci80": fc.interval(k * u, 0.8), "ci95": fc.interval(k * u, 0.95)}
            if fc.axis.seen is not None and k * u > fc.axis.seen:
                row["note"] = (f"within the budget the arm reads {fc.axis.seen:.3g} bytes, less than {k:g}x the "
                               "data: the gain is capped by the budget")
            rows.append(row)
        out["data"][arm] = {"metric": metric, "params": fc.law.params() if fc.law else {},
                            "measured": fc.measured, "forecasts": rows, "notes": fc.notes}
    tuned = [a for a in finetuned if a in fits]
    for arm, fc in fits.items():
        if arm not in finetuned and tuned:
            ft = fits[tuned[0]]
            u = user_bytes or max(m["at"] for m in ft.measured)
            target = ft.measured[-1]["value"]
            res = effective_data_transferred(fc, target, u, target_samples=ft.show(ft.curves(u)))
            out["transfer"][arm] = {"reference": tuned[0], **res}
    return out


def fmt_budget(v: float, unit: str = "s") -> str:
    """90 s, 8 min, 2 h, 3 d; other units: 3.2M tokens, 400 steps."""
    return " ".join(_budget_parts(v, unit))


def _budget_parts(v: float, unit: str) -> tuple[str, str]:
    if unit != "s":  # 400k tokens, 3.2M tokens, 2e+15 flops
        for div, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if v >= div and unit in ("tokens", "steps", "bytes"):
                return f"{v / div:.3g}{prefix}", unit
        return f"{v:.3g}", unit
    for div, name, cut in ((86400, "d", 2 * 86400), (3600, "h", 2 * 3600), (60, "min", 120)):
        if v >= cut:
            return (f"{v / div:.2g}" if v / div < 10 else f"{v / div:.0f}"), name
    return f"{v:.0f}", "s"


def fmt_budget_range(lo: float | None, hi: float | None, unit: str = "s") -> str:
    """1.5-7 h; 50 s-2 min; 3 h-beyond the horizon."""
    if lo is None:
        return "?"
    if hi is None:
        return f"{fmt_budget(lo, unit)}-beyond the horizon"
    (a, ua), (b, ub) = _budget_parts(lo, unit), _budget_parts(hi, unit)
    return f"{a}-{b} {ub}" if ua == ub else f"{a} {ua}-{b} {ub}"


def arm_problem(block: dict, arm: str) -> str | None:
    """Why an arm cannot be forecast at all (failed fit, score rising with budget), or
    None. A missed backtest is not fatal: it widens the intervals, and the sentence
    says so, and refuses to rank the arms when its error exceeds their forecast gap."""
    e = block["arms"][arm]
    if e.get("value") is None or not math.isfinite(e["value"]):
        return "the fit failed"
    for n in e.get("notes", []):
        if "fit failed" in n or "got worse" in n:
            return n
    return None


def forecast_sentence(block: dict, answer: str | None = None, *, fmt: str = "{:.2f}") -> str:
    """One plain sentence for the verdict: each arm's forecast at the target with its 95%
    interval, then whether ``answer`` (the measured winner; default: the best at the
    largest measured budget) holds, is overtaken (when, with an 80% interval), or cannot
    be told. An arm whose fit failed, whose score rose with budget or whose backtest
    missed gets no number but the reason; a backtest error larger than the forecast gap
    is said instead of a ranking."""
    arms, unit = block.get("arms", {}), block.get("unit", "s")
    when = fmt_budget(block["target_seconds"], unit)
    problems = {a: arm_problem(block, a) for a in arms}
    ok = {a: arms[a] for a in arms if problems[a] is None}
    bad = "; ".join(f"{a} cannot be forecast: {p}" for a, p in problems.items() if p)
    if not ok:
        return f"At {when} there is no forecast to trust ({bad or 'no arm'}), so the measured verdict stands alone."
    higher = higher_is_better(next(iter(ok.values()))["metric"])
    order = sorted(ok, key=lambda a: -ok[a]["value"] if higher else ok[a]["value"])
    parts = []
    for i, a in enumerate(order):
        lo, hi = (fmt.format(v) for v in ok[a]["ci95"])
        k = ok[a].get("params", {}).get("inflation", 1.0)
        wide = f"; widened {k:.1f}x as its backtest missed" if k > 1.0 else ""
        wide += "; from its last two rungs, as it is still leaving its initial plateau" if ok[a].get("plateau") else ""
        parts.append(f"{a} {'is forecast at' if i == 0 else 'at'} {fmt.format(ok[a]['value'])} "
                     f"({'95% interval ' if i == 0 else ''}{lo}-{hi}{wide})")
    head = f"At {when}, " + (" and ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + " and " + parts[-1])
    if bad:
        return f"{head}; {bad}, so the measured verdict stands alone."
    if len(order) == 1:
        return head + "."
    if answer is None:
        sign = -1 if higher else 1
        answer = min(arms, key=lambda a: sign * arms[a]["measured"][-1]["value"]) \
            if all(arms[a].get("measured") for a in arms) else order[0]
    bt = {b["arm"]: abs(b["predicted"] - b["actual"]) for b in block.get("backtest", [])}
    gap = abs(ok[order[0]]["value"] - ok[order[1]]["value"])
    err = max((bt[a] for a in order[:2] if a in bt), default=0.0)
    if err > gap:
        return (f"{head}; but the backtest error ({err:.3f}) is larger than the forecast gap ({gap:.3f}), "
                "so the forecast cannot rank them.")
    rising = [a for a in order if a != answer and ok[a].get("plateau")]
    if rising:  # a law without floor through two rungs: no claim that it overtakes, nor that it never does
        return (f"{head}: but {rising[0]} is still leaving its initial plateau, so its forecast rests on its last "
                f"two rungs alone and whether it catches up with {answer} cannot be told yet.")
    cross = [c for c in block.get("crossover", []) if c.get("budget") and c.get("overtakes") == answer
             and c["budget"] <= block["target_seconds"]]
    if cross:
        c = min(cross, key=lambda c: c["budget"])
        return (f"{head}: {c['arm']} is forecast to overtake {answer} after about {fmt_budget(c['budget'], unit)} "
                f"({fmt_budget_range(*c['ci80'], unit)}).")
    diff = block.get("difference", {})
    if diff and not diff.get("separated", True):
        return f"{head}: the intervals overlap, so the forecast cannot separate {diff['leader']} from {diff['runner_up']}."
    if order[0] == answer:
        return f"{head}: the answer holds."
    return f"{head}: {order[0]} is forecast to be ahead by then."
