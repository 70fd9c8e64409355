"""deployment.py: under a limit, the verdict is the main verdict on the arms within it; the
arms left out are named with their reason; an unmeasured cost leaves an arm out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roundtable.decide.deployment import Limit, arm_costs, deployment_verdict, why_out
from roundtable.decide.verdict import verdict
from roundtable.tasks import LMTask

N_DOCS = 400
ARMS = {  # arm: (true bits per byte, parameters, generated tokens per second)
    "finetune": (1.0, 135_000_000, 18.0),
    "scratch-transformer": (1.2, 800_000, 900.0),
    "scratch-lstm": (1.25, 330_000, 1470.0),
}


def _runs(tmp_path, arms=ARMS, seeds: int = 2):
    """Per-document scores with a shared difficulty (pairing), each arm at its true level."""
    rng = np.random.default_rng(3)
    doc_bytes = rng.integers(200, 2000, size=N_DOCS)
    base = rng.normal(0.0, 0.3, size=N_DOCS)
    runs = []
    for arm, (level, params, speed) in arms.items():
        for s in range(seeds):
            nll = (base + level + rng.normal(0, 0.05, size=N_DOCS)) * doc_bytes * math.log(2)
            run_dir = f"runs/{arm}-seed{s}"
            (tmp_path / run_dir).mkdir(parents=True)
            np.savez(tmp_path / run_dir / "valid_scores.npz", doc_nll_nats=nll, doc_bytes=doc_bytes)
            bpb = float(nll.sum() / math.log(2) / doc_bytes.sum())
            runs.append({"arm": arm, "seed": s, "fraction": 1.0, "status": "ok", "run_dir": run_dir, "params": params,
                         "generation": {"tokens_per_second": speed * (1 + 0.01 * s), "bytes_per_second": speed},
                         "final": {"valid_bits_per_byte": bpb}})
    return runs


def test_an_arm_over_the_size_limit_is_left_out_and_named_and_the_best_within_it_wins(tmp_path):
    runs = _runs(tmp_path)
    d = deployment_verdict(runs, LMTask(), tmp_path, Limit(max_params=1_000_000))
    assert d["eligible"] == ["scratch-transformer", "scratch-lstm"]
    assert d["excluded"] == {"finetune": "135,000,000 parameters > 1,000,000"}
    assert "The limit left out finetune (135,000,000 parameters > 1,000,000)." in d["sentence"]
    assert d["sentence"].startswith("Within the deployment limit (at most 1,000,000 parameters):")
    # the same rule as the main verdict, on the same runs of the two arms: the same leader, margin and interval
    same = verdict([r for r in runs if r["arm"] != "finetune"], LMTask(), tmp_path)
    assert (d["leader"], d["winner"], d["margin"], d["ci95"]) == (same["leader"], same["winner"], same["margin"],
                                                                  same["ci95"])
    assert d["leader"] == "scratch-transformer" and d["margin"] == pytest.approx(0.05, abs=0.01)
    assert d["separated"] == (d["ci95"][0] > 0) and d["winner"] == ("scratch-transformer" if d["separated"] else None)


def test_the_speed_limit_reads_the_measured_generation_speed(tmp_path):
    runs = _runs(tmp_path)
    d = deployment_verdict(runs, LMTask(), tmp_path, Limit(min_gen_tokens_per_s=1000))
    assert d["eligible"] == ["scratch-lstm"] and set(d["excluded"]) == {"finetune", "scratch-transformer"}
    assert d["excluded"]["scratch-transformer"] == "904.5 tokens/s < 1000"  # the mean of its two seeds
    assert d["leader"] == "scratch-lstm" and d["winner"] is None  # alone: nothing to separate it from
    assert "only scratch-lstm fits" in d["sentence"]


def test_arms_the_interval_cannot_separate_are_not_named_a_winner_under_a_limit(tmp_path):
    arms = {"finetune": (1.0, 1e8, 18.0), "scratch-transformer": (1.2, 8e5, 900.0), "scratch-lstm": (1.2, 3e5, 1470.0)}
    d = deployment_verdict(_runs(tmp_path, arms), LMTask(), tmp_path, Limit(max_params=1_000_000))
    lo, hi = d["ci95"]
    assert lo <= 0 <= hi and d["separated"] is False and d["winner"] is None
    assert "cannot separate" in d["sentence"]


def test_no_arm_within_the_limit_and_unmeasured_costs(tmp_path):
    runs = _runs(tmp_path)
    d = deployment_verdict(runs, LMTask(), tmp_path, Limit(max_params=10))
    assert d["eligible"] == [] and d["leader"] is None and "no arm fits" in d["sentence"]
    unmeasured = [{**r, "generation": None} if r["arm"] == "scratch-lstm" else r for r in runs]
    assert arm_costs(unmeasured)["scratch-lstm"]["gen_tokens_per_s"] is None
    assert why_out(arm_costs(unmeasured)["scratch-lstm"], Limit(min_gen_tokens_per_s=1)) == \
        "generation speed not measured"


def test_a_comparison_records_the_deployment_verdict(lm_files, tmp_path):
    import roundtable
    from tests.helpers import TINY_ARMS

    train, valid = lm_files
    results = roundtable.compare(
        task="lm", data=train, valid=valid, arms=["scratch-lstm", "scratch-transformer"], max_steps=3, lr_search=0,
        curve_points=0, context_bytes=32, out=tmp_path / "dep", log=None, no_progress=True, max_params=10_000,
        arm_settings={"scratch-lstm": TINY_ARMS["scratch-lstm"], "scratch-transformer": TINY_ARMS["scratch-transformer"]},
    )
    d = results.verdict.deployment
    params = {r.arm: r.params for r in results.runs}
    assert d is not None and d.limit["max_params"] == 10_000
    assert set(d.eligible) == {a for a, p in params.items() if p <= 10_000}
    assert set(d.excluded) == {a for a, p in params.items() if p > 10_000}
    assert d.eligible and d.excluded  # the tiny LSTM is over the limit, the tiny transformer within it
    from roundtable.report import render

    render(tmp_path / "dep")
    page = (tmp_path / "dep" / "report.md").read_text()
    assert "Under the deployment limit" in page and d.sentence.split(" The limit")[0] in page
    assert (tmp_path / "dep" / "plots" / "frontier.png").exists()
