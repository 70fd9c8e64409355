"""ROUGE that works beyond English.

rouge-score's default tokenizer lower-cases and drops every character outside
[a-z0-9], so a French, Russian or Chinese summary has almost no tokens and every arm
scores about 0. This tokenizer keeps Unicode words, counts each CJK ideograph, kana or
hangul syllable as a token of its own (those scripts do not separate words with
spaces), and applies the Porter stemmer, as rouge-score does, only to ASCII words: on
ASCII text its tokens, and so the scores, are exactly rouge-score's with
``use_stemmer=True``.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")

# Hiragana, katakana, CJK ideographs (with extensions and compatibility forms), hangul
CJK = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)


@functools.cache
def _token_re() -> re.Pattern:
    """Letters and digits (not "_", as rouge-score), with their combining marks (Devanagari
    vowel signs, Arabic vowels: ``\\w`` alone would cut words there), or one CJK character."""
    marks = "".join(
        re.escape(chr(c))
        for c in (*range(0x300, 0x20000), *range(0xE0100, 0xE01F0))
        if c <= sys.maxunicode and unicodedata.category(chr(c)).startswith("M")
    )
    return re.compile(f"[{CJK}]|(?:[^\\W_{CJK}]|[{marks}])+")


class UnicodeTokenizer:
    """The ``tokenize(text) -> list[str]`` object ``RougeScorer(tokenizer=...)`` takes."""

    def __init__(self) -> None:
        from nltk.stem import porter  # the stemmer rouge-score itself uses (imported when needed: nltk is slow to load)

        self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text.casefold())  # full-width letters, composed accents
        return [
            self._stemmer.stem(t) if len(t) > 3 and t.isascii() else t  # rouge-score stems only words > 3
            for t in _token_re().findall(text)
        ]


def make_scorer(keys: Sequence[str] = ROUGE_KEYS) -> Any:
    """rouge-score's RougeScorer with the Unicode-aware tokenizer."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(keys), tokenizer=UnicodeTokenizer())
