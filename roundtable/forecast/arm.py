"""One arm's forecast from its whole learning curves: the schedule-aware law, the choice
of law redone in every bootstrap replicate, and intervals scaled by the factors measured
on calibration ladders (``calibration.json``).

Inputs are every curve point after step 0 of the arm's runs at the whole budget (every
seed) and, for an arm whose rate decays, of its one extra run at a share of the budget
(``ladder.py``). Curve points score the curve subset, the same bytes at every point;
the verdict's score is on the whole scored text, so the forecast is carried over by the
ratio of the two at the main runs' end. Points at or above the bigram entropy of the
training text are left out, and an arm whose runs end there, or have too few points
below it, gets no forecast (``too_short``; data/entropy.py says why). The law's floor is
the capacity floor of the arm's size (``ArmCurves.floor``, curvelaw.CAPACITY) where the
runs record it and it lies below the curve. For an arm sized
to its budget, the forecast at a larger budget is for the shape the sizing rule chooses
there: the trained shape's plus the step ``size.py`` gives, SIZE_SHARE of which joins
the scale.

Intervals: replicates perturb every point by the central fit's relative residuals
(moving blocks of ``BLOCK`` neighbouring points, since a curve's errors run in
stretches), redo the choice of law (``curvelaw.select``) and refit. The forecast's
*scale* at a budget adds four spreads in quadrature: the replicates' (robust sd); the
alternatives' (the sd of the forecasts of the candidate laws the in-curve backtest
cannot tell apart, ``curvelaw.plausible``, each fitted to all its points, of the chosen
law under each end of ``R_STAR_SPREAD``, and of its capacity floor at each end of
``size.E_RANGE``: where the choice matters, e.g. on a
curve still leaving its initial plateau or at many epochs, they disagree); and, with
several seeds, the main runs' run-to-run spread; and GAIN_SHARE of the gain the law
forecasts beyond the budget its fit reached. The interval is the central value plus or
minus the scale times a factor: split-conformal (Vovk et al. 2005; Lei et al. 2018), the
factor is the quantile of |actual - forecast| / scale over forecasts run for real at
their target on ladders that are not among the ones the accuracy is reported on
(bench/forecast.py ``--write-calibration``). The law's misspecification, which no
resampling of its inputs can show, enters through that factor and the gain term: on the
calibration splits the first three spreads had no correlation with the errors (r =
-0.01), and a scale of them alone needed a 95% factor of 7.3.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from roundtable.forecast.curvelaw import (
    CANDIDATES,
    CAPACITY,
    CAPACITY_MARGIN,
    HOLDOUT,
    Candidate,
    CurvePoints,
    ScheduleLaw,
    holdout_errors,
    plausible,
    select,
)
from roundtable.forecast.law import higher_is_better
from roundtable.forecast.schedule import LAMBDA, Schedule, areas, at_steps
from roundtable.forecast.size import E_RANGE, SIZE_SHARE, SizeTerm, capacity_floor

BLOCK = 3
N_BOOT = 100
MIN_STEPS = 40
"""Fewest training steps a run the forecast fits may hold: shorter curves are mostly
their first transient."""
MIN_POINTS = 6
"""Fewest curve points after step 0 a main run must have (``--curve-points`` sets them)."""
MIN_EARLY = 3
"""Fewest points the choice of law fits before the held-out end of the main runs (a law
without a floor has three parameters)."""
MIN_SCALE = 0.002
"""Smallest scale, as a share of the forecast: a curve that fits its law exactly still
leaves the next run's noise."""
GAIN_SHARE = 0.3
"""The share of the forecast gain (the law's loss at the budget its fit reached minus at
the target) that enters the scale: a forecast of a large further gain is less certain than
the fit's own spread says. Chosen on the calibration splits (bench/forecast.py): with it
the 95% factor fell from 7.3 to 1.5 and the median 95% width at 4x from 1.25 to 0.82
bits per byte at the same coverage; 0.2 and 0.5 did about as well."""
MEMORY: float | None = 0.25
"""The annealing momentum's memory as a share of the main run's steps: lam = 1 - 1 /
(MEMORY * steps). Tissue et al.'s lam = 0.999 per step suits their runs of tens of
thousands of steps; over a few hundred, S2 would grow with the run's length and the law
would promise an annealing gain that grows without bound with the budget. With a memory
of a quarter of the main run, the gain of a complete anneal stays about the same at any
longer budget (Hägele et al. 2024: a cooldown's gain is about the same at every length).
None: lam = 0.999."""
R_STAR_SPREAD: tuple[float | None, ...] = (4.0, None)
"""The repetition rule's R* is uncertain for small models: the chosen law is also fitted
with repeats worth less (R* = 4) and worth as much as fresh data (no rule) around the
central R* (``block.R_STAR_CENTRAL``), and the spread of their forecasts enters the scale;
it grows with the epochs the target repeats."""
R_STAR_SPREAD_FALLBACK: tuple[float | None, ...] = (2.0, 15.4)
"""The same around the fallback laws' central R* (``block.R_STAR_FALLBACK``, 4)."""
CALIBRATION = Path(__file__).with_name("calibration.json")
_SUBSTEPS = 2048


