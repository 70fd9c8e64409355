"""verdict.py: the interval covers a known difference, excludes zero when arms clearly
differ, includes it when they do not; crossings on known curves; lost seeds are named
and an arm that lost them all leaves no winner; summarize shows bits per byte too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roundtable.decide.stats import LN2
from roundtable.decide.verdict import Setting, crossing_fraction, crossing_with_interval, verdict
from roundtable.tasks import LMTask, SummarizeTask

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
def test_summarize_shows_bits_per_byte_beside_rouge(tmp_path, monkeypatch, bpb_gap, clause):
    # every document: finetune ROUGE-L 0.35, scratch 0.25; finetune 1 bit per byte, scratch 1 + bpb_gap.
    # Constant per document and no run-to-run floor, so every bootstrap sample is the exact difference
    _floors(monkeypatch)
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
        "same budget (better by 0.100, 95% CI 0.100 to 0.100 over 40 examples only, one seed per arm: it holds no "
        "run-to-run spread). On the conditional bits per byte of the reference "
        f"summaries, finetune scores 1.000 and scratch-lstm {1 + bpb_gap:.3f} {clause}."
    )
    assert v["warnings"] == []


# -- no claim without its interval -------------------------------------------------------------
def test_an_interval_that_includes_zero_names_a_leader_and_no_winner(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.0)
    v = verdict(runs, LMTask(), tmp_path)
    assert v["ci95"][0] <= 0 <= v["ci95"][1]
    assert v["winner"] is None and v["separated"] is False
    leader = min(v["means"], key=v["means"].get)
    assert v["leader"] == leader and v["runner_up"] != leader
    assert f"the leader, {leader}" in v["sentence"] and "no arm is named the winner" in v["sentence"]
    assert "Fine-tune the pretrained model" not in v["sentence"]  # the advice is for a separated winner only


def test_a_separated_margin_names_the_leader_the_winner(tmp_path):
    v = verdict(_synthetic(tmp_path, true_gap=0.2), LMTask(), tmp_path)
    assert v["separated"] and v["winner"] == v["leader"] == "finetune"


def test_one_arm_alone_is_no_winner(tmp_path):
    runs = [r for r in _synthetic(tmp_path, true_gap=0.2) if r["arm"] == "finetune"]
    v = verdict(runs, LMTask(), tmp_path)
    assert v["winner"] is None and v["leader"] == "finetune"


# -- the run-to-run spread one seed cannot show (spread.py) ------------------------------------
def _floors(monkeypatch, **relative_sd):
    """The shipped table replaced by known floors (family -> relative sd of bits per byte)."""
    from roundtable.decide import spread

    table = {"valid_bits_per_byte": {f: {"relative_sd": v} for f, v in relative_sd.items()}}
    monkeypatch.setattr(spread, "table", lambda: table)


def _flat(tmp_path, scores: dict[str, list[float]]):
    """Runs whose every document scores its run's bits per byte exactly: resampling the
    documents moves no score, so an interval's width is the run-to-run spread alone."""
    doc_bytes = np.full(20, 500)
    return [_write_run(tmp_path, arm, s, np.full(20, bpb * 500 * LN2), doc_bytes, bpb)
            for arm, per_seed in scores.items() for s, bpb in enumerate(per_seed)]


def test_one_seed_gets_the_measured_floor_of_its_family(tmp_path, monkeypatch):
    # sd of each score = 2% (scratch) and 1% (pretrained) of it; the margin's 95% interval is
    # 0.2 +- 1.96 sqrt((0.02 x 2.2)^2 + (0.01 x 2.0)^2) = 0.2 +- 0.0947
    _floors(monkeypatch, scratch=0.02, pretrained=0.01)
    v = verdict(_flat(tmp_path, {"finetune": [2.0], "scratch-lstm": [2.2]}), LMTask(), tmp_path)
    half = 1.96 * math.hypot(0.02 * 2.2, 0.01 * 2.0)
    lo, hi = v["ci95"]
    assert v["margin"] == pytest.approx(0.2)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.05)  # 2000 normal draws: their 2.5/97.5% points within 5%
    assert (lo + hi) / 2 == pytest.approx(0.2, abs=0.01)
    assert v["separated"] and v["winner"] == "finetune"
    assert "one seed per arm, with the calibrated floor on run-to-run spread" in v["sentence"]
    assert "sd 0.044 (the floor)" in v["interval_method"] and "sd 0.020 (the floor)" in v["interval_method"]


