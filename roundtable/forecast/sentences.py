"""The forecast in words: budgets as people write them, and the report's sentence."""

from __future__ import annotations

import math

from roundtable.forecast.law import higher_is_better


def fmt_budget(v: float, unit: str = "s") -> str:
    """90 s, 8 min, 2 h, 3 d; other units: 3.2M tokens, 400 steps."""
    return " ".join(_budget_parts(v, unit))


def _budget_parts(v: float, unit: str) -> tuple[str, str]:
    if unit != "s":  # 400k tokens, 3.2M tokens, 2e+15 flops
        for div, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if v >= div and unit in ("tokens", "steps", "bytes"):
                return f"{v / div:.3g}{prefix}", unit
        return f"{v:.3g}", unit
    for div, name, cut in ((86400, "d", 2 * 86400), (3600, "h", 2 * 3600), (60, "min", 120)):
        if v >= cut:
            return (f"{v / div:.2g}" if v / div < 10 else f"{v / div:.0f}"), name
    return f"{v:.0f}", "s"


def fmt_budget_range(lo: float | None, hi: float | None, unit: str = "s") -> str:
    """1.5-7 h; 50 s-2 min; 3 h-beyond the horizon."""
    if lo is None:
        return "?"
    if hi is None:
        return f"{fmt_budget(lo, unit)}-beyond the horizon"
    (a, ua), (b, ub) = _budget_parts(lo, unit), _budget_parts(hi, unit)
    return f"{a}-{b} {ub}" if ua == ub else f"{a} {ua}-{b} {ub}"


def arm_problem(block: dict, arm: str) -> str | None:
    """Why an arm cannot be forecast (too few steps or curve points, a failed fit), or None."""
    e = block["arms"][arm]
    if e.get("problem"):
        return e["problem"]
    if e.get("value") is None or not math.isfinite(e["value"]):
        return "the fit failed"
    return None


def forecast_sentence(block: dict, answer: str | None = None, *, fmt: str = "{:.2f}") -> str:
    """One plain sentence for the verdict: each arm's forecast at the target with its 95%
    interval, then what the forecast can support about ``answer`` (the measured winner;
    default: the best at the measured budget), with the same caution for every arm: a
    crossover or "the answer holds" only where the 95% interval of the difference at
    the target excludes zero. An arm that cannot be forecast gets no number but the reason."""
    arms, unit = block.get("arms", {}), block.get("unit", "s")
    when = fmt_budget(block["target_seconds"], unit)
    problems = {a: arm_problem(block, a) for a in arms}
    ok = {a: arms[a] for a in arms if problems[a] is None}
    bad = "; ".join(f"{a} cannot be forecast: {p}" for a, p in problems.items() if p)
    if not ok:
        return f"At {when} there is no forecast to trust ({bad or 'no arm'}), so the measured verdict stands alone."
    higher = higher_is_better(next(iter(ok.values()))["metric"])
    order = sorted(ok, key=lambda a: -ok[a]["value"] if higher else ok[a]["value"])
    parts = []
    for i, a in enumerate(order):
        lo, hi = (fmt.format(v) for v in ok[a]["ci95"])
        size = ok[a].get("size") or {}
        sized = f" (at {size['rule_at_target']}, the size chosen for that budget)" if size.get("delta") else ""
        parts.append(f"{a}{sized} {'is forecast at' if i == 0 else 'at'} {fmt.format(ok[a]['value'])} "
                     f"({'95% interval ' if i == 0 else ''}{lo}-{hi})")
    head = f"At {when}, " + (" and ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + " and " + parts[-1])
    if bad:
        return f"{head}; {bad}, so the measured verdict stands alone."
    if len(order) == 1:
        return head + "."
    if answer is None or answer not in ok:
        sign = -1 if higher else 1
        measured = {a: ok[a]["measured"][-1]["value"] for a in ok if ok[a].get("measured")}
        answer = min(measured, key=lambda a: sign * measured[a]) if len(measured) == len(ok) else order[0]
    diff = block.get("difference", {})
    if not diff.get("separated"):
        lo, hi = (fmt.format(v) for v in diff.get("ci95", [math.nan, math.nan]))
        return (f"{head}: the 95% interval of their difference ({lo} to {hi}) holds zero, so the forecast cannot "
                f"separate {diff.get('leader', order[0])} from {diff.get('runner_up', order[1])}.")
    leader = diff["leader"]
    if leader == answer:
        return f"{head}: {answer} is forecast to stay ahead."
    cross = [c for c in block.get("crossover", []) if c.get("budget") and c.get("arm") == leader
             and c.get("overtakes") == answer and c["budget"] <= block["target_seconds"]]
    if cross:
        c = min(cross, key=lambda c: c["budget"])
        return (f"{head}: {leader} is forecast to overtake {answer} after about {fmt_budget(c['budget'], unit)} "
                f"(80% interval {fmt_budget_range(*c['ci80'], unit)}).")
    return f"{head}: {leader} is forecast to be ahead by then."
