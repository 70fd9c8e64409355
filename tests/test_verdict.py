"""verdict.py: the interval covers a known difference, excludes zero when arms clearly
differ, includes it when they do not; crossings and catch-up times on known curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roundtable.verdict import crossing_fraction, time_to_match, verdict

N_DOCS = 400


def _write_run(out, arm, seed, nll, doc_bytes, final_bpb, fraction=1.0, curve=None):
    run_dir = f"runs/{arm}-seed{seed}-frac{fraction:g}"
    (out / run_dir).mkdir(parents=True)
    np.savez(out / run_dir / "valid_scores.npz", doc_nll_nats=nll, doc_bytes=doc_bytes)
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
    v = verdict(runs, "lm", tmp_path)
    assert v["winner"] == "finetune" and v["runner_up"] == "scratch-lstm"
    lo, hi = v["ci95"]
    assert lo < 0.2 < hi  # covers the true gap
    assert lo > 0 and v["separated"]  # and excludes zero
    assert v["margin"] == pytest.approx(0.2, abs=0.02)
    assert "Fine-tune" in v["sentence"]


def test_interval_includes_zero_when_the_arms_do_not_differ(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.0)
    v = verdict(runs, "lm", tmp_path)
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


def test_time_to_match_on_a_log_linear_curve():
    # bpb = 3 - 0.5 ln(t): reaching 1.0 needs ln(t) = 4
    curve = [{"seconds": t, "subset_bits_per_byte": 3 - 0.5 * math.log(t)} for t in (10.0, 20.0, 40.0, 80.0)]
    runs = [{"curve": [{"seconds": 0, "subset_bits_per_byte": 8.0}, *curve]}]
    assert time_to_match(runs, 1.0, "lm", lower=True) == pytest.approx(math.exp(4), rel=1e-6)
    flat = [{"curve": [{"seconds": t, "subset_bits_per_byte": 2.0} for t in (10.0, 20.0, 40.0)]}]
    assert time_to_match(flat, 1.0, "lm", lower=True) is None  # a flat curve does not say
