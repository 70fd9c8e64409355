"""From a comparison's runs to its forecast.

With ``--forecast-budget`` every arm's forecast is fitted to the whole learning curves of
its runs (``arm.py``), which need ``FORECAST_POINTS`` curve points each. An arm trained
at a constant rate needs nothing more: the first quarter of its run *is* a run at a
quarter of the budget. An arm whose rate decays trains one extra run at
``EXTRA_SHARE`` of the budget with its own full schedule (per seed, on the largest data
fraction), which shows the law what a complete anneal gains at another length: at most
``EXTRA_SHARE`` more training, against 75% for a ladder of rungs retrained at 1/4 and 1/2.
With three or more ``--fractions`` the main runs also give the score against training
data (2x and 10x the user's data, and the data pretraining is worth to a scratch arm).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from roundtable.arms import starts_pretrained
from roundtable.config.settings import BudgetConfig, parse_budget
from roundtable.core.errors import UserError
from roundtable.decide.verdict import per_doc
from roundtable.forecast.arm import ArmCurves, curve_inputs
from roundtable.forecast.block import REPEATED, forecast_block, repeated_note
from roundtable.forecast.law import EPOCHS_WARN, DataPoint
from roundtable.forecast.size import SizeTerm

if TYPE_CHECKING:
    from roundtable.tasks import Task

EXTRA_SHARE = 0.25
"""The extra run of an arm whose rate decays, as a share of the budget."""
FORECAST_POINTS = 12
"""Curve points between step 0 and the end of every run when forecasting."""


def extra_shares(schedule: str) -> tuple[float, ...]:
    """The forecast's extra runs of an arm with this schedule: none at a constant rate."""
    return () if schedule == "constant" else (EXTRA_SHARE,)


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


def _curves(runs: list[dict], arm: str, budget: float, unique: float, metric: str, kind: str,
            bigram: float | None) -> ArmCurves | None:
    point_key, final_key = ("subset_bits_per_byte", "valid_bits_per_byte") if metric == "valid_bits_per_byte" \
        else (metric, metric)
    mine = [r for r in runs if r["arm"] == arm]
    got = curve_inputs(mine, metric, point_key, final_key, budget, unique, arm, bigram)
    if got is not None and starts_pretrained(arm):
        got.params = None  # the capacity floor's law was fitted on models trained from scratch
    sized = next((r["sizing"] for r in mine if r.get("sizing") and r.get("budget_share", 1.0) == 1.0), None)
    if got is not None and sized:
        got.size = SizeTerm.from_record(sized, kind)
    return got


def _steps_of_rule_shape(entry: dict, term: SizeTerm, multiple: float) -> None:
    """The entry's steps and epochs at the target for the rule's shape, which the value is
    for: under a budget in FLOPs or seconds a larger shape reads fewer tokens."""
    k = term.tokens(term.shape_at(multiple), multiple) / term.tokens(term.trained, multiple)
    entry["steps"] *= k
    if "epochs" in entry:
        entry["epochs"] *= k
        entry["notes"] = [n for n in entry["notes"] if not n.startswith(REPEATED)]
        if entry["epochs"] > EPOCHS_WARN:
            entry["notes"].append(repeated_note(entry["epochs"]))


def build(runs: list[dict], ladder_runs: list[dict], task: Task, out: Path, budget: BudgetConfig, spec: str,
          train_bytes: dict[float, int], bigram: float | None = None) -> dict | None:
    """The results.json ``forecast`` block from finished runs, or None with no arm to forecast.

    ``train_bytes``: the unique training bytes at each data fraction; ``bigram``: the
    bigram entropy of the largest fraction's training text (data/entropy.py), which a
    run's score must be below for its arm to be forecast (None: no such gate)."""
    target, unit = forecast_target(spec, budget)
    base = budget.kind[1]
    top = max(train_bytes)
    ok = [r for r in runs + ladder_runs if r.get("status") == "ok"]
    at_top = [r for r in ok if r["fraction"] == top]
    metrics = ["valid_bits_per_byte"]
    if task.primary_metric != "valid_bits_per_byte":
        metrics.insert(0, task.primary_metric)  # the first metric is the primary one
    arms: dict[str, dict[str, ArmCurves]] = {}
    for metric in metrics:
        for arm in dict.fromkeys(r["arm"] for r in at_top):
            got = _curves(at_top, arm, base, float(train_bytes[top]), metric, budget.kind[0], bigram)
            if got is not None:
                arms.setdefault(metric, {})[arm] = got
    if not arms.get(metrics[0]):
        return None
    data = None
    if len(train_bytes) >= 3:
        data = {}
        for arm in {r["arm"] for r in ok}:
            points = []
            for f, unique in sorted(train_bytes.items()):
                main = [r for r in ok if r["arm"] == arm and r["fraction"] == f and r.get("budget_share", 1.0) == 1.0]
                s = _scores(main, out, task.doc_key if metrics[0] != "valid_bits_per_byte" else "doc_nll_nats")
                if s is not None:
                    seen = float(np.mean([r["train_bytes"] for r in main]))
                    points.append(DataPoint(train_bytes=float(unique), tokens_seen=seen, **s))
            if len(points) >= 3:
                data[arm] = points
    done = [r for r in ladder_runs if r.get("status") == "ok"]
    main = [r for r in runs if r.get("status") == "ok"]
    extra_bytes, main_bytes = (sum(float(r.get("train_bytes", 0)) for r in rs) for rs in (done, main))
    block = forecast_block(arms[metrics[0]], target, also={m: arms[m] for m in metrics[1:] if m in arms},
                           data=data or None, user_bytes=float(train_bytes[top]), unit=unit)
    for arm, entry in block["arms"].items():
        term = arms[metrics[0]][arm].size if arm in arms[metrics[0]] else None
        if term is None:
            continue
        size = entry["size"] = term.describe(target / base)
        if metrics[0] != "valid_bits_per_byte":
            del size["delta"]  # the step is in bits per byte: this forecast is of the size trained
        if size["rule_at_target"] == size["trained"] or entry.get("value") is None:
            continue
        if metrics[0] == "valid_bits_per_byte":
            _steps_of_rule_shape(entry, term, target / base)
            entry["notes"].append(
                f"trained at {size['trained']}; forecast for {size['rule_at_target']} ({size['params_at_target']:,} "
                f"parameters), the size the sizing rule chooses at the target: the trained size's curve plus "
                f"{size['delta']:+.2f} bits per byte from the Chinchilla form (roundtable/forecast/size.py)")
        else:
            entry["notes"].append(
                f"trained at {size['trained']}; at the target the sizing rule would choose {size['rule_at_target']} "
                f"({size['params_at_target']:,} parameters): this forecast is for the size trained (the size step "
                "is measured in bits per byte only), and a model sized to the target would be expected to do better")
    block["bigram_bits_per_byte"] = bigram
    block["extra_training"] = {
        "runs": len(done), "train_bytes": extra_bytes, "main_train_bytes": main_bytes,
        "train_seconds": sum(r.get("train_seconds", 0.0) for r in done),
        "main_train_seconds": sum(r.get("train_seconds", 0.0) for r in main),
        "share": extra_bytes / main_bytes if main_bytes else 0.0}  # of the training the comparison did, in bytes
    return block
