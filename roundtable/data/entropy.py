"""The bigram entropy of a text: the score of the best table of byte pairs fitted to it.

A byte-level language model learns the statistics of single bytes and of pairs before
anything longer (Belrose et al. 2024, "Neural Networks Learn Statistics of Increasing
Complexity"): until its score falls below what a bigram table of its training text
gives, it is in its first transient, where a learning curve follows no power law and no
law fitted to it can be extrapolated (forecast/arm.py withholds the forecast there).
The table is fitted to the same bytes it is scored on, so the figure is a little below
the bigram entropy of unseen text of the same kind.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

START = 256
"""The context of a document's first byte."""
MAX_BYTES = 64_000_000
"""Bytes read at most: the estimate is settled long before (65,792 cells)."""
_CHUNK = 1 << 20


def bigram_bits_per_byte(texts: Iterable[str | bytes], max_bytes: int = MAX_BYTES) -> float | None:
    """H(X_t | X_t-1) in bits per byte over ``texts`` (each a document: its first byte
    follows START), plug-in estimate; None for no bytes."""
    counts = np.zeros(257 * 256, np.int64)
    pending: list[np.ndarray] = []
    size = seen = 0

    def flush() -> None:
        nonlocal counts
        if pending:
            counts += np.bincount(np.concatenate(pending), minlength=257 * 256)
            pending.clear()

    for text in texts:
        b = np.frombuffer(text.encode() if isinstance(text, str) else text, np.uint8).astype(np.int64)
        if not len(b):
            continue
        prev = np.empty_like(b)
        prev[0], prev[1:] = START, b[:-1]
        pending.append(prev * 256 + b)
        size += len(b)
        seen += len(b)
        if size >= _CHUNK:
            flush()
            size = 0
        if seen >= max_bytes:
            break
    flush()
    total = counts.sum()
    if not total:
        return None
    c = counts.reshape(257, 256).astype(float)
    p = c / np.maximum(c.sum(axis=1, keepdims=True), 1.0)
    nz = c > 0
    return 0.0 - float((c[nz] * np.log2(p[nz])).sum() / total)
