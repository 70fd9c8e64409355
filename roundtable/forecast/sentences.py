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
    """Why an arm cannot be forecast at all (failed fit, score rising with budget), or
    None. A missed backtest is not fatal: it widens the intervals, and the sentence
    says so, and refuses to rank the arms when its error exceeds their forecast gap."""
    e = block["arms"][arm]
    if e.get("value") is None or not math.isfinite(e["value"]):
        return "the fit failed"
    for n in e.get("notes", []):
        if "fit failed" in n or "got worse" in n:
            return n
    return None


def forecast_sentence(block: dict, answer: str | None = None, *, fmt: str = "{:.2f}") -> str:
    """One plain sentence for the verdict: each arm's forecast at the target with its 95%
    interval, then whether ``answer`` (the measured winner; default: the best at the
    largest measured budget) holds, is overtaken (when, with an 80% interval), or cannot
    be told. An arm whose fit failed, whose score rose with budget or whose backtest
    missed gets no number but the reason; a backtest error larger than the forecast gap
    is said instead of a ranking."""
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
        k = ok[a].get("params", {}).get("inflation", 1.0)
        wide = f"; widened {k:.1f}x as its backtest missed" if k > 1.0 else ""
        wide += "; from its last two rungs, as it is still leaving its initial plateau" if ok[a].get("plateau") else ""
        parts.append(f"{a} {'is forecast at' if i == 0 else 'at'} {fmt.format(ok[a]['value'])} "
                     f"({'95% interval ' if i == 0 else ''}{lo}-{hi}{wide})")
    head = f"At {when}, " + (" and ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + " and " + parts[-1])
    if bad:
        return f"{head}; {bad}, so the measured verdict stands alone."
    if len(order) == 1:
        return head + "."
    if answer is None:
        sign = -1 if higher else 1
        answer = min(arms, key=lambda a: sign * arms[a]["measured"][-1]["value"]) \
            if all(arms[a].get("measured") for a in arms) else order[0]
    bt = {b["arm"]: abs(b["predicted"] - b["actual"]) for b in block.get("backtest", [])}
    gap = abs(ok[order[0]]["value"] - ok[order[1]]["value"])
    err = max((bt[a] for a in order[:2] if a in bt), default=0.0)
    if err > gap:
        return (f"{head}; but the backtest error ({err:.3f}) is larger than the forecast gap ({gap:.3f}), "
                "so the forecast cannot rank them.")
    rising = [a for a in order if a != answer and ok[a].get("plateau")]
    if rising:  # a law without floor through two rungs: no claim that it overtakes, nor that it never does
        return (f"{head}: but {rising[0]} is still leaving its initial plateau, so its forecast rests on its last "
                f"two rungs alone and whether it catches up with {answer} cannot be told yet.")
    cross = [c for c in block.get("crossover", []) if c.get("budget") and c.get("overtakes") == answer
             and c["budget"] <= block["target_seconds"]]
    if cross:
        c = min(cross, key=lambda c: c["budget"])
        return (f"{head}: {c['arm']} is forecast to overtake {answer} after about {fmt_budget(c['budget'], unit)} "
                f"({fmt_budget_range(*c['ci80'], unit)}).")
    diff = block.get("difference", {})
    if diff and not diff.get("separated", True):
        return f"{head}: the intervals overlap, so the forecast cannot separate {diff['leader']} from {diff['runner_up']}."
    if order[0] == answer:
        return f"{head}: the answer holds."
    return f"{head}: {order[0]} is forecast to be ahead by then."
