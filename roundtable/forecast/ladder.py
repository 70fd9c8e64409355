"""From a comparison's runs to its forecast (forecast.py does the fitting).

With ``--forecast-budget``, every arm and seed also runs on the largest data fraction
at 1/4 and 1/2 of the budget, each with its own full schedule (``LADDER_SHARES``);
with the main runs these are three rungs of a budget ladder, fitted per arm with a
law that saturates and extrapolated to the target budget. With three or more
``--fractions`` the main runs also give the score against training data (2x and 10x
the user's data, and the data pretraining is worth to a scratch arm).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from roundtable.config.settings import BudgetConfig, parse_budget
from roundtable.core.errors import UserError
from roundtable.decide.verdict import per_doc
from roundtable.forecast import DataPoint, Ladder, LadderPoint, forecast_block

if TYPE_CHECKING:
    from roundtable.tasks import Task

LADDER_SHARES = (0.25, 0.5)
"""The rungs below the full budget, as shares of it."""


def forecast_target(spec: str, budget: BudgetConfig) -> tuple[float, str]:
    """``--forecast-budget`` as (target, unit): ``10x`` is ten times the budget, ``2h`` a
    wall-clock budget (seconds budgets only); the unit is ``s`` or ``steps``."""
    kind, base = budget.kind
    unit = {"seconds": "s"}.get(kind, kind)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*x\s*", str(spec))
    if m:
        target = float(m.group(1)) * base
    elif unit != "s":
        raise UserError(f"--forecast-budget {spec!r}: with a budget in {unit} give a multiple, e.g. 10x")
    else:
        target = parse_budget(spec)
    if target <= base:
        raise UserError(f"--forecast-budget {spec!r} must be larger than the budget ({base:g} {unit})")
    return target, unit


def _stack(runs: list[dict], out: Path, key: str):
    """(seeds, docs) per-document values of ``runs`` and the shared doc_bytes, or None."""
    got = [per_doc(r, out, key) for r in runs]
    if not got or any(g is None for g in got):
        return None
    return np.stack([g[0] for g in got]), got[0][1]


def _scores(runs: list[dict], out: Path, key: str) -> dict | None:
    z = _stack(runs, out, "doc_nll_nats")
    if z is None:
        return None
    if key != "doc_nll_nats":  # a per-document score in [0, 1] (ROUGE-L), fitted as 1 - score
        r = _stack(runs, out, key)
        return None if r is None else {"doc_score": r[0], "doc_bytes": z[1]}
    return {"doc_nll": z[0], "doc_bytes": z[1]}


def _ladders(rungs: dict[str, dict[float, list[dict]]], base: float, unique: float, out: Path, metrics) -> list[Ladder]:
    ladders = []
    for metric, key in metrics:
        for arm, by_share in rungs.items():
            points = []
            for share, runs in sorted(by_share.items()):
                s = _scores(runs, out, key)
                if s is not None:
                    seen = float(np.mean([r["train_bytes"] for r in runs]))
                    points.append(LadderPoint(budget=share * base, tokens_seen=seen, unique_tokens=unique, **s))
            if len(points) >= 3:
                ladders.append(Ladder(arm, points, metric))
    return ladders


def build(runs: list[dict], ladder_runs: list[dict], task: Task, out: Path, budget: BudgetConfig, spec: str,
          train_bytes: dict[float, int]) -> dict | None:
    """The results.json ``forecast`` block from finished runs, or None without a ladder.

    ``train_bytes``: the unique training bytes at each data fraction."""
    target, unit = forecast_target(spec, budget)
    base = budget.kind[1]
    top = max(train_bytes)
    ok = [r for r in runs + ladder_runs if r.get("status") == "ok"]
    rungs: dict[str, dict[float, list[dict]]] = {}
    for r in ok:
        if r["fraction"] == top:
            rungs.setdefault(r["arm"], {}).setdefault(r.get("budget_share", 1.0), []).append(r)
    metrics = [("valid_bits_per_byte", "doc_nll_nats")]
    if task.primary_metric != "valid_bits_per_byte":
        metrics.insert(0, (task.primary_metric, task.doc_key))  # the first ladder's metric is the primary one
    ladders = _ladders(rungs, base, float(train_bytes[top]), out, metrics)
    if not ladders:
        return None
    data = None
    if len(train_bytes) >= 3:
        data = {}
        for arm in {r["arm"] for r in ok}:
            points = []
            for f, unique in sorted(train_bytes.items()):
                main = [r for r in ok if r["arm"] == arm and r["fraction"] == f and r.get("budget_share", 1.0) == 1.0]
                s = _scores(main, out, metrics[0][1])
                if s is not None:
                    seen = float(np.mean([r["train_bytes"] for r in main]))
                    points.append(DataPoint(train_bytes=float(unique), tokens_seen=seen, **s))
            if len(points) >= 3:
                data[arm] = points
    return forecast_block(ladders, target, data=data or None, user_bytes=float(train_bytes[top]), unit=unit)
