"""The forecast as results.json holds it: one block per comparison, per arm its value
and intervals at the target, the crossovers, the backtest and the data forecasts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from roundtable.forecast.arm import (
    MIN_EARLY,
    N_BOOT,
    ArmCurves,
    CurveForecast,
    capacity_applies,
    forecast_arm,
    past_transient,
)
from roundtable.forecast.backtest import crossover, effective_data_transferred
from roundtable.forecast.bootstrap import forecast_data
from roundtable.forecast.curvelaw import CANDIDATES, CAPACITY, HOLDOUT, Candidate
from roundtable.forecast.law import EPOCHS_WARN, HORIZON, R_STAR_RANGE, DataPoint

# -- the results.json block and its sentence -------------------------------------------
METHOD = ("whole-curve: L = L0 + A*(S1+S0)^-alpha - C*S2 (Tissue et al. 2024, S1 shifted as in Luo et al. "
          "2025; S1 the learning rate's area over effective data, S2 its annealing area), Huber fit of relative "
          "residuals, the law chosen by a backtest inside the curve in every block-bootstrap replicate, intervals "
          "scaled by split-conformal factors measured on calibration ladders")
BACKTEST_SHARE = 0.5
"""The comparison's own backtest: each arm refitted on the first half of its main runs'
curves (and its extra runs), predicting their end; later where the first transient took
more of the curve (``backtest_share``)."""
R_STAR_CENTRAL = 15.4
"""The repetition rule's R* for the whole-curve forecast: the effective data of repeated
bytes, on which the rate's area S1 is summed (Muennighoff et al. 2023's value). A small
model's curve flattens after a few epochs, but mostly because it nears the capacity of
its size (curvelaw.CAPACITY), not because repeats are worth less: with the capacity floor,
R* of 15.4 forecast the calibration forecasts of bench/forecast.py best (mean error 0.050,
against 0.133 for R* = 4 and 0.060 for no repetition rule)."""
R_STAR_FALLBACK = 4.0
"""R* for an arm forecast by the fallback laws (``curvelaw.CANDIDATES``: no capacity
floor, e.g. a pretrained arm, or ROUGE): without that floor the repetition rule has to do
the flattening, and 4 did best on the calibration corpus (bench/forecast.py prose: the
curves of models of 20k-300k parameters flatten after 2-4 epochs, and 15.4 forecast them
0.1-0.5 bits per byte too low at 8-19 epochs; on the 32 calibration forecasts of both
tiers those laws' mean error is 0.103 with 4 and 0.221 with 15.4)."""


def _law_family(ac: ArmCurves, candidates: Sequence[Candidate] | None,
                r_star: float | None) -> tuple[Sequence[Candidate], float | None]:
    """The laws an arm's choice may take and their central R*: the capacity floor's at
    ``r_star`` where it applies, the fallback laws at R_STAR_FALLBACK otherwise (given
    ``candidates`` are kept, at ``r_star``)."""
    if candidates is not None:
        return candidates, r_star
    return (CAPACITY, r_star) if capacity_applies(ac) else (CANDIDATES, R_STAR_FALLBACK)


REPEATED = "the data would be repeated"


def repeated_note(epochs: float) -> str:
    return (f"{REPEATED} {epochs:.0f} times; returns diminish and the model may overfit, which no monotone "
            "law foresees")


def backtest_share(ac: ArmCurves) -> float | None:
    """Where the comparison's own backtest cuts the main runs: at BACKTEST_SHARE of their
    steps, or later where the first transient took so much of the curve that the fit
    before the cut would not have its MIN_EARLY points before the held-out end and one
    after (the choice of law holds out the last 1 - HOLDOUT of what it fits); None where
    no cut before the end leaves them."""
    runs = past_transient(ac).runs
    top = max((r for r in runs if r.main), key=lambda r: r.steps)
    shares = np.sort(top.at / top.steps)
    if len(shares) <= MIN_EARLY:
        return None
    cut = max(BACKTEST_SHARE, float(shares[MIN_EARLY - 1]) / HOLDOUT, float(shares[MIN_EARLY]))
    return cut if cut < 1.0 - 1e-9 else None


def _arm_entry(fc: CurveForecast, ac: ArmCurves, target: float, no_backtest: str | None = None) -> dict:
    if fc.problem:
        return {"metric": fc.metric, "value": None, "ci80": [None, None], "ci95": [None, None], "problem": fc.problem,
                "notes": [fc.problem], "measured": fc.measured, "band": []}
    band = np.geomspace(fc.budget / 4, target, 16)
    top = max((r for r in ac.runs if r.main), key=lambda r: r.steps)
    curve = [{"at": float(st / fc.steps_per_unit), "value": float(fc.show(v * fc.ratio)), "kind": "curve"}
             for st, v in zip(top.at, top.loss)]
    entry = {"metric": fc.metric, "value": fc.value(target), "ci80": fc.interval(target, 0.8),
             "ci95": fc.interval(target, 0.95), "scale": fc.scale(target), "steps": fc.steps_at(target),
             "params": {**fc.law.params(), "law": fc.candidate.name,
                        "floor": fc.candidate.floor or fc.candidate.capacity or fc.candidate.floor_share > 0,
                        "capacity_floor": ac.floor() if fc.candidate.capacity else None, "model_params": ac.params,
                        "start": fc.candidate.start, "r_star": fc.r_star, "whole_over_subset": fc.ratio,
                        "conformal_factors": {str(k): v for k, v in fc.factors.items()},
                        "laws_chosen": _chosen(fc)},
             "measured": fc.measured, "curve": curve, "notes": list(fc.notes) + ([no_backtest] if no_backtest else []),
             "problem": None,
             "band": [{"budget": float(b), "value": fc.value(b), "ci80": fc.interval(b, 0.8),
                       "ci95": fc.interval(b, 0.95)} for b in band]}
    if fc.unique:
        ep = fc.steps_at(target) * fc.bytes_per_step / fc.unique
        entry["epochs"] = ep
        if ep > EPOCHS_WARN:
            entry["notes"].append(repeated_note(ep))
    return entry


def _chosen(fc: CurveForecast) -> dict[str, float]:
    """How often each law was chosen across the replicates: how settled the choice is."""
    names = [r[0].name for r in fc.replicates if r]
    return {n: names.count(n) / len(names) for n in sorted(set(names))} if names else {}


def forecast_block(arms: Mapping[str, ArmCurves], target: float, *, also: Mapping[str, Mapping[str, ArmCurves]]
                   | None = None, data: Mapping[str, Sequence[DataPoint]] | None = None,
                   user_bytes: float | None = None, multiples: Sequence[float] = (2.0, 10.0),
                   finetuned: Sequence[str] | None = None, n_boot: int = N_BOOT, seed: int = 0,
                   horizon: float = HORIZON, unit: str = "s", r_star=R_STAR_CENTRAL,
                   candidates: Sequence[Candidate] | None = None) -> dict:
    """The results.json ``forecast`` block.

    ``arms``: each arm's curves for the primary metric (``also``: per other metric, the
    same). ``target``: the budget to forecast (``unit``). ``data``: per arm, its
    ``--fractions`` points (three or more sizes) for the ``data`` and ``transfer``
    blocks; ``user_bytes``: the user's training bytes. ``candidates``: the laws each arm's
    choice may take (None: the capacity floor's at ``r_star`` where it applies, else the
    fallback laws at R_STAR_FALLBACK: ``_law_family``)."""
    family = {a: _law_family(ac, candidates, r_star) for a, ac in arms.items()}
    fcs = {a: forecast_arm(ac, r_star=family[a][1], n_boot=n_boot, seed=seed, candidates=family[a][0])
           for a, ac in arms.items()}
    bt = []
    missing: dict[str, str] = {}
    for a, ac in arms.items():
        if fcs[a].problem:
            continue
        share = backtest_share(ac)
        if share is None:
            missing[a] = "no backtest: too few curve points past the first transient to leave any out"
            continue
        b = forecast_arm(ac, r_star=family[a][1], n_boot=max(n_boot // 4, 10), seed=seed, upto=share,
                         candidates=family[a][0])
        actual = fcs[a].measured[0]["value"]
        if b.law is None:
            missing[a] = f"no backtest: the fit of the curve up to {share:.0%} of its run failed"
        if b.law is None or actual is None or not math.isfinite(actual):
            continue
        pred, ci95 = b.value(ac.budget), b.interval(ac.budget, 0.95)
        bt.append({"arm": a, "budget": float(ac.budget), "from_share": share, "predicted": pred,
                   "actual": actual, "ci80": b.interval(ac.budget, 0.8), "ci95": ci95,
                   "z": (actual - pred) / b.scale(ac.budget), "inside95": bool(ci95[0] <= actual <= ci95[1])})
    good = {a: f for a, f in fcs.items() if not f.problem}
    budget = max((ac.budget for ac in arms.values()), default=target)
    block = {
        "method": METHOD, "target_seconds": float(target), "unit": unit, "horizon": horizon,
        "arms": {a: _arm_entry(f, arms[a], target, missing.get(a)) for a, f in fcs.items()},
        "crossover": crossover(good, budget, target) if len(good) > 1 else [],
        "backtest": bt,
    }
    for metric, by_arm in (also or {}).items():
        for a, ac in by_arm.items():
            if a in block["arms"]:
                laws, rs = _law_family(ac, candidates, r_star)
                f = forecast_arm(ac, r_star=rs, n_boot=n_boot, seed=seed, candidates=laws)
                block["arms"][a].setdefault("also", {})[metric] = _arm_entry(f, ac, target)
    if len(good) > 1:
        block["difference"] = _difference(good, target)
    if data:
        if finetuned is None:  # the arms that start from the pretrained weights (the arm table)
            from roundtable.arms import starts_pretrained

            finetuned = [a for a in data if starts_pretrained(a)]
        primary = next(iter(arms.values())).metric if arms else "valid_bits_per_byte"
        block.update(data_blocks(data, primary, user_bytes, multiples, finetuned, n_boot, seed, R_STAR_RANGE))
    return block


def _difference(fcs: Mapping[str, CurveForecast], target: float) -> dict:
    """95% interval of (runner-up - leader) at the target: each arm's calibrated 95%
    half-width taken as 1.96 sd of a normal, the two arms' errors independent (their
    errors are more often alike than opposite, so this is the wider choice)."""
    order = sorted(fcs, key=lambda a: fcs[a].loss(target))
    if len(order) < 2:
        return {}
    a, b = order[:2]
    d = fcs[b].loss(target) - fcs[a].loss(target)
    sd = math.hypot(*(fcs[x].factors.get(0.95, 1.96) * fcs[x].scale(target) / 1.96 for x in (a, b)))
    lo, hi = d - 1.96 * sd, d + 1.96 * sd
    return {"leader": a, "runner_up": b, "ci95": [float(lo), float(hi)], "separated": bool(lo > 0)}


def data_blocks(data, metric, user_bytes, multiples, finetuned, n_boot, seed, r_star) -> dict:
    """The ``data`` and ``transfer`` blocks from ``--fractions`` runs (the saturating law of final scores)."""
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
            seen = [p.tokens_seen for p in data[arm]]
            if all(v is not None for v in seen) and all(v < p.train_bytes for v, p in zip(seen, data[arm])):
                res.update(multiple=None, ci80=[None, None], ci95=[None, None],
                           reason="withheld: the runs at each data fraction read less than one epoch of their data, "
                                  "so within the budget more data could not have helped them, and what pretraining "
                                  "is worth in data cannot be read from them")
            res["train_bytes"] = res["multiple"] * u if res.get("multiple") is not None else None
            out["transfer"][arm] = {"reference": tuned[0], **res}
    return out
