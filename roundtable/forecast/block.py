"""The forecast as results.json holds it: one block per comparison, per arm its value
and intervals at the target, the crossovers, the backtest and the data forecasts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from roundtable.forecast.annealing import LRCurve, fit_annealing, forecast_annealing, schedule_steps
from roundtable.forecast.backtest import backtest, crossover, effective_data_transferred
from roundtable.forecast.bootstrap import ArmFit, forecast_data, forecast_ladder
from roundtable.forecast.law import EPOCHS_WARN, HORIZON, R_STAR, R_STAR_RANGE, DataPoint, Ladder

# -- the results.json block and its sentence -------------------------------------------
METHOD = ("budget-ladder: L = E + A*(D'/D_ref)^-alpha on effective data D' (Muennighoff R*=15.4), "
          "MAP fit (0<=E<=best, 0.05<=alpha<=2, log alpha ~ N(log 0.3, 1)), intervals by paired document/seed "
          "bootstrap + run noise + randomised prior, scaled by the backtest's z when it exceeds 1")


def _arm_entry(fc: ArmFit, target: float, lo: float) -> dict:
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
                   curves: Mapping[str, Sequence[LRCurve]] | None = None, multiplier=None) -> dict:
    """The results.json ``forecast`` block.

    ``ladders``: one per arm (the primary metric; a ladder for another metric of the
    same arm goes under ``also``). ``target``: the budget to forecast (``unit``).
    ``data``: per arm, its ``--fractions`` points (three or more sizes) for the
    ``data`` and ``transfer`` blocks; ``user_bytes``: the user's training bytes.
    ``curves``: per arm, the ladder runs' learning curves (``LRCurve`` with ``budget``)
    and ``multiplier(progress)`` the schedule: adds the annealing law's forecast and
    backtest under ``arms[arm]["alternatives"]``, for comparing methods."""
    primary = ladders[0].metric if ladders else "valid_bits_per_byte"
    fcs: dict[str, ArmFit] = {}
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


def _annealing_entry(curves: Sequence[LRCurve], fc: ArmFit, target: float, multiplier, **kw) -> dict:
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


def _difference(fcs: Mapping[str, ArmFit], target: float) -> dict:
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
