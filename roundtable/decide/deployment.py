"""The verdict under a deployment limit: ``--max-params N``, ``--min-gen-tokens-per-s N``.

Users decide on more than bits per byte: a model too big for the device, or too slow to
write, is not an answer whatever its score. Under a limit, the verdict is the same
verdict (verdict.py: the same leader, margin, paired bootstrap and rule that names a
winner only where the interval excludes zero) run on the runs of the arms within the
limit; the sentence names each arm the limit left out and why. Costs are each arm's as
results.json records them at the verdict's data fraction: its parameters (the whole model
that serves: a LoRA arm's base weights included) and its generation speed measured on this
machine after training (mean over its finished seeds). An arm whose cost was not
measured is left out: a limit cannot be checked on a number that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from roundtable.decide.verdict import Setting, verdict

if TYPE_CHECKING:
    from roundtable.tasks import Task


@dataclass(frozen=True)
class Limit:
    """What a deployment can afford; None: no limit on that cost."""

    max_params: int | None = None
    min_gen_tokens_per_s: float | None = None

    def __bool__(self) -> bool:
        return self.max_params is not None or self.min_gen_tokens_per_s is not None

    def words(self) -> str:
        parts = []
        if self.max_params is not None:
            parts.append(f"at most {self.max_params:,} parameters")
        if self.min_gen_tokens_per_s is not None:
            parts.append(f"at least {self.min_gen_tokens_per_s:g} generated tokens per second on this machine")
        return " and ".join(parts)

    def to_dict(self) -> dict:
        return {"max_params": self.max_params, "min_gen_tokens_per_s": self.min_gen_tokens_per_s}


def arm_costs(runs: list[dict]) -> dict[str, dict]:
    """Each arm's inference costs at the largest data fraction: parameters, and generation
    tokens per second (mean over its finished runs that measured it; None where none did)."""
    if not runs:
        return {}
    top = max(r["fraction"] for r in runs)
    costs: dict[str, dict] = {}
    for r in runs:
        if r["fraction"] != top:
            continue
        c = costs.setdefault(r["arm"], {"params": None, "speeds": []})
        if r.get("params"):
            c["params"] = int(r["params"])
        speed = (r.get("generation") or {}).get("tokens_per_second")
        if r.get("status") == "ok" and speed is not None:
            c["speeds"].append(float(speed))
    return {a: {"params": c["params"], "gen_tokens_per_s": float(np.mean(c["speeds"])) if c["speeds"] else None}
            for a, c in costs.items()}


def why_out(cost: dict, limit: Limit) -> str | None:
    """Why an arm is outside the limit, in words; None when it is within it."""
    reasons = []
    if limit.max_params is not None:
        p = cost.get("params")
        if p is None:
            reasons.append("parameters not recorded")
        elif p > limit.max_params:
            reasons.append(f"{p:,} parameters > {limit.max_params:,}")
    if limit.min_gen_tokens_per_s is not None:
        s = cost.get("gen_tokens_per_s")
        if s is None:
            reasons.append("generation speed not measured")
        elif s < limit.min_gen_tokens_per_s:
            reasons.append(f"{s:.1f} tokens/s < {limit.min_gen_tokens_per_s:g}")
    return "; ".join(reasons) or None


def deployment_verdict(runs: list[dict], task: Task, out: Path, limit: Limit, setting: Setting | None = None) -> dict:
    """The verdict among the arms within ``limit`` (results.json's ``verdict.deployment``)."""
    costs = arm_costs(runs)
    excluded = {a: why for a, c in costs.items() if (why := why_out(c, limit)) is not None}
    eligible = [a for a in costs if a not in excluded]
    left = "; ".join(f"{a} ({why})" for a, why in excluded.items())
    left_out = f" The limit left out {left}." if left else " No arm was left out."
    base = {"limit": limit.to_dict(), "eligible": eligible, "excluded": excluded, "costs": costs,
            "winner": None, "leader": None, "runner_up": None, "separated": False, "margin": None, "ci95": None}
    head = f"Within the deployment limit ({limit.words()}):"
    if not eligible:
        return {**base, "sentence": f"{head} no arm fits, so none can be recommended.{left_out}"}
    v = verdict([r for r in runs if r["arm"] in eligible], task, out, setting)
    keep = ("winner", "leader", "runner_up", "separated", "margin", "ci95", "means", "seeds", "interval_method")
    result = {**base, **{k: v[k] for k in keep if k in v}}
    if len(eligible) == 1:
        only = eligible[0]
        score = (v.get("means") or {}).get(only)
        scored = f", scoring {score:.3f} {task.unit}" if score is not None else ""
        return {**result, "leader": only,
                "sentence": f"{head} only {only} fits{scored}: nothing within the limit to compare it with.{left_out}"}
    return {**result, "sentence": f"{head} {v['sentence']}{left_out}"}