def conformal_factors(path: Path = CALIBRATION) -> dict[float, float]:
    """{level: factor} as measured on calibration ladders; normal quantiles where none is shipped."""
    try:
        got = json.loads(path.read_text(encoding="utf-8"))
        return {float(k): float(v) for k, v in got["factors"].items()}
    except (OSError, KeyError, ValueError):
        return {0.8: 1.2816, 0.95: 1.96}


@dataclass
class RunInput:
    """One run's curve as the forecast reads it."""

    steps: int
    train_bytes: float
    schedule: Schedule
    at: np.ndarray
    """(n,) steps of the curve points after step 0."""
    loss: np.ndarray
    """(n,) loss at those points on the curve subset (bits per byte, or 1 - ROUGE-L)."""
    main: bool = True
    """A run at the whole budget (an extra run at a share of it otherwise)."""
    final: float | None = None
    """Its loss on the whole scored text at its end (main runs)."""


@dataclass
class ArmCurves:
    """An arm's runs for one metric, and the budget they were trained on."""

    arm: str
    runs: list[RunInput]
    budget: float
    """The comparison's budget per run, in the forecast's unit."""
    unique: float | None = None
    """Unique training bytes (one epoch), for the repetition rule; None: none."""
    metric: str = "valid_bits_per_byte"
    size: SizeTerm | None = None
    """How the arm was sized (``size: auto``): its forecast at a larger budget is for the
    shape the rule chooses there (``size.py``); None: a fixed size."""
    bits_per_byte: float | None = None
    """The main runs' mean score at their end on the scored text, in bits per byte."""
    bigram: float | None = None
    """The bigram entropy of the training text (data/entropy.py): the transient's gate."""
    params: float | None = None
    """The model's parameters (mean over the main runs, frozen ones included), for its
    capacity floor; None for an arm that starts pretrained (``ladder.py``): the floor's
    law was fitted on models trained from scratch."""

    @property
    def whole_text(self) -> bool:
        """Bits per byte of the whole text, the score the transient gate and the capacity
        floor are about (the runner gives ``bigram`` only for tasks that score it)."""
        return self.bigram is not None and self.metric == "valid_bits_per_byte"

    def floor(self, e: float | None = None) -> float | None:
        """The capacity floor of the arm's size (forecast/size.py) in bits per byte, or None."""
        if not self.whole_text or not self.params:
            return None
        return capacity_floor(self.params) if e is None else capacity_floor(self.params, e)


def run_areas(schedule: Schedule, n_steps: float, bytes_per_step: float, unique, r_star,
              lam: float = LAMBDA) -> tuple[float, float]:
    """(S1, S2) at the end of a run of ``n_steps`` (``schedule.areas``), on at most
    ``_SUBSTEPS`` sub-steps for long runs (the momentum decays lam ** k per k steps)."""
    n = max(int(round(n_steps)), 1)
    if n <= _SUBSTEPS:
        s1, s2 = areas(schedule, n, bytes_per_step, unique, r_star, lam)
        return float(s1[-1]), float(s2[-1])
    k = n / _SUBSTEPS
    s1, s2 = areas(schedule, _SUBSTEPS, bytes_per_step * k, unique, r_star, lam=lam ** k)
    return float(s1[-1]), float(s2[-1])


