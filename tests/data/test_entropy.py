"""The bigram entropy the forecast's transient gate compares a run's score with."""

from __future__ import annotations

import random

import pytest

from roundtable.data.entropy import bigram_bits_per_byte


def de_bruijn_pairs() -> bytes:
    """Every ordered pair of the 256 bytes exactly once: a de Bruijn sequence B(256, 2)
    (the Lyndon-word construction), made linear by repeating its first byte (65,537 bytes)."""
    seq, a = [], [0] * 3

    def db(t: int, p: int) -> None:
        if t > 2:
            if 2 % p == 0:
                seq.extend(a[1:p + 1])
            return
        a[t] = a[t - p]
        db(t + 1, p)
        for j in range(a[t - p] + 1, 256):
            a[t] = j
            db(t + 1, t)

    db(1, 1)
    return bytes(seq + seq[:1])


def test_every_pair_once_scores_eight_bits_but_for_the_certain_first_byte():
    text = de_bruijn_pairs()
    assert len(text) == 65_537 and len({text[i:i + 2] for i in range(65_536)}) == 65_536
    # each byte is followed by each of the 256 equally often: 8 bits; the first byte is the
    # only one after the start, so it costs nothing
    assert bigram_bits_per_byte([text]) == pytest.approx(8 * 65_536 / 65_537, rel=1e-12)


def test_a_text_each_byte_of_which_decides_the_next_scores_zero():
    assert bigram_bits_per_byte(["abcd" * 1000]) == 0.0
    assert bigram_bits_per_byte(["", ""]) is None


def test_fair_coin_letters_score_one_bit():
    rng = random.Random(0)
    got = bigram_bits_per_byte(["".join(rng.choice("ab") for _ in range(200_000))])
    assert got == pytest.approx(1.0, abs=1e-3)  # the plug-in estimate's bias is about 1 / (2 n ln 2) per cell


def test_documents_are_not_joined_and_reading_stops_at_the_limit():
    # "ab" then "ab": b never precedes a, as it would in "abab"
    assert bigram_bits_per_byte(["ab", "ab"]) == 0.0
    assert bigram_bits_per_byte(["ab" * 10, "xyzw" * 1000], max_bytes=20) == 0.0