def test_a_margin_inside_the_floor_is_not_separated(tmp_path, monkeypatch):
    # one copy of an arm against another: 0.06 apart, inside 1.96 x sqrt(2) x 0.02 x 2.2 = 0.122
    _floors(monkeypatch, scratch=0.02)
    v = verdict(_flat(tmp_path, {"scratch-lstm": [2.20], "scratch-lstm#2": [2.26]}), LMTask(), tmp_path)
    assert not v["separated"] and v["winner"] is None and v["leader"] == "scratch-lstm"


def test_an_unmeasured_family_gets_the_largest_floor(tmp_path, monkeypatch):
    _floors(monkeypatch, scratch=0.03)
    v = verdict(_flat(tmp_path, {"finetune": [2.0], "scratch-lstm": [2.2]}), LMTask(), tmp_path)
    lo, hi = v["ci95"]
    assert (hi - lo) / 2 == pytest.approx(1.96 * math.hypot(0.03 * 2.2, 0.03 * 2.0), rel=0.05)


def test_seeds_that_spread_more_than_the_floor_set_the_interval(tmp_path, monkeypatch):
    # three seeds each with sd 0.1 (far above a 1% floor): each mean's sd is 0.1 / sqrt(3)
    _floors(monkeypatch, scratch=0.01)
    v = verdict(_flat(tmp_path, {"scratch-lstm": [1.9, 2.0, 2.1], "scratch-transformer": [2.4, 2.5, 2.6]}),
                LMTask(), tmp_path)
    lo, hi = v["ci95"]
    assert v["margin"] == pytest.approx(0.5)
    assert (hi - lo) / 2 == pytest.approx(1.96 * math.sqrt(2 * 0.1**2 / 3), rel=0.05)
    assert "(the floor)" not in v["interval_method"] and "3 seeds, sd 0.100" in v["interval_method"]


def test_one_seed_without_a_measured_floor_says_the_interval_holds_no_run_to_run_spread(tmp_path, monkeypatch):
    monkeypatch.setattr("roundtable.decide.spread.table", lambda: {"valid_bits_per_byte": {}})
    v = verdict(_synthetic(tmp_path, true_gap=0.2, seeds=1), LMTask(), tmp_path)
    assert v["seeds"] == 1 and v["documents"] == N_DOCS
    assert f"over {N_DOCS} documents only, one seed per arm: it holds no run-to-run spread" in v["sentence"]
    assert "seeds" not in v["sentence"]
    assert f"{N_DOCS} validation documents resampled" in v["interval_method"]
    assert "(scratch-lstm 1 seed, sd 0.000, finetune 1 seed, sd 0.000)" in v["interval_method"]


def test_the_shipped_floor_is_measured_for_the_scratch_family():
    from roundtable.decide import spread

    entry = spread.table()["valid_bits_per_byte"]["scratch"]
    assert 0 < entry["relative_sd"] < 0.5 and "calibration" in entry["measured"]
    assert spread.floor("scratch", "valid_bits_per_byte") == entry["relative_sd"]


# -- how many seeds the interval covers --------------------------------------------------------


def test_several_seeds_say_how_many(tmp_path):
    v = verdict(_synthetic(tmp_path, true_gap=0.2, seeds=3), LMTask(), tmp_path)
    assert v["seeds"] == 3
    assert f"over {N_DOCS} documents and 3 seeds per arm)" in v["sentence"]
    assert "no run-to-run spread" not in v["sentence"]


