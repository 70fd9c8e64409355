"""From runs to a decision: winner, margin, 95% interval, and one plain sentence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from roundtable.results import SCORES
from roundtable.stats import bpb_difference_samples, interval, mean_difference_samples

if TYPE_CHECKING:
    from roundtable.tasks import Task


def _advice(arm: str) -> str:
    """The arm table's advice; an arm no longer registered (an old results.json) by name."""
    from roundtable.arms import arm_names, get_arm

    return get_arm(arm).advice if arm in arm_names() else arm


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def per_doc(run: dict, out: Path, key: str):
    """(per-document values, doc_bytes) saved beside the run, or None if it has none."""
    path = out / str(run.get("run_dir")) / SCORES
    if not path.exists():
        return None
    z = np.load(path)
    return (z[key], z["doc_bytes"]) if key in z else None


def _difference_ci(first: list[dict], second: list[dict], out: Path, key: str):
    """95% interval of score(first) - score(second) over documents and seeds; ``key``
    "doc_nll_nats" gives bits per byte, "doc_rougeL" mean ROUGE-L."""
    a = [per_doc(r, out, key) for r in first]
    b = [per_doc(r, out, key) for r in second]
    if any(x is None for x in a + b):
        return None
    va, vb = np.stack([x[0] for x in a]), np.stack([x[0] for x in b])
    if key == "doc_nll_nats":
        return interval(bpb_difference_samples(va, vb, a[0][1]))
    return interval(mean_difference_samples(va, vb))


def _arm_ci(runs: list[dict], out: Path, key: str):
    """95% interval of one arm's own score (seed mean) over documents and seeds: the
    difference from a zero-score arm, so the same bootstrap as the margin's."""
    got = [per_doc(r, out, key) for r in runs]
    if not got or any(x is None for x in got):
        return None
    v = np.stack([x[0] for x in got])
    zero = np.zeros_like(v[:1])
    if key == "doc_nll_nats":
        return list(interval(bpb_difference_samples(v, zero, got[0][1])))
    return list(interval(mean_difference_samples(v, zero)))


def _seeds(n: int) -> str:
    return "seed" if n == 1 else "seeds"


def _losses(planned: dict[str, list[dict]], by_arm: dict[str, list[dict]], where: str):
    """A warning for each arm that lost seeds ("k of n seeds diverged"), and "arm (why)"
    for each arm that lost them all: a verdict judged on survivors must say so."""
    warn, missing = {}, []
    for a, rs in planned.items():
        n, kept = len(rs), len(by_arm[a])
        diverged = sum(r.get("status") == "diverged" for r in rs)
        counts = (("diverged", diverged), ("failed", n - kept - diverged))
        lost = " and ".join(f"{k} of {n} {_seeds(n)} {what}" for what, k in counts if k) + where
        if kept == n:
            continue
        if kept:
            warn[a] = f"For {a}, {lost}, so its score is the mean of the {kept} {_seeds(kept)} that finished."
        else:
            warn[a] = f"For {a}, {lost}, so it has no score."
            missing.append(f"{a} ({lost})")
    return warn, missing


def _fmt_ci(ci) -> str:
    return f"95% CI {ci[0]:.3f} to {ci[1]:.3f}"


def _bpb_clause(winner: str, runner: str, by_arm: dict[str, list[dict]], out: Path) -> tuple[dict | None, str]:
    """Summarize: the conditional bits per byte of the reference summaries beside ROUGE,
    which a few dozen generated examples measure with little power; left out without an interval."""
    bpb = {a: [(r.get("final") or {}).get("valid_bits_per_byte") for r in by_arm[a]] for a in (winner, runner)}
    if any(None in v for v in bpb.values()):
        return None, ""
    ci = _difference_ci(by_arm[runner], by_arm[winner], out, "doc_nll_nats")
    if ci is None:
        return None, ""
    bw, br = float(np.mean(bpb[winner])), float(np.mean(bpb[runner]))
    d = br - bw  # > 0: the ROUGE winner also has the lower bits per byte
    word, by, shown = ("lower", d, ci) if d >= 0 else ("higher", -d, (-ci[1], -ci[0]))
    text = (
        f" On the conditional bits per byte of the reference summaries, {winner} scores {bw:.3f} "
        f"and {runner} {br:.3f} ({winner} {word} by {by:.3f}, {_fmt_ci(shown)})."
    )
    return {"means": {winner: bw, runner: br}, "margin": d, "ci95": list(ci)}, text