def _points(arm: ArmCurves, bytes_per_step: float, r_star, ref: float, lam: float) -> CurvePoints:
    cols: list[list[np.ndarray]] = [[], [], [], [], []]
    for r in arm.runs:
        s1, s2 = at_steps(r.schedule, r.steps, bytes_per_step, r.at, arm.unique, r_star, lam)
        for c, v in zip(cols, (s1 / ref, s2 / ref, r.loss, r.at / r.steps, np.full(len(r.at), r.main))):
            c.append(np.asarray(v, float))
    s1, s2, y, share, main = (np.concatenate(c) for c in cols)
    return CurvePoints(s1, s2, y, share, main.astype(bool), bytes_per_step / ref)


def _perturbed(points: CurvePoints, law: ScheduleLaw, cand: Candidate, rng: np.random.Generator,
               n_boot: int) -> np.ndarray:
    """(n_boot, n) losses: every point times (1 + a residual), residuals drawn in moving blocks."""
    used = points.share >= cand.start - 1e-9
    res = points.y[used] / law(points.s1[used], points.s2[used]) - 1.0
    res = res - res.mean()
    n = len(points.y)
    m = len(res)
    blocks = -(-n // BLOCK)
    starts = rng.integers(0, m, size=(n_boot, blocks))
    idx = (starts[..., None] + np.arange(BLOCK)) % m
    draw = res[idx.reshape(n_boot, -1)[:, :n]]
    return points.y * (1.0 + draw)


@dataclass
class CurveForecast:
    """One arm's fitted law, its replicates, and how to read them at any budget."""

    arm: str
    metric: str
    budget: float
    steps_per_unit: float
    bytes_per_step: float
    schedule: Schedule
    unique: float | None
    r_star: float | None
    ref: float
    ratio: float
    lam: float = LAMBDA
    """Whole scored text over curve subset at the main runs' end."""
    candidate: Candidate | None = None
    law: ScheduleLaw | None = None
    replicates: list[tuple[Candidate, ScheduleLaw] | None] = field(default_factory=list)
    alternatives: list[tuple[float | None, float, ScheduleLaw]] = field(default_factory=list)
    """(R*, its S1 scale, law): the plausible candidate laws (``curvelaw.plausible``) fitted
    to all their points, the chosen one under each end of ``R_STAR_SPREAD`` and, with a
    capacity floor, at each end of ``size.E_RANGE``: how much the answer depends on these
    choices."""
    run_sd: float = 0.0
    """Run-to-run sd of the main runs' final loss (seeds), added for a new run."""
    fitted_at: float = 0.0
    """The budget the fit's main runs reached (the budget; a share of it for the
    comparison's own backtest): where the forecast gain of the scale starts."""
    size: SizeTerm | None = None
    """For an arm sized to its budget, the step to the rule's shape at a larger one (bits per byte only)."""
    factors: dict[float, float] = field(default_factory=conformal_factors)
    measured: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    """Why there is no forecast (too few steps or points, the fit failed), or None."""

    @property
    def higher(self) -> bool:
        return higher_is_better(self.metric)

    def show(self, loss):
        return 1.0 - loss if self.higher else loss

    def steps_at(self, budget: float) -> float:
        return budget * self.steps_per_unit

    def _areas(self, budget: float) -> tuple[float, float]:
        s1, s2 = run_areas(self.schedule, self.steps_at(budget), self.bytes_per_step, self.unique, self.r_star,
                           self.lam)
        return s1 / self.ref, s2 / self.ref

    def curve_loss(self, budget: float) -> float:
        """Central forecast of the whole-text loss of the shape trained, at ``budget``."""
        if self.law is None:
            return math.nan
        return float(self.law(*self._areas(budget))) * self.ratio

    def size_delta(self, budget: float) -> float:
        """The step from the shape trained to the rule's shape at ``budget`` (0 for a fixed size)."""
        return self.size.delta(budget / self.budget) if self.size is not None else 0.0

    def loss(self, budget: float) -> float:
        """Central forecast of the whole-text loss of a run at ``budget``: of the shape the
        sizing rule chooses there, for an arm sized to its budget."""
        return self.curve_loss(budget) + self.size_delta(budget)

    def replicate_losses(self, budget: float) -> np.ndarray:
        """The replicates' whole-text losses at ``budget`` (those whose refit succeeded)."""
        s1, s2 = self._areas(budget)
        v = np.array([r[1](s1, s2) * self.ratio for r in self.replicates if r], float) + self.size_delta(budget)
        return v[np.isfinite(v)]

    def scale(self, budget: float) -> float:
        """The forecast's scale at ``budget`` (module docstring): the robust sd of the
        replicates, the sd of the candidate laws' forecasts, the run-to-run spread,
        GAIN_SHARE of the curve's forecast gain and SIZE_SHARE of the size step, at least
        MIN_SCALE of the forecast."""
        c = self.loss(budget)
        curve = self.curve_loss(budget)
        gain = max(self.curve_loss(self.fitted_at) - curve, 0.0) if self.fitted_at > 0 else 0.0
        v = self.replicate_losses(budget)
        sd = float(np.subtract(*np.percentile(v, [84, 16]))) / 2 if len(v) > 1 else 0.0
        alt = []
        for r_star, ref, law in self.alternatives:
            a1, a2 = run_areas(self.schedule, self.steps_at(budget), self.bytes_per_step, self.unique, r_star,
                               self.lam)
            alt.append(float(law(a1 / ref, a2 / ref)) * self.ratio)
        choice = float(np.std(alt)) if len(alt) > 1 else 0.0
        size = SIZE_SHARE * self.size_delta(budget)
        spread = math.sqrt(sd**2 + choice**2 + self.run_sd**2 + (GAIN_SHARE * gain) ** 2 + size**2)
        return max(spread, MIN_SCALE * abs(c))

    def value(self, budget: float) -> float:
        return float(self.show(self.loss(budget)))

    def interval(self, budget: float, level: float) -> list[float]:
        c = self.loss(budget)
        if not math.isfinite(c):
            return [math.nan, math.nan]
        half = self.factors.get(level, 1.96) * self.scale(budget)
        lo, hi = max(c - half, 0.0), c + half
        if self.higher:
            lo, hi = min(lo, 1.0), min(hi, 1.0)
        return sorted([float(self.show(lo)), float(self.show(hi))])


def too_short(arm: ArmCurves) -> str | None:
    """Why an arm's curves are too short to fit (``MIN_STEPS``, ``MIN_POINTS``), or None."""
    mains = [r for r in arm.runs if r.main]
    top = max(mains, key=lambda r: r.steps)
    if top.schedule.decays and all(r.main for r in arm.runs):
        return (f"its rate decays, so its forecast needs an extra run at a quarter of the budget, and a quarter of its "
                f"{top.steps} step{'' if top.steps == 1 else 's'} is fewer than the {MIN_STEPS} a fit of a curve needs "
                "(a larger budget gives more)")
    shortest = min(arm.runs, key=lambda r: r.steps)
    if shortest.steps < MIN_STEPS:
        kind = "run" if shortest.main else "extra run at a share of the budget"
        return (f"its {kind} trained {shortest.steps} step{'' if shortest.steps == 1 else 's'}, fewer than the "
                f"{MIN_STEPS} a fit of its curve needs (a larger budget gives more)")
    few = min(len(r.at) for r in mains)
    if few < MIN_POINTS:
        return (f"its run has {few} curve points after step 0, fewer than the {MIN_POINTS} a fit needs "
                f"(--curve-points {MIN_POINTS + 2} or more; a wall-clock budget keeps fewer for a slow arm)")
    if arm.bigram is None:
        return None
    table = f"the {arm.bigram:.2f} bits per byte of a table of byte pairs fitted to its training text"
    why = ("above it a model is still learning what single bytes and pairs tell (its first transient), where a "
           "learning curve follows no law that can be extrapolated (a larger budget gives more)")
    if arm.bits_per_byte is not None and arm.bits_per_byte >= arm.bigram:
        return f"its score at the budget, {arm.bits_per_byte:.2f} bits per byte, is not yet below {table}: {why}"
    kept = past_transient(arm).runs
    past = min(len(r.at) for r in kept if r.main)
    # the choice of law fits without the main runs' last share (HOLDOUT) and tests on it
    early = min(int(np.sum(r.at <= HOLDOUT * r.steps)) for r in kept if r.main)
    early += sum(len(r.at) for r in kept if not r.main)
    if past < MIN_POINTS or early < MIN_EARLY:
        return (f"its run has {past} curve point{'' if past == 1 else 's'} below {table} ({early} before the last "
                f"{1 - HOLDOUT:.0%} of its steps, which the choice of law holds out), fewer than a fit needs "
                f"({MIN_POINTS}, {MIN_EARLY} of them before): {why}")
    return None


def _ratio(mains: Sequence[RunInput]) -> float:
    """Whole scored text over curve subset at the main runs' end."""
    return float(np.mean([r.final / r.loss[-1] for r in mains if r.final is not None and len(r.loss)] or [1.0]))


def past_transient(arm: ArmCurves) -> ArmCurves:
    """The arm with its main runs' curve points at or above the bigram entropy left out
    (bits per byte only: data/entropy.py says why); the extra runs, which show the law
    a complete anneal at another length, are kept whole."""
    if not arm.whole_text:
        return arm
    ratio = _ratio([r for r in arm.runs if r.main])
    runs = []
    for r in arm.runs:
        if r.main:
            keep = r.loss * ratio < arm.bigram
            r = RunInput(r.steps, r.train_bytes, r.schedule, r.at[keep], r.loss[keep], True, r.final)
        runs.append(r)
    return replace(arm, runs=runs)


def capacity_applies(arm: ArmCurves) -> bool:
    """Whether the arm's law takes its capacity floor (``curvelaw.CAPACITY``): its size is
    known and the floor is at least ``CAPACITY_MARGIN`` below every curve point past the
    first transient (the curve subset's points, carried to the whole text by the ratio)."""
    floor = arm.floor()
    if floor is None:
        return False
    losses = [r.loss for r in past_transient(arm).runs if len(r.loss)]
    if not losses:
        return False
    ratio = _ratio([r for r in arm.runs if r.main])
    return floor / ratio < (1.0 - CAPACITY_MARGIN) * float(np.min(np.concatenate(losses)))


def forecast_arm(arm: ArmCurves, *, r_star: float | None = None, n_boot: int = N_BOOT, seed: int = 0,
                 upto: float | None = None, memory: float | None = MEMORY,
                 candidates: Sequence[Candidate] | None = None) -> CurveForecast:
    """Fit one arm's whole curves; read it with ``.value(T)``, ``.interval(T, 0.95)``.

    ``upto``: use only the main runs' points up to this share of their steps, as if
    they had stopped there (the comparison's own backtest). ``candidates``: the laws the
    choice may take; None: ``curvelaw.CAPACITY`` where the arm's capacity floor is known
    and below its curve (``capacity_applies``), else ``curvelaw.CANDIDATES``."""
    mains = [r for r in arm.runs if r.main]
    top = max(mains, key=lambda r: r.steps)
    bps = top.train_bytes / max(top.steps, 1)
    ratio = _ratio(mains)
    finals = [r.final for r in mains if r.final is not None]
    sched = top.schedule
    lam = LAMBDA if memory is None else 1.0 - 1.0 / max(memory * top.steps, 1.0)
    s1_end, _ = run_areas(sched, top.steps, bps, arm.unique, r_star, lam)
    fc = CurveForecast(arm.arm, arm.metric, arm.budget, top.steps / arm.budget, bps, sched, arm.unique, r_star,
                       s1_end, ratio, lam, run_sd=float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
                       size=arm.size if arm.metric == "valid_bits_per_byte" else None)
    fc.fitted_at = arm.budget * (upto or 1.0)
    fc.measured = [{"at": arm.budget, "value": float(fc.show(np.mean(finals))) if finals else math.nan,
                    "steps": int(top.steps), "seeds": len(mains)}]
    fc.problem = too_short(arm)
    if fc.problem:
        return fc
    if candidates is None:  # decided on every point, so that the backtest (upto) judges the same law
        candidates = CAPACITY if capacity_applies(arm) else CANDIDATES
    arm = past_transient(arm)
    runs = arm.runs
    if upto is not None:
        runs = []
        for r in arm.runs:
            if r.main:
                keep = r.at <= upto * r.steps + 1e-9
                r = RunInput(r.steps, r.train_bytes, r.schedule, r.at[keep], r.loss[keep], True, None)
            runs.append(r)
        arm = replace(arm, runs=runs)
    floor = arm.floor()

    def points_at(rs, ref: float) -> CurvePoints:
        p = _points(arm, bps, rs, ref, lam)
        if upto is not None:  # the held-out share inside the choice is of what is kept
            p.share = np.where(p.main, p.share / upto, p.share)
        p.floor = None if floor is None else floor / ratio  # the points score the curve subset
        return p

    points = points_at(r_star, s1_end)
    errors = holdout_errors(points, candidates)
    got = select(points, candidates, errors=errors)
    if got is None:
        fc.problem = "the fit of its curve failed"
        return fc
    fc.candidate, fc.law = got
    for cand in plausible(errors):
        law = cand.fit(points)
        if law is not None:
            fc.alternatives.append((r_star, s1_end, law))
    if arm.unique:
        for other in R_STAR_SPREAD if fc.candidate.capacity else R_STAR_SPREAD_FALLBACK:
            ref = run_areas(sched, top.steps, bps, arm.unique, other, lam)[0]
            law = fc.candidate.fit(points_at(other, ref))
            if law is not None:
                fc.alternatives.append((other, ref, law))
    if fc.candidate.capacity:
        for e in E_RANGE:
            other_floor = replace(points, floor=arm.floor(e) / ratio)
            law = fc.candidate.fit(other_floor) if other_floor.capacity_fits() else None
            if law is not None:
                fc.alternatives.append((r_star, s1_end, law))
    rng = np.random.default_rng([seed, len(points.y), sum(map(ord, arm.arm))])
    for y in _perturbed(points, fc.law, fc.candidate, rng, n_boot):
        fc.replicates.append(select(replace(points, y=y), candidates))
    return fc


def curve_inputs(runs: Sequence[dict], metric: str, point_key: str, final_key: str, budget: float,
                 unique: float | None, arm: str, bigram: float | None = None) -> ArmCurves | None:
    """An arm's ``ArmCurves`` from its results.json run records (status ok): main runs are
    those at the whole budget (``budget_share`` 1), the others extra runs. ``bigram``: the
    training text's bigram entropy, below which a run must score to be forecast."""
    higher = higher_is_better(metric)
    inputs = []
    for r in runs:
        pts = [p for p in r.get("curve", []) if p.get("step", 0) > 0 and p.get(point_key) is not None]
        if not pts:
            continue
        loss = np.array([p[point_key] for p in pts], float)
        final = (r.get("final") or {}).get(final_key)
        if higher:
            loss = 1.0 - loss
            final = None if final is None else 1.0 - final
        recipe = r.get("recipe") or {}
        main = float(r.get("budget_share", 1.0)) == 1.0
        inputs.append(RunInput(int(r["steps"]), float(r["train_bytes"]),
                               Schedule(recipe.get("schedule", "constant"), float(recipe.get("warmup_fraction", 0.0))),
                               np.array([p["step"] for p in pts], float), loss, main, final if main else None))
    if not any(i.main for i in inputs):
        return None
    bpb = [(r.get("final") or {}).get("valid_bits_per_byte") for r in runs
           if float(r.get("budget_share", 1.0)) == 1.0 and r.get("curve")]
    bpb = [v for v in bpb if v is not None]
    params = [float(r["params"]) for r in runs if float(r.get("budget_share", 1.0)) == 1.0 and r.get("params")]
    return ArmCurves(arm, inputs, budget, unique, metric, bits_per_byte=float(np.mean(bpb)) if bpb else None,
                     bigram=bigram, params=float(np.mean(params)) if params else None)