def test_seeds_counts_the_fewer_of_the_two_arms(tmp_path):
    runs = [r for r in _synthetic(tmp_path, true_gap=0.2, seeds=3) if not (r["arm"] == "scratch-lstm" and r["seed"])]
    v = verdict(runs, LMTask(), tmp_path)
    assert v["seeds"] == 1
    assert "each arm's seeds (finetune 3, scratch-lstm 1)" in v["sentence"]


# -- a validation set too small to bear an interval --------------------------------------------
def _tiny(tmp_path, n_docs: int, bytes_per_doc: int):
    rng = np.random.default_rng(3)
    doc_bytes = np.full(n_docs, bytes_per_doc)
    runs = []
    for arm, bpb in (("finetune", 1.0), ("scratch-lstm", 2.0)):
        nll = (bpb + rng.normal(0, 0.05, n_docs)) * LN2 * doc_bytes
        runs.append(_write_run(tmp_path, arm, 0, nll, doc_bytes, float(nll.sum() / LN2 / doc_bytes.sum())))
    return verdict(runs, LMTask(), tmp_path)


@pytest.mark.parametrize(("n_docs", "bytes_per_doc", "warned"), [
    (9, 1000, True), (10, 1000, False), (10, 399, True), (10, 400, False),
])
def test_a_small_validation_set_is_warned(tmp_path, n_docs, bytes_per_doc, warned):
    v = _tiny(tmp_path, n_docs, bytes_per_doc)
    small = [w for w in v["warnings"] if "too few to bear a 95% interval" in w]
    assert bool(small) == warned
    if warned:
        assert small[0].startswith(f"The verdict's interval rests on {n_docs} validation documents "
                                   f"({n_docs * bytes_per_doc:,} bytes scored)")
    assert v["documents"] == n_docs and f"{n_docs} validation documents resampled" in v["interval_method"]


def test_fewer_than_ten_rouge_examples_are_warned(tmp_path):
    doc_bytes = np.arange(100, 140)
    runs = []
    for arm, rouge in (("finetune", 0.35), ("scratch-lstm", 0.25)):
        r = _write_run(tmp_path, arm, 0, LN2 * doc_bytes, doc_bytes, 1.0, doc_rougeL=np.full(9, rouge))
        r["final"]["rougeL"] = rouge
        runs.append(r)
    v = verdict(runs, SummarizeTask(768, 128, 24, 1), tmp_path)
    assert any(w.startswith("The verdict's interval rests on 9 ROUGE examples") for w in v["warnings"])
    assert v["documents"] == 9


# -- against the pretrained model as it is -----------------------------------------------------
def _with_start(tmp_path, gain: float, seeds: int = 2):
    """finetune's runs also carry the step-0 scores: the model as it is, ``gain`` bits per
    byte worse than finetune after training on every document, plus noise."""
    runs = _synthetic(tmp_path, true_gap=0.3, seeds=seeds)
    rng = np.random.default_rng(11)
    for r in runs:
        if r["arm"] == "finetune":
            path = tmp_path / r["run_dir"] / "valid_scores.npz"
            z = dict(np.load(path))
            bpb_doc = z["doc_nll_nats"] / LN2 / z["doc_bytes"] + gain + rng.normal(0, 0.05, N_DOCS) * 0
            z["doc_nll_nats_start"] = bpb_doc * LN2 * z["doc_bytes"]
            np.savez(path, **z)
    return runs


def test_no_improvement_on_the_model_as_it_is_is_said_first(tmp_path):
    v = verdict(_with_start(tmp_path, gain=0.0), LMTask(), tmp_path)
    vp = v["versus_pretrained"]
    assert vp["arm"] == "finetune" and not vp["improved"]
    assert vp["ci95"][0] <= 0 <= vp["ci95"][1]
    assert v["sentence"].startswith("Fine-tuning did not improve on the model as it is: the pretrained model before "
                                    "any training scores ")
    # then the comparison of the arms, which still separates them, without advice to fine-tune
    assert v["separated"] and ". Among the trained arms: finetune scores" in v["sentence"]
    assert "Fine-tune the pretrained model" not in v["sentence"]


