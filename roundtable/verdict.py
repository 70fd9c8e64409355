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
    return {
        "metric": metric, "winner": winner, "runner_up": runner, "margin": margin, "ci95": list(ci) if ci else None,
        "separated": separated, "fraction": top, "means": means, "sentence": sentence,
    }


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
