"""How far to trust a forecast, and what it says between arms: the backtest (the
largest rung predicted from the smaller ones), crossovers, and the data pretraining
is worth to a scratch arm."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from itertools import combinations

import numpy as np

from roundtable.forecast.arm import CurveForecast
from roundtable.forecast.bootstrap import ArmFit, forecast_ladder
from roundtable.forecast.law import HORIZON, Ladder, Law


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


def crossover(forecasts: Mapping[str, ArmFit | CurveForecast], lo: float, hi: float, *,
              points: int | None = None) -> list[dict]:
    """Budgets in [lo, hi] where one arm's central forecast overtakes another's.

    Each crossing: {"arm": who overtakes, "overtakes": whom, "budget", "ci80", "ci95",
    "probability"}: the intervals and the share of replicates that cross in the range;
    an upper end None means "not within the range". A pair that never crosses gives
    {"arms": [a, b], "budget": None, "note": "not within Nx"} with N = hi over the largest
    measured budget. ``points``: the grid (default 256). Whole-curve forecasts take their
    intervals from the calibrated scale instead (``_crossover_curves``)."""
    if any(isinstance(f, CurveForecast) for f in forecasts.values()):
        return _crossover_curves({a: f for a, f in forecasts.items() if isinstance(f, CurveForecast)}, lo, hi,
                                 points or 24)
    grid = np.geomspace(lo, hi, points or 256)
    measured = max((m["at"] for f in forecasts.values() for m in f.measured), default=lo)
    note = f"not within {hi / measured:.3g}x"
    out = []
    fits = {a: f for a, f in forecasts.items() if f.law is not None}
    central = {a: np.array([f.loss(g) for g in grid], float) for a, f in fits.items()}
    reps = {a: _replicates(f, grid) for a, f in fits.items()}
    for a, b in combinations(sorted(fits), 2):
        d = central[a] - central[b]  # > 0: b ahead
        m = min(len(reps[a]), len(reps[b]))
        dr = reps[a][:m] - reps[b][:m]
        found = False
        for i in np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0):
            t = d[i] / (d[i] - d[i + 1])  # linear in log budget between grid points
            at = math.exp(math.log(grid[i]) + t * (math.log(grid[i + 1]) - math.log(grid[i])))
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
                        "probability": float(np.mean(behind.any(1))) if behind.size else math.nan})
    return out


def _replicates(f: ArmFit, grid: np.ndarray) -> np.ndarray:
    """(replicates, grid) losses of a forecast's replicates along ``grid``."""
    return f.curves(grid)


def _crossover_curves(fits: Mapping[str, CurveForecast], lo: float, hi: float, points: int) -> list[dict]:
    """``crossover`` for whole-curve forecasts. Their replicates are far narrower than the
    calibrated intervals (the conformal factors carry the law's misfit), so the crossing's
    intervals come from the calibrated spread of the difference at every budget, as the
    block's ``difference``: each arm's 95% half-width as 1.96 sd of a normal, the two
    independent. The 80% interval of the crossing runs from the first budget where the
    overtaking arm's lead is inside the difference's 80% interval (it may have crossed) to
    the first where the whole interval is past zero (it has, at that level); ``probability``
    is that of a lead at the top of the range."""
    from scipy.stats import norm

    grid = np.geomspace(lo, hi, points)
    note = f"not within {hi / lo:.3g}x"
    good = {a: f for a, f in fits.items() if f.law is not None}
    loss = {a: np.array([f.loss(g) for g in grid]) for a, f in good.items()}
    scale = {a: np.array([f.scale(g) for g in grid]) for a, f in good.items()}
    sd = {a: good[a].factors.get(0.95, 1.96) * scale[a] / 1.96 for a in good}
    out = []
    for a, b in combinations(sorted(good), 2):
        d = loss[a] - loss[b]  # > 0: b ahead
        s = np.hypot(sd[a], sd[b])
        crossings = np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0)
        if not len(crossings):
            leader = a if d[-1] < 0 else b
            lead = -d if leader == a else d
            out.append({"arms": [a, b], "leader": leader, "budget": None, "note": note,
                        "probability": float(norm.cdf(-lead[-1] / s[-1]))})  # that the other is ahead at the top
            continue
        i = crossings[0]
        t = d[i] / (d[i] - d[i + 1])
        at = math.exp(math.log(grid[i]) + t * (math.log(grid[i + 1]) - math.log(grid[i])))
        winner, loser = (b, a) if d[i + 1] > 0 else (a, b)
        lead = d if winner == b else -d
        entry = {"arm": winner, "overtakes": loser, "budget": at, "probability": float(norm.cdf(lead[-1] / s[-1]))}
        for level in (0.8, 0.95):  # each level's half-width from that level's calibrated factors
            z = norm.ppf(0.5 + level / 2)
            half = np.hypot(good[a].factors.get(level, z) * scale[a], good[b].factors.get(level, z) * scale[b])
            entry[f"ci{int(level * 100)}"] = [_first_above(lead + half, grid), _first_above(lead - half, grid)]
        out.append(entry)
    return out


def _first_above(v: np.ndarray, grid: np.ndarray) -> float | None:
    """The first budget where ``v`` reaches zero from below, linear in log budget between grid
    points (the grid's start if it is already there); None if it never does."""
    above = np.flatnonzero(v >= 0)
    if not len(above):
        return None
    j = int(above[0])
    if j == 0:
        return float(grid[0])
    t = -v[j - 1] / (v[j] - v[j - 1])
    return float(math.exp(math.log(grid[j - 1]) + t * (math.log(grid[j]) - math.log(grid[j - 1]))))


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


def _interval_inf(s: np.ndarray, level: float) -> list[float | None]:
    if s.size == 0:
        return [None, None]
    big = 1e300  # inf would turn the percentile's interpolation into NaN
    lo, hi = np.percentile(np.where(np.isfinite(s), s, big), [50 * (1 - level), 50 * (1 + level)])
    return [float(lo) if lo < big / 2 else None, float(hi) if hi < big / 2 else None]


def effective_data_transferred(scratch: ArmFit, target: float, user_bytes: float, *,
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