def test_a_clear_gain_over_the_model_as_it_is_is_not_denied(tmp_path):
    v = verdict(_with_start(tmp_path, gain=0.2), LMTask(), tmp_path)
    vp = v["versus_pretrained"]
    assert vp["improved"] and vp["margin"] > 0.15 and vp["ci95"][0] > 0
    assert "did not improve" not in v["sentence"]


def test_finetuning_that_made_the_model_worse_is_said_first(tmp_path):
    v = verdict(_with_start(tmp_path, gain=-0.1), LMTask(), tmp_path)
    assert not v["versus_pretrained"]["improved"]
    assert v["sentence"].startswith("Fine-tuning did not improve on the model as it is")
    assert v["versus_pretrained"]["margin"] == pytest.approx(-0.1, abs=0.01)
    assert "; the best trained arm, finetune, scores " in v["sentence"] and "(worse by 0.09" in v["sentence"]


def test_without_step0_scores_there_is_no_claim_against_the_model_as_it_is(tmp_path):
    v = verdict(_synthetic(tmp_path, true_gap=0.2), LMTask(), tmp_path)
    assert "versus_pretrained" not in v and "did not improve" not in v["sentence"]


# -- what the sentence may say about the budget and the model ----------------------------------
def test_a_step_limit_says_what_each_arm_read_not_the_same_budget(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.2)
    for r in runs:
        r["train_bytes"] = 400_000 if r["arm"] == "finetune" else 50_000
    v = verdict(runs, LMTask(), tmp_path, Setting(max_steps=50))
    assert "same budget" not in v["sentence"]
    assert "after at most 50 optimizer steps each" in v["sentence"]
    assert "A step holds each arm's own amount of text: finetune read 400 kB of training text, scratch-lstm read " \
           "50 kB." in v["sentence"]


def test_the_pretrained_model_tested_is_named_and_the_demo_text_flagged(tmp_path):
    runs = _synthetic(tmp_path, true_gap=0.2)
    for r in runs:
        r["params"], r["trainable_params"] = 134_516_736, 134_516_736
    desc = "SmolLM2-135M-Instruct (HuggingFaceTB), the 4-bit Q4_1 GGUF file, dequantized to float32"
    info = {"spec": "smollm2-135m", "description": desc}
    v = verdict(runs, LMTask(), tmp_path, Setting(model=info, demo=True))
    assert v["sentence"].endswith(f" The pretrained model tested: {desc}, 134.5M parameters.")
    assert v["pretrained_model"] == {"name": desc, "params": 134_516_736}
    assert any("may have seen it in pretraining" in w for w in v["warnings"])
    plain = verdict(runs, LMTask(), tmp_path, Setting(model=info))
    assert not any("pretraining" in w for w in plain["warnings"])


# -- the data-fraction crossing carries its interval -------------------------------------------
def _sweep_scored(tmp_path, gaps: dict[float, float], noise: float):
    """Documents of equal size and varied difficulty; at each fraction finetune is the
    scratch-lstm score + gap (> 0: finetune worse) + noise, alternately, on each document,
    so the mean gap is exactly ``gap`` and its spread over documents ``noise``."""
    rng = np.random.default_rng(5)
    doc_bytes = np.full(N_DOCS, 1000)
    base = rng.normal(1.0, 0.3, N_DOCS)
    alternate = np.where(np.arange(N_DOCS) % 2 == 0, noise, -noise)
    runs = []
    for f, gap in gaps.items():
        for arm, g in (("scratch-lstm", 0.0), ("finetune", gap)):
            bpb_doc = base + (g + alternate if g else 0.0)
            nll = bpb_doc * LN2 * doc_bytes
            runs.append(_write_run(tmp_path, arm, 0, nll, doc_bytes, float(nll.sum() / LN2 / doc_bytes.sum()),
                                   fraction=f))
    return runs


