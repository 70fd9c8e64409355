"""The calibration bench's pure parts (bench/calibration.py): the exact binomial interval,
the figure rows, the spread, the copies' seeds, and that a subset of a comparison's
seeds is judged by the package's own verdict. The comparisons themselves run in
``python -m bench --only calibration``."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from bench.calibration import (
    ARM,
    ARMS_PER_COMPARISON,
    FULL,
    Judged,
    aa_rows,
    ab_rows,
    clopper_pearson,
    copy_name,
    coverage_rows,
    draw_pool,
    one_seed_margin_row,
    pooled_sd,
    signed,
    spread_row,
    verdict_on,
)


def test_clopper_pearson_at_its_closed_forms():
    # 0 of n: the upper end solves (1 - p)^n = 0.025; n of n mirrors it
    assert clopper_pearson(0, 40) == (0.0, pytest.approx(1 - 0.025 ** (1 / 40), abs=1e-9))
    assert clopper_pearson(0, 40)[1] == pytest.approx(0.0880, abs=1e-4)
    assert clopper_pearson(40, 40) == (pytest.approx(0.025 ** (1 / 40), abs=1e-9), 1.0)
    # 1 of 10: the lower end solves 1 - (1 - p)^10 = 0.025
    assert clopper_pearson(1, 10)[0] == pytest.approx(1 - 0.975 ** (1 / 10), abs=1e-9)


@pytest.mark.parametrize("k,n", [(1, 10), (2, 40), (5, 40), (20, 40), (39, 40), (3, 12)])
def test_clopper_pearson_is_the_beta_quantiles(k, n):
    """Against the textbook form of the same interval: quantiles of Beta(k, n-k+1) and Beta(k+1, n-k)."""
    from scipy.stats import beta

    lo, hi = clopper_pearson(k, n)
    assert lo == pytest.approx(beta.ppf(0.025, k, n - k + 1), abs=1e-9)
    assert hi == pytest.approx(beta.ppf(0.975, k + 1, n - k), abs=1e-9)


def test_clopper_pearson_refuses_impossible_counts():
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)
    with pytest.raises(ValueError):
        clopper_pearson(0, 0)


def test_signed_turns_the_verdict_into_the_first_arms_margin():
    v = {"leader": "a", "margin": 0.3, "ci95": [0.1, 0.5]}
    assert signed(v, "a") == (0.3, (0.1, 0.5))
    assert signed(v, "b") == (-0.3, (-0.5, -0.1))


def _case(dataset="prose", split=0, seeds=1, separated=False, winner=None, margin=0.0, ci=(-0.1, 0.1)):
    return Judged(dataset, split, seeds, separated, winner, margin, ci)


def test_aa_rows_count_separations_per_seed_count():
    cases = [_case(split=i, separated=i < 2, dataset="prose" if i % 2 else "source", margin=0.2 if i < 2 else 0.0,
                   ci=(0.1, 0.3) if i < 2 else (-0.1, 0.1)) for i in range(40)]
    cases += [_case(split=i, seeds=3) for i in range(40)]
    one, three = aa_rows(cases)
    assert one["name"] == "aa_separated[seeds=1]" and three["name"] == "aa_separated[seeds=3]"
    assert (one["value"], one["count"], one["of"], one["goal"]) == (0.05, 2, 40, "<= 0.05")
    assert one["upper95"] == round(clopper_pearson(2, 40)[1], 4)
    assert one["by_dataset"] == {"source": [1, 20], "prose": [1, 20]}  # splits 0 and 1 alternate datasets
    assert one["mean_abs_margin"] == pytest.approx(0.4 / 40) and one["mean_ci_width"] == pytest.approx(0.2)
    assert (three["value"], three["upper95"]) == (0.0, round(1 - 0.025 ** (1 / 40), 4))


def test_ab_rows_name_right_and_wrong_winners_and_hold_the_goal_at_the_default_seeds():
    winners = ["first"] * 7 + [None] * 2 + ["second"]
    cases = [_case(split=i, seeds=s, winner=w, margin=0.5) for s in (1, 3) for i, w in enumerate(winners)]
    right1, wrong1, right3, wrong3 = ab_rows(cases, default_seeds=1)
    assert (right1["name"], right1["value"], right1["goal"], right1["default_seeds"]) == \
           ("ab_right_winner[seeds=1]", 0.7, ">= 0.80", True)
    assert "goal" not in right3 and right3["default_seeds"] is False
    assert (wrong1["value"], wrong1["count"], wrong1["goal"]) == (0.1, 1, "== 0")
    assert wrong3["name"] == "ab_wrong_winner[seeds=3]"
    # the small planted difference reports its power with no goal; never naming the wrong arm stays one
    right1, wrong1 = ab_rows([c for c in cases if c.seeds == 1], default_seeds=1, prefix="ab_clear", goal=False)
    assert right1["name"] == "ab_clear_right_winner[seeds=1]" and "goal" not in right1 and wrong1["goal"] == "== 0"


def test_coverage_rows_check_each_interval_against_its_splits_truth():
    truth = {0: 0.5, 1: 0.5, 2: 0.2}
    cases = [_case(split=0, ci=(0.4, 0.6)), _case(split=1, ci=(0.51, 0.7)), _case(split=2, ci=(0.1, 0.2)),
             _case(split=7, ci=(-9.0, 9.0))]  # no truth measured on split 7: not counted
    (row,) = coverage_rows(cases, truth)
    assert (row["name"], row["count"], row["of"], row["goal"]) == ("ab_coverage95[seeds=1]", 2, 3, ">= 0.90")


def test_pooled_sd_leaves_out_the_differences_between_groups():
    # deviations 1, 1 about 2 and 2, 0, 2 about 12: 10 over 3 degrees of freedom
    assert pooled_sd([[1.0, 3.0], [10.0, 12.0, 14.0], [99.0]]) == (pytest.approx(math.sqrt(10 / 3)), 3)
    # deviations 1, 1 and 0, 0 about 4: sd 1 over 2 degrees of freedom, 0.25 of the mean score
    row = spread_row("seed_sd[x]", [("prose", [3.0, 5.0]), ("source", [4.0, 4.0])])
    assert row["value"] == pytest.approx(1.0) and row["relative"] == pytest.approx(0.25)
    assert (row["mean_bits_per_byte"], row["df"], row["comparisons"]) == (4.0, 2, 2)
    assert row["by_dataset"] == {"prose": [round(math.sqrt(2), 4), round(math.sqrt(2) / 4, 5)], "source": [0.0, 0.0]}


def test_one_seed_margin_rms_is_about_zero_the_a_a_truth():
    cases = [_case(margin=0.3, ci=(0.2, 0.4)), _case(margin=-0.4, ci=(-0.6, -0.2)), _case(seeds=2, margin=5.0)]
    row = one_seed_margin_row(cases)
    assert row["value"] == round(math.sqrt((0.09 + 0.16) / 2), 4) and row["of"] == 2  # figures carry 4 decimals
    assert row["mean_ci_half_width"] == pytest.approx(0.15)


def test_pools_are_seeded_and_hold_the_bytes_asked():
    texts = [f"document {i} " * (1 + i % 7) for i in range(500)]
    a, b = draw_pool(texts, 1, 2000), draw_pool(texts, 2, 2000)
    assert a == draw_pool(texts, 1, 2000) and a != b
    assert sum(len(t.encode()) for t in a) >= 2000 > sum(len(t.encode()) for t in a[:-1])
    assert len(set(a)) == len(a)


def test_every_copy_the_full_bench_runs_has_its_own_valid_seeds():
    """Copies 1..4C (A/A and the two A/B) and the truth's after them: no two runs share a seed, and
    every seed fits numpy's 32-bit seeding (transformers' set_seed)."""
    from roundtable.arms import parse_arms, run_seed

    copies = [copy_name(k) for k in range(1, ARMS_PER_COMPARISON * FULL.comparisons + 2 * FULL.truth_splits + 1)]
    assert copies[:2] == [ARM, f"{ARM}#2"]
    assert [a.name for a in parse_arms(",".join(copies[-3:]))] == copies[-3:]
    seeds = [run_seed(c, s) for c in copies for s in range(max(3, FULL.truth_seeds))]
    assert len(set(seeds)) == len(seeds) and max(seeds) < 2**32


def test_a_subset_of_seeds_is_judged_by_the_packages_verdict(tmp_path):
    """Two arms, three seeds each, 12 documents of 100 bytes: a scores 4 bits per byte at
    every seed, b 4 at seed 0 and 6 at seeds 1 and 2, so the first k seeds give margins
    0, 1 and 4/3 exactly."""
    from roundtable.results import SCORES
    from roundtable.tasks import task_class

    doc_bytes = np.full(12, 100)
    runs = []
    for arm, bpbs in (("a", [4.0, 4.0, 4.0]), ("b", [4.0, 6.0, 6.0])):
        for seed, bpb in enumerate(bpbs):
            run_dir = f"runs/{arm}-{seed}"
            (tmp_path / run_dir).mkdir(parents=True)
            np.savez(tmp_path / run_dir / SCORES, doc_nll_nats=doc_bytes * bpb * math.log(2), doc_bytes=doc_bytes)
            runs.append({"arm": arm, "seed": seed, "fraction": 1.0, "status": "ok", "run_dir": run_dir,
                         "final": {"valid_bits_per_byte": bpb}})
    comp = SimpleNamespace(task=task_class("lm")(), out=tmp_path, cfg=SimpleNamespace(budget=SimpleNamespace(max_steps=50)))
    for k, margin in ((1, 0.0), (2, 1.0), (3, 4 / 3)):
        v = verdict_on(comp, runs, ("a", "b"), k)
        assert v["seeds"] == k and v["margin"] == pytest.approx(margin)
        assert signed(v, "a")[0] == pytest.approx(margin)
    assert verdict_on(comp, runs, ("a", "b"), 1)["separated"] is False  # identical scores: nothing to separate
