"""Verdict statistics: a paired bootstrap over validation documents and seeds.

Each replicate draws documents with replacement (the same draw for both arms: that is
the pairing) and, independently per arm, as many seeds as the arm has, with
replacement; the arm's score on the replicate comes from its per-document values
averaged over the drawn seeds. A sample is so the same quantity as the margin it is
printed with (a difference of seed means), and the 2.5/97.5 percentiles of the samples,
the 95% interval, carry both the data noise and the seed spread. Replicates are drawn
in chunks, so tens of thousands of documents need tens of MB, not GB.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

LN2 = float(np.log(2.0))
CHUNK_CELLS = 1 << 21  # replicate x document counts per chunk: 16 MB per array


def doc_counts(rng: np.random.Generator, n_docs: int, n_boot: int) -> Iterator[np.ndarray]:
    """(chunk, n_docs) float counts of each document in each replicate: the one document
    bootstrap (the verdict's and the forecast's). The stream of draws is the one a single
    (n_boot, n_docs) ``rng.integers`` call makes, so the chunk size changes no number."""
    chunk = max(1, CHUNK_CELLS // n_docs)
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, n_docs, size=(k, n_docs))
        idx += (np.arange(k) * n_docs)[:, None]  # one bincount for the whole chunk
        yield np.bincount(idx.ravel(), minlength=k * n_docs).reshape(k, n_docs).astype(np.float64)


def resampled_totals(per_doc: Sequence[np.ndarray], n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """(n_boot, len(per_doc)) sums over each replicate's documents of each array's
    per-document values, averaged over its seeds drawn with replacement.

    Each array is (seeds, docs) (or (docs,) for one seed); all share the document draw.
    """
    arrays = [np.atleast_2d(np.asarray(a, np.float64)) for a in per_doc]
    n_docs = arrays[0].shape[1]
    doc_rng, seed_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    weights = [seed_rng.multinomial(len(a), np.full(len(a), 1 / len(a)), size=n_boot) / len(a) for a in arrays]
    out = np.empty((n_boot, len(arrays)))
    start = 0
    for counts in doc_counts(doc_rng, n_docs, n_boot):
        rows = slice(start, start + len(counts))
        for j, (a, w) in enumerate(zip(arrays, weights)):
            out[rows, j] = np.einsum("bs,bs->b", counts @ a.T, w[rows])  # (chunk, seeds) -> (chunk,)
        start += len(counts)
    return out


def bpb_difference_samples(
    nll_a: np.ndarray, nll_b: np.ndarray, doc_bytes: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """Bootstrap samples of bpb(A) - bpb(B), each bpb the ratio of totals of the
    seed-averaged NLL to the resampled bytes.

    ``nll_a``/``nll_b``: (seeds, docs) per-document NLL in nats; ``doc_bytes``: (docs,).
    """
    t = resampled_totals([nll_a, nll_b, np.asarray(doc_bytes)[None]], n_boot, seed)
    return (t[:, 0] - t[:, 1]) / (LN2 * t[:, 2])


def mean_difference_samples(
    per_doc_a: np.ndarray, per_doc_b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """Bootstrap samples of mean(A) - mean(B) for a per-document score (ROUGE-L), each
    mean over the resampled documents of the seed-averaged scores."""
    t = resampled_totals([per_doc_a, per_doc_b], n_boot, seed)
    return (t[:, 0] - t[:, 1]) / np.atleast_2d(per_doc_a).shape[1]


def score_samples(
    per_doc: Sequence[np.ndarray], doc_bytes: np.ndarray | None = None, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """(n_boot, len(per_doc)) bootstrap samples of each array's score, all on one document
    draw (paired): with ``doc_bytes``, bits per byte (the arrays are per-document NLL in
    nats, over the resampled bytes); without, the mean over the resampled documents.
    A difference of two columns is the sample of ``bpb_difference_samples`` or
    ``mean_difference_samples``; more columns let one draw serve several comparisons."""
    if doc_bytes is None:
        return resampled_totals(per_doc, n_boot, seed) / np.atleast_2d(per_doc[0]).shape[1]
    t = resampled_totals([*per_doc, np.asarray(doc_bytes)[None]], n_boot, seed)
    return t[:, :-1] / (LN2 * t[:, -1:])


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)
