"""stats.py: the paired bootstrap behind the verdict, on cases whose answer is exact."""

from __future__ import annotations

import numpy as np
import pytest

from roundtable.stats import LN2, bpb_difference_samples, interval, mean_difference_samples

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


def test_seeds_are_drawn_per_replicate():
    # two seeds of A, one 0.1 and one 0.3 bits per byte worse than B: samples are 0.1 or 0.3, both drawn
    nll_a = np.stack([NLL_B + 0.1 * LN2 * DOC_BYTES, NLL_B + 0.3 * LN2 * DOC_BYTES])
    s = bpb_difference_samples(nll_a, NLL_B[None], DOC_BYTES, n_boot=400, seed=1)
    assert set(np.round(s, 9)) == {0.1, 0.3}


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
