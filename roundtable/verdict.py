"""From runs to a decision: winner, margin, 95% interval, and one plain sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from roundtable.stats import bpb_difference_samples, interval, mean_difference_samples

ADVICE = {
    "finetune": "fine-tune the pretrained model",
    "finetune-lora": "fine-tune the pretrained model with LoRA",
    "scratch-lstm": "train the LSTM from scratch",
    "scratch-transformer": "train the small transformer from scratch",
    "scratch-same": "train the pretrained architecture from scratch",
}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def curve_key(task: str) -> str:
    """The curve value measured on the same bytes at every point."""
    return "subset_bits_per_byte" if task == "lm" else "rougeL"


def primary_metric(task: str) -> tuple[str, bool]:
    """(metric name in run['final'], lower is better)."""
    return ("valid_bits_per_byte", True) if task == "lm" else ("rougeL", False)


def _per_doc(run: dict, out: Path, task: str):
    path = out / run["run_dir"] / "valid_scores.npz"
    if not path.exists():
        return None
    z = np.load(path)
    key = "doc_nll_nats" if task == "lm" else "doc_rougeL"
    if key not in z:
        return None
    return z[key], z["doc_bytes"]


def verdict(runs: list[dict], task: str, out: Path) -> dict:
    metric, lower = primary_metric(task)
    ok = [r for r in runs if r.get("status") == "ok" and r.get("final", {}).get(metric) is not None]
    if not ok:
        return {"metric": metric, "winner": None, "margin": None, "ci95": None,
                "sentence": "No run finished, so there is no verdict; see the runs' errors."}
    top = max(r["fraction"] for r in ok)
    by_arm: dict[str, list[dict]] = {}
    for r in ok:
        if r["fraction"] == top:
            by_arm.setdefault(r["arm"], []).append(r)
    means = {a: float(np.mean([r["final"][metric] for r in rs])) for a, rs in by_arm.items()}
    order = sorted(means, key=lambda a: means[a] if lower else -means[a])
    winner = order[0]
    if len(order) == 1:
        return {"metric": metric, "winner": winner, "margin": None, "ci95": None, "fraction": top,
                "sentence": f"Only {winner} finished, so nothing was compared."}
    runner = order[1]
    margin = (means[runner] - means[winner]) * (1 if lower else -1)  # > 0: winner better
    ci = _interval(by_arm[winner], by_arm[runner], out, task, lower)
    separated = ci is not None and ci[0] > 0
    unit = "bits per byte" if task == "lm" else "ROUGE-L"
    fmt = (lambda v: f"{v:.3f}") if task == "lm" else (lambda v: f"{v:.3f}")
    ci_text = f"95% CI {fmt(ci[0])} to {fmt(ci[1])}" if ci else "no interval"
    if separated:
        sentence = (
            f"{_cap(ADVICE.get(winner, winner))}: {winner} scores {fmt(means[winner])} {unit} against "
            f"{fmt(means[runner])} for {runner} under the same budget "
            f"(better by {fmt(margin)}, {ci_text})."
        )
    else:
        sentence = (
            f"The data cannot separate {winner} ({fmt(means[winner])} {unit}) from {runner} "
            f"({fmt(means[runner])}): the 95% interval of the difference ({ci_text}) includes zero; "
            "choose on cost, or give more validation data or seeds."
        )
    crossing = crossing_fraction(ok, winner, runner, metric, lower)
    key = curve_key(task)
    target = float(np.mean([r["curve"][-1][key] for r in by_arm[winner] if r.get("curve")]))
    match = time_to_match(by_arm[runner], target, task, lower)
    if crossing is not None:
        sentence += (
            f" With less data the order flips: below about {crossing:.0%} of the training data "
            f"{runner} is ahead."
        )
    if separated and match is not None:
        sentence += f" Extrapolating its curve, {runner} would need about {match:.0f} s to catch up."
    return {
        "metric": metric, "winner": winner, "runner_up": runner, "margin": margin, "ci95": list(ci) if ci else None,
        "separated": separated, "fraction": top, "means": means, "crossing_fraction": crossing,
        "time_to_match": match, "sentence": sentence,
    }


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


def time_to_match(loser_runs: list[dict], target: float, task: str, lower: bool, horizon: float = 100.0):
    """Seconds of training the losing arm would need to reach the winner's final score,
    from a fit of score against log(seconds) over the last three curve points (seed
    mean); None if its curve is flat or rising, or if the answer is beyond ``horizon``
    times its budget (the curve does not say)."""
    key = curve_key(task)
    pts: dict[float, list[float]] = {}
    for r in loser_runs:
        for p in r.get("curve", []):
            if p.get("seconds", 0) > 0 and p.get(key) is not None:
                pts.setdefault(round(p["seconds"], 0), []).append(p[key])
    xs = sorted(pts)[-3:]
    if len(xs) < 2:
        return None
    x = np.log(np.asarray(xs))
    y = np.asarray([np.mean(pts[k]) for k in xs])
    slope, icept = np.polyfit(x, y, 1)
    improving = slope < 0 if lower else slope > 0
    if not improving:
        return None
    seconds = float(np.exp((target - icept) / slope))
    if seconds > horizon * max(xs) or seconds <= 0:
        return None
    return seconds


def _interval(win_runs, run_runs, out: Path, task: str, lower: bool):
    a = [_per_doc(r, out, task) for r in win_runs]
    b = [_per_doc(r, out, task) for r in run_runs]
    if any(x is None for x in a + b):
        return None
    if task == "lm":
        samples = bpb_difference_samples(np.stack([x[0] for x in b]), np.stack([x[0] for x in a]), a[0][1])
    else:
        samples = mean_difference_samples(np.stack([x[0] for x in a]), np.stack([x[0] for x in b]))
    return interval(samples)
