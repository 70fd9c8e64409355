"""The saturating law of final scores with intervals: fitted across ``--fractions`` (the
score against data, and the data pretraining is worth), and across a ladder of final
scores at shares of the budget, the 0.2 method the accuracy bench keeps as its baseline
(bench/forecast.py). The law, in the loss (lower is better; ROUGE-L as 1 - ROUGE-L):

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
  law (tests/forecast/test_forecast.py) the 80% interval covers about 80% of outcomes.

Data repetition: small data is seen for many epochs, and repeated tokens are worth
less than fresh ones. The law's axis is the effective data of Muennighoff et al. 2023
("Scaling Data-Constrained Language Models"), D' = U + U * R* * (1 - exp(-R / R*)),
U the unique training bytes, R the repetitions beyond the first epoch. Their R* = 15.4
was fitted on transformers of 10M-9B parameters, and how much a much smaller model
loses is uncertain: the replicates spread R* evenly in 1/R* over [1/inf, 1/15.4] (five
values, ``R_STAR_RANGE``), and the central fit takes the middle (R* = 30.8). The
whole-curve forecast (``block.R_STAR_CENTRAL``) found R* = 15.4 best on its calibration
runs once its law had a floor at the capacity of the model's size; this law's floor E is
fitted to the final scores instead, and the range is not measured on data forecasts: at
10x the data they may lean optimistic where the text repeats many times.
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
for Transfer").

ROUGE-L (higher is better) is fitted as 1 - ROUGE-L with the same law, and shown
back as ROUGE-L.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from roundtable.decide.stats import doc_counts
from roundtable.forecast.law import (
    ALPHA_PRIOR,
    NOISE_FLOOR,
    R_STAR,
    R_STAR_RANGE,
    DataPoint,
    Ladder,
    Law,
    SettingScores,
    effective_data,
    fit_law,
    fit_laws,
    higher_is_better,
    r_star_levels,
)


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
        if not draws or (self.seen is not None and self.r_star is not None):  # R* draws already gave a row each
            return x
        return np.broadcast_to(x, (len(self.rate_draws), *np.shape(x)))

    def epochs(self, v: float) -> float | None:
        if self.kind == "budget" and self.rate and self.unique:
            return v * self.rate / self.unique
        if self.kind == "data" and self.seen:
            return self.seen / v
        return None


@dataclass
class ArmFit:
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
    """Bootstrap document counts, (n_boot, n_docs): the same for every arm of a seed, drawn
    by the verdict's document bootstrap (``decide.stats.doc_counts``)."""
    return np.concatenate(list(doc_counts(np.random.default_rng([seed, n_docs]), n_docs, n_boot)))


def _fit_arm(arm: str, metric: str, evidence: Sequence[SettingScores], xs_of, axis: Axis, *, r_star, n_boot: int,
             seed: int, noise_floor: float, at: Sequence[float], rates: np.ndarray | None = None,
             local: bool | None = None) -> ArmFit:
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
    fc = ArmFit(arm, metric, law, reps, axis, [], rng.normal(size=n_boot),
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
                    r_star=R_STAR_RANGE, local: bool | None = None) -> ArmFit:
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
                  r_star=R_STAR_RANGE) -> ArmFit:
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