def test_a_clear_crossing_is_stated_with_its_interval(tmp_path):
    runs = _sweep_scored(tmp_path, {0.1: 0.4, 1.0: -0.4}, noise=0.05)
    point, ci = crossing_with_interval(runs, "finetune", "scratch-lstm", "valid_bits_per_byte", True, tmp_path,
                                       "doc_nll_nats")
    assert point == pytest.approx(math.sqrt(0.1))  # -0.4 to +0.4: halfway in log fraction
    assert 0.1 < ci[0] < point < ci[1] < 1.0
    v = verdict(runs, LMTask(), tmp_path)
    assert v["crossing_fraction"] == point and v["crossing_ci95"] == ci
    assert f"(95% CI {ci[0]:.0%} to {ci[1]:.0%}) scratch-lstm is ahead" in v["sentence"]


def test_a_crossing_the_data_cannot_place_is_not_stated(tmp_path):
    # the means cross, but at fraction 0.1 finetune is behind by 0.002, a tenth of its standard
    # error (0.5 / sqrt(400) = 0.025): about half the replicates have no crossing at all
    runs = _sweep_scored(tmp_path, {0.1: 0.002, 1.0: -0.4}, noise=0.5)
    assert crossing_fraction(runs, "finetune", "scratch-lstm", "valid_bits_per_byte", True) is not None
    v = verdict(runs, LMTask(), tmp_path)
    assert v["crossing_fraction"] is None and v["crossing_ci95"] is None
    assert "order flips" not in v["sentence"]


# -- pieces of one document are one unit of the bootstrap -------------------------------------
def _pieces(tmp_path, grouped: bool, docs: int = 20, pieces: int = 4):
    """Each document scored in ``pieces`` equal pieces that share its difficulty and the
    arms' gap on it (the gap varies across documents, not within one)."""
    rng = np.random.default_rng(5)
    gap = np.repeat(0.2 + rng.normal(0, 0.3, docs), pieces)
    base = np.repeat(rng.normal(1.5, 0.3, docs), pieces)
    unit_bytes = np.full(docs * pieces, 1000)
    extra = {"doc_group": np.repeat(np.arange(docs), pieces)} if grouped else {}
    runs = []
    for arm, g in (("finetune", 0.0), ("scratch-lstm", 1.0)):
        nll = (base + g * gap) * LN2 * unit_bytes
        for seed in (0, 1):  # two seeds alike: the intervals are the documents' alone
            runs.append(_write_run(tmp_path, arm, seed, nll, unit_bytes, float(nll.sum() / LN2 / unit_bytes.sum()),
                                   **extra))
    return runs


def test_the_bootstrap_resamples_documents_not_their_pieces(tmp_path, monkeypatch):
    from roundtable.forecast.ladder import _scores

    # the documents' part of the interval alone: no run-to-run floor (spread.py) added beside it
    monkeypatch.setattr("roundtable.decide.verdict.floor", lambda family, metric: None)
    (tmp_path / "g").mkdir()
    (tmp_path / "u").mkdir()
    grouped_runs = _pieces(tmp_path / "g", True)
    grouped = verdict(grouped_runs, LMTask(), tmp_path / "g")
    units = verdict(_pieces(tmp_path / "u", False), LMTask(), tmp_path / "u")  # a file without doc_group
    assert grouped["documents"] == 20 and "20 validation documents resampled (80,000 bytes" in grouped[
        "interval_method"]
    assert units["documents"] == 80 and "80 validation documents resampled" in units["interval_method"]
    assert grouped["margin"] == pytest.approx(units["margin"])  # the same sums, resampled otherwise
    width = {k: v["ci95"][1] - v["ci95"][0] for k, v in (("grouped", grouped), ("units", units))}
    # four correlated pieces a document: resampled as independent, the interval is about half as wide
    assert 1.5 < width["grouped"] / width["units"] < 2.7
    # the forecast's ladder reads the same per-document scores
    got = _scores(grouped_runs[:1], tmp_path / "g", "doc_nll_nats")
    assert got["doc_nll"].shape == (1, 20) and got["doc_bytes"].tolist() == [4000] * 20
