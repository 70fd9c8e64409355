"""What a reader must not over-read: baselines beside the arms, and warnings where the
evidence is thin, as plain sentences for the verdict and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from roundtable.arms import starts_pretrained

if TYPE_CHECKING:
    from roundtable.tasks import Task

MIN_STEPS = 30
"""Fewer optimizer steps than this: the score says what minutes buy, not what the path can reach."""
WALL_OVER_BUDGET = 2.0
"""Wall clock above this multiple of the summed budgets is worth a warning."""


TOKEN_TEXT_RATIO = 1.5
"""Under a token budget, arms whose bytes per token differ by more than this read unequal text."""


def token_budget_warning(runs: list[dict], budget_kind: str) -> list[str]:
    """Under a token budget each arm counts its own tokens: where the arms' bytes per token
    (their runs' training bytes over training tokens) differ by more than TOKEN_TEXT_RATIO,
    the arm with more bytes per token read that much more text, one sentence saying so."""
    if budget_kind != "tokens":
        return []
    per_arm: dict[str, list[float]] = {}
    for r in runs:
        if r.get("status") == "ok" and r.get("train_tokens") and r.get("train_bytes"):
            per_arm.setdefault(r["arm"], []).append(r["train_bytes"] / r["train_tokens"])
    bpt = {arm: float(np.mean(v)) for arm, v in per_arm.items()}
    if len(bpt) < 2:
        return []
    hi, lo = max(bpt, key=bpt.get), min(bpt, key=bpt.get)
    if bpt[hi] <= TOKEN_TEXT_RATIO * bpt[lo]:
        return []
    return [f"The budget is in tokens and each arm counts its own: {hi} reads {bpt[hi]:.2g} bytes per token, {lo} "
            f"{bpt[lo]:.2g}, so {hi} trained on {bpt[hi] / bpt[lo]:.1f}x the text; a budget in bytes (--budget 5MB) "
            "gives every arm the same text."]


def pretrained_baseline(runs: list[dict], task: Task) -> dict | None:
    """The pretrained model as it is: the step-0 scores of the arms that start from it."""
    points = [r["curve"][0] for r in runs if starts_pretrained(r.get("arm")) and r.get("curve")]
    if not points:
        return None
    keys = [k for k in ("valid_bits_per_byte", *task.extra_metrics) if all(p.get(k) is not None for p in points)]
    return {k: float(np.mean([p[k] for p in points])) for k in keys}


def _mean(runs: list[dict], key: str, f: float, arm: str) -> float | None:
    v = [r["final"][key] for r in runs if r["arm"] == arm and r["fraction"] == f]
    return float(np.mean(v)) if v else None


def warnings_for(runs: list[dict], task: Task, train_bytes: dict[float, int], baselines: dict,
                 budget_seconds: float | None, wall_seconds: float | None) -> list[str]:
    """Thin evidence, one sentence each: little training, summaries no better than the
    lead sentence, a score that got worse with more data, wall clock far above budget.
    ``runs``: every run, the forecast's rungs (``budget_share`` < 1) included."""
    ok = [r for r in runs if r.get("status") == "ok" and r.get("final") and r.get("budget_share", 1.0) == 1.0]
    out = []
    top = max(train_bytes) if train_bytes else None
    for arm in dict.fromkeys(r["arm"] for r in ok):
        mine = [r for r in ok if r["arm"] == arm and r["fraction"] == top]
        if not mine:
            continue
        steps = min(r.get("steps", 0) for r in mine)
        epochs = min(r.get("train_bytes", 0) for r in mine) / max(train_bytes[top], 1)
        if steps < MIN_STEPS or epochs < 1:
            out.append(f"{arm} trained {steps} steps, {epochs:.2g} of an epoch: its score shows what this budget "
                       "buys, not what the path can reach.")
    metric = task.primary_metric
    fracs = sorted({r["fraction"] for r in ok})
    for arm in dict.fromkeys(r["arm"] for r in ok):
        scores = [(f, _mean(ok, metric, f, arm)) for f in fracs]
        scores = [(f, v) for f, v in scores if v is not None]
        for (f0, v0), (f1, v1) in zip(scores, scores[1:]):
            if (v1 > v0) if task.lower_is_better else (v1 < v0):
                out.append(f"{arm} scored worse with more data ({v0:.3f} at fraction {f0:g}, {v1:.3f} at {f1:g}): "
                           "more seeds or a longer budget would tell whether that is noise.")
                break
    if ok:
        out += task.baseline_warnings({a: _mean(ok, metric, top, a) for a in dict.fromkeys(r["arm"] for r in ok)},
                                      baselines)
    if budget_seconds and wall_seconds and ok:
        spent = budget_seconds * sum(r.get("budget_share", 1.0) for r in runs)  # the forecast's rungs included
        if wall_seconds > WALL_OVER_BUDGET * spent:
            out.append(f"The comparison took {wall_seconds / 60:.0f} min of wall clock for {spent / 60:.0f} min of "
                       "budget: model loading and evaluation took the rest.")
    return out
