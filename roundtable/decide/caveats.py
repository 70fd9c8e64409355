"""What a reader must not over-read: baselines beside the arms, and warnings where the
evidence is thin, as plain sentences for the verdict and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from roundtable.arms import starts_pretrained
from roundtable.evaluate.sample import kilobytes

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


BUSY_SHARE = 0.25
"""A run whose machine gave this share of its cores' time or more to other processes
(``machine_busy``, train/busy.py) under a wall-clock budget is worth a warning: a
quarter of the cores' time is one of two cores held by other work half of the run, or
one of four all of it, well above the few percent an idle machine's daemons take."""


def busy_machine_warning(runs: list[dict], budget_kind: str) -> list[str]:
    """Under a wall-clock budget, each arm whose busiest run (its ``machine_busy``) shared
    the machine with other processes for BUSY_SHARE of its cores' time or more, one
    sentence each: the budget bought fewer steps than on a quiet machine. Budgets in
    steps, tokens, bytes or FLOPs buy the same training whatever the load: no warning."""
    if budget_kind != "seconds":
        return []
    busiest: dict[str, float] = {}
    for r in runs:
        busy = r.get("machine_busy")
        if r.get("status") == "ok" and r.get("budget_share", 1.0) == 1.0 and busy is not None:
            busiest[r["arm"]] = max(busiest.get(r["arm"], 0.0), float(busy))
    return [f"{arm} ran while the machine was {100 * busy:.0f}% busy with other work: its wall-clock budget bought "
            "fewer steps; a budget in bytes or FLOPs does not depend on this."
            for arm, busy in busiest.items() if busy >= BUSY_SHARE]


def unequal_threads_warning(runs: list[dict], budget_kind: str) -> list[str]:
    """Under a wall-clock budget, one sentence when the arms' runs trained on different
    numbers of threads (the fewest and the most each run had, as results.json records
    them): shards on one host share its cores equally, but a shard alone on a larger
    host, or one that shrank when a sibling came mid-run, buys more or fewer steps for
    the same seconds."""
    if budget_kind != "seconds":
        return []
    by_arm: dict[str, set[int]] = {}
    for r in runs:
        if r.get("status") == "ok" and r.get("budget_share", 1.0) == 1.0 and r.get("threads") is not None:
            by_arm.setdefault(r["arm"], set()).update(int(r[k]) for k in ("threads", "threads_most")
                                                      if r.get(k) is not None)
    if len({t for ts in by_arm.values() for t in ts}) <= 1:
        return []
    told = ", ".join(f"{arm} {'-'.join(map(str, sorted(ts)))}" for arm, ts in by_arm.items())
    return [f"The runs trained on unequal threads ({told}): under a wall-clock budget an arm with more threads "
            "bought more training; --threads fixes the number, and a budget in bytes or FLOPs does not depend on it."]


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


def sample_warning(sample: dict | None) -> list[str]:
    """Where every arm was scored on a sample of the validation text (evaluate/sample.py):
    its scores and margin are estimates of the whole text's, one sentence saying so."""
    if not sample or sample.get("max_bytes") is None:
        return []
    drawn = (f" ({sample['units']} units from {sample['documents']} documents, seed {sample['seed']})"
             if sample.get("units") else "")
    return [
        f"Every arm's bits per byte were scored on a random sample of {kilobytes(sample['scored_bytes'])} of "
        f"the {kilobytes(sample['valid_bytes'])} of validation text{drawn}, so that one score fits in "
        f"{100 * sample['share']:.0f}% of the budget (--eval-share; 0 scores all of it): each score and the margin "
        "are estimates of their whole-text values, and their interval, over the drawn units, is that of the estimate."
    ]


def lossy_warning(runs: list[dict]) -> list[str]:
    """Arms whose tokenizer does not give the validation text back (--allow-lossy-tokenizer)."""
    lossy = sorted({r["arm"] for r in runs if r.get("tokenizer_lossless") is False})
    if not lossy:
        return []
    return [f"The tokenizer of {', '.join(lossy)} does not give the validation text back exactly "
            "(accepted with --allow-lossy-tokenizer): its bits per byte score other text than the bytes counted."]