def verdict(runs: list[dict], task: Task, out: Path) -> dict:
    """Judged at the largest data fraction any run was planned for, counting every planned
    run: an arm that lost seeds says so, and one that lost them all leaves no winner."""
    metric, lower = task.primary_metric, task.lower_is_better

    def finished(r):
        return r.get("status") == "ok" and (r.get("final") or {}).get(metric) is not None

    if not runs:
        return {"metric": metric, "winner": None, "margin": None, "ci95": None, "warnings": [],
                "sentence": "No run was planned, so there is no verdict."}
    top = max(r["fraction"] for r in runs)
    planned: dict[str, list[dict]] = {}
    for r in runs:
        if r["fraction"] == top:
            planned.setdefault(r["arm"], []).append(r)
    by_arm = {a: [r for r in rs if finished(r)] for a, rs in planned.items()}
    where = f" at data fraction {top:g}" if len({r["fraction"] for r in runs}) > 1 else ""
    warn, missing = _losses(planned, by_arm, where)
    partial = "".join(f" {w}" for a, w in warn.items() if by_arm[a])  # total losses get the lead clause
    means = {a: float(np.mean([r["final"][metric] for r in rs])) for a, rs in by_arm.items() if rs}
    key = task.doc_key
    base = {"metric": metric, "winner": None, "margin": None, "ci95": None, "fraction": top, "means": means,
            "arm_ci95": {a: _arm_ci(rs, out, key) for a, rs in by_arm.items() if rs},
            "warnings": list(warn.values())}
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        has = "has" if len(missing) == 1 else "have"
        return {**base, "sentence": f"The comparison is incomplete: {names} {has} no score, "
                                    f"so no arm is named the winner.{partial}"}
    order = sorted(means, key=lambda a: means[a] if lower else -means[a])
    winner = order[0]
    if len(order) == 1:
        return {**base, "winner": winner, "sentence": f"Only {winner} was run, so nothing was compared.{partial}"}
    runner = order[1]
    margin = (means[runner] - means[winner]) * (1 if lower else -1)  # > 0: winner better
    better_minus_worse = (by_arm[runner], by_arm[winner]) if lower else (by_arm[winner], by_arm[runner])
    ci = _difference_ci(*better_minus_worse, out, key)
    separated = ci is not None and ci[0] > 0
    unit = task.unit
    if separated:
        sentence = (
            f"{_cap(_advice(winner))}: {winner} scores {means[winner]:.3f} {unit} against "
            f"{means[runner]:.3f} for {runner} under the same budget (better by {margin:.3f}, {_fmt_ci(ci)})."
        )
    else:
        why = (f"the 95% interval of the difference, {ci[0]:.3f} to {ci[1]:.3f}, includes zero" if ci
               else "without per-document scores there is no interval of the difference")
        sentence = (
            f"The data cannot separate {winner} ({means[winner]:.3f} {unit}) from {runner} "
            f"({means[runner]:.3f}): {why}; choose on cost, or give more validation data or seeds."
        )
    crossing = crossing_fraction([r for r in runs if finished(r)], winner, runner, metric, lower)
    if crossing is not None:
        sentence += (
            f" With less data the order flips: below about {crossing:.0%} of the training data "
            f"{runner} is ahead."
        )
    # a task scored on another metric also gets the bits per byte of its scored text
    bpb, bpb_text = _bpb_clause(winner, runner, by_arm, out) if metric != "valid_bits_per_byte" else (None, "")
    result = {
        **base, "winner": winner, "runner_up": runner, "margin": margin, "ci95": list(ci) if ci else None,
        "separated": separated, "crossing_fraction": crossing, "sentence": sentence + bpb_text + partial,
    }
    return {**result, "bpb": bpb} if bpb else result


def crossing_fraction(runs: list[dict], a: str, b: str, metric: str, lower: bool) -> float | None:
    """The data fraction where arm a's and b's mean final scores cross (linear in log
    fraction between the two sweep points that bracket the sign change), if they do."""
    def mean_at(arm, f):
        v = [r["final"][metric] for r in runs if r["arm"] == arm and r["fraction"] == f]
        return float(np.mean(v)) if v else None

    fracs = sorted({r["fraction"] for r in runs})
    diffs = []
    for f in fracs:
        va, vb = mean_at(a, f), mean_at(b, f)
        if va is not None and vb is not None:
            diffs.append((f, (vb - va) if lower else (va - vb)))  # > 0: a ahead
    for (f0, d0), (f1, d1) in zip(diffs, diffs[1:]):
        if d0 < 0 <= d1:
            t = -d0 / (d1 - d0)
            return float(np.exp(np.log(f0) + t * (np.log(f1) - np.log(f0))))
    return None
