"""verdict.py: the interval covers a known difference, excludes zero when arms clearly
differ, includes it when they do not; crossings on known curves; lost seeds are named
and an arm that lost them all leaves no winner; summarize shows bits per byte too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roundtable.stats import LN2
from roundtable.tasks import LMTask, SummarizeTask
from roundtable.verdict import crossing_fraction, verdict

N_DOCS = 400


def _write_run(out, arm, seed, nll, doc_bytes, final_bpb, fraction=1.0, curve=None, **scores):
    run_dir = f"runs/{arm}-seed{seed}-frac{fraction:g}"
    (out / run_dir).mkdir(parents=True)
    np.savez(out / run_dir / "valid_scores.npz", doc_nll_nats=nll, doc_bytes=doc_bytes, **scores)
    return {"arm": arm, "seed": seed, "fraction": fraction, "status": "ok", "run_dir": run_dir,
            "final": {"valid_bits_per_byte": final_bpb}, "curve": curve or [{"subset_bits_per_byte": final_bpb}]}


def _synthetic(tmp_path, true_gap: float, seeds: int = 2):
    """Arm a: 1.0 bit per byte per document plus noise; arm b: a + true_gap plus noise."""
    rng = np.random.default_rng(7)
    doc_bytes = rng.integers(200, 2000, size=N_DOCS)
    base = rng.normal(1.0, 0.3, size=N_DOCS)  # per-document difficulty shared by both arms (pairing)
    runs = []
    for arm, gap in (("finetune", 0.0), ("scratch-lstm", true_gap)):
        for s in range(seeds):
            bpb_doc = base + gap + rng.normal(0, 0.05, size=N_DOCS)
            nll = bpb_doc * doc_bytes * math.log(2)
            runs.append(_write_run(tmp_path, arm, s, nll, doc_bytes, float((nll.sum() / math.log(2)) / doc_bytes.sum())))
    return runs


def test_interval_covers_a_known_difference_and_excludes_zero(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.2)
    v = verdict(runs, LMTask(), tmp_path)
    assert v["winner"] == "finetune" and v["runner_up"] == "scratch-lstm"
    lo, hi = v["ci95"]
    assert lo < 0.2 < hi  # covers the true gap
    assert lo > 0 and v["separated"]  # and excludes zero
    assert v["margin"] == pytest.approx(0.2, abs=0.02)
    assert "Fine-tune" in v["sentence"]


def test_interval_includes_zero_when_the_arms_do_not_differ(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.0)
    v = verdict(runs, LMTask(), tmp_path)
    lo, hi = v["ci95"]
    assert lo <= 0 <= hi and not v["separated"]
    assert "cannot separate" in v["sentence"]


def _sweep_run(arm, fraction, bpb):
    return {"arm": arm, "seed": 0, "fraction": fraction, "status": "ok", "final": {"valid_bits_per_byte": bpb}}


def test_crossing_fraction_between_the_sweep_points_that_flip():
    runs = [
        _sweep_run("scratch-lstm", 0.1, 2.0), _sweep_run("finetune", 0.1, 2.4),  # scratch ahead with little data
        _sweep_run("scratch-lstm", 1.0, 1.8), _sweep_run("finetune", 1.0, 1.4),  # finetune ahead with all of it
    ]
    f = crossing_fraction(runs, "finetune", "scratch-lstm", "valid_bits_per_byte", lower=True)
    # the gap goes from -0.4 at 0.1 to +0.4 at 1.0: zero halfway in log fraction, at sqrt(0.1)
    assert f == pytest.approx(math.sqrt(0.1))
    assert crossing_fraction(runs[2:], "finetune", "scratch-lstm", "valid_bits_per_byte", lower=True) is None


def _lost_run(arm, seed, status, fraction=1.0):
    return {"arm": arm, "seed": seed, "fraction": fraction, "status": status, "error": "loss is nan at step 7"}


def test_an_arm_judged_on_its_surviving_seed_says_so(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.2, seeds=3)
    kept = [r for r in runs if not (r["arm"] == "scratch-lstm" and r["seed"] > 0)]
    runs = kept + [_lost_run("scratch-lstm", 1, "diverged"), _lost_run("scratch-lstm", 2, "diverged")]
    v = verdict(runs, LMTask(), tmp_path)
    assert v["winner"] == "finetune" and v["runner_up"] == "scratch-lstm"
    assert v["means"]["scratch-lstm"] == kept[-1]["final"]["valid_bits_per_byte"]  # the survivor, seed 0
    assert v["warnings"] == [
        "For scratch-lstm, 2 of 3 seeds diverged, so its score is the mean of the 1 seed that finished."
    ]
    assert v["sentence"].endswith(" " + v["warnings"][0])


def test_an_arm_that_always_diverged_leaves_the_comparison_incomplete(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.2, seeds=2)
    runs += [_lost_run("scratch-transformer", s, "diverged") for s in range(2)]
    v = verdict(runs, LMTask(), tmp_path)
    assert v["winner"] is None and v["margin"] is None and v["ci95"] is None
    assert v["sentence"] == (
        "The comparison is incomplete: scratch-transformer (2 of 2 seeds diverged) has no score, "
        "so no arm is named the winner."
    )
    assert v["warnings"] == ["For scratch-transformer, 2 of 2 seeds diverged, so it has no score."]
    assert set(v["means"]) == {"finetune", "scratch-lstm"}  # the arms that finished keep their scores


def test_lost_runs_count_at_the_largest_planned_fraction(tmp_path):
    # both arms finished at half the data, but at all of it finetune diverged once and failed once:
    # the verdict speaks about fraction 1, where finetune has no score, not about 0.5
    runs = _synthetic(tmp_path, true_gap=0.2, seeds=2)
    for r in runs:
        r["fraction"] = 0.5
    runs += [_lost_run("finetune", 0, "diverged"), _lost_run("finetune", 1, "failed"),
             _sweep_run("scratch-lstm", 1.0, 1.8)]
    v = verdict(runs, LMTask(), tmp_path)
    assert v["winner"] is None and v["fraction"] == 1.0
    assert "finetune (1 of 2 seeds diverged and 1 of 2 seeds failed at data fraction 1) has no score" in v["sentence"]
    assert v["means"] == {"scratch-lstm": 1.8}


def test_no_catch_up_forecast_from_a_straight_line(tmp_path):
    # the runner-up's curve falls linearly in log time: the old verdict extrapolated it to a catch-up time
    curve = [{"seconds": t, "subset_bits_per_byte": 3 - 0.5 * math.log(t)} for t in (10.0, 20.0, 40.0, 80.0)]
    runs = _synthetic(tmp_path, true_gap=0.2)
    for r in runs:
        if r["arm"] == "scratch-lstm":
            r["curve"] = curve
    v = verdict(runs, LMTask(), tmp_path)
    assert v["separated"] and "time_to_match" not in v
    assert "catch up" not in v["sentence"] and "Extrapolating" not in v["sentence"]


@pytest.mark.parametrize(("bpb_gap", "clause"), [
    (0.5, "(finetune lower by 0.500, 95% CI 0.500 to 0.500)"),
    (-0.25, "(finetune higher by 0.250, 95% CI 0.250 to 0.250)"),
])
def test_summarize_shows_bits_per_byte_beside_rouge(tmp_path, bpb_gap, clause):
    # every document: finetune ROUGE-L 0.35, scratch 0.25; finetune 1 bit per byte, scratch 1 + bpb_gap.
    # Constant per document, so every bootstrap sample is the exact difference
    doc_bytes = np.arange(100, 140)
    runs = []
    for arm, rouge, bpb in (("finetune", 0.35, 1.0), ("scratch-lstm", 0.25, 1.0 + bpb_gap)):
        r = _write_run(tmp_path, arm, 0, bpb * LN2 * doc_bytes, doc_bytes, bpb, doc_rougeL=np.full(40, rouge))
        r["final"]["rougeL"] = rouge
        runs.append(r)
    v = verdict(runs, SummarizeTask(768, 128, 24, 1), tmp_path)
    assert v["winner"] == "finetune" and v["margin"] == pytest.approx(0.1)
    assert v["bpb"]["margin"] == pytest.approx(bpb_gap) and v["bpb"]["ci95"] == pytest.approx([bpb_gap, bpb_gap])
    assert v["bpb"]["means"] == {"finetune": 1.0, "scratch-lstm": 1.0 + bpb_gap}
    assert v["sentence"] == (
        "Fine-tune the pretrained model: finetune scores 0.350 ROUGE-L against 0.250 for scratch-lstm under the "
        "same budget (better by 0.100, 95% CI 0.100 to 0.100). On the conditional bits per byte of the reference "
        f"summaries, finetune scores 1.000 and scratch-lstm {1 + bpb_gap:.3f} {clause}."
    )
    assert v["warnings"] == []
