"""rouge.py: ROUGE beyond English, and exactly rouge-score's on English."""

from __future__ import annotations

import numpy as np
import pytest
from rouge_score import rouge_scorer

import roundtable.evaluate.generate as gen
from roundtable.arms.lstm import build_lstm
from roundtable.data.corpus import Record
from roundtable.data.tokenization import byte_tokenizer, task_token_ids
from roundtable.tasks import SummarizeTask
from roundtable.tasks.rouge import ROUGE_KEYS, UnicodeTokenizer, make_scorer

DEFAULT = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)

ENGLISH = [
    ("The cats were running quickly.", "A cat runs quick!"),
    ("Stocks fell 3.5% on Monday_morning; analysts’ views differed.", "On Monday, stocks fell 3.5 percent, analysts said."),
    ("HELLO world, hello again", "hello World"),
    ("Generalization requires regularization.", "generalizing regularizes"),
    ("", "something"),
]


@pytest.mark.parametrize(("reference", "prediction"), ENGLISH)
def test_english_scores_are_rouge_scores_own(reference, prediction):
    assert make_scorer().score(reference, prediction) == DEFAULT.score(reference, prediction)


def _f1(reference: str, prediction: str) -> dict[str, float]:
    return {k: s.fmeasure for k, s in make_scorer().score(reference, prediction).items()}


@pytest.mark.parametrize("text", ["Кошка ест мышь", "今天天气很好", "le marché était fermé à midi", "The cat sat."])
def test_identical_strings_score_one(text):
    assert _f1(text, text) == pytest.approx(dict.fromkeys(ROUGE_KEYS, 1.0))


def test_russian_half_overlap():
    # 4 tokens each, 2 shared unigrams (F1 1/2), 1 of 3 bigrams (1/3), longest common subsequence 2 (1/2)
    ref, pred = "Кошка ест мышь сегодня", "кошка ест рыбу вчера"
    assert _f1(ref, pred) == pytest.approx({"rouge1": 0.5, "rouge2": 1 / 3, "rougeL": 0.5})
    assert all(s.fmeasure == 0 for s in DEFAULT.score(ref, pred).values())  # what rouge-score alone says


def test_chinese_characters_are_tokens():
    # 今 天 天 气 很 好 vs 今 天 天 气 不 好: 5 of 6 characters shared, 3 of 5 bigrams, LCS 今天天气好 = 5
    ref, pred = "今天天气很好", "今天天气不好"
    assert _f1(ref, pred) == pytest.approx({"rouge1": 5 / 6, "rouge2": 3 / 5, "rougeL": 5 / 6})
    assert all(s.fmeasure == 0 for s in DEFAULT.score(ref, pred).values())


def test_french_accented_words_are_kept_whole():
    # reference 6 tokens, prediction 4, 3 shared: P 3/4, R 1/2, F1 0.6; bigrams 2 of 3 vs 5: F1 0.5
    ref, pred = "Le marché était fermé à midi.", "le marché était ouvert"
    assert _f1(ref, pred) == pytest.approx({"rouge1": 0.6, "rouge2": 0.5, "rougeL": 0.6})
    assert UnicodeTokenizer().tokenize("Était fermé") == ["était", "fermé"]


def test_tokens_of_scripts_without_spaces_or_with_combining_marks():
    tok = UnicodeTokenizer()
    assert tok.tokenize("猫がネズミを食べる。") == ["猫", "が", "ネ", "ズ", "ミ", "を", "食", "べ", "る"]
    assert tok.tokenize("한국어 문장") == ["한", "국", "어", "문", "장"]
    assert tok.tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # vowel signs stay inside the word
    assert tok.tokenize("Ｆｕｌｌ ＷＩＤＴＨ") == ["full", "width"]
    assert tok.tokenize("Ὀδυσσεύς") == tok.tokenize("ὈΔΥΣΣΕΎΣ") == ["ὀδυσσεύσ"]  # casefold: final sigma too


def test_the_summarize_evaluator_scores_russian(monkeypatch):
    # each generated summary shares 2 of its 4 words with a 4-word reference: every ROUGE-1 F1 is 1/2
    records = [Record(text="Документ о кошке.", summary="Кошка ест мышь сегодня"),
               Record(text="Документ о погоде.", summary="Завтра будет тёплый день")]
    predictions = iter(["кошка ест рыбу вчера", "завтра будет холодная ночь"])
    tok = byte_tokenizer()
    end = task_token_ids(tok)[1]
    monkeypatch.setattr(gen, "complete_many",
                        lambda model, tok, prompts, *a, **k: [[*next(predictions).encode(), end] for _ in prompts])
    rouge = SummarizeTask(768, 128, 24, 1).rouge_evaluator(tok, records, max_new_tokens=64, progress=False)
    out = rouge(build_lstm(len(tok), 8, 8, 1, 0.0, seed=0), full=True)  # batched, the LSTM too
    assert out["rouge1"] == pytest.approx(0.5) and out["rougeL"] == pytest.approx(0.5)
    np.testing.assert_allclose(rouge.last_rougeL, [0.5, 0.5])
