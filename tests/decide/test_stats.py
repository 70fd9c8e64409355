"""stats.py: the paired bootstrap behind the verdict, on cases whose answer is exact."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from roundtable.decide.stats import LN2, bpb_difference_samples, interval, mean_difference_samples

rng = np.random.default_rng(0)
DOC_BYTES = rng.integers(50, 500, size=40)
NLL_B = DOC_BYTES * LN2 * rng.uniform(1.0, 3.0, size=40)  # 1..3 bits per byte per document


def test_identical_arms_differ_by_zero():
    s = bpb_difference_samples(NLL_B, NLL_B.copy(), DOC_BYTES, n_boot=500)
    assert s.shape == (500,)
    np.testing.assert_allclose(s, 0.0, atol=1e-12)


def test_a_constant_bits_per_byte_gap_is_recovered_by_every_sample():
    # A pays exactly 0.25 bits more on every byte: any resample of documents shows 0.25
    nll_a = NLL_B + 0.25 * LN2 * DOC_BYTES
    s = bpb_difference_samples(nll_a, NLL_B, DOC_BYTES, n_boot=500)
    np.testing.assert_allclose(s, 0.25, rtol=1e-12)
    assert interval(s) == pytest.approx((0.25, 0.25))


def test_one_document_gives_its_own_difference():
    s = bpb_difference_samples(np.array([30.0]), np.array([10.0]), np.array([40]), n_boot=50)
    np.testing.assert_allclose(s, 20.0 / (LN2 * 40))


def test_seeds_are_drawn_with_replacement_and_averaged_per_replicate():
    # two seeds of A, 0.1 and 0.3 bits per byte worse than B; a replicate draws two seeds and
    # averages them: 0.1 (both the first), 0.3 (both the second) or 0.2 (one each, probability 1/2)
    nll_a = np.stack([NLL_B + 0.1 * LN2 * DOC_BYTES, NLL_B + 0.3 * LN2 * DOC_BYTES])
    s = bpb_difference_samples(nll_a, NLL_B[None], DOC_BYTES, n_boot=2000, seed=1)
    assert set(np.round(s, 9)) == {0.1, 0.2, 0.3}
    assert np.mean(np.isclose(s, 0.2)) == pytest.approx(0.5, abs=0.05)  # binomial sd 0.011


def test_one_seed_per_arm_is_the_textbook_paired_bootstrap():
    nll_a = NLL_B * rng.uniform(0.8, 1.3, size=40)
    s = bpb_difference_samples(nll_a, NLL_B, DOC_BYTES, n_boot=300, seed=4)
    idx = np.random.default_rng(4).integers(0, 40, size=(300, 40))  # the same documents for both arms
    expected = [(nll_a[i].sum() - NLL_B[i].sum()) / (LN2 * DOC_BYTES[i].sum()) for i in idx]
    np.testing.assert_allclose(s, expected, rtol=1e-12)
    m = mean_difference_samples(nll_a, NLL_B, n_boot=300, seed=4)
    np.testing.assert_allclose(m, [(nll_a[i] - NLL_B[i]).mean() for i in idx], rtol=1e-12)


def test_chunks_do_not_change_the_samples(monkeypatch):
    from roundtable.decide import stats

    nll_a = np.stack([NLL_B * 1.2, NLL_B * 0.9, NLL_B * 1.05])
    whole = bpb_difference_samples(nll_a, NLL_B, DOC_BYTES, n_boot=300)
    monkeypatch.setattr(stats, "CHUNK_CELLS", 7 * 40)  # chunks of 7 replicates, the last one short
    chunked = bpb_difference_samples(nll_a, NLL_B, DOC_BYTES, n_boot=300)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-14)  # the same draws; only summation order differs


def test_interval_of_shifted_seeds_is_centred_on_the_margin_of_means():
    # seeds that differ only by a constant bits per byte: every document draw gives the same
    # difference, so a sample is mean(3 draws of A's shifts) - mean(3 draws of B's shifts).
    # margin 0.3 - 0 = 0.3; sd sqrt(var(A)/3 + var(B)/3) = 0.1054; symmetric, so the exact
    # 95% interval is [0.1, 0.5] (a single seed per replicate would give [0.0, 0.6])
    shift_a, shift_b = [0.1, 0.3, 0.5], [-0.1, 0.0, 0.1]
    nll_a = np.stack([NLL_B + d * LN2 * DOC_BYTES for d in shift_a])
    nll_b = np.stack([NLL_B + d * LN2 * DOC_BYTES for d in shift_b])
    s = bpb_difference_samples(nll_a, nll_b, DOC_BYTES, n_boot=4000, seed=2)
    assert s.mean() == pytest.approx(0.3, abs=0.01)  # standard error 0.0017
    assert s.std() == pytest.approx(0.10541, rel=0.05)
    assert interval(s) == pytest.approx((0.1, 0.5), abs=1e-9)


def test_fifty_thousand_documents_need_bounded_memory():
    big = np.random.default_rng(0)
    doc_bytes = big.integers(50, 5000, size=50_000)
    nll_a = doc_bytes * LN2 * big.uniform(0.5, 2.0, size=(3, 50_000))
    nll_b = doc_bytes * LN2 * big.uniform(0.5, 2.0, size=(3, 50_000))
    tracemalloc.start()
    try:
        s = bpb_difference_samples(nll_a, nll_b, doc_bytes, n_boot=2000)
        m = mean_difference_samples(nll_a, nll_b, n_boot=2000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert s.shape == m.shape == (2000,)
    assert peak < 300e6  # one (2000, 50000) int64 array alone is 800 MB


def test_bootstrap_is_deterministic_for_a_seed():
    nll_a = NLL_B * 1.1
    a = bpb_difference_samples(nll_a, NLL_B, DOC_BYTES, n_boot=200, seed=3)
    b = bpb_difference_samples(nll_a, NLL_B, DOC_BYTES, n_boot=200, seed=3)
    np.testing.assert_array_equal(a, b)
    # A is 10% worse on every document, so every resample is positive, bounded by 10% of 1..3 bits
    assert (a > 0.1).all() and (a < 0.3).all()


def test_mean_difference_samples():
    b = rng.uniform(0.2, 0.6, size=30)
    s = mean_difference_samples(b + 0.05, b, n_boot=300)
    np.testing.assert_allclose(s, 0.05, rtol=1e-9)


def test_interval_percentiles():
    assert interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert interval(np.arange(101.0), level=0.5) == pytest.approx((25.0, 75.0))


def test_score_samples_share_one_document_draw_with_the_difference_samples():
    # one seed each: a column difference is exactly the paired bootstrap's sample of the margin
    from roundtable.decide.stats import score_samples

    nll_a = NLL_B * rng.uniform(0.8, 1.3, size=40)
    cols = score_samples([nll_a, NLL_B], DOC_BYTES, n_boot=300, seed=4)
    np.testing.assert_allclose(cols[:, 0] - cols[:, 1], bpb_difference_samples(nll_a, NLL_B, DOC_BYTES, 300, 4),
                               rtol=1e-12, atol=1e-14)
    idx = np.random.default_rng(4).integers(0, 40, size=(300, 40))
    np.testing.assert_allclose(cols[:, 1], [NLL_B[i].sum() / (LN2 * DOC_BYTES[i].sum()) for i in idx], rtol=1e-12)
    means = score_samples([nll_a, NLL_B], None, n_boot=300, seed=4)
    np.testing.assert_allclose(means[:, 0] - means[:, 1], mean_difference_samples(nll_a, NLL_B, 300, 4), rtol=1e-12)
