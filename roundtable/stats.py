"""Verdict statistics: a paired bootstrap over validation documents, with seeds.

Each replicate draws documents with replacement (the same draw for both arms: that
is the pairing) and, independently per arm, one of its seeds; the difference of the
two arms' scores on that draw is one sample. The 2.5/97.5 percentiles of the samples
are the 95% interval, which so carries both the data noise and the seed spread.
"""

from __future__ import annotations

import numpy as np

LN2 = float(np.log(2.0))


def bpb_difference_samples(
    nll_a: np.ndarray, nll_b: np.ndarray, doc_bytes: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """Bootstrap samples of bpb(A) - bpb(B).

    ``nll_a``/``nll_b``: (seeds, docs) per-document NLL in nats; ``doc_bytes``: (docs,).
    """
    nll_a, nll_b = np.atleast_2d(nll_a), np.atleast_2d(nll_b)
    rng = np.random.default_rng(seed)
    n_docs = doc_bytes.shape[0]
    idx = rng.integers(0, n_docs, size=(n_boot, n_docs))
    counts = np.apply_along_axis(np.bincount, 1, idx, minlength=n_docs)  # (n_boot, docs)
    bytes_ = counts @ doc_bytes
    sa = rng.integers(0, nll_a.shape[0], size=n_boot)
    sb = rng.integers(0, nll_b.shape[0], size=n_boot)
    tot_a = np.einsum("bd,bd->b", counts, nll_a[sa])
    tot_b = np.einsum("bd,bd->b", counts, nll_b[sb])
    return (tot_a - tot_b) / (LN2 * bytes_)


def mean_difference_samples(
    per_doc_a: np.ndarray, per_doc_b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """Bootstrap samples of mean(A) - mean(B) for a per-document score (ROUGE-L)."""
    per_doc_a, per_doc_b = np.atleast_2d(per_doc_a), np.atleast_2d(per_doc_b)
    rng = np.random.default_rng(seed)
    n_docs = per_doc_a.shape[1]
    idx = rng.integers(0, n_docs, size=(n_boot, n_docs))
    sa = rng.integers(0, per_doc_a.shape[0], size=n_boot)
    sb = rng.integers(0, per_doc_b.shape[0], size=n_boot)
    a = np.take_along_axis(per_doc_a[sa], idx, axis=1).mean(1)
    b = np.take_along_axis(per_doc_b[sb], idx, axis=1).mean(1)
    return a - b


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)
